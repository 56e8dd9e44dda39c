#!/bin/bash
# The sockredir command: bad input changes nothing; up/down leave no trace.
. "$(dirname "$0")/lib.sh"
setup
mkdir -p "$CG/p-A"
"$SR" service add A --listen 127.0.0.1:7001 --owner-cgroup "$CG/p-A" >/dev/null
"$SR" rule add --service A --dst 10.9.0.0/16 --dport 80 >/dev/null

state() { "$SR" -j service list; "$SR" -j rule list; }
before=$(state)

usage() {	# usage NAME -- ARGS...: exit status 2, a message, nothing changed
	local name=$1; shift 2
	local err
	err=$("$SR" "$@" 2>&1 >/dev/null); local st=$?
	[ $st -eq 2 ] && [ -n "$err" ] && [ "$(state)" = "$before" ]
	ok $? "bad input: $name (exit $st: ${err%%$'\n'*})"
}
usage "unknown object" -- frobnicate
usage "unknown command" -- rule frob
usage "unknown option" -- rule add --service A --colour red
usage "unknown service" -- rule add --service nope --dport 80
usage "two actions" -- rule add --service A --permit
usage "no action" -- rule add --dport 80
usage "prefix length 33" -- rule add --service A --dst 10.0.0.0/33
usage "prefix length 129" -- rule add --service A --dst ::/129
usage "not an address" -- rule add --service A --dst 10.0.0.300
usage "prefix with junk" -- rule add --service A --dst 10.0.0.0/8x
usage "host bits in an IPv4 prefix" -- rule add --service A --dst 127.0.0.33/31
usage "host bits in an IPv6 prefix" -- rule add --service A --dst fd00::1/64
usage "host bits in a mapped IPv4 prefix" -- rule add --service A --dst ::ffff:127.0.0.33/127
says() {	# says TEXT -- ARGS...: sockredir ARGS prints TEXT on stderr
	local text=$1; shift 2
	"$SR" "$@" 2>&1 >/dev/null | grep -qF -- "$text"
}
check "... the message names the network: 127.0.0.32/31" -- \
	says "127.0.0.33/31 has host bits set; did you mean 127.0.0.32/31?" -- \
	rule add --service A --dst 127.0.0.33/31
check "... and fd00::/64" -- says "fd00::1/64 has host bits set; did you mean fd00::/64?" -- \
	rule add --service A --dst fd00::1/64
usage "port 0" -- rule add --service A --dport 0
usage "port 70000" -- rule add --service A --dport 70000
usage "reversed range" -- rule add --service A --dport 90-80
usage "port word" -- rule add --service A --dport http
usage "negative uid" -- rule add --service A --uid -5
usage "missing value" -- rule add --service A --dst
usage "unknown proto" -- rule add --service A --proto sctp
usage "no such cgroup" -- rule add --service A --cgroup /no/such/cgroup
usage "rule del word" -- rule del abc
usage "rule del unknown id" -- rule del 999
usage "service without listen" -- service add X
usage "listen without port" -- service add X --listen 127.0.0.1
usage "listen bad address" -- service add X --listen 300.0.0.1:80
usage "listen port 0" -- service add X --listen 127.0.0.1:0
usage "two IPv4 listens" -- service add X --listen 127.0.0.1:1 --listen 127.0.0.1:2
usage "bad service name" -- service add 'a b' --listen 127.0.0.1:1
usage "duplicate service" -- service add A --listen 127.0.0.1:9
usage "service del unknown" -- service del nope
usage "max-hops 0" -- up --cgroup "$CG" --max-hops 0
usage "max-hops 17" -- up --cgroup "$CG" --max-hops 17
usage "status with words" -- status now

printf '%s\n' "--service A --dport 81" "# fine so far" "--service A --dport 8x" > "$TMPD/rules"
usage "rule file with a bad line 3" -- rule load "$TMPD/rules"
printf '%s\n' "--service A --dport 81" "--service nope --dport 82" > "$TMPD/rules"
usage "rule file naming an unknown service" -- rule load "$TMPD/rules"
printf '%s\n' "--service A --dport 81" "--service A --dst 10.9.1.1/24" > "$TMPD/rules"
usage "rule file with host bits in a prefix on line 2" -- rule load "$TMPD/rules"
check "... the message names the line and the network" -- \
	says ":2: 10.9.1.1/24 has host bits set; did you mean 10.9.1.0/24?" -- rule load "$TMPD/rules"
for i in $(seq 40); do echo "--service A --dst 10.9.1.1 --dport $i"; done > "$TMPD/rules"
usage "rule file: more than 32 rules on one address" -- rule load "$TMPD/rules"

printf -- '--service A --dport 81\n--service A --dport 82\0 --bogus\n' > "$TMPD/rules"
usage "rule file with a NUL byte" -- rule load "$TMPD/rules"
printf '%s\n' "rule add --service A --dport 81" > "$TMPD/rules"
usage "rule file whose lines start with 'rule add'" -- rule load "$TMPD/rules"
check "... and the message says to write only the options" -- \
	sh -c "'$SR' rule load '$TMPD/rules' 2>&1 | grep -q 'only the options'"
