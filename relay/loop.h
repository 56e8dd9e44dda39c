/* SPDX-License-Identifier: MIT */
/*
 * loop.h - a single-threaded epoll loop in the shape of Redis' ae.c:
 * handlers indexed by fd, timers that give the next delay, and a queue of
 * tasks to run before the next wait (work left over when a handler used up
 * its budget).
 */
#ifndef RELAY_LOOP_H
#define RELAY_LOOP_H

#include <stddef.h>
#include <stdint.h>

struct link {
	struct link *prev, *next;
};

#define container_of(ptr, type, member) \
	((type *)((char *)(ptr) - offsetof(type, member)))

static inline void link_init(struct link *l)
{
	l->prev = l->next = l;
}

static inline int link_empty(const struct link *l)
{
	return l->next == l;
}

/* Insert @n after @at. */
static inline void link_add(struct link *at, struct link *n)
{
	n->prev = at;
	n->next = at->next;
	at->next->prev = n;
	at->next = n;
}

static inline void link_del(struct link *n)
{
	n->prev->next = n->next;
	n->next->prev = n->prev;
	n->prev = n->next = NULL;
}

/* Events are epoll's; EPOLLERR and EPOLLHUP come with EPOLLIN|EPOLLOUT. */
typedef void loop_fd_fn(void *arg, int fd, uint32_t events);

struct timer {
	struct link link;	/* unlinked (NULL) when not armed */
	uint64_t when;		/* loop_now() milliseconds */
	void (*fn)(struct timer *t);
};

struct task {
	struct link link;	/* unlinked (NULL) when not queued */
	void (*fn)(struct task *t);
};

struct loop;

/* A loop for fds below @max_fds.  NULL and errno on failure. */
struct loop *loop_new(int max_fds);
void loop_free(struct loop *l);

/*
 * loop_add - watch @fd for @events (EPOLLET allowed) and call @fn with
 * @arg.  Returns 0 or -errno.  Call loop_del() before closing @fd: a
 * stale event for a closed and reused fd is then dropped, not misrouted.
 */
int loop_add(struct loop *l, int fd, uint32_t events, loop_fd_fn *fn, void *arg);
void loop_del(struct loop *l, int fd);
/*
 * loop_forget - loop_del() for an fd closed right after, and never dup()ed:
 * its close takes it out of the epoll set, so no epoll_ctl call is made.
 */
void loop_forget(struct loop *l, int fd);

uint64_t loop_now(void);
/* Arm (or re-arm) @t to fire once after @ms milliseconds. */
void timer_arm(struct loop *l, struct timer *t, unsigned int ms);
void timer_cancel(struct timer *t);

static inline int timer_armed(const struct timer *t)
{
	return t->link.next != NULL;
}

/* Run @t once before the next wait; queuing a queued task does nothing. */
void task_queue(struct loop *l, struct task *t);
void task_cancel(struct task *t);

/* Call @fn(@arg) before every wait (one: a later call replaces it). */
void loop_before_wait(struct loop *l, void (*fn)(void *arg), void *arg);

/* Run until loop_stop().  Returns 0, or -errno if epoll_wait failed. */
int loop_run(struct loop *l);
void loop_stop(struct loop *l);

#endif
