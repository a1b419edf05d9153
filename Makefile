# libmcphub-cluster — plain GNU make, the only build entry point.
#
#   make            library (shared + static), daemons, examples
#   make check      build and run every test (ends with cmocka's summaries)
#   make deps       install missing Debian build dependencies
#   make install    PREFIX DESTDIR LIBDIR INCLUDEDIR MANDIR SBINDIR honoured
#   make asan       unit tests under AddressSanitizer + UBSan
#   make bench      benchmarks (not part of check)

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
        integration deps install uninstall clean asan bench examples daemons

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
	   echo 'const char masterd_dashboard_html[] = {'; \
	   cat daemons/masterd/dashboard/index.html | od -An -v -tx1 | sed 's/\([0-9a-f][0-9a-f]\)/0x\1,/g'; \
	   echo '0x00};'; \
	   echo 'const size_t masterd_dashboard_len = sizeof masterd_dashboard_html - 1;'; } > $@

$(B)/examples/servers/%: examples/servers/%.c $(ARCHIVE)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(LDFLAGS) -o $@ $< $(ARCHIVE) $(DEP_LIBS) -lm

$(B)/examples/%: examples/%.c $(ARCHIVE)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(LDFLAGS) -o $@ $< $(ARCHIVE) $(DEP_LIBS) -lm

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

# ---- tests ------------------------------------------------------------------

# Static checks and integration first, unit tests last so that the run ends
# with cmocka's summary lines.
check:
	@$(MAKE) --no-print-directory deps-quiet
	@$(MAKE) --no-print-directory check-run

check-run: all $(UNIT_BIN)
	@$(MAKE) --no-print-directory check-headers check-abi check-pkgconfig lint-man
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
	tests/readme/check-example.sh README.md "$$tmp"

lint-man:
	@if command -v mandoc >/dev/null; then \
	    out=$$(mandoc -Tlint -W warning $(MAN_PAGES) 2>&1); \
	    if [ -n "$$out" ]; then echo "$$out"; exit 1; fi; \
	    echo "lint-man: $(words $(MAN_PAGES)) pages clean"; \
	else echo "lint-man: mandoc not installed (make deps)"; exit 1; fi

integration: all
	@if [ -x tests/integration/run ]; then tests/integration/run "$(B)"; \
	else echo "integration: none yet"; fi

asan:
	$(MAKE) B=build-asan EXTRA_CFLAGS="-O1 -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all" \
	    LDFLAGS="-fsanitize=address,undefined" unit-tests

bench: $(BENCH_BIN)
	@for b in $(BENCH_BIN); do echo "== $$b"; ./$$b || exit 1; done

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
