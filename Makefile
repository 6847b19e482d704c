# SPDX-License-Identifier: Apache-2.0
# rotatord and libidp.  Plain GNU make; see README.md.
#   make            build libidp (static, shared, pkg-config) and rotatord
#   make check      install test dependencies, build, run unit + integration tests
#   make sanitize   unit tests under ASan+UBSan
#   make bench      benchmark ratios (README.md, Performance); not a test
#   make run        install build dependencies, build, run on conf/minimal.ini
#   make deps       install build and test dependencies (Debian 12, root)
#   make build-deps install what `make` needs, nothing for the tests

VERSION		 = 0.1.0
PREFIX		?= /usr/local
DESTDIR		?=
BINDIR		?= $(PREFIX)/bin
LIBDIR		?= $(PREFIX)/lib
INCDIR		?= $(PREFIX)/include
MANDIR		?= $(PREFIX)/share/man
PKG_CONFIG	?= pkg-config
CC		?= cc
CFLAGS		?= -O2 -g
PYTHON		?= /usr/bin/python3

PKGS		 = openssl jansson libcurl libmicrohttpd inih
PKG_CFLAGS	:= $(shell $(PKG_CONFIG) --cflags $(PKGS) 2>/dev/null)
# libcurl and libmicrohttpd are loaded at run time (libidp/curl_dl.c,
# rotatord/api/mhd_dl.c): their headers are needed, their libraries are not
# linked.
PKG_LIBS	:= $(shell $(PKG_CONFIG) --libs openssl jansson inih 2>/dev/null) -ldl -lpthread
IDP_PKG_LIBS	:= $(shell $(PKG_CONFIG) --libs openssl jansson 2>/dev/null) -ldl

WARN		 = -Wall -Wextra -Wformat=2 -Wshadow -Wpointer-arith \
		   -Wmissing-prototypes -Wstrict-prototypes -Wno-unused-parameter
ifeq ($(CI),true)
WARN		+= -Werror
endif
ALL_CFLAGS	 = -std=gnu11 $(WARN) -MMD -MP -fPIC -D_GNU_SOURCE \
		   -DROTATORD_VERSION=\"$(VERSION)\" \
		   -Ilibidp/include -iquote rotatord $(PKG_CFLAGS) $(CPPFLAGS) \
		   $(CFLAGS)
LDLIBS_ALL	 = $(PKG_LIBS) -lm

ifeq ($(V),1)
Q =
else
Q = @
endif

B		?= build

# Every .c of libidp/ is a library source: a new file needs no line here.
IDP_SRCS	 = $(sort $(wildcard libidp/*.c))
IDP_HDRS	 = libidp/include/idp/idp.h libidp/include/idp/b64.h libidp/include/idp/jsonw.h libidp/include/idp/crypto.h \
		   libidp/include/idp/secret.h libidp/include/idp/jwk.h \
		   libidp/include/idp/jwt.h libidp/include/idp/x509.h \
		   libidp/include/idp/http.h libidp/include/idp/oidc.h \
		   libidp/include/idp/oauth.h
# Every .c of a folder of rotatord/ but rotatorctl's: a new file needs no
# line here (make check-includes says which folder may include what).
ROT_SRCS	 = $(filter-out rotatord/rotatorctl/%,$(sort $(wildcard rotatord/*/*.c)))
MAIN_SRCS	 = rotatord/main.c
UNIT_TESTS	 = b64 crypto jsonw loop store jwk jwt x509 wycheproof config sink sched schedule http \
		   oidc oauth secretref authz trust fleet server mint reload upstream etcd
# What the unit tests share (tests/unit/util.h), one archive member per
# part so a test links only the parts it calls.
UTIL_SRCS	 = tests/unit/util.c tests/unit/util_config.c tests/unit/util_net.c \
		   tests/unit/util_httpd.c tests/unit/util_loop.c
BENCH_SRCS	 = tests/bench/bench.c

