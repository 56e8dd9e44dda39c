/* SPDX-License-Identifier: (GPL-2.0 OR MIT) */
/*
 * udp.h - datagram flows: an application socket and one remote endpoint.
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
 * released.  Each uid holds at
 * most udp_uid_max flows: past that a new flow fails (ENOBUFS) rather than
 * evicting anyone's.
 */
#ifndef SOCKREDIR_UDP_H
#define SOCKREDIR_UDP_H

#include "addr.h"
#include "classify.h"
#include "endpoint.h"
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

/* End flow @idx: its lookup entry, its share, its count, itself. */
static __always_inline void sr_udp_end(__u32 idx, struct sr_udp_flow *f)
{
	if (!f->connected)
		bpf_map_delete_elem(&sr_udp_socks, &f->key);
	sr_udp_uncharge(f->uid);
	SR_COUNT(f->flow.service_id, udp_flows, -1);
	bpf_map_delete_elem(&sr_udp_flows, &idx);
}

static long sr_udp_sweep_one(void *map, __u32 *idx, struct sr_udp_flow *f,
			     __u64 *now)
{
	if (!f->connected && *now - f->last_used >= f->idle_ns) {
		SR_COUNT(f->flow.service_id, udp_expired, 1);
		sr_udp_end(*idx, f);
	}
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
 * Inserted all-zero at a free endpoint, then filled in: nothing finds it
 * by its socket until the caller publishes it.  Returns the endpoint
 * index (> 0) or -errno: -ENOBUFS (no share or endpoint left), -ELOOP.
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
		sr_records_start(ctx, &f->flow.rec);
		f->flow.rec.protocol = IPPROTO_UDP;
		/* Unique per flow, not per socket: one socket has many. */
		f->flow.rec.flow_id = (1ULL << 63) |
				      ((now & 0x7fffffffffffULL) << 16) | idx;
	}
	err = sr_records_extend(&f->flow.rec, svc->id, cfg);
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
	f->idle_ns = (svc->udp_idle ? svc->udp_idle : SR_UDP_IDLE_DEFAULT) *
		     SR_NSEC;
	f->last_used = now;
	SR_COUNT(svc->id, udp_flows, 1);
	SR_COUNT(svc->id, redirected, 1);
	sr_udp_sweeper_start();
	return idx;
}

/* ---- The application's side ------------------------------------------ */

/* @ctx's destination as an sr_addr (IPv4-mapped taken as IPv4). */
static __always_inline void sr_udp_dst(struct bpf_sock_addr *ctx, int family,
				       struct sr_addr *d)
{
	__builtin_memset(d, 0, sizeof(*d));
	d->port = (__u16)ctx->user_port;
	if (family == AF_INET) {
		d->family = AF_INET;
		d->addr[0] = ctx->user_ip4;
	} else if (sr_mapped(ctx->user_ip6)) {
		d->family = AF_INET;
		d->addr[0] = ctx->user_ip6[3];
	} else {
		d->family = AF_INET6;
		d->addr[0] = ctx->user_ip6[0];
		d->addr[1] = ctx->user_ip6[1];
		d->addr[2] = ctx->user_ip6[2];
		d->addr[3] = ctx->user_ip6[3];
	}
}

/* Is @d an endpoint address (of any flow, or none)? */
static __always_inline int sr_udp_is_endpoint(const struct sr_config *cfg,
					      const struct sr_addr *d)
{
	__u32 mask = cfg->udp_pool_mask;

	if (!mask)
		return 0;
	if (d->family == AF_INET)
		return (bpf_ntohl(d->addr[0]) & ~mask) == bpf_ntohl(cfg->udp_pool4);
	return cfg->udp_pool6_on && d->addr[0] == cfg->udp_pool6[0] &&
	       d->addr[1] == cfg->udp_pool6[1] &&
	       d->addr[2] == cfg->udp_pool6[2] &&
	       (bpf_ntohl(d->addr[3]) & ~mask) == bpf_ntohl(cfg->udp_pool6[3]);
}

/*
 * Point @ctx at flow @idx's endpoint.  Verifier: @family is a constant in
 * each program, so an IPv4 program never touches user_ip6.
 */
