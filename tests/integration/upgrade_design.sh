#!/bin/bash
# sockredir upgrade from an earlier build (SR_OLD_REV) to this one, with
# flows held across it: they keep working, and when they close later their
# state and counters go; flows made after the upgrade are seen by the
# congestion control and the proxies' sockops program.  Two earlier builds
# run it (make check: upgrade_design.sh, upgrade_cc.sh):
#
#   b4663f8  the socket state tracepoint design: the tracepoint stays
#            attached for its flows (this build's program)
#   3a26e43  the congestion-control design, whose per-socket state is one
#            struct sr_sock for every role (map sr_socks): this build reads
#            it there (bpf/legacy.h)
#
# Held in each role: the application's redirected sockets (getpeername
# after), the proxy's accepted ones (queried only after), records given
# to an onward socket (connected after), and one connect in flight (its
# SYNs dropped until the upgrade is done: published by this build).
# SR_OLD_BUILD: a tree with that build made; otherwise bench/before.sh
# builds SR_OLD_REV in build/upgrade/REV (kept: built once).
#
#   app ─▶ A 127.0.0.1:7051 (sockredir-relay) ─▶ server :9000
#   app ─▶ 127.0.0.3:9000 / :9001 ─▶ B 127.0.0.1:7052 (upgrade_roles.py) ─▶ server
. "$(dirname "$0")/lib.sh"
SR_OLD_REV=${SR_OLD_REV:-b4663f8}
OLD=${SR_OLD_BUILD:-$top/build/upgrade/$SR_OLD_REV}
if [ -z "${SR_OLD_BUILD:-}" ]; then
	rev=$(git -C "$top" rev-parse -q --verify "$SR_OLD_REV^{commit}" 2>/dev/null) ||
		{ echo "1..0 # SKIP no build of $SR_OLD_REV and no git history to make one"; exit 0; }
	[ -x "$OLD/build/sockredir" ] && [ "$(git -C "$OLD" rev-parse HEAD 2>/dev/null)" = "$rev" ] ||
		sh "$top/bench/before.sh" "$SR_OLD_REV" "$OLD" >/dev/null || exit 1
fi
setup
LOAD=$top/tests/helpers/upgrade_load.py
N=200
PIN=/sys/fs/bpf/sockredir
"$SR" down >/dev/null
"$OLD/build/sockredir" up --cgroup "$CG" >/dev/null
mkdir -p "$CG/app" "$CG/p-A"
bg srv python3 "$LOAD" server 9000
wait_port 9000
# All of the earlier build's: its CLI, its relay.
"$OLD/build/sockredir" service add A --listen 127.0.0.1:7051 --owner-cgroup "$CG/p-A" --fail closed >/dev/null
"$OLD/build/sockredir" rule add --service A --dst 127.0.0.2 --dport 9000 >/dev/null
bg p-A "$OLD/build/sockredir-relay" -q --service A --listen 127.0.0.1:7051 --log "$TMPD/A.log"
wait_port 7051
TP=0; [ -e $PIN/link_sr_sock_state ] && TP=1
if [ $TP = 1 ]; then
	check "the earlier build runs on its tracepoint" -- test -e $PIN/link_sr_sock_state
	check "... without this build's congestion control" -- test ! -e $PIN/link_sr_cc
else
	check "the earlier build runs on its congestion control" -- test -e $PIN/link_sr_cc
	check "... with all of its sockets' state in sr_socks" -- \
		sh -c "test -e $PIN/sr_socks && test ! -e $PIN/sr_conns"
fi

