# omasec top-level Makefile: a thin wrapper around CMake + ctest.
#   make          build every program into build/bin/
#   make run      install deps, build, initialise ./var, start the stack on loopback
#   make check    install deps, build normal + ASan/UBSan, run every test
#   make install PREFIX=/usr/local
BUILD      ?= build
ASAN_BUILD ?= build-asan
PREFIX     ?= /usr/local
JOBS       ?= $(shell nproc 2>/dev/null || echo 2)
FUZZ_SECONDS ?= 60
DATA       ?= var

.PHONY: all deps build asan check run install lint fuzz bench clean deb

all: build

deps:
	@./scripts/install-deps

$(BUILD)/CMakeCache.txt:
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo

build: deps $(BUILD)/CMakeCache.txt
	cmake --build $(BUILD) -j $(JOBS)

$(ASAN_BUILD)/CMakeCache.txt:
	CC=clang cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Debug \
	    -DCMAKE_C_FLAGS_DEBUG="-g -O1" -DOSEC_SANITIZE=ON -DOSEC_FUZZ=ON

asan: deps $(ASAN_BUILD)/CMakeCache.txt
	cmake --build $(ASAN_BUILD) -j $(JOBS)

check: deps
	@./scripts/check

run: build
	@./scripts/run $(DATA)

install: build
	cmake --install $(BUILD) --prefix $(PREFIX)

lint:
	@./scripts/lint-banned .

fuzz: asan
	@./scripts/fuzz-all $(ASAN_BUILD) $(FUZZ_SECONDS)

# every benchmark: cpns-server, cpns-gw (PN establishment), cpm-sipd vs
# Kamailio, cpm-msgstored vs Dovecot (the last three install their peer)
bench: build
	@rc=0; for b in bench/run bench/pn/run bench/sip/run bench/imap/run; do \
	    if [ -x "$$b" ]; then echo "== $$b"; BUILD=$(BUILD) ./$$b || rc=1; fi; done; exit $$rc

clean:
	rm -rf $(BUILD) $(ASAN_BUILD)

# make deb: Debian packages omasec-server, omasec-gw, libomasec-dev (+ -dbgsym)
# built with dpkg-buildpackage from debian/ in a copy of the tree, into DEB_OUT.
DEB_OUT ?= $(BUILD)/deb
deb: deps
	@./debian/build-debs $(DEB_OUT) $(JOBS)

# make soak: the long fault and load runs (scripts/soak): 1,000 concurrent
# clients on cpns-server for SOAK_SECONDS, kill -9 rounds, floods.
SOAK_SECONDS ?= 60
.PHONY: soak
soak: build
	@BUILD=$(BUILD) SOAK_SECONDS=$(SOAK_SECONDS) ./scripts/soak
