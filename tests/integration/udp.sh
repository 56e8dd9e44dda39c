#!/bin/bash
# UDP flows end to end: connected and unconnected, IPv4, IPv6, IPv4-mapped.
#
#   app (dig, udp_peer.py) --sendto/connect D--> [sendmsg/connect hooks]
#      \--> endpoint 127.83.x.y:PORT (fd53::x:PORT) --> proxy U on [::]:PORT
#           --records--> D (dnsmasq on 127.0.0.10 and ::1, echo servers)
#   replies: proxy --from the endpoint--> app [recvmsg hook: from D]
#
# Proxies are tests/helpers/udp_proxy.py: plain socket calls only.
. "$(dirname "$0")/lib.sh"
POOL6=fd53::/112
setup --udp-pool6 $POOL6
T0=$(date +%s)
P="python3 $top/tests/helpers/udp_proxy.py"
PEER="python3 $top/tests/helpers/udp_peer.py"
# as nobody, with the system's python (root's may be in a private place)
asnobody() { in_cg app setpriv --reuid=65534 --regid=65534 --clear-groups "$@"; }
NPEER="/usr/bin/python3 $top/tests/helpers/udp_peer.py"
nsx() { nsenter --net=/run/netns/$NS "$@"; }
nsx ip -6 route add local $POOL6 dev lo
for a in fd00::11 fd00::12 fd00::30; do	# nodad: usable at once
	nsx ip addr add $a/128 dev lo nodad
done

proxy() {	# proxy NAME PORT [OPTIONS]: a UDP proxy in cgroup p-NAME
	local name=$1 port=$2; shift 2
	bg "p-$name" $P --name "$name" --port "$port" --log "$TMPD/$name.log" "$@"
	eval "PID_$name=$LAST_PID"
	wait_port "$port" udp
}
svc() {		# svc NAME PORT [OPTIONS]: register service NAME
	local name=$1 port=$2; shift 2
	mkdir -p "$CG/p-$name"
	"$SR" service add "$name" --listen 127.0.0.1:$port --listen "[::1]:$port" \
		--owner-cgroup "$CG/p-$name" "$@" >/dev/null
}
# flows NAME: how many flows proxy NAME logged; field NAME N EXPR
flows() { lines "$TMPD/$1.log"; }
field() { jfield "$TMPD/$1.log" "$2" "$3"; }
status() { "$SR" -j status | python3 -c "import json,sys; print(json.load(sys.stdin)[sys.argv[1]])" "$1"; }
is() {		# is SERVICE COUNTER N: service SERVICE's COUNTER is N
	test "$(counter "$1" "$2")" -eq "$3"
}
live_is() { test "$(status live_udp_flows)" -eq "$1"; }
counters() { "$SR" -j status | python3 -c "import json,sys; print(json.load(sys.stdin)['counters'][sys.argv[1]])" "$1"; }
same() { [ "$1" = "$2" ] || { echo "got '$1', want '$2'"; return 1; }; }
poll() {	# poll CMD...: until CMD succeeds, 10 s at most
	local i
	for i in $(seq 200); do "$@" && return 0; sleep 0.05; done
	return 1
}

# --- bad words: exit status 2, nothing changes ---------------------------
st2() { "$@" >/dev/null 2>&1; test $? -eq 2; }
for bad in "--udp-pool4 10.83.0.0/16" "--udp-pool4 127.83.0.1/16" \
	   "--udp-pool4 127.83.0.0/31" "--udp-pool6 fd53::/64" \
	   "--udp-pool6 fd53::/112x" "--udp-uid-max 0" "--udp-uid-max 70000" \
	   "--udp-pool6"; do
	check "up $bad: exit 2" -- st2 "$SR" up --cgroup "$CG" $bad
done
check "up again with another pool: refused while flows may hold endpoints" -- \
	sh -c "! '$SR' up --cgroup '$CG' --udp-pool4 127.84.0.0/16 >/dev/null 2>&1"
check "the pools stand as loaded" -- \
	test "$(status udp_pool_size):$(status udp_uid_max)" = 65536:16384
mkdir -p "$CG/p-X"
for bad in 0 -1 1x 86401 ''; do
	check "service add --udp-idle '$bad': exit 2" -- \
		st2 "$SR" service add X --listen 127.0.0.1:5399 --udp-idle "$bad"
