#!/bin/bash
# mistakes.sh - what an operator can get wrong, and an application as
# nobody trying to profit from it (issue 10: items 6, 8 and 12).
#
#   app (nobody) --connect--> 127.0.0.40:8007, ::ffff:127.0.0.40:8007
#   rules written with IPv4-mapped prefixes must hold for both.
#
# Each bad command exits 2 and changes nothing.
. "$(dirname "$0")/lib.sh"
setup
NOBODY=65534
ATTACK=$top/tests/helpers/attack.py
mkdir -p "$CG/app" "$CG/p-W"
bg srv python3 -c 'import socket
s = socket.socket(socket.AF_INET6); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("::", 8007)); s.listen(64)
while True: s.accept()[0].close()'
wait_port 8007
as() { as_nobody app /usr/bin/python3 "$ATTACK" "$@"; }	# one of attack.py's moves
st2() { "$@" >/dev/null 2>&1; test $? -eq 2; }
state() { "$SR" -j service list; "$SR" -j rule list; }

# --- 8. owners that would make everyone a proxy ------------------------------
before=$(state)
check "service add --owner-cgroup <the attached cgroup>: exit 2" -- \
	st2 "$SR" service add W --listen 127.0.0.1:7301 --owner-cgroup "$CG"
msg=$("$SR" service add W --listen 127.0.0.1:7301 --owner-cgroup "$CG" 2>&1)
check "... and says why ($msg)" -- eval 'echo "$msg" | grep -q "must be below"'
check "service add --owner-cgroup <an ancestor of it>: exit 2" -- \
	st2 "$SR" service add W --listen 127.0.0.1:7301 --owner-cgroup "$CG2"
check "service add --owner-uid 0: exit 2" -- \
	st2 "$SR" service add W --listen 127.0.0.1:7301 --owner-uid 0
msg=$("$SR" service add W --listen 127.0.0.1:7301 --owner-uid 0 2>&1)
check "... and says what it would do ($msg)" -- eval 'echo "$msg" | grep -q "every process running as root"'
check "--trust-every-root-process without --owner-uid 0: exit 2" -- \
	st2 "$SR" service add W --listen 127.0.0.1:7301 --trust-every-root-process
check "nothing changed by the refused adds" -- test "$(state)" = "$before"
check "--owner-uid 0 --trust-every-root-process: added" -- \
	"$SR" service add R --listen 127.0.0.1:7302 --owner-uid 0 --trust-every-root-process
check "show | apply --check - keeps it (the flag is shown)" -- \
	sh -c "'$SR' show | grep -q trust-every-root-process && '$SR' show | '$SR' apply --check - >/dev/null"
"$SR" service del R >/dev/null
check "an owner cgroup below the attached one: added" -- \
	"$SR" service add W --listen 127.0.0.1:7301 --owner-cgroup "$CG/p-W"

# --- 6. IPv4-mapped prefixes are IPv4 rules ---------------------------------
check "rule add --block --dst ::ffff:127.0.0.40/128" -- \
	"$SR" rule add --block --dst ::ffff:127.0.0.40/128 --dport 8007
check "it is listed as 127.0.0.40/32" -- \
	sh -c "'$SR' rule list | grep -q '127.0.0.40/32'"
check "nobody's connect to 127.0.0.40 is blocked" -- \
	test "$(as connect 127.0.0.40 8007)" = EPERM
check "nobody's connect to ::ffff:127.0.0.40 is blocked" -- \
	test "$(as connect ::ffff:127.0.0.40 8007)" = EPERM
check "127.0.0.41 is not" -- test "$(as connect 127.0.0.41 8007)" = OK
check "rule add --block --dst ::ffff:0:0/96 is 0.0.0.0/0" -- sh -c \
	"'$SR' rule add --block --dst ::ffff:0:0/96 --dport 8007 --name allv4 >/dev/null &&
	 '$SR' rule list | grep allv4 | grep -q '0.0.0.0/0'"
check "... and blocks 127.0.0.41 too" -- test "$(as connect 127.0.0.41 8007)" = EPERM
check "... but not ::1" -- test "$(as connect ::1 8007)" = OK
"$SR" rule del allv4 >/dev/null

# --- 12. words that are not quite numbers or names --------------------------
before=$(state)
check "rule del +1: exit 2" -- st2 "$SR" rule del +1
check "rule del ' 1': exit 2" -- st2 "$SR" rule del ' 1'
check "rule del 1x: exit 2" -- st2 "$SR" rule del 1x
check "service add 9x (names start with a letter): exit 2" -- \
	st2 "$SR" service add 9x --listen 127.0.0.1:7303 --owner-cgroup "$CG/p-W"
printf -- '--permit\0--uid 1000\n' > "$TMPD/nul.rules"
check "rule load of a line with a NUL byte: exit 2" -- st2 "$SR" rule load "$TMPD/nul.rules"
check "nothing changed by any of them" -- test "$(state)" = "$before"
check "the block rule still holds" -- test "$(as connect 127.0.0.40 8007)" = EPERM

done_testing
