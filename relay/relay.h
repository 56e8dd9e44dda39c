/* SPDX-License-Identifier: MIT */
/*
 * relay.h - sockredir-relay: the configuration and the running relay.
 *
 * Units, each knowing only those below it:
 *   main.c     options -> struct relay_config
 *   relay.c    listeners, signals, the drain (this header)
 *   flow.c     one TCP flow and the set of live flows (flow.h)
 *   udpflow.c  UDP flows through their endpoints (udpflow.h)
 *   policy.c   what may go through: the deny list (policy.h)
 *   share.c    live flows per application, against its cap (share.h)
 *   http.c     HTTP/1.x request framing, to check each request (http.h)
 *   sniff.c    the host a flow names, from its first bytes (sniff.h)
 *   pump.c     one direction of a flow, splice or copy (pump.h)
 *   flowlog.c  the JSON-lines flow log (flowlog.h)
 *   loop.c     the epoll loop, timers, tasks (loop.h)
 *   diag.c     diagnostics on stderr (diag.h)
 *
 * Error convention, in every unit: a function returns 0 (or a count, or
 * an fd) on success and a negative errno on failure; errno is not part of
 * any result.  Constructors (relay_new, loop_new, flowlog_open) return
 * NULL, with errno set where they do not print the reason themselves.  A
 * flow's steps never free it: they note why it ends and return a negative
 * errno, and the flow's entry point ends it (see flow.c).
 */
#ifndef RELAY_RELAY_H
#define RELAY_RELAY_H

#include <stdbool.h>
#include <sys/socket.h>

#include "flow.h"
#include "loop.h"
#include "policy.h"
#include "udpflow.h"

#define RELAY_MAX_LISTEN 8

struct relay_config {
	struct sockaddr_storage listen[RELAY_MAX_LISTEN];
	int n_listen;
	unsigned int drain_timeout_ms;
	unsigned long max_flows;	/* 0: from the fd limit */
	unsigned int max_flows_per_app;	/* 0: a quarter of max_flows */
	const char *log_path;	/* NULL or "-": stdout */
	bool quiet;
	struct flow_config flow;	/* .service: the service served */
	struct policy policy;
	bool udp;			/* also relay UDP on the listen ports */
	unsigned int udp_idle_ms;
	struct sockaddr_in udp_upstream;	/* port 0: none */
};

struct relay {
	const struct relay_config *cfg;
	struct loop *loop;
	struct flowlog *log;
	int listen_fd[RELAY_MAX_LISTEN];
	int sig_fd;
	struct flow_env flows;
	struct udp_env udp[RELAY_MAX_LISTEN];	/* one per distinct port */
	int n_udp;
	struct share *share;
	unsigned long max_flows;
	bool paused, told_paused;	/* listeners off the poller */
	struct timer resume_timer;
	bool draining;
	struct timer drain_timer;
};

/*
 * relay_new - listen, open the log, set up signals.  Prints what it
 * listens on and why it failed to stderr.  NULL on failure.
 */
struct relay *relay_new(const struct relay_config *cfg);
/* Serve until a signal has stopped and drained it.  Returns the exit code. */
int relay_run(struct relay *r);
void relay_free(struct relay *r);

#endif