done
check "rule add --proto sctp: exit 2" -- st2 "$SR" rule add --block --proto sctp
check "... and nothing was added" -- \
	test "$("$SR" -j service list)$("$SR" -j rule list)" = "[][]"
"$SR" service add X --listen 127.0.0.1:5399 >/dev/null
check "a service's UDP idle timeout is 60 s unless given" -- \
	same "$(counter X udp_idle)" 60
"$SR" service del X >/dev/null

# --- servers ------------------------------------------------------------
start_dnsmasq
bg srv $PEER echo 127.0.0.11:7 127.0.0.12:7 127.0.0.30:7 127.0.0.41:7 \
	127.0.0.33:7 127.0.0.34:7 127.0.0.35:7 127.0.0.36:7 127.0.0.37:7 \
	'[fd00::11]:7' '[fd00::12]:7' '[fd00::30]:7'
wait_port 53 udp
wait_port 7 udp

# Long idle timeouts here, so that the flood's baseline holds still.
svc U 5300 --udp-idle 600
proxy U 5300
"$SR" rule add --service U --proto udp --dst 127.0.0.10/32 --dport 53 >/dev/null
"$SR" rule add --service U --proto udp --dst ::1/128 --dport 53 >/dev/null
"$SR" rule add --service U --proto udp --dst 127.0.0.0/24 --dport 7 >/dev/null
"$SR" rule add --service U --proto udp --dst fd00::/64 --dport 7 >/dev/null

# --- dig, connected UDP, IPv4 and IPv6 ------------------------------------
dig() { in_cg app dig +short +tries=1 +time=3 "$@"; }
check "dig v4: the answer arrives through U" -- \
	test "$(dig @127.0.0.10 host.example.test A)" = 192.0.2.7
check "dig v4: U saw one flow, to 127.0.0.10:53, from dig" -- \
	test "$(field U 0 '(remote, comm, protocol, hop)')" = "('127.0.0.10:53', 'dig', 17, 1)"
dig_from() {	# dig_from SERVER: dig took its answer from SERVER, no other source
	local out; out=$(in_cg app dig +tries=1 +time=3 @"$1" host.example.test A)
	echo "$out" | grep -q "^;; SERVER: $1#53($1)" &&
		! echo "$out" | grep -q 'unexpected source'
}
check "dig v4: its endpoint is in the IPv4 pool, 127.83.0.0/16" -- \
	test "$(field U 0 'endpoint.replace("::ffff:", "").startswith("127.83.")')" = True
check "dig v4: the context's local address is dig's socket" -- \
	test "$(field U 0 'local == app.replace("::ffff:", "")')" = True
check "dig v6: the answer arrives through U" -- \
	test "$(dig @::1 host.example.test AAAA)" = 2001:db8::7
check "dig v6: U saw it, to [::1]:53, from dig" -- \
	test "$(field U 1 '(remote, comm)')" = "('::1:53', 'dig')"
check "dig v6: its endpoint is in the IPv6 pool" -- \
	test "$(field U 1 'endpoint.startswith("fd53::")')" = True
check "dig v4: the answer's source is the resolver, 127.0.0.10:53" -- dig_from 127.0.0.10
check "dig v6: the answer's source is the resolver, [::1]:53" -- dig_from ::1
live_U=$(counter U udp_flows)
check "connected v4: getpeername shows the original peer, the answer is its" -- \
	test "$(in_cg app $PEER connected 127.0.0.11:7)" = "127.0.0.11:7 127.0.0.11:7|c"
check "connected v6: likewise" -- \
	test "$(in_cg app $PEER connected '[fd00::12]:7')" = "[fd00::12]:7 [fd00::12]:7|c"
check "connected v4-mapped: likewise, mapped" -- \
	test "$(in_cg app $PEER connected '[::ffff:127.0.0.12]:7')" = \
		"[::ffff:127.0.0.12]:7 127.0.0.12:7|c"
n_conn=$(flows U)
check "connected: the three flows ended with their sockets" -- \
	poll is U udp_flows "$live_U"

