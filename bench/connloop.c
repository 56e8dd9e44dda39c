/* SPDX-License-Identifier: MIT */
/*
 * connloop - the connect cost: connect, accept, close, as fast as one
 * thread can, for a fixed time.
 *
 *   connloop ADDR:PORT SECONDS
 *
 * Listens on ADDR:PORT itself, then loops: socket(), blocking connect()
 * (loopback finishes the handshake inside the call), accept(), close the
 * client with SO_LINGER 0 (a RST, so no TIME_WAIT piles up), close the
 * accepted end.  The first 200 iterations warm up and are not timed.
 * Prints "ITERATIONS SECONDS PER_SECOND".
 */
#include "bench.h"

#define WARMUP 200

int main(int argc, char **argv)
{
	static const struct linger rst = { .l_onoff = 1, .l_linger = 0 };
	struct sockaddr_in sa;
	uint64_t start = 0, stop, limit, n = 0;
	int lfd, c, a, i;

	if (argc != 3)
		die("usage: connloop ADDR:PORT SECONDS");
	parse_addr(argv[1], &sa);
	limit = (uint64_t)(atof(argv[2]) * 1e9);
	lfd = listen_on(argv[1], 1024, NULL);
	for (i = 0;; i++) {
		if (i == WARMUP)
			start = now_ns();
		if (i > WARMUP && (i & 15) == 0 && now_ns() - start >= limit)
			break;
		c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (c < 0)
			die("socket");
		if (connect(c, (struct sockaddr *)&sa, sizeof(sa)) < 0)
			die("connect (iteration %d)", i);
		a = accept(lfd, NULL, NULL);
		if (a < 0)
			die("accept");
		setsockopt(c, SOL_SOCKET, SO_LINGER, &rst, sizeof(rst));
		close(c);
		close(a);
		if (i >= WARMUP)
			n++;
	}
	stop = now_ns();
	printf("%llu %.6f %.1f\n", (unsigned long long)n, (stop - start) / 1e9,
	       n / ((stop - start) / 1e9));
	return 0;
}
