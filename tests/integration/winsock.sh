#!/bin/bash
# The Winsock layer against the real redirect layer: a proxy written the
# Windows way (tests/helpers/wsa_proxy.c, WSAIoctl + the three SIO_*_WFP_*
# codes) relays curl, alone and chained with sockredir-relay, in both
# orders, over IPv4 and IPv6.
#
#   app (curl) --connect 127.0.0.2:8080--> [connect hook]
#      \--> first service  127.0.0.1:7001 --SET records, connect-->
#      \--> second service 127.0.0.1:7002 --SET records, connect--> srv :8080
#
# Each proxy runs in its own child cgroup, which is its service's owner.
#
# Then UDP, WFP's datagram model: a Windows-style UDP service
# (tests/helpers/wsa_udp_proxy.c: IP_WFP_REDIRECT_* options, WSARecvMsg,
# WSASendMsg) chained with sockredir-relay --udp, IPv4 and IPv6.
. "$(dirname "$0")/lib.sh"

POOL6=fd53::/112
setup --udp-pool6 $POOL6
nsenter --net=/run/netns/$NS ip -6 route add local $POOL6 dev lo
WSA=$HELPERS/wsa_proxy
WSAU=$HELPERS/wsa_udp_proxy
chmod 755 "$TMPD"
mkdir -p "$TMPD/www"
head -c 200000 /dev/urandom > "$TMPD/www/blob"
bg srv python3 -u -m http.server 8080 --bind :: --directory "$TMPD/www" \
	2> "$TMPD/srv.log"
wait_port 8080

get_blob() {	# get_blob URL: the body arrives intact, as curl in app sees it
	in_cg app curl -gsf -m 10 "$1" | cmp -s - "$TMPD/www/blob"
}
requests() { grep -c '"GET /blob' "$TMPD/srv.log"; }
field() { sed -n "$2p" "$1" | tr ' ' '\n' | sed -n "s/^$3=//p"; }
service() {	# service NAME PORT: register NAME, owned by cgroup p-NAME
	mkdir -p "$CG/p-$1"
	"$SR" service add "$1" --listen 127.0.0.1:$2 --listen "[::1]:$2" \
		--owner-cgroup "$CG/p-$1" >/dev/null
}
rules() {	# rules NAME WEIGHT: NAME takes port 8080 on 127.0.0.2 and ::1
	"$SR" rule add --service "$1" --dst 127.0.0.2/32 --dport 8080 \
		--weight "$2" >/dev/null &&
	"$SR" rule add --service "$1" --dst ::1/128 --dport 8080 \
		--weight "$2" >/dev/null
}
wsa() {		# wsa NAME PORT [ARGS...]: a Windows-style proxy in p-NAME
	local n=$1 p=$2; shift 2
	bg "p-$n" "$WSA" --name "$n" --log "$TMPD/$n.log" "$@" \
		127.0.0.1:$p "[::1]:$p"
	wait_port "$p"
}
relay() {	# relay NAME PORT: the native sockredir-relay in p-NAME
	bg "p-$1" "$RELAY" --service "$1" --listen 127.0.0.1:$2 \
		--listen "[::1]:$2" --log "$TMPD/$1.log" -q
	wait_port "$2"
}
# kill_role ROLE: end what runs in cgroup ROLE, by the pids in it (the pid
# bg remembers is the shell around the command), and wait until it is gone.
kill_role() {
	local p
	for p in $(cat "$CG/$1/cgroup.procs" 2>/dev/null); do
		kill "$p" 2>/dev/null
	done
	for p in $(seq 100); do
		[ -s "$CG/$1/cgroup.procs" ] || return 0
		sleep 0.05
	done
}
stop() { kill_role "p-$1"; "$SR" service del "$1" >/dev/null; }
# finished PID ROLE: wait up to 10 s for a background job, then end it.
finished() {
	local i p
	for i in $(seq 200); do
		kill -0 "$1" 2>/dev/null || break
		sleep 0.05
	done
	kill_role "$2"
	wait "$1"
}
conformance_lines() {	# conformance_lines FILE PREFIX: the helper's checks as TAP
	local line
	while read -r line; do
		case $line in
		"ok - "*) ok 0 "$2${line#ok - }" ;;
		"not ok - "*) ok 1 "$2${line#not ok - }" ;;
		"#"*) echo "$line" ;;
		esac
	done < "$1"
}
one_flow_at() {	# one_flow_at LOG HOP DST: one line, at that hop, to DST
	wait_lines "$1" 1 && [ "$(lines "$1")" -eq 1 ] &&
	[ "$(field "$1" 1 hop)" = "$2" ] && [ "$(field "$1" 1 dst)" = "$3" ]
}
relay_flows_at() {	# relay_flows_at LOG N HOP: N JSON lines, chains of HOP
	local i
	wait_lines "$1" "$2" && [ "$(lines "$1")" -eq "$2" ] || return 1
	for i in $(seq 0 $(($2 - 1))); do
		[ "$(jfield "$1" "$i" "len(chain)")" = "$3" ] || return 1
	done
}
wsa_flow_ids() { sed 's/.*flow_id=\([0-9]*\).*/\1/' "$1" | sort; }
relay_flow_ids() {
	local i
	for i in $(seq 0 $(($(lines "$1") - 1))); do jfield "$1" "$i" flow_id; done | sort
}

