/* SPDX-License-Identifier: MIT */
/*
 * pump.h - one direction of a relayed flow: bytes from one socket to
 * another, through a buffer (recv/send) until a read brings 16 KiB, then
 * through a pipe with splice(): small exchanges take two calls per message, bulk
 * stays in the kernel.  It copies also while an inspector must see the
 * bytes, and when splice is not possible.  Passes the end of the stream on
 * as shutdown(SHUT_WR).
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
	bool hup;	/* the peer's end of stream was signalled (EPOLLRDHUP) */
};

struct pump;

/*
 * An inspector sees the bytes of a buffered pump before they go on: after
 * each read it may raise @passed (the bytes from buf + off that may be
 * sent), or return a negative errno to stop the flow.  At the end of the
 * stream (@eof) what it has not passed is dropped.
 */
typedef int pump_inspect_fn(struct pump *p, void *arg);

struct pump {
	struct end *from, *to;
	int pipe[2];		/* -1 while none is held */
	size_t in_pipe;		/* bytes in the pipe */
	bool pipe_big;		/* the pipe was grown to SPLICE_MAX */
	char *buf;		/* copy (or inspection) buffer */
	size_t off, len, cap;
	size_t passed;		/* with an inspector: sendable part of len */
	uint64_t got;		/* read from @from */
	uint64_t bytes;		/* delivered to @to */
	bool eof;		/* @from has no more */
	bool shut;		/* and @to was told so */
	bool copy;		/* read/write, no splice (yet) */
	bool nosplice;		/* splice failed here, or no pipe: copy for good */
	bool hold;		/* read (and inspect) only: @to is not ready */
	struct end *failed;	/* after an error: @from or @to */
	pump_inspect_fn *inspect;	/* NULL: everything passes */
	void *inspect_arg;
};

/* A pump with no pipe and no buffer. */
void pump_init(struct pump *p, struct end *from, struct end *to);

/*
 * pump_inspect - run every byte past @fn from now on (the pump copies
 * through a buffer while it does); NULL: stop inspecting, and pass all
 * that is buffered.  0 or -ENOMEM.
 */
int pump_inspect(struct pump *p, pump_inspect_fn *fn, void *arg);

/*
 * pump_run - move up to about @budget bytes.  Returns 1 if it used up the
 * budget (call again), 0 if it waits for readiness, or -errno if a read or
 * a write failed, or the inspector refused (@failed then says which end).
 */
int pump_run(struct pump *p, size_t budget);

/* Give back the pipe (to the pool if empty) and free the buffer. */
void pump_release(struct pump *p);

/*
 * Pipes are pooled between pumps: a pump holds one only while bytes are
 * in it, so a quiet flow holds none.  pump_pipes_limit() bounds how many
 * exist at once (past it, pumps copy through a buffer instead);
 * pump_pipes_trim() closes the idle ones (when descriptors run short).
 */
void pump_pipes_limit(int max);
void pump_pipes_trim(void);

#endif
