#!/bin/bash
# Observing the layer: `sockredir flow list` and `sockredir monitor`.
#
#   app (python3, curl)  --connect 127.0.0.2:8080-->  [connect hook]
#        \--> A 127.0.0.1:7001 --records--> B 127.0.0.1:7002 --> server :8080
#
#   127.0.0.5 block rule   127.0.0.6 permit rule
#   127.0.0.7 service C (fail closed, no listener)
#   127.0.0.8 service D (fail open, no listener)
#
# Proxies are tests/helpers/proxy.py.  build/tests/events_probe reads the
# watcher count, and as a "sink" puts a ring buffer of its own beside the
# monitors' without counting as a watcher: it sees any event a program
# writes while it should not.
. "$(dirname "$0")/lib.sh"
setup
P="python3 $top/tests/helpers/proxy.py"
PROBE=$HELPERS/events_probe
mkdir -p "$TMPD/www"
echo hello > "$TMPD/www/hello.txt"
bg srv python3 -m http.server 8080 --bind :: --directory "$TMPD/www"
wait_port 8080

proxy() {	# proxy NAME PORT: start a proxy in cgroup p-NAME
	bg "p-$1" $P --name "$1" --listen 127.0.0.1:$2 --log "$TMPD/$1.log"
	wait_port "$2"
}
mkdir -p "$CG/p-A" "$CG/p-B" "$CG/p-C" "$CG/p-D" "$CG/app"
"$SR" service add A --listen 127.0.0.1:7001 --owner-cgroup "$CG/p-A" >/dev/null
"$SR" service add B --listen 127.0.0.1:7002 --owner-cgroup "$CG/p-B" >/dev/null
"$SR" service add C --listen 127.0.0.1:7003 --owner-cgroup "$CG/p-C" --fail closed >/dev/null
"$SR" service add D --listen 127.0.0.1:7004 --owner-cgroup "$CG/p-D" >/dev/null
"$SR" rule add --service A --dst 127.0.0.2/32 --dport 8080 --weight 200 >/dev/null
"$SR" rule add --service B --dst 127.0.0.0/8 --dport 8080 --weight 100 >/dev/null
"$SR" rule add --block --dst 127.0.0.5/32 --weight 300 >/dev/null
"$SR" rule add --permit --dst 127.0.0.6/32 --weight 300 >/dev/null
"$SR" rule add --service C --dst 127.0.0.7/32 --weight 300 >/dev/null
"$SR" rule add --service D --dst 127.0.0.8/32 --weight 300 >/dev/null
proxy A 7001
proxy B 7002

probe() { "$PROBE" | awk -v k="$1" '{ for (i = 1; i < NF; i++) if ($i == k) print $(i + 1) }'; }
# sink_start, then sink_stop: SINK_BYTES is what the programs wrote to the
# sink's ring buffer in between.
sink_start() {
	coproc SINK { "$PROBE" sink; }
	read -r _ <&"${SINK[0]}"
}
sink_stop() {
	local in=${SINK[0]} pid=$SINK_PID
	eval "exec ${SINK[1]}>&-"
	read -r _ SINK_BYTES <&"$in"
	wait "$pid"
}
# wait_watchers N: poll until N monitors are registered (5 s at most).
wait_watchers() {
	local i
	for i in $(seq 100); do
		[ "$(probe watchers)" = "$1" ] && return 0
		sleep 0.05
	done
	return 1
}
# connects N ADDR [PORT]: N connects from the application, each closed at once.
connects() {
	in_cg app python3 -c 'import socket, sys
for _ in range(int(sys.argv[1])):
    s = socket.socket()
    try:
        s.connect((sys.argv[2], int(sys.argv[3])))
    except OSError:
        pass
    s.close()' "$1" "$2" "${3:-8080}"
}
get() { in_cg "${2:-app}" curl -gs -m 5 "$1"; }

