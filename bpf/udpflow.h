/* SPDX-License-Identifier: (GPL-2.0 OR MIT) */
/*
 * udpflow.h - datagram flows: an application socket and one remote
 * endpoint.  This module holds the flow table (its maps, each flow's
 * lifetime, and opening a flow); udp.h has the application's hooks and
 * udpsel.h the proxy's SOCKREDIR_FLOW.
 *
 * Each live flow through a service has its own flow endpoint: address
 * number idx of the layer's pool (IPv4, or IPv6 if configured) and the
 * service's port.  The application's datagrams go to the endpoint and the
 * answers from it are shown as from the original destination, so a proxy
 * tells flows apart by the endpoint even when two share the application's
 * address and port, and one unconnected socket can talk to several
 * destinations through one service (see include/sockredir.h).
 *
 *   sendmsg  (socket, destination) -> its flow, made on the first datagram
 *   connect  a connected flow, for as long as the socket stays connected
 *   recvmsg  from an endpoint, to the flow's own socket: the destination
 *   SOCKREDIR_FLOW  a proxy selects a flow for CONTEXT / RECORDS
 *
 * Unconnected flows end when idle for their service's timeout (a sweep
 * every SR_UDP_SWEEP_MS ends them); connected ones when their socket is
 * released.  Each uid holds at most udp_uid_max flows: past that a new
 * flow fails (ENOBUFS) rather than evicting anyone's.
 */
#ifndef SOCKREDIR_UDPFLOW_H
#define SOCKREDIR_UDPFLOW_H

#include "addr.h"
#include "classify.h"
#include "endpoint.h"
#include "events.h"
#include "handoff.h"
#include "maps.h"
#include "owner.h"
#include "records.h"
#include "service.h"
#include "sock.h"

#ifndef SOCK_DGRAM
#define SOCK_DGRAM 2
#endif
#define SR_CLOCK_MONOTONIC 1
#define SR_UDP_TRIES 8		/* endpoints tried per new flow */
#define SR_NSEC 1000000000ULL
#define SR_UDP_SWEEP_MS 250

/* (application socket, original destination): one unconnected flow. */
struct sr_udp_key {
	__u64 cookie;
	struct sr_addr dst;
	__u32 pad;
};

struct sr_udp_flow {
	struct sr_flow flow;	/* records, destination, application, rule */
	struct sr_udp_key key;	/* unconnected: its entry in sr_udp_socks */
	__u64 cookie;		/* the application's socket */
	__u64 last_used;	/* ns, CLOCK_MONOTONIC */
	__u64 idle_ns;
	__u32 uid;		/* whose share it counts against */
	__u32 svc_gen;		/* its service's generation (sr_service.gen) */
	__u32 pad;
	__u16 port;		/* the endpoint's port (network order) */
	__u8 v6;		/* an endpoint of the IPv6 pool */
	__u8 connected;
};

/* Endpoint index -> flow.  Index 0 is never used ("none"). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, SR_UDP_FLOWS_MAX);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, __u32);
	__type(value, struct sr_udp_flow);
} sr_udp_flows SEC(".maps");

/* Unconnected flows by (socket, destination) -> endpoint index. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, SR_UDP_FLOWS_MAX);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct sr_udp_key);
	__type(value, __u32);
} sr_udp_socks SEC(".maps");

/* Live flows per uid, against udp_uid_max. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, SR_UDP_UIDS_MAX);
	__type(key, __u32);
	__type(value, __u32);
} sr_udp_uids SEC(".maps");

/*
 * Where the next endpoint search starts; and an all-zero flow, the value a
 * new flow is inserted with and then filled in place (a flow is larger
 * than the stack a program may use).
 */
struct sr_udp_state {
	__u32 cursor;
	__u32 pad;
	struct sr_udp_flow blank;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct sr_udp_state);
} sr_udp_state SEC(".maps");

/*
 * One timer sweeps the idle flows out.  Not a timer per flow: those are
 * allocated without locks, and a burst of new flows found that allocation
 * failing (-ENOMEM) for nine in ten of them on this kernel.
 */
struct sr_udp_sweeper {
	struct bpf_timer timer;
	__u32 started;
	__u32 pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct sr_udp_sweeper);
} sr_udp_sweeper SEC(".maps");

/*
 * A UDP socket's flows by endpoint index: the connected flow an
 * application's socket holds, and the flow a proxy selected
 * (SOCKREDIR_FLOW).
 */