# --- conformance on a really redirected socket ---------------------------
service W 7001
rules W 100
bg p-W "$WSA" --conformance --name W --log "$TMPD/W.log" \
	--expect-dst 127.0.0.2:8080 --expect-hop 1 \
	--dump-records "$TMPD/records" 127.0.0.1:7001 '[::1]:7001' \
	> "$TMPD/conf.out" 2>&1
PID_W=$LAST_PID
wait_port 7001
check "conformance: curl's body arrives through the checking proxy" -- \
	get_blob http://127.0.0.2:8080/blob
finished "$PID_W" p-W; conf_status=$?
conformance_lines "$TMPD/conf.out" ""
check "conformance: the helper ran every check and exited 0" -- \
	test "$conf_status" -eq 0 -a "$(grep -c '^ok - ' "$TMPD/conf.out")" -ge 38
chmod 644 "$TMPD/records"
# The option hooks run in the owners' cgroups only (lib/scope.c): in an
# application's the layer is not there for the caller at all.
check "SET: an application (nobody in app) -> WSAEOPNOTSUPP, no layer there" -- \
	test "$(in_cg app setpriv --reuid=65534 --regid=65534 --clear-groups \
		"$WSA" --try-set "$TMPD/records")" = 10045
service X 7009
check "SET: caller neither root nor W's owner (nobody in p-X) -> WSAEACCES" -- \
	test "$(in_cg p-X setpriv --reuid=65534 --regid=65534 --clear-groups \
		"$WSA" --try-set "$TMPD/records")" = 10013
# Records are bound to their flow (ESTALE once it ended, WSAEINVAL here):
# the conformance helper set them while its flow was open.
check "SET: the same records after their flow ended, as root -> WSAEINVAL" -- \
	test "$(in_cg p-X "$WSA" --try-set "$TMPD/records")" = 10022
"$SR" service del X >/dev/null
check "SET: ... and as the service's owner -> WSAEINVAL" -- \
	test "$(in_cg p-W setpriv --reuid=65534 --regid=65534 --clear-groups \
		"$WSA" --try-set "$TMPD/records")" = 10022
"$SR" service del W >/dev/null

# --- one Windows-style service -------------------------------------------
service A 7001
rules A 200
wsa A 7001
check "v4: body intact through the Windows-style proxy" -- \
	get_blob http://127.0.0.2:8080/blob
check "v4: it saw the flow once, at hop 1, to the original destination" -- \
	one_flow_at "$TMPD/A.log" 1 127.0.0.2:8080
