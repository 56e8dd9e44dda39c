#!/bin/bash
# service list and status say who holds a service: its listener claimed or
# not, how and by which pid, gone, squatted; its owner cgroup by path,
# removed, or removed and recreated (stale).  (Overloaded: overload.sh.)
#
#   app ─▶ A 127.0.0.1:7021, [::1]:7021 (fail open) ─▶ server :8080
#   R: a service whose owner cgroup goes away
. "$(dirname "$0")/lib.sh"
setup
mkdir -p "$TMPD/www" "$CG/app" "$CG/p-A" "$CG/p-R"
echo hello > "$TMPD/www/hello.txt"
bg srv sh -c "exec python3 -m http.server 8080 --bind :: --directory '$TMPD/www' 2>/dev/null"
wait_port 8080
get() { in_cg app curl -s -m 5 "http://$1:8080/hello.txt"; }
# L NAME FAMILY EXPR: EXPR over service NAME's listener in FAMILY (JSON).
L() {
	"$SR" -j service list | python3 -c 'import json,sys
s = next(s for s in json.load(sys.stdin) if s["name"] == sys.argv[1])
l = next(l for l in s["listeners"] if l["family"] == sys.argv[2])
print(eval(sys.argv[3], {}, l))' "$@"
}
S() {	# S NAME EXPR: EXPR over service NAME (JSON)
	"$SR" -j service list | python3 -c 'import json,sys
s = next(s for s in json.load(sys.stdin) if s["name"] == sys.argv[1])
print(eval(sys.argv[2], {}, s))' "$@"
}

"$SR" service add A --listen 127.0.0.1:7021 --listen '[::1]:7021' \
	--owner-cgroup "$CG/p-A" >/dev/null
"$SR" rule add --service A --dst 127.0.0.2 --dport 8080 >/dev/null
"$SR" rule add --service A --dst ::2 --dport 8080 >/dev/null
nsenter --net=/run/netns/$NS ip addr add ::2/128 dev lo nodad

check "before any proxy: A's IPv4 listener not claimed, nothing seen" -- \
	test "$(L A ipv4 '(claimed, how, pid, state)')" = "(False, None, None, 'unseen')"
get 127.0.0.2 >/dev/null
check "a connect finds nothing there: gone, not claimed" -- \
	test "$(L A ipv4 '(claimed, state)')" = "(False, 'gone')"
check "status points at it" -- sh -c "'$SR' status | grep -A1 '^service A:' | grep -q 'not claimed, gone'"

bg p-A "$RELAY" -q --service A --listen 127.0.0.1:7021 --listen '[::1]:7021' --log "$TMPD/A.log"
PID_A=$LAST_PID
wait_port 7021
check "relay started: both listeners claimed by its pid, explicitly" -- \
	test "$(L A ipv4 '(claimed, how, pid)') $(L A ipv6 '(claimed, how, pid)')" = \
	     "(True, 'explicit', $PID_A) (True, 'explicit', $PID_A)"
check "claimed, no connect yet: state ok (as claimed)" -- test "$(L A ipv4 state)" = ok
check "text: claimed by pid $PID_A (uid 0, explicit)" -- \
	sh -c "'$SR' service list | grep -q 'listener 127.0.0.1:7021: claimed by pid $PID_A (uid 0, explicit), ok'"
check "IPv4 through A" -- test "$(get 127.0.0.2)" = hello
check "IPv6 through A" -- test "$(get '[::2]')" = hello
check "both went through A" -- wait_lines "$TMPD/A.log" 2
check "status: nothing to point at" -- sh -c "! '$SR' status | grep -q '^service A'"
check "status -j: attention is empty" -- \
	test "$("$SR" -j status | python3 -c 'import json,sys; print(json.load(sys.stdin)["attention"])')" = "[]"

kill -9 $PID_A; wait $PID_A 2>/dev/null
# The close is seen when it happens, before any connect comes.
check "relay killed: both listeners gone at once, unclaimed, naming the last pid" -- \
	test "$(L A ipv4 '(claimed, state, pid)') $(L A ipv6 '(claimed, state, pid)')" = \
	     "(False, 'gone', $PID_A) (False, 'gone', $PID_A)"
