#!/bin/bash
# Installing it as a system service: the man pages have no warnings (man,
# groff), make install puts everything in place and the units pass
# systemd-analyze verify, a program built against the library installed
# under /usr/local runs without LD_LIBRARY_PATH, and make deb builds a
# package that apt-get installs, that runs the demo from /usr/bin, and that
# apt-get removes without a trace.
#
# Only the demo touches the redirect layer, and it takes the test lock
# itself; the rest changes files, which this script removes again.
. "$(dirname "$0")/lib.sh"
[ "$(id -u)" = 0 ] || { echo "1..0 # SKIP needs root"; exit 0; }
TMPD=$(mktemp -d)
installed_deb=0
cleanup_package() {
	[ $installed_deb = 1 ] && apt-get purge -y -qq sockredir-dev sockredir >/dev/null 2>&1
	make -s -C "$top" uninstall PREFIX=/usr/local >/dev/null 2>&1
	rm -rf "$TMPD" /tmp/sr-check-$$
}
trap cleanup_package EXIT
cd "$top" || exit 1
PAGES="man/sockredir.8 man/sockredir-relay.8 man/sockredir.conf.5 man/sockredir.7"

# --- man pages -----------------------------------------------------------
for m in $PAGES; do
	check "man --warnings -l $m: no warnings" -- \
		sh -c "out=\$(man --warnings -l '$m' 2>&1 >/dev/null) && test -z \"\$out\""
	check "groff -ww -man $m: no warnings" -- \
		sh -c "out=\$(groff -ww -man -Tutf8 -z '$m' 2>&1) && test -z \"\$out\""
done

# --- make install into a prefix ---------------------------------------------
P=$TMPD/p
check "make install PREFIX=..." -- make -s install PREFIX="$P"
check "it installed binaries, libraries, headers, pkg-config, man pages, units, configuration" -- \
	sh -c "cd '$P' && ls bin/sockredir bin/sockredir-relay lib/libsockredir.so.1 \
	lib/libsockredir.so lib/libsockredir.a lib/libsockredir-winsock.so.1 \
	include/sockredir.h include/sockredir/winsock.h lib/pkgconfig/sockredir.pc \
	lib/pkgconfig/sockredir-winsock.pc share/man/man8/sockredir.8 \
	share/man/man8/sockredir-relay.8 share/man/man5/sockredir.conf.5 \
	share/man/man7/sockredir.7 lib/systemd/system/sockredir.service \
	lib/systemd/system/sockredir-relay@.service lib/systemd/system/sockredir.slice \
	etc/sockredir/sockredir.conf >/dev/null"
U=$P/lib/systemd/system
check "systemd-analyze verify: sockredir.service, sockredir.slice, sockredir-relay@shield.service" -- \
	sh -c "out=\$(cd '$TMPD' && MANPATH='$P/share/man' systemd-analyze verify '$U/sockredir.service' \
		'$U/sockredir.slice' '$U/sockredir-relay@shield.service' 2>&1) && test -z \"\$out\""
check "the units run the installed binaries" -- \
	grep -q "ExecStart=$P/bin/sockredir apply $P/etc/sockredir/sockredir.conf" "$U/sockredir.service"
# (Under the test lock: --check compares with a running layer, if any.)
check "the shipped configuration passes apply --check" -- \
	flock /run/sockredir/test.lock sh -c "made=0; [ -d '$CG2/sockredir.slice' ] || \
		{ mkdir '$CG2/sockredir.slice' && made=1; }
		'$P/bin/sockredir' apply --check '$P/etc/sockredir/sockredir.conf' >/dev/null; st=\$?
		[ \$made = 0 ] || rmdir '$CG2/sockredir.slice'; exit \$st"
check "make install keeps an edited configuration" -- sh -c "echo '# mine' >> '$P/etc/sockredir/sockredir.conf' && \
	make -s install PREFIX='$P' && grep -q '^# mine' '$P/etc/sockredir/sockredir.conf'"

# --- make install under /usr/local: ldconfig, no LD_LIBRARY_PATH --------------
check "make install PREFIX=/usr/local" -- make -s install PREFIX=/usr/local \
	SYSCONFDIR="$TMPD/etc" UNITDIR="$TMPD/units"
