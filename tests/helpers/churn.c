/*
 * churn - many short redirected connections, to show flow state is freed.
 *
 *   churn serve ADDR:PORT N SERVICE
 *                              claim the listener for SERVICE, accept N
 *                              connections; each must carry records
 *   churn connect ADDR:PORT N  connect N times; each sees EOF, then resets
 *
 * Prints how many connections had records (serve) or completed (connect).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "sockredir.h"

static int serve(const struct sockaddr_storage *ss, long n,
		 const char *service)
{
	int one = 1, ls = socket(ss->ss_family, SOCK_STREAM, 0);
	long i, good = 0;

	setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(ls, (const void *)ss, sizeof(*ss)) < 0 || listen(ls, 4096) < 0 ||
	    sockredir_claim(ls, service) < 0) {
		perror("churn: listen");
		return 1;
	}
	for (i = 0; i < n; i++) {
		unsigned char rec[SOCKREDIR_RECORDS_MAX];
		size_t len = sizeof(rec);
		int c = accept(ls, NULL, NULL);

		if (c < 0) {
			perror("churn: accept");
			return 1;
		}
		good += sockredir_query_records(c, rec, &len) == 0;
		close(c);
	}
	printf("%ld\n", good);
	return 0;
}

static int connect_loop(const struct sockaddr_storage *ss, long n)
{
	struct linger rst = { 1, 0 };
	long i, good = 0;
	char b;

	for (i = 0; i < n; i++) {
		int s = socket(ss->ss_family, SOCK_STREAM, 0);

		if (connect(s, (const void *)ss, sizeof(*ss)) == 0 &&
		    read(s, &b, 1) == 0)
			good++;
		setsockopt(s, SOL_SOCKET, SO_LINGER, &rst, sizeof(rst));
		close(s);
	}
	printf("%ld\n", good);
	return 0;
}

int main(int argc, char **argv)
{
	struct sockaddr_storage ss;
	long n;

	if (argc < 4 || sockredir_parse_addr(argv[2], &ss) < 0 ||
	    (n = atol(argv[3])) <= 0 || (!strcmp(argv[1], "serve") && argc != 5)) {
		fprintf(stderr, "usage: churn serve ADDR:PORT N SERVICE | "
				"connect ADDR:PORT N\n");
		return 2;
	}
	if (!strcmp(argv[1], "serve"))
		return serve(&ss, n, argv[4]);
	return connect_loop(&ss, n);
}
