#!/bin/bash
# The configuration file: sockredir apply [--check] FILE|-, sockredir show,
# rule names.  All or nothing, only the difference changes, live flows and
# claims untouched, no connect ever sees a rule gone before its replacement,
# bad files refused with their line and nothing changed.
#
#   app ─▶ A 127.0.0.1:7001 (sockredir-relay, claims) ─▶ server :8080
#   app ─▶ 127.0.0.2:8081 (nobody listens) ─ rule 'swap' ─▶ A
. "$(dirname "$0")/lib.sh"
setup
mkdir -p "$TMPD/www" "$CG/app" "$CG/p-A" "$CG/p-B" "$CG/p-C"
echo hello > "$TMPD/www/hello.txt"
bg srv sh -c "exec python3 -m http.server 8080 --bind :: --directory '$TMPD/www' 2>/dev/null"
wait_port 8080
get() { in_cg app curl -s -m 5 "http://$1:8080/hello.txt"; }
state() { "$SR" -j service list; "$SR" -j rule list; "$SR" -j status | sed 's/"counters".*//'; }
C=$TMPD/sockredir.conf

base() {	# base [EXTRA-RULE-LINES]: the file the tests start from
	cat <<EOF
# sockredir.conf for the test
layer {
	cgroup $CG
	max-hops 8
}

service A {			# the inspecting relay
	listen 127.0.0.1:7001
	listen [::1]:7001
	owner-cgroup $CG/p-A
}
service B {
	listen 127.0.0.1:7002
	owner-cgroup "$CG/p-B"
	fail closed
}

rule web {
	service A
	proto tcp
	dst 127.0.0.2/32
	dport 8080
	weight 100
}
rule {
	block
	dst 127.0.0.9
	cgroup $CG/app
}
rule swap {
	service A
	dst 127.0.0.2
	dport 8081
	weight ${SWAP_WEIGHT:-10}
}
EOF
}
base > "$C"

# --- check, apply, show ---------------------------------------------------
before=$(state)
out=$("$SR" apply --check "$C"); st=$?
check "apply --check on a good file: exit 0, says what it would do ($out)" -- \
	eval '[ $st -eq 0 ] && echo "$out" | grep -q "services 2 added.*rules 3 added"'
check "apply --check changed nothing" -- test "$(state)" = "$before"
check "apply: exit 0" -- "$SR" apply "$C"
check "apply: two services, three rules" -- test "$("$SR" -j service list | python3 -c \
	'import json,sys; print(len(json.load(sys.stdin)))') $("$SR" -j rule list | python3 -c \
	'import json,sys; print(len(json.load(sys.stdin)))')" = "2 3"
check "rule list shows the names, and null for none" -- test "$("$SR" -j rule list | python3 -c \
	'import json,sys; print(sorted(str(r["name"]) for r in json.load(sys.stdin)))')" = "['None', 'swap', 'web']"
check "rule list shows a rule's cgroup as its path" -- sh -c "'$SR' rule list | grep -q ' $CG/app\$'"
check "service list shows the owner cgroup as its path" -- sh -c "'$SR' service list | grep -q '$CG/p-A'"
ids=$("$SR" -j rule list)
out=$("$SR" show | "$SR" apply -)
check "show | apply -: nothing changes ($out)" -- \
	eval 'echo "$out" | grep -q "services 0 added, 0 changed, 0 removed, 2 kept; rules 0 added, 0 removed, 3 kept"'
check "show | apply -: rule ids unchanged" -- test "$("$SR" -j rule list)" = "$ids"
"$SR" show > "$TMPD/show1"
"$SR" apply "$TMPD/show1" >/dev/null
check "show, apply, show: the same text" -- sh -c "'$SR' show | cmp -s - '$TMPD/show1'"
out=$("$SR" apply "$C")
check "apply the same file again: nothing changes" -- \
	eval 'echo "$out" | grep -q "0 added, 0 changed, 0 removed, 2 kept; rules 0 added, 0 removed, 3 kept"'

# --- live flows and claims are untouched -------------------------------------
bg p-A "$RELAY" -q --service A --listen 127.0.0.1:7001 --log "$TMPD/A.log"
wait_port 7001
check "through A before any change" -- eval 'test "$(get 127.0.0.2)" = hello && wait_lines "$TMPD/A.log" 1'
# A long-lived flow through A: a line echoed now, and again after the apply.
bg echo python3 -c 'import socket
s = socket.socket(socket.AF_INET6); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("::", 9000)); s.listen(4)
c = s.accept()[0]
while True:
    d = c.recv(100)
    if not d: break
    c.sendall(d)'
