#!/usr/bin/env python3
"""Short load run on each daemon (the long one is `make soak`, scripts/soak).

Many concurrent kept-alive TLS connections, each doing Digest whoami about
once a second with its own nonce and nonce-count, plus TLS-PSK clients
(openssl s_client): no error, no connection dropped, the daemon's RSS flat
after warm-up and its descriptors back to the baseline when the clients
leave.  Sizes come from the environment (OSEC_LOAD_CLIENTS, OSEC_LOAD_SECONDS)
and shrink under sanitizers."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from faults import (SANITIZE, Target, available_targets, raise_nofile,  # noqa: E402
                    rss_growth_kb, run_load, scale)
from osectest import Checks, TempDir  # noqa: E402

C = Checks()
T = TempDir()
CLIENTS = int(os.environ.get("OSEC_LOAD_CLIENTS", scale(1000, 500)))
SECONDS = int(os.environ.get("OSEC_LOAD_SECONDS", scale(12, 12)))
WARMUP = max(5, SECONDS // 4)   # all connections open (300/s) and past their first requests
THINK = float(os.environ.get("OSEC_LOAD_THINK", scale(1.0, 2.0)))
# RSS must not grow after warm-up by more than this.  Under ASan freed memory
# sits in the quarantine (256 MB by default), so RSS would climb by design:
# the daemon gets a small one, and LeakSanitizer checks leaks at exit.
RSS_SLACK_KB = scale(4096, 16384)
if SANITIZE:
    os.environ["ASAN_OPTIONS"] = (os.environ.get("ASAN_OPTIONS", "") +
                                  ":quarantine_size_mb=16:thread_local_quarantine_size_kb=256")

lim = raise_nofile()
if lim < CLIENTS + 100:
    print("# RLIMIT_NOFILE %d: fewer clients" % lim)
    CLIENTS = lim - 100
# Every client comes from 127.0.0.1: the daemons with a per-source limit would
# hold 256 of them (max_conns_per_source); give them room, keeping the count on.
PER_SOURCE = ("cpns-server", "cpm-msgstored", "cpm-sipd")


def per_source_conf(t):
    return "max_conns_per_source = %d\n" % (CLIENTS + 1000) if t.name in PER_SOURCE else ""


def load(t):
    """One daemon: its kept-alive clients plus its extra ones (cpns-server:
    TLS-PSK), then the checks."""
    t.setup()
    t.start(t.timeout_conf(10, 30, SECONDS + 60)   # no idle cut during the run
            + per_source_conf(t))
    ask = t.well_behaved()
    C.ok(ask() is True, "%s: warm-up request served" % t.name)
    extra = t.extra_clients(THINK, scale(10, 6))
    r = run_load(t, CLIENTS, SECONDS, WARMUP, think=THINK, extra=extra)
    C.ok(r["n_errors"] == 0, "%s: %d kept-alive + %d other clients, %d replies, no error"
         % (t.name, CLIENTS, len(extra), r["replies"]), r["errors"][:10])
    C.eq(r["alive_at_end"], CLIENTS, "%s: every connection still open at the end" % t.name)
    C.ok(r["replies"] >= CLIENTS * (SECONDS - WARMUP) / (2 * THINK),
         "%s: throughput, %d replies in %d s" % (t.name, r["replies"], SECONDS))
    g = rss_growth_kb(r["samples"], WARMUP)
    C.ok(g <= RSS_SLACK_KB, "%s: RSS flat after warm-up, %+.0f kB (%d -> %d kB, allowed %d kB)"
         % (t.name, g, r["rss_warm_kb"], r["rss_end_kb"], RSS_SLACK_KB),
         [(round(x, 1), rss) for x, rss, _ in r["samples"]])
    C.ok(r["fds_peak"] >= r["fds_base"] + CLIENTS * 0.9,
         "%s: the daemon held the connections (%d descriptors at the peak)"
         % (t.name, r["fds_peak"]))
    C.ok(r["fds_after"] <= r["fds_base"], "%s: descriptors back to the baseline after the "
         "clients left (%d, baseline %d)" % (t.name, r["fds_after"], r["fds_base"]))
    C.ok(ask() is True, "%s: served after the load" % t.name)
    rc, tail = t.stop()
    C.ok(rc == 0, "%s stops cleanly%s" % (t.name, " (LeakSanitizer at exit)" if SANITIZE
                                           else ""), tail)


for cls in available_targets():
    if cls.load_proto is not Target.load_proto:
        load(cls(T.path))
T.cleanup()
C.finish()
