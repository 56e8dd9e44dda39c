/* SPDX-License-Identifier: MIT */
/*
 * bulk - an exact-size transfer, timed end to end.
 *
 *   bulk recv ADDR:PORT          per connection: read to EOF, reply with the
 *                                byte count (8 bytes), close; forever
 *   bulk send ADDR:PORT BYTES    connect, send BYTES, half-close, wait for
 *                                the receiver's count.  Prints
 *                                "BYTES SECONDS GBIT_PER_S"; fails unless the
 *                                count is BYTES.
 *
 * The clock runs from before connect() until the count arrives, so a proxy
 * is charged for every byte it holds back.  1 MiB read()/write() buffers.
 */
#include "bench.h"

#define BUF (1024 * 1024)

static void __attribute__((noreturn)) receive(const char *addr)
{
	char *buf = malloc(BUF);
	uint64_t total;
	ssize_t n;
	int lfd, c;

	if (!buf)
		die("malloc");
	lfd = listen_on(addr, 128, NULL);
	for (;;) {
		c = accept(lfd, NULL, NULL);
		if (c < 0)
			continue;
		total = 0;
		while ((n = read(c, buf, BUF)) > 0)
			total += n;
		if (n == 0)
			write_full(c, &total, sizeof(total));
		close(c);
	}
}

static int send_bytes(const char *addr, uint64_t bytes)
{
	struct sockaddr_in sa;
	char *buf = malloc(BUF);
	uint64_t left = bytes, got = 0, t0;
	double secs;
	int c;

	parse_addr(addr, &sa);
	if (!buf)
		die("malloc");
	memset(buf, 0xa5, BUF);	/* neither HTTP nor TLS: nothing to sniff */
	t0 = now_ns();
	c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c < 0 || connect(c, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		die("connect %s", addr);
	while (left) {
		size_t n = left < BUF ? left : BUF;

		if (write_full(c, buf, n) < 0)
			die("send");
		left -= n;
	}
	shutdown(c, SHUT_WR);
	if (read_full(c, &got, sizeof(got)) < 0)
		die("no count from the receiver");
	secs = (now_ns() - t0) / 1e9;
	close(c);
	if (got != bytes) {
		errno = 0;
		die("receiver counted %llu bytes, sent %llu",
		    (unsigned long long)got, (unsigned long long)bytes);
	}
	printf("%llu %.6f %.3f\n", (unsigned long long)bytes, secs,
	       bytes * 8 / secs / 1e9);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 3 && !strcmp(argv[1], "recv"))
		receive(argv[2]);
	if (argc == 4 && !strcmp(argv[1], "send"))
		return send_bytes(argv[2], strtoull(argv[3], NULL, 0));
	fputs("usage: bulk recv ADDR:PORT | bulk send ADDR:PORT BYTES\n", stderr);
	return 2;
}
