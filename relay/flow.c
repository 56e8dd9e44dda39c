/* SPDX-License-Identifier: MIT */
/*
 * flow.c - the life of one redirected connection.
 *
 *   accept -> query records and context -> open upstream (records set,
 *   non-blocking connect) while sniffing the client's first bytes ->
 *   relay both ways -> log.
 *
 * The sniff holds back only the client-to-server direction: server bytes
 * flow as soon as the upstream is connected, so server-speaks-first
 * protocols work, and a client that waits before its first byte cannot
 * slip past the deny list.  The sniff window (--sniff-timeout) starts at
 * the client's first byte.
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "flow.h"
#include "flowlog.h"
#include "pump.h"
#include "sniff.h"

#define SNIFF_BUF	4096
#define BUDGET		(256 * 1024)	/* bytes per direction per turn */
#define SOCK_EVENTS	(EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET)

struct redirect_ops redirect_ops = {
	.query_records = sockredir_query_records,
	.query_context = sockredir_query_context,
	.set_records = sockredir_set_records,
};

struct flow {
	struct link link;		/* in relay->flows */
	struct relay *relay;
	struct end client, server;
	struct pump up, down;		/* client->server, server->client */
	struct timer sniff_timer, connect_timer;
	struct task more;		/* a pump used up its budget */
	uint64_t start;
	bool have_ctx, sniffing, connected;
	struct sockredir_context ctx;
	size_t records_len;
	unsigned char records[SOCKREDIR_RECORDS_MAX];
	char host[SNIFF_HOST_MAX];
};

static void flow_event(void *arg, int fd, uint32_t events);

static void close_end(struct relay *r, struct end *e, bool reset)
{
	static const struct linger rst = { .l_onoff = 1, .l_linger = 0 };

	if (e->fd < 0)
		return;
	loop_del(r->loop, e->fd);
	if (reset)
		setsockopt(e->fd, SOL_SOCKET, SO_LINGER, &rst, sizeof(rst));
	close(e->fd);
	e->fd = -1;
}

/* Log the flow and free it.  @reset: close both sockets with a RST. */
static void flow_end(struct flow *f, enum flow_end end, bool reset)
{
	static bool log_failed;
	struct relay *r = f->relay;
	struct flow_summary s = {
		.service = r->cfg->service,
		.ctx = f->have_ctx ? &f->ctx : NULL,
		.host = f->host,
		.bytes_up = f->up.bytes,
		.bytes_down = f->down.bytes,
		.duration_ms = loop_now() - f->start,
		.end = end,
	};

	if (flowlog_write(r->log, &s) < 0 && !log_failed) {
		log_failed = true;
		relay_error("cannot write the flow log");
	}
	close_end(r, &f->client, reset);
	close_end(r, &f->server, reset);
	pump_release(&f->up);
	pump_release(&f->down);
	timer_cancel(&f->sniff_timer);
	timer_cancel(&f->connect_timer);
	task_cancel(&f->more);
	link_del(&f->link);
	free(f);
	relay_flow_ended(r);
}

static enum flow_end query_failed(int err)
{
	static bool told;

	if (err == -ENOENT)
		return END_NOT_REDIRECTED;
	/* Without the layer, getsockopt on TCP says EOPNOTSUPP, not ENOPROTOOPT. */
	if (err == -ENOPROTOOPT || err == -EOPNOTSUPP) {
		if (!told)
			relay_error("the redirect layer is not loaded, or this relay "
				    "runs outside the cgroup it is attached to "
				    "(%s): resetting connections", strerror(-err));
		told = true;
	} else {
		relay_say("reading the records of a connection: %s",
			  strerror(-err));
	}
	return END_ERROR;
}

static enum flow_end upstream_failed(struct flow *f, int err)
{
	char addr[SOCKREDIR_ADDRSTRLEN];

