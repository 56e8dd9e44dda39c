#!/bin/bash
# attack.sh - the adversary is local: an unprivileged process (uid 65534,
# "nobody") inside the attached cgroup, or a service's owner, tries to get
# past a service or a block rule.  Each attack here is one that worked
# before it was fixed (issue 10); each must fail now.
#
#   app (nobody) ─▶ M 127.0.0.1:7401 (sockredir-relay)           ─▶ :8080
#   app (nobody) ─▶ R 127.0.0.1:7402 (proxy run by nobody in p-R) ─▶ :8080
#   app (nobody) ─▶ S 127.0.0.1:7403, U 7405, K 7407, D 7408       ─▶ :8080
#   app (nobody) ─▶ 127.0.0.1 / ::1 :8007, UDP 127.0.0.20:5353 (blocked)
#   app (nobody, MPTCP) ─▶ X 127.0.0.1:7410 (proxy.py), Y 7411 (fail closed,
#                          no proxy) ─▶ :8080; MPTCP echo :9100, a join to .114
# The servers run as root in their own cgroup.  The attacker's moves are in
# tests/helpers/attack.py.
. "$(dirname "$0")/lib.sh"
setup
NOBODY=65534
ATTACK=$top/tests/helpers/attack.py
mkdir -p "$CG/app"
for p in M R Q S T U K D P W X Y V Z; do mkdir -p "$CG/p-$p"; done
setup_nobody
bg srv python3 -c 'import socket
s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
s.bind(("::", 5353))
while True:
    d, a = s.recvfrom(2048); s.sendto(d, a)'
wait_port 5353 udp

# as ROLE CMD...: one of attack.py's moves as nobody in cgroup ROLE.
as() {
	local role=$1; shift
	as_nobody "$role" /usr/bin/python3 "$ATTACK" "$@"
}
get() { as_nobody app curl -s -m 5 "http://$1:8080/hello.txt"; }

# --- 5. aliases of loopback ---------------------------------------------------
# Block rules on 127.0.0.1 and ::1 port 8007 hold for every address the
# kernel turns into them.
"$SR" rule add --block --dst 127.0.0.1 --dport 8007 >/dev/null
"$SR" rule add --block --dst ::1 --dport 8007 >/dev/null
check "loopback: 127.0.0.1:8007 is blocked (EPERM)" -- test "$(as app connect 127.0.0.1 8007)" = EPERM
check "loopback: [::1]:8007 is blocked (EPERM)" -- test "$(as app connect ::1 8007)" = EPERM
for a in 0.0.0.0 ::ffff:0.0.0.0 ::; do
	check "loopback alias: $a port 8007 is blocked too (EPERM)" -- \
		test "$(as app connect $a 8007)" = EPERM
done
check "loopback: port 8080 on 0.0.0.0 is not blocked" -- test "$(as app connect 0.0.0.0 8080)" = OK

# --- 7. UDP meets block rules ---------------------------------------------------
"$SR" rule add --block --dst 127.0.0.20 >/dev/null
check "UDP: an unblocked address gets its echo (sendto)" -- test "$(as app udp sendto 127.0.0.22 5353)" = OK
blocked=$(status_counter blocked)
check "UDP: sendto a blocked address fails (EPERM)" -- test "$(as app udp sendto 127.0.0.20 5353)" = EPERM
check "UDP: connect to a blocked address fails (EPERM)" -- test "$(as app udp connect 127.0.0.20 5353)" = EPERM
check "UDP: sendto it as ::ffff:127.0.0.20 fails (EPERM)" -- \
	test "$(as app udp sendto ::ffff:127.0.0.20 5353)" = EPERM
check "UDP: blocked datagrams are counted" -- test "$(status_counter blocked)" -ge $((blocked + 3))

