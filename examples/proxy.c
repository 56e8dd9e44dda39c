/*
 * proxy.c - the smallest complete sockredir redirect service in C.
 *
 *   cc proxy.c $(pkg-config --cflags --libs sockredir) -lpthread -o proxy
 *   ./proxy SERVICE ADDR:PORT
 *
 * Claims its listener for SERVICE, then for each redirected connection:
 * reads the records and the context, connects to the original destination
 * with the records set, and copies bytes both ways (a thread per direction:
 * sockredir-relay is the event-driven one).
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <sockredir.h>

struct pair {
	int from, to;
};

static void *copy(void *arg)
{
	struct pair *p = arg;
	char buf[65536];
	ssize_t n;

	while ((n = read(p->from, buf, sizeof(buf))) > 0)
		if (write(p->to, buf, n) != n)
			break;
	shutdown(p->to, SHUT_WR);
	return NULL;
}

static void *serve(void *arg)
{
	int c = (int)(long)arg, up = -1;
	unsigned char rec[SOCKREDIR_RECORDS_MAX];
	size_t reclen = sizeof(rec);
	struct sockredir_context ctx;
	char dst[SOCKREDIR_ADDRSTRLEN];
	struct pair there, back;
	pthread_t t;

	if (sockredir_query_records(c, rec, &reclen) < 0 ||
	    sockredir_query_context(c, &ctx) < 0) {
		perror("proxy: not a redirected connection");
		goto out;
	}
	printf("flow %llu hop %u from %s (pid %u) to %s\n",
	       (unsigned long long)ctx.sr.flow_id, ctx.sr.hop, ctx.sr.app_comm,
	       ctx.sr.app_pid, sockredir_format_addr(&ctx.remote, dst, sizeof(dst)));
	fflush(stdout);
	up = socket(ctx.remote.ss_family, SOCK_STREAM, 0);
	if (up < 0 || sockredir_set_records(up, rec, reclen) < 0 ||
	    connect(up, (struct sockaddr *)&ctx.remote, sizeof(ctx.remote)) < 0) {
		perror("proxy: upstream");
		goto out;
	}
	there = (struct pair){ c, up };
	back = (struct pair){ up, c };
	pthread_create(&t, NULL, copy, &back);
	copy(&there);
	pthread_join(t, NULL);
out:
	if (up >= 0)
		close(up);
	close(c);
	return NULL;
}

int main(int argc, char **argv)
{
	struct sockaddr_storage addr;
	int one = 1, l;

	if (argc != 3 || sockredir_parse_addr(argv[2], &addr) < 0) {
		fprintf(stderr, "usage: proxy SERVICE ADDR:PORT\n");
		return 2;
	}
	l = socket(addr.ss_family, SOCK_STREAM, 0);
	setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(l, (struct sockaddr *)&addr, sizeof(addr)) < 0 || listen(l, 128) < 0 ||
	    sockredir_claim(l, argv[1]) < 0) {
		perror("proxy: listen");
		return 1;
	}
	for (;;) {
		int c = accept(l, NULL, NULL);
		pthread_t t;

		if (c < 0)
			continue;
		if (pthread_create(&t, NULL, serve, (void *)(long)c) == 0)
			pthread_detach(t);
		else
			close(c);
	}
}
