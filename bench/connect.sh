# connect.sh - benchmark 1: what a connect that matches no rule costs.
#
# connloop (connect, accept, close with a RST, one thread) for $CONNECT_SECS
# per run.  Each configuration runs in rounds against the baseline, turn
# about (base cfg, cfg base, ...), and every round gives one ratio:
#
#   base        connloop in off/app in $NS: no layer, no netfilter
#   sockredir   connloop in on/app in $NS, the layer with N rules for
#               10.0.0.0/8 /32s that redirect to a dummy service
#   iptables    connloop in $NF with N nat REDIRECT rules (iptables-restore)
#   nftables    connloop in $NF with an N-address set and one redirect rule
#
# Sourced by run.sh; writes "connect CONFIG ROUND rate|base VALUE".

connloop() {	# connloop NS CGROUP: one run, prints connections per second
	fresh_port
	run "$1" "$2" taskset -c "$PIN" "$BB/connloop" "127.0.0.1:$PORT" "$CONNECT_SECS" |
		awk '{ print $3 }'
}

# addrs N: N distinct IPv4 addresses in 10.0.0.0/8, none of them ours.
addrs() {
	awk -v n="$1" 'BEGIN { for (i = 1; i <= n; i++)
		printf "10.%d.%d.%d\n", int(i / 65536), int(i / 256) % 256, i % 256 }'
}

# rounds CONFIG NS CGROUP [PREPARE]: the interleaved runs of one configuration.
# PREPARE (a command) runs before each run of the configuration.
connect_rounds() {
	local cfg=$1 ns=$2 cg=$3 prep=${4:-true} r a b
	local rounds=$CONNECT_ROUNDS
	[ "$ns" = "$NF" ] && rounds=$CONNECT_ROUNDS_NF
	for r in $(seq "$rounds"); do
		if [ $(( (ROUND_BASE + r) % 2 )) = 1 ]; then
			a=$(connloop "$NS" "$OFF/app")
			$prep; b=$(connloop "$ns" "$cg")
		else
			$prep; b=$(connloop "$ns" "$cg")
			a=$(connloop "$NS" "$OFF/app")
		fi
		if [ -z "$a" ] || [ -z "$b" ]; then
			path_fail "connect $cfg" "connloop failed"
			return 1
		fi
		result connect "$cfg" "$r" base "$a"
		result connect "$cfg" "$r" rate "$b"
		say "connect $cfg$TAG round $((ROUND_BASE + r)): base $a/s, $b/s"
	done
	path_ok "connect $cfg"
}

connect_sockredir() {	# connect_sockredir N
	local n=$1 t0
	addrs "$n" | sed 's|^|--service dummy --proto tcp --dst |; s|$|/32|' > "$TMPD/rules"
	mkdir -p "$ON/dummy"
	"$SR" service add dummy --listen 127.0.0.1:7999 --owner-cgroup "$ON/dummy" >/dev/null &&
	t0=$(date +%s%N) &&
	"$SR" rule load "$TMPD/rules" >/dev/null || {
		path_fail "connect sockredir/$n" "cannot load $n rules"
		"$SR" service del dummy >/dev/null 2>&1
		return 1
	}
	result connect "sockredir/$n" 0 load_ms "$(since_ms "$t0")"
	result connect "sockredir/$n" 0 maps_kb "$(maps_kb)"
	connect_rounds "sockredir/$n" "$NS" "$ON/app"
	"$SR" service del dummy >/dev/null	# its rules go with it
}

connect_iptables() {	# connect_iptables N
	local n=$1 t0
	{
		echo '*nat'
		echo ':OUTPUT ACCEPT [0:0]'
		addrs "$n" | sed 's|^|-A OUTPUT -p tcp -j REDIRECT --to-ports 7999 -d |'
		echo COMMIT
	} > "$TMPD/iptables"
	netns_new "$NF"
	t0=$(date +%s%N)
	ip netns exec "$NF" iptables-restore < "$TMPD/iptables" || {
		path_fail "connect iptables/$n" "iptables-restore failed"
		netns_del "$NF"
		return 1
	}
	result connect "iptables/$n" 0 load_ms "$(since_ms "$t0")"
	connect_rounds "iptables/$n" "$NF" "$OFF/app" "ct_flush $NF"
	netns_del "$NF"
}

connect_nftables() {	# connect_nftables N
	local n=$1 t0
	{
		echo 'table ip srbench {'
		echo '  set dsts { type ipv4_addr; elements = {'
		addrs "$n" | sed 's/$/,/'
		echo '  } }'
		echo '  chain out { type nat hook output priority -100; policy accept;'
		echo '    ip daddr @dsts meta l4proto tcp redirect to :7999'
		echo '  }'
		echo '}'
	} > "$TMPD/nft"
	netns_new "$NF"
	t0=$(date +%s%N)
	ip netns exec "$NF" nft -f "$TMPD/nft" || {
		path_fail "connect nftables/$n" "nft -f failed"
		netns_del "$NF"
		return 1
	}
	result connect "nftables/$n" 0 load_ms "$(since_ms "$t0")"
	connect_rounds "nftables/$n" "$NF" "$OFF/app" "ct_flush $NF"
	netns_del "$NF"
}

# prog_stats: "NAME RUN_CNT RUN_TIME_NS" for each sr_* program.
prog_stats() {
	bpftool -j prog show | python3 -c 'import json, sys
for p in json.load(sys.stdin):
    if p.get("name", "").startswith("sr_"):
        print(p["name"], p.get("run_cnt", 0), p.get("run_time_ns", 0))'
}

