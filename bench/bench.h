/* SPDX-License-Identifier: MIT */
/*
 * bench.h - what the benchmark programs share: clock, addresses, the
 * service claim, dying.  Header-only; each program is one .c file built by
 * bench/run.sh with gcc -O2 into build/bench/.
 */
#ifndef BENCH_H
#define BENCH_H

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* The listening socket of a service claims it (the layer's CLAIM option). */
#define BENCH_SOL_SOCKREDIR	0x5352
#define BENCH_SOCKREDIR_CLAIM	3

static inline void __attribute__((noreturn, format(printf, 1, 2)))
die(const char *fmt, ...)
{
	int err = errno;
	va_list ap;

	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	if (err)
		fprintf(stderr, ": %s", strerror(err));
	fputc('\n', stderr);
	exit(1);
}

static inline uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

/* "1.2.3.4:80" into @sa (IPv4 only: every benchmark runs on 127/8). */
static inline void parse_addr(const char *s, struct sockaddr_in *sa)
{
	char host[64];
	const char *colon = strrchr(s, ':');

	errno = 0;
	if (!colon || (size_t)(colon - s) >= sizeof(host))
		die("bad address '%s' (want A.B.C.D:PORT)", s);
	memcpy(host, s, colon - s);
	host[colon - s] = '\0';
	memset(sa, 0, sizeof(*sa));
	sa->sin_family = AF_INET;
	sa->sin_port = htons((uint16_t)atoi(colon + 1));
	if (inet_pton(AF_INET, host, &sa->sin_addr) != 1)
		die("bad address '%s'", s);
}

/*
 * Claim service @name for listening socket @fd.  A layer that does not know
 * the option yet (or is not attached to this cgroup) answers ENOPROTOOPT or
 * EOPNOTSUPP: that is not an error here, so the same program serves the
 * paths without sockredir.
 */
static inline void claim(int fd, const char *name)
{
	if (!name)
		return;
	if (setsockopt(fd, BENCH_SOL_SOCKREDIR, BENCH_SOCKREDIR_CLAIM, name,
		       strlen(name)) < 0 &&
	    errno != ENOPROTOOPT && errno != EOPNOTSUPP)
		die("claiming service %s", name);
}

static inline int listen_on(const char *addr, int backlog, const char *name)
{
	struct sockaddr_in sa;
	int one = 1, fd;

	parse_addr(addr, &sa);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		die("socket");
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		die("bind %s", addr);
	if (listen(fd, backlog) < 0)
		die("listen");
	claim(fd, name);
	return fd;
}

static inline void raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

static inline void nodelay(int fd)
{
	int one = 1;

	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

/* Read exactly @n bytes; 0 on success, -1 on EOF or error. */
static inline int read_full(int fd, void *buf, size_t n)
{
	char *p = buf;
	ssize_t r;

	while (n) {
		r = read(fd, p, n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		p += r;
		n -= r;
	}
	return 0;
}

static inline int write_full(int fd, const void *buf, size_t n)
{
	const char *p = buf;
	ssize_t r;

	while (n) {
		r = write(fd, p, n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		p += r;
		n -= r;
	}
	return 0;
}

#endif /* BENCH_H */
