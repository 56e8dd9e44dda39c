#!/bin/bash
# The redirect layer end to end, TCP over IPv4 and IPv6.
#
#   app (curl)  --connect 127.0.0.2:8080-->  [connect hook]
#        \--> A 127.0.0.1:7001 --records--> B 127.0.0.1:7002 --> server :8080
#
# Proxies are tests/helpers/proxy.py, which uses only the socket options.
. "$(dirname "$0")/lib.sh"
setup
P="python3 $top/tests/helpers/proxy.py"
PROBE="python3 $top/tests/helpers/probe.py"
mkdir -p "$TMPD/www"
head -c 100000 /dev/urandom > "$TMPD/www/blob"
echo hello > "$TMPD/www/hello.txt"
for port in 8080 8081 8083; do
	bg srv python3 -m http.server $port --bind :: --directory "$TMPD/www"
done
for port in 8080 8081 8083; do wait_port $port; done

get() {	# get URL [ROLE]: the body, as the client in ROLE sees it
	in_cg "${2:-app}" curl -gs -m 5 "$1"
}
same_blob() { get "$1" "${2:-app}" | cmp -s - "$TMPD/www/blob"; }
proxy() {	# proxy NAME PORT [--no-records]: start a proxy in cgroup p-NAME
	local name=$1 port=$2; shift 2
	bg "p-$name" $P --name "$name" --listen 127.0.0.1:$port \
		--listen "[::1]:$port" --log "$TMPD/$name.log" "$@"
	eval "PID_$name=$LAST_PID"
	wait_port "$port"
}
clear_rules() {
	for id in $("$SR" -j rule list | python3 -c 'import json,sys
print(" ".join(str(r["id"]) for r in json.load(sys.stdin)))'); do
		"$SR" rule del "$id" >/dev/null
	done
}

mkdir -p "$CG/p-A" "$CG/p-B" "$CG/p-P" "$CG/app" "$CG/app2"

# --- one service ---------------------------------------------------------
"$SR" service add A --listen 127.0.0.1:7001 --listen '[::1]:7001' \
	--owner-cgroup "$CG/p-A" >/dev/null
"$SR" rule add --service A --dst 127.0.0.2/32 --dport 8080 --weight 200 >/dev/null
"$SR" rule add --service A --dst ::1/128 --dport 8080 --weight 200 >/dev/null
proxy A 7001

check "v4: a 100 kB body arrives intact through A" -- same_blob http://127.0.0.2:8080/blob
check "v4: A saw the flow once" -- test "$(lines $TMPD/A.log)" -eq 1
check "v4: context has the original destination" -- \
	test "$(jfield $TMPD/A.log 0 remote)" = 127.0.0.2:8080
check "v4: context has the original local address" -- \
	test "$(jfield $TMPD/A.log 0 'local == "127.0.0.1:%d" % peer')" = True
check "v4: context names the application (curl, uid 0)" -- \
	test "$(jfield $TMPD/A.log 0 'comm == "curl" and uid == 0 and pid > 0')" = True
check "v4: context has hop 1, chain [A], the rule" -- \
	test "$(jfield $TMPD/A.log 0 '(hop, chain, rule, service)')" = "(1, [$(sid A)], 1, $(sid A))"
check "v4: the client's getpeername shows the original peer" -- \
	test "$(in_cg app $PROBE peer 127.0.0.2:8080)" = 127.0.0.2:8080
: > "$TMPD/A.log"
check "v6: a 100 kB body arrives intact through A" -- same_blob 'http://[::1]:8080/blob'
check "v6: context has the original destination" -- \
	test "$(jfield $TMPD/A.log 0 remote)" = ::1:8080
check "v6: context local is the client's [::1] end" -- \
	test "$(jfield $TMPD/A.log 0 'local == "::1:%d" % peer')" = True
check "v6: the client's getpeername shows the original peer" -- \
	test "$(in_cg app $PROBE peer '[::1]:8080')" = ::1:8080
: > "$TMPD/A.log"
check "v4-mapped: an IPv6 socket to ::ffff:127.0.0.2 sees its original peer" -- \
	test "$(in_cg app $PROBE peer '[::ffff:127.0.0.2]:8080')" = ::ffff:127.0.0.2:8080
check "v4-mapped: A saw it, with the IPv4 destination in its context" -- \
	test "$(jfield $TMPD/A.log 0 remote)" = 127.0.0.2:8080
check "no rule, no redirect: 127.0.0.3 goes straight" -- \
	test "$(get http://127.0.0.3:8080/hello.txt)" = hello
check "A saw the mapped flow, not the unmatched one" -- test "$(lines $TMPD/A.log)" -eq 1

# --- two services: A (200) then B (100) -----------------------------------
"$SR" service add B --listen 127.0.0.1:7002 --listen '[::1]:7002' \
	--owner-cgroup "$CG/p-B" >/dev/null
"$SR" rule add --service B --dst 127.0.0.0/8 --dport 8080 --weight 100 >/dev/null
proxy B 7002
: > "$TMPD/A.log"
check "chain: body intact through A then B" -- same_blob http://127.0.0.2:8080/blob
check "chain: A saw it once" -- test "$(lines $TMPD/A.log)" -eq 1
check "chain: B saw it once" -- test "$(lines $TMPD/B.log)" -eq 1
check "chain: B's records show [A, B] at hop 2" -- \
	test "$(jfield $TMPD/B.log 0 '(hop, chain)')" = "(2, [$(sid A), $(sid B)])"
check "chain: B's context has the original destination" -- \
	test "$(jfield $TMPD/B.log 0 remote)" = 127.0.0.2:8080
check "chain: B's context names the original app, not A" -- \
	test "$(jfield $TMPD/B.log 0 comm)" = curl
check "chain: one flow id along the chain" -- \
	test "$(jfield $TMPD/A.log 0 flow_id)" = "$(jfield $TMPD/B.log 0 flow_id)"

# --- careless proxies: no records set -------------------------------------
# Their onward connects go to the flow's original destination without
# records: the layer gives them the flow's records (bpf/forward.h), so the
# chain holds as if they had passed them, and nothing loops.
kill_pid $PID_A; kill_pid $PID_B
: > "$TMPD/A.log"; : > "$TMPD/B.log"
proxy A 7001 --no-records
proxy B 7002 --no-records
before=$(counter A onward_recorded)
ok=0
for i in 1 2 3; do [ "$(get http://127.0.0.2:8080/hello.txt)" = hello ] && ok=$((ok + 1)); done
check "two careless proxies: every request reaches the server" -- test $ok -eq 3
check "two careless proxies: A saw each request once" -- test "$(lines $TMPD/A.log)" -eq 3
check "two careless proxies: B saw each once too, after A (hop 2)" -- \
	test "$(lines $TMPD/B.log)" -eq 3 -a "$(jfield $TMPD/B.log 2 hop)" = 2
check "two careless proxies: A's onward connects carried the flows' records (3)" -- \
	test "$(counter A onward_recorded)" -eq $((before + 3))
"$SR" service del B >/dev/null
: > "$TMPD/A.log"
check "one careless proxy: the request reaches the server" -- \
	test "$(get http://127.0.0.2:8080/hello.txt)" = hello
check "one careless proxy: A saw it once" -- test "$(lines $TMPD/A.log)" -eq 1

# --- hop limit --------------------------------------------------------------
kill_pid $PID_A; kill_pid $PID_B
"$SR" up --cgroup "$CG" --max-hops 1 >/dev/null
"$SR" service add B --listen 127.0.0.1:7002 --listen '[::1]:7002' \
	--owner-cgroup "$CG/p-B" >/dev/null
"$SR" rule add --service B --dst 127.0.0.0/8 --dport 8080 --weight 100 >/dev/null
: > "$TMPD/A.log"; : > "$TMPD/B.log"
proxy A 7001
proxy B 7002
get http://127.0.0.2:8080/hello.txt >/dev/null
check "max-hops 1: A's onward connect fails with ELOOP" -- \
	test "$(jfield $TMPD/A.log 0 errno)" = 40
check "max-hops 1: B never sees it" -- test "$(lines $TMPD/B.log)" -eq 0
check "max-hops 1: counted in status" -- \
	sh -c "'$SR' -j status | grep -q '\"hop_limit\":[1-9]'"
check "max-hops 1: other connections are unaffected" -- \
	test "$(get http://127.0.0.3:8080/hello.txt)" = hello
"$SR" up --cgroup "$CG" --max-hops 8 >/dev/null

# --- what the socket options refuse ----------------------------------------
"$SR" service add P --listen 127.0.0.1:7100 --owner-cgroup "$CG/p-P" >/dev/null
"$SR" rule add --service P --dst 127.0.0.9 --dport 9000 >/dev/null
in_cg p-P timeout 20 $PROBE accept 127.0.0.1:7100 "$TMPD/rec" > "$TMPD/probe.out" 2>&1 &
PROBE_PID=$!; PIDS="$PIDS $!"
for i in $(seq 100); do [ -e "$TMPD/rec.ready" ] && break; sleep 0.05; done
in_cg app python3 -c 'import socket; socket.create_connection(("127.0.0.9", 9000)).recv(1)' 2>/dev/null
wait $PROBE_PID
while read -r line; do
	case "$line" in
	"ok "*) ok 0 "sockopt: ${line#ok }" ;;
	"not ok "*) ok 1 "sockopt: ${line#not ok }" ;;
	*) echo "# $line" ;;
	esac
