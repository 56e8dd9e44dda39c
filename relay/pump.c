/* SPDX-License-Identifier: MIT */
/*
 * pump.c - splice() through a pipe, or read/write through a buffer.
 *
 * Readiness flags are cleared on EAGAIN, as edge-triggered epoll requires,
 * and also after a recv() that did not fill the space it was given: a
 * stream socket returns short only when its queue ran dry, and what comes
 * after raises a new edge (this saves the EAGAIN call per message).  Not
 * once the peer's FIN was signalled: it may wait behind those bytes, and
 * will raise no edge again, so the next recv() must see it.  A
 * pump copies until one read brings SPLICE_AFTER bytes, then splices: it takes a
 * pipe from the pool when it reads and gives it back once the pipe is
 * empty again; if none can be had it copies.
 *
 * A new pipe is grown from the kernel's 64 KiB to SPLICE_MAX: a 2 GiB
 * transfer then takes ~3,200 splice calls and ~700 wake-ups instead of
 * ~34,000 and ~2,000 (measured: 1 GiB through one flow).  The size is a
 * count of page slots (a spliced pipe refers to the socket's pages, up to
 * that much of them while a slow reader keeps it full), and the kernel
 * charges the slots to the relay's uid: past pipe-user-pages-soft (16,384
 * pages) every new pipe of that uid, not only ours, gets two pages unless
 * it runs with CAP_SYS_RESOURCE.  So at most BIG_MAX pipes are grown at
 * once (4,096 pages), the others keep 64 KiB; and where the kernel refuses
 * (fs.pipe-max-size lower, the uid's quota spent), 64 KiB it is.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "pump.h"

#define COPY_BUF	(64 * 1024)
#define SPLICE_AFTER	(16 * 1024)	/* a read of this much: splice from now */
#define SPLICE_MAX	(1024 * 1024)	/* the pipe takes what fits */
#define POOL_MAX	256		/* idle pipes kept */
#define BIG_MAX		16		/* pipes grown to SPLICE_MAX at once */

/* One relay, one thread: the pool is the process's. */
static struct {
	int idle[POOL_MAX][2];
	bool idle_big[POOL_MAX];
	int n_idle;
	int n_pipes;		/* idle + held */
	int n_big;		/* of those, grown */
	int max;
} pool = { .max = INT_MAX };

void pump_pipes_limit(int max)
{
	pool.max = max > 0 ? max : 0;
}

static void pipe_close(int fds[2], bool big)
{
	close(fds[0]);
	close(fds[1]);
	pool.n_pipes--;
	pool.n_big -= big;
}

void pump_pipes_trim(void)
{
	while (pool.n_idle) {
		pool.n_idle--;
		pipe_close(pool.idle[pool.n_idle], pool.idle_big[pool.n_idle]);
	}
}

static int pipe_get(struct pump *p)
{
	int *fds = p->pipe;

	if (pool.n_idle) {
		pool.n_idle--;
		fds[0] = pool.idle[pool.n_idle][0];
		fds[1] = pool.idle[pool.n_idle][1];
		p->pipe_big = pool.idle_big[pool.n_idle];
		return 0;
	}
	if (pool.n_pipes >= pool.max)
		return -EMFILE;
	if (pipe2(fds, O_NONBLOCK | O_CLOEXEC) < 0) {
		fds[0] = fds[1] = -1;
		return -errno;
	}
	pool.n_pipes++;
	p->pipe_big = pool.n_big < BIG_MAX &&
		      fcntl(fds[1], F_SETPIPE_SZ, SPLICE_MAX) >= SPLICE_MAX;
	pool.n_big += p->pipe_big;
	return 0;
}

/* Give back the pump's pipe: pooled if empty, else closed. */
static void pipe_put(struct pump *p)
{
	if (p->pipe[0] < 0)
		return;
	if (!p->in_pipe && pool.n_idle < POOL_MAX) {
		pool.idle[pool.n_idle][0] = p->pipe[0];
		pool.idle[pool.n_idle][1] = p->pipe[1];
		pool.idle_big[pool.n_idle] = p->pipe_big;
		pool.n_idle++;
	} else {
		pipe_close(p->pipe, p->pipe_big);
	}
	p->pipe[0] = p->pipe[1] = -1;
	p->in_pipe = 0;
}