# The roles: B holds its accepted flows and asks about them after the
# upgrade only.
ROLES=$top/tests/helpers/upgrade_roles.py
NR=5
mkdir -p "$CG/p-B"
"$OLD/build/sockredir" service add B --listen 127.0.0.1:7052 --owner-cgroup "$CG/p-B" >/dev/null
"$OLD/build/sockredir" rule add --service B --dst 127.0.0.3 --dport 9000-9001 >/dev/null
bg p-B python3 "$ROLES" proxy 7052 $NR "$TMPD/proxy-ready" "$TMPD/go" > "$TMPD/roles-proxy.json"
RPROXY=$LAST_PID
wait_port 7052
bg app python3 "$ROLES" app 127.0.0.3 9000 $NR 9001 "$TMPD" > "$TMPD/roles-app.json"
RAPP=$LAST_PID
for i in $(seq 200); do [ -e "$TMPD/proxy-ready" ] && [ -e "$TMPD/app-ready" ] && break; sleep 0.05; done
check "$NR flows held by B on the earlier build, unasked" -- \
	test -e "$TMPD/proxy-ready" -a -e "$TMPD/app-ready"

# One of the held flows is an attacker's (nobody): after the upgrade it
# disconnects (connect(AF_UNSPEC)) and connects straight to A's listener,
# which no rule covers; A must not get the earlier flow's context again.
chmod 711 "$TMPD"; mkdir -m 777 "$TMPD/rt"
in_cg app setpriv --reuid=65534 --regid=65534 --clear-groups /usr/bin/python3 \
	"$top/tests/helpers/redteam.py" late replay 127.0.0.2 9000 127.0.0.1 7051 \
	"$TMPD/rt/ready" "$TMPD/rt/go" > "$TMPD/rt/late.out" &
RT=$!
bg app python3 "$LOAD" live 127.0.0.2 9000 $N "$TMPD/ready" "$TMPD/go" > "$TMPD/live.json" 2>"$TMPD/live.err"
LIVE=$LAST_PID
for i in $(seq 600); do [ -e "$TMPD/ready" ] && break; sleep 0.05; done
for i in $(seq 600); do [ -e "$TMPD/rt/ready" ] && break; sleep 0.05; done
check "$N flows open through A on the earlier build" -- test -e "$TMPD/ready"

# The connect in flight: its SYNs are dropped until the upgrade is done
# (then its retry at 1 or 3 s gets through, SR_CONNECT_SYNCNT).
nsenter --net=/run/netns/$NS nft -f - <<'NFT'
table inet sr_upgrade {
	chain in {
		type filter hook input priority 0;
		ip saddr 127.0.0.10 tcp dport 7052 tcp flags syn drop
	}
}
NFT
red0=$(counter B redirected)
touch "$TMPD/start"
for i in $(seq 200); do [ -e "$TMPD/started" ] && break; sleep 0.05; done
t0=$(date +%s%N)
check "upgrade to this build" -- sh -c "'$SR' upgrade >/dev/null"
echo "# upgrade took $(( ($(date +%s%N) - t0) / 1000000 )) ms"
nsenter --net=/run/netns/$NS nft delete table inet sr_upgrade
if [ $TP = 1 ]; then
	check "the tracepoint stays, for the flows of the earlier build" -- test -e $PIN/link_sr_sock_state
else
	check "no tracepoint: the earlier build had none" -- test ! -e $PIN/link_sr_sock_state
	check "its sockets' state is read where it was (the legacy flag is set)" -- \
		test "$(bpftool map dump pinned $PIN/sr_legacy -j | python3 -c 'import json,sys
e = json.load(sys.stdin)[0]; print(e.get("formatted", e)["value"])')" = 1
fi
check "the congestion control is registered" -- \
	grep -qw sockredir /proc/sys/net/ipv4/tcp_available_congestion_control
check "the proxies' sockops program is on A's owner cgroup only" -- \
	sh -c "ls $PIN | grep -qx 'link_sr_proxy_ops@[0-9]*' && test ! -e $PIN/link_sr_proxy_ops"