# --- MPTCP ----------------------------------------------------------------------
# socket(..., IPPROTO_MPTCP): the hooks see its TCP subflows (bpf/mptcp.h).
# The first, the application's connect, meets the rules as TCP does and
# falls back to TCP at a proxy; getpeername shows the original peer.
MP=$top/tests/helpers/mptcp.py
mp() { as_nobody app /usr/bin/python3 "$MP" "$@"; }
for a in 110 111 112 113; do ip -n $NS addr add fd00::$a/128 dev lo; done
"$SR" service add X --listen 127.0.0.1:7410 --listen '[::1]:7410' --owner-cgroup "$CG/p-X" >/dev/null
"$SR" service add Y --listen 127.0.0.1:7411 --listen '[::1]:7411' --owner-cgroup "$CG/p-Y" \
	--fail closed >/dev/null		# its proxy never starts
"$SR" rule add --service X --dst 127.0.0.110 --dport 8080 >/dev/null
"$SR" rule add --service X --dst fd00::110 --dport 8080 >/dev/null
"$SR" rule add --block --dst 127.0.0.111 >/dev/null
"$SR" rule add --block --dst fd00::111 >/dev/null
"$SR" rule add --service Y --dst 127.0.0.112 --dport 8080 >/dev/null
"$SR" rule add --service Y --dst fd00::112 --dport 8080 >/dev/null
"$SR" rule add --block --uid $NOBODY --dst 127.0.0.113 >/dev/null
"$SR" rule add --block --uid $NOBODY --dst fd00::113 >/dev/null
bg p-X python3 "$top/tests/helpers/proxy.py" --name X --listen 127.0.0.1:7410 \
	--listen '[::1]:7410' --log "$TMPD/X.log"
wait_port 7410
out=$(mp get 127.0.0.110 8080 /hello.txt)
check "MPTCP v4: redirected through X; getpeername shows the original peer ($out)" -- \
	test "$out" = "127.0.0.110:8080 200 hello"
out=$(mp get fd00::110 8080 /hello.txt)
check "MPTCP v6: redirected through X; getpeername shows the original peer ($out)" -- \
	test "$out" = "[fd00::110]:8080 200 hello"
check "MPTCP: X's context has each original destination and the application" -- \
	test "$(jfield "$TMPD/X.log" 0 'remote, uid, comm'; jfield "$TMPD/X.log" 1 'remote, uid, comm')" = \
	"$(printf "('127.0.0.110:8080', $NOBODY, 'python3')\n('fd00::110:8080', $NOBODY, 'python3')")"
check "MPTCP: both flows counted (X redirected 2)" -- test "$(counter X redirected)" -eq 2
blocked=$(status_counter blocked)
for a in 127.0.0.111 fd00::111 127.0.0.113 fd00::113; do
	out=$(mp connect $a 8080)
	check "MPTCP: $a stays blocked ($out)" -- test "$out" = EPERM
done
check "MPTCP: the blocks are counted" -- test "$(status_counter blocked)" -eq $((blocked + 4))
for a in 127.0.0.112 fd00::112; do
	out=$(mp connect $a 8080)
	check "MPTCP: fail-closed Y cannot be skipped at $a ($out)" -- test "$out" = ECONNREFUSED
done
check "MPTCP: Y counted both refusals" -- test "$(counter Y refused)" -eq 2
kill_pid $LAST_PID
# A proxy that listens with MPTCP itself accepts the MPTCP socket, not the
# subflow the flow was handed to: it learns nothing, and the flow ends in a
# reset, never reaching the server uninspected.
"$SR" service add W --listen 127.0.0.1:7412 --owner-cgroup "$CG/p-W" >/dev/null
"$SR" rule add --service W --dst 127.0.0.115 --dport 8080 >/dev/null
bg p-W python3 "$top/tests/helpers/proxy.py" --name W --mptcp --listen 127.0.0.1:7412 \
	--log "$TMPD/W.log"
wait_port 7412
out=$(mp get 127.0.0.115 8080 /hello.txt)
check "MPTCP to an MPTCP proxy: no reply, the connection closed on it ($out)" -- \
	eval 'case "$out" in "127.0.0.115:8080 ECONNRESET"|"127.0.0.115:8080 none") true ;; *) false ;; esac'
check "MPTCP to an MPTCP proxy: the proxy got no context (ENOENT)" -- \
	test "$(jfield "$TMPD/W.log" 0 errno)" = 2