struct sr_udp_sk {
	__u32 conn_idx;
	__u32 sel_idx;
	__u64 sel_flow_id;	/* the flow selected; a reused endpoint differs */
};

struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct sr_udp_sk);
} sr_udp_sks SEC(".maps");

/* ---- Flow lifetime ---------------------------------------------------- */

/* Count a new flow against @uid's share.  Returns 0 or -ENOBUFS. */
static __always_inline int sr_udp_charge(__u32 uid, const struct sr_config *cfg)
{
	__u32 zero = 0, *n = bpf_map_lookup_elem(&sr_udp_uids, &uid);

	if (!n) {
		bpf_map_update_elem(&sr_udp_uids, &uid, &zero, BPF_NOEXIST);
		n = bpf_map_lookup_elem(&sr_udp_uids, &uid);
		if (!n)
			return -ENOBUFS;	/* too many uids hold flows */
	}
	/*
	 * Check, then add: two CPUs racing may pass the share by one each,
	 * a bounded overshoot (fetching atomics need -mcpu=v3).
	 */
	if (*n >= cfg->udp_uid_max)
		return -ENOBUFS;
	__sync_fetch_and_add(n, 1);
	return 0;
}

static __always_inline void sr_udp_uncharge(__u32 uid)
{
	__u32 *n = bpf_map_lookup_elem(&sr_udp_uids, &uid);

	if (n && *n)
		__sync_fetch_and_add(n, -1);
}

/* The live-flow gauge (atomic: maps.h SR_GAUGE says why). */
static __always_inline void sr_udp_gauge(__u32 service, __s64 n)
{
	SR_GAUGE(service, udp_flows, n);
}

/*
 * End flow @idx: itself, its lookup entry, its share, its hop, its count.
 * Only the caller whose delete took it out accounts for it (returns 1):
 * the sweep and the flow's own socket may end one flow at once.  The
 * element stays readable after the delete for the rest of this program
 * (RCU), and nothing here allocates from sr_udp_flows, which could reuse it.
 */
static __always_inline int sr_udp_end(__u32 idx, struct sr_udp_flow *f)
{
	if (bpf_map_delete_elem(&sr_udp_flows, &idx))
		return 0;
	if (!f->connected)
		bpf_map_delete_elem(&sr_udp_socks, &f->key);
	sr_udp_uncharge(f->uid);
	sr_hop_release(&f->flow.rec);
	sr_udp_gauge(f->flow.service_id, -1);
	return 1;
}

static long sr_udp_sweep_one(void *map, __u32 *idx, struct sr_udp_flow *f,
			     __u64 *now)
{
	/*
	 * A flow made or used since the sweep began is not idle, nor is one
	 * still being opened (it reads "never": see sr_udp_open).
	 */
	if (!f->connected && f->last_used < *now &&
	    *now - f->last_used >= f->idle_ns && sr_udp_end(*idx, f))
		SR_COUNT(f->flow.service_id, udp_expired, 1);
	return 0;
}

/* Every SR_UDP_SWEEP_MS: end the flows idle for their timeout. */
static int sr_udp_sweep(void *map, __u32 *key, struct sr_udp_sweeper *w)
{
	__u64 now = bpf_ktime_get_ns();

	bpf_for_each_map_elem(&sr_udp_flows, sr_udp_sweep_one, &now, 0);
	bpf_timer_start(&w->timer, SR_UDP_SWEEP_MS * 1000000ULL, 0);
	return 0;
}

/* The first flow starts the sweeper (again, if that failed before). */
static __always_inline void sr_udp_sweeper_start(void)
{
	struct sr_udp_sweeper *w;
	__u32 zero = 0;

	w = bpf_map_lookup_elem(&sr_udp_sweeper, &zero);
	if (!w || w->started)
		return;
	bpf_timer_init(&w->timer, &sr_udp_sweeper, SR_CLOCK_MONOTONIC);
	if (!bpf_timer_set_callback(&w->timer, sr_udp_sweep) &&
	    !bpf_timer_start(&w->timer, SR_UDP_SWEEP_MS * 1000000ULL, 0))
		w->started = 1;
}

