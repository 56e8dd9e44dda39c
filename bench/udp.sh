# udp.sh - benchmark 6: DNS-sized UDP request/response through one relay.
#
# udprr: 40 B queries, 100 B answers, one at a time, each waiting for its
# answer.  Two loads: "flows" (every query on a new connected socket, a new
# flow, as a stub resolver asks) and "one" (every query on one socket).
# Four paths, turn about in every round, all to the same udprr server:
#
#   direct     off/app in $NS  -> server 127.0.0.4:P
#   sockredir  on/app in $NS   -> [layer] -> sockredir-relay --udp (service
#              udprelay) -> 127.0.0.4:P, the original destination
#   redirect   off/app in $NF  -> [nat REDIRECT] -> sockredir-relay --udp
#              --udp-upstream 127.0.0.1:P -> server
#   tproxy     off/app in $NF  -> [mangle TPROXY] -> the same relay
#
# Under REDIRECT a UDP relay cannot learn the original destination
# (SO_ORIGINAL_DST answers for TCP only), so the netfilter relay is given a
# fixed upstream (--udp-upstream) for both netfilter paths; it reads no
# records and no context.  Under TPROXY it answers from the original
# destination through a transparent socket per flow (REDIRECT's answers
# are turned back by conntrack).
#
# Writes "udp PATH ROUND flows|one VALUE" (queries per second) and
# "udp PATH ROUND lost_flows|lost_one N".

udp_setup() {
	fresh_port; UDP_PORT=$PORT
	mkdir -p "$ON/udprelay" "$OFF/udprelay"
	spawn "$NS" "$OFF/srv" "$BB/udprr" server "0.0.0.0:$UDP_PORT"
	"$SR" service add udprelay --listen 127.0.0.1:7104 --owner-cgroup "$ON/udprelay" \
		>/dev/null &&
	"$SR" rule add --service udprelay --proto udp --dst 127.0.0.4/32 >/dev/null ||
		return 1
	# 50 ms idle: the flows load leaves thousands of idle relay flows a second.
	spawn "$NS" "$ON/udprelay" "$RELAY" --service udprelay --listen 127.0.0.1:7104 \
		--udp --udp-idle 50 --log "$TMPD/udprelay.log" -q
	wait_port "$NS" "$UDP_PORT" udp && wait_port "$NS" 7104 udp || return 1
	UDP_PATHS="direct sockredir"
	if ! have iptables; then
		path_skip "udp redirect" "iptables is not installed"
		path_skip "udp tproxy" "iptables is not installed"
		return 0
	fi
	netns_new "$NF"
	# Not 0.0.0.0: TPROXY's answers leave from 127.0.0.5:P, bound by the relay.
	spawn "$NF" "$OFF/srv" "$BB/udprr" server "127.0.0.1:$UDP_PORT"
	spawn "$NF" "$OFF/udprelay" "$RELAY" --service udprelay --listen 127.0.0.1:7104 \
		--udp --udp-idle 50 --udp-upstream "127.0.0.1:$UDP_PORT" \
		--log "$TMPD/udprelay-nf.log" -q
	wait_port "$NF" "$UDP_PORT" udp && wait_port "$NF" 7104 udp || return 1
	ip netns exec "$NF" iptables -t nat -A OUTPUT -p udp -d 127.0.0.4 \
		--dport "$UDP_PORT" -j REDIRECT --to-ports 7104 || return 1
	UDP_PATHS="$UDP_PATHS redirect"
	if ip netns exec "$NF" iptables -t mangle -A PREROUTING -i lo -p udp -d 127.0.0.5 \
		--dport "$UDP_PORT" -j TPROXY --on-ip 127.0.0.1 --on-port 7104 \
		--tproxy-mark 0x1/0x1 2>/dev/null; then
		UDP_PATHS="$UDP_PATHS tproxy"
	else
		path_skip "udp tproxy" "no TPROXY target in this kernel"
	fi
}