check "v4: it relayed the whole body and read the whole context" -- \
	test "$(field "$TMPD/A.log" 1 down)" -gt 200000 -a \
	     "$(field "$TMPD/A.log" 1 context)" -gt 256
: > "$TMPD/A.log"
check "v6: body intact through the Windows-style proxy" -- \
	get_blob 'http://[::1]:8080/blob'
check "v6: it saw the flow once, at hop 1, to [::1]:8080" -- \
	one_flow_at "$TMPD/A.log" 1 '[::1]:8080'

# --- chained: Windows-style A (200) then sockredir-relay B (100) -----------
service B 7002
rules B 100
relay B 7002
: > "$TMPD/A.log"
before=$(requests)
for i in 1 2 3; do
	check "A then relay: body $i intact" -- get_blob http://127.0.0.2:8080/blob
done
check "A then relay: A saw each flow once, at hop 1" -- \
	eval 'wait_lines "$TMPD/A.log" 3 && [ "$(lines "$TMPD/A.log")" -eq 3 ] &&
	      [ "$(cut -d" " -f3 "$TMPD/A.log" | sort -u)" = hop=1 ]'
check "A then relay: the relay saw each flow once, at hop 2" -- \
	relay_flows_at "$TMPD/B.log" 3 2
check "A then relay: the same flow ids on both hops" -- \
	eval '[ "$(wsa_flow_ids "$TMPD/A.log")" = "$(relay_flow_ids "$TMPD/B.log")" ]'
check "A then relay: the server got each request once (no loop)" -- \
	test $(($(requests) - before)) -eq 3
: > "$TMPD/A.log"; : > "$TMPD/B.log"
check "A then relay, v6: body intact" -- get_blob 'http://[::1]:8080/blob'
check "A then relay, v6: A at hop 1, the relay at hop 2, once each" -- \
	eval 'one_flow_at "$TMPD/A.log" 1 "[::1]:8080" &&
	      relay_flows_at "$TMPD/B.log" 1 2'
stop A; stop B

# --- the other way round: sockredir-relay C (200) then Windows-style D -----
service C 7001
rules C 200
service D 7002
rules D 100
relay C 7001
wsa D 7002
before=$(requests)
check "relay then D: body intact" -- get_blob http://127.0.0.2:8080/blob
check "relay then D: D took the relay's records: hop 2, original dst" -- \
	one_flow_at "$TMPD/D.log" 2 127.0.0.2:8080
check "relay then D: the relay saw it once, the same flow" -- \
	eval 'relay_flows_at "$TMPD/C.log" 1 1 &&
	      [ "$(relay_flow_ids "$TMPD/C.log")" = "$(wsa_flow_ids "$TMPD/D.log")" ]'
check "relay then D: the server got it once" -- test $(($(requests) - before)) -eq 1
stop C; stop D

# --- two Windows-style services: E (200) then F (100) ----------------------
service E 7001
rules E 200
service F 7002
rules F 100
wsa E 7001
wsa F 7002
before=$(requests)
check "E then F: body intact" -- get_blob http://127.0.0.2:8080/blob
check "E then F: E saw it once at hop 1, F once at hop 2, same flow" -- \
	eval 'one_flow_at "$TMPD/E.log" 1 127.0.0.2:8080 &&
	      one_flow_at "$TMPD/F.log" 2 127.0.0.2:8080 &&
	      [ "$(wsa_flow_ids "$TMPD/E.log")" = "$(wsa_flow_ids "$TMPD/F.log")" ]'
check "E then F: the server got it once" -- test $(($(requests) - before)) -eq 1

# --- conformance at hop 2, IPv6: records that already carry a chain -------
kill_role p-F
: > "$TMPD/E.log"
bg p-F "$WSA" --conformance --name F --log "$TMPD/F2.log" \
	--expect-dst '[::1]:8080' --expect-hop 2 127.0.0.1:7002 '[::1]:7002' \
	> "$TMPD/conf2.out" 2>&1
