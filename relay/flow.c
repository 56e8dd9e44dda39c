/* SPDX-License-Identifier: MIT */
/*
 * flow.c - the life of one redirected connection.
 *
 *   accept -> query context and records (one call) -> count it against its app's
 *   share -> inspect the client's first bytes -> open upstream (records
 *   set, non-blocking connect) -> relay both ways -> log.
 *
 * Without a deny list the upstream is opened at once, so server-speaks-
 * first protocols work, and the first bytes are only sniffed for the log:
 * they wait (until they name a host, --sniff-timeout after the first one,
 * or the buffer fills) and then go on.  With a deny list nothing is opened
 * upstream before the policy has cleared the flow: a TLS ClientHello is
 * held until its SNI is known, and every request head of an HTTP/1.x
 * stream is held until it is complete and its host allowed.  A host that
 * cannot be known (timeout, overflow, malformed, none named) is refused
 * unless --unknown-host allow.  Other protocols are not named, and pass.
 *
 * A flow costs one descriptor while its client is silent (two once the
 * upstream is open): the buffer is allocated when the first byte comes
 * and pipes are taken from a pool only while bytes are in them.  It is
 * reset if no byte comes within --first-byte-timeout, or none for
 * --idle-timeout after.
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
#include "http.h"
#include "pump.h"
#include "sniff.h"

#define SNIFF_MAX	16384	/* bytes a hello or a request head may take */
#define BUDGET		(256 * 1024)	/* bytes per direction per turn */
#define SOCK_EVENTS	(EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET)

struct redirect_ops redirect_ops = {
	.query = sockredir_query,
	.set_records = sockredir_set_records,
};

