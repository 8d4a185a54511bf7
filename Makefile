# Postern build. One Makefile; the targets double as documentation:
#   make            build bin/postern and bin/posternctl
#   make deps       install missing Debian packages (as root), or print the apt-get line
#   make check      deps + build with -Werror + unit tests + integration tests
#   make check-asan the same suites against an AddressSanitizer + UBSan build
#   make fuzz       build the libFuzzer targets with clang and run each for FUZZ_TIME seconds
#   make run        demo-setup, private redis, then postern -d -f etc/postern.demo.json
#   make bench      throughput and memory figures (needs the postfix package; never installs it)
#
# Sources are found by directory: lib/ content/ mailauth/ policy/ policy/checks/ auth/
# webhooks/ admin/ relay/ and its subfolders smtpd/ spool/ queue/ deliver/ (relay/main.c is the
# daemon's main). Each tests/unit/test_X.c becomes
# one cmocka binary, linked with the test-only policy checks of tests/checks/ (never part
# of the shipped library).

BUILD    ?= build
CC       ?= cc
SAN      ?=
PKGS      = libevent libevent_openssl libevent_pthreads libssl libcrypto libsasl2 hiredis jansson libcares libpsl zlib
WARN      = -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
            -Wpointer-arith -Wformat=2 -Wno-format-nonliteral
OPT      ?= -O2
CFLAGS   += -std=c11 -D_GNU_SOURCE -g $(OPT) $(WARN) $(SAN) -I. $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
LDLIBS   += $(SAN) $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lpthread -lm
PYTHON   ?= /usr/bin/python3

LAYER_SRC  = $(wildcard lib/*.c) $(wildcard content/*.c) $(wildcard mailauth/*.c) \
             $(wildcard policy/*.c) $(wildcard policy/checks/*.c) $(wildcard auth/*.c) \
             $(wildcard webhooks/*.c) $(wildcard admin/*.c) \
             $(filter-out relay/main.c,$(wildcard relay/*.c)) $(wildcard relay/*/*.c)
