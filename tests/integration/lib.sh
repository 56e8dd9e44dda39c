# lib.sh - shared setup for integration tests (sourced by bash scripts).
#
# Every test gets its own network namespace and a throw-away cgroup v2
# subtree with the redirect layer attached to it, never to the root:
#
#   <cgroup2 mount>/sockredir-test-<pid>/      <- sockredir up --cgroup
#       app/  pa/  pb/ ...                     <- one child per role
#
# All traffic stays on the namespace's loopback.  cleanup runs on EXIT, also
# after a failure or ^C: it stops what the test started, by pid, then
# detaches and removes the layer, the cgroups and the namespace.
set -u
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
SR=$top/build/sockredir
RELAY=$top/build/sockredir-relay
HELPERS=$top/build/tests
CG2=$(awk '$9 == "cgroup2" { print $5; exit }' /proc/self/mountinfo)
CG=$CG2/sockredir-test-$$
NS=srtest-$$
PIDS=""
TAP_N=0
TAP_FAILED=0

ok() {	# ok COND-STATUS NAME: print a TAP line for the status of the last test
	local st=$1; shift
	TAP_N=$((TAP_N + 1))
	if [ "$st" -eq 0 ]; then echo "ok $TAP_N - $*"
	else echo "not ok $TAP_N - $*"; TAP_FAILED=$((TAP_FAILED + 1)); fi
}
check() {	# check NAME -- CMD...: run CMD, ok if it exits 0
	local name=$1; shift; [ "$1" = -- ] && shift
	"$@" >/tmp/sr-check-$$ 2>&1; local st=$?
	ok $st "$name"
	[ $st -eq 0 ] || sed 's/^/# /' /tmp/sr-check-$$
	return 0
}
# jfield FILE LINE EXPR: evaluate EXPR (Python) over JSON line LINE of FILE.
jfield() {
	python3 -c 'import json,sys
d = json.loads(open(sys.argv[1]).read().splitlines()[int(sys.argv[2])])
print(eval(sys.argv[3], {}, d))' "$@"
}
# sid NAME: service NAME's id.
sid() {
	"$SR" -j service list | python3 -c 'import json,sys
print(next(s["id"] for s in json.load(sys.stdin) if s["name"] == sys.argv[1]))' "$1"
}
# counter SERVICE FIELD: one of service SERVICE's counters.
counter() {
	"$SR" -j service list | python3 -c 'import json,sys
print(next(s[sys.argv[2]] for s in json.load(sys.stdin) if s["name"] == sys.argv[1]))' "$1" "$2"
}
# wait_lines FILE N: poll until FILE has N lines (proxies log a flow when
# it ends, just after the client sees the end); 10 s at most.
wait_lines() {
	local i
	for i in $(seq 200); do
		[ "$(lines "$1")" -ge "$2" ] && return 0
		sleep 0.05
	done
	return 1
}
# lines FILE: how many lines FILE has (0 if missing).
lines() { [ -f "$1" ] && wc -l < "$1" || echo 0; }
# kill_pid PID: stop one process this test started.
kill_pid() { kill "$1" 2>/dev/null; wait "$1" 2>/dev/null; return 0; }

done_testing() { echo "1..$TAP_N"; [ $TAP_FAILED -eq 0 ]; }

# in_cg ROLE CMD...: run CMD in cgroup ROLE (created if needed) and the netns.
in_cg() {
	local role=$1; shift
	mkdir -p "$CG/$role"
	sh -c 'echo $$ > "$1/cgroup.procs" && shift && exec "$@"' sh "$CG/$role" \
		nsenter --net=/run/netns/$NS "$@"
}
# bg ROLE CMD...: in_cg in the background.  The pid is CMD's own (sh and
# nsenter exec into it), remembered for cleanup.
bg() {
	local role=$1; shift
	mkdir -p "$CG/$role"
	sh -c 'echo $$ > "$1/cgroup.procs" && shift && exec "$@"' sh "$CG/$role" \
		nsenter --net=/run/netns/$NS "$@" &
	LAST_PID=$!
	PIDS="$PIDS $!"
}

# wait_port PORT [tcp|udp]: poll ss in the netns until something listens.
wait_port() {
	local i flag=-ltn; [ "${2:-tcp}" = udp ] && flag=-lun
	for i in $(seq 200); do
		nsenter --net=/run/netns/$NS ss -H $flag "sport = :$1" | grep -q . && return 0
		sleep 0.05
	done
	echo "# nothing listens on port $1" >&2; return 1
}

# wait_file FILE: poll until FILE exists; 10 s at most.
wait_file() {
	local i
	for i in $(seq 200); do [ -e "$1" ] && return 0; sleep 0.05; done
	return 1
}

