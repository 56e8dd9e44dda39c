#!/bin/bash
# redteam.sh - attacks on the kernel path as it is since b4663f8 (the
# layer's congestion control publishes a redirected socket's flow, the
# proxies' sockops adopts it, the sweep gives back a connect's charge,
# SOCKREDIR_QUERY).  The attacker is uid 65534 ("nobody") in the attached
# cgroup; each check asserts the attack fails.  Moves: tests/helpers/redteam.py.
#
#   app (nobody) ─▶ 127.0.0.1 / ::1 :8007 (blocked), 127.0.0.140 (blocked)
#   app (nobody) ─▶ 127.0.0.130:8080 ─▶ F 127.0.0.1:7420 (redteam.py proxy)
#   app (nobody) ─▶ 127.0.0.131:8080 ─▶ G 7421, fail closed, no proxy
#   app (nobody) ─▶ 127.0.0.133:8080 ─▶ H 7422 (claimed; its SYNs reset)
#   app (nobody) ─▶ 127.0.0.132:8080 (no rule: straight to the server)
. "$(dirname "$0")/lib.sh"
setup
NOBODY=65534
RT=$top/tests/helpers/redteam.py
mkdir -p "$CG/app" "$CG/p-F" "$CG/p-G" "$CG/p-H"
setup_nobody

# as CMD...: one of redteam.py's moves as nobody in the app cgroup.
as() { as_nobody app /usr/bin/python3 "$RT" "$@"; }

"$SR" rule add --block --dst 127.0.0.1 --dport 8007 >/dev/null
"$SR" rule add --block --dst ::1 --dport 8007 >/dev/null
"$SR" rule add --block --dst 127.0.0.140 >/dev/null
"$SR" service add F --listen 127.0.0.1:7420 --owner-cgroup "$CG/p-F" >/dev/null
"$SR" rule add --service F --dst 127.0.0.130 --dport 8080 >/dev/null
"$SR" service add G --listen 127.0.0.1:7421 --owner-cgroup "$CG/p-G" --fail closed >/dev/null
"$SR" rule add --service G --dst 127.0.0.131 --dport 8080 >/dev/null
live0=$(counter F live_flows)

# F's proxy takes every flow the attacks below send through F (NF of them).
NF=14
bg p-F python3 "$RT" proxy F 7420 $NF > "$PUB/F.out"
FPROXY=$LAST_PID
wait_port 7420

# --- TCP Fast Open: sendto(MSG_FASTOPEN) connects without connect() ----------
for a in 127.0.0.1 ::1 ::ffff:127.0.0.1 127.0.0.140 ::ffff:127.0.0.140; do
	out=$(as tfo $a 8007)
	check "TFO: sendto(MSG_FASTOPEN) to blocked $a:8007 fails ($out)" -- test "$out" = EPERM
done
out=$(as tfoconnect 127.0.0.1 8007)
check "TFO: TCP_FASTOPEN_CONNECT + connect to blocked 127.0.0.1:8007 fails ($out)" -- test "$out" = EPERM
out=$(as tfo 127.0.0.130 8080)
check "TFO: sendto(MSG_FASTOPEN) to F's destination goes to F; peer shown as the destination ($out)" -- \
	test "$out" = "OK 127.0.0.130:8080"
out=$(as tfo ::ffff:127.0.0.130 8080)
check "TFO: ... as ::ffff:127.0.0.130 from an IPv6 socket, to F too ($out)" -- \
	test "$out" = "OK [::ffff:127.0.0.130]:8080"

# --- the same socket again after a refused connect ------------------------------
out=$(as reconnect 127.0.0.131 8080 127.0.0.1 8007 127.0.0.131 8080 127.0.0.140 8080)
check "reconnect: refused by fail-closed G, then blocked, G, blocked again ($out)" -- \
	test "$out" = "ECONNREFUSED EPERM ECONNREFUSED EPERM"
out=$(as reconnect 127.0.0.131 8080 127.0.0.130 8080)
check "reconnect: refused by G, then to F's destination: through F ($out)" -- \
	test "$out" = "ECONNREFUSED OK"

# The proxy's side resets the connect (the charge made at connect is held by
# its connecting entry); the same socket then connects where no rule covers:
# its publish takes that charge and gives it back at once, not at the sweep.
"$SR" service add H --listen 127.0.0.1:7422 --owner-cgroup "$CG/p-H" >/dev/null
"$SR" rule add --service H --dst 127.0.0.133 --dport 8080 >/dev/null
bg p-H python3 "$top/tests/helpers/attack.py" hold H 7422 "$PUB/stop-H"
wait_port 7422
syn_rule sr_redteam input 7422 reject with tcp reset
out=$(as reconnect 127.0.0.133 8080 127.0.0.133 8080 127.0.0.132 8080)
check "reconnect: reset at H twice, then straight to a destination no rule covers ($out)" -- \
	test "$out" = "ECONNREFUSED ECONNREFUSED OK"
check "reconnect: its charge is back at once (nobody 0, connecting 0)" -- \
	test "$(uid_pending $NOBODY) $(connecting)" = "0 0"
out=$(as reconnect 127.0.0.133 8080 127.0.0.130 8080)
check "reconnect: reset at H, then to F's destination: through F ($out)" -- \
	test "$out" = "ECONNREFUSED OK"
touch "$PUB/stop-H"
syn_rule_del sr_redteam

# --- connect(AF_UNSPEC) on a redirected socket, then connect again ---------------
out=$(as unspec 127.0.0.130 8080 127.0.0.1 8007)
echo "$out" | sed 's/^/# /'
check "AF_UNSPEC: the first connect went to F" -- \
	sh -c "echo '$out' | grep -qx 'first OK 127.0.0.130:8080'"
