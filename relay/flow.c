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
 *
 * Both sockets of a flow close with a reset unless the flow ended cleanly
 * (both directions passed on their end of stream): SO_LINGER {1, 0} is set
 * on each as soon as it exists and cleared only for that clean end.  So
 * when the relay dies, however it dies, the kernel's close of its fds
 * resets both ends: a truncated stream never looks like a complete one.
 *
 * Steps of a flow never free it: they note why it must end (flow_stop)
 * and return a negative errno.  Only the entry points (flow_accept, the
 * socket handler, timers, the "more" task) call flow_end().
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "diag.h"
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
	struct link link;		/* in env->flows */
	struct flow_env *env;
	struct end client, server;
	struct pump up, down;		/* client->server, server->client */
	struct timer sniff_timer, connect_timer;
	struct task more;		/* a pump used up its budget */
	uint64_t start;
	enum flow_end why;		/* set by flow_stop() */
	bool have_ctx, sniffing, connected;
	struct sockredir_context ctx;
	size_t records_len;
	unsigned char records[SOCKREDIR_RECORDS_MAX];
	char host[SNIFF_HOST_MAX];
};

static void flow_event(void *arg, int fd, uint32_t events);

void flow_env_init(struct flow_env *env)
{
	link_init(&env->flows);
	env->n_flows = 0;
}

/* The flow must end, because of @why.  Returns @err (< 0) to pass up. */
static int flow_stop(struct flow *f, enum flow_end why, int err)
{
	f->why = why;
	return err;
}

/* Make a close of @fd (also the kernel's, if we die) reset the peer. */
static void reset_on_close(int fd)
{
	static const struct linger rst = { .l_onoff = 1, .l_linger = 0 };

	setsockopt(fd, SOL_SOCKET, SO_LINGER, &rst, sizeof(rst));
}

static void close_end(struct loop *loop, struct end *e, bool reset)
{
	static const struct linger normal = { .l_onoff = 0 };

	if (e->fd < 0)
		return;
	loop_del(loop, e->fd);
	if (!reset)
		setsockopt(e->fd, SOL_SOCKET, SO_LINGER, &normal, sizeof(normal));
	close(e->fd);
	e->fd = -1;
}

/* Log the flow and free it: a clean close for END_CLOSED, else a reset. */
static void flow_end(struct flow *f)
{
	static bool log_failed;
	struct flow_env *env = f->env;
	bool reset = f->why != END_CLOSED;
	struct flow_summary s = {
		.service = env->cfg->service,
		.ctx = f->have_ctx ? &f->ctx : NULL,
		.host = f->host,
		.bytes_up = f->up.bytes,
		.bytes_down = f->down.bytes,
		.duration_ms = loop_now() - f->start,
		.end = f->why,
	};

	if (flowlog_write(env->log, &s) < 0 && !log_failed) {
		log_failed = true;
		diag_error("cannot write the flow log");
	}
	close_end(env->loop, &f->client, reset);
	close_end(env->loop, &f->server, reset);
	pump_release(&f->up);
	pump_release(&f->down);
	timer_cancel(&f->sniff_timer);
	timer_cancel(&f->connect_timer);
	task_cancel(&f->more);
	link_del(&f->link);
	env->n_flows--;
	free(f);
	if (env->ended)
		env->ended(env);
}

static enum flow_end query_failed(int err)
{
	static bool told;

	if (err == -ENOENT)
		return END_NOT_REDIRECTED;
	/* Without the layer, getsockopt on TCP says EOPNOTSUPP, not ENOPROTOOPT. */
	if (err == -ENOPROTOOPT || err == -EOPNOTSUPP) {
		if (!told)
			diag_error("the redirect layer is not loaded, or this relay "
				   "runs outside the cgroup it is attached to "
				   "(%s): resetting connections", strerror(-err));
		told = true;
	} else {
		diag_say("reading the records of a connection: %s",
			 strerror(-err));
	}
	return END_ERROR;
}