done < "$TMPD/probe.out"
check "sockopt: the probe ran its checks" -- grep -q "^ok issued records" "$TMPD/probe.out"
# The option hooks run where the proxies run (lib/scope.c): in an
# application's cgroup the kernel refuses the level itself.
check "sockopt: nobody (uid 65534) in the application cgroup setting records: ENOPROTOOPT" -- \
	test "$(in_cg app $PROBE set "$TMPD/rec" 65534)" = ENOPROTOOPT
check "sockopt: root in the application cgroup setting them: ENOPROTOOPT" -- \
	test "$(in_cg app $PROBE set "$TMPD/rec")" = ENOPROTOOPT
mkdir -p "$CG/p-P2"
"$SR" service add P2 --listen 127.0.0.1:7101 --owner-cgroup "$CG/p-P2" >/dev/null
check "sockopt: nobody in another service's owner cgroup setting P's records gets EACCES" -- \
	test "$(in_cg p-P2 $PROBE set "$TMPD/rec" 65534)" = EACCES
"$SR" service del P2 >/dev/null
check "sockopt: once their flow has ended, not even root may set them (ESTALE)" -- \
	test "$(in_cg p-P $PROBE set "$TMPD/rec")" = ESTALE
check "sockopt: a socket that was not redirected gives ENOENT" -- \
	test "$(in_cg p-P $PROBE query)" = ENOENT
