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
	struct end *failed;	/* after an error: @from or @to */
};

/* A pump with no pipe and no buffer. */
void pump_init(struct pump *p, struct end *from, struct end *to);
/*
 * pump_run - move up to about @budget bytes.  Returns 1 if it used up the
 * budget (call again), 0 if it waits for readiness, or -errno if a read or
 * a write failed (@failed then says which end).
 */
int pump_run(struct pump *p, size_t budget);
/* Close the pipe and free the buffer. */
void pump_release(struct pump *p);

#endif
