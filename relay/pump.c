/* SPDX-License-Identifier: MIT */
/*
 * pump.c - splice() through a pipe, or read/write through a buffer.
 *
 * Readiness flags are cleared only on EAGAIN, as edge-triggered epoll
 * requires.  A pipe is created on first use, so a quiet direction costs no
 * descriptors; if none can be had the pump falls back to a buffer.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "pump.h"

#define COPY_BUF	(64 * 1024)
#define SPLICE_MAX	(1024 * 1024)	/* the pipe takes what fits */

void pump_init(struct pump *p, struct end *from, struct end *to)
{
	memset(p, 0, sizeof(*p));
	p->from = from;
	p->to = to;
	p->pipe[0] = p->pipe[1] = -1;
}

void pump_release(struct pump *p)
{
	if (p->pipe[0] >= 0)
		close(p->pipe[0]);
	if (p->pipe[1] >= 0)
		close(p->pipe[1]);
	p->pipe[0] = p->pipe[1] = -1;
	free(p->buf);
	p->buf = NULL;
	p->off = p->len = p->cap = 0;
}

static int use_copy(struct pump *p)
{
	char *b;

	if (p->cap < COPY_BUF) {
		b = realloc(p->buf, COPY_BUF);
		if (!b)
			return -ENOMEM;
		p->buf = b;
		p->cap = COPY_BUF;
	}
	p->copy = true;
	return 0;
}

/* Write out what is buffered or in the pipe.  1: moved some, 0: can't. */
static int drain(struct pump *p)
{
	ssize_t n;

	if (!p->to->wr || (!p->len && !p->in_pipe))
		return 0;
	if (p->len)
		n = send(p->to->fd, p->buf + p->off, p->len, MSG_NOSIGNAL);
	else
		n = splice(p->pipe[0], NULL, p->to->fd, NULL, p->in_pipe,
			   SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
	if (n < 0) {
		if (errno == EAGAIN || errno == EINTR) {
			p->to->wr = errno == EINTR;
			return 0;
		}
		return -errno;
	}
	if (p->len) {
		p->off += n;
		p->len -= n;
		if (!p->len)
			p->off = 0;
	} else {
		p->in_pipe -= n;
	}
	p->bytes += n;
	return n > 0;
}

static ssize_t fill_copy(struct pump *p)
{
	if (p->off + p->len == p->cap && p->off) {
		memmove(p->buf, p->buf + p->off, p->len);
		p->off = 0;
	}
	if (p->off + p->len == p->cap)
		return -2;		/* full */
	return recv(p->from->fd, p->buf + p->off + p->len,
		    p->cap - p->off - p->len, 0);
}

static ssize_t fill_splice(struct pump *p, int *fallback)
{
	ssize_t n;

	if (p->len)
		return -2;	/* sniffed bytes go first */
	if (p->buf) {
		free(p->buf);
		p->buf = NULL;
		p->off = p->cap = 0;
	}
	if (p->pipe[0] < 0 && pipe2(p->pipe, O_NONBLOCK | O_CLOEXEC) < 0) {
		p->pipe[0] = p->pipe[1] = -1;
		*fallback = 1;
		return -2;
	}
	n = splice(p->from->fd, NULL, p->pipe[1], NULL, SPLICE_MAX,
		   SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
	if (n < 0 && errno == EAGAIN && p->in_pipe)
		return -2;	/* EAGAIN from a full pipe, not an empty socket */
	if (n < 0 && (errno == EINVAL || errno == ENOSYS) && !p->in_pipe)
		*fallback = 1;
	return n;
}

/* Read in what fits.  1: read some, 0: can't, or -errno. */
static int fill(struct pump *p)
{
	int fallback = 0;
	ssize_t n;

	if (p->eof || !p->from->rd)
		return 0;
	n = p->copy ? fill_copy(p) : fill_splice(p, &fallback);
	if (fallback) {
		if (use_copy(p) < 0)
			return -ENOMEM;
		n = fill_copy(p);
	}
	if (n == -2)
		return 0;
	if (n < 0) {
		if (errno == EAGAIN || errno == EINTR) {
			p->from->rd = errno == EINTR;
			return 0;
		}
		return -errno;
	}
	if (n == 0)
		p->eof = true;
	else if (p->copy)
		p->len += n;
	else
		p->in_pipe += n;
	return 1;
}

int pump_run(struct pump *p, size_t budget)
{
	uint64_t start = p->bytes;
	int in, out;

	do {
		out = drain(p);
		if (out < 0) {
			p->failed = p->to;
			return out;
		}
		in = fill(p);
		if (in < 0) {
			p->failed = p->from;
			return in;
		}
	} while ((in || out) && p->bytes - start < budget);

	if (p->eof && !p->len && !p->in_pipe && !p->shut) {
		/* ENOTCONN after a reset: the next read reports the reset. */
		shutdown(p->to->fd, SHUT_WR);
		p->shut = true;
	}
	return in || out;
}
