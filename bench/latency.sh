# latency.sh - benchmark 4: latency added per hop, chains of 1, 2 and 4.
#
# rr pingpong: one connection, $LAT_COUNT round trips of 64 B to an echo
# server, each timed; p50 and p99 per run.  Services s1..s4 are one
# sockredir-relay each, in its own cgroup; rules on one destination with
# decreasing weights make the chains:
#
#   127.0.0.11  s1 (weight 400)                          chain of 1
#   127.0.0.12  s1 (400), s2 (300)                       chain of 2
#   127.0.0.14  s1 (400), s2 (300), s3 (200), s4 (100)   chain of 4
#
# and haproxy, socat and odrelay (bench/odrelay.c as service od, on
# 127.0.0.21: the layer with the simplest relay) make one hop each, for
# comparison.  Paths turn
# about in each round.  Writes "latency PATH ROUND p50|p99|mean MICROSECONDS".

latency_setup() {
	local k w dst
	for k in 1 2 3 4; do
		mkdir -p "$ON/s$k"
		"$SR" service add "s$k" --listen "127.0.0.1:730$k" --owner-cgroup "$ON/s$k" \
			>/dev/null || return 1
		spawn "$NS" "$ON/s$k" "$RELAY" --service "s$k" --listen "127.0.0.1:730$k" \
			--log "$TMPD/s$k.log" -q
	done
	for dst in 11 12 14; do
		for k in $(seq $((dst - 10))); do
			w=$(( (5 - k) * 100 ))
			"$SR" rule add --service "s$k" --proto tcp --dst "127.0.0.$dst/32" \
				--weight "$w" >/dev/null || return 1
		done
	done
	for k in 1 2 3 4; do wait_port "$NS" "730$k" || return 1; done
	mkdir -p "$ON/od"
	"$SR" service add od --listen 127.0.0.1:7101 --owner-cgroup "$ON/od" >/dev/null &&
	"$SR" rule add --service od --proto tcp --dst 127.0.0.21/32 >/dev/null || return 1
	spawn "$NS" "$ON/od" "$BB/odrelay" 127.0.0.1:7101 od
	wait_port "$NS" 7101
}

latency_run() {	# latency_run PATH: prints "P50 P99 MEAN" in microseconds
	local c=$OFF/app to=127.0.0.1:$LAT_PORT
	case $1 in
	chain*)  c=$ON/app to=127.0.0.$((10 + ${1#chain})):$LAT_PORT ;;
	odrelay) c=$ON/app to=127.0.0.21:$LAT_PORT ;;
	haproxy) to=127.0.0.1:7201 ;;
	socat)   to=127.0.0.1:7202 ;;
	esac
	run "$NS" "$c" "$BB/rr" pingpong "$to" "$LAT_COUNT" 64
}

bench_latency() {
	local r p v paths k
	say "== 4. latency of a 64 B round trip ($LAT_COUNT a run, $LAT_ROUNDS rounds)"
	fresh_port; LAT_PORT=$PORT
	spawn "$NS" "$OFF/srv" "$BB/rr" server "0.0.0.0:$LAT_PORT"
	wait_port "$NS" "$LAT_PORT"
	paths=direct
	if latency_setup; then
		paths="$paths chain1 chain2 chain4 odrelay"
	else
		path_fail "latency chains" "services s1..s4 did not come up"
	fi
	ALT_PATHS=""
	alternatives && proxy_alternatives "$LAT_PORT" latency
	paths=$(rotated $paths$ALT_PATHS)
	for r in $(seq "$LAT_ROUNDS"); do
		for p in $paths; do
			v=$(latency_run "$p")
			if [ -z "$v" ]; then
				path_fail "latency $p" "the client failed"
				continue
			fi
			set -- $v
			result latency "$p" "$r" p50 "$1"
			result latency "$p" "$r" p99 "$2"
			result latency "$p" "$r" mean "$3"
			path_ok "latency $p"
		done
		say "latency round $((ROUND_BASE + r))$TAG (p50 us): $(awk -F'\t' -v r="$((ROUND_BASE + r))" -v t="$TAG" '$1 == "latency" && $3 == r && $4 == "p50" && (t == "" ? $2 !~ /@/ : $2 ~ t "$") { printf "%s %s  ", $2, $5 }' "$OUT/results.tsv")"
		paths="${paths#* } ${paths%% *}"
	done
	# Each hop of the longest chain must have carried its flows.
	for k in 1 2 3 4; do
		[ "$(redirected "s$k")" -gt 0 ] ||
			path_fail "latency chain4" "service s$k received nothing (went direct?)"
	done
	[ "$(redirected od)" -gt 0 ] ||
		path_fail "latency odrelay" "service od received nothing (went direct?)"
	stop $(procs_in "$ON/s1") $(procs_in "$ON/s2") $(procs_in "$ON/s3") $(procs_in "$ON/s4") \
		$(procs_in "$ON/od") $(procs_in "$OFF/alt") $(procs_in "$OFF/srv")
	for k in 1 2 3 4; do "$SR" service del "s$k" >/dev/null 2>&1; done
	"$SR" service del od >/dev/null 2>&1
}