# --- sockredir-relay --udp -------------------------------------------------
"$SR" rule del 1 >/dev/null; "$SR" rule del 2 >/dev/null	# U's DNS rules
svc R 5310 --udp-idle 600	# its flows hold still until the flood is over
bg p-R "$RELAY" --service R --listen 127.0.0.1:5310 --listen '[::1]:5310' \
	--udp --udp-idle 300 --deny-host '*.denied.test' --deny-host blocked.example \
	--log "$TMPD/relay.log" -q
wait_port 5310 udp
"$SR" rule add --service R --proto udp --dst 127.0.0.10/32 --dport 53 >/dev/null
"$SR" rule add --service R --proto udp --dst ::1/128 --dport 53 >/dev/null
rlog() { jfield "$TMPD/relay.log" "$@"; }
check "relay v4: dig's answer arrives through sockredir-relay --udp" -- \
	test "$(dig @127.0.0.10 host.example.test A)" = 192.0.2.7
check "relay v4: one flow logged when idle, dig the application, counts" -- \
	wait_lines "$TMPD/relay.log" 1
check "relay v4: ... to 127.0.0.10:53, 1 datagram each way, end idle" -- \
	test "$(rlog 0 '(dst, app["comm"], proto, datagrams_up, datagrams_down, end, host)')" = \
		"('127.0.0.10:53', 'dig', 'udp', 1, 1, 'idle', 'host.example.test')"
check "relay v4: bytes each way" -- test "$(rlog 0 'bytes_up > 20 and bytes_down > bytes_up')" = True
check "relay v6: dig's answer arrives" -- \
	test "$(dig @::1 host.example.test AAAA)" = 2001:db8::7
wait_lines "$TMPD/relay.log" 2
check "relay v6: logged, to [::1]:53, from dig" -- \
	test "$(rlog 1 '(dst, app["comm"])')" = "('[::1]:53', 'dig')"
refused() { in_cg app dig +tries=1 +time=3 @127.0.0.10 "$1" | grep -q 'status: REFUSED'; }
check "relay: a query for a denied name is answered REFUSED" -- refused x.denied.test
check "relay: ... and logged denied" -- wait_lines "$TMPD/relay.log" 3
check "relay: ... with its name" -- \
	test "$(rlog 2 '(end, host, datagrams_up)')" = "('denied', 'x.denied.test', 0)"

# QUIC: the SNI of a v1 Initial (tests/helpers/quic_initial.py), sent as nobody.
QI=$top/tests/helpers/quic_initial.py
bg srv python3 "$QI" serve 127.0.0.10:443 "$TMPD/quic.log"
wait_port 443 udp
"$SR" rule add --service R --proto udp --dst 127.0.0.10/32 --dport 443 >/dev/null
rhost_is() {	# rhost_is NAME EXPR WANT: the relay logged one flow for host
	# NAME (its SNI), and EXPR of its line is WANT
	test "$(python3 -c 'import json,sys
d = [j for j in map(json.loads, open(sys.argv[1])) if j.get("host") == sys.argv[2]]
print(len(d) == 1 and eval(sys.argv[3], {}, d[0]))' "$TMPD/relay.log" "$1" "$2")" = "$3"
}
out=$(asnobody /usr/bin/python3 "$QI" send blocked.example 127.0.0.10:443 1)
check "relay QUIC: an Initial naming a denied host gets no answer" -- \
	test "${out#* }" = none
check "relay QUIC: ... logged denied, with its SNI, nothing sent on" -- \
	poll rhost_is blocked.example '(end, dst, datagrams_up)' "('denied', '127.0.0.10:443', 0)"
ok_out=$(asnobody /usr/bin/python3 "$QI" send allowed.example 127.0.0.10:443)
check "relay QUIC: an Initial naming another host reaches the server" -- \
	test "${ok_out#* }" = reply
check "relay QUIC: ... the server saw that one and never the denied one" -- \
	test "$(cat "$TMPD/quic.log")" = "${ok_out% *}"
check "relay QUIC: ... logged with its SNI, one datagram each way" -- \
	poll rhost_is allowed.example '(end, datagrams_up, datagrams_down)' "('idle', 1, 1)"

