# bulk.sh - benchmark 3: bulk throughput through one proxy.
#
# bulk send: $BULK_BYTES on one connection, timed from connect() until the
# receiver (bulk recv) confirms the exact count.  Paths, turn about:
#
#   direct     off/app -> receiver
#   relay      on/app -> [layer] -> sockredir-relay (service relay) -> receiver
#   haproxy    off/app -> haproxy (mode tcp, option splice-auto) -> receiver
#   socat      off/app -> socat TCP-LISTEN,fork -> receiver
#
# All in $NS, loopback.  Writes "bulk PATH ROUND gbps VALUE".

bulk_run() {	# bulk_run PATH: one transfer, prints Gbit/s
	local c=$OFF/app to=127.0.0.1:$BULK_PORT
	case $1 in
	relay)   c=$ON/app to=127.0.0.3:$BULK_PORT ;;
	haproxy) to=127.0.0.1:7201 ;;
	socat)   to=127.0.0.1:7202 ;;
	esac
	run "$NS" "$c" "$BB/bulk" send "$to" "$BULK_BYTES" | awk '{ print $3 }'
}

bench_bulk() {
	local r p v paths
	say "== 3. bulk throughput, $BULK_BYTES bytes a run ($BULK_ROUNDS rounds)"
	fresh_port; BULK_PORT=$PORT
	spawn "$NS" "$OFF/srv" "$BB/bulk" recv "0.0.0.0:$BULK_PORT"
	wait_port "$NS" "$BULK_PORT"
	paths=direct
	if relay_service; then
		paths="$paths relay"
	else
		path_fail "bulk relay" "service relay did not come up"
	fi
	ALT_PATHS=""
	alternatives && proxy_alternatives "$BULK_PORT" bulk
	paths=$(rotated $paths$ALT_PATHS)
	for r in $(seq "$BULK_ROUNDS"); do
		for p in $paths; do
			v=$(bulk_run "$p")
			if [ -z "$v" ]; then
				path_fail "bulk $p" "the transfer failed"
				continue
			fi
			result bulk "$p" "$r" gbps "$v"
			path_ok "bulk $p"
		done
		say "bulk round $((ROUND_BASE + r))$TAG: $(awk -F'\t' -v r="$((ROUND_BASE + r))" -v t="$TAG" '$1 == "bulk" && $3 == r && (t == "" ? $2 !~ /@/ : $2 ~ t "$") { printf "%s %s Gbit/s  ", $2, $5 }' "$OUT/results.tsv")"
		paths="${paths#* } ${paths%% *}"
	done
	[ "$(redirected relay)" -gt 0 ] || path_fail "bulk relay" "service relay received nothing (went direct?)"
	stop $(procs_in "$ON/relay") $(procs_in "$OFF/alt") $(procs_in "$OFF/srv")
	"$SR" service del relay >/dev/null 2>&1
}
