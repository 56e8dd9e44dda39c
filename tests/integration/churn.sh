#!/bin/bash
# Flow state is returned when sockets close: after a churn of redirected
# connections nothing is left in the kernel's pending map and no flow is live.
. "$(dirname "$0")/lib.sh"
setup
N=${CHURN_N:-20000}
nsenter --net=/run/netns/$NS sysctl -qw net.ipv4.ip_local_port_range="1024 65000"
mkdir -p "$CG/p-C"
"$SR" service add C --listen 127.0.0.1:7300 --owner-cgroup "$CG/p-C" >/dev/null
"$SR" rule add --service C --dst 127.0.0.2 --dport 9999 >/dev/null
bg p-C sh -c "'$HELPERS/churn' serve 127.0.0.1:7300 $N C > '$TMPD/served'"
SERVE=$LAST_PID
wait_port 7300
got=$(in_cg app "$HELPERS/churn" connect 127.0.0.2:9999 "$N")
wait $SERVE
pending() { bpftool map dump pinned /sys/fs/bpf/sockredir/sr_pending | grep -c '"key"'; }
check "churn: $N redirected connections completed" -- test "$got" -eq "$N"
check "churn: every accepted socket had records" -- test "$(cat $TMPD/served)" -eq "$N"
check "churn: pending map empty afterwards" -- test "$(pending)" -eq 0
check "churn: no live flows afterwards" -- sh -c "'$SR' -j status | grep -q '\"live_flows\":0'"
check "churn: every flow was counted" -- test "$("$SR" -j service list | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["redirected"])')" -eq "$N"

# Connects that no proxy ever accepts leave nothing behind either.
kill_pid $SERVE
bg p-C python3 -c 'import socket,time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", 7300)); s.listen(0)
s.setsockopt(0x5352, 3, b"C"); time.sleep(60)'
wait_port 7300
in_cg app python3 -c 'import socket
for i in range(20):
    s = socket.socket(); s.settimeout(0.2)
    try: s.connect(("127.0.0.2", 9999))
    except OSError: pass
    s.close()'
check "unaccepted connects: pending map empty once clients close" -- test "$(pending)" -eq 0
check "unaccepted connects: no live flows" -- sh -c "'$SR' -j status | grep -q '\"live_flows\":0'"
done_testing
