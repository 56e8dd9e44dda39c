#!/bin/bash
# sockredir upgrade: the attached programs are replaced in place while
# 1,000 flows stay open and new connects keep coming; nothing is dropped,
# nothing goes through uninspected, a fail-closed service never opens.
# A build whose maps differ is refused and changes nothing.
#
#   app ─▶ A 127.0.0.1:7041 (sockredir-relay, fail closed) ─▶ server :9000
#   app ─▶ C 127.0.0.1:7042 (fail closed, no listener): always refused
. "$(dirname "$0")/lib.sh"
setup
LOAD=$top/tests/helpers/upgrade_load.py
ALT=$HELPERS/sockredir-alt.bpf.o
N=1000
mkdir -p "$CG/app" "$CG/p-A"
bg srv python3 "$LOAD" server 9000
wait_port 9000
"$SR" service add A --listen 127.0.0.1:7041 --owner-cgroup "$CG/p-A" --fail closed >/dev/null
"$SR" service add C --listen 127.0.0.1:7042 --fail closed >/dev/null
"$SR" rule add --service A --dst 127.0.0.2 --dport 9000 >/dev/null
"$SR" rule add --service C --dst 127.0.0.3 --dport 9000 >/dev/null
bg p-A "$RELAY" -q --service A --listen 127.0.0.1:7041 --log "$TMPD/A.log"
PID_A=$LAST_PID
wait_port 7041

# progs: the program id behind every pinned link, one "link=prog" a line
# (not the congestion control's: its link holds a struct_ops map, swapped
# too, which the stream's connects being published shows).
progs() {
	local l
	for l in /sys/fs/bpf/sockredir/link_*; do
		[ "${l##*/}" = link_sr_cc ] && continue
		echo "${l##*/}=$(bpftool -j link show pinned "$l" |
			python3 -c 'import json,sys; print(json.load(sys.stdin)["prog_id"])')"
	done
}
# state: what must survive: services (claims, pids), rules, where attached.
state() {
	"$SR" -j service list | python3 -c 'import json,sys
for s in json.load(sys.stdin):
    for l in s["listeners"]: l.pop("seen_at_ns"); l.pop("state")
    for k in ("redirected", "listener_gone", "refused", "overloaded", "unrecorded_egress"): s.pop(k)
    print(json.dumps(s, sort_keys=True))'
	"$SR" -j rule list
	"$SR" -j status | python3 -c 'import json,sys; d = json.load(sys.stdin); print(d["cgroup"], d["services"], d["rules"])'
}

# --- the real case: the same map layout -------------------------------------
T0=$SECONDS
bg app python3 "$LOAD" live 127.0.0.2 9000 $N "$TMPD/ready" "$TMPD/go" > "$TMPD/live.json"
LIVE=$LAST_PID
for i in $(seq 600); do [ -e "$TMPD/ready" ] && break; sleep 0.05; done
check "$N flows open through A (in $((SECONDS - T0)) s)" -- test -e "$TMPD/ready"
state > "$TMPD/state.before"
progs > "$TMPD/progs.0"
bg app python3 "$LOAD" stream 127.0.0.2 9000 127.0.0.3 "$TMPD/stop" > "$TMPD/stream.json"
STREAM=$LAST_PID
# Wait until the stream is flowing (its connects show in A's counter).
for i in $(seq 200); do [ "$(counter A redirected)" -gt $((N + 20)) ] && break; sleep 0.05; done

t0=$(date +%s.%N)
ups=0 upfail=0
for round in $(seq 5); do
	"$SR" upgrade >/dev/null && ups=$((ups + 1)) || upfail=$((upfail + 1))
	"$SR" upgrade --object "$ALT" >/dev/null && ups=$((ups + 1)) || upfail=$((upfail + 1))
