# rate.sh - benchmark 2: redirected connections per second through one relay.
#
# One client connection at a time: connect, 100 B request, 100 B reply from
# an echo server (rr server), close.  Four paths, turn about in every round:
#
#   direct        off/app in $NS  -> server
#   sockredir     on/app in $NS   -> [layer] -> odrelay (service od) -> server
#   iptables      off/app in $NF  -> [nat REDIRECT] -> odrelay -> server
#   relay         on/app in $NS   -> [layer] -> sockredir-relay (service relay) -> server
#
# odrelay learns the destination from SO_ORIGINAL_DST, which both the layer
# and netfilter answer: the sockredir and iptables paths run the same relay
# code.  The iptables rule matches the client's cgroup only, so the relay's
# own connection is not turned back (sockredir knows its owner instead).
#
# Writes "rate PATH ROUND rate VALUE".

rate_setup() {
	fresh_port; RATE_PORT=$PORT
	mkdir -p "$ON/od" "$OFF/od"
	spawn "$NS" "$OFF/srv" "$BB/rr" server "0.0.0.0:$RATE_PORT"
	"$SR" service add od --listen 127.0.0.1:7101 --owner-cgroup "$ON/od" >/dev/null &&
	"$SR" rule add --service od --proto tcp --dst 127.0.0.2/32 >/dev/null || return 1
	spawn "$NS" "$ON/od" "$BB/odrelay" 127.0.0.1:7101 od
	relay_service || return 1
	wait_port "$NS" "$RATE_PORT" && wait_port "$NS" 7101 || return 1
	RATE_PATHS="direct sockredir relay"
	if ! alternatives; then
		:
	elif have iptables; then
		netns_new "$NF"
		spawn "$NF" "$OFF/srv" "$BB/rr" server "0.0.0.0:$RATE_PORT"
		spawn "$NF" "$OFF/od" "$BB/odrelay" 127.0.0.1:7101
		ip netns exec "$NF" iptables -t nat -A OUTPUT -p tcp -d 127.0.0.2 \
			-m cgroup --path "${OFF#"$CG2"/}/app" -j REDIRECT --to-ports 7101 &&
		wait_port "$NF" "$RATE_PORT" && wait_port "$NF" 7101 || return 1
		RATE_PATHS="direct sockredir iptables relay"
	else
		path_skip "rate iptables" "iptables is not installed"
	fi
}

rate_teardown() {
	stop $(procs_in "$ON/od") $(procs_in "$ON/relay") $(procs_in "$OFF/od") $(procs_in "$OFF/srv")
	"$SR" service del od >/dev/null 2>&1
	"$SR" service del relay >/dev/null 2>&1
	netns_del "$NF"
}

rate_run() {	# rate_run PATH: one run, prints connections per second
	case $1 in
	direct)    run "$NS" "$OFF/app" "$BB/rr" rate "127.0.0.2:$RATE_PORT" "$RATE_SECS" ;;
	sockredir) run "$NS" "$ON/app" "$BB/rr" rate "127.0.0.2:$RATE_PORT" "$RATE_SECS" ;;
	relay)     run "$NS" "$ON/app" "$BB/rr" rate "127.0.0.3:$RATE_PORT" "$RATE_SECS" ;;
	iptables)  ct_flush "$NF"
		   run "$NF" "$OFF/app" "$BB/rr" rate "127.0.0.2:$RATE_PORT" "$RATE_SECS" ;;
	esac | awk '{ print $3 }'
}

bench_rate() {
	local r p v paths
	say "== 2. connections per second through one relay (${RATE_SECS}s runs, $RATE_ROUNDS rounds)"
	if ! rate_setup; then
		path_fail "rate setup" "services, relays or rules did not come up"
		rate_teardown
		return 1
	fi
	paths=$(rotated $RATE_PATHS)
	for r in $(seq "$RATE_ROUNDS"); do
		for p in $paths; do
			v=$(rate_run "$p")
			if [ -z "$v" ]; then
				path_fail "rate $p" "the client failed"
				continue
			fi
			result rate "$p" "$r" rate "$v"
			path_ok "rate $p"
		done
		say "rate round $((ROUND_BASE + r))$TAG: $(awk -F'\t' -v r="$((ROUND_BASE + r))" -v t="$TAG" '$1 == "rate" && $3 == r && (t == "" ? $2 !~ /@/ : $2 ~ t "$") { printf "%s %s/s  ", $2, $5 }' "$OUT/results.tsv")"
		paths="${paths#* } ${paths%% *}"	# rotate the order
	done
	# A path that quietly went direct would flatter it: check who carried it.
	[ "$(redirected od)" -gt 0 ] || path_fail "rate sockredir" "service od received nothing (went direct?)"
	[ "$(redirected relay)" -gt 0 ] || path_fail "rate relay" "service relay received nothing (went direct?)"
	case " $RATE_PATHS " in *" iptables "*)
		ip netns exec "$NF" iptables -t nat -L OUTPUT -n -v -x |
			awk '/REDIRECT/ { exit !($1 > 0) }' ||
			path_fail "rate iptables" "the REDIRECT rule matched nothing"
	esac
	rate_teardown
}