static __always_inline void sr_udp_rewrite(struct bpf_sock_addr *ctx,
					   int family, const struct sr_udp_flow *f,
					   __u32 idx, const struct sr_config *cfg)
{
	if (family == AF_INET) {
		ctx->user_ip4 = sr_udp_addr4(cfg, idx);
	} else if (!f->v6) {	/* connect6 to a mapped address stays mapped */
		ctx->user_ip6[3] = sr_udp_addr4(cfg, idx);
	} else {
		__u32 a[4];

		sr_udp_addr6(cfg, idx, a);
		ctx->user_ip6[0] = a[0];
		ctx->user_ip6[1] = a[1];
		ctx->user_ip6[2] = a[2];
		ctx->user_ip6[3] = a[3];
	}
	ctx->user_port = f->port;
}

/*
 * Where the flow's datagrams come from: the socket's address and port.
 * An unbound socket's source would be picked by the route to the endpoint
 * (127.0.0.1, or ::1); it is set to that here so the flow knows it.
 */
static __always_inline void sr_udp_source(struct bpf_sock_addr *ctx,
					  int family, struct sr_addr *src)
{
	struct bpf_sock *sk = ctx->sk;

	__builtin_memset(src, 0, sizeof(*src));
	if (!sk)
		return;
	src->port = bpf_htons((__u16)sk->src_port);
	if (family == AF_INET) {
		src->family = AF_INET;
		src->addr[0] = ctx->msg_src_ip4;
		if (!src->addr[0]) {
			src->addr[0] = bpf_htonl(0x7f000001);
			ctx->msg_src_ip4 = src->addr[0];
		}
		return;
	}
	src->family = AF_INET6;
	src->addr[0] = ctx->msg_src_ip6[0];
	src->addr[1] = ctx->msg_src_ip6[1];
	src->addr[2] = ctx->msg_src_ip6[2];
	src->addr[3] = ctx->msg_src_ip6[3];
	if (!(src->addr[0] | src->addr[1] | src->addr[2] | src->addr[3])) {
		src->addr[3] = bpf_htonl(1);
		ctx->msg_src_ip6[3] = src->addr[3];
	}
}

/*
 * The rules' decision for a new flow on @ctx.  Returns SR_REDIRECT (m set),
 * SR_PASS, or -errno; counts as the TCP connect does.
 */
static __always_inline int sr_udp_classify(struct bpf_sock_addr *ctx,
					   const struct sr_ruleset *set,
					   struct sr_match *m, int family)
{
	int ret = sr_classify(ctx, set, m);

	if (ret >= 0 && m->egress_of && !m->service_id)
		SR_COUNT(m->egress_of, unrecorded_egress, 1);
	if (ret == -ELOOP)
		SR_COUNT(0, hop_limit, 1);
	else if (ret == -EPERM)
		SR_COUNT(0, blocked, 1);
	else if (ret < 0 && m->service_id)
		SR_COUNT(m->service_id, refused, 1);
	return ret;
}

/*
 * A datagram sent straight to endpoint @d: only the flow's own socket may
 * (an IPv6 socket connected to a mapped address sends its datagrams here
 * with the endpoint as their address).  Returns 0 or -EPERM.
 */
static __always_inline int sr_udp_own_endpoint(const struct sr_config *cfg,
					       const struct sr_addr *d,
					       __u64 cookie)
{
	__u32 idx = d->family == AF_INET ? sr_udp_index4(cfg, d->addr[0]) :
					   sr_udp_index6(cfg, d->addr);
	struct sr_udp_flow *f = idx ? bpf_map_lookup_elem(&sr_udp_flows, &idx) : 0;

	if (f && f->cookie == cookie && f->port == d->port)
		return 0;
	SR_COUNT(0, blocked, 1);
	return -EPERM;
}

/*
 * sendmsg with an address, on a UDP socket: 0 (go on, maybe rewritten to
 * the flow's endpoint) or -errno (the sendmsg fails with it).
 */