check "status as nobody: exit 1, says it needs root" -- sh -c "out=\$(setpriv --reuid=65534 --regid=65534 \
	--clear-groups '$SR' status 2>&1); test \$? -eq 1 && echo \"\$out\" | grep -q 'needs root'"
check "rule list: a rule for any cgroup says any, as UID does" -- \
	test "$("$SR" rule list | awk 'NR == 2 { print $(NF - 1), $NF }')" = "any any"

seq 1 2000 | awk '{printf "--service A --dst 10.%d.%d.0/24 --weight %d\n", int($1/250), $1%250, $1}' > "$TMPD/rules"
check "rule load: 2000 rules at once" -- "$SR" rule load "$TMPD/rules"
check "rule list shows 2001 rules" -- test "$("$SR" -j rule list | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')" -eq 2001
check "rule list is in weight order" -- sh -c "'$SR' rule list | sed -n 2p | grep -q ' 2000 '"
last=$("$SR" rule add --service A --dport 99 | awk '{print $2}')
"$SR" rule del "$last" >/dev/null
check "rule ids are not reused after deleting the newest" -- \
	test "$("$SR" rule add --service A --dport 99 | awk '{print $2}')" -gt "$last"
check "help goes to stdout, exit 0" -- sh -c "'$SR' --help | grep -q 'usage: sockredir'"
check "status -j is JSON" -- sh -c "'$SR' -j status | python3 -m json.tool >/dev/null"

# --- lifecycle --------------------------------------------------------------
pins() { ls /sys/fs/bpf/sockredir 2>/dev/null | wc -l; }
attached() { bpftool cgroup show "$CG" 2>/dev/null | grep -c ' sr_'; }
# Entry points attached to the cgroup itself: all but the option hooks and
# the proxies' sockops program, which go to owner cgroups (A's here;
# sockopt_scope.sh), and sr_sock_release, there only while a rule can make
# UDP flows (release.sh): A's rule, of any protocol, can.
NPROGS=$(cat "$top"/bpf/*.bpf.c | grep '^SEC("cgroup' | grep -v 'sock_release"' |
	grep -vc 'sockopt"')
check "up twice: harmless, says already up" -- sh -c "'$SR' up --cgroup '$CG' | grep -q 'already up'"
check "up twice: still $((NPROGS + 1)) programs attached, not $((2 * NPROGS + 2))" -- \
	test "$(attached)" -eq $((NPROGS + 1))
mkdir -p "$CG/other"
check "up on another cgroup while up: refused" -- sh -c "! '$SR' up --cgroup '$CG/other' 2>/dev/null"
check "down: detaches everything" -- "$SR" down
check "down: no pins, no programs left" -- test "$(pins)$(attached)" = 00
check "down with nothing up: exit 0" -- sh -c "'$SR' down | grep -q 'was not up'"
check "status when down says down" -- sh -c "'$SR' status | grep -q '^down'"
check "service list when down: exit 1" -- sh -c "'$SR' service list 2>/dev/null; test \$? -eq 1"
# A run that died half way: pins left, no config map.
"$SR" up --cgroup "$CG" >/dev/null
rm -f /sys/fs/bpf/sockredir/sr_config
check "up over a broken layer: refused, nothing touched" -- \
	sh -c "! '$SR' up --cgroup '$CG' 2>/dev/null && test \$(ls /sys/fs/bpf/sockredir | wc -l) -ge $NPROGS"
check "down, then up: starts clean, and says where programs must run" -- \
	sh -c "'$SR' down >/dev/null && '$SR' up --cgroup '$CG' | grep -q '$CG/app/cgroup.procs'"
check "up after a failed run: $NPROGS programs" -- test "$(attached)" -eq $NPROGS
# A deleted and re-added service gets a new id: old records and claims
# cannot stand for it.
"$SR" service add R1 --listen 127.0.0.1:7501 >/dev/null
r1=$(sid R1)
"$SR" service del R1 >/dev/null
"$SR" service add R1 --listen 127.0.0.1:7501 >/dev/null
check "re-added service gets a fresh id" -- test "$(sid R1)" != "$r1"
mkdir -p "$CG/elsewhere"
check "owner cgroup outside the attached cgroup: refused" -- \
	sh -c "'$SR' service add R2 --listen 127.0.0.1:7502 --owner-cgroup / 2>/dev/null; test \$? -eq 2"
rm -f /sys/fs/bpf/sockredir/link_sr_connect4
check "down after a failed run: clean" -- "$SR" down
check "down after a failed run: no pins, no programs" -- test "$(pins)$(attached)" = 00
"$SR" up --cgroup "$CG" >/dev/null
done_testing