check "sockopt: query (option 5) on a socket that was not redirected: ENOENT" -- \
	test "$(in_cg p-P $PROBE query 5)" = ENOENT
check "sockopt: in the application cgroup, the kernel's own EOPNOTSUPP" -- \
	test "$(in_cg app $PROBE query)" = ENOTSUP
check "sockopt: nobody in the application cgroup: context, records, query all EOPNOTSUPP" -- \
	test "$(for o in 2 1 5; do in_cg app setpriv --reuid=65534 --regid=65534 --clear-groups \
		/usr/bin/python3 "$top/tests/helpers/probe.py" query $o; done | tr '\n' ' ')" = \
		"ENOTSUP ENOTSUP ENOTSUP "
check "sockopt: outside the attached cgroup, the kernel's own EOPNOTSUPP" -- \
	test "$($PROBE query)" = ENOTSUP
check "sockopt: refusals are counted" -- \
	sh -c "'$SR' -j status | grep -q '\"bad_records\":[1-9]' && '$SR' -j status | grep -q '\"denied\":[1-9]'"
"$SR" service del P >/dev/null

# --- rules: permit, ports, uid, cgroup, weight order, deletion -------------
clear_rules
: > "$TMPD/A.log"; : > "$TMPD/B.log"
"$SR" rule add --service A --dst 127.0.0.2 --dport 8080 --weight 200 >/dev/null
permit=$("$SR" rule add --permit --dst 127.0.0.2/32 --weight 300 | awk '{print $2}')
get http://127.0.0.2:8080/hello.txt >/dev/null
check "permit (300) over redirect (200): not redirected" -- test "$(lines $TMPD/A.log)" -eq 0
"$SR" rule del "$permit" >/dev/null
get http://127.0.0.2:8080/hello.txt >/dev/null
check "permit deleted: redirected again" -- test "$(lines $TMPD/A.log)" -eq 1

