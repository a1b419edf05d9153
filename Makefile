# libmcphub-cluster — plain GNU make, the only build entry point.
#
#   make            library (shared + static), daemons, examples
#   make check      build and run every test (ends with cmocka's summaries)
#   make deps       install missing Debian build dependencies
#   make demo       install what is missing, build, run a master and two workers
#   make check-deploy  deploy/ files against the daemons (part of make check)
#   make install    PREFIX DESTDIR LIBDIR INCLUDEDIR MANDIR SBINDIR honoured
#   make asan       unit tests under AddressSanitizer + UBSan
#   make bench      benchmarks (not part of check)
#   make fuzz       libFuzzer targets (clang), FUZZ_SECONDS each (tests/fuzz/)

VERSION_MAJOR := $(shell sed -n 's/^\#define MCPHUB_VERSION_MAJOR //p' include/mcphub/version.h)
VERSION_MINOR := $(shell sed -n 's/^\#define MCPHUB_VERSION_MINOR //p' include/mcphub/version.h)
VERSION_PATCH := $(shell sed -n 's/^\#define MCPHUB_VERSION_PATCH //p' include/mcphub/version.h)
VERSION := $(VERSION_MAJOR).$(VERSION_MINOR).$(VERSION_PATCH)
# 0.x: ABI is stable only within a minor release, and the SONAME says so.
SONAME := libmcphub-cluster.so.$(VERSION_MAJOR).$(VERSION_MINOR)

