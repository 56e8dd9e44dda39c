#!/bin/bash
# Every benchmark path once, with tiny sizes (make bench-smoke), so that the
# benchmarks do not rot.  Figures are not checked here: bench/REPORT.md has
# them, from `make bench`.
cd "$(dirname "$0")/../.." || exit 1
out=$(sh bench/run.sh smoke 2>&1)
st=$?
echo "$out" | grep -v -E '^[0-9]+ passed, [0-9]+ failed$'
echo "1..$(echo "$out" | grep -cE '^(not )?ok ')"
exit $st