static __always_inline int sr_udp_sendmsg(struct bpf_sock_addr *ctx, int family)
{
	const struct sr_ruleset *set;
	const struct sr_service *svc;
	const struct sr_records *given = 0;
	struct sr_udp_flow *f;
	struct sr_config *cfg;
	struct sr_udp_key key;
	struct sr_addr src;
	struct sr_match m;
	struct sr_sock *s;
	__u32 *idxp, idx, ep[4] = {};
	int ret;

	cfg = sr_get_config();
	if (!cfg || !ctx->sk)
		return 0;
	sr_udp_dst(ctx, family, &key.dst);
	key.cookie = bpf_get_socket_cookie(ctx);
	if (sr_udp_is_endpoint(cfg, &key.dst))
		return sr_udp_own_endpoint(cfg, &key.dst, key.cookie);
	set = sr_rules_for(ctx, family, 0);
	if (!set)
		return 0;
	key.pad = 0;
	idxp = bpf_map_lookup_elem(&sr_udp_socks, &key);
	idx = idxp ? *idxp : 0;
	f = idx ? bpf_map_lookup_elem(&sr_udp_flows, &idx) : 0;
	svc = f ? sr_service_get(f->flow.service_id) : 0;
	if (f && (!svc || svc->gen != f->svc_gen)) {
		/* Its service is gone: the rules decide afresh. */
		sr_udp_end(idx, f);
		f = 0;
	}
	if (f && svc) {
		if (f->v6)
			sr_udp_addr6(cfg, idx, ep);
		else
			ep[0] = sr_udp_addr4(cfg, idx);
		if (!sr_udp_claimed(ctx, svc, f->v6, ep)) {
			/* The proxy is gone: its fail mode, at once. */
			if (svc->flags & SR_SVC_FAIL_CLOSED) {
				SR_COUNT(svc->id, refused, 1);
				return -ECONNREFUSED;
			}
			SR_COUNT(svc->id, listener_gone, 1);
			return 0;
		}
		f->last_used = bpf_ktime_get_ns();
		sr_udp_source(ctx, family, &src);	/* as the first one */
		sr_udp_rewrite(ctx, family, f, idx, cfg);
		return 0;
	}

	s = sr_sock_get(ctx->sk);
	if (s && s->has_given)
		given = &s->given_rec;
	sr_match_init(&m, given, IPPROTO_UDP, bpf_ntohs(key.dst.port),
		      family);
	ret = sr_udp_classify(ctx, set, &m, family);
	if (ret != SR_REDIRECT)
		return ret < 0 ? ret : 0;
	svc = sr_service_get(m.service_id);
	if (!svc)
		return -ECONNREFUSED;
	ret = sr_udp_open(ctx, family == AF_INET6, svc, &m, given, &key.dst, 0,
			  cfg);
	if (ret < 0)
		return ret;
	idx = ret;
	f = bpf_map_lookup_elem(&sr_udp_flows, &idx);
	if (!f)
		return -ENOBUFS;
	sr_udp_source(ctx, family, &f->flow.orig_src);
	if (bpf_map_update_elem(&sr_udp_socks, &key, &idx, BPF_NOEXIST)) {
		/* Another CPU made this flow first, or the table is full. */
		f->connected = 1;	/* not ours in sr_udp_socks */
		sr_udp_end(idx, f);
		return -ENOBUFS;
	}
	sr_udp_rewrite(ctx, family, f, idx, cfg);
	return 0;
}

/* The connected flow socket @sk holds, if any, ends: a reconnect, a release. */
static __always_inline void sr_udp_disconnect(void *sk, __u64 cookie)
{
	struct sr_udp_flow *f;
	struct sr_udp_sk *u;
	__u32 idx;

	u = bpf_sk_storage_get(&sr_udp_sks, sk, 0, 0);
	if (!u || !u->conn_idx)
		return;
	idx = u->conn_idx;
	u->conn_idx = 0;
	f = bpf_map_lookup_elem(&sr_udp_flows, &idx);
	if (f && f->connected && f->cookie == cookie)
		sr_udp_end(idx, f);
}