/* The upstream connect failed with -@err. */
static int upstream_failed(struct flow *f, int err)
{
	char addr[SOCKREDIR_ADDRSTRLEN];

	switch (-err) {
	case ECONNREFUSED: case ECONNRESET: case EHOSTUNREACH:
	case ENETUNREACH: case EHOSTDOWN: case ENETDOWN: case EACCES:
	case EPERM:
		return flow_stop(f, END_UPSTREAM_REFUSED, err);
	case ETIMEDOUT:
		return flow_stop(f, END_UPSTREAM_TIMEOUT, err);
	}
	sockredir_format_addr(&f->ctx.remote, addr, sizeof(addr));
	diag_say("flow %llu: connecting to %s: %s",
		 (unsigned long long)f->ctx.sr.flow_id, addr,
		 err == -ELOOP ? "the chain of services reached the hop limit" :
		 strerror(-err));
	return flow_stop(f, END_ERROR, err);
}

/* A read or write on @e failed with -@err. */
static int io_failed(struct flow *f, struct end *e, int err)
{
	if (err == -ECONNRESET || err == -EPIPE)
		return flow_stop(f, e == &f->client ? END_RESET_BY_CLIENT :
				 END_RESET_BY_SERVER, err);
	diag_say("flow %llu: %s", (unsigned long long)f->ctx.sr.flow_id,
		 strerror(-err));
	return flow_stop(f, END_ERROR, err);
}