wait_port 9000
mkfifo "$TMPD/to"
"$SR" rule add --service A --dst 127.0.0.2 --dport 9000 --name echo >/dev/null
bg app python3 -u -c 'import socket, sys
c = socket.create_connection(("127.0.0.2", 9000))
for line in open(sys.argv[1]):
    c.sendall(line.encode()); print(c.recv(100).decode(), end="")' "$TMPD/to" > "$TMPD/from.txt"
exec 7>"$TMPD/to"
echo one >&7
check "a long-lived flow through A is up" -- eval 'for i in $(seq 100); do grep -q one "$TMPD/from.txt" && break; sleep 0.05; done; grep -q one "$TMPD/from.txt"'
sidA=$(sid A)
more() { base; cat <<EOF
rule echo {
	service A
	dst 127.0.0.2/32
	dport 9000
}
service C {
	listen 127.0.0.1:7003
	owner-cgroup $CG/p-C
}
rule toC {
	service C
	dst 127.0.0.7
}
EOF
}
more > "$TMPD/more.conf"
out=$("$SR" apply "$TMPD/more.conf")
check "apply a file with one more service and rule: only those added ($out)" -- \
	eval 'echo "$out" | grep -q "services 1 added, 0 changed, 0 removed, 2 kept; rules 1 added, 0 removed, 4 kept"'
echo two >&7
check "the long-lived flow still works after the apply" -- eval 'for i in $(seq 100); do grep -q two "$TMPD/from.txt" && break; sleep 0.05; done; grep -q two "$TMPD/from.txt"'
exec 7>&-
check "A kept its id" -- test "$(sid A)" = "$sidA"
: > "$TMPD/A.log"
check "A's claim still holds: new connects reach the same relay" -- \
	eval 'test "$(get 127.0.0.2)" = hello && wait_lines "$TMPD/A.log" 1'

# --- replacing a rule never leaves a gap ----------------------------------------
# Nothing listens on 127.0.0.2:8081: a connect that is not redirected to A
# is refused.  'swap' changes weight at every apply (a new rule, then the
# old one removed), while a client connects over and over.
SWAP_WEIGHT=20 more > "$TMPD/swap20.conf"; SWAP_WEIGHT=30 more > "$TMPD/swap30.conf"
swap_id=$("$SR" -j rule list | python3 -c 'import json,sys; print([r["id"] for r in json.load(sys.stdin) if r["name"] == "swap"][0])')
in_cg app python3 -c 'import errno, os, socket, sys
refused = ok = 0
while not os.path.exists(sys.argv[1]):
    try:
        socket.create_connection(("127.0.0.2", 8081), timeout=5).close(); ok += 1
    except OSError as e:
        refused += e.errno == errno.ECONNREFUSED
print(ok, refused)' "$TMPD/stop" > "$TMPD/swaps" &
client=$!
for i in $(seq 20); do
	"$SR" apply "$TMPD/swap20.conf" >/dev/null && "$SR" apply "$TMPD/swap30.conf" >/dev/null || break
done
touch "$TMPD/stop"; wait $client
read -r n_ok n_refused < "$TMPD/swaps"
check "40 rule replacements while connecting: $n_ok connects redirected, $n_refused refused" -- \
	test "$n_ok" -gt 0 -a "$n_refused" -eq 0
check "the replaced rule has a new id, the same name" -- test "$("$SR" -j rule list | python3 -c \
	'import json,sys; print([r["id"] for r in json.load(sys.stdin) if r["name"] == "swap"][0])')" -gt "$swap_id"

# --- changes in place, removals -------------------------------------------------
sidB=$(sid B)
base | sed 's/fail closed/fail open/' > "$TMPD/open.conf"
out=$("$SR" apply "$TMPD/open.conf")
check "B fail closed -> open: changed in place ($out)" -- \
	eval 'echo "$out" | grep -q "services 0 added, 1 changed, 1 removed, 1 kept"'
check "B kept its id, and fails open now" -- eval '[ "$(sid B)" = "$sidB" ] &&
	"$SR" -j service list | python3 -c "import json,sys; sys.exit(next(s for s in json.load(sys.stdin) if s[\"name\"] == \"B\")[\"fail\"] != \"open\")"'
check "C and its rule, not in the file, are gone" -- eval '! "$SR" -j service list | grep -q "\"C\"" &&
	! "$SR" -j rule list | grep -q toC'