kill_pid $LAST_PID
# Subflows the path manager adds later (joins) run in a kernel worker, not
# as the application: uid and cgroup rules cannot see whose they are, so a
# join to a destination any rule covers is refused.  Here the peer
# announces 127.0.0.114 and the host takes one announced address; the echo
# server runs outside the attached cgroup.
ip -n $NS mptcp limits set add_addr_accepted 1 subflows 1
ip -n $NS mptcp endpoint add 127.0.0.114 dev lo signal
nsenter --net=/run/netns/$NS python3 "$MP" echo 9100 &
PIDS="$PIDS $!"
wait_port 9100
joined() {	# joined: a subflow to 127.0.0.114:9100 is established
	nsenter --net=/run/netns/$NS ss -Hnt state established 'dst 127.0.0.114:9100' | grep -q .
}
wait_joined() {
	local i
	for i in $(seq 100); do joined && return 0; sleep 0.05; done
	return 1
}
mp hold 127.0.0.1 9100 "$PUB/stop-join1" > "$PUB/join1.out" &
HOLD=$!
check "MPTCP join: with no rule on 127.0.0.114, the path manager adds a subflow there" -- wait_joined
touch "$PUB/stop-join1"; wait $HOLD
"$SR" rule add --block --uid $NOBODY --dst 127.0.0.114 >/dev/null
joins=$(status_counter mptcp_join_refused)
mp hold 127.0.0.1 9100 "$PUB/stop-join2" > "$PUB/join2.out" &
HOLD=$!
for _ in $(seq 100); do
	[ "$(status_counter mptcp_join_refused)" -gt "$joins" ] && break; sleep 0.05
done
check "MPTCP join: to a destination a rule covers is refused and counted" -- \
	test "$(status_counter mptcp_join_refused)" -eq $((joins + 1))
check "MPTCP join: no subflow reached 127.0.0.114" -- sh -c "! nsenter --net=/run/netns/$NS \
	ss -Hnt state established 'dst 127.0.0.114:9100' | grep -q ."
touch "$PUB/stop-join2"; wait $HOLD
check "MPTCP join: the connection goes on over its first subflow ($(echo $(cat "$PUB/join2.out")))" -- \
	test "$(echo $(cat "$PUB/join2.out"))" = "OK OK"

# --- 1. flow state that cannot be made ------------------------------------------
# The per-socket flow state is charged to the socket's option memory: fill
# it with TCP_MD5SIG keys, then connect to a redirected destination.
"$SR" service add M --listen 127.0.0.1:7401 --owner-cgroup "$CG/p-M" >/dev/null
"$SR" rule add --service M --dst 127.0.0.30 --dport 8080 >/dev/null
bg p-M "$RELAY" -q --service M --listen 127.0.0.1:7401 --log "$TMPD/M.log"
wait_port 7401
check "memory: a redirected connect goes through M" -- test "$(get 127.0.0.30)" = hello
check "memory: M logged it" -- wait_lines "$TMPD/M.log" 1
untracked=$(status_counter untracked)
out=$(as app md5 127.0.0.30 8080)
check "memory: option memory full, the connect is refused, not let by ($out)" -- test "$out" = ENOMEM
check "memory: the refusal is counted (untracked)" -- test "$(status_counter untracked)" -eq $((untracked + 1))
check "memory: M saw no second flow" -- test "$(lines "$TMPD/M.log")" -eq 1

# --- 2. records are bound to their flow ---------------------------------------
# R's owner (nobody in p-R) keeps one application flow's records and tries
# them as a pass: past block rules aimed at itself, to other destinations,
# after the flow ended, and handed to another service's owner.
"$SR" service add R --listen 127.0.0.1:7402 --owner-cgroup "$CG/p-R" >/dev/null
"$SR" service add Q --listen 127.0.0.1:7406 --owner-cgroup "$CG/p-Q" >/dev/null
"$SR" rule add --service R --dst 127.0.0.50 --dport 8080 >/dev/null
"$SR" rule add --block --uid $NOBODY --dst 127.0.0.51 >/dev/null
"$SR" rule add --block --cgroup "$CG/p-R" --dst 127.0.0.52 >/dev/null
"$SR" rule add --service Q --dst 127.0.0.53 >/dev/null	# Q would see "the app"
bg p-R sh -c "exec setpriv --reuid=$NOBODY --regid=$NOBODY --clear-groups /usr/bin/python3 \
	'$ATTACK' capture R 7402 '$PUB' 127.0.0.50 127.0.0.51 127.0.0.52 127.0.0.53 127.0.0.54 \
	> '$PUB/capture.out'"
