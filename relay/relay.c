/* SPDX-License-Identifier: MIT */
/*
 * relay.c - listeners, signals and the drain.
 *
 * SIGTERM/SIGINT: close the listeners, let live flows finish until
 * --drain-timeout, then reset what is left; a second signal cuts the
 * drain short.  SIGHUP: reopen the flow log.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <sockredir.h>

#include "diag.h"
#include "flowlog.h"
#include "pump.h"
#include "relay.h"
#include "share.h"

#define MAX_FDS		(1 << 20)
#define RESERVED_FDS	64	/* listeners, log, epoll, signals, stdio */
#define RETRY_MS	100

/* Raise the soft fd limit to the hard one; returns the limit in force. */
static int raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return 1024;
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
			getrlimit(RLIMIT_NOFILE, &rl);
	}
	return rl.rlim_cur > MAX_FDS ? MAX_FDS : (int)rl.rlim_cur;
}

static void close_listeners(struct relay *r)
{
	int i;

	for (i = 0; i < r->cfg->n_listen; i++) {
		if (r->listen_fd[i] < 0)
			continue;
		loop_del(r->loop, r->listen_fd[i]);
		close(r->listen_fd[i]);
		r->listen_fd[i] = -1;
	}
}

static void on_accept(void *arg, int lfd, uint32_t events);

/*
 * At the flow limit, or out of descriptors, stop accepting: connections
 * wait in the listener's queue (they are not refused), and once it is
 * full the redirect layer sees an overloaded service and applies its fail
 * mode.  Accepting resumes when a flow ends (or, out of descriptors, after
 * RETRY_MS in case they came back another way).
 */
static void pause_accepting(struct relay *r, const char *why)
{
	int i;

	if (r->paused)
		return;
	for (i = 0; i < r->cfg->n_listen; i++)
		loop_del(r->loop, r->listen_fd[i]);
	r->paused = true;
	if (!r->told_paused)
		diag_error("%s: not accepting new connections until flows end", why);
	r->told_paused = true;
}

static void resume_accepting(struct relay *r)
{
	int i, err;

	if (!r->paused || r->draining)
		return;
	timer_cancel(&r->resume_timer);
	r->paused = false;
	for (i = 0; i < r->cfg->n_listen; i++) {
		err = loop_add(r->loop, r->listen_fd[i], EPOLLIN, on_accept, r);
		if (err < 0)
			diag_error("cannot watch a listener again: %s", strerror(-err));
	}
}

static void resume_expired(struct timer *t)
{
	resume_accepting(container_of(t, struct relay, resume_timer));
}

/*
 * One connection per call: the listener is watched level-triggered, so
 * epoll reports it again while its queue holds more.  No accept() is made
 * to find the queue empty: an accept that fails with EAGAIN costs the
 * kernel a socket and a file made and freed (about as much as one that
 * succeeds), and a loop until EAGAIN pays it once per wakeup.
 */
static void on_accept(void *arg, int lfd, uint32_t events)
{
	struct relay *r = arg;
	int fd;

	if (r->draining || r->paused)
		return;
	fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd >= 0) {
		flow_accept(&r->flows, fd);
		if (r->flows.n_flows >= r->max_flows)
			pause_accepting(r, "at --max-flows");
	} else if (errno == EMFILE || errno == ENFILE) {
		pump_pipes_trim();
		pause_accepting(r, "out of file descriptors");
		timer_arm(r->loop, &r->resume_timer, RETRY_MS);
	} else if (errno != ECONNABORTED && errno != EINTR && errno != EAGAIN) {
		diag_say("accept: %s", strerror(errno));
	}
}

static void drain_expired(struct timer *t)
{
	struct relay *r = container_of(t, struct relay, drain_timer);

	flow_drain_all(&r->flows);
}

static void start_drain(struct relay *r)
{
	if (r->draining) {
		flow_drain_all(&r->flows);
		return;
	}
	r->draining = true;
	timer_cancel(&r->resume_timer);
	close_listeners(r);
	/* Datagram flows have no end to wait for: log them ended now. */
	for (int i = 0; i < r->n_udp; i++)
		udp_env_close(&r->udp[i]);
	if (!r->flows.n_flows) {
		loop_stop(r->loop);
		return;
	}
	diag_say("draining %lu flows", r->flows.n_flows);
	r->drain_timer.fn = drain_expired;
	timer_arm(r->loop, &r->drain_timer, r->cfg->drain_timeout_ms);
}

