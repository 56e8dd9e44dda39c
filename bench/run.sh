#!/bin/bash
# Side-by-side benchmarks of sockredir and the alternatives.
#
#   sh bench/run.sh full     (make bench)        every figure, several runs
#                            each; installs the alternatives it compares
#                            against; writes bench/REPORT.md above its
#                            hand-written notes (kept as they are) and
#                            bench/*.png
#   sh bench/run.sh smoke    (make bench-smoke)  every path once, tiny sizes,
#                            seconds; installs nothing and skips what is
#                            missing; writes build/bench/smoke/
#   sh bench/run.sh full|smoke NAME...   only those benchmarks
#                            (connect rate bulk latency memory udp); a run of
#                            only some writes build/bench/MODE/REPORT.md,
#                            never bench/REPORT.md
#
#   BENCH_BEFORE=REV sh bench/run.sh full rate bulk latency
#                            the same, with git revision REV side by side:
#                            REV is built (make all) in a git worktree at
#                            build/bench/before (kept, rebuilt when REV
#                            moves), and each round runs every benchmark
#                            twice, once with REV's layer, CLI and relay and
#                            once with the current build (the order turns
#                            each round), direct paths in both.  REV's
#                            figures are CONFIG@before in results.tsv; the
#                            report gains "Before and after" (ratios within
#                            each build's runs of a round).  Each call sets
#                            its services, rules and relays up again; the
#                            alternatives (haproxy, socat, netfilter) run
#                            with the current build only.
#
# Ends with "N passed, N failed": one count per benchmark path that ran.
# Needs root: it attaches the layer to a throw-away cgroup and makes network
# namespaces (see bench/lib.sh).  Raw figures: build/bench/MODE/results.tsv.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
set -u
MODE=${1:-smoke}
shift 2>/dev/null
cd "$(dirname "$0")/.." || exit 1
case $MODE in
full|smoke) ;;
*) echo "usage: bench/run.sh full|smoke [connect rate bulk latency memory udp]" >&2; exit 2 ;;
esac
BENCHES=${*:-connect rate bulk latency memory udp}
ALL_BENCHES=false
[ "$BENCHES" = "connect rate bulk latency memory udp" ] && ALL_BENCHES=true
BENCH_BEFORE=${BENCH_BEFORE:-}

if [ "$(id -u)" != 0 ]; then
	echo "bench: needs root (network namespaces, cgroups, the layer)"
	echo "0 passed, 0 failed"
	[ "$MODE" = smoke ] && exit 0 || exit 1
fi

# The alternatives and the plotting; `make bench` installs them, smoke does not.
if [ "$MODE" = full ]; then
	missing=""
	for p in gnuplot-nox haproxy socat iptables nftables conntrack; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' ||
			missing="$missing $p"
	done
	if [ -n "$missing" ]; then
		echo "# bench: installing$missing"
		export DEBIAN_FRONTEND=noninteractive
		{ apt-get update -qq && apt-get install -y -qq --no-install-recommends $missing; } \
			>/dev/null || echo "# bench: could not install$missing; those paths are skipped"
	fi
fi

sh bench/build.sh || { echo "0 passed, 1 failed"; exit 1; }
if [ -n "$BENCH_BEFORE" ]; then
	sh bench/before.sh "$BENCH_BEFORE" || { echo "0 passed, 1 failed"; exit 1; }
fi

. bench/lib.sh
for f in connect rate bulk latency memory udp; do . "bench/$f.sh"; done

OUT=$top/build/bench/$MODE
rm -rf "$OUT"
mkdir -p "$OUT"
: > "$OUT/results.tsv"
: > "$OUT/skipped.tsv"
PIN=1				# connloop runs on this CPU, in every configuration
if [ "$MODE" = full ]; then
	CONNECT_SIZES="1 100 10000 100000"; CONNECT_SECS=0.2; CONNECT_ROUNDS=15
	CONNECT_ROUNDS_NF=5
	RATE_SECS=1; RATE_ROUNDS=5
	BULK_BYTES=$((2 << 30)); BULK_ROUNDS=5
	LAT_COUNT=5000; LAT_ROUNDS=7
	MEM_FLOWS=100000; MEM_ROUNDS=3
	UDP_SECS=1; UDP_ROUNDS=5
