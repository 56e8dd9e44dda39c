/* SPDX-License-Identifier: MIT */
/*
 * rr - request/response: an echo server and two clients.
 *
 *   rr server ADDR:PORT [CLAIM]      echo what arrives, one epoll thread
 *   rr rate ADDR:PORT SECONDS [SIZE] [CLIENTS]
 *        connect, SIZE-byte request (default 100), read the SIZE-byte
 *        reply, close; again until SECONDS are up.  CLIENTS processes
 *        (default 1) run side by side.  Prints "CONNECTIONS SECONDS PER_SECOND".
 *   rr pingpong ADDR:PORT COUNT [SIZE]
 *        one connection, COUNT round trips of SIZE bytes (default 64),
 *        each timed.  Prints "P50_US P99_US MEAN_US".
 */
#include <fcntl.h>
#include <sys/epoll.h>
#include <sys/wait.h>

#include "bench.h"

static void __attribute__((noreturn)) serve(const char *addr, const char *name)
{
	struct epoll_event ev, evs[64];
	char buf[65536];
	int lfd, ep, n, i, fd;
	ssize_t r;

	raise_nofile();
	lfd = listen_on(addr, 4096, name);
	fcntl(lfd, F_SETFL, O_NONBLOCK);
	ep = epoll_create1(EPOLL_CLOEXEC);
	ev.events = EPOLLIN;
	ev.data.fd = lfd;
	epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);
	for (;;) {
		n = epoll_wait(ep, evs, 64, -1);
		for (i = 0; i < n; i++) {
			fd = evs[i].data.fd;
			if (fd == lfd) {
				while ((fd = accept4(lfd, NULL, NULL,
						     SOCK_CLOEXEC | SOCK_NONBLOCK)) >= 0) {
					nodelay(fd);
					ev.events = EPOLLIN;
					ev.data.fd = fd;
					epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
				}
				continue;
			}
			r = read(fd, buf, sizeof(buf));
			if (r < 0 && errno == EAGAIN)
				continue;
			/* Replies are small: a full send buffer means a broken peer. */
			if (r <= 0 || write(fd, buf, r) != r)
				close(fd);
		}
	}
}

static uint64_t rate_loop(const struct sockaddr_in *sa, uint64_t limit, size_t size)
{
	char buf[65536];
	uint64_t start = now_ns(), n = 0;
	int c;

	memset(buf, 'q', size);
	while (now_ns() - start < limit) {
		c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (c < 0)
			die("socket");
		if (connect(c, (const struct sockaddr *)sa, sizeof(*sa)) < 0)
			die("connect (after %llu)", (unsigned long long)n);
		nodelay(c);
		if (write_full(c, buf, size) < 0 || read_full(c, buf, size) < 0)
			die("request %llu", (unsigned long long)n);
		close(c);
		n++;
	}
	return n;
}

static int rate(const char *addr, double secs, size_t size, int clients)
{
	struct sockaddr_in sa;
	uint64_t limit = (uint64_t)(secs * 1e9), start, total = 0;
	int pipefd[2], i, st, failed = 0;
	unsigned long long got;
	FILE *f;

	parse_addr(addr, &sa);
	if (size < 1 || size > 65536 || clients < 1)
		die("bad size or client count");
	if (pipe(pipefd) < 0)
		die("pipe");
	start = now_ns();
	for (i = 0; i < clients; i++) {
		pid_t pid = fork();

		if (pid < 0)
			die("fork");
		if (pid == 0) {
			char line[32];
			int len = snprintf(line, sizeof(line), "%llu\n",
					   (unsigned long long)rate_loop(&sa, limit, size));

			if (write(pipefd[1], line, len) != len)
				_exit(1);
			_exit(0);
		}
	}
	close(pipefd[1]);
	f = fdopen(pipefd[0], "r");
	while (fscanf(f, "%llu", &got) == 1)
		total += got;
	while (wait(&st) > 0)
		if (!WIFEXITED(st) || WEXITSTATUS(st))
			failed = 1;
	secs = (now_ns() - start) / 1e9;
	printf("%llu %.6f %.1f\n", (unsigned long long)total, secs, total / secs);
	return failed;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static int pingpong(const char *addr, long count, size_t size)
{
	struct sockaddr_in sa;
	char buf[65536];
	uint64_t *lat, t, sum = 0;
	long i;
	int c;

	parse_addr(addr, &sa);
	if (count < 1 || size < 1 || size > sizeof(buf))
		die("bad count or size");
	lat = calloc(count, sizeof(*lat));
	c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (!lat || c < 0)
		die("setup");
	if (connect(c, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		die("connect %s", addr);
	nodelay(c);
	memset(buf, 'p', size);
	for (i = -100; i < count; i++) {	/* 100 round trips of warm-up */
		t = now_ns();
		if (write_full(c, buf, size) < 0 || read_full(c, buf, size) < 0)
			die("round trip %ld", i);
		if (i >= 0)
			lat[i] = now_ns() - t;
	}
	close(c);
	qsort(lat, count, sizeof(*lat), cmp_u64);
	for (i = 0; i < count; i++)
		sum += lat[i];
	printf("%.2f %.2f %.2f\n", lat[count / 2] / 1e3,
	       lat[(count * 99) / 100] / 1e3, sum / 1e3 / count);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc >= 3 && !strcmp(argv[1], "server"))
		serve(argv[2], argc > 3 ? argv[3] : NULL);
	if (argc >= 4 && !strcmp(argv[1], "rate"))
		return rate(argv[2], atof(argv[3]), argc > 4 ? atoi(argv[4]) : 100,
			    argc > 5 ? atoi(argv[5]) : 1);
	if (argc >= 4 && !strcmp(argv[1], "pingpong"))
		return pingpong(argv[2], atol(argv[3]), argc > 4 ? atoi(argv[4]) : 64);
	fputs("usage: rr server ADDR:PORT [CLAIM] | rr rate ADDR:PORT SECONDS [SIZE] "
	      "[CLIENTS] | rr pingpong ADDR:PORT COUNT [SIZE]\n", stderr);
	return 2;
}