PID_F=$LAST_PID
wait_port 7002
check "hop 2, v6: body intact through E and the checking F" -- \
	get_blob 'http://[::1]:8080/blob'
finished "$PID_F" p-F; conf_status=$?
conformance_lines "$TMPD/conf2.out" "hop 2, v6: "
check "hop 2, v6: the helper ran every check and exited 0" -- \
	test "$conf_status" -eq 0 -a "$(grep -c '^ok - ' "$TMPD/conf2.out")" -ge 38
check "hop 2, v6: E saw that flow once, at hop 1" -- \
	one_flow_at "$TMPD/E.log" 1 '[::1]:8080'
stop E; stop F

# --- UDP: the Windows-style datagram service, then sockredir-relay --udp ---
#
#   app --sendto D--> [sendmsg hook] --> endpoint, service WU :7101
#      (wsa_udp_proxy: records + context as control data on the first
#       datagram, WSASendMsg with the records upstream)
#      \--> service RB :7102 (sockredir-relay --udp) --> D
start_dnsmasq
bg srv python3 "$top/tests/helpers/udp_peer.py" echo 127.0.0.11:7 '[::1]:7'
wait_port 53 udp
wait_port 7 udp
service WU 7101
service RB 7102
for dst in "127.0.0.10/32 --dport 53" "::1/128 --dport 53" \
	   "127.0.0.11/32 --dport 7" "::1/128 --dport 7"; do
	"$SR" rule add --service WU --proto udp --dst $dst --weight 200 >/dev/null
	"$SR" rule add --service RB --proto udp --dst $dst --weight 100 >/dev/null
done
bg p-RB "$RELAY" --service RB --listen 127.0.0.1:7102 --listen '[::1]:7102' \
	--udp --udp-idle 300 --log "$TMPD/RB.log" -q
wait_port 7102 udp
# One socket, three datagrams q1 q2 q3 to DST; prints "SOURCE BODY" per answer.
cat > "$TMPD/three.py" <<'EOF'
import socket, sys
host, port = sys.argv[1].rsplit(":", 1)
host = host.strip("[]")
s = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(5)
for q in ("q1", "q2", "q3"):
    s.sendto(q.encode(), (host, int(port)))
for _ in range(3):
    data, src = s.recvfrom(100)
    print("%s:%d %s" % (src[0], src[1], data.decode()))
EOF
# relay_flow LINE EXPR: EXPR over the relay's flow-log line LINE
relay_flow() { jfield "$TMPD/RB.log" "$@"; }
udp_conformance() {	# udp_conformance DST SOURCE PREFIX: the checking service
	local pid st out want
	: > "$TMPD/RB.log"
	bg p-WU "$WSAU" --conformance --name WU --port 7101 \
		--log "$TMPD/WU.log" --expect-dst "$1" --expect-hop 1 \
		--expect-comm python3 --dump-records "$TMPD/urecords" \
		> "$TMPD/uconf.out" 2>&1
	pid=$LAST_PID
	wait_port 7101 udp
	out=$(in_cg app python3 "$TMPD/three.py" "$1" | sort)
	want=$(printf '%s %s|q1\n%s %s|q2\n%s %s|q3' "$2" "$1" "$2" "$1" "$2" "$1")
	check "$3: three answers, each from the original destination" -- \
		test "$out" = "$want"
	finished "$pid" p-WU; st=$?
	conformance_lines "$TMPD/uconf.out" "$3: "
	check "$3: the helper ran every check and exited 0" -- \
		test "$st" -eq 0 -a "$(grep -c '^ok - ' "$TMPD/uconf.out")" -ge 71
	check "$3: the relay logged the flow once" -- \
		eval 'wait_lines "$TMPD/RB.log" 1 && [ "$(lines "$TMPD/RB.log")" -eq 1 ]'
	check "$3: ... records [WU, RB], python3, to $1, 3 datagrams each way" -- \
		test "$(relay_flow 0 '(chain, app["comm"], dst, datagrams_up, datagrams_down)')" = \
			"([$(sid WU), $(sid RB)], 'python3', '$1', 3, 3)"
}
udp_conformance 127.0.0.11:7 127.0.0.11:7 "udp conformance v4"
udp_conformance '[::1]:7' ::1:7 "udp conformance v6"
# Records as WSASendMsg control data are SET's: a sender neither root nor
# the service's owner is refused before anything leaves (an application's
# socket has no option hooks: the layer is absent there; another owner's
# has them: access denied); the owner (here as nobody, in WU's owner
# cgroup) may, while the flow lives.
chmod 644 "$TMPD/urecords"
check "udp: WSASendMsg with a flow's records, as nobody in app -> WSAEOPNOTSUPP, nothing sent" -- \
	test "$(in_cg app setpriv --reuid=65534 --regid=65534 --clear-groups \
		"$WSAU" --try-send "$TMPD/urecords")" = "10045 0"