# A new flow after the upgrade: published by the congestion control.
out=$(in_cg app python3 -c 'import socket
c = socket.create_connection(("127.0.0.2", 9000), timeout=3)
g = c.recv(100).decode()
print(c.getsockopt(6, 13, 16).rstrip(b"\0").decode())
c.close()')
check "a flow made after it carries the layer's congestion control ($out)" -- \
	test "$out" = sockredir
check "A logged it, with its application (it was published)" -- \
	eval 'wait_lines "$TMPD/A.log" 1 && grep -q "\"app\":{\"pid\"" "$TMPD/A.log"'

touch "$TMPD/rt/go"; wait $RT; sed 's/^/# /' "$TMPD/rt/late.out"
# (A resets a connection it finds no flow for, maybe before getpeername:
# then ENOTCONN; it must never show the earlier flow's destination.)
check "replay after the upgrade: the earlier build's flow, disconnected, then straight to A: A as itself" -- \
	sh -c "grep -qx 'second 127.0.0.1:7051 .*\|second - ENOTCONN' '$TMPD/rt/late.out'"
check "... and A found no flow (not_redirected), no second flow of nobody's" -- \
	eval 'wait_lines "$TMPD/A.log" 3 && test "$(grep -c "\"uid\":65534" "$TMPD/A.log")" = 1 && grep -q not_redirected "$TMPD/A.log"'
touch "$TMPD/go"
wait $RPROXY; wait $RAPP
echo "# roles: proxy $(cat "$TMPD/roles-proxy.json") app $(cat "$TMPD/roles-app.json")"
J() { python3 -c 'import json,sys; print(eval(sys.argv[2], {}, json.load(open(sys.argv[1]))))' "$@"; }
want=$(for i in $(seq $NR); do printf '127.0.0.3:9000 127.0.0.3:9000,'; done)
check "B's flows of the earlier build, queried after: context and SO_ORIGINAL_DST" -- \
	test "$(J "$TMPD/roles-proxy.json" '"".join(q + "," for q in queries)')" = "$want"
check "the application's sockets of the earlier build: getpeername after" -- \
	test "$(J "$TMPD/roles-app.json" peer_ok)" = $NR
check "records given on the earlier build: the onward connect after carries them" -- \
	test "$(J "$TMPD/roles-proxy.json" onward)" = OK
check "the connect in flight across the upgrade: connected, its peer the destination" -- \
	test "$(J "$TMPD/roles-app.json" inflight)" = "OK 127.0.0.3:9001"
check "... and B got its flow: context and SO_ORIGINAL_DST" -- \
	test "$(J "$TMPD/roles-proxy.json" inflight)" = "127.0.0.3:9001 127.0.0.3:9001"
check "... counted once, as the earlier build redirected it" -- \
	test "$(counter B redirected)" = $((red0 + 1))
wait $LIVE; echo "# live exit $?: $(cat "$TMPD/live.err")"
L() { python3 -c 'import json,sys; print(eval(sys.argv[2], {}, json.load(open(sys.argv[1]))))' "$TMPD/live.json" "$1"; }
echo "# live: $(cat "$TMPD/live.json")"
check "the $N held flows: 0 dropped, all echoed after the upgrade" -- \
	test "$(L '(dropped, after_ok, peer_ok)')" = "(0, $N, $N)"
# Their close was seen: nothing left of them.
empty() { [ "$(bpftool map dump pinned $PIN/$1 | grep -c '"key"\|^key')" = 0 ]; }
gone() {
	local i
	for i in $(seq 100); do
		"$SR" -j status | grep -q '"live_flows":0' && empty sr_pending &&
			empty sr_live_hops && empty sr_connecting &&
			empty sr_connect_flows && return 0
		sleep 0.05
	done
	return 1
}
check "once closed: no live flow, nothing pending or connecting, no live hop" -- gone
check "uid 0's pending count back to 0" -- \
	test "$(bpftool map dump pinned $PIN/sr_pending_uids -j | python3 -c 'import json,sys
print(sum(e["formatted"]["value"] for e in json.load(sys.stdin)))')" = 0
"$SR" down >/dev/null
check "down: the tracepoint and the congestion control go" -- \
	sh -c "! grep -qw sockredir /proc/sys/net/ipv4/tcp_available_congestion_control && test ! -e $PIN"
done_testing
