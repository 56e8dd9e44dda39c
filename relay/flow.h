/* SPDX-License-Identifier: MIT */
/*
 * flow.h - one redirected connection: accepted client socket, upstream
 * socket to the original destination, and the two pumps between them.
 */
#ifndef RELAY_FLOW_H
#define RELAY_FLOW_H

#include <stddef.h>

#include <sockredir.h>

#include "relay.h"

/*
 * The socket-option calls a flow makes, as a table so that the unit test
 * can run flows without the redirect layer.
 */
struct redirect_ops {
	int (*query_records)(int fd, void *buf, size_t *len);
	int (*query_context)(int fd, struct sockredir_context *ctx);
	int (*set_records)(int fd, const void *buf, size_t len);
};
extern struct redirect_ops redirect_ops;

/* Take over an accepted, non-blocking socket. */
void flow_accept(struct relay *r, int fd);

/* End every live flow with a reset on both sides, logged as "drained". */
void flow_drain_all(struct relay *r);

#endif
