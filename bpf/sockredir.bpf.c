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

char LICENSE[] SEC("license") = "GPL";

/* ::ffff:a.b.c.d: an IPv6 socket talking IPv4 (Java does, by default). */
static __always_inline int sr_mapped(const __u32 *a)
{
	return a[0] == 0 && a[1] == 0 && a[2] == bpf_htonl(0xffff);
}

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

/* Start or extend the flow on the connecting socket and point it at @svc. */
static __always_inline int sr_redirect(struct bpf_sock_addr *ctx, int family,
				       int mapped, struct sr_sock *s,
				       const struct sr_verdict *v,
				       const struct sr_config *cfg)
{
	struct sr_records *rec = &s->flow.rec;
	__u64 id = bpf_get_current_uid_gid();
	__u32 n;

	if (s->role != SR_ROLE_PRESET) {
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
		for (int i = 0; i < SR_CG_LEVELS; i++)
			rec->app_cgroup_up[i] =
				bpf_get_current_ancestor_cgroup_id(i + 1);
		bpf_get_current_comm(rec->app_comm, sizeof(rec->app_comm));
	}
	n = rec->nhops;
	if (n >= SR_MAX_HOPS)
		return -ELOOP;
	rec->hops[n] = v->service->id;
	rec->nhops = n + 1;
	sr_records_sign(rec, cfg);

	s->flow.orig_dst.family = family;
	s->flow.orig_dst.port = (__u16)ctx->user_port;
	if (family == AF_INET) {
		s->flow.orig_dst.addr[0] = ctx->user_ip4;
		ctx->user_ip4 = v->service->addr4;
		ctx->user_port = v->service->port4;
	} else if (mapped) {
		s->flow.orig_dst.addr[2] = bpf_htonl(0xffff);
		s->flow.orig_dst.addr[3] = ctx->user_ip6[3];
		ctx->user_ip6[3] = v->service->addr4;
		ctx->user_port = v->service->port4;
	} else {
		s->flow.orig_dst.addr[0] = ctx->user_ip6[0];
		s->flow.orig_dst.addr[1] = ctx->user_ip6[1];
		s->flow.orig_dst.addr[2] = ctx->user_ip6[2];
		s->flow.orig_dst.addr[3] = ctx->user_ip6[3];
		ctx->user_ip6[0] = v->service->addr6[0];
		ctx->user_ip6[1] = v->service->addr6[1];
		ctx->user_ip6[2] = v->service->addr6[2];
		ctx->user_ip6[3] = v->service->addr6[3];
		ctx->user_port = v->service->port6;
	}
	s->flow.rule_id = v->rule->id;
	s->flow.service_id = v->service->id;
	s->role = SR_ROLE_APP;
	s->published = 0;
	SR_COUNT(v->service->id, redirected, 1);
	return 0;
}

