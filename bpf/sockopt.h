/* SPDX-License-Identifier: (GPL-2.0 OR MIT) */
/*
 * sockopt.h - the socket options: SOCKREDIR_RECORDS and SOCKREDIR_CONTEXT
 * on a proxy's accepted socket, SO_ORIGINAL_DST for netfilter-era proxies,
 * SOCKREDIR_RECORDS on a proxy's new socket, SOCKREDIR_CLAIM on its
 * listener.  Options at other levels pass untouched.
 */
#ifndef SOCKREDIR_SOCKOPT_H
#define SOCKREDIR_SOCKOPT_H

#include "addr.h"
#include "classify.h"

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

/* SO_ORIGINAL_DST: a sockaddr_in (16 bytes) or a sockaddr_in6 (28). */
static __always_inline int sr_get_original_dst(struct bpf_sockopt *ctx,
					       const struct sr_flow *f)
{
	struct sr_sockaddr *sa = ctx->optval;
	int v4 = f->orig_dst.family == AF_INET || sr_mapped(f->orig_dst.addr);

	if (v4) {
		if ((void *)sa + 16 > ctx->optval_end)
			return -ERANGE;
		__builtin_memset(sa, 0, 16);
		sa->family = AF_INET;
		sa->port = f->orig_dst.port;
		sa->flowinfo_or_addr4 = f->orig_dst.family == AF_INET ?
						f->orig_dst.addr[0] :
						f->orig_dst.addr[3];
		ctx->optlen = 16;
		return 0;
	}
	if ((void *)sa + 28 > ctx->optval_end)
		return -ERANGE;
	__builtin_memset(sa, 0, 28);
	sr_put_addr(sa, &f->orig_dst);
	ctx->optlen = 28;
	return 0;
}

static __always_inline int sr_getsockopt_handle(struct bpf_sockopt *ctx)
{
	struct sr_sock *s = 0;
	int err;

	if (ctx->level == SR_SOL &&
	    (ctx->optname == SR_OPT_RECORDS || ctx->optname == SR_OPT_CONTEXT)) {
		if (ctx->sk)
			s = bpf_sk_storage_get(&sr_socks, ctx->sk, 0, 0);
		if (!s || s->role != SR_ROLE_ACCEPTED)
			err = -ENOENT;
		else if (ctx->optname == SR_OPT_RECORDS)
			err = sr_get_records(ctx, &s->flow);
		else
			err = sr_get_context(ctx, &s->flow);
	} else if ((ctx->level == SOL_IP || ctx->level == SOL_IPV6) &&
		   ctx->optname == SR_SO_ORIGINAL_DST && ctx->sk &&
		   (s = bpf_sk_storage_get(&sr_socks, ctx->sk, 0, 0)) &&
		   s->role == SR_ROLE_ACCEPTED) {
		err = sr_get_original_dst(ctx, &s->flow);
	} else {
		/* Not ours: leave the kernel's answer exactly as it was. */
		if (ctx->optlen > PAGE_SIZE)
			ctx->optlen = 0;
		return 1;
	}
	if (err) {
		ctx->optlen = 0;
		bpf_set_retval(err);
		return 1;
	}
	ctx->retval = 0;
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
	char name[SR_NAME_MAX] = {};
	__u8 *p = ctx->optval;
	struct sr_service *svc;
	struct sr_sock *s;
	__u32 *id, i, uid = (__u32)bpf_get_current_uid_gid();

	if (ctx->optlen <= 0 || ctx->optlen >= SR_NAME_MAX)
		return -EINVAL;
	for (i = 0; i < SR_NAME_MAX - 1; i++) {
		if (i >= ctx->optlen || (void *)(p + i + 1) > ctx->optval_end)
			break;
		name[i] = p[i];
	}
	id = bpf_map_lookup_elem(&sr_service_names, name);
	svc = id ? bpf_map_lookup_elem(&sr_services, id) : 0;
	if (!svc || !svc->id)
		return -ENOENT;
	if (uid != 0 && !sr_owner_of(uid, svc->id)) {
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

		/* [::]:port takes both families */
		if (!(any && (sk->src_port == bpf_ntohs(svc->port6) ||
			      sk->src_port == bpf_ntohs(svc->port4))) &&
		    (!svc->port6 || sk->src_port != bpf_ntohs(svc->port6) ||
		     sk->src_ip6[0] != svc->addr6[0] ||
		     sk->src_ip6[1] != svc->addr6[1] ||
		     sk->src_ip6[2] != svc->addr6[2] ||
		     sk->src_ip6[3] != svc->addr6[3]))
			return -EINVAL;
	} else {
		return -EINVAL;
	}
	s = bpf_sk_storage_get(&sr_socks, sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
	if (!s)
		return -ENOMEM;
	s->role = SR_ROLE_LISTENER;
	s->flow.service_id = svc->id;
	s->claim_gen = svc->gen;
	return 0;
}

/* Root, or an owner of a registered service, may set records. */
static __noinline int sr_set_records(struct bpf_sockopt *ctx,
				     const struct sr_config *cfg)
{
	struct sr_records rec;
	struct bpf_sock *sk = ctx->sk;
	struct sr_sock *s;
	__u32 uid = (__u32)bpf_get_current_uid_gid();
	int err = 0;

	if (uid != 0 && !sr_owner_of(uid, 0)) {
		SR_COUNT(0, denied, 1);
		return -EACCES;
	}
	if (!sk || sk->type != SOCK_STREAM)
		return -EOPNOTSUPP;
	if (sk->state != BPF_TCP_CLOSE)
		return -EISCONN;
	if (ctx->optlen != sizeof(rec) ||
	    ctx->optval + sizeof(rec) > ctx->optval_end)
		err = -EINVAL;
	if (!err) {
		__builtin_memcpy(&rec, ctx->optval, sizeof(rec));
		err = sr_records_check(&rec, cfg);
	}
	if (err) {
		SR_COUNT(0, bad_records, 1);
		return err;
	}
	s = bpf_sk_storage_get(&sr_socks, sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
	if (!s)
		return -ENOMEM;
	__builtin_memcpy(&s->preset, &rec, sizeof(rec));
	s->has_preset = 1;
	return 0;
}

static __always_inline int sr_setsockopt_handle(struct bpf_sockopt *ctx)
{
	struct sr_config *cfg;
	int err;

	if (ctx->level != SR_SOL) {
		if (ctx->optlen > PAGE_SIZE)
			ctx->optlen = 0;
		return 1;
	}
	cfg = sr_get_config();
	if (!cfg)
		err = -ENOPROTOOPT;
	else if (ctx->optname == SR_OPT_CLAIM)
		err = sr_claim(ctx, cfg);
	else if (ctx->optname == SR_OPT_RECORDS)
		err = sr_set_records(ctx, cfg);
	else
		err = -ENOPROTOOPT;
	if (err) {
		bpf_set_retval(err);
		return 0;
	}
	ctx->optlen = -1;	/* consumed: the kernel never sees this level */
	return 1;
}

#endif