# --- bad files: exit 2, a line number, nothing changed ------------------------------
before=$(state)
bad() {		# bad NAME LINE [--check]: $TMPD/bad.conf is refused at LINE
	local name=$1 line=$2 err st; shift 2
	err=$("$SR" apply "$@" "$TMPD/bad.conf" 2>&1 >/dev/null); st=$?
	[ $st -eq 2 ] && echo "$err" | grep -q "bad.conf:$line:" && [ "$(state)" = "$before" ]
	ok $? "bad file: $name (exit $st: ${err%%$'\n'*})"
}
base | sed 's/proto tcp/colour red/' > "$TMPD/bad.conf"; bad "unknown rule option" 20
base | sed 's/service A$/service nope/' > "$TMPD/bad.conf"; bad "a rule naming a service not in the file" 19
base | sed 's/service A$/service nope/' > "$TMPD/bad.conf"; bad "the same, with --check" 19 --check
base | sed 's|dst 127.0.0.2/32|dst 127.0.0.2/33|' > "$TMPD/bad.conf"; bad "prefix length 33" 21
base | sed 's|dst 127.0.0.2/32|dst 127.0.0.2/24|' > "$TMPD/bad.conf"; bad "host bits in a prefix" 21
check "... the message names the network" -- sh -c "'$SR' apply '$TMPD/bad.conf' 2>&1 |
	grep -qF 'bad.conf:21: 127.0.0.2/24 has host bits set; did you mean 127.0.0.0/24?'"
base | sed 's|dst 127.0.0.2/32|dst fd00::2/120|' > "$TMPD/bad.conf"; bad "host bits in an IPv6 prefix" 21
base | sed 's|dst 127.0.0.2/32|dst fd00::2/120|' > "$TMPD/bad.conf"; bad "the same, with --check" 21 --check
base | sed 's|127.0.0.1:7002|127.0.0.1:0|' > "$TMPD/bad.conf"; bad "listen port 0" 13
base | sed 's|dport 8080|dport 80 81|' > "$TMPD/bad.conf"; bad "two values for dport" 22
base | sed '35d' > "$TMPD/bad.conf"; bad "a rule block never closed" 30
base | sed '24d' > "$TMPD/bad.conf"; bad "a block opened inside another" 24
base | sed 's/^service B {/service A {/' > "$TMPD/bad.conf"; bad "a service defined twice" 12
base | sed 's/^rule swap {/rule web {/' > "$TMPD/bad.conf"; bad "a rule name used twice" 30
base | sed 's/max-hops 8/max-hops 17/' > "$TMPD/bad.conf"; bad "max-hops 17" 4
base | sed "s|cgroup $CG/app|cgroup $CG/no-such|" > "$TMPD/bad.conf"; bad "a rule's cgroup that does not exist" 28
base | sed 's/^layer {/layer/' > "$TMPD/bad.conf"; bad "a block without its brace" 2
{ base; printf 'rule x {\n\tblock\n\tdport 1\0\n}\n'; } > "$TMPD/bad.conf"; bad "a NUL byte" 38
{ base; echo 'rule t { permit }'; } > "$TMPD/bad.conf"; bad "a one-line block" 36
base | sed "s|owner-cgroup \"$CG/p-B\"|owner-cgroup /|" > "$TMPD/bad.conf"; bad "an owner cgroup outside the attached one" 12
{ base; for i in $(seq 33); do printf 'rule {\n\tpermit\n\tdst 10.1.1.1\n\tdport %d\n}\n' "$i"; done; } > "$TMPD/bad.conf"
bad "33 rules on one address" 36
head -c 3000 /dev/urandom > "$TMPD/bad.conf"
err=$("$SR" apply "$TMPD/bad.conf" 2>&1 >/dev/null); st=$?
check "random bytes: exit 2, nothing changed (${err%%$'\n'*})" -- eval '[ $st -eq 2 ] && [ "$(state)" = "$before" ]'
mkdir -p "$CG/other"
base | sed "s|cgroup $CG\$|cgroup $CG/other|" > "$TMPD/bad.conf"
err=$("$SR" apply "$TMPD/bad.conf" 2>&1 >/dev/null); st=$?
check "a file for another attach cgroup: exit 1, says where it is attached, nothing changed" -- \
	eval '[ $st -eq 1 ] && echo "$err" | grep -q "bad.conf:3:.*attached to" && [ "$(state)" = "$before" ]'
check "apply with no such file: exit 1" -- sh -c "'$SR' apply '$TMPD/none.conf' 2>/dev/null; test \$? -eq 1"
check "apply with two files: exit 2" -- sh -c "'$SR' apply '$C' '$C' 2>/dev/null; test \$? -eq 2"