void pump_init(struct pump *p, struct end *from, struct end *to)
{
	memset(p, 0, sizeof(*p));
	p->from = from;
	p->to = to;
	p->pipe[0] = p->pipe[1] = -1;
	p->copy = true;		/* until a read fills the buffer */
}

void pump_release(struct pump *p)
{
	pipe_put(p);
	free(p->buf);
	p->buf = NULL;
	p->off = p->len = p->cap = p->passed = 0;
}

/* Copy through a buffer from now on (allocated when first needed). */
static int use_copy(struct pump *p)
{
	p->copy = true;
	p->nosplice = true;
	return 0;
}

int pump_inspect(struct pump *p, pump_inspect_fn *fn, void *arg)
{
	/* Set before the first read: no byte went past it into a pipe. */
	if (fn)
		p->copy = true;
	else if (p->inspect)
		p->passed = p->len;
	p->inspect = fn;
	p->inspect_arg = arg;
	return 0;
}

/* Write out what is buffered or in the pipe.  1: moved some, 0: can't. */
static int drain(struct pump *p)
{
	size_t avail = p->inspect ? p->passed : p->len;
	ssize_t n;

	if (!p->to->wr || (!avail && !p->in_pipe))
		return 0;
	if (avail)
		n = send(p->to->fd, p->buf + p->off, avail, MSG_NOSIGNAL);
	else if (p->len)
		return 0;	/* inspected bytes wait for their verdict */
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
	if (avail) {
		p->off += n;
		p->len -= n;
		if (p->passed)
			p->passed -= n;
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
	size_t space;
	ssize_t n;
	char *b;

	if (p->cap < COPY_BUF) {
		b = realloc(p->buf, COPY_BUF);
		if (!b) {
			errno = ENOMEM;
			return -1;
		}
		p->buf = b;
		p->cap = COPY_BUF;
	}
	if (p->off + p->len == p->cap && p->off) {
		memmove(p->buf, p->buf + p->off, p->len);
		p->off = 0;
	}
	if (p->off + p->len == p->cap)
		return -2;		/* full */
	space = p->cap - p->off - p->len;
	n = recv(p->from->fd, p->buf + p->off + p->len, space, 0);
	if (n > 0 && (size_t)n < space && !p->from->hup)
		p->from->rd = false;	/* ran dry: the next byte raises an edge */
	/* A read this large found a backlog: bulk, splice once the buffer is out. */
	if (n >= SPLICE_AFTER && !p->inspect && !p->nosplice)
		p->copy = false;
	return n;
}

static ssize_t fill_splice(struct pump *p, int *fallback)
{
	ssize_t n;

	if (p->len)
		return -2;	/* buffered bytes go first */
	if (p->buf) {
		free(p->buf);
		p->buf = NULL;
		p->off = p->cap = 0;
	}
	if (p->pipe[0] < 0 && pipe_get(p) < 0) {
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
	int fallback = 0, err;
	bool copied = p->copy;	/* fill_copy() may switch to splice after */
	ssize_t n;

	if (p->eof || !p->from->rd)
		return 0;
	n = copied ? fill_copy(p) : fill_splice(p, &fallback);
	if (fallback) {
		if (use_copy(p) < 0)
			return -ENOMEM;
		copied = true;
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
	else if (copied)
		p->len += n;
	else
		p->in_pipe += n;
	p->got += n;
	if (p->inspect) {
		err = p->inspect(p, p->inspect_arg);
		if (err < 0)
			return err;
		if (p->eof && p->inspect)
			p->len = p->passed;	/* never passed: dropped */
	}
	return 1;
}

int pump_run(struct pump *p, size_t budget)
{
	uint64_t start = p->bytes;
	int in, out;

	do {
		out = p->hold ? 0 : drain(p);
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

	if (!p->in_pipe)
		pipe_put(p);
	if (!p->len && p->buf) {
		free(p->buf);		/* a quiet pump holds no buffer */
		p->buf = NULL;
		p->off = p->cap = 0;
	}
	if (p->eof && !p->len && !p->in_pipe && !p->shut && !p->hold) {
		/* ENOTCONN after a reset: the next read reports the reset. */
		shutdown(p->to->fd, SHUT_WR);
		p->shut = true;
	}
	return in || out;
}