done
t1=$(date +%s.%N)
progs > "$TMPD/progs.1"
# Let the stream run on the last build for a moment (its own count says so).
c=$(counter A redirected)
for i in $(seq 200); do [ "$(counter A redirected)" -gt $((c + 20)) ] && break; sleep 0.05; done
touch "$TMPD/stop"
wait $STREAM
# The upgraded layer still knows each held flow (its per-socket state kept).
held=$("$SR" -j flow list | python3 -c 'import json,sys
print(sum(1 for f in json.load(sys.stdin) if f["service"] == "A"))')
check "flow list after the upgrades: the $N held flows, through A ($held)" -- test "$held" -ge $N
touch "$TMPD/go"
wait $LIVE
state > "$TMPD/state.after"
echo "# live and stream done after $((SECONDS - T0)) s"
echo "# 10 upgrades in $(awk "BEGIN { printf \"%.2f\", $t1 - $t0 }") s"
echo "# live: $(cat "$TMPD/live.json")"
echo "# stream: $(cat "$TMPD/stream.json")"
L() { python3 -c 'import json,sys; print(eval(sys.argv[2], {}, json.load(open(sys.argv[1]))))' "$TMPD/live.json" "$1"; }
S() { python3 -c 'import json,sys; print(eval(sys.argv[2], {}, json.load(open(sys.argv[1]))))' "$TMPD/stream.json" "$1"; }
check "10 upgrades, alternating two builds, all done ($ups ok, $upfail failed)" -- test $ups -eq 10
check "every link runs a new program after them" -- \
	sh -c "! grep -qxFf '$TMPD/progs.0' '$TMPD/progs.1' && test \$(wc -l < '$TMPD/progs.1') -eq \$(wc -l < '$TMPD/progs.0')"
check "live flows: $N opened, all through A" -- test "$(L '(opened, uninspected, before_ok)')" = "($N, 0, $N)"
check "live flows: 0 dropped across the upgrades ($(L dropped) dropped, $(L after_ok) echoed after)" -- \
	test "$(L '(dropped, after_ok)')" = "(0, $N)"
check "live flows: the application still sees its original peer" -- test "$(L peer_ok)" = $N
check "stream: $(S connects) connects during the upgrades, 0 uninspected, 0 failed" -- \
	test "$(S '(inspected == connects, uninspected, failed)')" = "(True, 0, 0)"
check "stream: fail closed never opened ($(S closed_tries) tries, $(S closed_refused) refused)" -- \
	test "$(S '(closed_opened, closed_other, closed_refused == closed_tries)')" = "(0, 0, True)"
check "services, claims (the relay's pid), rules: as before" -- cmp "$TMPD/state.before" "$TMPD/state.after"
check "A's claim still names the relay's pid" -- grep -q "\"pid\": $PID_A" "$TMPD/state.after"
new=$(lines "$TMPD/A.log")
out=$(in_cg app python3 -c 'import socket
c = socket.create_connection(("127.0.0.2", 9000), timeout=3)
c.sendall(b"hi\n")
print(c.recv(100).decode().split()[0])')
check "after: a new connect is redirected (the server sees the relay, $out)" -- test -n "$out"
check "after: ... and logged by A" -- wait_lines "$TMPD/A.log" $((new + 1))
echo "# after-checks done after $((SECONDS - T0)) s"

# The configuration file on the upgraded layer: show, then apply, keeps all.
"$SR" show > "$TMPD/conf"
out=$("$SR" apply "$TMPD/conf")
check "apply after the upgrades: everything kept ($out)" -- \
	eval 'echo "$out" | grep -q "services 0 added, 0 changed, 0 removed, 2 kept; rules 0 added, 0 removed, 2 kept"'

# --- a map layout change: refused, nothing changes --------------------------
state > "$TMPD/state.before"
progs > "$TMPD/progs.before"
for o in size btf; do
	err=$("$SR" upgrade --object "$HELPERS/sockredir-$o.bpf.o" 2>&1 >/dev/null); st=$?
	check "layout change ($o): refused with exit 1" -- test $st -eq 1
	check "layout change ($o): says which map and why" -- \
		sh -c "echo '$err' | grep -q 'cannot upgrade: map sr_stats: .*nothing was changed'"
	echo "# $err"
	progs > "$TMPD/progs.after"
	check "layout change ($o): programs untouched" -- cmp "$TMPD/progs.before" "$TMPD/progs.after"
	state > "$TMPD/state.after"
	check "layout change ($o): services, claims, rules untouched" -- cmp "$TMPD/state.before" "$TMPD/state.after"
done
# Attached entry points: the cgroup hooks and the proxies' sockops program
# (not the socket state tracepoint, attached only after an upgrade from a
# build that had it; not the congestion control's callbacks: a map's).
NPROGS=$(cat "$top"/bpf/*.bpf.c | grep -c '^SEC("\(cgroup\|sockops\)')
check "--check on a same-layout build: would upgrade, changes nothing" -- \
	sh -c "'$SR' upgrade --check --object '$ALT' | grep -q '^would upgrade: $NPROGS programs replaced'"
progs > "$TMPD/progs.after"
check "--check: programs untouched" -- cmp "$TMPD/progs.before" "$TMPD/progs.after"
check "upgrade --object of a file that is no object: exit 2" -- \
	sh -c "'$SR' upgrade --object /etc/hostname 2>/dev/null; test \$? -eq 2"
check "upgrade with a stray word: exit 2" -- sh -c "'$SR' upgrade now 2>/dev/null; test \$? -eq 2"
out=$(in_cg app python3 -c 'import socket
c = socket.create_connection(("127.0.0.2", 9000), timeout=3)
c.sendall(b"hi\n")
print(c.recv(100).decode().split()[0])')
check "after the refusals: traffic still goes through A ($out)" -- wait_lines "$TMPD/A.log" $((new + 2))
"$SR" down >/dev/null
check "upgrade when down: exit 1" -- sh -c "'$SR' upgrade 2>/dev/null; test \$? -eq 1"

# --- the tool meets a layer of another build ----------------------------------
# Maps pinned by a build whose sr_stats entries are larger (programs loaded,
# not attached): the tool refuses to read them instead of misreading.
mkdir -p /sys/fs/bpf/sockredir /sys/fs/bpf/sockredir-test-$$
bpftool prog loadall "$HELPERS/sockredir-size.bpf.o" /sys/fs/bpf/sockredir-test-$$ \
	pinmaps /sys/fs/bpf/sockredir 2>/dev/null
err=$("$SR" service list 2>&1); st=$?
rm -rf /sys/fs/bpf/sockredir-test-$$
check "maps of another layout: service list refuses, exit 1 ($err)" -- \
	eval '[ $st -eq 1 ] && echo "$err" | grep -q "laid out as another build"'
"$SR" down >/dev/null
done_testing