check "AF_UNSPEC: then to blocked 127.0.0.1:8007 on the same socket fails" -- \
	sh -c "echo '$out' | grep -qx 'second EPERM'"
out=$(as unspec 127.0.0.130 8080 127.0.0.130 8080)
echo "$out" | sed 's/^/# /'
check "AF_UNSPEC: connecting again to F's destination goes through F again" -- \
	sh -c "echo '$out' | grep -qx 'second OK 127.0.0.130:8080'"

# After connect(AF_UNSPEC) the socket keeps the layer's congestion control
# and its state; connecting it straight to F's listener (no rule redirects
# that) must not hand F the earlier flow's context again: a flow the layer
# never classified, counted or logged.
red=$(counter F redirected)
out=$(as unspec 127.0.0.130 8080 127.0.0.1 7420)
echo "$out" | sed 's/^/# /'
check "AF_UNSPEC replay: straight to F's listener, the peer is the listener" -- \
	sh -c "echo '$out' | grep -qx 'second OK 127.0.0.1:7420'"
check "AF_UNSPEC replay: only the first connect was redirected" -- \
	test "$(counter F redirected)" -eq $((red + 1))

# A redirected connect that fails (F's SYNs reset), then the same socket
# straight to F's listener: within the connecting entry's life that is the
# flow's one use; once the sweep took the entry (the handshake it was for is
# long over), it is no redirect's.  Either way, disconnected and connected
# to the listener again it is nothing.
late() {	# late TAG WAIT_SWEEP: the move, F's SYNs reset until it is ready
	rm -f "$PUB/ready" "$PUB/go"
	syn_rule sr_redteam input 7420 reject with tcp reset
	as late "$1" 127.0.0.130 8080 127.0.0.1 7420 "$PUB/ready" "$PUB/go" > "$PUB/late.out" &
	local pid=$! i
	wait_file "$PUB/ready"
	syn_rule_del sr_redteam
	if [ "$2" = sweep ]; then
		for i in $(seq 150); do [ "$(connecting)" = 0 ] && break; sleep 0.1; done
	fi
	touch "$PUB/go"
	wait $pid
	sed 's/^/# /' "$PUB/late.out"
}
red=$(counter F redirected)
late late1 now
check "failed redirect, then straight to F: reset, then F (the flow's one use), then F as itself" -- \
	test "$(tr '\n' ' ' < "$PUB/late.out")" = "first ECONNREFUSED second 127.0.0.130:8080 OK third 127.0.0.1:7420 OK "
late late2 sweep
check "... after the sweep gave the charge back: reset, then F as itself, twice" -- \
	test "$(tr '\n' ' ' < "$PUB/late.out")" = "first ECONNREFUSED second 127.0.0.1:7420 OK third 127.0.0.1:7420 OK "
check "failed redirects: two redirects counted, not more" -- \
	test "$(counter F redirected)" -eq $((red + 2))

# --- congestion control set before connect ---------------------------------------
out=$(as ccfirst 127.0.0.130 8080)
check "reno set before connect: redirected anyway, the layer's CC on it ($out)" -- \
	test "$out" = "OK 127.0.0.130:8080 sockredir"

# --- SOCKREDIR_QUERY where no proxy is ---------------------------------------------
out=$(as query 127.0.0.130 8080)
check "query: the app's own redirected socket answers nothing ($out)" -- \
	sh -c "echo '$out' | grep -q '^query E.* context E'"
out=$(as selfquery)
check "query: the app's own accepted and client sockets answer nothing ($out)" -- \
	sh -c "echo '$out' | grep -q '^accepted E[A-Z]* E[A-Z]* client E[A-Z]* E[A-Z]*$'"

wait $FPROXY
sed 's/^/# /' "$PUB/F.out"
check "F: every redirected flow came with its context (none dropped, none without)" -- \
	test "$(grep -c '^flow OK hi-' "$PUB/F.out")" -eq $((NF - 4))
check "F: the AF_UNSPEC replay came without one (ENOENT)" -- \
	test "$(grep -c '^flow ENOENT hi-unspec-again$' "$PUB/F.out")" -eq 1
check "F: a failed redirect's flow came once, its context then (the entry live) or never (swept)" -- \
	test "$(grep '^flow [A-Z]* hi-late' "$PUB/F.out" | tr '\n' ' ')" = \
	"flow OK hi-late1 flow ENOENT hi-late1-again flow ENOENT hi-late2 flow ENOENT hi-late2-again "
check "F: nothing else came (no accept error)" -- \
	test "$(grep -vc '^flow OK hi-\|^flow ENOENT hi-unspec-again$\|^flow ENOENT hi-late\|^done$' "$PUB/F.out")" -eq 0

# --- nothing left behind -------------------------------------------------------------
# Refused connects' charges go back with the sweep (8 s after the connect).
back() {
	local i
	for i in $(seq 120); do
		[ "$(uid_pending $NOBODY)" = 0 ] && [ "$(connecting)" = 0 ] &&
			[ "$(pending_all)" = 0 ] && [ "$(pending_entries)" = 0 ] &&
			[ "$(counter F live_flows)" = "$live0" ] && return 0
		sleep 0.1
	done
	echo "# nobody $(uid_pending $NOBODY) connecting $(connecting) all $(pending_all)" \
		"entries $(pending_entries) live $(counter F live_flows) (was $live0)"
	return 1
}
check "leaks: nobody's charges, the connecting and pending tables, live all back" -- back

done_testing