PREFIX ?= /usr/local
EXEC_PREFIX ?= $(PREFIX)
LIBDIR ?= $(EXEC_PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
MANDIR ?= $(PREFIX)/share/man
SBINDIR ?= $(EXEC_PREFIX)/sbin
PKGCONFIGDIR ?= $(LIBDIR)/pkgconfig

CC ?= cc
PKG_CONFIG ?= pkg-config
B ?= build

DEPS_PC := jansson libmicrohttpd libcurl gnutls
DEPS_DEB := libjansson-dev libmicrohttpd-dev libcurl4-gnutls-dev libgnutls28-dev libcmocka-dev pkg-config
DEP_CFLAGS = $(shell $(PKG_CONFIG) --cflags $(DEPS_PC) 2>/dev/null)
DEP_LIBS = $(shell $(PKG_CONFIG) --libs $(DEPS_PC) 2>/dev/null)
CMOCKA_LIBS = $(shell $(PKG_CONFIG) --libs cmocka 2>/dev/null || echo -lcmocka)

WARN := -std=c99 -Wall -Wextra -Wpedantic -Wshadow -Wstrict-prototypes \
        -Wmissing-prototypes -Wwrite-strings
MCPHUB_CFLAGS := $(WARN) -O2 -g -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE -Iinclude $(EXTRA_CFLAGS)
LIB_CFLAGS := $(MCPHUB_CFLAGS) -Wconversion -Ilib -DMCPHUB_BUILDING
ALL_CFLAGS = $(MCPHUB_CFLAGS) $(DEP_CFLAGS) $(CPPFLAGS) $(CFLAGS)

LIB_SRC := $(sort $(wildcard lib/core/*.c lib/io/*.c))
SHARED_OBJ := $(LIB_SRC:%.c=$(B)/shared/%.o)
STATIC_OBJ := $(LIB_SRC:%.c=$(B)/static/%.o)
SO_REAL := $(B)/libmcphub-cluster.so.$(VERSION)
SO_LINK := $(B)/libmcphub-cluster.so
ARCHIVE := $(B)/libmcphub-cluster.a
MAP := lib/libmcphub-cluster.map

HEADERS := $(sort $(wildcard include/mcphub/*.h))
FAKES_SRC := $(sort $(wildcard tests/fakes/*.c))
UNIT_SRC := $(sort $(wildcard tests/unit/test_*.c))
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=$(B)/tests/%)
# Helper programs the tests run as child processes (test MCP servers, ...).
HELPER_SRC := $(sort $(wildcard tests/helpers/*.c))
HELPER_BIN := $(HELPER_SRC:tests/helpers/%.c=$(B)/tests/helpers/%)
EXAMPLE_SRC := $(sort $(wildcard examples/*.c))
EXAMPLE_BIN := $(EXAMPLE_SRC:examples/%.c=$(B)/examples/%)
SERVER_SRC := $(sort $(wildcard examples/servers/*.c))
SERVER_BIN := $(SERVER_SRC:examples/servers/%.c=$(B)/examples/servers/%)
DAEMON_DIRS := $(sort $(dir $(wildcard daemons/*/main.c)))
DAEMON_BIN := $(patsubst daemons/%/,$(B)/mcphub-%,$(DAEMON_DIRS))
DAEMON_COMMON_SRC := $(sort $(wildcard daemons/common/*.c))
BENCH_SRC := $(sort $(wildcard bench/bench_*.c))
BENCH_BIN := $(BENCH_SRC:bench/%.c=$(B)/bench/%)
MAN_PAGES := $(sort $(wildcard man/man3/*.3 man/man5/*.5 man/man8/*.8))

.SECONDARY: $(HELPER_BIN) $(SERVER_BIN) $(EXAMPLE_BIN)

.PHONY: all lib check check-run unit-tests check-headers check-abi check-pkgconfig lint-man \
        integration deps install uninstall clean asan bench examples daemons demo check-deploy

all: lib daemons examples

lib: $(SO_REAL) $(SO_LINK) $(ARCHIVE) $(B)/libmcphub-cluster.pc

$(B)/shared/%.o: %.c $(HEADERS) $(wildcard lib/*/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(LIB_CFLAGS) $(DEP_CFLAGS) -fPIC -fvisibility=hidden $(CPPFLAGS) $(CFLAGS) -c $< -o $@

$(B)/static/%.o: %.c $(HEADERS) $(wildcard lib/*/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(LIB_CFLAGS) $(DEP_CFLAGS) -fvisibility=hidden $(CPPFLAGS) $(CFLAGS) -c $< -o $@

$(SO_REAL): $(SHARED_OBJ) $(MAP)
	$(CC) -shared -Wl,-soname,$(SONAME) -Wl,--version-script=$(MAP) -Wl,--no-undefined \
	    $(LDFLAGS) -o $@ $(SHARED_OBJ) $(DEP_LIBS)

$(SO_LINK): $(SO_REAL)
	ln -sf $(notdir $(SO_REAL)) $(B)/$(SONAME)
	ln -sf $(SONAME) $@

$(ARCHIVE): $(STATIC_OBJ)
	rm -f $@
	ar rcs $@ $^

$(B)/libmcphub-cluster.pc: pkgconfig/libmcphub-cluster.pc.in include/mcphub/version.h
	@mkdir -p $(B)
	sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@LIBDIR@|$(LIBDIR)|g' \
	    -e 's|@INCLUDEDIR@|$(INCLUDEDIR)|g' -e 's|@VERSION@|$(VERSION)|g' \
	    -e 's|@REQUIRES_PRIVATE@|$(DEPS_PC)|g' $< > $@

# ---- programs linked against the static archive ---------------------------

daemons: $(DAEMON_BIN)
examples: $(EXAMPLE_BIN) $(SERVER_BIN)

# A daemon: its directory's sources, the shared daemon code, and for the
# master the dashboard compiled in (no files to install, no build step).
$(B)/mcphub-workerd: $(wildcard daemons/workerd/*.c) $(DAEMON_COMMON_SRC) $(ARCHIVE) $(wildcard daemons/*/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -Idaemons $(LDFLAGS) -o $@ $(wildcard daemons/workerd/*.c) $(DAEMON_COMMON_SRC) $(ARCHIVE) $(DEP_LIBS) -lm

$(B)/mcphub-masterd: $(wildcard daemons/masterd/*.c) $(DAEMON_COMMON_SRC) $(B)/gen/dashboard.c $(ARCHIVE) $(wildcard daemons/*/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -Idaemons $(LDFLAGS) -o $@ $(wildcard daemons/masterd/*.c) $(DAEMON_COMMON_SRC) $(B)/gen/dashboard.c $(ARCHIVE) $(DEP_LIBS) -lm

$(B)/gen/dashboard.c: $(sort $(wildcard daemons/masterd/dashboard/*))
	@mkdir -p $(dir $@)
	@{ echo '/* generated from daemons/masterd/dashboard/ by make */'; \
	   echo '#include <stddef.h>'; \
	   echo 'static const unsigned char bytes[] = {'; \
	   cat daemons/masterd/dashboard/index.html | od -An -v -tx1 | sed 's/\([0-9a-f][0-9a-f]\)/0x\1,/g'; \
	   echo '0x00};'; \
	   echo 'const char *const masterd_dashboard_html = (const char *)bytes;'; \
	   echo 'const size_t masterd_dashboard_len = sizeof bytes - 1;'; } > $@

$(B)/examples/servers/%: examples/servers/%.c $(ARCHIVE)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(LDFLAGS) -o $@ $< $(ARCHIVE) $(DEP_LIBS) -lm

$(B)/examples/%: examples/%.c $(ARCHIVE)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(LDFLAGS) -o $@ $< $(ARCHIVE) $(DEP_LIBS) -lm -pthread

$(B)/tests/test_%: tests/unit/test_%.c $(FAKES_SRC) $(wildcard tests/fakes/*.h) $(ARCHIVE) $(HELPER_BIN) $(SERVER_BIN)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -Ilib -Itests $(LDFLAGS) -o $@ $< $(FAKES_SRC) $(ARCHIVE) \
	    $(DEP_LIBS) $(CMOCKA_LIBS) -lm

$(B)/tests/helpers/%: tests/helpers/%.c $(ARCHIVE)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -Ilib -Itests $(LDFLAGS) -o $@ $< $(ARCHIVE) $(DEP_LIBS) -lm

$(B)/bench/%: bench/%.c $(ARCHIVE)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -Ilib $(LDFLAGS) -o $@ $< $(ARCHIVE) $(DEP_LIBS) -lm

# ---- the demo ----------------------------------------------------------------------------

# A master and two workers on 127.0.0.1 with examples/mcp_settings.json, in
# the foreground until Ctrl-C (examples/demo.sh: ports, logs, env overrides).
demo:
	@$(MAKE) --no-print-directory deps-quiet
	@$(MAKE) --no-print-directory -s $(B)/mcphub-masterd $(B)/mcphub-workerd $(B)/examples/servers/mcp-example-server
	@bash examples/demo.sh $(B)

# ---- tests ------------------------------------------------------------------

# Static checks and integration first, unit tests last so that the run ends
# with cmocka's summary lines.
check:
	@$(MAKE) --no-print-directory deps-quiet
	@$(MAKE) --no-print-directory check-run

check-run: all $(UNIT_BIN)
	@$(MAKE) --no-print-directory check-headers check-abi check-pkgconfig lint-man check-deploy
	@$(MAKE) --no-print-directory integration
	@$(MAKE) --no-print-directory unit-tests

unit-tests: $(UNIT_BIN)
	@fail=0; for t in $(UNIT_BIN); do \
	    echo "== $$t"; MCPHUB_TEST_BIN=$(B) $(TEST_WRAPPER) ./$$t || fail=1; \
	done; exit $$fail

# Every public header compiles on its own, strict C99.
check-headers:
	@for h in $(HEADERS); do \
	    printf '#include <mcphub/%s>\nint main(void){return 0;}\n' $$(basename $$h) | \
	    $(CC) -std=c99 -pedantic -Wall -Wextra -Werror -Iinclude -x c - -o /dev/null || exit 1; \
	done; echo "check-headers: $(words $(HEADERS)) headers compile alone with -std=c99 -pedantic -Werror"

# Only mcphub_* symbols leave the shared object.
check-abi: $(SO_REAL)
	@bad=$$(nm -D --defined-only $(SO_REAL) | awk '$$2 ~ /[TDBR]/ {print $$3}' | grep -v '^mcphub_' | grep -v '^MCPHUB_' || true); \
	if [ -n "$$bad" ]; then echo "check-abi: unexpected exports: $$bad"; exit 1; fi; \
	internal=$$(nm -D --defined-only $(SO_REAL) | awk '{print $$3}' | grep '^mcphub__' || true); \
	if [ -n "$$internal" ]; then echo "check-abi: internal symbols exported: $$internal"; exit 1; fi; \
	so=$$(readelf -d $(SO_REAL) | sed -n 's/.*SONAME.*\[\(.*\)\]/\1/p'); \
	[ "$$so" = "$(SONAME)" ] || { echo "check-abi: SONAME $$so != $(SONAME)"; exit 1; }; \
	echo "check-abi: SONAME $$so, $$(nm -D --defined-only $(SO_REAL) | grep -c ' T mcphub_') exported functions, all mcphub_*"

# Install into a temporary DESTDIR and build a program outside the tree with
# nothing but pkg-config, exactly as a user would.
check-pkgconfig: lib
	@tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && \
	$(MAKE) --no-print-directory -s install-lib install-headers install-pc DESTDIR="$$tmp" PREFIX=/usr/local >/dev/null && \
	PKG_CONFIG_PATH="$$tmp/usr/local/lib/pkgconfig" PKG_CONFIG_SYSROOT_DIR="$$tmp" \
	    sh -c 'cc tests/pkgconfig/prog.c $$(pkg-config --cflags --libs libmcphub-cluster) -o "$$0/prog"' "$$tmp" && \
	LD_LIBRARY_PATH="$$tmp/usr/local/lib" "$$tmp/prog" && \
	echo "check-pkgconfig: out-of-tree program built with pkg-config against a DESTDIR install and ran" && \
	tests/readme/check-example.sh README.md "$$tmp" && \
	tests/pkgconfig/check-embed.sh "$$tmp"

lint-man:
	@if command -v mandoc >/dev/null; then \
	    out=$$(mandoc -Tlint -W warning $(MAN_PAGES) 2>&1); \
	    if [ -n "$$out" ]; then echo "$$out"; exit 1; fi; \
	    echo "lint-man: $(words $(MAN_PAGES)) pages clean"; \
	else echo "lint-man: mandoc not installed (make deps)"; exit 1; fi

# deploy/: Dockerfile, compose, Kubernetes and systemd files against the
# daemons' real flags, variables and routes (tests/deploy/check.sh).
check-deploy: daemons $(B)/examples/servers/mcp-example-server
	@sh tests/deploy/check.sh $(B)

integration: all $(HELPER_BIN)
	@if [ -x tests/integration/run ]; then tests/integration/run "$(B)"; \
	else echo "integration: none yet"; fi

asan:
	$(MAKE) B=build-asan EXTRA_CFLAGS="-O1 -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all" \
	    LDFLAGS="-fsanitize=address,undefined" unit-tests

bench: $(BENCH_BIN)
	@for b in $(BENCH_BIN); do echo "== $$b"; ./$$b || exit 1; done

# ---- fuzzing (libFuzzer, clang) -----------------------------------------------
#
# The library is compiled again with clang and -fsanitize=fuzzer-no-link
# (coverage for libFuzzer) plus ASan and UBSan; each tests/fuzz/fuzz_<t>.c
# is linked with -fsanitize=fuzzer.  `make fuzz` runs every target for
# FUZZ_SECONDS on a work copy of its seed corpus (tests/fuzz/corpus/<t>/ is
# only read) with tests/fuzz/<t>.dict, else json.dict, and prints runs,
# coverage and crashes per target; a crash, a leak, a hang (FUZZ_TIMEOUT s
# for one input) or an out-of-memory fails it.
# Reproduce a finding:  build-fuzz/fuzz_<t> build-fuzz/artifacts/<t>/crash-...

FUZZ_CC ?= clang
FUZZ_B ?= build-fuzz
FUZZ_SECONDS ?= 60
FUZZ_TIMEOUT ?= 10
FUZZ_RSS_MB ?= 2048
FUZZ_FLAGS ?=
FUZZ_SAN := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
FUZZ_CFLAGS := -std=c99 -Wall -Wextra -O1 -g -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE \
    -Iinclude -Ilib $(FUZZ_SAN)
FUZZ_SRC := $(sort $(wildcard tests/fuzz/fuzz_*.c))
FUZZ_TARGETS := $(FUZZ_SRC:tests/fuzz/%.c=%)
FUZZ_BIN := $(FUZZ_TARGETS:%=$(FUZZ_B)/%)
FUZZ_LIB_OBJ := $(LIB_SRC:%.c=$(FUZZ_B)/obj/%.o)

.PHONY: fuzz fuzz-build fuzz-deps
fuzz-build: $(FUZZ_BIN)

# clang with libFuzzer (Debian: clang, libclang-rt-dev), installed when missing.
fuzz-deps:
	@probe='int LLVMFuzzerTestOneInput(const unsigned char *d, unsigned long n) { (void)d; (void)n; return 0; }'; \
	if printf '%s\n' "$$probe" | $(FUZZ_CC) -fsanitize=fuzzer,address,undefined -x c - -o /dev/null 2>/dev/null; then \
	    echo "fuzz-deps: $(FUZZ_CC) links -fsanitize=fuzzer"; exit 0; fi; \
	sudo=""; [ "$$(id -u)" = 0 ] || sudo=sudo; \
	echo "fuzz-deps: installing clang libclang-rt-dev"; \
	$$sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq clang libclang-rt-dev && \
	printf '%s\n' "$$probe" | $(FUZZ_CC) -fsanitize=fuzzer,address,undefined -x c - -o /dev/null

$(FUZZ_B)/obj/%.o: %.c $(HEADERS) $(wildcard lib/*/*.h)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -DMCPHUB_BUILDING -fsanitize=fuzzer-no-link $(DEP_CFLAGS) -c $< -o $@

$(FUZZ_B)/libmcphub-cluster-fuzz.a: $(FUZZ_LIB_OBJ)
	rm -f $@
	ar rcs $@ $^

$(FUZZ_B)/fuzz_%: tests/fuzz/fuzz_%.c tests/fuzz/fuzz_util.h $(FUZZ_B)/libmcphub-cluster-fuzz.a
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer $(DEP_CFLAGS) -o $@ $< \
	    $(FUZZ_B)/libmcphub-cluster-fuzz.a $(DEP_LIBS) -lm

fuzz:
	@$(MAKE) --no-print-directory fuzz-deps
	@$(MAKE) --no-print-directory fuzz-build
	@fail=0; for t in $(FUZZ_TARGETS); do \
	    work=$(FUZZ_B)/corpus/$$t; art=$(FUZZ_B)/artifacts/$$t; log=$(FUZZ_B)/logs/$$t.log; \
	    mkdir -p $$work $$art $(FUZZ_B)/logs; \
	    cp -n tests/fuzz/corpus/$$t/* $$work/ 2>/dev/null || true; \
	    dict=tests/fuzz/json.dict; [ -f tests/fuzz/$$t.dict ] && dict=tests/fuzz/$$t.dict; \
	    before=$$(ls $$art | wc -l); \
	    timeout -k 10 $$(( $(FUZZ_SECONDS) + 120 )) ./$(FUZZ_B)/$$t $$work -dict=$$dict \
	        -max_total_time=$(FUZZ_SECONDS) -timeout=$(FUZZ_TIMEOUT) -rss_limit_mb=$(FUZZ_RSS_MB) \
	        -print_final_stats=1 -artifact_prefix=$$art/ $(FUZZ_FLAGS) >$$log 2>&1; rc=$$?; \
	    after=$$(ls $$art | wc -l); \
	    runs=$$(sed -n 's/^stat::number_of_executed_units: *//p' $$log | tail -1); \
	    cov=$$(grep -o 'cov: [0-9]*' $$log | tail -1 | sed 's/cov: //'); \
	    ft=$$(grep -o 'ft: [0-9]*' $$log | tail -1 | sed 's/ft: //'); \
	    corp=$$(ls $$work | wc -l); \
	    echo "fuzz: $$t: runs $${runs:-0}, coverage $${cov:-0} edges ($${ft:-0} features), corpus $$corp, crashes $$((after - before)), exit $$rc"; \
	    if [ $$rc -ne 0 ] || [ $$after -ne $$before ]; then \
	        fail=1; grep -m1 -A12 'ERROR\|invariant failed\|==ERROR' $$log || tail -20 $$log; \
	        echo "fuzz: $$t failed; log $$log, inputs in $$art/"; \
	    fi; \
	done; exit $$fail

# ---- dependencies -------------------------------------------------------------

deps:
	@missing=""; \
	for pair in jansson:libjansson-dev libmicrohttpd:libmicrohttpd-dev libcurl:libcurl4-gnutls-dev \
	            gnutls:libgnutls28-dev cmocka:libcmocka-dev; do \
	    pc=$${pair%%:*}; deb=$${pair#*:}; \
	    pkg-config --exists $$pc 2>/dev/null || missing="$$missing $$deb"; \
	done; \
	command -v pkg-config >/dev/null || missing="$$missing pkg-config"; \
	command -v mandoc >/dev/null || missing="$$missing mandoc"; \
	if [ -z "$$missing" ]; then echo "deps: all present"; exit 0; fi; \
	sudo=""; [ "$$(id -u)" = 0 ] || sudo=sudo; \
	echo "deps: installing$$missing"; \
	$$sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq $$missing

# ---- install --------------------------------------------------------------------

.PHONY: install-lib install-headers install-pc install-man install-daemons
install: install-lib install-headers install-pc install-man install-daemons

install-lib: lib
	install -d $(DESTDIR)$(LIBDIR)
	install -m 644 $(ARCHIVE) $(DESTDIR)$(LIBDIR)/
	install -m 755 $(SO_REAL) $(DESTDIR)$(LIBDIR)/
	ln -sf $(notdir $(SO_REAL)) $(DESTDIR)$(LIBDIR)/$(SONAME)
	ln -sf $(SONAME) $(DESTDIR)$(LIBDIR)/libmcphub-cluster.so

install-headers:
	install -d $(DESTDIR)$(INCLUDEDIR)/mcphub
	install -m 644 $(HEADERS) $(DESTDIR)$(INCLUDEDIR)/mcphub/

install-pc: $(B)/libmcphub-cluster.pc
	install -d $(DESTDIR)$(PKGCONFIGDIR)
	install -m 644 $(B)/libmcphub-cluster.pc $(DESTDIR)$(PKGCONFIGDIR)/

install-man:
	@for p in $(MAN_PAGES); do \
	    s=$$(echo $$p | sed 's/.*\.//'); install -d $(DESTDIR)$(MANDIR)/man$$s; \
	    install -m 644 $$p $(DESTDIR)$(MANDIR)/man$$s/ || exit 1; \
	done

install-daemons: daemons
	@if [ -n "$(DAEMON_BIN)" ]; then install -d $(DESTDIR)$(SBINDIR) && \
	    install -m 755 $(DAEMON_BIN) $(DESTDIR)$(SBINDIR)/; fi

uninstall:
	rm -f $(DESTDIR)$(LIBDIR)/libmcphub-cluster.a $(DESTDIR)$(LIBDIR)/libmcphub-cluster.so* \
	    $(DESTDIR)$(PKGCONFIGDIR)/libmcphub-cluster.pc
	rm -f $(addprefix $(DESTDIR)$(INCLUDEDIR)/mcphub/,$(notdir $(HEADERS)))
	-rmdir $(DESTDIR)$(INCLUDEDIR)/mcphub 2>/dev/null
	rm -f $(foreach p,$(MAN_PAGES),$(DESTDIR)$(MANDIR)/man$(subst .,,$(suffix $(p)))/$(notdir $(p)))
	rm -f $(addprefix $(DESTDIR)$(SBINDIR)/,$(notdir $(DAEMON_BIN)))

clean:
	rm -rf build build-asan

.PHONY: valgrind werror
valgrind: $(UNIT_BIN)
	$(MAKE) --no-print-directory unit-tests \
	    TEST_WRAPPER="valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite,indirect"

# Everything once with -Werror (CI).
werror:
	$(MAKE) B=build-werror EXTRA_CFLAGS=-Werror all $(UNIT_BIN:$(B)/%=build-werror/%) $(BENCH_BIN:$(B)/%=build-werror/%)

# make check installs what is missing first, so it works on a fresh machine.
.PHONY: deps-quiet
deps-quiet:
	@$(MAKE) --no-print-directory deps >/dev/null || $(MAKE) --no-print-directory deps