# The web page's files (admin/assets/), compiled in: a C table generated into the build
# directory (tools/embed-assets.sh), never committed.
WEB_ASSETS = $(sort $(wildcard admin/assets/*))
LAYER_OBJ  = $(LAYER_SRC:%.c=$(BUILD)/%.o) $(BUILD)/admin/web_assets_gen.o
UNIT_SRC   = $(wildcard tests/unit/test_*.c)
UNIT_BIN   = $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)
TESTCHECK_OBJ = $(patsubst %.c,$(BUILD)/%.o,$(wildcard tests/checks/*.c))
.SECONDARY: $(TESTCHECK_OBJ)
HELPER_SRC = $(wildcard tests/helpers/*.c)
HELPER_BIN = $(HELPER_SRC:tests/helpers/%.c=$(BUILD)/tests/helpers/%)
FUZZ_SRC   = $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_TIME ?= 30

DEB_PKGS = build-essential pkg-config libevent-dev libssl-dev libsasl2-dev libsasl2-modules \
           libsasl2-modules-db sasl2-bin libhiredis-dev libjansson-dev libc-ares-dev \
           libcmocka-dev libclamav-dev chromium zlib1g-dev redis-server redis-sentinel dnsmasq-base swaks libnet-ssleay-perl libio-socket-ssl-perl \
           curl openssl python3 python3-pytest python3-redis \
           clang-14 libclang-rt-14-dev valgrind pflogsumm python3-dkim \
           libpsl-dev publicsuffix man-db groff-base

.PHONY: all deps check check-unit check-integration check-asan check-layers fuzz run \
        demo-setup bench clean man install uninstall spam-eval
all: bin/postern $(if $(wildcard tools/posternctl.c),bin/posternctl) bin/postern-scan

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -MMD -MP -c $< -o $@

$(BUILD)/admin/web_assets_gen.c: $(WEB_ASSETS) tools/embed-assets.sh
	@mkdir -p $(dir $@)
	sh tools/embed-assets.sh $(WEB_ASSETS) > $@.tmp && mv $@.tmp $@

$(BUILD)/admin/web_assets_gen.o: $(BUILD)/admin/web_assets_gen.c
	$(CC) $(CFLAGS) -c $< -o $@

# ar keeps members by base name: two sources with one base name would clash (checked).
$(BUILD)/libpostern.a: $(LAYER_OBJ)
	@dup=$$(for f in $(notdir $^); do echo $$f; done | sort | uniq -d); \
	  [ -z "$$dup" ] || { echo "two sources share a base name: $$dup" >&2; exit 1; }
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/postern: $(BUILD)/relay/main.o $(BUILD)/libpostern.a
	$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)

# The daemon with the test-only policy checks of tests/checks/ registered (integration
# tests of the policy engine); never installed.
$(BUILD)/relay/main-test.o: relay/main.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -DPOSTERN_TEST_CHECKS -MMD -MP -c $< -o $@

$(BUILD)/postern-test: $(BUILD)/relay/main-test.o $(TESTCHECK_OBJ) $(BUILD)/libpostern.a
	$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)

CTL_OBJ    = $(patsubst %.c,$(BUILD)/%.o,$(wildcard tools/posternctl*.c))
$(BUILD)/posternctl: $(CTL_OBJ) $(BUILD)/libpostern.a
	$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)

# The virus scanner program (content/scanner/): the only binary linked with libclamav.
SCANNER_SRC = $(wildcard content/scanner/*.c)
SCANNER_OBJ = $(SCANNER_SRC:%.c=$(BUILD)/%.o)
$(SCANNER_OBJ): CFLAGS += $(shell pkg-config --cflags libclamav 2>/dev/null)
$(BUILD)/postern-scan: $(SCANNER_OBJ)
	$(CC) $(CFLAGS) -o $@ $^ $(SAN) $(shell pkg-config --libs libclamav 2>/dev/null) -lpthread

bin/postern-scan: $(BUILD)/postern-scan
	@mkdir -p bin
	cp $< $@

bin/postern: $(BUILD)/postern
	@mkdir -p bin
	cp $< $@
bin/posternctl: $(BUILD)/posternctl
	@mkdir -p bin
	cp $< $@

$(BUILD)/tests/test_%: tests/unit/test_%.c $(TESTCHECK_OBJ) $(BUILD)/libpostern.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $< $(TESTCHECK_OBJ) $(BUILD)/libpostern.a $(LDLIBS) -lcmocka

$(BUILD)/tests/helpers/%: tests/helpers/%.c $(BUILD)/libpostern.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $< $(BUILD)/libpostern.a $(LDLIBS)

$(BUILD)/bench/%: bench/%.c $(BUILD)/libpostern.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $< $(BUILD)/libpostern.a $(LDLIBS)

# Man pages, generated into $(BUILD)/man/ (never committed): postern.json(5) from the
# config key tables (postern --reference=man), posternctl(8)'s commands from its table.
MAN_PAGES = $(BUILD)/man/postern.8 $(BUILD)/man/posternctl.8 $(BUILD)/man/postern.json.5
MAN_DATE  = $(shell date -u +%Y-%m-%d)
MAN_SUBST = sed -e 's/@VERSION@/$(shell sed -n 's/^\#define POSTERN_VERSION "\(.*\)"/\1/p' lib/version.h)/' \
                -e 's/@DATE@/$(MAN_DATE)/'
man: $(MAN_PAGES)
$(BUILD)/man/postern.8: docs/man/postern.8.in lib/version.h
	@mkdir -p $(dir $@)
	$(MAN_SUBST) $< > $@
$(BUILD)/man/posternctl.8: docs/man/posternctl.8.in lib/version.h $(BUILD)/posternctl
	@mkdir -p $(dir $@)
	$(BUILD)/posternctl --man-commands > $@.commands
	$(MAN_SUBST) -e '/^@COMMANDS@$$/{r $@.commands' -e 'd;}' $< > $@
	@rm -f $@.commands
$(BUILD)/man/postern.json.5: docs/man/postern.json.5.in lib/version.h $(BUILD)/postern
	@mkdir -p $(dir $@)
	$(BUILD)/postern --reference=man > $@.keys
	$(MAN_SUBST) -e '/^@KEYS@$$/{r $@.keys' -e 'd;}' $< > $@
	@rm -f $@.keys

# make install PREFIX=/usr DESTDIR=/tmp/stage: binaries, man pages, the systemd unit and
# sysusers file, a sample configuration under SYSCONFDIR/postern/ (an existing
# postern.json is never touched), the docs. make uninstall removes what install wrote,
# except the configuration and the spool.
PREFIX     ?= /usr/local
SYSCONFDIR ?= /etc
SBINDIR    ?= $(PREFIX)/sbin
SCANDIR    ?= $(PREFIX)/lib/postern
MANDIR     ?= $(PREFIX)/share/man
DOCDIR     ?= $(PREFIX)/share/doc/postern
UNITDIR    ?= $(PREFIX)/lib/systemd/system
SYSUSERSDIR?= $(PREFIX)/lib/sysusers.d
INSTALLED  = $(SBINDIR)/postern $(SBINDIR)/posternctl $(SCANDIR)/postern-scan \
             $(MANDIR)/man8/postern.8 \
             $(MANDIR)/man8/posternctl.8 $(MANDIR)/man5/postern.json.5 \
             $(UNITDIR)/postern.service $(SYSUSERSDIR)/postern.conf \
             $(SYSCONFDIR)/postern/postern.json.sample \
             $(DOCDIR)/README.md $(addprefix $(DOCDIR)/,$(notdir $(wildcard docs/*.md))) \
             $(DOCDIR)/postern.demo.json
install: all man
	install -d $(DESTDIR)$(SBINDIR) $(DESTDIR)$(MANDIR)/man8 $(DESTDIR)$(MANDIR)/man5 \
	  $(DESTDIR)$(UNITDIR) $(DESTDIR)$(SYSUSERSDIR) $(DESTDIR)$(SYSCONFDIR)/postern $(DESTDIR)$(DOCDIR)
	install -m 755 bin/postern bin/posternctl $(DESTDIR)$(SBINDIR)/
	install -d $(DESTDIR)$(SCANDIR)
	install -m 755 bin/postern-scan $(DESTDIR)$(SCANDIR)/
	install -m 644 $(BUILD)/man/postern.8 $(BUILD)/man/posternctl.8 $(DESTDIR)$(MANDIR)/man8/
	install -m 644 $(BUILD)/man/postern.json.5 $(DESTDIR)$(MANDIR)/man5/
	sed -e 's|/usr/sbin/|$(SBINDIR)/|g' -e 's|/etc/postern/|$(SYSCONFDIR)/postern/|g' \
	  etc/postern.service > $(DESTDIR)$(UNITDIR)/postern.service
	chmod 644 $(DESTDIR)$(UNITDIR)/postern.service
	install -m 644 etc/postern.sysusers $(DESTDIR)$(SYSUSERSDIR)/postern.conf
	install -m 640 etc/postern.sample.json $(DESTDIR)$(SYSCONFDIR)/postern/postern.json.sample
	install -m 644 README.md docs/*.md etc/postern.demo.json $(DESTDIR)$(DOCDIR)/

uninstall:
	rm -f $(addprefix $(DESTDIR),$(INSTALLED))
	-rmdir $(DESTDIR)$(DOCDIR) $(DESTDIR)$(SYSCONFDIR)/postern $(DESTDIR)$(SCANDIR) 2>/dev/null

deps:
	@sh tools/deps.sh $(DEB_PKGS)

check: deps
	$(MAKE) --no-print-directory all-tests
	@$(MAKE) --no-print-directory check-layers
	@sh tests/run.sh $(BUILD)

# Everything the suites need, for one BUILD directory.
.PHONY: all-tests
all-tests: $(BUILD)/postern $(BUILD)/postern-test $(BUILD)/postern-scan $(if $(wildcard tools/posternctl.c),$(BUILD)/posternctl) \
           $(UNIT_BIN) $(HELPER_BIN)

check-unit: $(UNIT_BIN)
	@sh tests/run.sh $(BUILD) unit

check-integration: all-tests
	@sh tests/run.sh $(BUILD) integration

check-asan: deps
	$(MAKE) --no-print-directory BUILD=build-asan OPT=-O1 \
	  SAN="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined" all-tests
	@ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
	  sh tests/run.sh build-asan

check-layers:
	@sh tools/check-layers.sh

fuzz: deps
	@sh tests/fuzz/run.sh $(FUZZ_TIME) $(FUZZ_SRC)

demo-setup: deps all
	@sh tools/demo-setup.sh

run: demo-setup
	@sh tools/demo-run.sh

bench: all
	@sh bench/run.sh

# 10-fold cross-validation of the spam classifier on the training corpus (prepare.sh).
SPAM_CORPUS ?= $(firstword $(wildcard ../shared/spam-corpus /work/shared/spam-corpus) ../shared/spam-corpus)
spam-eval: $(BUILD)/bench/spam_eval
	@$(BUILD)/bench/spam_eval $(SPAM_CORPUS)

clean:
	rm -rf build build-asan build-fuzz bin

-include $(SCANNER_OBJ:.o=.d) $(LAYER_OBJ:.o=.d) $(TESTCHECK_OBJ:.o=.d) $(BUILD)/relay/main.d $(BUILD)/relay/main-test.d $(CTL_OBJ:.o=.d)
