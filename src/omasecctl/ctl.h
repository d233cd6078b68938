/* omasecctl: shared context of the subcommands. */
#ifndef OMASECCTL_H
#define OMASECCTL_H

#include <stdbool.h>

#include "omasec/seal.h"
#include "omasec/account.h"
#include "omasec/store.h"

#define CTL_PW_BUF (OSEC_ACCOUNT_PASSWORD_MAX + 2)

struct ctl {
    const char *data;          /* --data DIR */
    char store_url[4200];      /* --store URL or sqlite:DIR/omasec.db */
    char master_path[4200];    /* DIR/master.key */
    char pki_dir[4200];        /* DIR/pki */
    bool password_stdin;       /* --password-stdin */
    struct osec_store *st;
    struct osec_master *m;
};

/* Print "omasecctl: msg" (+ the library's last error) and return 1. */
int ctl_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int ctl_fail_rc(int rc, const char *what);
/* Open store (and master key when need_master) or print why not. */
int ctl_open(struct ctl *c, bool need_master);
void ctl_close(struct ctl *c);
/* Record an audit event of an admin action (failure to audit is reported). */
int ctl_audit(struct ctl *c, const char *event, const char *subject, const char *detail);
/* Read a password: one line on stdin, or a no-echo prompt (twice when
 * confirm) on a terminal.  buf gets a NUL-terminated password. */
int ctl_read_password(struct ctl *c, const char *prompt, bool confirm, char *buf, size_t len);

int cmd_init(struct ctl *c, int argc, char **argv);
int cmd_status(struct ctl *c, int argc, char **argv);
int cmd_user(struct ctl *c, int argc, char **argv);
int cmd_address(struct ctl *c, int argc, char **argv);
int cmd_entity(struct ctl *c, int argc, char **argv);
int cmd_audit(struct ctl *c, int argc, char **argv);
int cmd_policy(struct ctl *c, int argc, char **argv);
int cmd_pki(struct ctl *c, int argc, char **argv);
int cmd_check(struct ctl *c, int argc, char **argv);

#endif