IDP_OBJS	 = $(IDP_SRCS:%.c=$(B)/obj/%.o)
ROT_OBJS	 = $(ROT_SRCS:%.c=$(B)/obj/%.o)
MAIN_OBJS	 = $(MAIN_SRCS:%.c=$(B)/obj/%.o)
UTIL_OBJS	 = $(UTIL_SRCS:%.c=$(B)/obj/%.o)
UNIT_BINS	 = $(UNIT_TESTS:%=$(B)/tests/unit/test-%)

all: $(B)/rotatord $(B)/rotatorctl $(B)/libidp.a $(B)/libidp.so $(B)/idp.pc

# Every object waits for the dependency check: a machine without the -dev
# packages gets one line naming them instead of a compiler error.
$(B)/obj/%.o: %.c | build-deps-ok
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(B)/libidp.a: $(IDP_OBJS)
	@$(if $(Q),echo "  AR      $@")
	$(Q)rm -f $@ && ar rcs $@ $^

# rotatord's objects as an archive, for the unit tests and the benchmark:
# the linker takes from it only the objects a program uses.  Appended
# (q), not replaced (r): two folders may hold files of the same name.
$(B)/librotatord.a: $(ROT_OBJS)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  AR      $@")
	$(Q)rm -f $@ && ar qcs $@ $^

$(B)/libidp.so: $(IDP_OBJS)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) -shared -Wl,-soname,libidp.so.0 -o $@ $^ $(IDP_PKG_LIBS) $(LDFLAGS)

$(B)/idp.pc: libidp/idp.pc.in Makefile
	@mkdir -p $(dir $@)
	$(Q)sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@LIBDIR@|$(LIBDIR)|' \
		-e 's|@INCDIR@|$(INCDIR)|' -e 's|@VERSION@|$(VERSION)|' $< > $@

$(B)/rotatord: $(MAIN_OBJS) $(ROT_OBJS) $(B)/libidp.a
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS_ALL)

# rotatorctl speaks HTTP over the unix socket itself: jansson only.
$(B)/rotatorctl: $(B)/obj/rotatord/rotatorctl/rotatorctl.o
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(shell $(PKG_CONFIG) --libs jansson)

$(B)/tests/unit/libutil.a: $(UTIL_OBJS)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  AR      $@")
	$(Q)rm -f $@ && ar rcs $@ $^

# Each test links what it tests: its own file, then the archives, in the
# order they depend on each other.
$(B)/tests/unit/test-%: tests/unit/test-%.c $(B)/tests/unit/libutil.a \
		$(B)/librotatord.a $(B)/libidp.a
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $@")
	$(Q)$(CC) $(ALL_CFLAGS) $(LDFLAGS) -o $@ $(filter %.c %.o %.a,$^) $(LDLIBS_ALL) -lcmocka

$(B)/bench: $(BENCH_SRCS) $(B)/librotatord.a $(B)/libidp.a
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(ALL_CFLAGS) $(LDFLAGS) -o $@ $(filter %.c %.o %.a,$^) $(LDLIBS_ALL) -lpthread

# The bare libmicrohttpd server the credential GET row is compared with.
$(B)/mhd_bare: tests/bench/mhd_bare.c
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(ALL_CFLAGS) $(LDFLAGS) -o $@ $< $(PKG_LIBS) \
		$(shell $(PKG_CONFIG) --libs libmicrohttpd 2>/dev/null)

unit: $(UNIT_BINS)
	$(Q)$(PYTHON) tests/run-unit.py $(UNIT_BINS)

integration: all
	$(Q)$(PYTHON) -m pytest -q -p no:cacheprovider tests/integration

# The integration suite again, against the ASan+UBSan build of rotatord.
integration-san:
	$(Q)B=$(B) ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
		$(PYTHON) -m pytest -q -p no:cacheprovider tests/integration

# The layering of rotatord/ and libidp/ (tests/includes/check.py), and the
# checker's own test: each kind of wrong include added to a copy fails.
check-includes:
	$(Q)$(PYTHON) tests/includes/check.py
	$(Q)$(PYTHON) -m pytest -q -p no:cacheprovider tests/includes

# The rollout model (tests/model/rollout.py): small sizes, and each mutant
# of the design caught, in seconds.
model:
	$(Q)$(PYTHON) -m pytest -q -p no:cacheprovider tests/model