static void flow_ended(struct flow_env *env)
{
	struct relay *r = container_of(env, struct relay, flows);

	if (r->draining && !env->n_flows)
		loop_stop(r->loop);
	else if (r->paused && env->n_flows < r->max_flows)
		resume_accepting(r);
}

/* Before the loop waits: the lines of the flows that ended this turn. */
static void flush_log(void *arg)
{
	static bool told;
	struct relay *r = arg;

	if (flowlog_flush(r->log) < 0 && !told) {
		told = true;
		diag_error("cannot write the flow log");
	}
}

static void on_signal(void *arg, int fd, uint32_t events)
{
	struct relay *r = arg;
	struct signalfd_siginfo si;
	int err;

	while (read(fd, &si, sizeof(si)) == sizeof(si)) {
		if (si.ssi_signo != SIGHUP) {
			start_drain(r);
			continue;
		}
		err = flowlog_reopen(r->log);
		if (err < 0)
			diag_error("reopening %s: %s", r->cfg->log_path,
				   strerror(-err));
	}
}

/*
 * The listener carries SO_LINGER {1, 0}: the kernel copies it into every
 * connection it accepts, so each client socket resets on close (also when
 * we die) from the moment it exists, without a call per flow (flow.c).
 * TCP_NODELAY is copied the same way: the relay passes on what it reads at
 * once, and Nagle on the client side would hold a server's second small
 * write until the client's delayed ACK (the upstream socket sets its own).
 */
