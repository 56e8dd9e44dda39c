/* SPDX-License-Identifier: (GPL-2.0 OR MIT) */
/*
 * udp.h - the application's side of datagram flows (udpflow.h): sendmsg
 * and connect send a flow's datagrams to its endpoint, recvmsg shows the
 * original destination as their answers' source, sock_release ends a
 * connected flow.
 */
#ifndef SOCKREDIR_UDP_H
#define SOCKREDIR_UDP_H

#include "events.h"
#include "redirect.h"
#include "udpflow.h"

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

	if (ret >= 0 && m->egress_of && !m->service_id) {
		SR_COUNT(m->egress_of, unrecorded_egress, 1);
		SR_EMIT(ctx, m, SR_EV_UNRECORDED_EGRESS, m->egress_of, 0);
	}
	if (ret == -ELOOP)
		SR_COUNT(0, hop_limit, 1);
	else if (ret == -EPERM)
		SR_COUNT(0, blocked, 1);
	else if (ret < 0 && m->service_id)
		SR_COUNT(m->service_id, refused, 1);
	if (ret == -ECONNREFUSED)
		SR_EMIT(ctx, m, SR_EV_REFUSED, m->service_id, m->rule_id);
	return ret;
}

/*
 * Records a proxy gave the socket serve only datagrams to the destination
 * signed in, while the hop they were issued for is live (redirect.h's
 * sr_given_check, as for a TCP connect).  Returns 0 or -errno.
 */
static __always_inline int sr_udp_given_ok(struct bpf_sock_addr *ctx,
					   const struct sr_addr *dst)
{
	int err = sr_given_check(ctx, dst);

	if (err)
		SR_COUNT(0, bad_records, 1);
	return err;
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
	__u32 *idxp, idx, ep[4] = {};
	int ret;

	cfg = sr_get_config();
	if (!cfg || !ctx->sk)
		return 0;
	sr_dst_of(ctx, family, &key.dst);
	key.cookie = bpf_get_socket_cookie(ctx);
	if (sr_udp_is_endpoint(cfg, &key.dst))
		return sr_udp_own_endpoint(cfg, &key.dst, key.cookie);
	set = sr_rules_for(&key.dst);
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

	given = sr_given_get(ctx->sk);
	if (given) {
		ret = sr_udp_given_ok(ctx, &key.dst);
		if (ret)
			return ret;
	}
	sr_match_init(&m, given, IPPROTO_UDP, bpf_ntohs(key.dst.port),
		      key.dst.family);
	sr_event_dst(&m.dst, ctx, family);
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
		SR_COUNT(svc->id, udp_no_endpoint, 1);
		return -ENOBUFS;
	}
	sr_udp_opened(ctx, svc, &m);
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
	const struct sr_records *given;
	struct sr_udp_sk *u;
	struct sr_conn *c;
	int mapped, ret;
	__u32 idx;

	cfg = sr_get_config();
	if (!cfg || !ctx->sk)
		return 0;
	mapped = family == AF_INET6 && sr_mapped(ctx->user_ip6);
	sr_dst_of(ctx, family, &dst);
	sr_udp_disconnect(ctx->sk, bpf_get_socket_cookie(ctx));
	given = sr_given_get(ctx->sk);
	if (sr_udp_is_endpoint(cfg, &dst)) {
		SR_COUNT(0, blocked, 1);
		return -EPERM;
	}
	set = sr_rules_for(&dst);
	if (!set)
		return 0;
	if (given) {
		ret = sr_udp_given_ok(ctx, &dst);
		if (ret)
			return ret;
	}
	sr_match_init(&m, given, IPPROTO_UDP, bpf_ntohs(dst.port), dst.family);
	sr_event_dst(&m.dst, ctx, family);
	ret = sr_udp_classify(ctx, set, &m, family);
	if (ret != SR_REDIRECT)
		return ret < 0 ? ret : 0;
	svc = sr_service_get(m.service_id);
	c = sr_conn_make(ctx->sk);
	u = bpf_sk_storage_get(&sr_udp_sks, ctx->sk, 0,
			       BPF_SK_STORAGE_GET_F_CREATE);
	if (!svc || !c || !u)
		return -ECONNREFUSED;
	ret = sr_udp_open(ctx, family == AF_INET6 && !mapped, svc, &m, given,
			  &dst, 1, cfg);
	if (ret < 0)
		return ret;
	idx = ret;
	f = bpf_map_lookup_elem(&sr_udp_flows, &idx);
	if (!f)
		return -ENOBUFS;	/* not swept: connected */
	/* getpeername shows the destination (redirect.h's sr_getpeername). */
	__builtin_memset(&c->target, 0, sizeof(c->target));
	__builtin_memset(&c->orig_dst, 0, sizeof(c->orig_dst));
	c->orig_dst.family = family;
	c->orig_dst.port = dst.port;
	if (mapped) {
		c->orig_dst.addr[2] = bpf_htonl(0xffff);
		c->orig_dst.addr[3] = dst.addr[0];
	} else {
		__builtin_memcpy(c->orig_dst.addr, dst.addr, 16);
	}
	if (f->v6) {
		c->target.family = AF_INET6;
		sr_udp_addr6(cfg, idx, c->target.addr);
	} else {
		c->target.family = AF_INET;
		c->target.addr[0] = sr_udp_addr4(cfg, idx);
	}
	c->target.port = f->port;
	c->role = SR_ROLE_REDIRECTED;
	u->conn_idx = idx;
	sr_udp_opened(ctx, svc, &m);
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

#endif
