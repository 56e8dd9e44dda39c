#!/bin/bash
# sockredir-relay against the real redirect layer.
#
#   app --connect 127.0.0.2:PORT--> [hook] --> relay A 127.0.0.1:7001 ----------> server
#   app --connect 127.0.0.3:PORT--> [hook] --> relay A --> [hook] --> relay B 127.0.0.1:7002 --> server
#   app --connect 127.0.0.4:PORT--> [hook] --> relay D 127.0.0.1:7004 (drain deadline) --> server
#   app --connect 127.0.0.6:PORT--> [hook] --> relay E 127.0.0.1:7005 (deny list) --> server
#   app --connect 127.0.0.7:PORT--> [hook] --> relay E --> [hook] --> relay B --> server
#
# Servers listen on [::]:PORT (tests/helpers/relay_peer.py, one mode per
# port; relay_load for the 1,000-flow run; http.server for curl).  Each
# relay runs in its own child cgroup, which owns its service.
. "$(dirname "$0")/lib.sh"
setup
PEER="python3 -u $top/tests/helpers/relay_peer.py"
LOAD=$HELPERS/relay_load
chmod 755 "$TMPD"
head -c 50M /dev/urandom > "$TMPD/up.bin"
head -c 50M /dev/urandom > "$TMPD/down.bin"
head -c 1M /dev/urandom > "$TMPD/small.bin"
mkdir -p "$TMPD/www"
head -c 200000 /dev/urandom > "$TMPD/www/blob"
echo hello > "$TMPD/www/hello.txt"
sha() { sha256sum "$1" | cut -d' ' -f1; }
UP=$(sha "$TMPD/up.bin") DOWN=$(sha "$TMPD/down.bin") SMALL=$(sha "$TMPD/small.bin")

server() {	# server PORT MODE [ARGS]: its per-connection lines go to srv-PORT.log
	local port=$1; shift
	bg srv $PEER serve "[::]:$port" "$@" > "$TMPD/srv-$port.log"
}
server 8001 sink
server 8002 source "$TMPD/down.bin"
server 8003 both "$TMPD/down.bin"
server 8004 banner
server 8005 rst
server 8006 slow "$TMPD/small.bin" 400000
server 8010 source "$TMPD/small.bin"
bg srv "$LOAD" serve "[::]:8007"
bg srv python3 -m http.server 8080 --bind :: --directory "$TMPD/www" 2>/dev/null
bg srv python3 -m http.server 8081 --protocol HTTP/1.1 --bind :: --directory "$TMPD/www" 2>/dev/null
for port in 8001 8002 8003 8004 8005 8006 8007 8010 8080 8081; do wait_port $port; done

mkdir -p "$CG/pa" "$CG/pb" "$CG/pd" "$CG/pe"
"$SR" service add A --listen 127.0.0.1:7001 --listen '[::1]:7001' \
	--owner-cgroup "$CG/pa" >/dev/null
"$SR" service add B --listen 127.0.0.1:7002 --owner-cgroup "$CG/pb" >/dev/null
"$SR" service add D --listen 127.0.0.1:7004 --owner-cgroup "$CG/pd" >/dev/null
"$SR" service add E --listen 127.0.0.1:7005 --owner-cgroup "$CG/pe" >/dev/null
for dst in 127.0.0.2/32 127.0.0.3/32 ::1/128; do
	"$SR" rule add --service A --dst $dst --dport 8000-8099 --weight 200 >/dev/null
done
"$SR" rule add --service B --dst 127.0.0.3/32 --dport 8000-8099 --weight 100 >/dev/null
"$SR" rule add --service D --dst 127.0.0.4/32 --dport 8000-8099 --weight 100 >/dev/null
for dst in 127.0.0.6/32 127.0.0.7/32; do
	"$SR" rule add --service E --dst $dst --dport 8000-8099 --weight 200 >/dev/null
done
"$SR" rule add --service B --dst 127.0.0.7/32 --dport 8000-8099 --weight 100 >/dev/null
svc_id() {
	"$SR" -j service list | python3 -c 'import json,sys
print(next(s["id"] for s in json.load(sys.stdin) if s["name"] == sys.argv[1]))' "$1"
}
ID_A=$(svc_id A) ID_B=$(svc_id B)