else
	CONNECT_SIZES="1 100"; CONNECT_SECS=0.05; CONNECT_ROUNDS=1; CONNECT_ROUNDS_NF=1
	RATE_SECS=0.1; RATE_ROUNDS=1
	BULK_BYTES=$((8 << 20)); BULK_ROUNDS=1
	LAT_COUNT=200; LAT_ROUNDS=1
	MEM_FLOWS=500; MEM_ROUNDS=1
	UDP_SECS=0.1; UDP_ROUNDS=1
fi

setup
{
	echo "mode	$MODE"
	echo "date	$(date -u '+%Y-%m-%d %H:%M UTC')"
	echo "nproc	$(nproc)"
	echo "cpu	$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)"
	echo "mem	$(awk '/^MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)"
	echo "kernel	$(uname -r)"
	echo "os	$(. /etc/os-release && echo "$PRETTY_NAME")"
	echo "commit	$(git rev-parse --short HEAD 2>/dev/null)$(git diff --quiet HEAD 2>/dev/null || echo '+changes')"
	have haproxy && echo "haproxy	$(haproxy -v | head -1)"
	have socat && echo "socat	$(socat -V | sed -n 's/^socat version \([^ ]*\).*/\1/p')"
	have iptables && echo "iptables	$(iptables -V)"
	have nft && echo "nft	$(nft -v)"
	printf 'connect_secs\t%s\nrate_secs\t%s\nbulk_bytes\t%s\nlat_count\t%s\nudp_secs\t%s\n' \
		"$CONNECT_SECS" "$RATE_SECS" "$BULK_BYTES" "$LAT_COUNT" "$UDP_SECS"
	[ -z "$BENCH_BEFORE" ] ||
		echo "before	$(git -C build/bench/before rev-parse --short HEAD)"

} > "$OUT/machine.tsv"
# Under BENCH_BEFORE: benchmark B once per round and build, its rounds
# variable (below) set to 1 for the call and ROUND_BASE saying which round.
declare -A ROUNDS_VAR=([connect]=CONNECT_ROUNDS [rate]=RATE_ROUNDS
	[bulk]=BULK_ROUNDS [latency]=LAT_ROUNDS [memory]=MEM_ROUNDS
	[udp]=UDP_ROUNDS)
CONNECT_ROUNDS_NF_ALL=$CONNECT_ROUNDS_NF
bench_side_by_side() {	# bench_side_by_side B
	local var=${ROUNDS_VAR[$1]} total r builds v
	total=${!var}
	for r in $(seq "$total"); do
		builds="before after"
		[ $((r % 2)) = 0 ] && builds="after before"
		for v in $builds; do
			use_build "$v"
			ROUND_BASE=$((r - 1))
			printf -v "$var" 1
			CONNECT_ROUNDS_NF=1
			"bench_$1"
		done
	done
	printf -v "$var" %s "$total"
	CONNECT_ROUNDS_NF=$CONNECT_ROUNDS_NF_ALL
	ROUND_BASE=0
	use_build after
}

start=$(date +%s)
for b in $BENCHES; do
	if [ -n "$BENCH_BEFORE" ]; then
		bench_side_by_side "$b"
	else
		"bench_$b"
	fi
done
say "benchmarks took $(( $(date +%s) - start ))s"

if have python3; then
	if [ "$MODE" = full ] && $ALL_BENCHES; then
		python3 bench/report.py "$OUT" bench && say "wrote bench/REPORT.md"
	else
		python3 bench/report.py "$OUT" "$OUT" && say "wrote $OUT/REPORT.md"
	fi || path_fail "report" "bench/report.py failed"
	path_ok report
fi
count_paths
echo "$PASSED passed, $FAILED failed"
[ "$FAILED" = 0 ] && [ "$PASSED" -gt 0 ]