check "text: not claimed (last claimed by pid $PID_A), gone" -- \
	sh -c "'$SR' service list | grep -q 'listener 127.0.0.1:7021: not claimed (last claimed by pid $PID_A), gone'"
check "status -j lists both" -- \
	test "$("$SR" -j status | python3 -c 'import json,sys
print(sorted((a["service"], a["listener"]["family"], a["listener"]["state"]) for a in json.load(sys.stdin)["attention"]))')" = \
	"[('A', 'ipv4', 'gone'), ('A', 'ipv6', 'gone')]"

bg imp python3 "$top/tests/helpers/proxy.py" --name A --no-claim \
	--listen 127.0.0.1:7021 --log "$TMPD/impostor.log"
wait_port 7021
check "an unclaimed listener on the port: the request goes around it" -- test "$(get 127.0.0.2)" = hello
check "... and A's IPv4 listener is shown squatted" -- test "$(L A ipv4 '(claimed, state)')" = "(False, 'squatted')"
check "status says squatted" -- sh -c "'$SR' status | grep -A1 '^service A:' | grep -q squatted"
check "the squatter received nothing" -- test "$(lines "$TMPD/impostor.log")" -eq 0

# Owner cgroups: by path; removed; removed and recreated (a new id).
"$SR" service add R --listen 127.0.0.1:7022 --owner-cgroup "$CG/p-R" >/dev/null
check "owner cgroup shown as its path" -- test "$(S R '(owner_cgroup, owner_cgroup_state)')" = "('$CG/p-R', 'ok')"
check "text shows the path, not an inode number" -- sh -c "'$SR' service list | grep '^[0-9]* *R ' | grep -q ' $CG/p-R  *open  *0\$'"
# The text table stays aligned whatever the owner path's length: each
# column as wide as its widest cell.
mkdir -p "$CG/a-rather-long-owner-path/for-the-table/p-L"
"$SR" service add L --listen 127.0.0.1:7023 --listen '[::1]:7023' \
	--owner-cgroup "$CG/a-rather-long-owner-path/for-the-table/p-L" --fail closed >/dev/null
aligned() {	# every service line's FAIL and LIVE cells start under their headers
	"$SR" service list | python3 -c 'import re, sys
lines = sys.stdin.read().splitlines()
head, rows = lines[0], [l for l in lines[1:] if re.match(r"[0-9]", l)]
print(head); print("\n".join(rows))
for col in ("NAME", "LISTEN4", "LISTEN6", "OWNER", "FAIL", "LIVE"):
    at = head.index(col)
    for r in rows:
        assert r[at - 1] == " " and r[at] != " ", (col, r)
assert len(rows) == 3, rows'
}
check "service list: the text columns line up with a long owner path" -- aligned
"$SR" service del L >/dev/null
old=$(stat -c %i "$CG/p-R")
rmdir "$CG/p-R"
check "owner cgroup removed: shown as removed, by its old path" -- \
	test "$(S R '(owner_cgroup, owner_cgroup_state)')" = "('$CG/p-R', 'removed')"
check "text: (removed)" -- sh -c "'$SR' service list | grep -q '$CG/p-R (removed)'"
check "status names it" -- sh -c "'$SR' status | grep -q 'service R: owner cgroup $CG/p-R (removed)'"
mkdir "$CG/p-R"
new=$(stat -c %i "$CG/p-R")
check "recreated at the same path: a new id ($old -> $new)" -- test "$old" != "$new"
check "recreated: shown as stale, the service still names id $old" -- \
	test "$(S R '(owner_cgroup_state, owner_cgroup_id)')" = "('stale', $old)"
check "text: stale, with the id there now" -- \
	sh -c "'$SR' service list | grep -q '$CG/p-R (stale: removed; the cgroup there now is another, id $new)'"
done_testing