check "ldconfig ran: the cache has /usr/local/lib/libsockredir.so.1" -- \
	sh -c "ldconfig -p | grep -q 'libsockredir.so.1 .*/usr/local/lib/libsockredir.so.1'"
check "examples/proxy.c builds with pkg-config against /usr/local" -- \
	sh -c "cc examples/proxy.c \$(PKG_CONFIG_PATH=/usr/local/lib/pkgconfig pkg-config --cflags --libs sockredir) \
		-lpthread -o '$TMPD/proxy-local'"
check "it loads /usr/local/lib/libsockredir.so.1 without LD_LIBRARY_PATH" -- \
	sh -c "env -u LD_LIBRARY_PATH ldd '$TMPD/proxy-local' | grep -q '=> /usr/local/lib/libsockredir.so.1' && \
		env -u LD_LIBRARY_PATH '$TMPD/proxy-local' 2>&1 | grep -qi usage"
check "make uninstall removes it" -- sh -c "make -s uninstall PREFIX=/usr/local && \
	! ls /usr/local/bin/sockredir /usr/local/lib/libsockredir.so.1 /usr/local/include/sockredir.h 2>/dev/null"

# --- the Debian package ------------------------------------------------------------
check "make deb builds sockredir_0.1.0-1_amd64.deb and sockredir-dev" -- \
	sh -c "make -s deb >/dev/null && ls build/deb/sockredir_0.1.0-1_amd64.deb build/deb/sockredir-dev_0.1.0-1_amd64.deb"
export DEBIAN_FRONTEND=noninteractive
installed_deb=1
check "apt-get install ./sockredir*.deb" -- apt-get install -y -qq \
	./build/deb/sockredir_0.1.0-1_amd64.deb ./build/deb/sockredir-dev_0.1.0-1_amd64.deb
check "installed: /usr/bin/sockredir, the relay, the units, the configuration" -- \
	sh -c "/usr/bin/sockredir --help | grep -q apply && /usr/bin/sockredir-relay --help >/dev/null && \
	ls /lib/systemd/system/sockredir.service /lib/systemd/system/sockredir-relay@.service \
	/etc/sockredir/sockredir.conf >/dev/null"
check "man finds sockredir(8), sockredir-relay(8), sockredir.conf(5), sockredir(7)" -- \
	sh -c "man -w 8 sockredir && man -w sockredir-relay && man -w 5 sockredir.conf && man -w 7 sockredir" 
check "the installed units pass systemd-analyze verify" -- \
	sh -c "out=\$(cd '$TMPD' && systemd-analyze verify /lib/systemd/system/sockredir.service \
		/lib/systemd/system/sockredir.slice /lib/systemd/system/sockredir-relay@shield.service 2>&1) && test -z \"\$out\""
check "installing enabled nothing" -- \
	sh -c "! ls /etc/systemd/system/*.wants/sockredir*.service 2>/dev/null | grep -q ."
check "examples/proxy.c builds with the -dev package and loads the packaged libsockredir.so.1" -- \
	sh -c "cc examples/proxy.c \$(pkg-config --cflags --libs sockredir) -lpthread -o '$TMPD/proxy-deb' && \
		env -u LD_LIBRARY_PATH ldd '$TMPD/proxy-deb' | grep -Eq '=> (/usr)?/lib/libsockredir.so.1'"
SR=/usr/bin/sockredir RELAY=/usr/bin/sockredir-relay bash scripts/demo.sh > "$TMPD/demo.out" 2>&1; st=$?
sed 's/^/# /' "$TMPD/demo.out"
check "the demo runs against /usr/bin/sockredir and /usr/bin/sockredir-relay" -- \
	sh -c "test $st -eq 0 && grep -q 'loops: none' '$TMPD/demo.out'"
check "apt-get purge removes it cleanly" -- sh -c "apt-get purge -y -qq sockredir-dev sockredir >/dev/null && \
	! dpkg -s sockredir >/dev/null 2>&1 && \
	! ls /usr/bin/sockredir /usr/bin/sockredir-relay /usr/lib/libsockredir.so.1 /etc/sockredir \
	/lib/systemd/system/sockredir.service /usr/share/man/man8/sockredir.8.gz 2>/dev/null"
installed_deb=0
done_testing