/* connect on a UDP socket: 0 (maybe rewritten) or -errno. */
static __always_inline int sr_udp_connect(struct bpf_sock_addr *ctx, int family)
{
	const struct sr_ruleset *set;
	const struct sr_service *svc;
	struct sr_udp_flow *f;
	struct sr_config *cfg;
	struct sr_addr dst;
	struct sr_match m;
	struct sr_udp_sk *u;
	struct sr_sock *s;
	int mapped, ret;
	__u32 idx;

	cfg = sr_get_config();
	if (!cfg || !ctx->sk)
		return 0;
	mapped = family == AF_INET6 && sr_mapped(ctx->user_ip6);
	sr_udp_dst(ctx, family, &dst);
	sr_udp_disconnect(ctx->sk, bpf_get_socket_cookie(ctx));
	s = sr_sock_get(ctx->sk);
	if (sr_udp_is_endpoint(cfg, &dst)) {
		SR_COUNT(0, blocked, 1);
		return -EPERM;
	}
	set = sr_rules_for(ctx, family, mapped);
	if (!set)
		return 0;
	sr_match_init(&m, s && s->has_given ? &s->given_rec : 0, IPPROTO_UDP,
		      bpf_ntohs(dst.port), mapped ? AF_INET : family);
	ret = sr_udp_classify(ctx, set, &m, family);
	if (ret != SR_REDIRECT)
		return ret < 0 ? ret : 0;
	svc = sr_service_get(m.service_id);
	if (!s)
		s = sr_sock_make(ctx->sk);
	u = bpf_sk_storage_get(&sr_udp_sks, ctx->sk, 0,
			       BPF_SK_STORAGE_GET_F_CREATE);
	if (!svc || !s || !u)
		return -ECONNREFUSED;
	ret = sr_udp_open(ctx, family == AF_INET6 && !mapped, svc, &m,
			  s->has_given ? &s->given_rec : 0, &dst, 1, cfg);
	if (ret < 0)
		return ret;
	idx = ret;
	f = bpf_map_lookup_elem(&sr_udp_flows, &idx);
	if (!f)
		return -ENOBUFS;
	/* getpeername shows the destination (redirect.h's sr_getpeername). */
	__builtin_memset(&s->target, 0, sizeof(s->target));
	__builtin_memset(&s->flow.orig_dst, 0, sizeof(s->flow.orig_dst));
	s->flow.orig_dst.family = family;
	s->flow.orig_dst.port = dst.port;
	if (mapped) {
		s->flow.orig_dst.addr[2] = bpf_htonl(0xffff);
		s->flow.orig_dst.addr[3] = dst.addr[0];
	} else {
		__builtin_memcpy(s->flow.orig_dst.addr, dst.addr, 16);
	}
	if (f->v6) {
		s->target.family = AF_INET6;
		sr_udp_addr6(cfg, idx, s->target.addr);
	} else {
		s->target.family = AF_INET;
		s->target.addr[0] = sr_udp_addr4(cfg, idx);
	}
	s->target.port = f->port;
	s->role = SR_ROLE_REDIRECTED;
	u->conn_idx = idx;
	sr_udp_rewrite(ctx, family, f, idx, cfg);
	return 0;
}

/*
 * recvmsg: a datagram from an endpoint to the flow's own socket shows the
 * original destination as its source (IPv4-mapped on an IPv6 socket).
 */
static __always_inline void sr_udp_recvmsg(struct bpf_sock_addr *ctx, int family)
{
	const struct sr_config *cfg = sr_get_config();
	struct sr_udp_flow *f;
	int mapped = 0;
	__u32 idx;

	if (!cfg)
		return;
	if (family == AF_INET) {
		idx = sr_udp_index4(cfg, ctx->user_ip4);
	} else if (sr_mapped(ctx->user_ip6)) {
		mapped = 1;
		idx = sr_udp_index4(cfg, ctx->user_ip6[3]);
	} else {
		__u32 a[4] = { ctx->user_ip6[0], ctx->user_ip6[1],
			       ctx->user_ip6[2], ctx->user_ip6[3] };

		idx = sr_udp_index6(cfg, a);
	}
	if (!idx)
		return;		/* not from an endpoint: almost every datagram */
	f = bpf_map_lookup_elem(&sr_udp_flows, &idx);
	if (!f || f->port != (__u16)ctx->user_port ||
	    f->v6 != (family == AF_INET6 && !mapped) ||
	    f->cookie != bpf_get_socket_cookie(ctx))
		return;
	f->last_used = bpf_ktime_get_ns();
	ctx->user_port = f->flow.orig_dst.port;
	if (family == AF_INET) {
		ctx->user_ip4 = f->flow.orig_dst.addr[0];
	} else if (mapped) {
		ctx->user_ip6[3] = f->flow.orig_dst.addr[0];
	} else {
		ctx->user_ip6[0] = f->flow.orig_dst.addr[0];
		ctx->user_ip6[1] = f->flow.orig_dst.addr[1];
		ctx->user_ip6[2] = f->flow.orig_dst.addr[2];
		ctx->user_ip6[3] = f->flow.orig_dst.addr[3];
	}
}

/* sock_release: a connected flow ends with its socket. */
static __always_inline void sr_udp_release(struct bpf_sock *sk, __u64 cookie)
{
	if (sk->type == SOCK_DGRAM)
		sr_udp_disconnect(sk, cookie);
}