relay() {	# relay NAME PORT [OPTIONS]: in cgroup p<name>, log NAME.log
	local name=$1 port=$2 role=p$(echo "$1" | tr A-Z a-z); shift 2
	bg "$role" "$RELAY" --service "$name" --listen 127.0.0.1:$port \
		--log "$TMPD/$name.log" "$@" 2> "$TMPD/$name.err"
	eval "BG_$name=$LAST_PID"
	wait_port "$port"
}
relay_pid() { cat "$CG/p$(echo "$1" | tr A-Z a-z)/cgroup.procs"; }
relay A 7001 --listen '[::1]:7001' --connect-timeout 2000
relay B 7002
relay D 7004 --drain-timeout 500
relay E 7005 --deny-host '*.Blocked.test' --deny-host exact.test

client() { in_cg app $PEER client "$@"; }
last() { jfield "$1" -1 "$2"; }	# last LOG EXPR: EXPR over the last flow
is() { [ "$1" = "$2" ] || { echo "got '$1', want '$2'"; return 1; }; }
# srv_mark PORT: note how many flows PORT's server has logged; srv_next PORT:
# wait for the next one (it logs once its side is over) and print it.
srv_mark() { eval "mark_$1=$(lines "$TMPD/srv-$1.log")"; }
srv_next() {
	local m; eval "m=\$mark_$1"
	wait_lines "$TMPD/srv-$1.log" $((m + 1)) && sed -n "$((m + 1))p" "$TMPD/srv-$1.log"
}
# log_mark LOG / log_next LOG: the same for a relay's flow log.
log_mark() { LOG_MARK=$(lines "$1"); }
log_next() { wait_lines "$1" $((LOG_MARK + 1)); }
# wait_conn FILTER: poll ss until a live connection (also half-closed)
# matches FILTER.
wait_conn() {
	local i
	for i in $(seq 200); do
		nsenter --net=/run/netns/$NS ss -Htn state established state fin-wait-1 \
			state fin-wait-2 state close-wait "$@" | grep -q . && return 0
		sleep 0.05
	done
	echo "# no connection matches $*" >&2; return 1
}
# wait_unlisten PORT: poll ss until nothing listens on PORT.
wait_unlisten() {
	local i
	for i in $(seq 200); do
		nsenter --net=/run/netns/$NS ss -Hltn "sport = :$1" | grep -q . || return 0
		sleep 0.05
	done
	echo "# port $1 still listens" >&2; return 1
}

# Compound checks, as functions to keep the quoting sane.
field_is() { is "$(last "$1" "$2")" "$3"; }	# field_is LOG EXPR WANT
up_ok() {	# up_ok IP PORT FILE SHA: the sink's reply names what was sent
	client $1:$2 --send "$3" --recv "$TMPD/reply" "${@:5}" >/dev/null &&
		is "$(cat "$TMPD/reply")" "$(stat -c %s "$3") $4"
}
both_ok() {
	srv_mark 8003
	is "$(client $1:8003 --send "$TMPD/up.bin")" "eof 52428800 $DOWN" &&
		is "$(srv_next 8003)" "eof 52428800 $UP"
}
sha_of() { printf "$1" | sha256sum | cut -d' ' -f1; }
first() { cut -d' ' -f1; }

# --- bulk, one relay and two ---------------------------------------------
for hop in 2 3; do
	what="one relay"; [ $hop = 3 ] && what="two relays"
	check "$what: 50 MiB up, sha256 intact" -- up_ok 127.0.0.$hop 8001 "$TMPD/up.bin" $UP
	check "$what: 50 MiB down, sha256 intact" -- \
		is "$(client 127.0.0.$hop:8002)" "eof 52428800 $DOWN"
	check "$what: 50 MiB each way at once, both intact" -- both_ok 127.0.0.$hop
done
wait_lines "$TMPD/B.log" 3
check "log: byte counts of the 50 MiB both-ways flow, A and B agree" -- eval '
	is "$(jfield "$TMPD/A.log" 5 "(bytes_up, bytes_down, end)")" "(52428800, 52428800, '"'closed'"')" &&
	is "$(last "$TMPD/B.log" "(bytes_up, bytes_down, end)")" "(52428800, 52428800, '"'closed'"')"'

# --- half-close, resets, refusal -----------------------------------------
check "client half-close: the reply comes back after the client's EOF" -- \
	is "$(client 127.0.0.2:8001 --text 'ping\n')" "eof 67 $(sha_of "5 $(sha_of 'ping\n')\n")"