# --- flow list ---------------------------------------------------------
# A client as nobody that holds its connection open until killed.
bg app setpriv --reuid=65534 --regid=65534 --clear-groups /usr/bin/python3 -c '
import socket, time
s = socket.create_connection(("127.0.0.2", 8080))
time.sleep(120)'
CLIENT=$LAST_PID
# wait_flows EXPR: poll the JSON listing until EXPR (Python, over f: the
# flows) holds; 5 s at most.
wait_flows() {
	local i
	for i in $(seq 100); do
		"$SR" -j flow list > "$TMPD/flows.json" 2>&1 &&
			python3 -c 'import json, sys
f = json.load(open(sys.argv[1]))
sys.exit(0 if eval(sys.argv[2]) else 1)' "$TMPD/flows.json" "$1" && return 0
		sleep 0.05
	done
	return 1
}
flows() {	# flows EXPR: EXPR over the last JSON listing
	python3 -c 'import json, sys
f = json.load(open(sys.argv[1]))
print(eval(sys.argv[2]))' "$TMPD/flows.json" "$1"
}
check "flow list: the held flow appears, held by B, reaching the server" -- \
	wait_flows 'len(f) == 1 and f[0]["service"] == "B" and f[0]["at_destination"]'
check "flow list -j parses as a JSON array" -- \
	python3 -c 'import json, sys; assert isinstance(json.load(open(sys.argv[1])), list)' "$TMPD/flows.json"
check "flow list: the application is the client (pid, comm python3, uid 65534)" -- \
	test "$(flows '(f[0]["app"]["pid"], f[0]["app"]["comm"], f[0]["app"]["uid"])')" = \
	"($CLIENT, 'python3', 65534)"
check "flow list: its cgroup path, below the cgroup v2 mount" -- \
	test "$(flows 'f[0]["app"]["cgroup"]')" = "${CG#$CG2}/app"
check "flow list: the original destination" -- \
	test "$(flows 'f[0]["dst"]')" = 127.0.0.2:8080
check "flow list: the chain so far is A then B, by name and id" -- \
	test "$(flows '(f[0]["chain"], f[0]["chain_ids"])')" = "(['A', 'B'], [$(sid A), $(sid B)])"
check "flow list: five sockets (app, A in and out, B in and out), a sane age" -- \
	test "$(flows 'f[0]["sockets"] == 5 and 0 < f[0]["age"] < 60')" = True
"$SR" flow list > "$TMPD/flows.txt"
check "flow list text: a header and one line, columns aligned like ss" -- \
	test "$(wc -l < "$TMPD/flows.txt")" -eq 2 -a \
	"$(awk 'NR == 1 { print index($0, "CHAIN") } NR == 2 { print index($0, "A>B") }' "$TMPD/flows.txt" | uniq | wc -l)" -eq 1
check "flow list text: id, app, pid, uid, destination, chain, service" -- \
	test "$(awk 'NR == 2 { print $1, $2, $3, $4, $5, $6, $7 }' "$TMPD/flows.txt")" = \
	"$(flows 'f[0]["flow_id"]') python3 $CLIENT 65534 127.0.0.2:8080 A>B B"
check "flow list --service A: the flow went through A" -- \
	test "$("$SR" -j flow list --service A | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')" = 1
check "flow list --service C: not through C" -- \
	test "$("$SR" -j flow list --service C)" = "[]"
"$SR" flow list --service nosuch >/dev/null 2>&1
ok $([ $? -eq 2 ]; echo $?) "flow list --service with no such service: exit 2"
"$SR" flow list --bogus >/dev/null 2>&1
ok $([ $? -eq 2 ]; echo $?) "flow list with an unknown word: exit 2"
FLOW=$(flows 'f[0]["flow_id"]')
kill_pid $CLIENT
check "flow list: the flow is gone once the client is" -- wait_flows 'f == []'
wait_lines "$TMPD/A.log" 1
check "flow list: the flow id was the one A's context saw" -- \
	test "$FLOW" = "$(jfield $TMPD/A.log 0 flow_id)"

# --- monitor --------------------------------------------------------------
check "nobody watching: the watcher count is 0" -- test "$(probe watchers)" = 0
sink_start
connects 100 127.0.0.2
connects 50 127.0.0.5
connects 50 127.0.0.6
sink_stop
check "nobody watching: 200 connects (redirected, blocked, permitted) write nothing to any ring buffer" -- \
	test "$SINK_BYTES" = 0