# The fault suite: the integration tests that inject faults at the sizes
# of FAULTS_SCALE=full (their table is printed at the end; make check runs
# them smaller), then the rollout model at the sizes that take minutes.
FAULT_TESTS	= tests/integration/test_crash.py \
	tests/integration/test_oauth.py::test_outage_keeps_last_good_token \
	tests/integration/test_abuse.py tests/integration/test_diskfull.py \
	tests/integration/test_nginx.py::test_rotations_under_tls_clients \
	tests/integration/test_fleet.py::test_etcd_faults \
	tests/integration/test_fleet.py::test_silent_host_holds_promotion_until_ack_timeout
faults: all
	$(Q)FAULTS_SCALE=full B=$(B) $(PYTHON) -m pytest -q -p no:cacheprovider \
		$(FAULT_TESTS)
	$(Q)$(PYTHON) tests/model/rollout.py --requests 2 --faults 2
	$(Q)$(PYTHON) tests/model/rollout.py --hosts 3 --requests 1 --faults 1
	$(Q)$(PYTHON) tests/model/rollout.py --requests 1 --faults 2 --attack
	$(Q)$(MAKE) --no-print-directory fleet-repeat

# The regions harness (tests/fleet-sim/, as root): SIM_HOSTS rotatord hosts
# over three network namespaces with 40/80/150 ms between them and a real
# 3-member etcd; rotations, failovers and a region cut off for SIM_CUT s.
SIM_HOSTS	?= 3,30,100
SIM_CUT		?= 300
fleet-sim: all
	$(Q)$(PYTHON) tests/fleet-sim/sim.py --rotatord $(B)/rotatord \
		--hosts $(SIM_HOSTS) --cut $(SIM_CUT)

# The 3-host fleet test (real etcd, rotations every 4 s, etcd's history
# checked for one key per generation) REPEAT times in a row.
REPEAT		?= 50
fleet-repeat: all
	$(Q)pass=0; fail=0; i=0; while [ $$i -lt $(REPEAT) ]; do i=$$((i+1)); \
		if B=$(B) $(PYTHON) -m pytest -q -p no:cacheprovider \
		    tests/integration/test_fleet.py::test_shared_secrets_two_phase \
		    >$(B)/fleet-repeat.log 2>&1; then pass=$$((pass+1)); \
		else fail=$$((fail+1)); cp $(B)/fleet-repeat.log \
		    $(B)/fleet-repeat.$$i.log; fi; done; \
		echo "fleet-repeat: $$pass passed, $$fail failed (of $(REPEAT))"; \
		[ $$fail -eq 0 ]

deps:
	$(Q)sh packaging/install-deps.sh

build-deps:
	$(Q)sh packaging/install-deps.sh build

build-deps-ok:
	$(Q)CC="$(CC)" PKG_CONFIG="$(PKG_CONFIG)" sh packaging/check-build-deps.sh

check: deps
	$(Q)$(MAKE) --no-print-directory check-includes
	$(Q)$(MAKE) --no-print-directory all unit
	$(Q)$(MAKE) --no-print-directory model
	$(Q)$(MAKE) --no-print-directory B=build-san sanitize-unit
	$(Q)$(MAKE) --no-print-directory integration
	$(Q)$(MAKE) --no-print-directory B=build-san integration-san
	$(Q)$(MAKE) --no-print-directory fuzz

sanitize:
	$(Q)$(MAKE) --no-print-directory B=build-san sanitize-unit

sanitize-unit:
	$(Q)$(MAKE) --no-print-directory B=$(B) \
		CFLAGS="-O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all" \
		LDFLAGS="-fsanitize=address,undefined" unit all

# libFuzzer harnesses, one per pure parser, run FUZZ_SECONDS each when
# clang is installed.  Corpora start from the fixtures in tests/data.
FUZZ_SECONDS	?= 10
FUZZ_CC		?= clang
FUZZ_FLAGS	 = -g -O1 -fsanitize=fuzzer,address,undefined -std=gnu11 \
		   -D_GNU_SOURCE -DROTATORD_VERSION=\"$(VERSION)\" \
		   -Ilibidp/include -iquote rotatord $(PKG_CFLAGS)