late_ok() {
	srv_mark 8004
	is "$(client 127.0.0.3:8004 --text late --after-eof)" "eof 12 $(sha_of '220 banner\r\n')" &&
		is "$(srv_next 8004)" "eof 4 $(sha_of late)"
}
check "server half-close: client reads EOF, then its data still arrives" -- late_ok
n=$(lines "$TMPD/A.log")
rst_ok() {
	srv_mark 8001
	client 127.0.0.2:8001 --text 'hi\n' --rst-after 0.3 >/dev/null &&
		is "$(srv_next 8001 | first)" reset
}
check "client reset: the server sees a reset" -- rst_ok
wait_lines "$TMPD/A.log" $((n + 1))
check "client reset: logged reset_by_client" -- field_is "$TMPD/A.log" end reset_by_client
check "server reset: the client sees a reset" -- \
	is "$(client 127.0.0.2:8005 --text 'hi\n' --no-shut | first)" reset
wait_lines "$TMPD/A.log" $((n + 2))
check "server reset: logged reset_by_server" -- field_is "$TMPD/A.log" end reset_by_server
check "upstream refused: the client sees a reset" -- \
	is "$(client 127.0.0.2:8009 --text 'hi\n' | first)" reset
wait_lines "$TMPD/A.log" $((n + 3))
check "upstream refused: logged upstream_refused, with its dst" -- \
	field_is "$TMPD/A.log" "(end, dst)" "('upstream_refused', '127.0.0.2:8009')"

# --- slow ends ----------------------------------------------------------------
check "slow writer (1 MiB at 500 kB/s) through two relays" -- \
	up_ok 127.0.0.3 8001 "$TMPD/small.bin" $SMALL --slow-write 500000
check "slow reader (1 MiB at 500 kB/s) through two relays" -- \
	is "$(client 127.0.0.3:8010 --slow-read 500000)" "eof 1048576 $SMALL"
check "reader in 4 KiB steps, 50 MiB through two relays: intact" -- \
	is "$(client 127.0.0.3:8002 --slow-read 100000000)" "eof 52428800 $DOWN"

