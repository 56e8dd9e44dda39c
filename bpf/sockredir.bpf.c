// SPDX-License-Identifier: GPL-2.0
/*
 * sockredir.bpf.c - the redirect layer's entry points.
 *
 *   connect4/6      classify a connect, rewrite it to a service's listener,
 *                   extend the flow's records (the WFP connect-redirect layer)
 *   sockops         publish the flow by 4-tuple once the client port is
 *                   known; hand it to the proxy's accepted socket
 *   getpeername4/6  the application still sees its original peer
 *   getsockopt      SOCKREDIR_RECORDS, SOCKREDIR_CONTEXT, SO_ORIGINAL_DST
 *   setsockopt      SOCKREDIR_RECORDS on a proxy's new socket
 *
 * Helpers return -errno; only these entry points turn that into a verdict.
 */
#include <linux/bpf.h>
#include <linux/in.h>
#include <linux/in6.h>
#include <linux/socket.h>
#include <linux/errno.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#ifndef AF_INET
#define AF_INET 2
#define AF_INET6 10
#endif
#define SOCK_STREAM 1
#define SOL_IP 0
#define SOL_IPV6 41
#define PAGE_SIZE 4096

#include "sockredir_abi.h"
#include "maps.h"
#include "records.h"
#include "classify.h"
#include "sockopt.h"

char LICENSE[] SEC("license") = "GPL";

static __always_inline void sr_dst_key(struct bpf_sock_addr *ctx, int family,
				       int mapped, struct sr_lpm_key *key)
{
	if (family == AF_INET || mapped) {
		key->family = AF_INET;
		key->prefixlen = 8 + 32;
		*(__u32 *)key->addr = mapped ? ctx->user_ip6[3] : ctx->user_ip4;
	} else {
		key->family = AF_INET6;
		key->prefixlen = 8 + 128;
		__builtin_memcpy(key->addr, &ctx->user_ip6[0], 4);
		__builtin_memcpy(key->addr + 4, &ctx->user_ip6[1], 4);
		__builtin_memcpy(key->addr + 8, &ctx->user_ip6[2], 4);
		__builtin_memcpy(key->addr + 12, &ctx->user_ip6[3], 4);
	}
}

static __always_inline void sr_records_start(struct bpf_sock_addr *ctx,
					     struct sr_records *rec)
{
	__u64 id = bpf_get_current_uid_gid();
	int i;

	__builtin_memset(rec, 0, sizeof(*rec));
	rec->magic = SR_REC_MAGIC;
	rec->version = SR_REC_VERSION;
	rec->size = sizeof(*rec);
	rec->flow_id = bpf_get_socket_cookie(ctx);
	rec->app_pid = bpf_get_current_pid_tgid() >> 32;
	rec->app_uid = (__u32)id;
	rec->app_gid = id >> 32;
	rec->protocol = IPPROTO_TCP;
	rec->app_cgroup = bpf_get_current_cgroup_id();
	for (i = 0; i < SR_CG_LEVELS; i++)
		rec->app_cgroup_up[i] = bpf_get_current_ancestor_cgroup_id(i + 1);
	bpf_get_current_comm(rec->app_comm, sizeof(rec->app_comm));
}

