#!/bin/sh
# Run every test, each producing TAP, and end with "N passed, N failed".
#   sh tests/run.sh          unit tests, then integration tests (needs root)
#   sh tests/run.sh unit     unit tests only
#   sh tests/run.sh NAME...  the named integration scripts only
cd "$(dirname "$0")/.." || exit 1
log=$(mktemp)
trap 'rm -f "$log"' EXIT

# run CMD...: its TAP lines join the log; a crash or a short plan is a failure.
run() {
	local out st plan n
	out=$(mktemp)
	echo "# $*"
	"$@" > "$out" 2>&1
	st=$?
	sed 's/^/    /' "$out"
	grep -aE '^(not )?ok ' "$out" >> "$log"	# -a: a name may hold a bad file's bytes
	plan=$(sed -n 's/^1\.\.\([0-9]*\).*/\1/p' "$out" | tail -1)
	n=$(grep -acE '^(not )?ok ' "$out")
	if [ "$st" -ne 0 ] && ! grep -aq '^not ok ' "$out"; then
		echo "not ok - $* exited $st" | tee -a "$log"
	elif [ -z "$plan" ] || [ "$plan" -ne "$n" ]; then
		grep -q '^1\.\.0 # SKIP' "$out" ||
			echo "not ok - $*: planned ${plan:-none}, ran $n" | tee -a "$log"
	fi
	rm -f "$out"
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
	[ "${s##*/}" = lib.sh ] && continue
	[ -f "$s" ] || s=tests/integration/$s.sh
	[ -f "$s" ] && run bash "$s"
done

pass=$(grep -ac '^ok ' "$log")
fail=$(grep -ac '^not ok ' "$log")
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ] && [ "$pass" -gt 0 ]