CAPTURE=$LAST_PID
wait_port 7402
get 127.0.0.50 > "$TMPD/captured" &
CLIENT=$!
wait_file "$PUB/live"
check "records: another service's owner may not give R's hop's records (EACCES)" -- \
	test "$(as p-Q records "$PUB/blob" 127.0.0.50 8080)" = set:EACCES
touch "$PUB/go"
wait $CLIENT
wait $CAPTURE
capture() { sed -n "s/^$1 $2 //p" "$PUB/capture.out"; }
check "records: the application's request went through R" -- grep -q proxied "$TMPD/captured"
check "records: while the flow is open, its own destination: allowed" -- \
	test "$(capture live 127.0.0.50)" = OK
check "records: past a block rule on the proxy's uid: refused ($(capture live 127.0.0.51))" -- \
	test "$(capture live 127.0.0.51)" = EPERM
check "records: past a block rule on the proxy's cgroup: refused ($(capture live 127.0.0.52))" -- \
	test "$(capture live 127.0.0.52)" = EPERM
check "records: to another service's destination, as the app: refused ($(capture live 127.0.0.53))" -- \
	test "$(capture live 127.0.0.53)" = EPERM
check "records: after the flow ended, its own destination: refused ($(capture ended 127.0.0.50))" -- \
	test "$(capture ended 127.0.0.50)" = set:ESTALE
check "records: after the flow ended, elsewhere: refused ($(capture ended 127.0.0.53))" -- \
	test "$(capture ended 127.0.0.53)" = set:ESTALE
# 127.0.0.54: no rule covers it, so no rule decides anything there and the
# records are not looked at (include/sockredir.h, connect() errors).
check "records: to a destination no rule covers, while the flow is open: not checked, connects" -- \
	test "$(capture live 127.0.0.54)" = OK
check "records: ... after the flow ended, setting them is refused ($(capture ended 127.0.0.54))" -- \
	test "$(capture ended 127.0.0.54)" = set:ESTALE

# --- 3. deep cgroups ----------------------------------------------------------
# An application at cgroup level 10, blocked by a rule on its level-9
# parent, goes through a proxy: the rule must hold at the proxy's connect.
DEEP=a/b/c/d/e/f/g/h			# $CG is level 1: h is level 9
"$SR" service add D --listen 127.0.0.1:7408 --owner-cgroup "$CG/p-D" >/dev/null
bg p-D "$RELAY" -q --service D --listen 127.0.0.1:7408 --log "$TMPD/D.log"
wait_port 7408
mkdir -p "$CG/$DEEP/i"
"$SR" rule add --service D --dst 127.0.0.60 --weight 200 >/dev/null
"$SR" rule add --block --cgroup "$CG/$DEEP" --dst 127.0.0.60 --weight 100 >/dev/null
deep_get() { as_nobody "$DEEP/i" curl -s -m 5 "http://$1:8080/hello.txt"; }
check "deep: the level-10 application's request never reaches the server" -- \
	test "$(deep_get 127.0.0.60)" != hello
check "deep: D took the flow" -- wait_lines "$TMPD/D.log" 1
check "deep: D's onward connect was refused ($(jfield "$TMPD/D.log" 0 end))" -- \
	test "$(jfield "$TMPD/D.log" 0 end)" != closed
mkdir -p "$CG/$DEEP/i/j/k/l/m/n/o/p/q"	# q is level 18
out=$("$SR" rule add --block --cgroup "$CG/$DEEP/i/j/k/l/m/n/o/p/q" 2>&1); st=$?
check "deep: a rule on a cgroup deeper than records carry is refused ($st: $out)" -- \
	sh -c "test $st -ne 0 && echo '$out' | grep -q level"

