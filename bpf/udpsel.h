/* SPDX-License-Identifier: (GPL-2.0 OR MIT) */
/*
 * udpsel.h - the proxy's side of datagram flows (udpflow.h):
 * SOCKREDIR_FLOW selects one flow on the proxy's socket, by application
 * address and endpoint, and CONTEXT and RECORDS then answer for it.
 */
#ifndef SOCKREDIR_UDPSEL_H
#define SOCKREDIR_UDPSEL_H

#include "udpflow.h"

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