# --- one unconnected socket, two destinations, one service ---------------
ask_ok() {	# ask_ok DST...: each answer from the destination asked
	local out; out=$(in_cg app $PEER ask "$@")
	echo "$out"
	[ "$(echo "$out" | wc -l)" -eq $# ] || return 1
	echo "$out" | awk '{ split($3, b, "|"); if ($1 != $2 || b[1] != $1 && "[" b[1] "]" != $1) bad = 1 } END { exit bad }'
}
: > "$TMPD/U.log"
check "unconnected v4: two destinations at once, each answer from its own" -- \
	ask_ok 127.0.0.11:7 127.0.0.12:7
check "unconnected v4: U saw two flows, to .11 and .12" -- \
	test "$(flows U):$(field U 0 remote),$(field U 1 remote)" = "2:127.0.0.11:7,127.0.0.12:7"
check "unconnected v4: one application address, two endpoints, two flow ids" -- \
	test "$(field U 0 app)" = "$(field U 1 app)" -a \
	     "$(field U 0 endpoint)" != "$(field U 1 endpoint)" -a \
	     "$(field U 0 flow_id)" != "$(field U 1 flow_id)"
: > "$TMPD/U.log"
check "unconnected v6: two destinations at once, each answer from its own" -- \
	ask_ok '[fd00::11]:7' '[fd00::12]:7'
check "unconnected v6: U saw two flows with their destinations" -- \
	test "$(field U 0 remote),$(field U 1 remote)" = "fd00::11:7,fd00::12:7"
: > "$TMPD/U.log"
out=$(in_cg app $PEER ask '[::ffff:127.0.0.11]:7' '[::ffff:127.0.0.12]:7')
check "unconnected v4-mapped: answers from the mapped destinations" -- \
	test "$(echo "$out" | awk '{ print $2 }' | sort | tr '\n' ' ')" = \
		"[::ffff:127.0.0.11]:7 [::ffff:127.0.0.12]:7 "
check "unconnected v4-mapped: U saw the IPv4 destinations" -- \
	test "$(field U 0 remote),$(field U 1 remote)" = "127.0.0.11:7,127.0.0.12:7"
: > "$TMPD/U.log"
cat > "$TMPD/twins.py" <<'EOF'
import socket
# Two sockets on one address and port, both talking to one destination.
a, b = (socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in "ab")
for s in (a, b):
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", 40007))
    s.connect(("127.0.0.11", 7))
a.send(b"a"); b.send(b"b")
a.settimeout(3); b.settimeout(3)
print(a.recv(100).decode(), b.recv(100).decode())
EOF
check "one address and port, two sockets: each gets its own answer" -- \
	test "$(in_cg app python3 "$TMPD/twins.py")" = "127.0.0.11:7|a 127.0.0.11:7|b"
check "one address and port, two sockets: U saw two flows, two endpoints" -- \
	test "$(flows U)" -eq 2 -a "$(field U 0 app)" = "$(field U 1 app)" -a \
	     "$(field U 0 endpoint)" != "$(field U 1 endpoint)"

# --- an IPv4-only proxy (AF_INET, IP_PKTINFO) --------------------------------------
svc V 5308 --udp-idle 600
proxy V 5308 --v4
"$SR" rule add --service V --proto udp --dst 127.0.0.36/31 --weight 150 >/dev/null
check "IPv4-only proxy: two destinations at once, each answer from its own" -- \
	ask_ok 127.0.0.36:7 127.0.0.37:7
check "IPv4-only proxy: V saw two flows, with their destinations and endpoints" -- \
	same "$(flows V):$(field V 0 remote),$(field V 1 remote):$(field V 0 'endpoint.startswith("127.83.")')" \
		"2:127.0.0.36:7,127.0.0.37:7:True"

# --- the context names the application -----------------------------------------
: > "$TMPD/U.log"
chmod a+rx "$TMPD"
cat > "$TMPD/who.py" <<'EOF'
import os, socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.sendto(b"w", ("127.0.0.11", 7))
s.settimeout(3)
s.recv(100)
print(os.getpid(), os.getuid(), os.getgid())
EOF
who=$(asnobody /usr/bin/python3 "$TMPD/who.py")
check "context: U learnt nobody's pid, uid, gid, comm and cgroup ($who)" -- \
	test "$(field U 0 '(pid, uid, gid, comm, cgroup_id, protocol)')" = \
		"(${who// /, }, 'python3', $(stat -c %i "$CG/app"), 17)"

# --- chains: A then B --------------------------------------------------------
svc A 5301 --udp-idle 600
svc B 5302 --udp-idle 600
proxy A 5301
proxy B 5302
for dst in 127.0.0.30/32 fd00::30/128; do
	"$SR" rule add --service A --proto udp --dst $dst --dport 7 --weight 200 >/dev/null
	"$SR" rule add --service B --proto udp --dst $dst --dport 7 --weight 100 >/dev/null
done
check "chain v4: the answer comes back through A and B" -- ask_ok 127.0.0.30:7
check "chain v4: A and B each saw the flow once" -- \
	test "$(flows A) $(flows B)" = "1 1"
check "chain v4: B's records show [A, B] at hop 2, for the original app" -- \
	test "$(field B 0 '(hop, chain, remote, comm)')" = \
		"(2, [$(sid A), $(sid B)], '127.0.0.30:7', 'python3')"
check "chain v4: one flow id along the chain" -- \
	test "$(field A 0 flow_id)" = "$(field B 0 flow_id)"
check "chain v6: the answer comes back through A and B" -- ask_ok '[fd00::30]:7'
check "chain v6: B's records show [A, B]" -- \
	test "$(field B 1 '(hop, chain, remote)')" = "(2, [$(sid A), $(sid B)], 'fd00::30:7')"
check "chain v6: A and B each saw it once" -- test "$(flows A) $(flows B)" = "2 2"

# K skips what another service inspected: A's onward datagrams to .33 pass
# K by; an application's own to .34 do not.
svc K 5306 --udp-idle 600 --skip-inspected
proxy K 5306
"$SR" rule add --service A --proto udp --dst 127.0.0.33/32 --weight 200 >/dev/null
for dst in 127.0.0.33/32 127.0.0.34/32; do
	"$SR" rule add --service K --proto udp --dst $dst --weight 150 >/dev/null
done
check "skip-inspected: through A, the answer comes from .33" -- ask_ok 127.0.0.33:7
check "skip-inspected: ... and K never saw it (A had)" -- \
	test "$(flows A):$(flows K)" = 3:0
check "skip-inspected: an uninspected flow to .34 goes through K" -- ask_ok 127.0.0.34:7
check "skip-inspected: ... K saw it, at hop 1" -- \
	same "$(flows K):$(field K 0 '(remote, hop)')" "1:('127.0.0.34:7', 1)"

# A block rule on the original application holds on A's onward datagrams:
# nobody's flow to .35 reaches A, whose onward connect is refused; root's
# flow goes through.
"$SR" rule add --service A --proto udp --dst 127.0.0.35/32 --weight 200 >/dev/null
"$SR" rule add --block --proto udp --dst 127.0.0.35/32 --uid 65534 --weight 100 >/dev/null
check "block by the original application: nobody's datagram to .35 leaves" -- \
	test "$(asnobody $NPEER send 127.0.0.35:7)" = OK
check "... and reaches A" -- wait_lines "$TMPD/A.log" 4
check "... A's onward connect for it failed with EPERM" -- \
	test "$(field A 3 '(remote, uid, error)')" = "('127.0.0.35:7', 65534, 'EPERM')"
check "... while root's flow to .35 goes through A" -- ask_ok 127.0.0.35:7
check "... with no error" -- test "$(flows A):$(field A 4 '(uid, "error" in dir())')" = "5:(0, False)"

# --- records are bound to their flow's destination (issue 10) -----------------
# Proxy C gives each flow's records to an upstream socket that connects
# elsewhere (.31, which a rule covers): refused, counted as bad records.
svc C 5305 --udp-idle 1	# its flow ends before the flood's baseline
proxy C 5305 --onward-to 127.0.0.31:7
"$SR" rule add --service C --proto udp --dst 127.0.0.32/32 --dport 7 >/dev/null
"$SR" rule add --permit --proto udp --dst 127.0.0.31/32 >/dev/null
bad=$(counters bad_records)
check "records to another destination: the datagram reaches C" -- \
	test "$(in_cg app $PEER send 127.0.0.32:7)" = OK
check "records to another destination: C logged the flow" -- \
	wait_lines "$TMPD/C.log" 1
check "... logged as EPERM" -- test "$(field C 0 error)" = EPERM
check "... counted as bad records" -- test "$(counters bad_records)" -gt "$bad"
poll is C udp_flows 0
kill_pid $PID_C
"$SR" service del C >/dev/null

# --- block and permit ----------------------------------------------------------
"$SR" rule add --block --proto udp --dst 127.0.0.40/32 --weight 300 >/dev/null
"$SR" rule add --block --dst 127.0.0.42/32 --weight 300 >/dev/null
"$SR" rule add --permit --proto udp --dst 127.0.0.41/32 --weight 300 >/dev/null
check "block udp: sendto fails with EPERM" -- \
	test "$(in_cg app $PEER send 127.0.0.40:7)" = EPERM
check "block udp: connect fails with EPERM" -- \
	test "$(in_cg app $PEER send 127.0.0.40:7 connect)" = EPERM
check "block, protocol any: UDP sendto fails with EPERM" -- \
	test "$(in_cg app $PEER send 127.0.0.42:7)" = EPERM
check "block, protocol any: UDP connect fails with EPERM" -- \
	test "$(in_cg app $PEER send 127.0.0.42:7 connect)" = EPERM
"$SR" rule add --block --proto udp --dst fd00::40/128 --weight 300 >/dev/null
check "block udp v6: sendto fails with EPERM" -- \
	test "$(in_cg app $PEER send '[fd00::40]:7')" = EPERM
check "block udp v6: connect fails with EPERM" -- \
	test "$(in_cg app $PEER send '[fd00::40]:7' connect)" = EPERM
check "block udp v4-mapped: sendto fails with EPERM" -- \
	test "$(in_cg app $PEER send '[::ffff:127.0.0.40]:7')" = EPERM
n=$(flows U)
check "permit over a redirect: the answer comes straight from .41" -- \
	ask_ok 127.0.0.41:7
check "permit over a redirect: U never saw it" -- test "$(flows U)" -eq "$n"

# --- attacks, as nobody --------------------------------------------------------
ep=$(field A 0 endpoint)
check "nobody sending straight to a flow endpoint gets EPERM" -- \
	test "$(asnobody $NPEER send "$ep:5301")" = EPERM
cat > "$TMPD/choose.py" <<'EOF'
import errno, socket, sys
sys.path.insert(0, sys.argv[1])
from udp_proxy import (pack_sockaddr, SOL_SOCKREDIR, SOCKREDIR_FLOW,
                       SOCKREDIR_CONTEXT, CTX_SIZE)
# Select the flow, then read the context: "SELECT CONTEXT", each OK or errno.
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
out = []
for step in range(2):
    try:
        if step == 0:
            s.setsockopt(SOL_SOCKREDIR, SOCKREDIR_FLOW,
                         pack_sockaddr(sys.argv[2], int(sys.argv[3])) +
                         pack_sockaddr(sys.argv[4], int(sys.argv[5])))
        else:
            s.getsockopt(SOL_SOCKREDIR, SOCKREDIR_CONTEXT, CTX_SIZE)
        out.append("OK")
    except OSError as e:
        out.append(errno.errorcode[e.errno])
print(*out)
EOF
app=$(field A 0 app)
sel() { "$@" /usr/bin/python3 "$TMPD/choose.py" "$top/tests/helpers" "${app%:*}" "${app##*:}" "$ep" 5301; }
check "nobody in app selecting A's flow: no option hooks there (ENOPROTOOPT), and no context" -- \
	test "$(sel asnobody)" = "ENOPROTOOPT ENOTSUP"
check "B's proxy (root) selecting A's flow gets EACCES, and no context" -- \
	test "$(sel in_cg p-B)" = "EACCES ENOENT"
check "B's proxy as nobody selecting A's flow gets EACCES, and no context" -- \
	test "$(sel in_cg p-B setpriv --reuid=65534 --regid=65534 --clear-groups)" = "EACCES ENOENT"
check "A's proxy as nobody may select it and read its context" -- \
	test "$(sel in_cg p-A setpriv --reuid=65534 --regid=65534 --clear-groups)" = "OK OK"
check "a wrong application address for the endpoint gets ENOENT, and no context" -- \
	test "$(in_cg p-A python3 "$TMPD/choose.py" "$top/tests/helpers" 127.0.0.1 9 "$ep" 5301)" = "ENOENT ENOENT"

# --- idle timeout: expiry and a new flow -----------------------------------------
# T's proxy's uid (root) selects the flow on a socket of its own, reads its
# context and records, and keeps asking until the flow has expired.
cat > "$TMPD/stale.py" <<'EOF'
import errno, socket, sys, time
sys.path.insert(0, sys.argv[1])
from udp_proxy import (pack_sockaddr, SOL_SOCKREDIR, SOCKREDIR_FLOW,
                       SOCKREDIR_CONTEXT, SOCKREDIR_RECORDS, CTX_SIZE)
def name(f):
    try:
        f()
        return "OK"
    except OSError as e:
        return errno.errorcode[e.errno]
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
app, ep = sys.argv[2].rsplit(":", 1), sys.argv[3]
bad = [name(lambda: s.setsockopt(SOL_SOCKREDIR, SOCKREDIR_FLOW, b"\0" * 10)),
       name(lambda: s.setsockopt(SOL_SOCKREDIR, SOCKREDIR_FLOW,
                                 b"\x63\0" + b"\0" * 254))]
print("bad", *bad)
s.setsockopt(SOL_SOCKREDIR, SOCKREDIR_FLOW, pack_sockaddr(app[0], int(app[1])) +
             pack_sockaddr(ep, int(sys.argv[4])))
s.getsockopt(SOL_SOCKREDIR, SOCKREDIR_CONTEXT, CTX_SIZE)
rec = s.getsockopt(SOL_SOCKREDIR, SOCKREDIR_RECORDS, 256)
print("live OK")
end = time.monotonic() + 10
while time.monotonic() < end:
    err = name(lambda: s.getsockopt(SOL_SOCKREDIR, SOCKREDIR_CONTEXT, CTX_SIZE))
    if err != "OK":
        break
    time.sleep(0.05)
# Its records, given onward now: refused when set, or else at the connect.
up = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
given = name(lambda: up.setsockopt(SOL_SOCKREDIR, SOCKREDIR_RECORDS, rec))
print("ended", err, given if given != "OK" else name(lambda: up.connect(("127.0.0.11", 7))))
EOF
# 2 s: time enough for stale.py to select the flow before it expires.
svc T 5303 --udp-idle 2
proxy T 5303
"$SR" rule add --service T --proto udp --dst 127.0.0.11/32 --dport 7 --weight 500 >/dev/null
mkdir "$TMPD/hold"
bg app $PEER hold "$TMPD/hold" 127.0.0.11:7
poll test -e "$TMPD/hold/ready"
wait_lines "$TMPD/T.log" 1
stale=$(in_cg p-T python3 "$TMPD/stale.py" "$top/tests/helpers" "$(field T 0 app)" \
	"$(field T 0 endpoint)" 5303)
check "idle: the first datagram made a flow through T" -- \
	test "$(flows T):$(counter T redirected)" = 1:1
check "SOCKREDIR_FLOW: a short or unknown-family selection gets EINVAL" -- \
	same "$(echo "$stale" | grep ^bad)" "bad EINVAL EINVAL"
check "SOCKREDIR_FLOW: T's proxy's uid selects the live flow, reads its context and records" -- \
	same "$(echo "$stale" | grep ^live)" "live OK"
check "once it expired: its context ENOENT, its records ESTALE on an onward connect" -- \
	same "$(echo "$stale" | grep ^ended)" "ended ENOENT ESTALE"
check "idle: the flow ends after T's 2 s timeout" -- poll is T udp_flows 0
check "idle: counted as expired" -- test "$(counter T udp_expired)" -eq 1
touch "$TMPD/hold/go"
poll test -e "$TMPD/hold/done"
check "idle: the same socket's next datagram is answered from .11" -- \
	grep -q '^127.0.0.11:7 127.0.0.11:7 127.0.0.11:7|q0$' "$TMPD/hold/again"
check "idle: ... through a new flow, with a new endpoint and flow id" -- \
	test "$(flows T)" -eq 2 -a "$(field T 0 flow_id)" != "$(field T 1 flow_id)" \
	     -a "$(field T 0 endpoint)" != "$(field T 1 endpoint)"
touch "$TMPD/hold/stop"
poll is T udp_flows 0	# the flood's baseline must not move
"$SR" service del T >/dev/null

# --- a flood of one-datagram flows from nobody ------------------------------------
# nobody makes 100,000 flows through F, one datagram each, as fast as its
# share lets it: at most udp_uid_max live at once, each ending 1 s idle.
# Meanwhile root's four flows through U (idle 600 s) must hold, and after
# it every table is as it was.
PIN=/sys/fs/bpf/sockredir
entries() { bpftool -j map dump pinned $PIN/$1 | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))'; }
tables() { echo "flows $(entries sr_udp_flows) socks $(entries sr_udp_socks) hops $(entries sr_live_hops)"; }
nobody_share() {	# the flows charged to nobody's uid (none: 0)
	bpftool -j map lookup pinned $PIN/sr_udp_uids key 0xfe 0xff 0 0 2>/dev/null |
		python3 -c 'import json,sys
v = json.load(sys.stdin)["value"]	# bytes, in hex, little-endian
print(int.from_bytes(bytes(int(b, 16) for b in v), "little"))' 2>/dev/null || echo 0
}
svc F 5304 --udp-idle 1
proxy F 5304 --sink
"$SR" rule add --service F --proto udp --dst 127.1.0.0/16 >/dev/null
mkdir "$TMPD/v4" "$TMPD/v6"
bg app $PEER hold "$TMPD/v4" 127.0.0.11:7 127.0.0.12:7
bg app $PEER hold "$TMPD/v6" '[fd00::11]:7' '[fd00::12]:7'
poll test -e "$TMPD/v4/ready" -a -e "$TMPD/v6/ready"
check "flood: the victim's four flows answer first" -- \
	test "$(cat "$TMPD"/v[46]/first | awk '$1 == $2' | wc -l)" -eq 4
