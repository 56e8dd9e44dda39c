#!/bin/sh
# before.sh REV [DIR] - build git revision REV of this repository (make all)
# in a git worktree at DIR (build/bench/before), for `BENCH_BEFORE=REV
# bench/run.sh` (and tests/integration/upgrade_design.sh, one DIR per REV).
# The tree is kept between runs and only checked out and rebuilt when REV
# moved; the bench programs (clients, servers, odrelay) are always the
# current ones, only sockredir and sockredir-relay come from REV.
set -eu
cd "$(dirname "$0")/.."
rev=$(git rev-parse --verify -q "$1^{commit}") || {
	echo "bench: BENCH_BEFORE=$1 is not a commit of this repository" >&2
	exit 2
}
dir=${2:-build/bench/before}
if [ -e "$dir/.git" ] && git -C "$dir" rev-parse -q --verify HEAD >/dev/null 2>&1; then
	[ "$(git -C "$dir" rev-parse HEAD)" = "$rev" ] ||
		git -C "$dir" checkout -q --detach "$rev"
else
	rm -rf "$dir"
	git worktree prune
	mkdir -p "$(dirname "$dir")"
	git worktree add -q --detach "$dir" "$rev"
fi
echo "# bench: building $(git rev-parse --short "$rev") in $dir (make all)"
make -C "$dir" -s -j"$(nproc)" all > "$dir.log" 2>&1 || {
	echo "bench: make all of $1 failed; see $dir.log" >&2
	exit 1
}