# --- 4. a service's listen address is its owner's -------------------------------
"$SR" service add S --listen 127.0.0.1:7403 --listen '[::1]:7403' --owner-cgroup "$CG/p-S" >/dev/null
"$SR" rule add --service S --dst 127.0.0.70 --dport 8080 >/dev/null
for a in 127.0.0.1 0.0.0.0 :: ::ffff:127.0.0.1 ::1; do
	check "squat: nobody may not bind S's port at $a before S starts (EACCES)" -- \
		test "$(as app bind $a 7403)" = EACCES
done
check "squat: another port is free to bind" -- test "$(as app bind 127.0.0.1 7413)" = OK
bg p-S sh -c "exec setpriv --reuid=$NOBODY --regid=$NOBODY --clear-groups /usr/bin/python3 \
	'$ATTACK' listen S 127.0.0.1 7403 '$PUB/stop-S' >/dev/null"
wait_port 7403
check "squat: S's owner (nobody in p-S) may bind it" -- \
	sh -c "nsenter --net=/run/netns/$NS ss -Hltn 'sport = :7403' | grep -q ."
check "reuseport: nobody outside p-S may not join S's group (EACCES)" -- \
	test "$(as app bind 127.0.0.1 7403 reuseport)" = EACCES
touch "$PUB/stop-S"
# A group joined before the service existed: the claim is checked on the
# socket that actually accepts a flow.  T's proxy binds first, the squatter
# joins, then T is added and its proxy claims, growing the group until the
# connect hook's lookup (one member, by a hash fixed for the address) finds
# a claimed socket: with the squatter second, that takes at most 4.
G=$PUB/group; mkdir -m 777 "$G"
as p-T group T 7404 "$G" >/dev/null &
T_PID=$!; PIDS="$PIDS $T_PID"
wait_port 7404
as app listen - 127.0.0.1 7404 "$G/stop" > "$PUB/squatter.out" &
SQUAT=$!; PIDS="$PIDS $SQUAT"
for _ in $(seq 100); do
	[ "$(nsenter --net=/run/netns/$NS ss -Hltn 'sport = :7404' | wc -l)" -ge 2 ] && break
	sleep 0.05
done
"$SR" service add T --listen 127.0.0.1:7404 --owner-cgroup "$CG/p-T" >/dev/null
"$SR" rule add --service T --dst 127.0.0.71 --dport 8080 >/dev/null
touch "$G/claim"
for n in 2 3 4 5 6; do
	for _ in $(seq 100); do [ "$(cat "$G/n" 2>/dev/null)" = $((n - 1)) ] && break; sleep 0.02; done
	before=$(counter T redirected)
	as app connect 127.0.0.71 8080 >/dev/null
	[ "$(counter T redirected)" -gt "$before" ] && break
	touch "$G/more"
done
out=$(as app connects 127.0.0.71 8080 80)
touch "$G/stop"
wait $SQUAT $T_PID
check "reuseport: T's owner in the group; the app's connects succeeded ($out)" -- \
	test "$out" = "OK 80"
check "reuseport: the squatter got some flows ($(cat "$PUB/squatter.out"))" -- \
	sh -c "! grep -q '^flows 0 ' '$PUB/squatter.out'"
check "reuseport: but not one flow's context" -- grep -q "contexts 0$" "$PUB/squatter.out"

# --- 9. a service without an owner does not loop --------------------------------
# A claimed proxy that does not pass records (like haproxy), for a service
# configured without an owner: its own onward connect must not come back.
"$SR" service add U --listen 127.0.0.1:7405 >/dev/null
"$SR" rule add --service U --dst 127.0.0.80 --dport 8080 >/dev/null
bg p-U python3 "$top/tests/helpers/proxy.py" --name U --listen 127.0.0.1:7405 \
	--no-records --log "$TMPD/U.log"
wait_port 7405
check "no owner: the request is answered through U" -- test "$(get 127.0.0.80)" = hello
check "no owner: U redirected once, no loop ($(counter U redirected))" -- \
	test "$(counter U redirected)" -eq 1
# Its claimer's cgroup is its owner, so the layer gave that onward connect
# the flow's records (bpf/forward.h): U's own hop, never redirected to U.
check "no owner: U's onward connect carried the flow's records (onward_recorded)" -- \
	test "$(counter U onward_recorded)" -ge 1
