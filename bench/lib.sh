# lib.sh - the benchmarks' shared setup and helpers (sourced by run.sh).
#
# One throw-away cgroup tree, the layer attached to half of it:
#
#   <cgroup2 mount>/sockredir-bench-<pid>/
#       on/    <- sockredir up --cgroup (app/ and one child per service)
#       off/   <- not attached: baselines, servers, the alternatives
#
# and network namespaces of our own, loopback only:
#
#   $NS        never has a netfilter rule: sockredir and the baselines
#   $NS-nf     made, filled with iptables or nftables rules, and deleted
#              again, once per netfilter configuration
#
# Listeners use ports below 10000, ephemeral ports are 10000-65535, so a
# client's port can never take a listener's.  Everything is removed on EXIT
# (also after ^C): the processes we started (by pid), the layer, the cgroups,
# the namespaces with their rules.
set -u
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# setup() runs copies of these, so a rebuild during a run cannot mix versions.
SR=$top/build/sockredir
RELAY=$top/build/sockredir-relay
BB=$top/build/bench
CG2=$(awk '$9 == "cgroup2" { print $5; exit }' /proc/self/mountinfo)
ROOT=$CG2/sockredir-bench-$$
ON=$ROOT/on
OFF=$ROOT/off
NS=srbench-$$
NF=srbench-$$-nf
PIDS=""
TMPD=""
NEXT_PORT=2000

say() { echo "# $*"; }