	switch (err) {
	case ECONNREFUSED: case ECONNRESET: case EHOSTUNREACH:
	case ENETUNREACH: case EHOSTDOWN: case ENETDOWN: case EACCES:
	case EPERM:
		return END_UPSTREAM_REFUSED;
	case ETIMEDOUT:
		return END_UPSTREAM_TIMEOUT;
	}
	sockredir_format_addr(&f->ctx.remote, addr, sizeof(addr));
	relay_say("flow %llu: connecting to %s: %s",
		  (unsigned long long)f->ctx.sr.flow_id, addr,
		  err == ELOOP ? "the chain of services reached the hop limit" :
		  strerror(err));
	return END_ERROR;
}

/* A read or write failed on the side that @who names. */
static enum flow_end io_failed(struct flow *f, int err, enum flow_end who)
{
	if (err == ECONNRESET || err == EPIPE)
		return who;
	relay_say("flow %llu: %s", (unsigned long long)f->ctx.sr.flow_id,
		  strerror(err));
	return END_ERROR;
}

/* Start the upstream connection.  -1: the flow has ended. */
static int upstream_open(struct flow *f)
{
	struct relay *r = f->relay;
	socklen_t alen = f->ctx.remote.ss_family == AF_INET6 ?
			 sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
	int one = 1, err;

	f->server.fd = socket(f->ctx.remote.ss_family,
			      SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (f->server.fd < 0) {
		relay_say("upstream socket: %s", strerror(errno));
		goto fail;
	}
	err = redirect_ops.set_records(f->server.fd, f->records, f->records_len);
	if (err < 0) {
		relay_say("setting records on the upstream socket: %s%s",
			  strerror(-err), err == -EACCES ?
			  " (run as root or as an owner of the service)" : "");
		goto fail;
	}
	setsockopt(f->server.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	/* Registered after connect(): an unconnected socket polls as HUP. */
	if (connect(f->server.fd, (struct sockaddr *)&f->ctx.remote, alen) == 0) {
		f->connected = true;
		f->server.rd = f->server.wr = true;
	} else if (errno != EINPROGRESS) {
		flow_end(f, upstream_failed(f, errno), true);
		return -1;
	}
	err = loop_add(r->loop, f->server.fd, SOCK_EVENTS, flow_event, f);
	if (err < 0) {
		relay_say("upstream socket: %s", strerror(-err));
		goto fail;
	}
	if (!f->connected)
		timer_arm(r->loop, &f->connect_timer, r->cfg->connect_timeout_ms);
	return 0;

fail:
	flow_end(f, END_ERROR, true);
	return -1;
}

static int connect_done(struct flow *f)
{
	socklen_t len = sizeof(int);
	int err = 0;

	if (getsockopt(f->server.fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
		err = errno;
	if (err) {
		flow_end(f, upstream_failed(f, err), true);
		return -1;
	}
	f->connected = true;
	timer_cancel(&f->connect_timer);
	return 0;
}

static int sniff_end(struct flow *f)
{
	const struct relay_config *cfg = f->relay->cfg;
	int i;

	f->sniffing = false;
	timer_cancel(&f->sniff_timer);
	for (i = 0; i < cfg->n_deny; i++) {
		if (host_match(cfg->deny[i], f->host)) {
			flow_end(f, END_DENIED, true);
			return -1;
		}
	}
	return 0;
}

/*
 * Read the client's first bytes into the up pump's buffer until they name
 * a host or cannot.  -1: the flow has ended.
 */
static int sniff_step(struct flow *f)
{
	struct pump *p = &f->up;
	ssize_t n;

	while (f->client.rd && !p->eof && p->len < p->cap) {
		n = recv(f->client.fd, p->buf + p->len, p->cap - p->len, 0);
		if (n > 0) {
			p->len += n;
		} else if (n == 0) {
			p->eof = true;
		} else if (errno == EAGAIN) {
			f->client.rd = false;
		} else if (errno != EINTR) {
			flow_end(f, io_failed(f, errno, END_RESET_BY_CLIENT), true);
			return -1;
		}
	}
	if (!p->len && !p->eof)
		return 0;
	if (sniff(p->buf, p->len, f->host) == SNIFF_MORE && !p->eof &&
	    p->len < p->cap) {
		if (!timer_armed(&f->sniff_timer))
			timer_arm(f->relay->loop, &f->sniff_timer,
				  f->relay->cfg->sniff_timeout_ms);
		return 0;
	}
	return sniff_end(f);
}

static void flow_progress(struct flow *f)
{
	enum pump_status up = PUMP_IDLE, down;
	int err = 0;

	if (f->sniffing && sniff_step(f) < 0)
		return;
	if (!f->connected)
		return;
	down = pump_run(&f->down, BUDGET, &err);
	if (down == PUMP_ERR_READ || down == PUMP_ERR_WRITE) {
		flow_end(f, io_failed(f, err, down == PUMP_ERR_READ ?
				      END_RESET_BY_SERVER : END_RESET_BY_CLIENT),
			 true);
		return;
	}
	if (!f->sniffing) {
		up = pump_run(&f->up, BUDGET, &err);
		if (up == PUMP_ERR_READ || up == PUMP_ERR_WRITE) {
			flow_end(f, io_failed(f, err, up == PUMP_ERR_READ ?
					      END_RESET_BY_CLIENT :
					      END_RESET_BY_SERVER), true);
			return;
		}
	}
	if (f->up.shut && f->down.shut)
		flow_end(f, END_CLOSED, false);
	else if (up == PUMP_BUSY || down == PUMP_BUSY)
		task_queue(f->relay->loop, &f->more);
}

static void flow_event(void *arg, int fd, uint32_t events)
{
	struct flow *f = arg;
	struct end *e = fd == f->client.fd ? &f->client : &f->server;

	if (events & (EPOLLIN | EPOLLRDHUP))
		e->rd = true;
	if (events & EPOLLOUT)
		e->wr = true;
	if (e == &f->server && !f->connected && connect_done(f) < 0)
		return;
	flow_progress(f);
}

static void sniff_expired(struct timer *t)
{
	struct flow *f = container_of(t, struct flow, sniff_timer);

	if (sniff_end(f) == 0)
		flow_progress(f);
}

static void connect_expired(struct timer *t)
{
	flow_end(container_of(t, struct flow, connect_timer),
		 END_UPSTREAM_TIMEOUT, true);
}

static void flow_more(struct task *t)
{
	flow_progress(container_of(t, struct flow, more));
}

void flow_accept(struct relay *r, int fd)
{
	struct flow *f = calloc(1, sizeof(*f));
	int err;

	if (!f) {
		struct end e = { .fd = fd };

		close_end(r, &e, true);
		return;
	}
	f->relay = r;
	f->start = loop_now();
	f->client = (struct end){ .fd = fd, .rd = true, .wr = true };
	f->server = (struct end){ .fd = -1 };
	pump_init(&f->up, &f->client, &f->server);
	pump_init(&f->down, &f->server, &f->client);
	f->sniff_timer.fn = sniff_expired;
	f->connect_timer.fn = connect_expired;
	f->more.fn = flow_more;
	link_add(&r->flows, &f->link);
	r->n_flows++;

	f->records_len = sizeof(f->records);
	err = redirect_ops.query_records(fd, f->records, &f->records_len);
	if (!err)
		err = redirect_ops.query_context(fd, &f->ctx);
	if (err) {
		flow_end(f, query_failed(err), true);
		return;
	}
	f->have_ctx = true;
	f->sniffing = true;
	f->up.buf = malloc(SNIFF_BUF);
	f->up.cap = f->up.buf ? SNIFF_BUF : 0;
	err = f->up.buf ? loop_add(r->loop, fd, SOCK_EVENTS, flow_event, f) : -ENOMEM;
	if (err) {
		relay_say("accepted socket: %s", strerror(-err));
		flow_end(f, END_ERROR, true);
		return;
	}
	if (upstream_open(f) == 0)
		flow_progress(f);
}

void flow_drain_all(struct relay *r)
{
	while (!link_empty(&r->flows))
		flow_end(container_of(r->flows.next, struct flow, link),
			 END_DRAINED, true);
}
