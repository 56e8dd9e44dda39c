#!/bin/bash
# fuzz.sh - every libFuzzer target builds, and survives a short run.
#
# The targets are not part of `make all` (they need clang's sanitizers); a
# target that stopped linking would go unnoticed, so this test builds them
# (make fuzz) and runs each for a few seconds of fresh inputs.  No kernel, no
# layer, no lock: the parsers are plain user space.
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
n=0 failed=0
ok() {
	n=$((n + 1))
	if [ "$1" -eq 0 ]; then echo "ok $n - $2"
	else echo "not ok $n - $2"; failed=$((failed + 1)); fi
}
log=$(mktemp)
art=$(mktemp -d)	# a crashing input lands here, named in the failure
trap 'rm -rf "$log" "$art"' EXIT

make -C "$top" --no-print-directory -s fuzz >"$log" 2>&1
st=$?
ok $st "make fuzz builds every target"
[ $st -eq 0 ] || sed 's/^/# /' "$log" | tail -20

for src in "$top"/tests/fuzz/fuzz_*.c; do
	t=$(basename "$src" .c)
	bin=$top/build/fuzz/$t
	# -runs bounds the work, max_total_time the wall time on a busy host.
	if [ -x "$bin" ]; then
		"$bin" -seed=1 -runs=200000 -max_total_time=3 \
			-artifact_prefix="$art/" >"$log" 2>&1
		st=$?
	else
		echo "no $bin" >"$log"; st=1
	fi
	ok $st "$t: a short fuzz run finds nothing"
	[ $st -eq 0 ] || tail -30 "$log" | sed 's/^/# /'
done
echo "1..$n"
[ $failed -eq 0 ]