/* Start the upstream connection. */
static int upstream_open(struct flow *f)
{
	struct flow_env *env = f->env;
	socklen_t alen = f->ctx.remote.ss_family == AF_INET6 ?
			 sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
	int one = 1, err;

	f->server.fd = socket(f->ctx.remote.ss_family,
			      SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (f->server.fd < 0) {
		err = -errno;
		diag_say("upstream socket: %s", strerror(-err));
		return flow_stop(f, END_ERROR, err);
	}
	reset_on_close(f->server.fd);
	err = redirect_ops.set_records(f->server.fd, f->records, f->records_len);
	if (err < 0) {
		diag_say("setting records on the upstream socket: %s%s",
			 strerror(-err), err == -EACCES ?
			 " (run as root or as an owner of the service)" : "");
		return flow_stop(f, END_ERROR, err);
	}
	setsockopt(f->server.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	/* Registered after connect(): an unconnected socket polls as HUP. */
	if (connect(f->server.fd, (struct sockaddr *)&f->ctx.remote, alen) == 0) {
		f->connected = true;
		f->server.rd = f->server.wr = true;
	} else if (errno != EINPROGRESS) {
		return upstream_failed(f, -errno);
	}
	err = loop_add(env->loop, f->server.fd, SOCK_EVENTS, flow_event, f);
	if (err < 0) {
		diag_say("upstream socket: %s", strerror(-err));
		return flow_stop(f, END_ERROR, err);
	}
	if (!f->connected)
		timer_arm(env->loop, &f->connect_timer, env->cfg->connect_timeout_ms);
	return 0;
}

static int connect_done(struct flow *f)
{
	socklen_t len = sizeof(int);
	int err = 0;

	if (getsockopt(f->server.fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
		err = errno;
	if (err)
		return upstream_failed(f, -err);
	f->connected = true;
	timer_cancel(&f->connect_timer);
	return 0;
}

/* The sniff is over: the name is known, or will not be. */
static int sniff_end(struct flow *f)
{
	int err;

	f->sniffing = false;
	timer_cancel(&f->sniff_timer);
	err = policy_check_host(f->env->policy, f->host);
	return err < 0 ? flow_stop(f, END_DENIED, err) : 0;
}

/* Read the client's first bytes into the up pump's buffer until they name
 * a host or cannot. */
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
			return io_failed(f, &f->client, -errno);
		}
	}
	if (!p->len && !p->eof)
		return 0;
	if (sniff(p->buf, p->len, f->host) == SNIFF_MORE && !p->eof &&
	    p->len < p->cap) {
		if (!timer_armed(&f->sniff_timer))
			timer_arm(f->env->loop, &f->sniff_timer,
				  f->env->cfg->sniff_timeout_ms);
		return 0;
	}
	return sniff_end(f);
}

static int pump_step(struct flow *f, struct pump *p, bool *busy)
{
	int n = pump_run(p, BUDGET);

	if (n < 0)
		return io_failed(f, p->failed, n);
	*busy |= n > 0;
	return 0;
}

/* Move what can be moved.  -ESHUTDOWN (END_CLOSED): both ways are done. */
static int flow_progress(struct flow *f)
{
	bool busy = false;
	int err;

	if (f->sniffing && (err = sniff_step(f)) < 0)
		return err;
	if (!f->connected)
		return 0;
	if ((err = pump_step(f, &f->down, &busy)) < 0)
		return err;
	if (!f->sniffing && (err = pump_step(f, &f->up, &busy)) < 0)
		return err;
	if (f->up.shut && f->down.shut)
		return flow_stop(f, END_CLOSED, -ESHUTDOWN);
	if (busy)
		task_queue(f->env->loop, &f->more);
	return 0;
}

static void flow_event(void *arg, int fd, uint32_t events)
{
	struct flow *f = arg;
	struct end *e = fd == f->client.fd ? &f->client : &f->server;

	if (events & (EPOLLIN | EPOLLRDHUP))
		e->rd = true;
	if (events & EPOLLOUT)
		e->wr = true;
	if ((e == &f->server && !f->connected && connect_done(f) < 0) ||
	    flow_progress(f) < 0)
		flow_end(f);
}

static void sniff_expired(struct timer *t)
{
	struct flow *f = container_of(t, struct flow, sniff_timer);

	if (sniff_end(f) < 0 || flow_progress(f) < 0)
		flow_end(f);
}

static void connect_expired(struct timer *t)
{
	struct flow *f = container_of(t, struct flow, connect_timer);

	flow_stop(f, END_UPSTREAM_TIMEOUT, -ETIMEDOUT);
	flow_end(f);
}

static void flow_more(struct task *t)
{
	struct flow *f = container_of(t, struct flow, more);

	if (flow_progress(f) < 0)
		flow_end(f);
}

/* Learn the flow's records and context, start the sniff and the upstream. */
static int flow_start(struct flow *f)
{
	struct flow_env *env = f->env;
	int err;

	f->records_len = sizeof(f->records);
	err = redirect_ops.query_records(f->client.fd, f->records, &f->records_len);
	if (!err)
		err = redirect_ops.query_context(f->client.fd, &f->ctx);
	if (err)
		return flow_stop(f, query_failed(err), err);
	f->have_ctx = true;
	f->sniffing = true;
	f->up.buf = malloc(SNIFF_BUF);
	f->up.cap = f->up.buf ? SNIFF_BUF : 0;
	err = f->up.buf ? loop_add(env->loop, f->client.fd, SOCK_EVENTS,
				   flow_event, f) : -ENOMEM;
	if (err) {
		diag_say("accepted socket: %s", strerror(-err));
		return flow_stop(f, END_ERROR, err);
	}
	err = upstream_open(f);
	return err < 0 ? err : flow_progress(f);
}

void flow_accept(struct flow_env *env, int fd)
{
	struct flow *f = calloc(1, sizeof(*f));

	reset_on_close(fd);
	if (!f) {
		close(fd);
		return;
	}
	f->env = env;
	f->start = loop_now();
	f->client = (struct end){ .fd = fd, .rd = true, .wr = true };
	f->server = (struct end){ .fd = -1 };
	pump_init(&f->up, &f->client, &f->server);
	pump_init(&f->down, &f->server, &f->client);
	f->sniff_timer.fn = sniff_expired;
	f->connect_timer.fn = connect_expired;
	f->more.fn = flow_more;
	link_add(&env->flows, &f->link);
	env->n_flows++;
	if (flow_start(f) < 0)
		flow_end(f);
}

void flow_drain_all(struct flow_env *env)
{
	struct flow *f;

	while (!link_empty(&env->flows)) {
		f = container_of(env->flows.next, struct flow, link);
		flow_stop(f, END_DRAINED, -ESHUTDOWN);
		flow_end(f);
	}
}
