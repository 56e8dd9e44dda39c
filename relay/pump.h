/* SPDX-License-Identifier: MIT */
/*
 * pump.h - one direction of a relayed flow: bytes from one socket to
 * another, through a pipe with splice(), or through a buffer when splice is
 * not possible.  Passes the end of the stream on as shutdown(SHUT_WR).
 */
#ifndef RELAY_PUMP_H
#define RELAY_PUMP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A socket and what edge-triggered epoll last told us about it. */
struct end {
	int fd;
	bool rd, wr;	/* may read / write without EAGAIN, as far as we know */
};

struct pump {
	struct end *from, *to;
	int pipe[2];		/* -1 until first needed */
	size_t in_pipe;		/* bytes in the pipe */
	char *buf;		/* sniffed bytes first, or the copy buffer */
	size_t off, len, cap;
	uint64_t bytes;		/* delivered to @to */
	bool eof;		/* @from has no more */
	bool shut;		/* and @to was told so */
	bool copy;		/* read/write, no splice */
};

enum pump_status {
	PUMP_IDLE,		/* waiting for readiness */
	PUMP_BUSY,		/* used up its budget, call again */
	PUMP_ERR_READ,		/* @from failed; *err is the errno */
	PUMP_ERR_WRITE,		/* @to failed */
};

/* A pump with no pipe and no buffer. */
void pump_init(struct pump *p, struct end *from, struct end *to);
/* Move up to about @budget bytes. */
enum pump_status pump_run(struct pump *p, size_t budget, int *err);
/* Close the pipe and free the buffer. */
void pump_release(struct pump *p);

#endif