/* Start or extend the flow on the connecting socket and point it at @svc. */
static __always_inline int sr_redirect(struct bpf_sock_addr *ctx, int family,
				       int mapped, struct sr_sock *s,
				       const struct sr_verdict *v,
				       const struct sr_config *cfg)
{
	const struct sr_service *svc = v->service;
	struct sr_records *rec = &s->flow.rec;
	struct sr_addr *dst = &s->flow.orig_dst, *to = &s->target;
	__u32 n;

	if (s->has_preset)
		__builtin_memcpy(rec, &s->preset, sizeof(*rec));
	else
		sr_records_start(ctx, rec);
	n = rec->nhops;
	if (n >= SR_MAX_HOPS)	/* the hop limit is lower; this bounds hops[n] */
		return -ELOOP;
	rec->hops[n] = svc->id;
	rec->nhops = n + 1;
	sr_records_sign(rec, cfg);

	__builtin_memset(dst, 0, sizeof(*dst));
	__builtin_memset(to, 0, sizeof(*to));
	dst->family = family;
	dst->port = (__u16)ctx->user_port;
	if (family == AF_INET || mapped) {
		/* A mapped destination stays mapped for getpeername. */
		if (mapped) {
			dst->addr[2] = bpf_htonl(0xffff);
			dst->addr[3] = ctx->user_ip6[3];
			ctx->user_ip6[3] = svc->addr4;
		} else {
			dst->addr[0] = ctx->user_ip4;
			ctx->user_ip4 = svc->addr4;
		}
		ctx->user_port = svc->port4;
		to->family = AF_INET;
		to->addr[0] = svc->addr4;
		to->port = svc->port4;
	} else {
		dst->addr[0] = ctx->user_ip6[0];
		dst->addr[1] = ctx->user_ip6[1];
		dst->addr[2] = ctx->user_ip6[2];
		dst->addr[3] = ctx->user_ip6[3];
		ctx->user_ip6[0] = svc->addr6[0];
		ctx->user_ip6[1] = svc->addr6[1];
		ctx->user_ip6[2] = svc->addr6[2];
		ctx->user_ip6[3] = svc->addr6[3];
		ctx->user_port = svc->port6;
		to->family = AF_INET6;
		__builtin_memcpy(to->addr, svc->addr6, 16);
		to->port = svc->port6;
	}
	s->flow.rule_id = v->rule->id;
	s->flow.service_id = svc->id;
	s->role = SR_ROLE_APP;
	s->published = 0;
	SR_COUNT(svc->id, redirected, 1);
	return 0;
}

static __always_inline int sr_connect(struct bpf_sock_addr *ctx, int family)
{
	struct sr_verdict v = {};
	struct sr_who who = {};
	struct sr_lpm_key key = {};
	const struct sr_ruleset *set;
	const struct sr_records *rec = NULL;
	struct sr_config *cfg;
	struct sr_sock *s;
	int mapped, ret;

	if (ctx->type != SOCK_STREAM)
		return 1;
	mapped = family == AF_INET6 && sr_mapped(ctx->user_ip6);
	sr_dst_key(ctx, family, mapped, &key);
	set = bpf_map_lookup_elem(&sr_rule_index, &key);
	if (!set)
		return 1;	/* the path almost every connect takes */
	cfg = sr_get_config();
	if (!cfg || !ctx->sk)
		return 1;

	s = bpf_sk_storage_get(&sr_socks, ctx->sk, 0, 0);
	if (s && s->has_preset) {
		rec = &s->preset;
		who.uid = rec->app_uid;
		who.rec = rec;
	} else {
		who.uid = (__u32)bpf_get_current_uid_gid();
	}

	ret = sr_classify(ctx, set, rec, &who, cfg, IPPROTO_TCP,
			  bpf_ntohs((__u16)ctx->user_port), key.family, &v);
	if (ret == 1) {
		if (!s)
			s = bpf_sk_storage_get(&sr_socks, ctx->sk, 0,
					       BPF_SK_STORAGE_GET_F_CREATE);
		if (s)
			ret = sr_redirect(ctx, family, mapped, s, &v, cfg);
		else if (v.service->flags & SR_SVC_FAIL_CLOSED)
			ret = -ECONNREFUSED;	/* cannot track it: refuse */
		else
			ret = 0;		/* cannot track it: let it by */
	}
	if (ret >= 0) {
		if (v.unrecorded && !v.service)
			SR_COUNT(v.unrecorded, unrecorded_egress, 1);
		return 1;
	}
	if (ret == -ELOOP)
		SR_COUNT(0, hop_limit, 1);
	else if (ret == -EPERM)
		SR_COUNT(0, blocked, 1);
	else if (v.service)
		SR_COUNT(v.service->id, refused, 1);
	bpf_set_retval(ret);
	return 0;
}

SEC("cgroup/connect4")
int sr_connect4(struct bpf_sock_addr *ctx)
{
	return sr_connect(ctx, AF_INET);
}

