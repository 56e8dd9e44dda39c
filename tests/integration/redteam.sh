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

# A user namespace's root (nobody, unshare -Urn) may put the layer's
# congestion control on a socket of its own: its callbacks find no state
# of the layer's there, and nothing of the layer's moves.
red=$(status_counter redirected); live=$(counter F live_flows)
out=$(as_nobody app unshare -Urn sh -c 'ip link set lo up && exec python3 "$0" usercc' "$RT")
check "userns: nobody's own socket with the sockredir congestion control connects ($out)" -- \
	test "$out" = "OK sockredir hi-usercc"
check "userns: ... and the layer saw nothing (no redirect, no live flow, nothing pending or connecting)" -- \
	test "$(status_counter redirected) $(counter F live_flows) $(pending_entries) $(connecting)" = "$red $live 0 0"

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

# --- the smaller flow: per-socket state by role, the body by cookie ---------------
# The redirected socket keeps a small sr_conn, its flow's body waits in
# sr_connect_flows (by socket cookie) until the publish.  Attacks on that,
# through S (a proxy that prints each flow's original destination) and R
# (claimed, its SYNs lost: connects stay in flight).  Moves:
# tests/helpers/redteam_flow.py.
RTF=$top/tests/helpers/redteam_flow.py
asf() {	# asf CMD...: one of redteam_flow.py's moves as nobody in the app cgroup
	in_cg app setpriv --reuid=$NOBODY --regid=$NOBODY --clear-groups \
		/usr/bin/python3 "$RTF" "$@"
}
mkdir -p "$CG/p-S" "$CG/p-R"
"$SR" service add S --listen 127.0.0.1:7423 --owner-cgroup "$CG/p-S" >/dev/null
"$SR" rule add --service S --dst 127.0.0.136 --dport 8080 >/dev/null
"$SR" rule add --service S --dst 127.0.0.137 --dport 8080 >/dev/null
"$SR" service add R --listen 127.0.0.1:7424 --owner-cgroup "$CG/p-R" >/dev/null
"$SR" rule add --service R --dst 127.0.0.138 --dport 8080 >/dev/null
entries() { bpftool map dump pinned $PIN/$1 -j | python3 -c 'import json,sys
print(len(json.load(sys.stdin)))'; }
flows() { entries sr_connect_flows; }
NS_FLOWS=7	# the moves below that reach S
bg p-S python3 "$RTF" ctxproxy S 7423 $NS_FLOWS > "$PUB/S.out"
SPROXY=$LAST_PID
bg p-R python3 "$top/tests/helpers/attack.py" hold R 7424 "$PUB/stop-R"
wait_port 7423; wait_port 7424
nsenter --net=/run/netns/$NS nft -f - <<'NFT'
table inet sr_redteam2 {
	chain out {
		type filter hook output priority 0;
		tcp dport 7424 tcp flags syn drop
	}
}
NFT

# Closed while connecting (no callback of the layer's runs: its congestion
# control never started), or shut down first: each connect's charge and its
# body wait for the sweep; none is lost, none is kept.  (Started first, so
# that the sweep runs while the attacks below do.)
redR=$(counter R redirected)
out=$(asf closing close 127.0.0.138 8080 40)
check "closed while connecting: all 40 redirected ($out)" -- test "$out" = "started 40 refused 0"
out=$(asf closing shutdown 127.0.0.138 8080 40)
check "shut down, then closed while connecting: all 40 redirected ($out)" -- \
	test "$out" = "started 40 refused 0"
check "closed while connecting: each counted once ($(counter R redirected))" -- \
	test "$(counter R redirected)" -eq $((redR + 80))
check "closed while connecting: their bodies are held by cookie, as many as their charges" -- \
	test "$(flows) $(entries sr_connecting)" = "$(uid_pending $NOBODY) $(uid_pending $NOBODY)"

# connect() again on a redirected socket: connected (EISCONN), or still in
# flight (EALREADY, S's SYNs lost meanwhile).  The kernel refuses before the
# hook runs, so the flow S gets is the first connect's, counted once.
redS=$(counter S redirected)
out=$(asf again again4 127.0.0.136 8080 127.0.0.137 8080 | tr '\n' ' ')
check "connect() again when connected: EISCONN, the peer still the first destination ($out)" -- \
	test "$out" = "first 127.0.0.136:8080 again EISCONN 127.0.0.136:8080 "
out=$(asf again again6 ::ffff:127.0.0.136 8080 ::ffff:127.0.0.137 8080 | tr '\n' ' ')
check "... on an IPv6 socket to IPv4-mapped destinations ($out)" -- \
	test "$out" = "first [::ffff:127.0.0.136]:8080 again EISCONN [::ffff:127.0.0.136]:8080 "
rm -f "$PUB/ready"
nsenter --net=/run/netns/$NS nft add rule inet sr_redteam2 out tcp dport 7423 tcp flags syn drop
asf racing racing 127.0.0.136 8080 127.0.0.137 8080 "$PUB/ready" > "$PUB/racing.out" &
RACING=$!
for i in $(seq 200); do [ -e "$PUB/ready" ] && break; sleep 0.05; done
nsenter --net=/run/netns/$NS nft flush chain inet sr_redteam2 out
nsenter --net=/run/netns/$NS nft add rule inet sr_redteam2 out tcp dport 7424 tcp flags syn drop
wait $RACING
out=$(tr '\n' ' ' < "$PUB/racing.out")
check "connect() again while in flight: EALREADY, then through S as the first destination ($out)" -- \
	test "$out" = "again EALREADY sent OK 127.0.0.136:8080 "

# MPTCP: redirected, disconnected (AF_UNSPEC), connected straight to S's
# listener: the subflow's flow was published once; S gets no context.  (Not
# checked: the peer getpeername shows then.  The MPTCP socket's own sr_conn,
# which getpeername reads, is never cleared: it still shows the first
# destination, to the application itself.)
out=$(asf mpunspec mp4 127.0.0.136 8080 127.0.0.1 7423 | tr '\n' ' ')
check "MPTCP: redirected, then disconnected and straight to S's listener ($out)" -- \
	sh -c "echo '$out' | grep -q '^first OK 127.0.0.136:8080 second OK '"
out=$(asf mpunspec mp6 ::ffff:127.0.0.136 8080 ::ffff:127.0.0.1 7423 | tr '\n' ' ')
check "... IPv4-mapped ($out)" -- \
	sh -c "echo '$out' | grep -q '^first OK \[::ffff:127.0.0.136\]:8080 second OK '"
check "connect() again, MPTCP: five redirects counted, not more" -- \
	test "$(counter S redirected)" -eq $((redS + 5))

wait $SPROXY
sed 's/^/# /' "$PUB/S.out"
check "S: each redirect's flow came once, as its first destination" -- \
	test "$(grep '^flow OK' "$PUB/S.out" | tr '\n' ' ')" = \
	"flow OK 127.0.0.136:8080 hi-again4 flow OK 127.0.0.136:8080 hi-again6 flow OK 127.0.0.136:8080 hi-racing flow OK 127.0.0.136:8080 hi-mp4 flow OK 127.0.0.136:8080 hi-mp6 "
check "S: the MPTCP sockets' straight connects came without a context (ENOENT)" -- \
	test "$(grep -c '^flow ENOENT - hi-mp[46]-again$' "$PUB/S.out")" -eq 2
check "S: nothing else came" -- test "$(grep -vc '^flow \|^done$' "$PUB/S.out")" -eq 0
touch "$PUB/stop-R"
nsenter --net=/run/netns/$NS nft delete table inet sr_redteam2

# The sweep took the in-flight connects' charges: their bodies went too.
swept() {
	local i
	for i in $(seq 120); do
		[ "$(connecting)" = 0 ] && [ "$(flows)" = 0 ] && return 0
		sleep 0.1
	done
	echo "# connecting $(connecting) bodies $(flows) nobody $(uid_pending $NOBODY)"
	return 1
}
check "leaks: no flow body left by cookie (sr_connect_flows) once no connect is in flight" -- swept

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
