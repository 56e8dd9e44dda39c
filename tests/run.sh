#!/bin/sh
# Run every test, each producing TAP, and end with "N passed, N failed".
#   sh tests/run.sh          unit tests, then integration tests (needs root)
#   sh tests/run.sh unit     unit tests only
#   sh tests/run.sh NAME...  the named integration scripts only
cd "$(dirname "$0")/.." || exit 1
log=$(mktemp)
trap 'rm -f "$log"' EXIT

run() {
	echo "# $*"
	"$@" 2>&1 | tee -a "$log" | sed 's/^/    /'
}

mode=all
[ "$1" = unit ] && mode=unit
[ $# -gt 0 ] && [ $mode = all ] && mode=some
if [ $mode != some ]; then
	for t in build/tests/test_*; do
		[ -x "$t" ] && run "$t"
	done
fi
[ $mode = all ] && set -- tests/integration/*.sh
[ $mode = unit ] && set --
for s in "$@"; do
	[ -f "$s" ] || s=tests/integration/$s.sh
	[ -f "$s" ] && run bash "$s"
done

pass=$(grep -c '^ok ' "$log")
fail=$(grep -c '^not ok ' "$log")
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ] && [ "$pass" -gt 0 ]