SEC("cgroup/connect6")
int sr_connect6(struct bpf_sock_addr *ctx)
{
	return sr_connect(ctx, AF_INET6);
}

/* Is @ctx's address the listener @to that the connect was sent to? */
static __always_inline int sr_sent_to(struct bpf_sock_addr *ctx, int family,
				      const struct sr_addr *to)
{
	if (to->port != (__u16)ctx->user_port)
		return 0;
	if (family == AF_INET)
		return to->family == AF_INET && to->addr[0] == ctx->user_ip4;
	if (sr_mapped(ctx->user_ip6))
		return to->family == AF_INET && to->addr[0] == ctx->user_ip6[3];
	return to->family == AF_INET6 && to->addr[0] == ctx->user_ip6[0] &&
	       to->addr[1] == ctx->user_ip6[1] && to->addr[2] == ctx->user_ip6[2] &&
	       to->addr[3] == ctx->user_ip6[3];
}

static __always_inline void sr_getpeername(struct bpf_sock_addr *ctx,
					   int family)
{
	struct sr_sock *s;

	if (!ctx->sk)
		return;
	s = bpf_sk_storage_get(&sr_socks, ctx->sk, 0, 0);
	if (!s || s->role != SR_ROLE_APP || s->flow.orig_dst.family != family ||
	    !sr_sent_to(ctx, family, &s->target))
		return;
	ctx->user_port = s->flow.orig_dst.port;
	if (family == AF_INET) {
		ctx->user_ip4 = s->flow.orig_dst.addr[0];
	} else {
		ctx->user_ip6[0] = s->flow.orig_dst.addr[0];
		ctx->user_ip6[1] = s->flow.orig_dst.addr[1];
		ctx->user_ip6[2] = s->flow.orig_dst.addr[2];
		ctx->user_ip6[3] = s->flow.orig_dst.addr[3];
	}
}

SEC("cgroup/getpeername4")
int sr_getpeername4(struct bpf_sock_addr *ctx)
{
	sr_getpeername(ctx, AF_INET);
	return 1;
}

SEC("cgroup/getpeername6")
int sr_getpeername6(struct bpf_sock_addr *ctx)
{
	sr_getpeername(ctx, AF_INET6);
	return 1;
}

/* The 4-tuple of a sockops socket, client first. */
static __always_inline void sr_tuple(struct bpf_sock_ops *skops, int client,
				     struct sr_tuple *t)
{
	__u16 lport = skops->local_port, rport = bpf_ntohl(skops->remote_port);

	t->netns = bpf_get_netns_cookie(skops);
	t->family = skops->family;
	if (t->family == AF_INET) {
		t->saddr[0] = client ? skops->local_ip4 : skops->remote_ip4;
		t->daddr[0] = client ? skops->remote_ip4 : skops->local_ip4;
	} else if (client) {
		t->saddr[0] = skops->local_ip6[0];
		t->saddr[1] = skops->local_ip6[1];
		t->saddr[2] = skops->local_ip6[2];
		t->saddr[3] = skops->local_ip6[3];
		t->daddr[0] = skops->remote_ip6[0];
		t->daddr[1] = skops->remote_ip6[1];
		t->daddr[2] = skops->remote_ip6[2];
		t->daddr[3] = skops->remote_ip6[3];
	} else {
		t->saddr[0] = skops->remote_ip6[0];
		t->saddr[1] = skops->remote_ip6[1];
		t->saddr[2] = skops->remote_ip6[2];
		t->saddr[3] = skops->remote_ip6[3];
		t->daddr[0] = skops->local_ip6[0];
		t->daddr[1] = skops->local_ip6[1];
		t->daddr[2] = skops->local_ip6[2];
		t->daddr[3] = skops->local_ip6[3];
	}
	t->sport = client ? lport : rport;
	t->dport = client ? rport : lport;
	/* An IPv6 socket on IPv4-mapped addresses meets an IPv4 listener. */
	if (t->family == AF_INET6 && sr_mapped(t->saddr) && sr_mapped(t->daddr)) {
		t->family = AF_INET;
		t->saddr[0] = t->saddr[3];
		t->daddr[0] = t->daddr[3];
		t->saddr[2] = t->saddr[3] = t->daddr[2] = t->daddr[3] = 0;
	}
}

