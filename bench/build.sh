#!/bin/sh
# Build the benchmark programs into build/bench/ (gcc -O2, no library).
set -e
cd "$(dirname "$0")/.."
mkdir -p build/bench
for src in bench/*.c; do
	bin=build/bench/$(basename "$src" .c)
	if [ ! -x "$bin" ] || [ "$src" -nt "$bin" ] || [ bench/bench.h -nt "$bin" ]; then
		${CC:-gcc} -O2 -g -Wall -Wextra -std=gnu11 -D_GNU_SOURCE -pthread \
			-o "$bin" "$src"
	fi
done