# --- rule names on the command line ---------------------------------------------
check "rule add --name" -- sh -c "'$SR' rule add --permit --dst 127.0.0.44 --name named44 >/dev/null"
check "rule add with a name in use: exit 2" -- sh -c "'$SR' rule add --permit --name named44 2>/dev/null; test \$? -eq 2"
check "rule add with a bad name: exit 2" -- sh -c "'$SR' rule add --permit --name '9x' 2>/dev/null; test \$? -eq 2"
check "rule del NAME" -- sh -c "'$SR' rule del named44 >/dev/null && ! '$SR' rule list | grep -q named44"
check "rule del of an unknown name: exit 2" -- sh -c "'$SR' rule del nosuch 2>/dev/null; test \$? -eq 2"

# --- owners from systemd units: owner-unit, service own -------------------------
mkdir -p "$CG/relay@B.service"
base | sed "s|owner-cgroup \"$CG/p-B\"|owner-unit relay@B.service|" > "$TMPD/unit.conf"
owner_of_b() { "$SR" apply "$TMPD/unit.conf" >/dev/null && test "$(counter B owner_cgroup)" = "$CG/relay@B.service"; }
check "owner-unit: apply finds the unit's cgroup below the layer's" -- owner_of_b
out=$("$SR" apply "$TMPD/unit.conf")
check "owner-unit: applying again changes nothing ($out)" -- eval 'echo "$out" | grep -q "0 changed, 0 removed, 2 kept"'
rmdir "$CG/relay@B.service"
err=$("$SR" apply "$TMPD/unit.conf" 2>&1 >/dev/null); st=$?
check "owner-unit of a unit not running: applied, with a note (${err%%$'\n'*})" -- \
	eval '[ $st -eq 0 ] && echo "$err" | grep -q "service own B"'
own_b() {
	mkdir -p "$CG/own-B" &&
		sh -c 'echo $$ > "$1/cgroup.procs" && exec "$2" service own B' sh "$CG/own-B" "$SR" >/dev/null &&
		test "$(counter B owner_cgroup)" = "$CG/own-B"
}
check "service own B, run in cgroup own-B: B's owner is that cgroup" -- own_b
check "service own from outside the attached cgroup: exit 2" -- \
	sh -c "'$SR' service own B 2>/dev/null; test \$? -eq 2"
check "service own of an unknown service: exit 2" -- \
	sh -c "'$SR' service own nope 2>/dev/null; test \$? -eq 2"

# --- from down: apply brings the layer up, or leaves it down ----------------------
"$SR" down >/dev/null
base | sed 's/service A$/service nope/' > "$TMPD/bad.conf"
"$SR" apply "$TMPD/bad.conf" 2>/dev/null
check "down, a bad file: still down" -- sh -c "'$SR' status | grep -q '^down'"
check "down, --check on a good file: valid, still down" -- \
	sh -c "'$SR' apply --check '$C' | grep -q valid && '$SR' status | grep -q '^down'"
# Down, --check still checks owner placement against the file's cgroup.
base | sed "s|owner-cgroup \"$CG/p-B\"|owner-cgroup $CG|" > "$TMPD/owner.conf"
out=$("$SR" apply --check "$TMPD/owner.conf" 2>&1); st=$?
check "down, --check: an owner that is the attach cgroup itself: exit 2 (${out%%$'\n'*})" -- \
	sh -c "test $st -eq 2 && echo '$out' | grep -q 'owner.conf:12: service B: owner cgroup .* must be below'"
base | sed "s|owner-cgroup \"$CG/p-B\"|owner-cgroup $CG2|" > "$TMPD/owner.conf"
out=$("$SR" apply --check "$TMPD/owner.conf" 2>&1); st=$?
check "down, --check: an owner above the attach cgroup: exit 2 (${out%%$'\n'*})" -- \
	sh -c "test $st -eq 2 && echo '$out' | grep -q 'service B: owner cgroup .* must be below'"
base | sed '/^layer {/,/^}/d' > "$TMPD/nolayer.conf"
out=$("$SR" apply --check "$TMPD/nolayer.conf" 2>&1); st=$?
check "down, --check without a layer block: valid, says the owners were not checked (${out%%$'\n'*})" -- \
	sh -c "test $st -eq 0 && echo '$out' | grep -q 'owner cgroups not checked' && echo '$out' | grep -q valid"
check "down, --check: still down" -- sh -c "'$SR' status | grep -q '^down'"
check "down, apply: brings the layer up on the file's cgroup, with everything" -- \
	sh -c "'$SR' apply '$C' >/dev/null && '$SR' status | grep -q '^up on $CG ' && test \$('$SR' -j rule list | grep -o '\"id\"' | wc -l) -eq 3"
done_testing
