# sockredir build.  `sudo make demo` and `sudo make check` are the two entry
# points; both install missing Debian packages first (scripts/deps.sh).

CC       ?= gcc
CLANG    ?= clang
BPFTOOL  ?= bpftool
PREFIX   ?= /usr/local
B        := build

CFLAGS   ?= -O2 -g
CFLAGS   += -Wall -Wextra -Wno-unused-parameter -std=gnu11 -D_GNU_SOURCE \
	    -Iinclude -Icommon -I$(B) -fPIC -fno-strict-aliasing
LDLIBS   := -lbpf -lelf -lz

BPF_SRC  := $(wildcard bpf/*.bpf.c)
BPF_HDR  := $(wildcard bpf/*.h)
LIB_SRC  := $(wildcard lib/*.c)
LIB_HDR  := $(wildcard lib/*.h) $(wildcard include/*.h) $(wildcard include/sockredir/*.h)
LIB_OBJ  := $(patsubst lib/%.c,$(B)/lib/%.o,$(LIB_SRC))
WSA_SRC  := $(wildcard winsock/*.c)
WSA_HDR  := $(wildcard winsock/*.h) $(wildcard include/sockredir/*.h) include/sockredir.h
WSA_OBJ  := $(patsubst winsock/%.c,$(B)/winsock/%.o,$(WSA_SRC))
COMMON_OBJ := $(patsubst common/%.c,$(B)/common/%.o,$(wildcard common/*.c))
CLI_SRC  := $(wildcard cli/*.c)
RELAY_SRC:= $(wildcard relay/*.c)
UNIT_SRC := $(wildcard tests/unit/test_*.c)
UNIT_BIN := $(patsubst tests/unit/%.c,$(B)/tests/%,$(UNIT_SRC))
HELPER_SRC := $(wildcard tests/helpers/*.c)
HELPER_BIN := $(patsubst tests/helpers/%.c,$(B)/tests/%,$(HELPER_SRC))
ALT_BPF  := $(B)/tests/sockredir-alt.bpf.o $(B)/tests/sockredir-size.bpf.o \
	    $(B)/tests/sockredir-btf.bpf.o	# for the upgrade test

PROGS := $(B)/sockredir
ifneq ($(RELAY_SRC),)
PROGS += $(B)/sockredir-relay
endif

.PHONY: all deps demo check test unit install uninstall deb clean bench bench-smoke compat
LIBS  := $(B)/libsockredir.so $(B)/libsockredir.a $(B)/sockredir.pc \
	 $(B)/libsockredir-winsock.so $(B)/libsockredir-winsock.a \
	 $(B)/sockredir-winsock.pc
# What programs link: the Winsock layer before the core it sits on.
STATIC := $(B)/libsockredir-winsock.a $(B)/libsockredir.a $(COMMON_OBJ)

all: $(PROGS) $(LIBS) $(UNIT_BIN) $(HELPER_BIN) $(ALT_BPF)

deps:
	@sh scripts/deps.sh

# The skeleton embeds the BPF object, so binaries need no .o at run time.
$(B)/sockredir.bpf.o: bpf/sockredir.bpf.c $(BPF_HDR) include/sockredir.h | $(B)
	$(CLANG) -g -O2 -fno-strict-aliasing -target bpf -D__TARGET_ARCH_x86 -Iinclude -Ibpf \
		-I/usr/include/x86_64-linux-gnu -c bpf/sockredir.bpf.c -o $@
# Other builds of the layer for the upgrade test: other code with the same
# maps, and maps whose value size or field layout differ.
$(B)/tests/sockredir-alt.bpf.o:  ALT_DEF := -DSR_BUILD_TAG=2
$(B)/tests/sockredir-size.bpf.o: ALT_DEF := -DSR_TEST_SIZE_CHANGE
$(B)/tests/sockredir-btf.bpf.o:  ALT_DEF := -DSR_TEST_BTF_CHANGE
$(ALT_BPF): $(BPF_SRC) $(BPF_HDR) include/sockredir.h
	@mkdir -p $(@D)
	$(CLANG) -g -O2 -fno-strict-aliasing -target bpf -D__TARGET_ARCH_x86 -Iinclude -Ibpf \
		-I/usr/include/x86_64-linux-gnu $(ALT_DEF) -c bpf/sockredir.bpf.c -o $@
$(B)/sockredir.skel.h: $(B)/sockredir.bpf.o
	$(BPFTOOL) gen skeleton $< name sockredir_bpf > $@
# The flow iterator: its own object, loaded on demand by lib/flow.c.
$(B)/flows.bpf.o: bpf/flows.bpf.c $(BPF_HDR) | $(B)
	$(CLANG) -g -O2 -fno-strict-aliasing -target bpf -D__TARGET_ARCH_x86 -Iinclude -Ibpf \
		-I/usr/include/x86_64-linux-gnu -c $< -o $@
$(B)/flows.skel.h: $(B)/flows.bpf.o
	$(BPFTOOL) gen skeleton $< name sockredir_flows > $@

$(B)/lib/%.o: lib/%.c $(LIB_HDR) $(BPF_HDR) $(B)/sockredir.skel.h $(B)/flows.skel.h | $(B)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -fvisibility=hidden -Ilib -Ibpf -c $< -o $@
$(B)/winsock/%.o: winsock/%.c $(WSA_HDR) | $(B)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -fvisibility=hidden -c $< -o $@
$(B)/common/%.o: common/%.c $(wildcard common/*.h) | $(B)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -c $< -o $@

$(B)/libsockredir.a: $(LIB_OBJ)
	rm -f $@; ar rcs $@ $^
$(B)/libsockredir.so: $(LIB_OBJ) lib/libsockredir.map
	$(CC) -shared -Wl,--version-script=lib/libsockredir.map \
		-Wl,-soname,libsockredir.so.1 -o $@ $(LIB_OBJ) $(LDLIBS)
$(B)/sockredir.pc: lib/sockredir.pc.in | $(B)
	sed 's|@PREFIX@|$(PREFIX)|' $< > $@
$(B)/libsockredir-winsock.a: $(WSA_OBJ)
	rm -f $@; ar rcs $@ $^
$(B)/libsockredir-winsock.so: $(WSA_OBJ) winsock/libsockredir-winsock.map $(B)/libsockredir.so
	$(CC) -shared -Wl,--version-script=winsock/libsockredir-winsock.map \
		-Wl,-soname,libsockredir-winsock.so.1 -o $@ $(WSA_OBJ) \
		$(B)/libsockredir.so -lpthread
$(B)/sockredir-winsock.pc: winsock/sockredir-winsock.pc.in | $(B)
	sed 's|@PREFIX@|$(PREFIX)|' $< > $@

$(B)/sockredir: $(CLI_SRC) $(wildcard cli/*.h) $(STATIC)
	$(CC) $(CFLAGS) -Icli -o $@ $(CLI_SRC) $(STATIC) $(LDLIBS)
$(B)/sockredir-relay: $(RELAY_SRC) $(wildcard relay/*.h) $(STATIC)
	$(CC) $(CFLAGS) -Irelay -o $@ $(RELAY_SRC) $(STATIC) $(LDLIBS) -lcrypto
# The relay's QUIC Initial reader (relay/quic.c) opens packets with libcrypto.
$(B)/tests/test_relay $(B)/tests/test_quic $(B)/tests/test_udpflow: LDLIBS += -lcrypto

$(B)/tests/%: tests/unit/%.c tests/tap.h $(wildcard tests/unit/*.h relay/*.c relay/*.h cli/*.[ch]) \
		$(STATIC)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -Itests -Ilib -Ibpf -Irelay -o $@ $< $(STATIC) $(LDLIBS) -lpthread
$(B)/tests/%: tests/helpers/%.c $(STATIC)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -Itests -o $@ $< $(STATIC) $(LDLIBS) -lpthread

$(B):
	@mkdir -p $(B)

unit: all
	@sh tests/run.sh unit

check: deps
	$(MAKE) all fuzz
	@sh tests/run.sh

test: check

demo: deps
	$(MAKE) all
	@sh scripts/demo.sh

bench: deps
	$(MAKE) all
	@sh bench/run.sh full

# Eight transparent proxies from Debian, behind iptables REDIRECT and
# behind sockredir: installs the five that `check` does not need, prints a table.
COMPAT_PKGS := mitmproxy sslsplit tinyproxy shadowsocks-libev v2ray
compat:
	@sh scripts/deps.sh $(COMPAT_PKGS)
	$(MAKE) all
	@bash scripts/compat.sh

bench-smoke: all
	@sh bench/run.sh smoke

# Where make install puts things.  /etc for the /usr and /usr/local prefixes.
BINDIR     ?= $(PREFIX)/bin
LIBDIR     ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
MANDIR     ?= $(PREFIX)/share/man
UNITDIR    ?= $(PREFIX)/lib/systemd/system
SYSCONFDIR ?= $(if $(filter /usr /usr/local,$(PREFIX)),/etc,$(PREFIX)/etc)
SUBST = sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@BINDIR@|$(BINDIR)|g' \
	    -e 's|@LIBDIR@|$(LIBDIR)|g' -e 's|@SYSCONFDIR@|$(SYSCONFDIR)|g'
MAN_PAGES := man/sockredir.8 man/sockredir-relay.8 man/sockredir.conf.5 man/sockredir.7

install: all
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(LIBDIR)/pkgconfig \
		$(DESTDIR)$(INCLUDEDIR)/sockredir $(DESTDIR)$(UNITDIR) \
		$(DESTDIR)$(MANDIR)/man5 $(DESTDIR)$(MANDIR)/man7 \
		$(DESTDIR)$(MANDIR)/man8 $(DESTDIR)$(SYSCONFDIR)/sockredir
	install -m 755 $(PROGS) $(DESTDIR)$(BINDIR)/
	for l in libsockredir libsockredir-winsock; do \
		install -m 644 $(B)/$$l.a $(DESTDIR)$(LIBDIR)/ && \
		install -m 755 $(B)/$$l.so $(DESTDIR)$(LIBDIR)/$$l.so.1 && \
		ln -sf $$l.so.1 $(DESTDIR)$(LIBDIR)/$$l.so || exit 1; \
	done
	install -m 644 include/sockredir.h $(DESTDIR)$(INCLUDEDIR)/
	install -m 644 include/sockredir/*.h $(DESTDIR)$(INCLUDEDIR)/sockredir/
	$(SUBST) -e 's|^libdir=.*|libdir=$(LIBDIR)|' -e 's|^includedir=.*|includedir=$(INCLUDEDIR)|' \
		lib/sockredir.pc.in > $(DESTDIR)$(LIBDIR)/pkgconfig/sockredir.pc
	$(SUBST) -e 's|^libdir=.*|libdir=$(LIBDIR)|' -e 's|^includedir=.*|includedir=$(INCLUDEDIR)|' \
		winsock/sockredir-winsock.pc.in > $(DESTDIR)$(LIBDIR)/pkgconfig/sockredir-winsock.pc
	for m in $(MAN_PAGES); do \
		install -m 644 $$m $(DESTDIR)$(MANDIR)/man$${m##*.}/ || exit 1; \
	done
	$(SUBST) systemd/sockredir.service.in > $(DESTDIR)$(UNITDIR)/sockredir.service
	$(SUBST) systemd/sockredir-relay@.service.in > $(DESTDIR)$(UNITDIR)/sockredir-relay@.service
	install -m 644 systemd/sockredir.slice $(DESTDIR)$(UNITDIR)/
	# The configuration is the administrator's: never overwritten.
	[ -e $(DESTDIR)$(SYSCONFDIR)/sockredir/sockredir.conf ] || \
		install -m 644 etc/sockredir.conf $(DESTDIR)$(SYSCONFDIR)/sockredir/
	[ -n "$(DESTDIR)" ] || [ "$$(id -u)" != 0 ] || ldconfig

# Removes what install put there, but the configuration.
uninstall:
	rm -f $(addprefix $(DESTDIR)$(BINDIR)/,$(notdir $(PROGS)))
	rm -f $(DESTDIR)$(LIBDIR)/libsockredir.* $(DESTDIR)$(LIBDIR)/libsockredir-winsock.*
	rm -f $(DESTDIR)$(LIBDIR)/pkgconfig/sockredir.pc $(DESTDIR)$(LIBDIR)/pkgconfig/sockredir-winsock.pc
	rm -rf $(DESTDIR)$(INCLUDEDIR)/sockredir $(DESTDIR)$(INCLUDEDIR)/sockredir.h
	rm -f $(foreach m,$(MAN_PAGES),$(DESTDIR)$(MANDIR)/man$(subst .,,$(suffix $(m)))/$(notdir $(m)))
	rm -f $(DESTDIR)$(UNITDIR)/sockredir.service $(DESTDIR)$(UNITDIR)/sockredir-relay@.service \
		$(DESTDIR)$(UNITDIR)/sockredir.slice
	[ -n "$(DESTDIR)" ] || [ "$$(id -u)" != 0 ] || ldconfig

# A Debian package, built from a copy of the tree under build/deb:
deb:
	rm -rf $(B)/deb && mkdir -p $(B)/deb/src
	tar --exclude=./$(B) --exclude=./.git -cf - . | tar -C $(B)/deb/src -xf -
	cd $(B)/deb/src && dpkg-buildpackage -us -uc -b -j2 >../build.log 2>&1 || \
		{ tail -30 ../build.log; exit 1; }
	ls $(B)/deb/*.deb

clean:
	rm -rf $(B)

# ---- fuzz (relay) ----------------------------------------------------------
# libFuzzer targets for the relay's parsers; not part of `all`.
#   make fuzz && build/fuzz/fuzz_sniff -max_total_time=60
.PHONY: fuzz
fuzz: $(B)/fuzz/fuzz_sniff $(B)/fuzz/fuzz_http
$(B)/fuzz/fuzz_sniff: tests/fuzz/fuzz_sniff.c relay/sniff.c relay/sniff.h relay/policy.c
	@mkdir -p $(@D)
	$(CLANG) -g -O1 -D_GNU_SOURCE -fsanitize=fuzzer,address,undefined \
		-fno-sanitize-recover=undefined -Irelay -o $@ $<
$(B)/fuzz/fuzz_http: tests/fuzz/fuzz_http.c relay/http.c relay/http.h relay/sniff.c
	@mkdir -p $(@D)
	$(CLANG) -g -O1 -D_GNU_SOURCE -fsanitize=fuzzer,address,undefined \
		-fno-sanitize-recover=undefined -Irelay -o $@ $<

# ---- fuzz (sockredir.conf) -------------------------------------------------
#   make fuzz && build/fuzz/fuzz_conf -max_total_time=60
FUZZ_CONF := cli/conf.c cli/rulewords.c cli/servicewords.c lib/sockopt.c \
	     lib/cgroup.c
fuzz: $(B)/fuzz/fuzz_conf
$(B)/fuzz/fuzz_conf: tests/fuzz/fuzz_conf.c $(FUZZ_CONF) $(wildcard cli/*.h) $(LIB_HDR)
	@mkdir -p $(@D)
	$(CLANG) -g -O1 -D_GNU_SOURCE -fsanitize=fuzzer,address,undefined \
		-fno-sanitize-recover=undefined -Iinclude -Ilib -Ibpf -Icli -o $@ $< \
		$(FUZZ_CONF)

# ---- fuzz (libsockredir) ---------------------------------------------------
#   make fuzz && build/fuzz/fuzz_parse -max_total_time=60
# The CLI's rule words (cli/rulewords.c) ride on the library.  All of it is
# linked (not a hand-kept list that breaks when a file is added).
FUZZ_LIB := $(LIB_SRC) cli/rulewords.c
fuzz: $(B)/fuzz/fuzz_parse
$(B)/fuzz/fuzz_parse: tests/fuzz/fuzz_parse.c $(FUZZ_LIB) $(LIB_HDR) $(BPF_HDR) cli/rulewords.h \
		$(B)/sockredir.skel.h $(B)/flows.skel.h
	@mkdir -p $(@D)
	$(CLANG) -g -O1 -D_GNU_SOURCE -fno-strict-aliasing \
		-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
		-Iinclude -Icommon -I$(B) -Ilib -Ibpf -Icli -o $@ $< $(FUZZ_LIB) $(LDLIBS)