FUZZERS		 = jws config oidc http

build-fuzz/fuzz-jws: tests/fuzz/fuzz-jws.c $(IDP_SRCS)
	@mkdir -p $(dir $@)
	$(Q)$(FUZZ_CC) $(FUZZ_FLAGS) -o $@ $^ $(IDP_PKG_LIBS) -lpthread

build-fuzz/fuzz-oidc: tests/fuzz/fuzz-oidc.c $(IDP_SRCS)
	@mkdir -p $(dir $@)
	$(Q)$(FUZZ_CC) $(FUZZ_FLAGS) -o $@ $^ $(IDP_PKG_LIBS) -lpthread

CONFIG_SRCS	 = $(filter-out rotatord/config/secretref.c,$(wildcard rotatord/config/*.c))
build-fuzz/fuzz-config: tests/fuzz/fuzz-config.c $(CONFIG_SRCS) rotatord/core/log.c $(IDP_SRCS)
	@mkdir -p $(dir $@)
	$(Q)$(FUZZ_CC) $(FUZZ_FLAGS) -o $@ $^ $(LDLIBS_ALL) -lpthread

# The whole daemon with its HTTP API on a thread, fed raw requests.
build-fuzz/fuzz-http: tests/fuzz/fuzz-http.c $(ROT_SRCS) $(IDP_SRCS)
	@mkdir -p $(dir $@)
	$(Q)$(FUZZ_CC) $(FUZZ_FLAGS) -o $@ $^ $(LDLIBS_ALL) -lpthread

fuzz:
	$(Q)if command -v $(FUZZ_CC) >/dev/null 2>&1; then \
		$(MAKE) --no-print-directory $(FUZZERS:%=build-fuzz/fuzz-%) && \
		for f in $(FUZZERS); do \
			mkdir -p build-fuzz/corpus-$$f; \
			seeds=tests/data/$$f; [ $$f = jws ] && seeds=tests/data/jwt; \
			extra=; [ $$f = http ] && extra=-detect_leaks=0; \
			echo "  FUZZ    $$f ($(FUZZ_SECONDS)s)"; \
			build-fuzz/fuzz-$$f -max_total_time=$(FUZZ_SECONDS) $$extra \
			    -print_final_stats=0 build-fuzz/corpus-$$f $$seeds \
			    > build-fuzz/fuzz-$$f.log 2>&1 || \
			    { tail -50 build-fuzz/fuzz-$$f.log; exit 1; }; \
			tail -1 build-fuzz/fuzz-$$f.log; \
		done; \
	else echo "fuzz: $(FUZZ_CC) not installed, skipping"; fi

bench: all $(B)/bench $(B)/mhd_bare
	$(Q)$(PYTHON) tests/bench/run.py --bench $(B)/bench --rotatord $(B)/rotatord \
		--mhd-bare $(B)/mhd_bare

# Everything the packages ship (packaging/debian/*.install, the RPM spec's
# %files).  The directories not set above (SYSCONFDIR, UNITDIR,
# COMPLETIONDIR, DOCDIR) are at the end of this file.  The unit's ExecStart
# follows BINDIR; an existing rotatord.ini is never overwritten.
install: all
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(LIBDIR)/pkgconfig \
		$(DESTDIR)$(INCDIR)/idp $(DESTDIR)$(MANDIR)/man1 \
		$(DESTDIR)$(MANDIR)/man5 $(DESTDIR)$(MANDIR)/man8 \
		$(DESTDIR)$(UNITDIR) $(DESTDIR)$(COMPLETIONDIR) \
		$(DESTDIR)$(DOCDIR)/examples $(DESTDIR)$(SYSCONFDIR)/rotatord
	install -m 0755 $(B)/rotatord $(B)/rotatorctl $(DESTDIR)$(BINDIR)/
	install -m 0644 $(B)/libidp.a $(DESTDIR)$(LIBDIR)/libidp.a
	install -m 0644 $(B)/libidp.so $(DESTDIR)$(LIBDIR)/libidp.so.0
	ln -sf libidp.so.0 $(DESTDIR)$(LIBDIR)/libidp.so
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@LIBDIR@|$(LIBDIR)|' \
		-e 's|@INCDIR@|$(INCDIR)|' -e 's|@VERSION@|$(VERSION)|' \
		libidp/idp.pc.in > $(DESTDIR)$(LIBDIR)/pkgconfig/idp.pc
	chmod 0644 $(DESTDIR)$(LIBDIR)/pkgconfig/idp.pc
	install -m 0644 $(IDP_HDRS) $(DESTDIR)$(INCDIR)/idp/
	install -m 0644 packaging/man/rotatorctl.1 $(DESTDIR)$(MANDIR)/man1/
	install -m 0644 packaging/man/rotatord.ini.5 $(DESTDIR)$(MANDIR)/man5/
	install -m 0644 packaging/man/rotatord.8 $(DESTDIR)$(MANDIR)/man8/
	install -m 0644 packaging/bash-completion/rotatorctl \
		$(DESTDIR)$(COMPLETIONDIR)/rotatorctl
	sed -e 's|/usr/bin/rotatord|$(BINDIR)/rotatord|g' \
		packaging/systemd/rotatord.service > $(DESTDIR)$(UNITDIR)/rotatord.service
	chmod 0644 $(DESTDIR)$(UNITDIR)/rotatord.service
	install -m 0644 conf/rotatord.ini conf/minimal.ini conf/nginx-server.conf \
		$(DESTDIR)$(DOCDIR)/examples/
	test -e $(DESTDIR)$(SYSCONFDIR)/rotatord/rotatord.ini || \
		install -m 0644 conf/default.ini $(DESTDIR)$(SYSCONFDIR)/rotatord/rotatord.ini

# The build is a new make: its pkg-config flags are read after build-deps
# has installed the packages, not when this Makefile was parsed.
run: build-deps
	$(Q)$(MAKE) --no-print-directory all
	$(B)/rotatord -c conf/minimal.ini

clean:
	rm -rf build build-san build-fuzz

.PHONY: all unit integration integration-san check-includes model faults fleet-sim fleet-repeat deps build-deps build-deps-ok check sanitize sanitize-unit fuzz bench install run clean

-include $(shell find $(B) -name '*.d' 2>/dev/null)

# ---------------------------------------------------------------------------
# Installation directories not set at the top, and the packages.
SYSCONFDIR	?= /etc
UNITDIR		?= $(PREFIX)/lib/systemd/system
COMPLETIONDIR	?= $(PREFIX)/share/bash-completion/completions
DOCDIR		?= $(PREFIX)/share/doc/rotatord

# libidp.so exports only the public API: the idp_* functions that the
# installed headers declare (read from the preprocessed headers, so
# comments do not count).  Internal helpers shared between libidp's files
# (internal.h, curl_dl.h) stay local.  rotatord itself links libidp.a.
$(B)/libidp.ver: $(IDP_HDRS) | build-deps-ok
	@mkdir -p $(dir $@)
	$(Q)printf '#include <idp/%s>\n' $(notdir $(IDP_HDRS)) | \
		$(CC) -E -P -D_GNU_SOURCE -Ilibidp/include $(PKG_CFLAGS) -x c - | \
		grep -oE '\bidp_[A-Za-z0-9_]+[[:space:]]*\(' | \
		grep -oE 'idp_[A-Za-z0-9_]+' | sort -u | \
		{ echo '{'; echo 'global:'; sed 's/.*/	&;/'; \
		  echo 'local:'; echo '	*;'; echo '};'; } > $@.tmp
	$(Q)grep -q 'idp_version;' $@.tmp && mv $@.tmp $@
$(B)/libidp.so: | $(B)/libidp.ver
$(B)/libidp.so: override LDFLAGS += -Wl,--version-script=$(B)/libidp.ver

# make deb: the Debian packages, built out of tree.  The files git knows
# of are copied to build/deb/rotatord-VERSION with packaging/debian as
# debian/ (packaging/stage-source.sh), dpkg-buildpackage builds the source
# and binary packages there (into build/deb), lintian checks the .changes
# and hardening-check the binaries.  Installs its tools when missing.
DEB_OUT		?= build/deb
DEB_SRC		 = $(DEB_OUT)/rotatord-$(VERSION)
DEB_ARCH	 = $(shell dpkg --print-architecture 2>/dev/null)
DEB_CHANGES	 = $(DEB_OUT)/rotatord_$(VERSION)_$(DEB_ARCH).changes

deb:
	$(Q)rm -rf $(DEB_OUT) && mkdir -p $(DEB_OUT)
	$(Q)sh packaging/stage-source.sh $(DEB_SRC) packaging/debian
	$(Q)sh packaging/install-pkg-tools.sh deb $(DEB_SRC)
	$(Q)v=$$(dpkg-parsechangelog -l $(DEB_SRC)/debian/changelog -SVersion); \
		[ "$$v" = "$(VERSION)" ] || { echo "deb: debian/changelog is at" \
		"$$v, the Makefile at $(VERSION)" >&2; exit 1; }
	$(Q)cd $(DEB_SRC) && dpkg-buildpackage -us -uc
	$(Q)lintian --display-info --pedantic --fail-on error,warning $(DEB_CHANGES)
	$(Q)$(MAKE) --no-print-directory deb-hardening

# hardening-check (devscripts) on the packaged executables and library:
# PIE, stack protector, fortify, relro, bindnow.  Not control-flow
# protection: bookworm's crt1.o/crti.o carry no IBT/SHSTK note, so no
# binary linked on it can have one, whatever -fcf-protection says.
deb-hardening:
	$(Q)d=$(DEB_OUT)/hardening && rm -rf $$d && mkdir -p $$d && \
		for p in $(DEB_OUT)/rotatord_*.deb $(DEB_OUT)/libidp0_*.deb; do \
			dpkg-deb -x $$p $$d; done && \
		hardening-check --nocfprotection \
			$$d/usr/bin/rotatord $$d/usr/bin/rotatorctl \
			$$d/usr/lib/*/libidp.so.0 && rm -rf $$d

# make rpm: the RPMs (packaging/rpm/rotatord.spec) from the same staged
# tree, into build/rpm/RPMS and SRPMS, then rpmlint on the spec and the
# packages (not the generated -debuginfo; settings and filters, each with
# its reason: packaging/rpm/rpmlint.toml).  On Debian the spec's BuildRequires (Fedora
# names) cannot be met, so rpmbuild runs with --nodeps against Debian's
# -dev packages, and loads packaging/rpm/macros.debian.
RPM_OUT		?= build/rpm
RPMBUILD_FLAGS	?= $(if $(wildcard /etc/debian_version),--nodeps \
		   --load packaging/rpm/macros.debian)

rpm:
	$(Q)sh packaging/install-pkg-tools.sh rpm
	$(Q)v=$$(sed -n 's/^Version:[[:space:]]*//p' packaging/rpm/rotatord.spec); \
		[ "$$v" = "$(VERSION)" ] || { echo "rpm: rotatord.spec is at" \
		"$$v, the Makefile at $(VERSION)" >&2; exit 1; }
	$(Q)rm -rf $(RPM_OUT) && mkdir -p $(RPM_OUT)/SOURCES
	$(Q)sh packaging/stage-source.sh $(RPM_OUT)/rotatord-$(VERSION)
	$(Q)tar -C $(RPM_OUT) -czf $(RPM_OUT)/SOURCES/rotatord-$(VERSION).tar.gz \
		rotatord-$(VERSION)
	$(Q)rm -rf $(RPM_OUT)/rotatord-$(VERSION)
	$(Q)rpmbuild -ba $(RPMBUILD_FLAGS) --define '_topdir $(abspath $(RPM_OUT))' \
		packaging/rpm/rotatord.spec
	$(Q)rpmlint -c packaging/rpm/rpmlint.toml packaging/rpm/rotatord.spec \
		$(RPM_OUT)/SRPMS/*.rpm $$(ls $(RPM_OUT)/RPMS/*/*.rpm | \
		grep -v -e '-debuginfo-' -e '-debugsource-')

.PHONY: deb deb-hardening rpm
