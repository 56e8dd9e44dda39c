#!/bin/bash
# release.sh - sr_sock_release (the end of a connected UDP flow) runs only
# while a UDP flow can exist (lib/release.c): a redirect rule that matches
# UDP, or flows made before.  The kernel would run it for every socket of
# the cgroup, TCP ones too.
#
#   app ─TCP─▶ its own listener 127.0.0.1:9100 (no rule matches)
#   app ─UDP connect─▶ 127.0.0.10:7 ─▶ U [::]:7602 (udp_proxy.py --sink)
#
# Where it is attached is read from the kernel (bpftool cgroup show); that
# it does not run, from its own run count (kernel.bpf_stats_enabled).
. "$(dirname "$0")/lib.sh"
setup
PIN=/sys/fs/bpf/sockredir
ALT=$HELPERS/sockredir-alt.bpf.o
mkdir -p "$CG/app" "$CG/p-T" "$CG/p-U" "$TMPD/pub"
chmod 777 "$TMPD/pub"

# attached: how many times sr_sock_release runs for a socket in app.
attached() {
	bpftool -j cgroup show "$CG/app" effective | python3 -c 'import json, sys
print(sum(x["name"] == "sr_sock_release" for x in json.loads(sys.stdin.read().strip() or "[]")))'
}
runs() {	# the program's run count
	bpftool -j prog show pinned "$PIN/prog_sr_sock_release" |
		python3 -c 'import json, sys; print(json.load(sys.stdin).get("run_cnt", 0))'
}
# every_run: "NAME RUNS" for every program of the layer (named sr_*).
every_run() {
	bpftool -j prog show | python3 -c 'import json, sys
n = {}
for p in json.load(sys.stdin):
    if p.get("name", "").startswith("sr_"):
        n[p["name"]] = n.get(p["name"], 0) + p.get("run_cnt", 0)
for k, v in sorted(n.items()): print(k, v)'
}
prog_id() { bpftool -j prog show pinned "$PIN/prog_sr_sock_release" |
	python3 -c 'import json, sys; print(json.load(sys.stdin)["id"])'; }
link_prog() { bpftool -j link show pinned "$PIN/link_sr_sock_release" |
	python3 -c 'import json, sys; print(json.load(sys.stdin)["prog_id"])'; }
live_udp() { "$SR" -j status | python3 -c 'import json, sys; print(json.load(sys.stdin)["live_udp_flows"])'; }
poll() { local i; for i in $(seq 200); do "$@" && return 0; sleep 0.05; done; return 1; }
# tcp_loop N: N TCP connections in app to app's own listener (no rule
# matches them): connect, accept, close both.
tcp_loop() {
	in_cg app python3 -c 'import socket, sys
l = socket.socket(); l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l.bind(("127.0.0.1", 9100)); l.listen(64)
for _ in range(int(sys.argv[1])):
    c = socket.create_connection(("127.0.0.1", 9100)); a, _ = l.accept()
    a.close(); c.close()
print("done")' "$1"
}

check "up: sr_sock_release is pinned as a program" -- test -e "$PIN/prog_sr_sock_release"
check "up, no rules: it runs nowhere" -- test "$(attached)" = 0
"$SR" service add T --listen 127.0.0.1:7601 --owner-cgroup "$CG/p-T" >/dev/null
"$SR" rule add --service T --proto tcp --dst 127.0.0.9 --dport 9000 >/dev/null
"$SR" rule add --block --proto udp --dst 127.0.0.20 >/dev/null
check "a TCP redirect rule and a UDP block rule: still nowhere" -- test "$(attached)" = 0
"$SR" rule add --service nope --proto udp >/dev/null 2>&1
check "a rule add refused (unknown service, proto udp): exit 2, still nowhere" -- \
	test $? -eq 2 -a "$(attached)" = 0

prev=$(sysctl -n kernel.bpf_stats_enabled)
trap 'sysctl -qw kernel.bpf_stats_enabled=$prev; cleanup' EXIT
sysctl -qw kernel.bpf_stats_enabled=1
r0=$(runs)
every_run > "$TMPD/runs0"
out=$(tcp_loop 1000)
every_run > "$TMPD/runs1"
r1=$(runs)
check "only TCP rules: 1,000 unmatched TCP connections ($out) ran it 0 times ($r0 -> $r1)" -- \
	test "$out" = done -a "$r1" = "$r0"