# ---- results ----------------------------------------------------------------
# result BENCH CONFIG ROUND METRIC VALUE: one line of $OUT/results.tsv.
# Under BENCH_BEFORE, run.sh calls each benchmark once per round and build:
# the round is then ROUND_BASE + ROUND, and the older build's configurations
# are named CONFIG@before (TAG).
ROUND_BASE=0
TAG=""
BUILD=after
result() {
	printf '%s\t%s\t%s\t%s\t%s\n' "$1" "$2$TAG" "$(( $3 + ROUND_BASE ))" "$4" "$5" \
		>> "$OUT/results.tsv"
}
# rotated WORD...: the words, turned ROUND_BASE places (so that the first
# path of a round changes from round to round also when rounds are calls).
rotated() {
	local i
	for i in $(seq $(( ROUND_BASE % $# ))); do set -- "${@:2}" "$1"; done
	echo "$@"
}
# alternatives: whether this call runs the alternatives (haproxy, socat,
# netfilter).  They do not depend on our build: under BENCH_BEFORE only the
# current build's calls run them.
alternatives() { [ "$BUILD" = after ]; }

# Every benchmark path that ran counts once: passed, or failed with a reason.
PASSED=0
FAILED=0
declare -A PATH_FAILED
path_ok() {	# path_ok NAME: NAME ran (counted once, at the end)
	[ -n "${PATH_FAILED[$1$TAG]+x}" ] || PATH_FAILED[$1$TAG]=0
}
path_fail() {	# path_fail NAME WHY
	PATH_FAILED[$1$TAG]=1
	echo "not ok - $1$TAG: $2" >&2
}
path_skip() {
	say "skipped: $1$TAG ($2)"
	printf 'skip\t%s\t%s\n' "$1$TAG" "$2" >> "$OUT/skipped.tsv"
}
count_paths() {
	local p
	while IFS= read -r p; do
		[ -n "$p" ] || continue
		if [ "${PATH_FAILED[$p]}" = 0 ]; then
			echo "ok - $p"; PASSED=$((PASSED + 1))
		else
			echo "not ok - $p"; FAILED=$((FAILED + 1))
		fi
	done < <(printf '%s\n' "${!PATH_FAILED[@]}" | sort)
}

# ---- processes, cgroups, namespaces ----------------------------------------
fresh_port() { NEXT_PORT=$((NEXT_PORT + 1)); PORT=$NEXT_PORT; }

# run NS CGROUP CMD...: CMD in cgroup CGROUP (a path) and namespace NS.
run() {
	local ns=$1 cg=$2; shift 2
	mkdir -p "$cg"
	sh -c 'echo $$ > "$1/cgroup.procs" && shift && exec "$@"' sh "$cg" \
		nsenter --net=/run/netns/"$ns" "$@"
}
# spawn NS CGROUP CMD...: run in the background; LAST_PID is CMD's own pid
# (sh and nsenter exec into it), remembered for cleanup.
spawn() {
	local ns=$1 cg=$2; shift 2
	mkdir -p "$cg"
	sh -c 'echo $$ > "$1/cgroup.procs" && shift && exec "$@"' sh "$cg" \
		nsenter --net=/run/netns/"$ns" "$@" &
	LAST_PID=$!
	PIDS="$PIDS $!"
}
stop() {	# stop PID...: end processes we started, and forget them
	local p q keep
	for p in "$@"; do kill "$p" 2>/dev/null; done
	for p in "$@"; do wait "$p" 2>/dev/null; done
	for p in "$@"; do
		keep=""
		for q in $PIDS; do [ "$q" = "$p" ] || keep="$keep $q"; done
		PIDS=$keep
	done
	return 0
}
wait_port() {	# wait_port NS PORT [tcp|udp]: poll ss until something listens there
	local i flag=-ltn; [ "${3:-tcp}" = udp ] && flag=-lun
	for i in $(seq 200); do
		nsenter --net=/run/netns/"$1" ss -H $flag "sport = :$2" | grep -q . && return 0
		sleep 0.05
	done
	echo "# nothing listens on ${3:-tcp} port $2 in $1" >&2
	return 1
}
# Processes in a cgroup tree that we started and that are still there
# (socat's and haproxy's children, say).
procs_in() { find "$1" -name cgroup.procs -exec cat {} + 2>/dev/null; }

netns_new() {	# netns_new NAME: loopback, wide port range, deep backlogs
	ip netns add "$1"
	ip -n "$1" link set lo up
	ip netns exec "$1" sysctl -qw net.ipv4.ip_local_port_range="10000 65535" \
		net.core.somaxconn=65535 net.ipv4.tcp_max_syn_backlog=65535
}
# netns_del NAME: remove our rules, the conntrack table, then the namespace.
netns_del() {
	[ -e /run/netns/"$1" ] || return 0
	ip netns exec "$1" nft flush ruleset 2>/dev/null
	ip netns exec "$1" conntrack -F >/dev/null 2>&1
	ip netns del "$1"
}
ct_flush() {	# ct_flush NS: empty the conntrack table (if the tool is there)
	have conntrack && ip netns exec "$1" conntrack -F >/dev/null 2>&1
	return 0
}

since_ms() { echo $(( ($(date +%s%N) - $1) / 1000000 )); }

# maps_kb: what the layer's maps take (bpftool's memlock, all sr_* maps).
maps_kb() {
	bpftool -j map show 2>/dev/null | python3 -c 'import json, sys
print(sum(m.get("bytes_memlock", 0) for m in json.load(sys.stdin)
          if m.get("name", "").startswith("sr_")) // 1024)'
}

have() { command -v "$1" >/dev/null 2>&1; }

cleanup() {
	local p i left
	trap - EXIT
	for p in $PIDS; do kill "$p" 2>/dev/null; done
	for p in $PIDS; do wait "$p" 2>/dev/null; done
	"$SR" down >/dev/null 2>&1
	if [ -d "$ROOT" ]; then
		for i in $(seq 50); do
			left=$(procs_in "$ROOT")
			[ -z "$left" ] && break
			kill -9 $left 2>/dev/null
			sleep 0.1
		done
		find "$ROOT" -depth -type d -exec rmdir {} + 2>/dev/null
	fi
	netns_del "$NF"
	netns_del "$NS"
	[ -n "$TMPD" ] && rm -rf "$TMPD"
}

setup() {
	# The layer is one per host: take turns with the tests.
	mkdir -p /run/sockredir
	exec 9>/run/sockredir/test.lock
	say "waiting for /run/sockredir/test.lock"
	flock 9
	trap cleanup EXIT
	trap 'exit 130' INT TERM
	ulimit -n "$(ulimit -Hn)" 2>/dev/null  # hold.c spreads 100k flows over processes
	TMPD=$(mktemp -d)
	chmod 755 "$TMPD"
	mkdir "$TMPD/after"
	cp "$SR" "$TMPD/after/sockredir" && cp "$RELAY" "$TMPD/after/sockredir-relay" || exit 1
	if [ -n "${BENCH_BEFORE:-}" ]; then
		mkdir "$TMPD/before"
		cp "$top/build/bench/before/build/sockredir" "$TMPD/before/sockredir" &&
		cp "$top/build/bench/before/build/sockredir-relay" \
			"$TMPD/before/sockredir-relay" || exit 1
	fi
	netns_new "$NS"
	mkdir -p "$ON/app" "$OFF/app" "$OFF/srv"
	"$TMPD/after/sockredir" down >/dev/null 2>&1
	LAYER=""
	use_build after
}

# use_build after|before: run the layer, the CLI and sockredir-relay of that
# build from now on (the layer is replaced if another build's is up; the
# benchmarks add their services and rules again in each call).
use_build() {
	BUILD=$1
	TAG=""
	[ "$1" = after ] || TAG=@$1
	SR=$TMPD/$1/sockredir
	RELAY=$TMPD/$1/sockredir-relay
	[ "$LAYER" = "$1" ] && return 0
	[ -z "$LAYER" ] || "$TMPD/$LAYER/sockredir" down >/dev/null 2>&1
	"$SR" up --cgroup "$ON" >/dev/null || { echo "bench: sockredir up ($1) failed" >&2; exit 1; }
	LAYER=$1
}

# ---- pieces more than one benchmark uses ------------------------------------
# redirected NAME: how many connections service NAME has received.
redirected() {
	"$SR" -j service list | python3 -c 'import json, sys
print(next((s["redirected"] for s in json.load(sys.stdin) if s["name"] == sys.argv[1]), 0))' "$1"
}

# proxy_alternatives PORT BENCH: haproxy on 7201 and socat on 7202, both to PORT,
# in off/alt; sets ALT_PATHS to those that came up.
proxy_alternatives() {
	local to=$1
	ALT_PATHS=""
	mkdir -p "$OFF/alt"
	if have haproxy; then
		cat > "$TMPD/haproxy.cfg" <<-EOF
		global
		    maxconn 4000
		defaults
		    mode tcp
		    option splice-auto
		    timeout connect 5s
		    timeout client 60s
		    timeout server 60s
		listen bench
		    bind 127.0.0.1:7201
		    server target 127.0.0.1:$to
		EOF
		spawn "$NS" "$OFF/alt" haproxy -db -q -f "$TMPD/haproxy.cfg"
		wait_port "$NS" 7201 && ALT_PATHS="$ALT_PATHS haproxy"
	else
		path_skip "$2 haproxy" "haproxy is not installed"
	fi
	if have socat; then
		# socat's bind= option fails here; it listens on the namespace's 0.0.0.0.
		spawn "$NS" "$OFF/alt" socat TCP4-LISTEN:7202,fork,reuseaddr,backlog=1024 \
			"TCP4:127.0.0.1:$to"
		wait_port "$NS" 7202 && ALT_PATHS="$ALT_PATHS socat"
	else
		path_skip "$2 socat" "socat is not installed"
	fi
}

relay_service() {	# relay_service: service relay, its relay, rule for 127.0.0.3
	mkdir -p "$ON/relay"
	"$SR" service add relay --listen 127.0.0.1:7102 --owner-cgroup "$ON/relay" >/dev/null &&
	"$SR" rule add --service relay --proto tcp --dst 127.0.0.3/32 >/dev/null || return 1
	spawn "$NS" "$ON/relay" "$RELAY" --service relay --listen 127.0.0.1:7102 \
		--log "$TMPD/relay.log" -q
	wait_port "$NS" 7102
}

# ---- statistics ---------------------------------------------------------------
median() { sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