service Y 7011
check "udp: ... as nobody in another service's owner cgroup -> WSAEACCES, nothing sent" -- \
	test "$(in_cg p-Y setpriv --reuid=65534 --regid=65534 --clear-groups \
		"$WSAU" --try-send "$TMPD/urecords")" = "10013 0"
"$SR" service del Y >/dev/null
check "udp: ... as nobody in WU's owner cgroup -> sent" -- \
	test "$(in_cg p-WU setpriv --reuid=65534 --regid=65534 --clear-groups \
		"$WSAU" --try-send "$TMPD/urecords")" = "0 1"

# --- UDP: dig as nobody through the Windows-style service and the relay ---
: > "$TMPD/WU.log"; : > "$TMPD/RB.log"
bg p-WU "$WSAU" --name WU --port 7101 --log "$TMPD/WU.log"
wait_port 7101 udp
udp_dig() {	# udp_dig LINE SERVER TYPE ANSWER DST PREFIX
	local n=$(($1 + 1)) pid
	bg app setpriv --reuid=65534 --regid=65534 --clear-groups \
		dig +short +tries=1 +time=3 "@$2" host.example.test "$3" \
		> "$TMPD/dig.out"
	pid=$LAST_PID	# dig's own: sh, nsenter and setpriv exec into it
	wait "$pid"
	check "$6: dig's answer arrives through WU and the relay" -- \
		test "$(cat "$TMPD/dig.out")" = "$4"
	check "$6: WU saw one flow, at hop 1, to $5" -- \
		test "$(lines "$TMPD/WU.log"):$(field "$TMPD/WU.log" $n hop):$(field "$TMPD/WU.log" $n dst)" = "$n:1:$5"
	check "$6: ... from dig: its pid, uid nobody" -- \
		test "$(field "$TMPD/WU.log" $n comm):$(field "$TMPD/WU.log" $n pid):$(field "$TMPD/WU.log" $n uid)" = "dig:$pid:65534"
	check "$6: the relay logged it" -- wait_lines "$TMPD/RB.log" $n
	check "$6: ... dig as nobody, records [WU, RB], to $5" -- \
		test "$(relay_flow $1 '(chain, app["comm"], app["uid"], dst)')" = \
			"([$(sid WU), $(sid RB)], 'dig', 65534, '$5')"
	check "$6: one flow id along the chain" -- \
		test "$(field "$TMPD/WU.log" $n flow_id)" = "$(relay_flow $1 flow_id)"
}
udp_dig 0 127.0.0.10 A 192.0.2.7 127.0.0.10:53 "udp dig v4"
udp_dig 1 ::1 AAAA 2001:db8::7 '[::1]:53' "udp dig v6"
check "udp dig v6: WU's flow endpoint is in the IPv6 pool" -- \
	eval 'case $(field "$TMPD/WU.log" 2 endpoint) in fd53::*) true ;; *) false ;; esac'
stop WU; stop RB

done_testing
