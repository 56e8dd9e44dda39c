/*
 * relay_load.c - many concurrent TCP flows, every byte checked.
 *
 *   relay_load serve ADDR:PORT           echo server (epoll), until killed
 *   relay_load run ADDR:PORT N BYTES     N flows at once; each sends BYTES
 *                                        of its own pattern, half-closes,
 *                                        and checks the echo and the EOF
 *
 * "run" prints "N ok, M failed" and exits 0 only if all N were intact.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <sockredir.h>

struct conn {
	int fd;
	unsigned int id;
	size_t sent, got;
	int bad, done, shut;
	char *buf;		/* serve: bytes read but not yet echoed */
	size_t blen;
};

static unsigned char pat(unsigned int id, size_t i)
{
	return (unsigned char)((i * 2654435761u) >> 11) ^ (unsigned char)(id * 131);
}

static void raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

static socklen_t addr_len(const struct sockaddr_storage *ss)
{
	return ss->ss_family == AF_INET6 ? sizeof(struct sockaddr_in6) :
	       sizeof(struct sockaddr_in);
}

static int serve(const struct sockaddr_storage *ss)
{
	int one = 1, lfd, ep, n, i, fd;
	struct epoll_event ev, evs[256];
	char buf[65536];
	ssize_t k;

	lfd = socket(ss->ss_family, SOCK_STREAM | SOCK_NONBLOCK, 0);
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(lfd, (const struct sockaddr *)ss, addr_len(ss)) < 0 ||
	    listen(lfd, 4096) < 0) {
		perror("relay_load: listen");
		return 1;
	}
	ep = epoll_create1(0);
	ev = (struct epoll_event){ .events = EPOLLIN, .data.fd = lfd };
	epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);
	for (;;) {
		n = epoll_wait(ep, evs, 256, -1);
		for (i = 0; i < n; i++) {
			fd = evs[i].data.fd;
			if (fd == lfd) {
				while ((fd = accept4(lfd, NULL, NULL, 0)) >= 0) {
					ev = (struct epoll_event){ .events = EPOLLIN, .data.fd = fd };
					epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
				}
				continue;
			}
			/* Blocking echo of what is there: small flows, local peer. */
			k = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
			if (k > 0 && send(fd, buf, k, MSG_NOSIGNAL) == k)
				continue;
			if (k < 0 && errno == EAGAIN)
				continue;
			shutdown(fd, SHUT_WR);
			epoll_ctl(ep, EPOLL_CTL_DEL, fd, NULL);
			close(fd);
		}
	}
}

static int run(const struct sockaddr_storage *ss, int n, size_t bytes)
{
	struct conn *c = calloc(n, sizeof(*c));
	struct epoll_event ev, evs[256];
	unsigned char buf[65536];
	int ep = epoll_create1(0), live = n, i, k, good = 0;
	time_t deadline = time(NULL) + 120;
	size_t j, len;
	ssize_t r;

	for (i = 0; i < n; i++) {
		c[i].id = i;
		c[i].fd = socket(ss->ss_family, SOCK_STREAM | SOCK_NONBLOCK, 0);
		if (c[i].fd < 0 ||
		    (connect(c[i].fd, (const struct sockaddr *)ss, addr_len(ss)) < 0 &&
		     errno != EINPROGRESS)) {
			perror("relay_load: connect");
			c[i].bad = c[i].done = 1;
			live--;
			continue;
		}
		ev = (struct epoll_event){ .events = EPOLLIN | EPOLLOUT, .data.u32 = i };
		epoll_ctl(ep, EPOLL_CTL_ADD, c[i].fd, &ev);
	}
	while (live > 0 && time(NULL) < deadline) {
		k = epoll_wait(ep, evs, 256, 1000);
		for (i = 0; i < k; i++) {
			struct conn *x = &c[evs[i].data.u32];

			if (x->done)
				continue;
			if ((evs[i].events & (EPOLLOUT | EPOLLERR)) && x->sent < bytes) {
				len = bytes - x->sent < sizeof(buf) ? bytes - x->sent : sizeof(buf);
				for (j = 0; j < len; j++)
					buf[j] = pat(x->id, x->sent + j);
				r = send(x->fd, buf, len, MSG_NOSIGNAL);
				if (r > 0)
					x->sent += r;
				else if (r < 0 && errno != EAGAIN)
					x->bad = x->done = 1;
			}
			if (!x->done && x->sent == bytes && !x->shut) {
				shutdown(x->fd, SHUT_WR);
				x->shut = 1;
				ev = (struct epoll_event){ .events = EPOLLIN, .data.u32 = x->id };
				epoll_ctl(ep, EPOLL_CTL_MOD, x->fd, &ev);
			}
			if (!x->done && (evs[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP))) {
				r = recv(x->fd, buf, sizeof(buf), 0);
				if (r > 0) {
					for (j = 0; j < (size_t)r; j++)
						if (buf[j] != pat(x->id, x->got + j))
							x->bad = 1;
					x->got += r;
				} else if (r == 0) {
					x->done = 1;
				} else if (errno != EAGAIN) {
					x->bad = x->done = 1;
				}
			}
			if (x->done) {
				live--;
				epoll_ctl(ep, EPOLL_CTL_DEL, x->fd, NULL);
				close(x->fd);
			}
		}
	}
	for (i = 0; i < n; i++)
		if (c[i].done && !c[i].bad && c[i].got == bytes && c[i].sent == bytes)
			good++;
	printf("%d ok, %d failed\n", good, n - good);
	free(c);
	return good == n ? 0 : 1;
}

int main(int argc, char **argv)
{
	struct sockaddr_storage ss;

	raise_nofile();
	if (argc >= 3 && sockredir_parse_addr(argv[2], &ss) == 0) {
		if (!strcmp(argv[1], "serve") && argc == 3)
			return serve(&ss);
		if (!strcmp(argv[1], "run") && argc == 5)
			return run(&ss, atoi(argv[3]), strtoul(argv[4], NULL, 10));
	}
	fprintf(stderr, "usage: relay_load serve ADDR:PORT | run ADDR:PORT N BYTES\n");
	return 2;
}