base=$(status live_udp_flows)
tables0=$(tables)
share=$(status udp_uid_max)
held=$(nobody_share)	# nobody's own flows from the tests above
: > "$TMPD/U.log"
t0=$(date +%s%N)
asnobody $NPEER flood 100000 127.1 1000 > "$TMPD/flood.out" &
flooder=$!
peak=0	# the most flows F held at once, sampled while the flood runs
while kill -0 $flooder 2>/dev/null; do
	n=$(counter F udp_flows); [ "$n" -gt "$peak" ] && peak=$n
	sleep 0.05	# a sample, not a wait: leave the CPUs to the flood
done
wait $flooder
out=$(cat "$TMPD/flood.out")
echo "# flood: $out in $((($(date +%s%N) - t0) / 1000000)) ms, at most $peak live"
check "flood: nobody made its 100,000 one-datagram flows" -- \
	test "$(echo $out | awk '{ print $2, $NF }')" = "100000 {}" -a \
	     "$(counter F redirected)" -eq 100000
check "flood: its first $((share - held)) were made, the next refused (ENOBUFS): the share" -- \
	same "$(echo $out | awk '{ print $4 }')" "$((share - held))"
check "flood: every refusal counted" -- \
	test "$(counter F udp_no_endpoint)" = "$(echo $out | awk '{ print $6 }')"