# The whole layer, not just this program: the connect hook once per
# connection, the getpeername hook once (accept() asks the peer's address
# through it), post_bind4 once for the loop's one listener, and nothing
# else (the congestion control and the proxies' sockops are on no socket
# of these).
ran=$(python3 - "$TMPD/runs0" "$TMPD/runs1" <<'PY'
import sys
a, b = ({l.split()[0]: int(l.split()[1]) for l in open(f)} for f in sys.argv[1:])
print(" ".join(f"{n}={b[n] - a.get(n, 0)}" for n in sorted(b) if b[n] != a.get(n, 0)))
PY
)
echo "# every layer program's runs for 1,000 unmatched TCP connections: $ran"
check "... and of the whole layer only connect4 and getpeername4 ran, 1,000 times each, and post_bind4 for the listener ($ran)" -- \
	test "$ran" = "sr_connect4=1000 sr_getpeername4=1000 sr_post_bind4=1"

"$SR" service add U --listen 127.0.0.1:7602 --listen "[::1]:7602" --owner-cgroup "$CG/p-U" >/dev/null
"$SR" rule add --service U --proto udp --dst 127.0.0.10 --dport 7 >/dev/null
check "a UDP redirect rule: it runs for app's sockets, once" -- test "$(attached)" = 1
r2=$(runs)
out=$(tcp_loop 1000)
r3=$(runs)
echo "# with a UDP rule, 1,000 TCP connections: $((r3 - r2)) runs of sr_sock_release"
check "... then every socket pays: 2 runs per TCP connection (client, accepted) and 1 for the listener ($((r3 - r2)))" -- \
	test "$out" = done -a $((r3 - r2)) -eq 2001
sysctl -qw kernel.bpf_stats_enabled="$prev"

# --- a connected flow made before the UDP rule goes ------------------------------
bg p-U python3 "$top/tests/helpers/udp_proxy.py" --name U --port 7602 --sink --log "$TMPD/U.log"
wait_port 7602 udp
bg app /usr/bin/python3 -c 'import os, socket, sys, time
d = sys.argv[1]
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.connect(("127.0.0.10", 7)); s.send(b"c")
open(d + "/ready", "w").close()
while not os.path.exists(d + "/go"):
    time.sleep(0.05)
s.close()
open(d + "/closed", "w").close()' "$TMPD/pub"
poll test -e "$TMPD/pub/ready"
check "a connected UDP flow through U is live" -- test "$(live_udp)" = 1
"$SR" rule del "$("$SR" -j rule list | python3 -c 'import json, sys
print(next(r["id"] for r in json.load(sys.stdin) if r.get("service") == "U"))')" >/dev/null
check "its rule deleted, the flow lives on: sr_sock_release stays" -- \
	test "$(attached):$(live_udp)" = 1:1
touch "$TMPD/pub/go"
poll test -e "$TMPD/pub/closed"
check "the flow made before ends with its socket, at once" -- poll test "$(live_udp)" = 0
"$SR" rule add --service T --proto tcp --dst 127.0.0.9 --dport 9001 >/dev/null
check "the next rule change: no UDP rule, no flow: detached" -- test "$(attached)" = 0

# --- any protocol, a service's removal ----------------------------------------
"$SR" rule add --service U --dst 127.0.0.11 >/dev/null
check "a rule of any protocol can make UDP flows: attached" -- test "$(attached)" = 1
"$SR" service del U >/dev/null
check "its service deleted (its rules with it), no flow: detached at once" -- test "$(attached)" = 0

# --- upgrade ------------------------------------------------------------------
old=$(prog_id)
"$SR" upgrade --object "$ALT" >/dev/null
check "upgrade with no UDP rule: still not attached" -- test "$(attached)" = 0
check "upgrade: the pinned program is the new build's ($old -> $(prog_id))" -- test "$(prog_id)" != "$old"
"$SR" service add U --listen 127.0.0.1:7602 --owner-cgroup "$CG/p-U" >/dev/null
"$SR" rule add --service U --proto udp --dst 127.0.0.10 --dport 7 >/dev/null
check "after it, a UDP rule attaches the new build's program" -- \
	test "$(attached):$(link_prog)" = "1:$(prog_id)"
old=$(prog_id)
"$SR" upgrade >/dev/null
check "upgrade with a UDP rule: still attached, once, to this build's program" -- \
	test "$(attached)" = 1 -a "$(link_prog)" != "$old"
"$SR" down >/dev/null
check "down: nothing left" -- test "$(attached)" = 0 -a ! -e "$PIN"
done_testing
