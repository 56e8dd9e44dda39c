/* SPDX-License-Identifier: (GPL-2.0 OR MIT) */
/*
 * sockopt.h - the socket options: SOCKREDIR_RECORDS and SOCKREDIR_CONTEXT
 * (or both at once, SOCKREDIR_QUERY) on a proxy's accepted socket, SO_ORIGINAL_DST for netfilter-era proxies,
 * SOCKREDIR_RECORDS on a proxy's new socket, SOCKREDIR_CLAIM on its
 * listener.  Options at other levels pass untouched.
 */
#ifndef SOCKREDIR_SOCKOPT_H
#define SOCKREDIR_SOCKOPT_H

#include "addr.h"
#include "claim.h"
#include "forward.h"
#include "listener.h"
#include "handoff.h"
#include "maps.h"
#include "owner.h"
#include "records.h"
#include "sock.h"
#include "udpsel.h"

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

/*
 * SOCKREDIR_QUERY: the context, then the records right after its block
 * (the records' offset is the block's end, so a longer block moves them).
 * One call instead of two for a proxy that wants both.
 */
static __always_inline int sr_get_query(struct bpf_sockopt *ctx,
					const struct sr_flow *f)
{
	void *r = ctx->optval + sizeof(struct sr_context);
	int err;

	if (r + sizeof(f->rec) > ctx->optval_end)
		return -ERANGE;
	err = sr_get_context(ctx, f);
	if (err)
		return err;
	/* Checked again: the verifier does not carry the bound across. */
	r = ctx->optval + sizeof(struct sr_context);
	if (r + sizeof(f->rec) > ctx->optval_end)
		return -ERANGE;
	__builtin_memcpy(r, &f->rec, sizeof(f->rec));
	ctx->optlen = sizeof(struct sr_context) + sizeof(f->rec);
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

/* Where a given blob is checked before it is kept (see sr_records_set). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct sr_records);
} sr_records_scratch SEC(".maps");

/*
 * SOCKREDIR_RECORDS on a proxy's new socket, before connect: root, or the
 * owner of the service whose hop they are, may give it records the layer
 * issued, while that hop's accepted socket is open.  Returns 0, -EACCES,
 * -EINVAL (not records the layer issued), -ESTALE (the hop has ended),
 * -EISCONN, -EOPNOTSUPP, -ENOMEM.
 *
 * Verifier: the blob is copied into a per-CPU scratch value, not onto the
 * stack, which kept this frame at 472 of the 512 bytes a program may use;
 * it goes to the socket's storage only once it checks, so a bad blob
 * allocates nothing.
 */
static __noinline int sr_records_set(struct bpf_sockopt *ctx)
{
	const struct sr_key *key = sr_get_key();
	struct bpf_sock *sk = ctx->sk;
	struct sr_records *rec, *given;
	__u32 uid = (__u32)bpf_get_current_uid_gid(), zero = 0;
	int err = 0;

	if (uid != 0 && !sr_owner_of(uid, 0)) {
		SR_COUNT(0, denied, 1);
		return -EACCES;
	}
	if (!sk || (sk->type != SOCK_STREAM && sk->type != SOCK_DGRAM))
		return -EOPNOTSUPP;
	if (sk->state != BPF_TCP_CLOSE)
		return -EISCONN;
	rec = bpf_map_lookup_elem(&sr_records_scratch, &zero);
	if (!rec || !key)
		return -ENOMEM;
	if (ctx->optlen != sizeof(*rec) ||
	    ctx->optval + sizeof(*rec) > ctx->optval_end)
		err = -EINVAL;
	if (!err) {
		__builtin_memcpy(rec, ctx->optval, sizeof(*rec));
		err = sr_records_check(rec, key);
	}
	if (err) {
		SR_COUNT(0, bad_records, 1);
		return err;
	}
	if (uid != 0 && !sr_owner_of(uid, sr_records_last(rec))) {
		SR_COUNT(0, denied, 1);
		return -EACCES;		/* another service's hop */
	}
	err = sr_hop_live(rec);
	if (err) {
		SR_COUNT(0, bad_records, 1);
		return err;
	}
	given = sr_given_make(sk);
	if (!given)
		return -ENOMEM;
	__builtin_memcpy(given, rec, sizeof(*rec));
	return 0;
}

/* Not one of ours: the kernel's own answer stands. */
#define SR_NOT_OURS 1

/*
 * getsockopt at any level: 0 (answered in @ctx), SR_NOT_OURS, or -errno
 * (the caller's getsockopt fails with it).
 */
static __always_inline int sr_sockopt_get(struct bpf_sockopt *ctx)
{
	const struct sr_flow *f;
	struct sr_acc *a;
	int opt = ctx->optname;

	if (ctx->level == SR_SOL && (opt == SR_OPT_RECORDS ||
	    opt == SR_OPT_CONTEXT || opt == SR_OPT_QUERY)) {
		f = sr_udp_selected(ctx->sk);
		if (!f) {
			a = sr_acc_get(ctx->sk);
			if (!a)
				return -ENOENT;
			if (opt != SR_OPT_CONTEXT)	/* records read */
				sr_onward_passed(ctx, a);
			f = &a->flow;
		}
		if (opt == SR_OPT_RECORDS)
			return sr_get_records(ctx, f);
		if (opt == SR_OPT_CONTEXT)
			return sr_get_context(ctx, f);
		return sr_get_query(ctx, f);
	}
	if ((ctx->level == SOL_IP || ctx->level == SOL_IPV6) &&
	    ctx->optname == SR_SO_ORIGINAL_DST) {
		a = sr_acc_get(ctx->sk);
		if (a)
			return sr_get_original_dst(ctx, &a->flow);
	}
	return SR_NOT_OURS;
}

/* setsockopt at any level: 0 (consumed), SR_NOT_OURS, or -errno. */
static __always_inline int sr_sockopt_set(struct bpf_sockopt *ctx)
{
	struct sr_config *cfg;

	if (ctx->level != SR_SOL)
		return SR_NOT_OURS;
	cfg = sr_get_config();
	if (!cfg)
		return -ENOPROTOOPT;
	if (ctx->optname == SR_OPT_CLAIM) {
		int err = sr_claim_set(ctx);

		if (!err)
			sr_holder_claimed(ctx);
		return err;
	}
	if (ctx->optname == SR_OPT_RECORDS)
		return sr_records_set(ctx);
	if (ctx->optname == SR_OPT_FLOW)
		return sr_udp_select(ctx);
	return -ENOPROTOOPT;
}

#endif
