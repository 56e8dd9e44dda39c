#!/bin/bash
# sockredir-relay when things go wrong: the relay killed mid-transfer, and
# one unprivileged user flooding it.
#
#   app (relay_crash) --connect 127.0.0.5:9001--> [hook] --> relay C 127.0.0.1:7101
#        ^ accepts on 127.0.0.5:9001  <--------------------------------'
#
#   nobody (relay_flood) --9,990 silent connects 127.0.0.6:9002--> [hook] --> relay F --> echo
#   app2 (relay_load)    --100 flows 127.0.0.6:9002--------------> [hook] --> relay F --> echo
. "$(dirname "$0")/lib.sh"
setup
is() { [ "$1" = "$2" ] || { echo "got '$1', want '$2'"; return 1; }; }
mkdir -p "$CG/pc" "$CG/pf"
"$SR" service add C --listen 127.0.0.1:7101 --owner-cgroup "$CG/pc" >/dev/null
"$SR" rule add --service C --dst 127.0.0.5/32 --dport 9001 >/dev/null

# --- kill -9 mid-transfer: both ends see a reset, never an end of stream ---
crash_ok() {
	in_cg app "$HELPERS/relay_crash" "$CG/pc/cgroup.procs" 127.0.0.5:9001 \
		127.0.0.5:9001 20 -- "$RELAY" --service C --listen 127.0.0.1:7101 \
		--log /dev/null > "$TMPD/crash.out"
	local st=$?
	cat "$TMPD/crash.out"
	return $st
}
check "kill -9 of the relay mid-transfer, 20 times each way: ECONNRESET at both ends" -- crash_ok
sed 's/^/# /' "$TMPD/crash.out"

# --- one unprivileged user floods the relay; another app still gets through -
"$SR" service add F --listen 127.0.0.1:7102 --owner-cgroup "$CG/pf" >/dev/null
"$SR" rule add --service F --dst 127.0.0.6/32 --dport 9002 >/dev/null
bg srv "$HELPERS/relay_load" serve "[::]:9002"
wait_port 9002
# Default limits, but a long first-byte timeout so that the flood is held
# for as long as the test needs it.
bg pf "$RELAY" --service F --listen 127.0.0.1:7102 --log "$TMPD/F.log" \
	--first-byte-timeout 60000 2> "$TMPD/F.err"
RELAY_F=$LAST_PID
wait_port 7102
nofile=$(awk '/Max open files/ { print $4 }' /proc/$RELAY_F/limits)
max=$(( (nofile - 64) / 3 )) share=$(( (nofile - 64) / 3 / 4 ))
echo "# relay F: $nofile descriptors: --max-flows $max, --max-flows-per-app $share"
FLOOD=9990
t0=$(date +%s%N)
bg flood setpriv --reuid=65534 --regid=65534 --clear-groups \
	"$HELPERS/relay_flood" 127.0.0.6:9002 $FLOOD $share > "$TMPD/flood.out"
FLOOD_PID=$LAST_PID
for i in $(seq 600); do [ -s "$TMPD/flood.out" ] && break; sleep 0.05; done
echo "# flood (uid 65534): $(cat "$TMPD/flood.out")"
check "flood: uid 65534 holds only its share ($share of $FLOOD), the rest reset" -- \
	eval 'is "$(cat "$TMPD/flood.out" | cut -d" " -f1-6)" "$FLOOD opened, $((FLOOD - share)) ended, $share held"'
check "flood: every refused flow logged app_limit" -- eval '
	wait_lines "$TMPD/F.log" $((FLOOD - share)) &&
	is "$(grep -c "\"uid\":65534.*\"end\":\"app_limit\"" "$TMPD/F.log")" $((FLOOD - share))'
t1=$(date +%s%N)
load=$(in_cg app2 "$HELPERS/relay_load" run 127.0.0.6:9002 100 4096)
t2=$(date +%s%N)
echo "# another app during the flood: $load in $(( (t2 - t1) / 1000000 )) ms"
check "flood: another app's 100 flows all succeed meanwhile" -- is "$load" "100 ok, 0 failed"
fds=$(ls /proc/$RELAY_F/fd | wc -l)
echo "# relay F holds $fds descriptors for $share silent flows"
check "flood: a silent flow costs the relay 2 descriptors" -- \
	test "$fds" -le $(( 2 * share + 64 ))
check "flood: the relay never stopped accepting" -- eval '! grep -q "not accepting" "$TMPD/F.err"'
kill_pid $FLOOD_PID
echo "# flood to outcome: $(( (t2 - t0) / 1000000 )) ms"

done_testing