clear_rules; : > "$TMPD/A.log"
"$SR" rule add --service A --proto tcp --dport 8081-8082 >/dev/null
check "port range 8081-8082: 8081 answers through A" -- \
	test "$(get http://127.0.0.3:8081/hello.txt)" = hello
check "port range: 8081 was redirected" -- test "$(lines $TMPD/A.log)" -eq 1
get http://127.0.0.3:8083/hello.txt >/dev/null
check "port range: 8083 was not" -- test "$(lines $TMPD/A.log)" -eq 1

clear_rules; : > "$TMPD/A.log"
"$SR" rule add --service A --uid 65534 --dst 127.0.0.4 >/dev/null
get http://127.0.0.4:8080/hello.txt >/dev/null
check "uid 65534 rule: root's connect not redirected" -- test "$(lines $TMPD/A.log)" -eq 0
check "uid 65534 rule: nobody's connect answers" -- test "$(in_cg app setpriv \
	--reuid=65534 --regid=65534 --clear-groups curl -s -m 5 http://127.0.0.4:8080/hello.txt)" = hello
check "uid 65534 rule: nobody's connect was redirected, context uid 65534" -- \
	test "$(jfield $TMPD/A.log 0 uid)" = 65534

clear_rules; : > "$TMPD/A.log"
mkdir -p "$CG/app2"
"$SR" rule add --service A --cgroup "$CG/app2" --dst 127.0.0.5 >/dev/null
get http://127.0.0.5:8080/hello.txt app >/dev/null
check "cgroup rule: another cgroup's connect not redirected" -- test "$(lines $TMPD/A.log)" -eq 0
get http://127.0.0.5:8080/hello.txt app2 >/dev/null
check "cgroup rule: app2's connect redirected" -- test "$(lines $TMPD/A.log)" -eq 1

clear_rules; : > "$TMPD/A.log"; : > "$TMPD/B.log"
"$SR" rule add --service A --dst 127.0.0.6 --weight 100 >/dev/null
"$SR" rule add --service B --dst 127.0.0.6 --weight 200 >/dev/null
check "weight order: B (200) then A (100), body intact" -- same_blob http://127.0.0.6:8080/blob
check "weight order: B first at hop 1" -- test "$(jfield $TMPD/B.log 0 hop)" = 1
check "weight order: A second, chain [B, A]" -- \
	test "$(jfield $TMPD/A.log 0 '(hop, chain)')" = "(2, [$(sid B), $(sid A)])"
"$SR" service del B >/dev/null
: > "$TMPD/A.log"; : > "$TMPD/B.log"
get http://127.0.0.6:8080/hello.txt >/dev/null
check "service B deleted: its rule is gone, A alone takes the flow" -- \
	test "$(lines $TMPD/B.log)$(lines $TMPD/A.log)" = 01
clear_rules; : > "$TMPD/A.log"
get http://127.0.0.6:8080/hello.txt >/dev/null
check "rules deleted: nothing redirected" -- test "$(lines $TMPD/A.log)" -eq 0
check "no live flows left" -- sh -c "'$SR' -j status | grep -q '\"live_flows\":0'"
done_testing