# Where the time goes: the kernel's own per-program statistics over one run
# with 10,000 rules (kernel.bpf_stats_enabled, on for this run only, since
# it costs a little on every program run; put back as it was).
connect_prog_stats() {
	local prev n
	prev=$(sysctl -n kernel.bpf_stats_enabled 2>/dev/null) || return 0
	addrs 10000 | sed 's|^|--service dummy --proto tcp --dst |; s|$|/32|' > "$TMPD/rules"
	mkdir -p "$ON/dummy"
	"$SR" service add dummy --listen 127.0.0.1:7999 --owner-cgroup "$ON/dummy" >/dev/null &&
	"$SR" rule load "$TMPD/rules" >/dev/null || return 0
	sysctl -qw kernel.bpf_stats_enabled=1
	prog_stats > "$TMPD/stats.before"
	fresh_port
	n=$(run "$NS" "$ON/app" taskset -c "$PIN" "$BB/connloop" "127.0.0.1:$PORT" "$CONNECT_SECS" |
		awk '{ print $1 + 200 }')	# with the untimed warm-up
	prog_stats > "$TMPD/stats.after"
	sysctl -qw kernel.bpf_stats_enabled="$prev"
	"$SR" service del dummy >/dev/null
	[ -n "$n" ] || return 0
	awk -v n="$n" -v tag="$TAG" -v r="$ROUND_BASE" 'NR == FNR { c[$1] = $2; t[$1] = $3; next }
		$2 > c[$1] { printf "connect\tprog/%s%s\t%d\truns_per_conn\t%.2f\n", $1, tag, r, ($2 - c[$1]) / n
			     printf "connect\tprog/%s%s\t%d\tns_per_run\t%.0f\n", $1, tag, r, ($3 - t[$1]) / ($2 - c[$1]) }' \
		"$TMPD/stats.before" "$TMPD/stats.after" >> "$OUT/results.tsv"
	path_ok "connect program statistics"
}

# The same for redirected connections (CONFIG prog-redirected/NAME): a
# client connects $PROG_REDIRECTS times to an address a rule sends to
# service rstat, whose proxy (in its owner cgroup) reads SO_ORIGINAL_DST and
# closes; the client reads to the end and closes.
PROG_REDIRECTS=${PROG_REDIRECTS:-2000}
connect_prog_stats_redirected() {
	local prev n=$PROG_REDIRECTS pid i
	prev=$(sysctl -n kernel.bpf_stats_enabled 2>/dev/null) || return 0
	mkdir -p "$ON/rstat"
	"$SR" service add rstat --listen 127.0.0.1:7998 --owner-cgroup "$ON/rstat" >/dev/null &&
	"$SR" rule add --service rstat --proto tcp --dst 127.0.0.3 --dport 9 >/dev/null || return 0
	spawn "$NS" "$ON/rstat" python3 -c 'import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", 7998)); s.listen(128)
for _ in range(int(sys.argv[1])):
    c, _ = s.accept(); c.getsockopt(socket.SOL_IP, 80, 16); c.close()' "$n"
	pid=$LAST_PID
	for i in $(seq 100); do
		ip netns exec "$NS" ss -Hltn 'sport = :7998' | grep -q . && break
		sleep 0.05
	done
	sysctl -qw kernel.bpf_stats_enabled=1
	prog_stats > "$TMPD/rstats.before"
	run "$NS" "$ON/app" python3 -c 'import socket, sys
for _ in range(int(sys.argv[1])):
    c = socket.create_connection(("127.0.0.3", 9), timeout=3)
    while c.recv(64): pass
    c.close()' "$n"
	wait "$pid" 2>/dev/null
	prog_stats > "$TMPD/rstats.after"
	sysctl -qw kernel.bpf_stats_enabled="$prev"
	"$SR" service del rstat >/dev/null
	awk -v n="$n" -v tag="$TAG" -v r="$ROUND_BASE" 'NR == FNR { c[$1] = $2; t[$1] = $3; next }
		$2 > c[$1] { printf "connect\tprog-redirected/%s%s\t%d\truns_per_conn\t%.2f\n", $1, tag, r, ($2 - c[$1]) / n
			     printf "connect\tprog-redirected/%s%s\t%d\tns_per_run\t%.0f\n", $1, tag, r, ($3 - t[$1]) / ($2 - c[$1]) }' \
		"$TMPD/rstats.before" "$TMPD/rstats.after" >> "$OUT/results.tsv"
	path_ok "connect program statistics, redirected"
}

bench_connect() {
	local n
	say "== 1. connect cost, no rule matching (${CONNECT_SECS}s runs, $CONNECT_ROUNDS rounds)"
	for n in $CONNECT_SIZES; do connect_sockredir "$n"; done
	connect_prog_stats
	connect_prog_stats_redirected
	# Under BENCH_BEFORE: netfilter in the current build's calls, and only
	# as many rounds as it has (CONNECT_ROUNDS_NF).
	alternatives && [ "$ROUND_BASE" -lt "${CONNECT_ROUNDS_NF_ALL:-$CONNECT_ROUNDS_NF}" ] || return 0
	if have iptables-restore; then
		for n in $CONNECT_SIZES; do connect_iptables "$n"; done
	else
		path_skip "connect iptables" "iptables-restore is not installed"
	fi
	if have nft; then
		for n in $CONNECT_SIZES; do connect_nftables "$n"; done
	else
		path_skip "connect nftables" "nft is not installed"
	fi
}