/* ---- The proxy's side: SOCKREDIR_FLOW --------------------------------- */

/* One sockaddr_storage of a struct sockredir_flow_sel, as an sr_addr. */
static __always_inline int sr_udp_sel_addr(const struct sr_sockaddr *sa,
					   struct sr_addr *a)
{
	__builtin_memset(a, 0, sizeof(*a));
	a->port = sa->port;
	if (sa->family == AF_INET) {
		a->family = AF_INET;
		a->addr[0] = sa->flowinfo_or_addr4;
		return 0;
	}
	if (sa->family != AF_INET6)
		return -EINVAL;
	if (sr_mapped(sa->addr6)) {
		a->family = AF_INET;
		a->addr[0] = sa->addr6[3];
		return 0;
	}
	a->family = AF_INET6;
	a->addr[0] = sa->addr6[0];
	a->addr[1] = sa->addr6[1];
	a->addr[2] = sa->addr6[2];
	a->addr[3] = sa->addr6[3];
	return 0;
}

static __always_inline int sr_addr_eq(const struct sr_addr *a,
				      const struct sr_addr *b)
{
	return a->family == b->family && a->port == b->port &&
	       a->addr[0] == b->addr[0] && a->addr[1] == b->addr[1] &&
	       a->addr[2] == b->addr[2] && a->addr[3] == b->addr[3];
}

/*
 * SOCKREDIR_FLOW: select the flow of (application, endpoint) on this
 * socket for CONTEXT and RECORDS.  The flow's service's owner, or root if
 * it is no other service's owner: one service's flows are never shown to
 * another's proxy.
 * A connected flow learns its application's address here, from the first
 * datagram the proxy got: only that socket can send to the endpoint.
 * Returns 0 or -errno.
 */
static __noinline int sr_udp_select(struct bpf_sockopt *ctx)
{
	const struct sr_config *cfg = sr_get_config();
	const struct sr_sockaddr *sa = ctx->optval;
	struct sr_addr app, ep;
	struct sr_udp_flow *f;
	struct sr_udp_sk *u;
	__u32 uid = (__u32)bpf_get_current_uid_gid(), idx;

	if (!cfg)
		return -ENOPROTOOPT;
	if (ctx->optlen != 2 * sizeof(*sa) ||
	    (void *)(sa + 2) > ctx->optval_end)
		return -EINVAL;
	if (sr_udp_sel_addr(&sa[0], &app) || sr_udp_sel_addr(&sa[1], &ep))
		return -EINVAL;
	idx = ep.family == AF_INET ? sr_udp_index4(cfg, ep.addr[0]) :
				     sr_udp_index6(cfg, ep.addr);
	f = idx ? bpf_map_lookup_elem(&sr_udp_flows, &idx) : 0;
	if (!f || f->port != ep.port || f->v6 != (ep.family == AF_INET6))
		return -ENOENT;
	/* Root may, unless it runs another service's proxy. */
	if (!sr_owner_of(uid, f->flow.service_id) &&
	    (uid != 0 || sr_owner_of(uid, 0))) {
		SR_COUNT(0, denied, 1);
		return -EACCES;
	}
	if (f->connected && !f->flow.orig_src.port)
		__builtin_memcpy(&f->flow.orig_src, &app, sizeof(app));
	else if (!sr_addr_eq(&f->flow.orig_src, &app))
		return -ENOENT;
	u = ctx->sk ? bpf_sk_storage_get(&sr_udp_sks, ctx->sk, 0,
					 BPF_SK_STORAGE_GET_F_CREATE) : 0;
	if (!u)
		return -ENOMEM;
	u->sel_idx = idx;
	u->sel_flow_id = f->flow.rec.flow_id;
	return 0;
}

/* The flow selected on @sk, or NULL (none, or it has ended since). */
static __always_inline const struct sr_flow *sr_udp_selected(struct bpf_sock *sk)
{
	struct sr_udp_flow *f;
	struct sr_udp_sk *u;
	__u32 idx;

	if (!sk || sk->type != SOCK_DGRAM)
		return 0;
	u = bpf_sk_storage_get(&sr_udp_sks, sk, 0, 0);
	if (!u || !u->sel_idx)
		return 0;
	idx = u->sel_idx;
	f = bpf_map_lookup_elem(&sr_udp_flows, &idx);
	if (!f || f->flow.rec.flow_id != u->sel_flow_id)
		return 0;
	return &f->flow;
}

#endif
