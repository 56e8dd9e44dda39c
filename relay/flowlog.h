/* SPDX-License-Identifier: MIT */
/*
 * flowlog.h - one JSON object per line for every flow that ends.
 */
#ifndef RELAY_FLOWLOG_H
#define RELAY_FLOWLOG_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <sockredir.h>
#include "json.h"	/* json_string(), shared with the sockredir command */

enum flow_end {
	END_CLOSED,
	END_RESET_BY_CLIENT,
	END_RESET_BY_SERVER,
	END_DENIED,
	END_UPSTREAM_REFUSED,
	END_UPSTREAM_TIMEOUT,
	END_NOT_REDIRECTED,
	END_DRAINED,
	END_ERROR,
	END_SILENT,		/* no byte before --first-byte-timeout */
	END_IDLE,		/* no byte for --idle-timeout */
	END_APP_LIMIT,		/* the app has --max-flows-per-app flows */
};

struct flow_summary {
	const char *service;
	const struct sockredir_context *ctx;	/* NULL: not known */
	const char *host;			/* NULL or "": none learned */
	uint64_t bytes_up, bytes_down;
	uint64_t duration_ms;
	enum flow_end end;
	bool udp;				/* a datagram flow: counts too */
	uint64_t datagrams_up, datagrams_down;
};

const char *flow_end_name(enum flow_end end);

/* Open @path for appending; NULL or "-" is stdout.  NULL and errno on failure. */
struct flowlog *flowlog_open(const char *path);
/* Reopen the same path (after log rotation).  Returns 0 or -errno, and
 * keeps the old stream on failure. */
int flowlog_reopen(struct flowlog *log);
void flowlog_close(struct flowlog *log);
/*
 * Write one line into the log's buffer.  Returns 0 or -errno.  Lines go out
 * at flowlog_flush(), which the relay calls before every wait of its loop:
 * the lines of flows that ended in one turn take one write(), and none
 * waits while the relay sleeps.  A fuller buffer (64 KiB) goes out at once.
 */
int flowlog_write(struct flowlog *log, const struct flow_summary *s);
/* Write out what is buffered.  Returns 0 or -EIO. */
int flowlog_flush(struct flowlog *log);

#endif
