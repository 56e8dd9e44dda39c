#!/bin/bash
# sockredir demo: two inspecting proxies from two vendors on one host.
#
#   curl (cgroup app) ─▶ acme-log (weight 200) ─▶ shield (weight 100) ─▶ web server
#
# Everything happens in a throw-away cgroup and network namespace, on
# loopback, and is removed on exit, also after ^C.
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
# SR=/usr/bin/sockredir RELAY=/usr/bin/sockredir-relay run the installed ones.
SR=${SR:-$top/build/sockredir}
RELAY=${RELAY:-$top/build/sockredir-relay}
[ "$(id -u)" = 0 ] || { echo "demo: run as root (sudo make demo)" >&2; exit 1; }
CG2=$(awk '$9 == "cgroup2" { print $5; exit }' /proc/self/mountinfo)
CG=$CG2/sockredir-demo-$$
NS=srdemo-$$
T=$(mktemp -d)
PIDS=""

cleanup() {
	for p in $PIDS; do kill "$p" 2>/dev/null; done
	for p in $PIDS; do wait "$p" 2>/dev/null; done
	"$SR" down >/dev/null 2>&1
	for p in $(cat "$CG"/*/cgroup.procs 2>/dev/null); do kill -9 "$p" 2>/dev/null; done
	find "$CG" -depth -type d -exec rmdir {} + 2>/dev/null
	ip netns del $NS 2>/dev/null
	rm -rf "$T"
}
mkdir -p /run/sockredir
exec 9>/run/sockredir/test.lock
if ! flock -n 9; then
	# The layer is one per host: tests and demos take turns.
	echo "demo: waiting for a sockredir test or demo running now to finish" \
	     "(it holds /run/sockredir/test.lock)..." >&2
	flock 9
fi
trap cleanup EXIT
trap 'exit 130' INT TERM

in_cg() {	# in_cg ROLE CMD...: run CMD in cgroup ROLE and the demo's netns
	local role=$1; shift
	mkdir -p "$CG/$role"
	sh -c 'echo $$ > "$1/cgroup.procs" && shift && exec "$@"' sh "$CG/$role" \
		nsenter --net=/run/netns/$NS "$@"
}
bg() {	# bg ROLE CMD...: the same in the background; sh and nsenter exec into CMD
	local role=$1; shift
	mkdir -p "$CG/$role"
	sh -c 'echo $$ > "$1/cgroup.procs" && shift && exec "$@"' sh "$CG/$role" \
		nsenter --net=/run/netns/$NS "$@" &
	PIDS="$PIDS $!"
}
wait_port() {
	for _ in $(seq 200); do
		nsenter --net=/run/netns/$NS ss -Hltn "sport = :$1" | grep -q . && return 0
		sleep 0.05
	done
	echo "demo: nothing listens on port $1" >&2; exit 1
}

ip netns add $NS
ip -n $NS link set lo up
mkdir -p "$CG/app" "$CG/acme" "$CG/shield" "$T/www"
echo "<h1>shop</h1>" > "$T/www/index.html"
if "$SR" status | grep -q '^up'; then
	echo "demo: sockredir is already up on this machine; run 'sockredir down' first" >&2
	exit 1
fi
"$SR" up --cgroup "$CG" >/dev/null || exit 1
"$SR" service add acme-log --listen 127.0.0.1:7001 --owner-cgroup "$CG/acme" >/dev/null
"$SR" service add shield --listen 127.0.0.1:7002 --owner-cgroup "$CG/shield" >/dev/null
"$SR" rule add --service acme-log --proto tcp --dport 80 --weight 200 >/dev/null
"$SR" rule add --service shield --proto tcp --dport 80 --weight 100 >/dev/null

bg web sh -c "exec python3 -m http.server 80 --bind 127.0.0.2 --directory '$T/www' 2>'$T/web.log'"
bg acme "$RELAY" -q --service acme-log --listen 127.0.0.1:7001 --log "$T/acme.log"
bg shield "$RELAY" -q --service shield --listen 127.0.0.1:7002 \
	--deny-host blocked.example --log "$T/shield.log"
for p in 80 7001 7002; do wait_port $p; done

fetch() {	# fetch HOST: curl http://HOST/ as the app, printing "code bytes"
	in_cg app curl -s -m 5 -o /dev/null -w '%{http_code} %{size_download}' \
		--resolve "$1:80:127.0.0.2" "http://$1/" 2>/dev/null
}
r1=$(fetch shop.example)
r2=$(fetch blocked.example)
r3=$(fetch news.example)
# Relays write a flow's line when both its sides are closed: wait for
# the three lines each, 5 s at most.
for _ in $(seq 100); do
	[ "$(cat "$T/acme.log" "$T/shield.log" 2>/dev/null | wc -l)" -ge 6 ] && break
	sleep 0.05
done

"$SR" -j service list > "$T/services.json"
"$SR" -j status > "$T/status.json"
python3 - "$T" "$r1" "$r2" "$r3" <<'PY'
import json, sys
t, results = sys.argv[1], sys.argv[2:]
names = {s["id"]: s["name"] for s in json.load(open(t + "/services.json"))}
status = json.load(open(t + "/status.json"))

def flows(name):
    try:
        return [json.loads(l) for l in open("%s/%s.log" % (t, name)) if l.strip()]
    except FileNotFoundError:
        return []

acme, shield = flows("acme"), flows("shield")
print("\nsockredir demo: curl's connections to port 80 pass two inspecting proxies")
print("from two vendors, acme-log (weight 200) and shield (weight 100, blocks")
print("blocked.example), both sockredir-relay, chained by redirect records.\n")
print("  %-28s %-42s %s" % ("request", "path", "result"))
for host, res in zip(("shop.example", "blocked.example", "news.example"), results):
    a = [f for f in acme if f.get("host") == host]
    s = [f for f in shield if f.get("host") == host]
    path = ["curl"] + ["acme-log"] * len(a) + ["shield"] * len(s)
    code, size = (res.split() + ["000", "0"])[:2]
    denied = any(f.get("end") == "denied" for f in s)
    if denied:
        path_s, out = " -> ".join(path) + " x", "refused by shield (reset)"
    else:
        path_s, out = " -> ".join(path) + " -> server", "HTTP %s, %s bytes" % (code, size)
    print("  %-28s %-42s %s" % ("GET http://%s/" % host, path_s, out))

print("\n  what each proxy saw (its flow log):")
for who, fl in (("acme-log", acme), ("shield", shield)):
    for f in fl:
        chain = "[" + ", ".join(names.get(i, str(i)) for i in f.get("chain", [])) + "]"
        app = f.get("app", {})
        print("    %-9s flow %-6s chain %-20s app %s (pid %s, uid %s) -> %s host %s: %s"
              % (who, f.get("flow_id"), chain, app.get("comm"), app.get("pid"),
                 app.get("uid"), f.get("dst"), f.get("host"), f.get("end")))

visits = {}
for f in acme + shield:
    visits.setdefault(f.get("flow_id"), []).append(f.get("service"))
once = all(len(v) == len(set(v)) for v in visits.values())
c = status.get("counters", {})
print("\n  loops: %s. %d flows, each proxy at most once per flow; hop-limit hits %d,"
      % ("none" if once else "FOUND", len(visits), c.get("hop_limit", 0)))
print("  unrecorded proxy egress %d, live flows now %d.\n"
      % (c.get("unrecorded_egress", 0), status.get("live_flows", 0)))
ok = once and results[0].startswith("200") and not results[1].startswith("200")
sys.exit(0 if ok else 1)
PY
st=$?
echo "cleaning up: relays stopped, layer detached, cgroup and namespace removed."
exit $st