# --- deny list (relay E) -----------------------------------------------------
E=$TMPD/E.log
get() { in_cg app curl -gsf -m 5 "$@"; }
denied_get() { ! get -H "Host: $1" http://127.0.0.6:8080/hello.txt; }
n=$(lines $E)
check "deny: Host www.blocked.test is refused" -- denied_get www.blocked.test
wait_lines $E $((n + 1))
check "deny: logged denied, with the host, nothing relayed" -- field_is $E \
	"(end, host, bytes_up, bytes_down)" "('denied', 'www.blocked.test', 0, 0)"
check "deny: exact name with port and other case is refused" -- denied_get EXACT.Test:8080
check "deny: the wildcard's own apex passes" -- \
	is "$(get -H 'Host: blocked.test' http://127.0.0.6:8080/hello.txt)" hello
srv_mark 8001
check "deny: SNI api.blocked.test gets a reset" -- \
	is "$(client 127.0.0.7:8001 --hello api.blocked.test | first)" reset
wait_lines $E $((n + 4))
check "deny: SNI logged denied" -- field_is $E "(end, host)" "('denied', 'api.blocked.test')"
check "deny: B never saw the denied flow" -- eval '! grep -q blocked "$TMPD/B.log"'
sni_ok() {
	client 127.0.0.6:8001 --hello fine.test >/dev/null && wait_lines $E $((n + 5)) &&
		field_is $E "(end, host, bytes_up)" \
			"('closed', 'fine.test', $(srv_next 8001 | cut -d' ' -f2))"
}
check "deny: other SNI relayed, every byte" -- sni_ok
# The denied flow was never connected upstream: the sink saw only the
# allowed one since the mark (it logs each connection once it ends).
check "deny: nothing was connected upstream for the denied SNI" -- \
	is "$(($(lines "$TMPD/srv-8001.log") - mark_8001))" 1
# curl reuses one connection for both URLs: the second request names a
# denied host, so that connection is reset (curl's retry on a fresh one is
# denied too).
keepalive_ok() {
	local out
	out=$(get -H 'Host: ok.test' http://127.0.0.6:8081/hello.txt \
		--next -gsf -m 5 -H 'Host: www.blocked.test' http://127.0.0.6:8081/hello.txt)
	is "$out" hello || return 1
	wait_lines $E $((n + 6)) &&
		grep '"host":"www.blocked.test"' $E | grep '"end":"denied"' |
		python3 -c 'import json,sys
sys.exit(not any(json.loads(l)["bytes_up"] > 0 and json.loads(l)["bytes_down"] > 0 for l in sys.stdin))'
}
check "deny: keep-alive: the first request is served, the second (denied host) reset" -- keepalive_ok
n=$(lines $E)
timeout_ok() {
	local t0=$(date +%s%N) out
	out=$(client 127.0.0.6:8001 --text 'GET / HTTP/1.1\r\nHost: www.blo' --no-shut)
	is "$(echo "$out" | first)" reset && wait_lines $E $((n + 1)) &&
		field_is $E "(end, host, bytes_up)" "('denied', None, 0)" &&
		test $(( ($(date +%s%N) - t0) / 1000000 )) -lt 3000
}
check "deny: no name by --sniff-timeout: reset, logged denied" -- timeout_ok
overflow_ok() {
	is "$(client 127.0.0.6:8001 --no-shut \
		--text "GET / HTTP/1.1\r\nX-Pad: $(head -c 20000 /dev/zero | tr '\0' a)" | first)" reset &&
		wait_lines $E $((n + 2)) && field_is $E "(end, host, bytes_up)" "('denied', None, 0)"
}
check "deny: 20,000 bytes and no name: reset, logged denied" -- overflow_ok
check "server speaks first, client silent: banner arrives" -- \
	is "$(client 127.0.0.2:8004 --no-shut | cut -d' ' -f1,2)" "eof 12"

# --- every field of the flow log ---------------------------------------------
A=$TMPD/A.log B=$TMPD/B.log
log_mark $A
check "curl through A and B" -- eval 'get http://127.0.0.3:8080/blob | cmp -s - "$TMPD/www/blob"'
wait_lines $B 1; log_next $A
check "log A: flow_id, service, chain [A]" -- \
	field_is $A "(flow_id > 0, service, chain)" "(True, 'A', [$ID_A])"
check "log B: same flow_id, service, chain [A, B]" -- \
	field_is $B "(flow_id, service, chain)" "($(last $A flow_id), 'B', [$ID_A, $ID_B])"
check "log: app is curl, uid 0, with a pid" -- \
	field_is $A "(app['comm'], app['uid'], app['pid'] > 0)" "('curl', 0, True)"
check "log: the same app on both hops" -- field_is $B app "$(last $A app)"
check "log: dst is the original destination, host from Host" -- \
	field_is $B "(dst, host)" "('127.0.0.3:8080', '127.0.0.3')"
check "log: bytes both ways equal on both hops" -- \
	field_is $B "(bytes_up, bytes_down)" "$(last $A "(bytes_up, bytes_down)")"
check "log: bytes include request and body" -- \
	field_is $A "bytes_up > 50 and bytes_down > 200000" True
check "log: duration_ms and end" -- field_is $A \
	"(type(duration_ms) is int and 0 <= duration_ms < 5000, end)" "(True, 'closed')"
check "log: exactly the documented keys" -- field_is $B "sorted(locals())" \
	"['app', 'bytes_down', 'bytes_up', 'chain', 'dst', 'duration_ms', 'end', 'flow_id', 'host', 'service']"
v6_ok() { log_mark $A; is "$(get "http://[::1]:8080/hello.txt")" hello && log_next $A && field_is $A dst "[::1]:8080"; }
check "v6: curl [::1]:8080 through A, dst logged as [::1]:8080" -- v6_ok

# --- not redirected, layer missing -------------------------------------------
log_mark $A
check "not redirected: a direct connection to the relay is reset" -- \
	is "$(client 127.0.0.1:7001 --text 'hi\n' | first)" reset
log_next $A
check "not redirected: logged not_redirected, no context" -- \
	field_is $A "(end, flow_id, app, dst)" "('not_redirected', None, None, None)"
# A relay outside the attached cgroup gets ENOPROTOOPT from the kernel.
nsenter --net=/run/netns/$NS "$RELAY" --service X --listen 127.0.0.1:7009 \
	--log "$TMPD/X.log" 2> "$TMPD/X.err" &
X=$!; PIDS="$PIDS $X"
wait_port 7009
for i in 1 2; do client 127.0.0.1:7009 --text 'hi\n' > "$TMPD/x.out"; done
missing_ok() {
	is "$(first < "$TMPD/x.out")" reset && wait_lines "$TMPD/X.log" 2 &&
		field_is "$TMPD/X.log" end error && is "$(grep -c 'not loaded' "$TMPD/X.err")" 1 &&
		return 0
	echo "client: $(cat "$TMPD/x.out")"; echo "log:"; cat "$TMPD/X.log"; echo "stderr:"; cat "$TMPD/X.err"
	return 1
}
check "layer missing: reset, logged error, one clear message" -- missing_ok
kill_pid $X

# --- 1,000 concurrent flows through A and B ----------------------------------
na=$(lines $A) nb=$(lines $B)
fds() { ls /proc/$(relay_pid $1)/fd | wc -l; }
fa=$(fds A) fb=$(fds B)
check "1000 concurrent flows, 64 KiB each way, through two relays: all intact" -- \
	is "$(in_cg app "$LOAD" run 127.0.0.3:8007 1000 65536)" "1000 ok, 0 failed"
wait_lines $A $((na + 1000)); wait_lines $B $((nb + 1000))
# A flow closes its sockets just after logging: poll for the count.
fds_are() {
	local i
	for i in $(seq 100); do [ "$(fds A) $(fds B)" = "$1 $2" ] && return 0; sleep 0.05; done
	echo "fds: $(fds A) $(fds B), before: $1 $2"; return 1
}
check "1000 flows: each logged closed once on each relay" -- eval '
	is "$(tail -n 1000 $A | grep -c "\"end\":\"closed\"")" 1000 &&
	is "$(tail -n 1000 $B | grep -c "\"bytes_up\":65536,\"bytes_down\":65536,.*closed")" 1000'
check "1000 flows: no descriptor left behind" -- fds_are $fa $fb
# The log is written once per turn of the relay's loop: lines whole, none torn.
whole_json() { python3 -c 'import json, sys
for n, l in enumerate(open(sys.argv[1]), 1):
    json.loads(l)
print(n)' "$1"; }
check "1000 flows: every line of both logs is one whole JSON object" -- \
	eval 'is "$(whole_json $A) $(whole_json $B)" "$(lines $A) $(lines $B)"'

# --- SIGHUP reopens the log ---------------------------------------------------
na=$(lines $A)
mv $A "$A.1"
kill -HUP "$(relay_pid A)"
for i in $(seq 200); do [ -e $A ] && break; sleep 0.05; done	# reopened
client 127.0.0.2:8001 --text 'hi\n' >/dev/null
check "SIGHUP: a new A.log, with the next flow in it" -- eval 'wait_lines $A 1 && is "$(lines $A)" 1'
check "SIGHUP: the lines before it all in the old file, none carried over" -- \
	is "$(lines "$A.1")" "$na"

# --- SIGTERM: drain ----------------------------------------------------------
client 127.0.0.2:8006 > "$TMPD/slow.out" &
SLOW=$!
wait_conn "dport = :8006"
kill -TERM "$(relay_pid A)"
wait_unlisten 7001
# A draining relay has closed its claimed listener: new connections skip
# service A (it fails open) instead of being refused.
drain_out=$(client 127.0.0.2:8001 --text 'hi\n')
check "drain: new connections skip the draining relay, not refused" -- \
	eval '[ -n "$drain_out" ] && [ "$drain_out" != "connect Connection refused" ]'
check "drain: counted as listener gone for A" -- \
	sh -c "'$SR' -j service list | grep -q '\"name\":\"A\".*\"listener_gone\":[1-9]'"
wait $SLOW
check "drain: the slow transfer in flight completes intact" -- \
	is "$(cat "$TMPD/slow.out")" "eof 1048576 $SMALL"
check "drain: the relay exits 0 after it" -- wait $BG_A
check "drain: the flow was logged closed" -- field_is $A "(end, bytes_down)" "('closed', 1048576)"
client 127.0.0.4:8001 --text 'hi\n' --no-shut > "$TMPD/stuck.out" &
STUCK=$!
wait_conn "dst 127.0.0.4 and dport = :8001"
start=$(date +%s%N)
kill -TERM "$(relay_pid D)"
check "drain deadline: the relay exits 0" -- wait $BG_D
check "drain deadline: within about --drain-timeout 500" -- \
	test $(( ($(date +%s%N) - start) / 1000000 )) -lt 1500
wait $STUCK
check "drain deadline: the stuck client is reset" -- is "$(first < "$TMPD/stuck.out")" reset
check "drain deadline: logged drained" -- field_is "$TMPD/D.log" end drained
quiet_ok() {
	grep -q "listening on 127.0.0.1:7001" "$TMPD/A.err" &&
		grep -q "listening on \[::1\]:7001" "$TMPD/A.err" &&
		! grep -h -v -e "listening on" -e draining "$TMPD/A.err" "$TMPD/B.err" "$TMPD/E.err"
}
check "relays said where they listen, and nothing alarming" -- quiet_ok

# Stop what still runs in the test's cgroups and wait for it to be gone, so
# that cleanup can remove the cgroups.
for p in $(cat "$CG"/*/cgroup.procs); do kill "$p" 2>/dev/null; done
for i in $(seq 100); do
	[ -z "$(cat "$CG"/*/cgroup.procs)" ] && break
	sleep 0.05
done
done_testing