check "flood: never more than its share live at once ($peak <= $share)" -- \
	test "$peak" -le "$share" -a "$peak" -gt $((share / 2))
touch "$TMPD/v4/go" "$TMPD/v6/go"
poll test -e "$TMPD/v4/done" -a -e "$TMPD/v6/done"
check "flood: the victim's flows still answer, from the right sources" -- \
	test "$(cat "$TMPD"/v[46]/again | awk '$1 == $2' | wc -l)" -eq 4
check "flood: ... through the same flows (U made none)" -- test "$(flows U)" -eq 0
poll is F udp_flows 0
echo "# F: $(counter F udp_flows) live, $(counter F udp_expired) expired; $(status live_udp_flows) live in all; $(tables)"
check "flood: the state returns to its baseline ($base flows)" -- \
	poll live_is "$base"
check "flood: nobody's flows all expired, each once" -- \
	test "$(counter F udp_expired):$(counter F udp_flows)" = 100000:0
check "flood: the tables hold what they held before ($tables0)" -- \
	test "$(tables)" = "$tables0"
check "flood: nobody's share is as it was ($held)" -- same "$(nobody_share)" "$held"
touch "$TMPD/v4/stop" "$TMPD/v6/stop"

# --- the proxy gone: the service's fail mode ------------------------------------
kill_pid $PID_U
check "U stopped, fail open: the datagram goes straight to .12" -- \
	ask_ok 127.0.0.12:7

echo "# $(( $(date +%s) - T0 )) s, once the lock was ours"
done_testing
