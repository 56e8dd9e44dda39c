#!/bin/bash
# verifier.sh - every BPF program of the layer verifies in under 20% of the
# kernel's 1,000,000-instruction limit.  Loads the object without attaching
# or pinning it (build/tests/verifier), so it needs no cgroup, no namespace
# and no lock; prints each program's verified_insns and stack depth.
set -u
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
[ "$(id -u)" = 0 ] || { echo "1..0 # SKIP needs root"; exit 0; }
BOUND=200000
out=$(mktemp)
trap 'rm -f "$out"' EXIT
n=0 failed=0

"$top/build/tests/verifier" > "$out"
st=$?
n=$((n + 1))
if [ $st -eq 0 ] && [ -s "$out" ]; then echo "ok $n - the object loads"
else echo "not ok $n - the object loads (exit $st)"; failed=1; fi
progs=0
while read -r name insns stack; do
	progs=$((progs + 1))
	n=$((n + 1))
	if [ "$insns" -gt 0 ] && [ "$insns" -lt $BOUND ]; then
		echo "ok $n - $name: $insns verified instructions (< $BOUND), stack $stack"
	else
		echo "not ok $n - $name: $insns verified instructions (bound $BOUND), stack $stack"
		failed=1
	fi
done < "$out"
n=$((n + 1))
# connect4/6, getpeername4/6, the congestion control's callbacks, the
# proxies' sockops program, the socket state tracepoint (kept for upgrades),
# getsockopt, setsockopt, and the flow iterator at least.
if [ $progs -ge 10 ] && grep -q '^sr_flows ' "$out" && grep -q '^sr_cc_init ' "$out" &&
	grep -q '^sr_cc_release ' "$out" && grep -q '^sr_proxy_ops ' "$out"; then
	echo "ok $n - $progs programs measured"
else echo "not ok $n - $progs programs measured, expected at least 10 with sr_flows, sr_cc_init, sr_cc_release, sr_proxy_ops"; failed=1; fi
echo "1..$n"
[ $failed -eq 0 ]
