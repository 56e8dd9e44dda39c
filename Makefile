# sockredir build.  `sudo make demo` and `sudo make check` are the two entry
# points; both install missing Debian packages first (scripts/deps.sh).

CC       ?= gcc
CLANG    ?= clang
BPFTOOL  ?= bpftool
PREFIX   ?= /usr/local
B        := build

CFLAGS   ?= -O2 -g
CFLAGS   += -Wall -Wextra -Wno-unused-parameter -std=gnu11 -D_GNU_SOURCE \
	    -Iinclude -Ilib -I$(B) -fPIC -fno-strict-aliasing
LDLIBS   := -lbpf -lelf -lz

BPF_SRC  := $(wildcard bpf/*.bpf.c)
BPF_HDR  := $(wildcard bpf/*.h)
LIB_SRC  := $(wildcard lib/*.c)
LIB_HDR  := $(wildcard lib/*.h) $(wildcard include/*.h) $(wildcard include/sockredir/*.h)
LIB_OBJ  := $(patsubst lib/%.c,$(B)/lib/%.o,$(LIB_SRC))
CLI_SRC  := $(wildcard cli/*.c)
RELAY_SRC:= $(wildcard relay/*.c)
UNIT_SRC := $(wildcard tests/unit/test_*.c)
UNIT_BIN := $(patsubst tests/unit/%.c,$(B)/tests/%,$(UNIT_SRC))
HELPER_SRC := $(wildcard tests/helpers/*.c)
HELPER_BIN := $(patsubst tests/helpers/%.c,$(B)/tests/%,$(HELPER_SRC))

PROGS := $(B)/sockredir
ifneq ($(RELAY_SRC),)
PROGS += $(B)/sockredir-relay
endif

.PHONY: all deps demo check test unit install clean bench bench-smoke compat
all: $(PROGS) $(B)/libsockredir.so $(B)/libsockredir.a $(B)/sockredir.pc \
	$(UNIT_BIN) $(HELPER_BIN)

deps:
	@sh scripts/deps.sh

# The skeleton embeds the BPF object, so binaries need no .o at run time.
$(B)/sockredir.bpf.o: $(BPF_SRC) $(BPF_HDR) include/sockredir.h | $(B)
	$(CLANG) -g -O2 -fno-strict-aliasing -target bpf -D__TARGET_ARCH_x86 -Iinclude -Ibpf \
		-I/usr/include/x86_64-linux-gnu -c bpf/sockredir.bpf.c -o $@
$(B)/sockredir.skel.h: $(B)/sockredir.bpf.o
	$(BPFTOOL) gen skeleton $< name sockredir_bpf > $@

$(B)/lib/%.o: lib/%.c $(LIB_HDR) $(BPF_HDR) $(B)/sockredir.skel.h | $(B)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -fvisibility=hidden -Ibpf -c $< -o $@

$(B)/libsockredir.a: $(LIB_OBJ)
	rm -f $@; ar rcs $@ $^
$(B)/libsockredir.so: $(LIB_OBJ) lib/libsockredir.map
	$(CC) -shared -Wl,--version-script=lib/libsockredir.map \
		-Wl,-soname,libsockredir.so.1 -o $@ $(LIB_OBJ) $(LDLIBS)
$(B)/sockredir.pc: lib/sockredir.pc.in | $(B)
	sed 's|@PREFIX@|$(PREFIX)|' $< > $@

$(B)/sockredir: $(CLI_SRC) $(wildcard cli/*.h) $(B)/libsockredir.a
	$(CC) $(CFLAGS) -Icli -o $@ $(CLI_SRC) $(B)/libsockredir.a $(LDLIBS)
$(B)/sockredir-relay: $(RELAY_SRC) $(wildcard relay/*.h) $(B)/libsockredir.a
	$(CC) $(CFLAGS) -Irelay -o $@ $(RELAY_SRC) $(B)/libsockredir.a $(LDLIBS)

$(B)/tests/%: tests/unit/%.c tests/tap.h $(B)/libsockredir.a
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -Itests -Ibpf -Irelay -o $@ $< $(B)/libsockredir.a $(LDLIBS)
$(B)/tests/%: tests/helpers/%.c $(B)/libsockredir.a
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -Itests -o $@ $< $(B)/libsockredir.a $(LDLIBS)

$(B):
	@mkdir -p $(B)

unit: all
	@sh tests/run.sh unit

check: deps
	$(MAKE) all
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

install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib \
		$(DESTDIR)$(PREFIX)/include/sockredir $(DESTDIR)$(PREFIX)/lib/pkgconfig
	install -m 755 $(PROGS) $(DESTDIR)$(PREFIX)/bin/
	install -m 644 $(B)/libsockredir.a $(DESTDIR)$(PREFIX)/lib/
	install -m 755 $(B)/libsockredir.so $(DESTDIR)$(PREFIX)/lib/libsockredir.so.1
	ln -sf libsockredir.so.1 $(DESTDIR)$(PREFIX)/lib/libsockredir.so
	install -m 644 include/sockredir.h $(DESTDIR)$(PREFIX)/include/
	[ -z "$(wildcard include/sockredir/*.h)" ] || install -m 644 include/sockredir/*.h $(DESTDIR)$(PREFIX)/include/sockredir/
	sed 's|@PREFIX@|$(PREFIX)|' lib/sockredir.pc.in > $(DESTDIR)$(PREFIX)/lib/pkgconfig/sockredir.pc

clean:
	rm -rf $(B)

# ---- fuzz (relay) ----------------------------------------------------------
# libFuzzer targets for the relay's parsers; not part of `all`.
#   make fuzz && build/fuzz/fuzz_sniff -max_total_time=60
.PHONY: fuzz
fuzz: $(B)/fuzz/fuzz_sniff
$(B)/fuzz/fuzz_sniff: tests/fuzz/fuzz_sniff.c relay/sniff.c relay/sniff.h
	@mkdir -p $(@D)
	$(CLANG) -g -O1 -D_GNU_SOURCE -fsanitize=fuzzer,address,undefined \
		-fno-sanitize-recover=undefined -Irelay -o $@ $<

# ---- fuzz (libsockredir) ---------------------------------------------------
#   make fuzz && build/fuzz/fuzz_parse -max_total_time=60
FUZZ_LIB := lib/sockopt.c lib/rule.c lib/ruleindex.c lib/maps.c
fuzz: $(B)/fuzz/fuzz_parse
$(B)/fuzz/fuzz_parse: tests/fuzz/fuzz_parse.c $(FUZZ_LIB) $(LIB_HDR) $(BPF_HDR)
	@mkdir -p $(@D)
	$(CLANG) -g -O1 -D_GNU_SOURCE -fno-strict-aliasing \
		-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
		-Iinclude -Ilib -Ibpf -o $@ $< $(FUZZ_LIB) $(LDLIBS)
