/* SPDX-License-Identifier: (GPL-2.0 OR MIT) */
/*
 * events.h - the layer's decisions as a stream (`sockredir monitor`): one
 * sr_event per decision, copied into each monitor's ring buffer, only while
 * a monitor watches.  A decision point is one line,
 *
 *	SR_EMIT(ctx, m, SR_EV_<KIND>, service_id, rule_id);
 *
 * (m: the connect's struct sr_match, whose dst the entry point filled in
 * with sr_event_dst); with nobody watching that is one load and a branch,
 * before any ring buffer work.  Where they are: classify.h (permitted,
 * blocked, skip-*, listener-gone, hop-limit; overloaded belongs beside
 * listener-gone), redirect.h (redirected, refused, unrecorded-egress).
 */
#ifndef SOCKREDIR_EVENTS_H
#define SOCKREDIR_EVENTS_H

#include "observe_abi.h"
#include "sock.h"

/*
 * One ring buffer per monitor, each made by its monitor and put in the
 * slot it holds in sr_watch (a ring buffer has one consumer position, so
 * monitors cannot share one).
 */
struct sr_ring {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, SR_EVENTS_SIZE);
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, SR_MAX_WATCHERS);
	__type(key, __u32);
	__array(values, struct sr_ring);
} sr_events SEC(".maps");

/* Monitors map it and change it with atomics (lib/monitor.c). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__uint(map_flags, BPF_F_MMAPABLE);
	__type(key, __u32);
	__type(value, struct sr_watch);
} sr_watch SEC(".maps");

/* Where an event is built before it is copied to each ring buffer. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct sr_event);
} sr_event_scratch SEC(".maps");

static __always_inline int sr_watched(void)
{
	__u32 zero = 0;
	struct sr_watch *w = bpf_map_lookup_elem(&sr_watch, &zero);

	return w && *(volatile __u32 *)&w->count;
}

/*
 * Where the connect on @ctx is going, for its events.  Inlined into each
 * entry point, where @family is a constant: the verifier refuses user_ip6
 * in connect4 and user_ip4 in connect6 even on a path never taken, so a
 * global function cannot read them.
 */
static __always_inline void sr_event_dst(struct sr_addr *a,
					 struct bpf_sock_addr *ctx, int family)
{
	a->family = family;
	a->port = (__u16)ctx->user_port;
	if (family == AF_INET) {
		a->addr[0] = ctx->user_ip4;
	} else {
		a->addr[0] = ctx->user_ip6[0];
		a->addr[1] = ctx->user_ip6[1];
		a->addr[2] = ctx->user_ip6[2];
		a->addr[3] = ctx->user_ip6[3];
	}
}

/*
 * Write one @kind event for the connect on @ctx to @dst (its address
 * before any rewrite).  The flow and its application come from the
 * socket's state: after a redirect its new records, before one the
 * records a proxy gave it, else the task itself.  Every monitor's ring
 * buffer gets a copy.  Returns 0 or -ENOSPC (a monitor's buffer was full:
 * counted in sr_watch.lost).
 *
 * Verifier: a global function, so its body is checked once, however many
 * decision points call it; hence only the context, scalars and a pointer
 * to plain memory as arguments.  The event is built in a per-CPU scratch
 * value, not on the stack: the connect hook's frames with this one on top
 * would pass the 512 bytes a program may use.
 */
__noinline int sr_event_connect(struct bpf_sock_addr *ctx, __u32 kind,
				__u32 service, __u32 rule,
				const struct sr_addr *dst)
{
	const struct sr_records *rec = 0;
	struct sr_event *e;
	struct sr_watch *w;
	struct sr_flow *f;
	__u32 i, zero = 0;
	int err = 0;
	__u64 id;

	if (!ctx || !dst)
		return 0;
	e = bpf_map_lookup_elem(&sr_event_scratch, &zero);
	if (!e)
		return -ENOMEM;
	__builtin_memset(e, 0, sizeof(*e));
	e->time_ns = bpf_ktime_get_boot_ns();
	e->kind = kind;
	e->service_id = service;
	e->rule_id = rule;
	e->protocol = ctx->protocol;	/* TCP, or UDP from sendmsg */
	id = bpf_get_current_uid_gid();
	e->uid = (__u32)id;
	e->pid = bpf_get_current_pid_tgid() >> 32;
	bpf_get_current_comm(e->comm, sizeof(e->comm));
	__builtin_memcpy(&e->dst, dst, sizeof(e->dst));

	if (kind == SR_EV_REDIRECTED) {
		/* The body sr_redirect made just now, on this CPU. */
		f = sr_flow_room();
		rec = f ? &f->rec : 0;
	} else {
		rec = sr_given_get(ctx->sk);
	}
	if (rec) {
		e->flow_id = rec->flow_id;
		e->hop = rec->nhops;
		e->app_pid = rec->app_pid;
		e->app_uid = rec->app_uid;
		__builtin_memcpy(e->app_comm, rec->app_comm, sizeof(e->app_comm));
	} else {
		e->app_pid = e->pid;
		e->app_uid = e->uid;
		__builtin_memcpy(e->app_comm, e->comm, sizeof(e->app_comm));
	}
	/* Verifier: the key is a copy, so the counter stays in a register
	 * it can follow (through &i it saw an unknown value: "infinite loop"). */
	for (i = 0; i < SR_MAX_WATCHERS; i++) {
		__u32 slot = i;
		void *ring = bpf_map_lookup_elem(&sr_events, &slot);

		if (ring && bpf_ringbuf_output(ring, e, sizeof(*e), 0))
			err = -ENOSPC;
	}
	if (err) {
		w = bpf_map_lookup_elem(&sr_watch, &zero);
		if (w)
			__sync_fetch_and_add(&w->lost, 1);
	}
	return err;
}

/* The one line at each decision point of a connect described by @m. */
#define SR_EMIT(ctx, m, kind, service, rule)				\
	do {								\
		if (sr_watched())					\
			sr_event_connect((ctx), (kind), (service), (rule), \
					 &(m)->dst);			\
	} while (0)

#endif
