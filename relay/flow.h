/* SPDX-License-Identifier: MIT */
/*
 * flow.h - one redirected TCP connection: the accepted client socket, the
 * upstream socket to the original destination, and the two pumps between
 * them; and the set of live flows.
 *
 * Flows know nothing of listeners or signals: they get what they need in a
 * struct flow_env, and tell its owner through ended() when one is gone.
 */
#ifndef RELAY_FLOW_H
#define RELAY_FLOW_H

#include <stdbool.h>
#include <stddef.h>

#include <sockredir.h>

#include "loop.h"
#include "policy.h"
#include "share.h"

struct flowlog;

struct flow_config {
	const char *service;		/* logged with every flow */
	unsigned int connect_timeout_ms;
	unsigned int sniff_timeout_ms;	/* a request head or hello, once begun */
	unsigned int first_byte_timeout_ms;	/* no byte either way yet */
	unsigned int idle_timeout_ms;	/* no byte either way since */
};

struct flow_env {
	struct loop *loop;
	struct flowlog *log;
	const struct flow_config *cfg;
	const struct policy *policy;
	struct share *share;		/* flows per app; NULL: no cap */
	/* Accepted sockets come with SO_LINGER {1, 0} (set on the listener). */
	bool linger_inherited;
	/* Called after a flow was logged and freed (may be NULL). */
	void (*ended)(struct flow_env *env);

	/* Owned by flow.c; set up with flow_env_init(). */
	struct link flows;
	unsigned long n_flows;
};

/*
 * The socket-option calls a flow makes, as a table so that the unit test
 * can run flows without the redirect layer.
 */
struct redirect_ops {
	/* context and records in one call (SOCKREDIR_QUERY) */
	int (*query)(int fd, struct sockredir_context *ctx, void *rec,
		     size_t *reclen);
	int (*set_records)(int fd, const void *buf, size_t len);
};
extern struct redirect_ops redirect_ops;

/* An empty set of flows; the caller fills in the rest of @env. */
void flow_env_init(struct flow_env *env);

/*
 * flow_accept - take over an accepted, non-blocking socket.  The fd is the
 * flow's from now on, even when the flow ends at once (not redirected,
 * out of memory): that is logged, and ended() is called, like any end.
 */
void flow_accept(struct flow_env *env, int fd);

/* End every live flow with a reset on both sides, logged as "drained". */
void flow_drain_all(struct flow_env *env);

#endif