/*
 * A new flow to @svc for the current datagram or connect on @ctx, with
 * the records @given to the socket (NULL: an application's first hop).
 * Inserted at a free endpoint as a blank that reads "never idle", then
 * filled in, its last use last: the sweep sees every entry of sr_udp_flows
 * and must never end a flow half made (it once took an all-zero blank for
 * a long-idle flow and ended it under its opener, whose flow then leaked
 * its uid's share, its count and its hop).  Nothing finds the flow by its
 * socket until the caller publishes it and calls sr_udp_opened.  Returns
 * the endpoint index (> 0) or -errno: -ENOBUFS (no share or endpoint
 * left), -ELOOP.
 */
static __always_inline int sr_udp_open(struct bpf_sock_addr *ctx, int v6,
				       const struct sr_service *svc,
				       const struct sr_match *m,
				       const struct sr_records *given,
				       const struct sr_addr *dst, int connected,
				       const struct sr_config *cfg)
{
	struct sr_udp_state *st;
	struct sr_udp_flow *f;
	__u32 zero = 0, idx = 0, start, i;
	__u64 now = bpf_ktime_get_ns();
	int err;

	st = bpf_map_lookup_elem(&sr_udp_state, &zero);
	if (!st)
		return -ENOBUFS;
	err = sr_udp_charge(m->uid, cfg);
	if (err) {
		SR_COUNT(svc->id, udp_no_endpoint, 1);
		return err;
	}
	/* "Never idle".  Every opener writes the same, so racing is harmless. */
	st->blank.last_used = ~0ULL;
	st->blank.idle_ns = ~0ULL;
	start = st->cursor;
	__sync_fetch_and_add(&st->cursor, SR_UDP_TRIES);
	for (i = 0; i < SR_UDP_TRIES; i++) {
		__u32 c = (start + i) & cfg->udp_pool_mask;

		if (c && !bpf_map_update_elem(&sr_udp_flows, &c, &st->blank,
					      BPF_NOEXIST)) {
			idx = c;
			break;
		}
	}
	f = idx ? bpf_map_lookup_elem(&sr_udp_flows, &idx) : 0;
	if (!f) {
		sr_udp_uncharge(m->uid);
		SR_COUNT(svc->id, udp_no_endpoint, 1);
		return -ENOBUFS;
	}
	if (given) {
		__builtin_memcpy(&f->flow.rec, given, sizeof(f->flow.rec));
	} else {
		sr_records_start(ctx, dst, &f->flow.rec);
		f->flow.rec.protocol = IPPROTO_UDP;
		/* Unique per flow, not per socket: one socket has many. */
		f->flow.rec.flow_id = (1ULL << 63) |
				      ((now & 0x7fffffffffffULL) << 16) | idx;
	}
	/* The flow holds its hop while it lives: records read from it may be
	 * given onward until then (handoff.h's live hops). */
	err = sr_records_add_hop(&f->flow.rec, svc->id);
	if (!err)
		err = sr_hop_hold(&f->flow.rec);
	if (err) {
		sr_udp_uncharge(m->uid);
		bpf_map_delete_elem(&sr_udp_flows, &idx);
		return err;
	}
	__builtin_memcpy(&f->flow.orig_dst, dst, sizeof(*dst));
	f->flow.rule_id = m->rule_id;
	f->flow.service_id = svc->id;
	f->svc_gen = svc->gen;
	f->cookie = bpf_get_socket_cookie(ctx);
	f->key.cookie = f->cookie;
	__builtin_memcpy(&f->key.dst, dst, sizeof(*dst));
	f->uid = m->uid;
	f->port = v6 ? svc->port6 : svc->port4;
	f->v6 = v6;
	f->connected = connected;
	sr_udp_gauge(svc->id, 1);
	f->idle_ns = (svc->udp_idle ? svc->udp_idle : SR_UDP_IDLE_DEFAULT) *
		     SR_NSEC;
	/* Compiler: the last use, last.  Should the CPU show the two stores
	 * in the other order, one still reads "never" and the sweep passes. */
	asm volatile("" ::: "memory");
	f->last_used = now;
	return idx;
}

/* Flow @idx is in place: count it, tell, and let the sweeper run. */
static __always_inline void sr_udp_opened(struct bpf_sock_addr *ctx,
					  const struct sr_service *svc,
					  const struct sr_match *m)
{
	SR_COUNT(svc->id, redirected, 1);
	SR_EMIT(ctx, m, SR_EV_REDIRECTED, svc->id, m->rule_id);
	sr_udp_sweeper_start();
}

#endif