kill_pid $LAST_PID

# --- 11. the signing key ----------------------------------------------------------
# Root tools can dump every pinned map.  Whatever they read must not sign
# records: read the config map where the key used to be, try the key map,
# and forge records with what came out.
"$SR" service add K --listen 127.0.0.1:7407 --owner-cgroup "$CG/p-K" >/dev/null
"$SR" rule add --service K --dst 127.0.0.90 --dport 8080 >/dev/null
check "key: no pinned map holds it" -- test ! -e $PIN/sr_key
keyid=$(python3 -c 'import json, subprocess, sys
bt = lambda *a: json.loads(subprocess.check_output(("bpftool", "-j") + a))
prog = bt("link", "show", "pinned", sys.argv[1])["prog_id"]
for m in bt("prog", "show", "id", str(prog)).get("map_ids", []):
    if bt("map", "show", "id", str(m)).get("name") == "sr_key":
        print(m)' $PIN/link_sr_connect4)
check "key: its map is frozen: not even root can replace it" -- sh -c "! bpftool map update id $keyid \
	key 0 0 0 0 value $(printf '0 %.0s' $(seq 16)) 2>/dev/null"
key=$(bpftool map dump pinned $PIN/sr_config -j | python3 -c 'import json,sys
v = json.load(sys.stdin)[0]["value"]
print("".join(b[2:] for b in v[8:24]))')
bg p-K sh -c "exec python3 '$ATTACK' forge K 7407 $key > '$PUB/forge.out'"
FORGE=$LAST_PID
wait_port 7407
get 127.0.0.90 >/dev/null
wait $FORGE
check "key: the records as given work" -- grep -q "^given OK" "$PUB/forge.out"
check "key: records re-signed with what the maps show are refused ($(sed -n 's/^forged //p' "$PUB/forge.out"))" -- \
	grep -q "^forged set:EINVAL" "$PUB/forge.out"

# --- 10. flooding the pending table -------------------------------------------------
# Connects whose SYN the proxy never answers stay pending (a stopped proxy's
# full queue is the fail mode's now; here the SYNs are dropped on the way,
# so the claimed listener looks fine).  One uid may hold only so many
# (4096); the rest are refused at connect, counted, and nobody's flood
# takes no one else's room.
"$SR" service add P --listen 127.0.0.1:7409 --owner-cgroup "$CG/p-P" >/dev/null
"$SR" rule add --service P --dst 127.0.0.100 --dport 8080 >/dev/null
bg p-P python3 "$ATTACK" hold P 7409 "$PUB/stop-P"
wait_port 7409
# The listener has room (a full queue would make P "overloaded" and send
# connects around it), but its SYNs are lost, so the flows stay pending.
syn_rule sr_attack output 7409 drop
full=$(status_counter pending_full)
as app flood 127.0.0.100 8080 4300 "$PUB/stop-P" > "$PUB/flood.out" &
FLOOD=$!
wait_lines "$PUB/flood.out" 1
started=$(awk '{ print $2 }' "$PUB/flood.out")
check "flood: nobody's pending flows stop near 4096 ($(cat "$PUB/flood.out"))" -- \
	sh -c "test $started -ge 4090 && test $started -le 4100"
check "flood: the rest are refused at connect with ENOBUFS" -- \
	grep -q "ENOBUFS $((4300 - started))\$" "$PUB/flood.out"
check "flood: the refusals are counted (pending-full)" -- \
	test "$(status_counter pending_full)" -eq $((full + 4300 - started))
# Each connect's flow body waits for its publish by socket cookie, one per
# charge (bpf/handoff.h): nobody's flood fills that table no further.
connect_flows() {
	bpftool map dump pinned $PIN/sr_connect_flows -j |
		python3 -c 'import json,sys; print(len(json.load(sys.stdin)))'
}
check "flood: the flows' bodies held until publish are nobody's $started, no more ($(connect_flows))" -- \
	test "$(connect_flows)" -eq "$started"
check "flood: meanwhile another user's flow goes through M, with its context" -- \
	test "$(in_cg app2 curl -s -m 5 http://127.0.0.30:8080/hello.txt)" = hello
check "flood: M logged it" -- wait_lines "$TMPD/M.log" 2
touch "$PUB/stop-P"
wait $FLOOD
syn_rule_del sr_attack

# A connect that never completes gets no callback of the layer's (its
# congestion control starts only once connected, bpf/handoff.h): its charge
# is given back by the sweep, SR_CONNECT_NS (8 s) after the connect.
baseline() {	# baseline SECONDS: nobody's charges and the table back to 0
	local i
	for i in $(seq $(($1 * 10))); do
		[ "$(uid_pending $NOBODY)" = 0 ] && [ "$(connecting)" = 0 ] &&
			[ "$(connect_flows)" = 0 ] && return 0
		sleep 0.1
	done
	return 1
}
t0=$SECONDS
check "flood over: nobody's 4096 unanswered connects are given back by the sweep, their bodies gone" -- baseline 12
echo "# given back after $((SECONDS - t0)) s"

# --- 11. the application changes its congestion control -------------------------
# The layer's congestion control on a redirected socket is how its flow is
# seen (bpf/cc.h).  An application that sets another one after its connect
# was redirected stays redirected: its bytes reach the proxy, which finds
# the flow, or no flow (ENOENT) if it had not adopted it yet; never the
# destination unseen.  It may not set the layer's own (EPERM).
"$SR" service add V --listen 127.0.0.1:7412 --owner-cgroup "$CG/p-V" >/dev/null
"$SR" rule add --service V --dst 127.0.0.121 --dport 8080 >/dev/null
bg p-V python3 "$ATTACK" ccproxy V 7412 2 > "$PUB/ccproxy.out"
CCPROXY=$LAST_PID
wait_port 7412
as app ccswitch 127.0.0.121 8080 > "$PUB/ccswitch.out"
wait $CCPROXY
sed 's/^/# /' "$PUB/ccswitch.out" "$PUB/ccproxy.out"
check "congestion control set once connected: still the proxy's, peer shown as the destination" -- \
	grep -q "^connected OK 127.0.0.121:8080 reno$" "$PUB/ccswitch.out"
check "congestion control set while connecting: still the proxy's" -- \
	grep -q "^connecting OK 127.0.0.121:8080 reno$" "$PUB/ccswitch.out"
check "both reached the proxy, which found each flow or none (never another's)" -- \
	sh -c "grep -Eq '^flow (OK|ENOENT) hi-connected$' '$PUB/ccproxy.out' &&
	       grep -Eq '^flow (OK|ENOENT) hi-connecting$' '$PUB/ccproxy.out'"
check "the layer's congestion control is not the application's to set (EPERM)" -- \
	grep -q "^own EPERM -$" "$PUB/ccswitch.out"

# --- 12. refused connects hold no one else's room ---------------------------------
# Redirected connects the proxy's side resets: nobody's quota fills with
# them until the sweep, the rest are refused at connect; another user's
# flow goes on; then everything is given back.
"$SR" service add Z --listen 127.0.0.1:7413 --owner-cgroup "$CG/p-Z" >/dev/null
"$SR" rule add --service Z --dst 127.0.0.122 --dport 8080 >/dev/null
bg p-Z python3 "$ATTACK" hold Z 7413 "$PUB/stop-Z"
wait_port 7413
syn_rule sr_attack input 7413 reject with tcp reset
out=$(as app connects 127.0.0.122 8080 4200)
check "refused: nobody's first 4096 were redirected and reset, the rest refused at connect ($out)" -- \
	test "$out" = "ECONNREFUSED 4096 ENOBUFS 104"
check "refused: meanwhile another user's flow goes through M" -- \
	test "$(in_cg app2 curl -s -m 5 http://127.0.0.30:8080/hello.txt)" = hello
t0=$SECONDS
check "refused: nobody's charges and the connecting table back to 0" -- baseline 12
echo "# given back after $((SECONDS - t0)) s"
check "refused: the layer-wide pending count back to 0" -- \
	test "$(pending_all)" = 0
check "refused: then nobody's own flow goes through M again" -- \
	test "$(as app connect 127.0.0.30 8080)" = OK
touch "$PUB/stop-Z"
syn_rule_del sr_attack

done_testing