struct flow {
	struct link link;		/* in env->flows */
	struct flow_env *env;
	struct end client, server;
	struct pump up, down;		/* client->server, server->client */
	struct timer sniff_timer, connect_timer;
	struct timer quiet_timer;	/* first byte, then idle */
	struct task more;		/* a pump used up its budget */
	uint64_t start, last_active, seen;	/* seen: bytes read so far */
	enum flow_end why;		/* set by flow_stop() */
	bool stopped, have_ctx, shared;
	bool cleared;			/* the policy let it go upstream */
	bool connected;
	struct sockredir_context ctx;
	size_t records_len;
	unsigned char records[SOCKREDIR_RECORDS_MAX];
	char host[SNIFF_HOST_MAX];	/* the first named, or the denied one */
	struct http_stream http;
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
	f->stopped = true;
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
	loop_forget(loop, e->fd);	/* close() leaves the epoll set */
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
	timer_cancel(&f->quiet_timer);
	task_cancel(&f->more);
	if (f->shared)
		share_put(env->share, f->ctx.sr.app_uid, f->ctx.sr.app_cgroup_id);
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

/* Writable without an error or a hangup: connected, no need to ask. */
static int connect_done(struct flow *f, uint32_t events)
{
	socklen_t len = sizeof(int);
	int err = 0;

	if (!(events & (EPOLLOUT | EPOLLERR | EPOLLHUP)))
		return 0;	/* not yet: readable before connected cannot be */
	if ((events & (EPOLLERR | EPOLLHUP)) &&
	    getsockopt(f->server.fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
		err = errno;
	if (events & (EPOLLERR | EPOLLHUP) && !err)
		err = ECONNRESET;	/* hung up, the error already taken */
	if (err)
		return upstream_failed(f, -err);
	f->connected = true;
	timer_cancel(&f->connect_timer);
	return 0;
}

/* Let the flow go upstream; stop inspecting if @all. */
static int clear(struct flow *f, bool all)
{
	int err = 0;

	f->cleared = true;
	if (all) {
		timer_cancel(&f->sniff_timer);
		err = pump_inspect(&f->up, NULL, NULL);
	}
	return err < 0 ? flow_stop(f, END_ERROR, err) : 0;
}

static int deny(struct flow *f, const char *host, int err)
{
	if (host && *host)
		memcpy(f->host, host, sizeof(f->host));
	return flow_stop(f, END_DENIED, err);
}

/* Nothing more will name the host.  Without a deny list it never mattered. */
static int unknown_host(struct flow *f)
{
	int err = policy_check_unknown(f->env->policy);

	return err < 0 ? deny(f, NULL, err) : clear(f, true);
}

/* The bytes so far leave the host open: wait, but not too long or much. */
static int undecided(struct flow *f, struct pump *p)
{
	if (p->eof && p->len == p->passed)
		return 0;	/* it left without asking for anything more */
	if (p->eof || p->len - p->passed > SNIFF_MAX)
		return unknown_host(f);
	if (!timer_armed(&f->sniff_timer))
		timer_arm(f->env->loop, &f->sniff_timer, f->env->cfg->sniff_timeout_ms);
	return 0;
}

/* TLS (or, without a deny list, anything): the name from the first bytes. */
static int inspect_hello(struct pump *p, void *arg)
{
	struct flow *f = arg;
	const struct policy *pol = f->env->policy;
	int err;

	if (sniff(p->buf + p->off, p->len, f->host) == SNIFF_MORE)
		return undecided(f, p);
	if (!policy_wants_host(pol))
		return clear(f, true);
	if (!f->host[0])
		return unknown_host(f);
	err = policy_check_host(pol, f->host);
	return err < 0 ? deny(f, NULL, err) : clear(f, true);
}

static int check_request(void *arg, const char *host)
{
	struct flow *f = arg;
	int err;

	if (!f->host[0])
		memcpy(f->host, host, sizeof(f->host));
	err = host[0] ? policy_check_host(f->env->policy, host) :
		       policy_check_unknown(f->env->policy);
	return err < 0 ? deny(f, host, err) : 0;
}

/* HTTP/1.x with a deny list: every request head, as it completes. */
static int inspect_requests(struct pump *p, void *arg)
{
	struct flow *f = arg;
	ssize_t n;

	n = http_stream_scan(&f->http, (unsigned char *)p->buf + p->off + p->passed,
			     p->len - p->passed, SNIFF_MAX, check_request, f);
	if (n < 0)
		return f->stopped ? (int)n : unknown_host(f);
	p->passed += n;
	if (n > 0) {
		f->cleared = true;
		timer_cancel(&f->sniff_timer);	/* the next head has its own */
	}
	return p->passed == p->len ? 0 : undecided(f, p);
}

/* With a deny list: which protocol do the first bytes speak? */
static int inspect_first(struct pump *p, void *arg)
{
	struct flow *f = arg;
	const unsigned char *b = (unsigned char *)p->buf + p->off;
	size_t skip = 0;
	int k;

	while (skip < p->len && (b[skip] == '\r' || b[skip] == '\n'))
		skip++;
	if (skip < p->len && b[skip] == 0x16) {
		p->inspect = inspect_hello;
		return inspect_hello(p, f);
	}
	k = http_looks_like_request(b + skip, p->len - skip);
	if (k == 1) {
		p->inspect = inspect_requests;
		return inspect_requests(p, f);
	}
	if (k == 0)
		return clear(f, true);	/* names no host */
	return undecided(f, p);
}

static int pump_step(struct flow *f, struct pump *p, bool *busy)
{
	int n = pump_run(p, BUDGET);

	if (n < 0)
		return f->stopped ? n : io_failed(f, p->failed, n);
	*busy |= n > 0;
	return 0;
}

static void note_activity(struct flow *f)
{
	uint64_t seen = f->up.got + f->down.got;

	if (seen != f->seen) {
		f->seen = seen;
		f->last_active = loop_now();
	}
}

/* Move what can be moved.  -ESHUTDOWN (END_CLOSED): both ways are done. */
static int flow_progress(struct flow *f)
{
	bool busy = false;
	int err;

	if (f->connected && (err = pump_step(f, &f->down, &busy)) < 0)
		return err;
	/* Before the upstream is up, client bytes are read and inspected. */
	f->up.hold = !f->connected;
	if ((err = pump_step(f, &f->up, &busy)) < 0)
		return err;
	note_activity(f);
	if (f->cleared && f->server.fd < 0) {
		err = upstream_open(f);
		if (err < 0)
			return err;
		busy |= f->connected;
	}
	if (!f->cleared && f->up.eof)	/* gone before it asked for anything */
		return flow_stop(f, END_CLOSED, -ESHUTDOWN);
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
	if (events & (EPOLLRDHUP | EPOLLHUP))
		e->hup = true;
	if (events & EPOLLOUT)
		e->wr = true;
	if ((e == &f->server && !f->connected && connect_done(f, events) < 0) ||
	    flow_progress(f) < 0)
		flow_end(f);
}

static void sniff_expired(struct timer *t)
{
	struct flow *f = container_of(t, struct flow, sniff_timer);

	if (unknown_host(f) < 0 || flow_progress(f) < 0)
		flow_end(f);
}

/* No byte yet within --first-byte-timeout, or none for --idle-timeout. */
static void quiet_expired(struct timer *t)
{
	struct flow *f = container_of(t, struct flow, quiet_timer);
	const struct flow_config *cfg = f->env->cfg;
	uint64_t quiet;

	note_activity(f);
	if (!f->seen) {
		flow_stop(f, END_SILENT, -ETIMEDOUT);
		flow_end(f);
		return;
	}
	quiet = loop_now() - f->last_active;
	if (quiet >= cfg->idle_timeout_ms) {
		flow_stop(f, END_IDLE, -ETIMEDOUT);
		flow_end(f);
		return;
	}
	timer_arm(f->env->loop, t, cfg->idle_timeout_ms - quiet);
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

/* Learn the flow's records and context, and how to inspect it. */
static int flow_start(struct flow *f)
{
	struct flow_env *env = f->env;
	bool named = policy_wants_host(env->policy);
	int err;

	f->records_len = sizeof(f->records);
	err = redirect_ops.query(f->client.fd, &f->ctx, f->records,
				 &f->records_len);
	if (err)
		return flow_stop(f, query_failed(err), err);
	f->have_ctx = true;
	if (env->share) {
		err = share_take(env->share, f->ctx.sr.app_uid, f->ctx.sr.app_cgroup_id);
		if (err < 0)
			return flow_stop(f, err == -EUSERS ? END_APP_LIMIT : END_ERROR, err);
		f->shared = true;
	}
	err = pump_inspect(&f->up, named ? inspect_first : inspect_hello, f);
	if (!err)
		err = loop_add(env->loop, f->client.fd, SOCK_EVENTS, flow_event, f);
	if (err) {
		diag_say("accepted socket: %s", strerror(-err));
		return flow_stop(f, END_ERROR, err);
	}
	timer_arm(env->loop, &f->quiet_timer, env->cfg->first_byte_timeout_ms);
	f->cleared = !named;
	return flow_progress(f);
}

void flow_accept(struct flow_env *env, int fd)
{
	struct flow *f = calloc(1, sizeof(*f));

	if (!env->linger_inherited)
		reset_on_close(fd);
	if (!f) {
		close(fd);
		return;
	}
	f->env = env;
	f->start = loop_now();
	/* Readable when epoll says so: registering reports what is queued. */
	f->client = (struct end){ .fd = fd, .wr = true };
	f->server = (struct end){ .fd = -1 };
	pump_init(&f->up, &f->client, &f->server);
	pump_init(&f->down, &f->server, &f->client);
	f->sniff_timer.fn = sniff_expired;
	f->connect_timer.fn = connect_expired;
	f->quiet_timer.fn = quiet_expired;
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
