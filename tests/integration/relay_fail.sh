#!/bin/bash
# sockredir-relay when things go wrong: the relay killed mid-transfer, and
# one unprivileged user flooding it.
#
#   app (relay_crash) --connect 127.0.0.5:9001--> [hook] --> relay C 127.0.0.1:7101
#        ^ accepts on 127.0.0.5:9001  <--------------------------------'
#
#   nobody (relay_flood) --9,990 silent connects 127.0.0.6:9002--> [hook] --> relay F
#   app2 (relay_load)    --100 flows 127.0.0.6:9002--------------> [hook] --> relay F --> echo
. "$(dirname "$0")/lib.sh"
setup
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

done_testing