/* Client side, SYN about to go out: the source port is known now. */
static __always_inline void sr_publish(struct bpf_sock_ops *skops)
{
	struct sr_tuple t = {};
	struct sr_sock *s;
	struct bpf_sock *sk = skops->sk;

	if (!sk)
		return;
	s = bpf_sk_storage_get(&sr_socks, sk, 0, 0);
	if (!s || s->role != SR_ROLE_APP || s->published)
		return;
	sr_tuple(skops, 1, &t);
	/* Redirected once, connecting elsewhere now: that flow is over. */
	if (t.family != s->target.family || t.daddr[0] != s->target.addr[0] ||
	    t.daddr[1] != s->target.addr[1] || t.daddr[2] != s->target.addr[2] ||
	    t.daddr[3] != s->target.addr[3] ||
	    t.dport != bpf_ntohs(s->target.port)) {
		s->role = 0;
		return;
	}
	s->flow.orig_src.family = t.family;
	s->flow.orig_src.port = bpf_htons(t.sport);
	s->flow.orig_src.addr[0] = t.saddr[0];
	s->flow.orig_src.addr[1] = t.saddr[1];
	s->flow.orig_src.addr[2] = t.saddr[2];
	s->flow.orig_src.addr[3] = t.saddr[3];
	if (bpf_map_update_elem(&sr_pending, &t, &s->flow, BPF_NOEXIST)) {
		SR_COUNT(0, pending_busy, 1);
		return;
	}
	s->published = 1;
	bpf_sock_ops_cb_flags_set(skops, skops->bpf_sock_ops_cb_flags |
					 BPF_SOCK_OPS_STATE_CB_FLAG);
	SR_COUNT(0, live, 1);
}

/* Proxy side, handshake done: move the flow onto the accepted socket. */
static __always_inline void sr_adopt(struct bpf_sock_ops *skops)
{
	struct bpf_sock *sk = skops->sk;
	struct sr_tuple t = {};
	struct sr_flow *f;
	struct sr_sock *s;

	if (!sk)
		return;
	sr_tuple(skops, 0, &t);
	f = bpf_map_lookup_elem(&sr_pending, &t);
	if (!f)
		return;
	s = bpf_sk_storage_get(&sr_socks, sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
	if (s) {
		__builtin_memcpy(&s->flow, f, sizeof(*f));
		s->role = SR_ROLE_ACCEPTED;
	}
	bpf_map_delete_elem(&sr_pending, &t);
}

/* Client side closed: drop its pending entry if no proxy took it. */
static __always_inline void sr_forget(struct bpf_sock_ops *skops)
{
	struct bpf_sock *sk = skops->sk;
	struct sr_tuple t = {};
	struct sr_sock *s;

	if (!sk || skops->args[1] != BPF_TCP_CLOSE)
		return;
	s = bpf_sk_storage_get(&sr_socks, sk, 0, 0);
	if (!s || s->role != SR_ROLE_APP || !s->published)
		return;
	s->published = 0;
	sr_tuple(skops, 1, &t);
	if (bpf_map_delete_elem(&sr_pending, &t) == 0)
		SR_COUNT(s->flow.service_id, pending_lost, 1);
	SR_COUNT(0, live, -1);
}

SEC("sockops")
int sr_sockops(struct bpf_sock_ops *skops)
{
	switch (skops->op) {
	case BPF_SOCK_OPS_TCP_CONNECT_CB:
		sr_publish(skops);
		break;
	case BPF_SOCK_OPS_PASSIVE_ESTABLISHED_CB:
		sr_adopt(skops);
		break;
	case BPF_SOCK_OPS_STATE_CB:
		sr_forget(skops);
		break;
	}
	return 1;
}

SEC("cgroup/getsockopt")
int sr_getsockopt(struct bpf_sockopt *ctx)
{
	return sr_getsockopt_handle(ctx);
}

SEC("cgroup/setsockopt")
int sr_setsockopt(struct bpf_sockopt *ctx)
{
	return sr_setsockopt_handle(ctx);
}