# as_nobody ROLE CMD...: in_cg as uid and gid 65534 ("nobody"), no groups.
as_nobody() {
	local role=$1; shift
	in_cg "$role" setpriv --reuid=65534 --regid=65534 --clear-groups "$@"
}
# serve_hello PORT...: python's http.server in srv on [::]:PORT for each
# PORT, serving $TMPD/www (hello.txt says hello); returns once all listen.
serve_hello() {
	local p
	mkdir -p "$TMPD/www"
	echo hello > "$TMPD/www/hello.txt"
	for p in "$@"; do
		bg srv sh -c "exec python3 -m http.server $p --bind :: --directory '$TMPD/www' >/dev/null 2>&1"
	done
	for p in "$@"; do wait_port "$p" || return 1; done
}
# setup_nobody: what the attacks as nobody start from: $PUB, where
# nobody's processes leave what they learnt, and serve_hello 8080 8007.
setup_nobody() {
	chmod 711 "$TMPD"
	PUB=$TMPD/pub
	mkdir -m 777 "$PUB"
	serve_hello 8080 8007
}
# syn_rule TABLE input|output PORT VERDICT...: an nft table of the netns
# with one rule, VERDICT for TCP SYNs to PORT (a proxy whose SYNs are lost
# or reset while its listener looks fine); syn_rule_del TABLE removes it.
syn_rule() {
	nsenter --net=/run/netns/$NS nft -f - <<NFT
table inet $1 {
	chain $2 {
		type filter hook $2 priority 0;
		tcp dport $3 tcp flags syn ${*:4}
	}
}
NFT
}
syn_rule_del() { nsenter --net=/run/netns/$NS nft delete table inet "$1"; }

# The layer's state, read from its pinned maps and `sockredir -j status`.
PIN=/sys/fs/bpf/sockredir
# status_counter NAME: a layer-wide counter.
status_counter() {
	"$SR" -j status | python3 -c 'import json,sys
print(json.load(sys.stdin)["counters"][sys.argv[1]])' "$1"
}
# uid_pending UID: the flows UID has pending (published, not yet adopted).
uid_pending() {
	bpftool map dump pinned $PIN/sr_pending_uids -j | python3 -c 'import json,sys
print(sum(e["formatted"]["value"] for e in json.load(sys.stdin) if e["formatted"]["key"] == int(sys.argv[1])))' "$1"
}
# connecting: redirected connects not yet connected; pending_all: the
# layer-wide pending count; pending_entries: the pending map's entries.
connecting() { bpftool map dump pinned $PIN/sr_connecting -j | grep -o '"key"' | wc -l; }
pending_all() {
	bpftool map dump pinned $PIN/sr_pending_count -j | python3 -c 'import json,sys
print(json.load(sys.stdin)[0]["formatted"]["value"])'
}
pending_entries() { bpftool map dump pinned $PIN/sr_pending -j | grep -o '"key"' | wc -l; }

# A resolver in srv on 127.0.0.10 and ::1, port 53: host.example.test is
# 192.0.2.7 and 2001:db8::7.
start_dnsmasq() {
	cat > "$TMPD/dnsmasq.conf" <<EOF
no-resolv
no-hosts
bind-interfaces
listen-address=127.0.0.10
listen-address=::1
address=/host.example.test/192.0.2.7
address=/host.example.test/2001:db8::7
EOF
	bg srv dnsmasq --keep-in-foreground --conf-file="$TMPD/dnsmasq.conf" \
		--user=root --pid-file="$TMPD/dnsmasq.pid" --port=53
}

cleanup() {
	local p
	for p in $PIDS; do kill "$p" 2>/dev/null; done
	for p in $PIDS; do wait "$p" 2>/dev/null; done
	"$SR" down >/dev/null 2>&1
	if [ -d "$CG" ]; then
		local i left
		for i in $(seq 50); do
			left=$(find "$CG" -name cgroup.procs -exec cat {} + 2>/dev/null)
			[ -z "$left" ] && break
			kill -9 $left 2>/dev/null
			sleep 0.1
		done
		find "$CG" -depth -type d -exec rmdir {} + 2>/dev/null
	fi
	ip netns del $NS 2>/dev/null
	rm -f /tmp/sr-check-$$
	[ -n "${TMPD:-}" ] && rm -rf "$TMPD"
}

# What a test killed outright (SIGKILL: no trap runs) left behind: its
# cgroup and namespace, named by its pid, which no longer runs.  Called with
# the lock held, so no other test is using them.
sweep_stale() {
	local d n pid
	for d in "$CG2"/sockredir-test-*; do
		[ -d "$d" ] || continue
		pid=${d##*-}
		kill -0 "$pid" 2>/dev/null && continue
		find "$d" -depth -type d -exec rmdir {} + 2>/dev/null
	done
	for n in $(ip netns list | sed -n 's/^\(srtest-[0-9]*\).*/\1/p'); do
		kill -0 "${n#srtest-}" 2>/dev/null || ip netns del "$n" 2>/dev/null
	done
}

setup() {	# setup [UP-OPTIONS...]: netns + cgroup + layer attached
	[ "$(id -u)" = 0 ] || { echo "1..0 # SKIP needs root"; exit 0; }
	# The layer is one per host: tests take turns.
	mkdir -p /run/sockredir
	exec 9>/run/sockredir/test.lock
	flock 9
	trap cleanup EXIT
	trap 'exit 130' INT TERM HUP
	sweep_stale
	ip netns add $NS
	ip -n $NS link set lo up
	mkdir -p "$CG"
	TMPD=$(mktemp -d)
	"$SR" down >/dev/null 2>&1
	"$SR" up --cgroup "$CG" "$@" >/dev/null
}
