/* SPDX-License-Identifier: MIT */
/*
 * udprr - DNS-sized UDP request/response: a server and a client.
 *
 *   udprr server ADDR:PORT [ANSWER]
 *        answer each datagram with ANSWER bytes (default 100) that begin
 *        with the query's first 8 (its number)
 *   udprr rate ADDR:PORT SECONDS flows|one [QUERY]
 *        QUERY-byte queries (default 40), each waiting for its answer,
 *        until SECONDS are up.  flows: every query on a new connected
 *        socket (a new flow, as a stub resolver asks); one: all on one
 *        connected socket.  An answer that does not come within 1 s, or
 *        comes with another query's number, is lost.
 *        Prints "QUERIES SECONDS PER_SECOND LOST".
 */
#include <poll.h>

#include "bench.h"

/* Answers leave from the address the query came to (IP_PKTINFO): the
 * clients are connected there. */
static void __attribute__((noreturn)) serve(const char *addr, size_t answer)
{
	unsigned char buf[65536];
	char cbuf[CMSG_SPACE(sizeof(struct in_pktinfo))];
	struct sockaddr_in sa, peer;
	struct iovec iov = { .iov_base = buf };
	struct msghdr mh = {
		.msg_name = &peer, .msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = cbuf,
	};
	struct cmsghdr *c;
	int fd, one = 1;
	ssize_t n;

	parse_addr(addr, &sa);
	if (answer < 8 || answer > sizeof(buf))
		die("bad answer size");
	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    setsockopt(fd, IPPROTO_IP, IP_PKTINFO, &one, sizeof(one)) < 0)
		die("bind %s", addr);
	memset(buf, 'a', sizeof(buf));
	for (;;) {
		mh.msg_namelen = sizeof(peer);
		mh.msg_controllen = sizeof(cbuf);
		iov.iov_len = sizeof(buf);
		n = recvmsg(fd, &mh, 0);
		if (n < 8)
			continue;
		for (c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c))
			if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO) {
				struct in_pktinfo *pi = (void *)CMSG_DATA(c);

				pi->ipi_spec_dst = pi->ipi_addr;
				pi->ipi_ifindex = 0;
			}
		iov.iov_len = answer;
		sendmsg(fd, &mh, 0);
	}
}

/* One query on @fd and its answer: 0, or -1 if it was lost. */
static int ask(int fd, uint64_t seq, size_t query)
{
	unsigned char q[512], a[512];
	struct pollfd p = { .fd = fd, .events = POLLIN };
	ssize_t n;

	memset(q, 'q', query);
	memcpy(q, &seq, 8);
	if (send(fd, q, query, 0) != (ssize_t)query)
		return -1;
	for (;;) {
		if (poll(&p, 1, 1000) != 1)
			return -1;
		n = recv(fd, a, sizeof(a), 0);
		if (n < 0)
			return -1;
		if (n >= 8 && !memcmp(a, &seq, 8))
			return 0;
		/* A late answer to a lost query: not this one's, wait on. */
	}
}

static int open_flow(const struct sockaddr_in *sa)
{
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		die("socket");
	if (connect(fd, (const struct sockaddr *)sa, sizeof(*sa)) < 0)
		die("connect");
	return fd;
}

static int rate(const char *addr, double secs, int flows, size_t query)
{
	struct sockaddr_in sa;
	uint64_t limit = (uint64_t)(secs * 1e9), start, n = 0, lost = 0;
	int fd = -1;

	parse_addr(addr, &sa);
	if (query < 8 || query > 512)
		die("bad query size");
	start = now_ns();
	while (now_ns() - start < limit) {
		if (fd < 0)
			fd = open_flow(&sa);
		if (ask(fd, n, query) == 0)
			n++;
		else
			lost++;
		if (flows) {
			close(fd);
			fd = -1;
		}
	}
	secs = (now_ns() - start) / 1e9;
	printf("%llu %.6f %.1f %llu\n", (unsigned long long)n, secs, n / secs,
	       (unsigned long long)lost);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc >= 3 && !strcmp(argv[1], "server"))
		serve(argv[2], argc > 3 ? (size_t)atoi(argv[3]) : 100);
	if (argc >= 5 && !strcmp(argv[1], "rate") &&
	    (!strcmp(argv[4], "flows") || !strcmp(argv[4], "one")))
		return rate(argv[2], atof(argv[3]), !strcmp(argv[4], "flows"),
			    argc > 5 ? (size_t)atoi(argv[5]) : 40);
	fputs("usage: udprr server ADDR:PORT [ANSWER] | "
	      "udprr rate ADDR:PORT SECONDS flows|one [QUERY]\n", stderr);
	return 2;
}