"$SR" monitor > "$TMPD/mon.txt" 2> "$TMPD/mon.err" &
MON_T=$!; PIDS="$PIDS $MON_T"
"$SR" -j monitor > "$TMPD/mon.json" 2> "$TMPD/mon.jerr" &
MON_J=$!; PIDS="$PIDS $MON_J"
check "two monitors: the watcher count is 2" -- wait_watchers 2

get http://127.0.0.2:8080/hello.txt > "$TMPD/got"
check "a request through A and B, watched, still arrives" -- grep -qx hello "$TMPD/got"
connects 1 127.0.0.5
connects 1 127.0.0.6
get http://127.0.0.2:8080/hello.txt p-A > /dev/null
connects 1 127.0.0.7
connects 1 127.0.0.8 9
"$SR" up --cgroup "$CG" --max-hops 1 >/dev/null
get http://127.0.0.2:8080/hello.txt > /dev/null
"$SR" up --cgroup "$CG" >/dev/null

# What each step decides, in order: (event, service, hop).
expect="redirected A 1
skip-self A 1
redirected B 2
skip-previously-self A 2
skip-self B 2
blocked - 0
permitted - 0
unrecorded-egress A 0
refused C 0
listener-gone D 0
redirected A 1
skip-self A 1
hop-limit B 1"
n_expect=$(echo "$expect" | wc -l)
check "the JSON monitor got every decision" -- wait_lines "$TMPD/mon.json" "$n_expect"
check "the text monitor got every decision" -- wait_lines "$TMPD/mon.txt" "$n_expect"
check "monitor -j: one JSON object a line" -- python3 -c 'import json, sys
for l in open(sys.argv[1]): assert isinstance(json.loads(l), dict)' "$TMPD/mon.json"
got=$(python3 -c 'import json, sys
for l in open(sys.argv[1]):
    e = json.loads(l)
    print(e["event"], e["service"] or "-", e["hop"])' "$TMPD/mon.json")
check "monitor -j: redirected per hop of A>B, skips, blocked, permitted, egress, refused, listener gone, hop limit, in order" -- \
	test "$got" = "$expect"
[ "$got" = "$expect" ] || diff <(echo "$expect") <(echo "$got") | sed 's/^/# /'
check "monitor -j: the redirects name the application (curl, uid 0) and the original destination" -- \
	test "$(python3 -c 'import json, sys
ev = [json.loads(l) for l in open(sys.argv[1])]
r = [e for e in ev if e["event"] == "redirected"]
print(all(e["app"]["comm"] == "curl" and e["app"]["uid"] == 0 and
          e["dst"] == "127.0.0.2:8080" and e["flow_id"] > 0 for e in r), len(r))' "$TMPD/mon.json")" = "True 3"
check "monitor -j: hop 2 was B's proxy's connect for curl's flow" -- \
	test "$(python3 -c 'import json, sys
ev = [json.loads(l) for l in open(sys.argv[1])]
print(ev[2]["comm"] != "curl" and ev[2]["app"]["pid"] == ev[0]["pid"] and
      ev[2]["flow_id"] == ev[0]["flow_id"])' "$TMPD/mon.json")" = True
check "monitor -j: blocked and permitted name their rules and destinations" -- \
	test "$(python3 -c 'import json, sys
ev = [json.loads(l) for l in open(sys.argv[1])]
print(ev[5]["rule_id"], ev[5]["dst"], ev[6]["rule_id"], ev[6]["dst"])' "$TMPD/mon.json")" = \
	"3 127.0.0.5:8080 4 127.0.0.6:8080"
got_t=$(awk '{ s = "-"; h = 0
	if ($2 ~ /^[A-D]$/) s = $2
	for (i = 1; i < NF; i++) if ($i == "hop") h = $(i + 1)
	print $1, s, h }' "$TMPD/mon.txt")
exp_t=$(echo "$expect" | awk '{ print $1, $2, ($1 == "redirected" ? $3 : 0) }')
check "monitor text: the same decisions in the same order" -- test "$got_t" = "$exp_t"
check "monitor text: like ip monitor, one line a decision" -- \
	grep -qE '^redirected A hop 1 rule 1 flow [0-9]+ curl\[[0-9]+\] uid 0 -> 127\.0\.0\.2:8080$' "$TMPD/mon.txt"
check "monitor text: a proxy's hop names the application it acts for" -- \
	grep -qE '^redirected B hop 2 rule 2 flow [0-9]+ python3\[[0-9]+\] uid 0 for curl\[[0-9]+\] uid 0 -> 127\.0\.0\.2:8080$' "$TMPD/mon.txt"

kill -INT $MON_T; wait $MON_T; st_t=$?
kill -TERM $MON_J; wait $MON_J; st_j=$?
check "monitors end cleanly on SIGINT and SIGTERM (exit 0, nothing on stderr)" -- \
	test "$st_t $st_j" = "0 0" -a ! -s "$TMPD/mon.err" -a ! -s "$TMPD/mon.jerr"
check "both gone: the watcher count is back to 0" -- test "$(probe watchers)" = 0
sink_start
connects 100 127.0.0.5
sink_stop
check "after they stop, 100 blocked connects write nothing" -- test "$SINK_BYTES" = 0

# A monitor killed with SIGKILL cannot count itself out: the next one does.
"$SR" monitor > /dev/null & M1=$!; PIDS="$PIDS $M1"
wait_watchers 1
kill -9 $M1; wait $M1 2>/dev/null
check "a SIGKILLed monitor leaves its count" -- test "$(probe watchers)" = 1
"$SR" monitor > "$TMPD/mon2.txt" & M2=$!; PIDS="$PIDS $M2"
check "the next monitor counts the dead one out (count 1: itself)" -- wait_watchers 1
sink_start
connects 1 127.0.0.5
sink_stop
check "while watched, a blocked connect writes one event to every ring buffer (the sink's too)" -- \
	test "$SINK_BYTES" -gt 0
check "... and the monitor shows it" -- wait_lines "$TMPD/mon2.txt" 1
kill -INT $M2; wait $M2
check "the count is 0 again" -- test "$(probe watchers)" = 0

# An unprivileged user in the cgroup can neither watch nor list others'
# flows, nor make the layer emit (the count is root's to change).
NOBODY="setpriv --reuid=65534 --regid=65534 --clear-groups"
in_cg app $NOBODY "$SR" monitor > "$TMPD/nb.out" 2>&1; st=$?
check "attack: nobody running monitor is refused (exit 1), and prints no event" -- \
	test $st -eq 1 -a -z "$(grep -v 'needs root\|denied' "$TMPD/nb.out")"
check "attack: ... and the watcher count stays 0" -- test "$(probe watchers)" = 0
in_cg app $NOBODY "$HELPERS/events_probe" sink < /dev/null > "$TMPD/nb.out" 2>&1; st=$?
check "attack: nobody cannot put a ring buffer of its own in a monitor slot" -- \
	test $st -ne 0 -a -z "$(grep ready "$TMPD/nb.out")"
bg app $NOBODY /usr/bin/python3 -c '
import socket, time
s = socket.create_connection(("127.0.0.2", 8080))
time.sleep(120)'
HOLD=$LAST_PID
wait_flows 'len(f) == 1'
in_cg app $NOBODY "$SR" flow list > "$TMPD/nb.out" 2>&1; st=$?
check "attack: nobody listing flows is refused (exit 1), and sees none" -- \
	test $st -eq 1 -a -z "$(grep 127.0.0.2 "$TMPD/nb.out")"
kill_pid $HOLD

# The layer going away ends a monitor with an error, never a silent wait.
"$SR" monitor > /dev/null 2> "$TMPD/mon3.err" & M3=$!; PIDS="$PIDS $M3"
wait_watchers 1
"$SR" down >/dev/null
for i in $(seq 60); do kill -0 $M3 2>/dev/null || break; sleep 0.05; done
wait $M3; st=$?
check "sockredir down ends a running monitor: exit 1, says why" -- \
	test $st -eq 1 -a -n "$(grep 'went down' "$TMPD/mon3.err")"
"$SR" monitor >/dev/null 2>&1; st=$?
ok $([ $st -eq 1 ]; echo $?) "monitor with the layer down: exit 1"
"$SR" flow list >/dev/null 2>&1; st=$?
ok $([ $st -eq 1 ]; echo $?) "flow list with the layer down: exit 1"
"$SR" monitor --bogus >/dev/null 2>&1; st=$?
ok $([ $st -eq 2 ]; echo $?) "monitor with an unknown word: exit 2"
done_testing
