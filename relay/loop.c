/* SPDX-License-Identifier: MIT */
/*
 * loop.c - the epoll loop.
 *
 * Each registration gets a generation number, carried in the event next to
 * the fd: when a handler closes fds that still have events later in the
 * same batch, and accept() hands the same number out again, the old events
 * no longer match and are dropped.
 */
#include <errno.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#include "loop.h"

#define BATCH 256

struct handler {
	loop_fd_fn *fn;
	void *arg;
	uint32_t gen;
};

struct loop {
	int epfd;
	int max_fds;
	int stop;
	uint32_t gen;
	struct handler *fds;
	struct link timers;	/* by deadline, earliest first */
	struct link tasks;
	void (*before_wait)(void *arg);
	void *before_wait_arg;
};

uint64_t loop_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

struct loop *loop_new(int max_fds)
{
	struct loop *l = calloc(1, sizeof(*l));

	if (!l)
		return NULL;
	l->epfd = epoll_create1(EPOLL_CLOEXEC);
	l->fds = calloc(max_fds, sizeof(*l->fds));
	if (l->epfd < 0 || !l->fds) {
		loop_free(l);
		return NULL;
	}
	l->max_fds = max_fds;
	link_init(&l->timers);
	link_init(&l->tasks);
	return l;
}

void loop_free(struct loop *l)
{
	if (!l)
		return;
	if (l->epfd >= 0)
		close(l->epfd);
	free(l->fds);
	free(l);
}

int loop_add(struct loop *l, int fd, uint32_t events, loop_fd_fn *fn, void *arg)
{
	struct epoll_event ev = { .events = events };

	if (fd < 0 || fd >= l->max_fds)
		return -EMFILE;
	if (!++l->gen)
		l->gen = 1;
	ev.data.u64 = (uint64_t)l->gen << 32 | (uint32_t)fd;
	if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
		return -errno;
	l->fds[fd] = (struct handler){ .fn = fn, .arg = arg, .gen = l->gen };
	return 0;
}

void loop_del(struct loop *l, int fd)
{
	if (fd < 0 || fd >= l->max_fds || !l->fds[fd].fn)
		return;
	epoll_ctl(l->epfd, EPOLL_CTL_DEL, fd, NULL);
	l->fds[fd] = (struct handler){ 0 };
}

void loop_forget(struct loop *l, int fd)
{
	if (fd >= 0 && fd < l->max_fds)
		l->fds[fd] = (struct handler){ 0 };
}

void timer_arm(struct loop *l, struct timer *t, unsigned int ms)
{
	struct link *at;

	if (t->link.next)
		link_del(&t->link);
	t->when = loop_now() + ms;
	/* Timers of one kind share a delay, so the new one is usually last. */
	for (at = l->timers.prev; at != &l->timers; at = at->prev)
		if (container_of(at, struct timer, link)->when <= t->when)
			break;
	link_add(at, &t->link);
}

void timer_cancel(struct timer *t)
{
	if (t->link.next)
		link_del(&t->link);
}

void task_queue(struct loop *l, struct task *t)
{
	if (!t->link.next)
		link_add(l->tasks.prev, &t->link);
}

void task_cancel(struct task *t)
{
	if (t->link.next)
		link_del(&t->link);
}

static int next_timeout(struct loop *l)
{
	uint64_t now, when;

	if (!link_empty(&l->tasks))
		return 0;
	if (link_empty(&l->timers))
		return -1;
	when = container_of(l->timers.next, struct timer, link)->when;
	now = loop_now();
	return when <= now ? 0 : (int)(when - now);
}

static void run_timers(struct loop *l)
{
	uint64_t now = loop_now();
	struct timer *t;

	while (!link_empty(&l->timers) && !l->stop) {
		t = container_of(l->timers.next, struct timer, link);
		if (t->when > now)
			break;
		link_del(&t->link);
		t->fn(t);
	}
}

static void run_tasks(struct loop *l)
{
	struct link batch;
	struct task *t;

	/* Tasks queued while these run wait for the next round. */
	if (link_empty(&l->tasks))
		return;
	batch = l->tasks;
	batch.next->prev = &batch;
	batch.prev->next = &batch;
	link_init(&l->tasks);
	while (!link_empty(&batch) && !l->stop) {
		t = container_of(batch.next, struct task, link);
		link_del(&t->link);
		t->fn(t);
	}
	while (!link_empty(&batch)) {
		t = container_of(batch.next, struct task, link);
		link_del(&t->link);
		task_queue(l, t);
	}
}

void loop_before_wait(struct loop *l, void (*fn)(void *arg), void *arg)
{
	l->before_wait = fn;
	l->before_wait_arg = arg;
}

int loop_run(struct loop *l)
{
	struct epoll_event evs[BATCH];
	struct handler *h;
	uint32_t e;
	int i, n, fd;

	while (!l->stop) {
		if (l->before_wait)
			l->before_wait(l->before_wait_arg);
		n = epoll_wait(l->epfd, evs, BATCH, next_timeout(l));
		if (n < 0 && errno != EINTR)
			return -errno;
		for (i = 0; i < n && !l->stop; i++) {
			fd = (int)(uint32_t)evs[i].data.u64;
			h = &l->fds[fd];
			if (!h->fn || h->gen != evs[i].data.u64 >> 32)
				continue;
			e = evs[i].events;
			if (e & (EPOLLERR | EPOLLHUP))
				e |= EPOLLIN | EPOLLOUT;
			h->fn(h->arg, fd, e);
		}
		run_timers(l);
		run_tasks(l);
	}
	return 0;
}

void loop_stop(struct loop *l)
{
	l->stop = 1;
}
