/* SPDX-License-Identifier: MIT */
/*
 * hold - open many connections and keep them, to weigh them.
 *
 *   hold listen ADDR:PORT N [CLAIM]
 *        accept N connections, print "accepted N", keep them until killed
 *   hold connect ADDR:PORT N
 *        open N connections to ADDR:PORT, print "connected N", keep them
 *        until killed.  Sources are 127.1.0.1, 127.1.0.2, ... (20,000
 *        connections each), so more than one port range's worth of
 *        connections fits in front of one listener.
 *
 * The descriptor limit may be low and fixed (it is 20,000 here), so the work
 * is split over worker processes of at most 15,000 connections each; they
 * die with the parent (PR_SET_PDEATHSIG).  Every socket gets SO_LINGER 0,
 * so killing them resets them all and leaves no TIME_WAIT behind to blur
 * the next measurement.
 */
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>

#include "bench.h"

#define PER_WORKER 15000
#define PER_SOURCE 20000	/* connect() prefers even ports: 27,768 of them */

static const struct linger rst = { .l_onoff = 1, .l_linger = 0 };
static const char *addr, *claim_name;
static struct sockaddr_in dst;
static int lfd = -1;

static void accept_some(long from, long to)
{
	long i;
	int c;

	for (i = from; i < to; i++) {
		c = accept(lfd, NULL, NULL);
		if (c < 0)
			die("accept %ld", i);
		setsockopt(c, SOL_SOCKET, SO_LINGER, &rst, sizeof(rst));
	}
}

static void connect_some(long from, long to)
{
	struct sockaddr_in src = { .sin_family = AF_INET };
	int one = 1, c;
	long i;

	for (i = from; i < to; i++) {
		c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (c < 0)
			die("socket %ld", i);
		/* Pick the port at connect(), per destination, not at bind(). */
		setsockopt(c, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
		src.sin_addr.s_addr = htonl(0x7f010001 + i / PER_SOURCE);
		if (bind(c, (struct sockaddr *)&src, sizeof(src)) < 0)
			die("bind");
		if (connect(c, (struct sockaddr *)&dst, sizeof(dst)) < 0)
			die("connect %ld", i);
		setsockopt(c, SOL_SOCKET, SO_LINGER, &rst, sizeof(rst));
	}
}

/* Run @work over [0, n) in workers; returns once every worker is done. */
static void spread(long n, void (*work)(long, long))
{
	int done[2], st;
	long from;
	char c;
	int workers = 0, i;

	if (pipe(done) < 0)
		die("pipe");
	for (from = 0; from < n; from += PER_WORKER) {
		long to = from + PER_WORKER < n ? from + PER_WORKER : n;
		pid_t pid = fork();

		if (pid < 0)
			die("fork");
		if (pid == 0) {
			prctl(PR_SET_PDEATHSIG, SIGKILL);
			if (getppid() == 1)
				_exit(1);
			close(done[0]);
			work(from, to);
			if (write(done[1], "x", 1) != 1)
				_exit(1);
			for (;;)
				pause();
		}
		workers++;
	}
	close(done[1]);
	for (i = 0; i < workers; i++) {
		if (read(done[0], &c, 1) != 1) {	/* a worker died */
			while (waitpid(-1, &st, WNOHANG) > 0)
				;
			errno = 0;
			die("a worker failed");
		}
	}
}

static void on_term(int sig __attribute__((unused)))
{
	_exit(0);	/* the workers follow (PR_SET_PDEATHSIG) */
}

int main(int argc, char **argv)
{
	long n;

	if (argc < 4 || (strcmp(argv[1], "listen") && strcmp(argv[1], "connect")) ||
	    (!strcmp(argv[1], "connect") && argc != 4)) {
		fputs("usage: hold listen ADDR:PORT N [CLAIM] | hold connect ADDR:PORT N\n",
		      stderr);
		return 2;
	}
	addr = argv[2];
	n = atol(argv[3]);
	claim_name = argc > 4 ? argv[4] : NULL;
	raise_nofile();
	signal(SIGTERM, on_term);
	if (!strcmp(argv[1], "listen")) {
		lfd = listen_on(addr, 65535, claim_name);
		spread(n, accept_some);
		printf("accepted %ld\n", n);
	} else {
		parse_addr(addr, &dst);
		spread(n, connect_some);
		printf("connected %ld\n", n);
	}
	fflush(stdout);
	for (;;)
		pause();
}