udp_teardown() {
	stop $(procs_in "$ON/udprelay") $(procs_in "$OFF/udprelay") $(procs_in "$OFF/srv")
	"$SR" service del udprelay >/dev/null 2>&1
	netns_del "$NF"
}

udp_run() {	# udp_run PATH LOAD: one run, prints "RATE LOST"
	case $1 in
	direct)    run "$NS" "$OFF/app" "$BB/udprr" rate "127.0.0.4:$UDP_PORT" "$UDP_SECS" "$2" ;;
	sockredir) run "$NS" "$ON/app" "$BB/udprr" rate "127.0.0.4:$UDP_PORT" "$UDP_SECS" "$2" ;;
	redirect)  ct_flush "$NF"
		   run "$NF" "$OFF/app" "$BB/udprr" rate "127.0.0.4:$UDP_PORT" "$UDP_SECS" "$2" ;;
	tproxy)    ct_flush "$NF"
		   run "$NF" "$OFF/app" "$BB/udprr" rate "127.0.0.5:$UDP_PORT" "$UDP_SECS" "$2" ;;
	esac | awk '{ print $3, $4 }'
}

bench_udp() {
	local r p v load paths lost
	say "== 6. DNS-sized UDP queries through one relay (${UDP_SECS}s runs, $UDP_ROUNDS rounds)"
	if ! udp_setup; then
		path_fail "udp setup" "services, relays or rules did not come up"
		udp_teardown
		return 1
	fi
	paths=$UDP_PATHS
	for r in $(seq "$UDP_ROUNDS"); do
		for load in flows one; do
			for p in $paths; do
				v=$(udp_run "$p" "$load")
				if [ -z "$v" ] || [ "${v%% *}" = 0.0 ]; then
					path_fail "udp $p" "the client failed"
					continue
				fi
				result udp "$p" "$r" "$load" "${v% *}"
				result udp "$p" "$r" "lost_$load" "${v#* }"
				path_ok "udp $p"
			done
		done
		say "udp round $r: $(awk -F'\t' -v r="$r" '$1 == "udp" && $3 == r && $4 !~ /^lost/ { printf "%s/%s %s/s  ", $2, $4, $5 }' "$OUT/results.tsv")"
		paths="${paths#* } ${paths%% *}"	# rotate the order
	done
	# A path that quietly went direct would flatter it: check who carried it.
	lost=$(awk -F'\t' '$1 == "udp" && $4 ~ /^lost/ { n += $5 } END { print n + 0 }' "$OUT/results.tsv")
	[ "$lost" = 0 ] || say "udp: $lost queries lost in all (see results.tsv)"
	[ "$(redirected udprelay)" -gt 0 ] ||
		path_fail "udp sockredir" "service udprelay received nothing (went direct?)"
	# ... and that the relay learnt each flow: its destination, its application.
	python3 -c 'import json, sys
f = json.loads(open(sys.argv[1]).readline())
sys.exit(not (f["dst"] == sys.argv[2] and f["app"]["comm"] == "udprr" and f["datagrams_up"] >= 1))' \
		"$TMPD/udprelay.log" "127.0.0.4:$UDP_PORT" 2>/dev/null ||
		path_fail "udp sockredir" "the relay's flow log does not show udprr's flows to 127.0.0.4"
	case " $UDP_PATHS " in *" redirect "*)
		ip netns exec "$NF" iptables -t nat -L OUTPUT -n -v -x |
			awk '/REDIRECT/ { exit !($1 > 0) }' ||
			path_fail "udp redirect" "the REDIRECT rule matched nothing"
	esac
	case " $UDP_PATHS " in *" tproxy "*)
		ip netns exec "$NF" iptables -t mangle -L PREROUTING -n -v -x |
			awk '/TPROXY/ { exit !($1 > 0) }' ||
			path_fail "udp tproxy" "the TPROXY rule matched nothing"
	esac
	udp_teardown
}
