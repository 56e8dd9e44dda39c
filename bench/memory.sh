# memory.sh - benchmark 5: kernel memory per redirected flow.
#
# hold connect opens $MEM_FLOWS connections and keeps them; hold listen
# accepts them and keeps them (it claims service hold).  Two kinds of run,
# turn about:
#
#   direct       on/app -> 127.0.0.1:PORT (no rule matches) -> hold listen
#   redirected   on/app -> 127.0.0.2:9 -> [layer] -> service hold -> hold listen
#
# Each run reads /proc/meminfo and /proc/slabinfo after the listener is up
# and again once every connection is open on both sides; the difference is
# what N open flows cost the kernel (both sockets, files, and for the
# redirected kind the layer's flow state).  redirected minus direct is the
# layer's own share.  System-wide counters: other activity on the machine
# is noise, which is why the figures are medians of several runs.
#
# Writes "memory KIND ROUND METRIC VALUE": kernel_kb (Slab + Percpu +
# KernelStack + PageTables), slab_kb, avail_kb (MemAvailable lost), flows,
# live_flows, and slab:CACHE (bytes in use, active objects x size).

snapshot() {	# snapshot NAME: meminfo and slabinfo into $TMPD/NAME.*
	cat /proc/meminfo > "$TMPD/$1.mem"
	cat /proc/slabinfo > "$TMPD/$1.slab"
}

tcp_inuse() { ip netns exec "$NS" awk '$1 == "TCP:" { print $3 }' /proc/net/sockstat; }

wait_sockets_gone() {	# wait until the namespace's TCP sockets are (nearly) all gone
	local i
	for i in $(seq 100); do
		[ "$(tcp_inuse)" -lt 50 ] && return 0
		sleep 0.1
	done
	return 1
}

wait_line() {	# wait_line FILE SECONDS: until FILE has a line
	local i
	for i in $(seq $(( $2 * 10 ))); do
		[ -s "$1" ] && return 0
		sleep 0.1
	done
	return 1
}

mem_delta() {	# mem_delta KIND ROUND: record after - before
	awk -v b="$1" -v r="$2" '
		FNR == 1 { f++ }
		{ v[f, $1] = $2 }
		END {
			k = "Slab: Percpu: KernelStack: PageTables:"
			n = split(k, ks, " ")
			for (i = 1; i <= n; i++) kern += v[2, ks[i]] - v[1, ks[i]]
			printf "memory\t%s\t%s\tkernel_kb\t%d\n", b, r, kern
			printf "memory\t%s\t%s\tslab_kb\t%d\n", b, r, v[2, "Slab:"] - v[1, "Slab:"]
			printf "memory\t%s\t%s\tavail_kb\t%d\n", b, r, v[1, "MemAvailable:"] - v[2, "MemAvailable:"]
		}' "$TMPD/before.mem" "$TMPD/after.mem" >> "$OUT/results.tsv"
	# Per cache: objects in use x object size; only caches that moved.
	awk -v b="$1" -v r="$2" -v min="$MEM_FLOWS" '
		FNR == 1 { f++ }
		FNR > 2 { v[f, $1] = $2 * $4; seen[$1] = 1 }
		END {
			for (c in seen) {
				d = v[2, c] - v[1, c]
				if (d >= min * 8 || d <= -min * 8)
					printf "memory\t%s\t%s\tslab:%s\t%d\n", b, r, c, d
			}
		}' "$TMPD/before.slab" "$TMPD/after.slab" >> "$OUT/results.tsv"
}

mem_run() {	# mem_run KIND ROUND
	local kind=$1 r=$2 lport target claim="" lpid cpid live
	fresh_port
	lport=$PORT target=127.0.0.1:$PORT
	if [ "$kind" = redirected ]; then
		lport=7401 target=127.0.0.2:9 claim=hold
	fi
	rm -f "$TMPD/l.out" "$TMPD/c.out"
	spawn "$NS" "$ON/hold" sh -c 'exec "$@" > "$0"' "$TMPD/l.out" \
		"$BB/hold" listen "127.0.0.1:$lport" "$MEM_FLOWS" $claim
	lpid=$LAST_PID
	wait_port "$NS" "$lport" || return 1
	sleep 0.5
	snapshot before
	spawn "$NS" "$ON/app" sh -c 'exec "$@" > "$0"' "$TMPD/c.out" \
		"$BB/hold" connect "$target" "$MEM_FLOWS"
	cpid=$LAST_PID
	if ! wait_line "$TMPD/c.out" 300 || ! wait_line "$TMPD/l.out" 30; then
		stop "$lpid" "$cpid"
		return 1
	fi
	sleep 0.5
	snapshot after
	live=$("$SR" -j status | python3 -c 'import json, sys; print(json.load(sys.stdin)["live_flows"])')
	stop "$lpid" "$cpid"
	stop $(procs_in "$ON/hold") $(procs_in "$ON/app")
	mem_delta "$kind" "$r"
	result memory "$kind" "$r" flows "$MEM_FLOWS"
	result memory "$kind" "$r" live_flows "$live"
	say "memory $kind round $r: $(awk -F'\t' -v k="$kind" -v r="$r" '$1 == "memory" && $2 == k && $3 == r && $4 ~ /_kb$/ { printf "%s %s  ", $4, $5 }' "$OUT/results.tsv")live flows $live"
	wait_sockets_gone || say "memory: sockets of the last run still closing"
	[ "$kind" = direct ] || [ "$live" -ge "$MEM_FLOWS" ]
}

# The layer's per-socket state maps and their value sizes (an element is
# that plus the kernel's 72-byte header): "memory layer 0 value:MAP BYTES".
state_sizes() {
	local m
	for m in sr_conns sr_accepted sr_given sr_socks; do
		[ -e "/sys/fs/bpf/sockredir/$m" ] || continue
		result memory layer 0 "value:$m" "$(bpftool -j map show pinned "/sys/fs/bpf/sockredir/$m" |
			python3 -c 'import json, sys; print(json.load(sys.stdin)["bytes_value"])')"
	done
}

bench_memory() {
	local r kinds="direct redirected" k
	say "== 5. kernel memory of $MEM_FLOWS open flows ($MEM_ROUNDS rounds)"
	mkdir -p "$ON/hold"
	if ! "$SR" service add hold --listen 127.0.0.1:7401 --owner-cgroup "$ON/hold" >/dev/null ||
	   ! "$SR" rule add --service hold --proto tcp --dst 127.0.0.2/32 >/dev/null; then
		path_fail "memory redirected" "cannot add service hold"
		return 1
	fi
	result memory layer 0 maps_kb "$(maps_kb)"
	state_sizes
	for r in $(seq "$MEM_ROUNDS"); do
		for k in $kinds; do
			if mem_run "$k" "$r"; then
				path_ok "memory $k"
			else
				path_fail "memory $k" "not all $MEM_FLOWS flows were open (and redirected)"
			fi
		done
		kinds="${kinds#* } ${kinds%% *}"
	done
	"$SR" service del hold >/dev/null 2>&1
}