static __always_inline int sr_connect(struct bpf_sock_addr *ctx, int family)
{
	struct sr_verdict v = {};
	struct sr_who who = {};
	struct sr_lpm_key key = {};
	const struct sr_ruleset *set;
	struct sr_records *rec = NULL;
	struct sr_config *cfg;
	struct sr_sock *s;
	int ret;

	int mapped;

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
	if (s && s->role == SR_ROLE_PRESET) {
		rec = &s->flow.rec;
		who.uid = rec->app_uid;
		who.rec = rec;
	} else {
		__u16 owner;

		who.uid = (__u32)bpf_get_current_uid_gid();
		/* A proxy's own connect without records: never redirected. */
		owner = sr_owner_of(cfg, who.uid);
		if (owner) {
			SR_COUNT(owner, unrecorded_egress, 1);
			return 1;
		}
	}

	ret = sr_classify(ctx, set, rec, &who, cfg, IPPROTO_TCP,
			  bpf_ntohs((__u16)ctx->user_port), key.family, &v);
	if (ret < 0) {
		if (ret == -ELOOP)
			SR_COUNT(0, hop_limit, 1);
		else if (ret == -EPERM)
			SR_COUNT(0, blocked, 1);
		else if (v.service)
			SR_COUNT(v.service->id, refused, 1);
		bpf_set_retval(ret);
		return 0;
	}
	if (ret == 0)
		return 1;

	if (!s)
		s = bpf_sk_storage_get(&sr_socks, ctx->sk, 0,
				       BPF_SK_STORAGE_GET_F_CREATE);
	if (!s)
		return 1;	/* no memory: let it through untracked */
	if (sr_redirect(ctx, family, mapped, s, &v, cfg) == -ELOOP) {
		SR_COUNT(0, hop_limit, 1);
		bpf_set_retval(-ELOOP);
		return 0;
	}
	return 1;
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

static __always_inline void sr_getpeername(struct bpf_sock_addr *ctx,
					   int family)
{
	struct sr_sock *s;

	if (!ctx->sk)
		return;
	s = bpf_sk_storage_get(&sr_socks, ctx->sk, 0, 0);
	if (!s || s->role != SR_ROLE_APP || s->flow.orig_dst.family != family)
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
	s->flow.orig_src.family = t.family;
	s->flow.orig_src.port = bpf_htons(t.sport);
	s->flow.orig_src.addr[0] = t.saddr[0];
	s->flow.orig_src.addr[1] = t.saddr[1];
	s->flow.orig_src.addr[2] = t.saddr[2];
	s->flow.orig_src.addr[3] = t.saddr[3];
	if (bpf_map_update_elem(&sr_pending, &t, &s->flow, BPF_ANY))
		return;
	s->published = 1;
	bpf_sock_ops_cb_flags_set(skops, skops->bpf_sock_ops_cb_flags |
					 BPF_SOCK_OPS_STATE_CB_FLAG);
	SR_COUNT(s->flow.service_id, live, 1);
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
	SR_COUNT(s->flow.service_id, live, -1);
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

/* Proxies see an IPv4-mapped destination as the IPv4 address it is. */
static __always_inline void sr_put_addr(struct sr_sockaddr *sa,
					const struct sr_addr *a)
{
	sa->family = a->family;
	sa->port = a->port;
	if (a->family == AF_INET) {
		sa->flowinfo_or_addr4 = a->addr[0];
	} else if (sr_mapped(a->addr)) {
		sa->family = AF_INET;
		sa->flowinfo_or_addr4 = a->addr[3];
	} else {
		sa->addr6[0] = a->addr[0];
		sa->addr6[1] = a->addr[1];
		sa->addr6[2] = a->addr[2];
		sa->addr6[3] = a->addr[3];
	}
}

static __always_inline int sr_get_context(struct bpf_sockopt *ctx,
					  const struct sr_flow *f)
{
	struct sr_context *c = ctx->optval;
	int i;

	if ((void *)(c + 1) > ctx->optval_end)
		return -ERANGE;
	__builtin_memset(c, 0, sizeof(*c));
	sr_put_addr(&c->remote, &f->orig_dst);
	sr_put_addr(&c->local, &f->orig_src);
	c->version = 1;
	c->size = SR_CONTEXT_BLOCK_SIZE;
	c->flow_id = f->rec.flow_id;
	c->app_cgroup_id = f->rec.app_cgroup;
	c->app_pid = f->rec.app_pid;
	c->app_uid = f->rec.app_uid;
	c->app_gid = f->rec.app_gid;
	c->rule_id = f->rule_id;
	c->service_id = f->service_id;
	c->hop = f->rec.nhops;
	c->protocol = f->rec.protocol;
	__builtin_memcpy(c->app_comm, f->rec.app_comm, sizeof(c->app_comm));
	for (i = 0; i < SR_MAX_HOPS; i++)
		c->chain[i] = f->rec.hops[i];
	ctx->optlen = sizeof(*c);
	return 0;
}

static __always_inline int sr_get_records(struct bpf_sockopt *ctx,
					  const struct sr_flow *f)
{
	void *p = ctx->optval;

	if (p + sizeof(f->rec) > ctx->optval_end)
		return -ERANGE;
	__builtin_memcpy(p, &f->rec, sizeof(f->rec));
	ctx->optlen = sizeof(f->rec);
	return 0;
}

/* SO_ORIGINAL_DST, for transparent proxies written for netfilter. */
static __always_inline int sr_get_original_dst(struct bpf_sockopt *ctx,
					       const struct sr_flow *f)
{
	struct sr_sockaddr *sa = ctx->optval;
	int len;

	if ((void *)sa + 28 > ctx->optval_end)
		return -ERANGE;
	__builtin_memset(sa, 0, 28);
	sr_put_addr(sa, &f->orig_dst);
	len = sa->family == AF_INET ? 16 : 28;
	if (ctx->optlen < len)
		return -ERANGE;
	ctx->optlen = len;
	return 0;
}

SEC("cgroup/getsockopt")
int sr_getsockopt(struct bpf_sockopt *ctx)
{
	struct sr_sock *s;
	int err;

	if (ctx->level == SR_SOL) {
		if (ctx->optname != SR_OPT_RECORDS &&
		    ctx->optname != SR_OPT_CONTEXT)
			return 1;	/* the kernel's ENOPROTOOPT stands */
		s = ctx->sk ? bpf_sk_storage_get(&sr_socks, ctx->sk, 0, 0) : 0;
		if (!s || s->role != SR_ROLE_ACCEPTED)
			err = -ENOENT;
		else if (ctx->optname == SR_OPT_RECORDS)
			err = sr_get_records(ctx, &s->flow);
		else
			err = sr_get_context(ctx, &s->flow);
	} else if ((ctx->level == SOL_IP || ctx->level == SOL_IPV6) &&
		   ctx->optname == SR_SO_ORIGINAL_DST && ctx->sk) {
		s = bpf_sk_storage_get(&sr_socks, ctx->sk, 0, 0);
		if (!s || s->role != SR_ROLE_ACCEPTED)
			goto pass;
		err = sr_get_original_dst(ctx, &s->flow);
	} else {
		goto pass;
	}
	if (err) {
		ctx->optlen = 0;
		bpf_set_retval(err);
		return 1;
	}
	ctx->retval = 0;
	return 1;
pass:
	/* Leave options we do not own exactly as the kernel answered. */
	if (ctx->optlen > PAGE_SIZE)
		ctx->optlen = 0;
	return 1;
}

/*
 * SOCKREDIR_CLAIM on a listening socket: "I am service NAME's listener".
 * Only root or that service's owner may, and only on the service's port.
 */
static __noinline int sr_claim(struct bpf_sockopt *ctx,
				    const struct sr_config *cfg)
{
	struct bpf_sock *sk = ctx->sk;
	__u64 name[4] = {};
	__u8 *p = ctx->optval;
	struct sr_service *svc = NULL;
	struct sr_sock *s;
	__u32 id, i;

	if (ctx->optlen <= 0 || ctx->optlen >= SR_NAME_MAX)
		return -EINVAL;
	for (i = 0; i < SR_NAME_MAX - 1; i++) {
		if (i >= ctx->optlen || (void *)(p + i + 1) > ctx->optval_end)
			break;
		((__u8 *)name)[i] = p[i];
	}
	/* Unrolled: the key's address is taken, so a loop counter would
	 * live on the stack, where the verifier cannot bound it. */
#pragma clang loop unroll(full)
	for (i = 1; i < SR_MAX_SERVICES; i++) {
		struct sr_service *c;
		const __u64 *cn;

		id = i;
		c = bpf_map_lookup_elem(&sr_services, &id);
		if (!c || !c->id)
			continue;
		cn = (const __u64 *)c->name;
		if (cn[0] == name[0] && cn[1] == name[1] && cn[2] == name[2] &&
		    cn[3] == name[3]) {
			svc = c;
			break;
		}
	}
	if (!svc)
		return -ENOENT;
	if ((__u32)bpf_get_current_uid_gid() != 0 &&
	    !sr_owns(cfg, (__u32)bpf_get_current_uid_gid(), svc->id)) {
		SR_COUNT(0, denied, 1);
		return -EACCES;
	}
	if (!sk || sk->type != SOCK_STREAM || sk->state != BPF_TCP_LISTEN)
		return -EINVAL;
	if (sk->family == AF_INET) {
		if (!svc->port4 || sk->src_port != bpf_ntohs(svc->port4) ||
		    (sk->src_ip4 && sk->src_ip4 != svc->addr4))
			return -EINVAL;
	} else if (sk->family == AF_INET6) {
		int any = !(sk->src_ip6[0] | sk->src_ip6[1] | sk->src_ip6[2] |
			    sk->src_ip6[3]);

		if (any && (sk->src_port == bpf_ntohs(svc->port6) ||
			    sk->src_port == bpf_ntohs(svc->port4))) {
			/* [::]:port takes both families */
		} else if (!svc->port6 || sk->src_port != bpf_ntohs(svc->port6) ||
			   sk->src_ip6[0] != svc->addr6[0] ||
			   sk->src_ip6[1] != svc->addr6[1] ||
			   sk->src_ip6[2] != svc->addr6[2] ||
			   sk->src_ip6[3] != svc->addr6[3]) {
			return -EINVAL;
		}
	} else {
		return -EINVAL;
	}
	s = bpf_sk_storage_get(&sr_socks, sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
	if (!s)
		return -ENOMEM;
	s->role = SR_ROLE_LISTENER;
	s->flow.service_id = svc->id;
	return 0;
}

/* Root, or an owner of a registered service, may set records. */
static __always_inline int sr_may_set(const struct sr_config *cfg)
{
	__u32 uid = (__u32)bpf_get_current_uid_gid();

	return uid == 0 || sr_owner_of(cfg, uid) != 0;
}

static __noinline int sr_set_records(struct bpf_sockopt *ctx)
{
	struct sr_records rec;
	struct bpf_sock *sk = ctx->sk;
	struct sr_config *cfg = sr_get_config();
	struct sr_sock *s;

	if (ctx->optname != SR_OPT_RECORDS)
		return -ENOPROTOOPT;
	if (!cfg || !sk)
		return -ENOPROTOOPT;
	if (!sr_may_set(cfg)) {
		SR_COUNT(0, denied, 1);
		return -EACCES;
	}
	if (sk->type != SOCK_STREAM)
		return -EOPNOTSUPP;
	if (sk->state != BPF_TCP_CLOSE)
		return -EISCONN;
	if (ctx->optlen != sizeof(rec) ||
	    ctx->optval + sizeof(rec) > ctx->optval_end)
		goto bad;
	__builtin_memcpy(&rec, ctx->optval, sizeof(rec));
	if (sr_records_check(&rec, cfg))
		goto bad;
	s = bpf_sk_storage_get(&sr_socks, sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
	if (!s)
		return -ENOMEM;
	__builtin_memset(s, 0, sizeof(*s));
	__builtin_memcpy(&s->flow.rec, &rec, sizeof(rec));
	s->role = SR_ROLE_PRESET;
	return 0;
bad:
	SR_COUNT(0, bad_records, 1);
	return -EINVAL;
}

SEC("cgroup/setsockopt")
int sr_setsockopt(struct bpf_sockopt *ctx)
{
	struct sr_config *cfg;
	int err;

	if (ctx->level != SR_SOL) {
		if (ctx->optlen > PAGE_SIZE)
			ctx->optlen = 0;
		return 1;
	}
	cfg = sr_get_config();
	if (ctx->optname == SR_OPT_CLAIM)
		err = cfg ? sr_claim(ctx, cfg) : -ENOPROTOOPT;
	else
		err = sr_set_records(ctx);
	if (err) {
		bpf_set_retval(err);
		return 0;
	}
	ctx->optlen = -1;	/* consumed: the kernel never sees this level */
	return 1;
}
