/* SPDX-License-Identifier: MIT */
/*
 * odrelay - the simplest transparent relay: it learns where each accepted
 * connection was going from getsockopt(SOL_IP, SO_ORIGINAL_DST) and relays
 * to it.  netfilter answers that for iptables-REDIRECTed connections and
 * sockredir for redirected ones, so the same code serves both paths of the
 * side-by-side comparison.
 *
 *   odrelay ADDR:PORT [CLAIM]
 *
 * One epoll thread, level-triggered, a 64 KiB buffer per direction, read()
 * and write(); half-closes are passed on.  CLAIM names the sockredir service
 * the listener claims (ignored where the layer does not answer).
 */
#include <fcntl.h>
#include <stdbool.h>
#include <sys/epoll.h>

#include "bench.h"

#ifndef SO_ORIGINAL_DST
#define SO_ORIGINAL_DST 80	/* <linux/netfilter_ipv4.h>, which clashes with libc */
#endif

#define BUFSZ (64 * 1024)

struct conn;
struct end {
	struct conn *c;
	int fd;
	uint32_t events;	/* what epoll watches now */
	bool eof, shut;		/* read EOF; passed it on (SHUT_WR to the other) */
	size_t off, len;	/* bytes read here, not yet written to the other */
	char buf[BUFSZ];
};
struct conn {
	struct end e[2];	/* 0: the client, 1: upstream */
	bool connecting, dead;
	struct conn *next_dead;
};

static int ep;
/* Freed after each epoll batch: later events of the batch may name them. */
static struct conn *dead;

static void watch(struct end *e, uint32_t want)
{
	struct epoll_event ev = { .events = want, .data.ptr = e };

	if (want == e->events)
		return;
	epoll_ctl(ep, e->events ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, e->fd, &ev);
	e->events = want;
}

static void conn_free(struct conn *c)
{
	close(c->e[0].fd);	/* close() also takes them out of epoll */
	close(c->e[1].fd);
	c->dead = true;
	c->next_dead = dead;
	dead = c;
}

/* Move what can move in direction @from -> @to.  -1: the connection is done for. */
static int pump(struct end *from, struct end *to)
{
	ssize_t n;

	if (!from->len && !from->eof) {
		n = read(from->fd, from->buf, BUFSZ);
		if (n > 0) {
			from->off = 0;
			from->len = n;
		} else if (n == 0) {
			from->eof = true;
		} else if (errno != EAGAIN) {
			return -1;
		}
	}
	while (from->len) {
		n = write(to->fd, from->buf + from->off, from->len);
		if (n < 0)
			return errno == EAGAIN ? 0 : -1;
		from->off += n;
		from->len -= n;
	}
	if (from->eof && !from->shut) {
		shutdown(to->fd, SHUT_WR);
		from->shut = true;
	}
	return 0;
}

static void progress(struct conn *c)
{
	struct end *a = &c->e[0], *b = &c->e[1];
	int i;

	if (c->dead)
		return;
	if (!c->connecting && (pump(a, b) < 0 || pump(b, a) < 0)) {
		conn_free(c);
		return;
	}
	if (a->shut && b->shut) {
		conn_free(c);
		return;
	}
	for (i = 0; i < 2; i++) {
		struct end *e = &c->e[i], *o = &c->e[1 - i];
		uint32_t want = 0;

		if (!e->eof && !e->len && !c->connecting)
			want |= EPOLLIN;
		if (o->len || (i == 1 && c->connecting))
			want |= EPOLLOUT;
		watch(e, want);
	}
}

/* The upstream connect finished, one way or the other. */
static void connected(struct conn *c)
{
	socklen_t len = sizeof(int);
	int err = 0;

	getsockopt(c->e[1].fd, SOL_SOCKET, SO_ERROR, &err, &len);
	if (err)
		conn_free(c);
	c->connecting = false;
}

static void on_accept(int lfd)
{
	struct sockaddr_in dst;
	socklen_t len;
	struct conn *c;
	int fd, up;

	while ((fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
		len = sizeof(dst);
		if (getsockopt(fd, SOL_IP, SO_ORIGINAL_DST, &dst, &len) < 0) {
			close(fd);	/* not redirected: nowhere to go */
			continue;
		}
		up = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		c = calloc(1, sizeof(*c));
		if (up < 0 || !c)
			die("out of resources");
		nodelay(fd);
		nodelay(up);
		c->e[0].c = c->e[1].c = c;
		c->e[0].fd = fd;
		c->e[1].fd = up;
		if (connect(up, (struct sockaddr *)&dst, sizeof(dst)) < 0) {
			if (errno != EINPROGRESS) {
				conn_free(c);
				continue;
			}
			c->connecting = true;
		}
		progress(c);
	}
}

int main(int argc, char **argv)
{
	struct epoll_event ev, evs[128];
	int lfd, n, i;

	if (argc < 2 || argc > 3)
		die("usage: odrelay ADDR:PORT [CLAIM]");
	raise_nofile();
	lfd = listen_on(argv[1], 4096, argc > 2 ? argv[2] : NULL);
	fcntl(lfd, F_SETFL, O_NONBLOCK);
	ep = epoll_create1(EPOLL_CLOEXEC);
	ev.events = EPOLLIN;
	ev.data.ptr = NULL;
	epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);
	for (;;) {
		n = epoll_wait(ep, evs, 128, -1);
		for (i = 0; i < n; i++) {
			struct end *e = evs[i].data.ptr;

			if (!e) {
				on_accept(lfd);
				continue;
			}
			if (e->c->connecting && !e->c->dead && e == &e->c->e[1])
				connected(e->c);
			progress(e->c);
		}
		while (dead) {
			struct conn *c = dead;

			dead = c->next_dead;
			free(c);
		}
	}
}