static int listen_on(const struct sockaddr_storage *ss)
{
	static const struct linger rst = { .l_onoff = 1, .l_linger = 0 };
	socklen_t len = ss->ss_family == AF_INET6 ?
			sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
	int one = 1, fd;

	fd = socket(ss->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (ss->ss_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (setsockopt(fd, SOL_SOCKET, SO_LINGER, &rst, sizeof(rst)) < 0 ||
	    bind(fd, (const struct sockaddr *)ss, len) < 0 ||
	    listen(fd, SOMAXCONN) < 0) {
		int err = -errno;

		close(fd);
		return err;
	}
	return fd;
}

static int open_listeners(struct relay *r)
{
	char addr[SOCKREDIR_ADDRSTRLEN];
	struct sockaddr_storage ss;
	socklen_t len;
	int i, err;

	for (i = 0; i < r->cfg->n_listen; i++) {
		sockredir_format_addr(&r->cfg->listen[i], addr, sizeof(addr));
		err = listen_on(&r->cfg->listen[i]);
		if (err < 0) {
			diag_error("cannot listen on %s: %s", addr, strerror(-err));
			return err;
		}
		r->listen_fd[i] = err;
		/* Without the claim, the layer sends this service nothing. */
		err = sockredir_claim(r->listen_fd[i], r->cfg->flow.service);
		if (err == -ENOPROTOOPT) {
			diag_say("%s: no redirect layer covers this socket; "
				 "no traffic will be sent to it", addr);
		} else if (err < 0) {
			diag_error("cannot claim %s for service %s: %s", addr,
				   r->cfg->flow.service,
				   err == -ENOENT ? "no such service" :
				   err == -EINVAL ? "not the service's listen address" :
						    strerror(-err));
			return err;
		}
		err = loop_add(r->loop, r->listen_fd[i], EPOLLIN, on_accept, r);
		if (err < 0) {
			diag_error("cannot watch %s: %s", addr, strerror(-err));
			return err;
		}
		len = sizeof(ss);
		if (getsockname(r->listen_fd[i], (struct sockaddr *)&ss, &len) == 0)
			sockredir_format_addr(&ss, addr, sizeof(addr));
		diag_say("listening on %s", addr);
	}
	return 0;
}

/* --udp: one claimed datagram socket per distinct listen port. */
static int open_udp(struct relay *r)
{
	int i, j, err;

	for (i = 0; r->cfg->udp && i < r->cfg->n_listen; i++) {
		uint16_t port = ntohs(((const struct sockaddr_in *)
				       &r->cfg->listen[i])->sin_port);
		struct udp_env *u = &r->udp[r->n_udp];

		for (j = 0; j < r->n_udp; j++)
			if (r->udp[j].port == port)
				break;
		if (j < r->n_udp)
			continue;
		u->loop = r->loop;
		u->log = r->log;
		u->cfg = &r->cfg->flow;
		u->policy = &r->cfg->policy;
		u->idle_ms = r->cfg->udp_idle_ms;
		u->max_flows = 16384;
		u->upstream = r->cfg->udp_upstream.sin_port ?
				      &r->cfg->udp_upstream : NULL;
		err = udp_env_open(u, port);
		if (err < 0) {
			diag_error("cannot serve UDP on [::]:%u for service %s: %s",
				   port, r->cfg->flow.service,
				   err == -ENOENT ? "no such service" :
				   err == -EINVAL ? "not the service's port" :
						    strerror(-err));
			return err;
		}
		r->n_udp++;
		diag_say("relaying UDP on [::]:%u", port);
	}
	return 0;
}

static int open_signals(struct relay *r)
{
	sigset_t set;
	int err;

	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	sigprocmask(SIG_BLOCK, &set, NULL);
	r->sig_fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	if (r->sig_fd < 0) {
		err = -errno;
		diag_error("signalfd: %s", strerror(-err));
		return err;
	}
	err = loop_add(r->loop, r->sig_fd, EPOLLIN, on_signal, r);
	if (err < 0) {
		diag_error("signalfd: %s", strerror(-err));
		return err;
	}
	return 0;
}

/*
 * Flows, per app and in all, from the fd limit unless given: a flow holds
 * two sockets, and pipes (two fds) only while bytes are in them; a third
 * of the descriptors is kept for those.
 */
static int set_limits(struct relay *r, int nofile)
{
	const struct relay_config *cfg = r->cfg;
	int spare, per_app;

	r->max_flows = cfg->max_flows;
	if (!r->max_flows)
		r->max_flows = nofile > 3 * RESERVED_FDS ? (nofile - RESERVED_FDS) / 3 : 64;
	per_app = cfg->max_flows_per_app;
	if (!per_app)
		per_app = r->max_flows / 4 ? r->max_flows / 4 : 1;
	spare = nofile - RESERVED_FDS - 2 * (int)r->max_flows;
	if (spare < 0)
		diag_say("--max-flows %lu needs more than the %d descriptors "
			 "this relay may open", r->max_flows, nofile);
	pump_pipes_limit(spare / 2);
	r->share = share_new(per_app);
	if (!r->share) {
		diag_error("out of memory");
		return -ENOMEM;
	}
	r->flows.share = r->share;
	return 0;
}

struct relay *relay_new(const struct relay_config *cfg)
{
	struct relay *r = calloc(1, sizeof(*r));
	int i, nofile;

	if (!r) {
		diag_error("out of memory");
		return NULL;
	}
	r->cfg = cfg;
	r->sig_fd = -1;
	for (i = 0; i < RELAY_MAX_LISTEN; i++)
		r->listen_fd[i] = -1;
	flow_env_init(&r->flows);
	r->resume_timer.fn = resume_expired;
	nofile = raise_nofile();
	r->loop = loop_new(nofile);
	if (!r->loop) {
		diag_error("epoll: %s", strerror(errno));
		goto fail;
	}
	r->log = flowlog_open(cfg->log_path);
	if (!r->log) {
		diag_error("cannot open %s: %s", cfg->log_path, strerror(errno));
		goto fail;
	}
	loop_before_wait(r->loop, flush_log, r);
	r->flows.loop = r->loop;
	r->flows.log = r->log;
	r->flows.cfg = &cfg->flow;
	r->flows.policy = &cfg->policy;
	r->flows.ended = flow_ended;
	r->flows.linger_inherited = true;	/* listen_on() */
	if (set_limits(r, nofile) < 0)
		goto fail;
	if (open_signals(r) < 0 || open_listeners(r) < 0 ||
	    open_udp(r) < 0)
		goto fail;
	return r;

fail:
	relay_free(r);
	return NULL;
}

int relay_run(struct relay *r)
{
	int err = loop_run(r->loop);

	if (err < 0) {
		diag_error("epoll_wait: %s", strerror(-err));
		return 1;
	}
	return 0;
}

void relay_free(struct relay *r)
{
	if (!r)
		return;
	if (r->loop) {
		flow_drain_all(&r->flows);
		for (int i = 0; i < r->n_udp; i++)
			udp_env_close(&r->udp[i]);
		close_listeners(r);
		timer_cancel(&r->drain_timer);
	}
	timer_cancel(&r->resume_timer);
	if (r->sig_fd >= 0)
		close(r->sig_fd);
	pump_pipes_trim();
	share_free(r->share);
	flowlog_close(r->log);
	loop_free(r->loop);
	free(r);
}
