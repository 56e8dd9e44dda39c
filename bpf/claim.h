/* SPDX-License-Identifier: (GPL-2.0 OR MIT) */
/*
 * claim.h - a service's claimed listener: SOCKREDIR_CLAIM makes a listening
 * socket "service NAME's listener", and a connect is sent to a service only
 * if the socket that would receive it carries that claim (an impostor on the
 * port, or nobody, does not).  A service's listen address is reserved: in
 * the attached cgroup only root and the service's owner may bind it.
 */
#ifndef SOCKREDIR_CLAIM_H
#define SOCKREDIR_CLAIM_H

#include "addr.h"
#include "maps.h"
#include "owner.h"
#include "service.h"

/* Service name -> id, kept by the control plane. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, SR_MAX_SERVICES);
	__type(key, char[SR_NAME_MAX]);
	__type(value, __u32);
} sr_service_names SEC(".maps");

/*
 * The claim on a listening socket.  Cloned onto the sockets it accepts, so
 * the hand-off can check the socket that actually accepted a flow (one of a
 * SO_REUSEPORT group may not be the claimed one).
 */
struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC | BPF_F_CLONE);
	__type(key, int);
	__type(value, struct sr_claim);
} sr_claims SEC(".maps");

/* Is listening socket @sk bound where @svc listens? */
static __always_inline int sr_claim_addr_ok(const struct bpf_sock *sk,
					    const struct sr_service *svc)
{
	if (sk->family == AF_INET)
		return svc->port4 && sk->src_port == bpf_ntohs(svc->port4) &&
		       (!sk->src_ip4 || sk->src_ip4 == svc->addr4);
	if (sk->family != AF_INET6)
		return 0;
	/* [::]:port takes both families */
	if (!(sk->src_ip6[0] | sk->src_ip6[1] | sk->src_ip6[2] | sk->src_ip6[3]) &&
	    (sk->src_port == bpf_ntohs(svc->port6) ||
	     sk->src_port == bpf_ntohs(svc->port4)))
		return 1;
	return svc->port6 && sk->src_port == bpf_ntohs(svc->port6) &&
	       sk->src_ip6[0] == svc->addr6[0] && sk->src_ip6[1] == svc->addr6[1] &&
	       sk->src_ip6[2] == svc->addr6[2] && sk->src_ip6[3] == svc->addr6[3];
}

/*
 * Is UDP socket @sk bound to the wildcard address and @svc's port?  Flow
 * endpoints are many addresses: only the wildcard receives them all.
 */
static __always_inline int sr_claim_udp_ok(const struct bpf_sock *sk,
					   const struct sr_service *svc)
{
	if (sk->type != 2 /* SOCK_DGRAM */ || sk->dst_port)
		return 0;
	if (sk->family == AF_INET)
		return !sk->src_ip4 && svc->port4 &&
		       sk->src_port == bpf_ntohs(svc->port4);
	if (sk->family != AF_INET6 ||
	    (sk->src_ip6[0] | sk->src_ip6[1] | sk->src_ip6[2] | sk->src_ip6[3]))
		return 0;
	return (svc->port6 && sk->src_port == bpf_ntohs(svc->port6)) ||
	       (svc->port4 && sk->src_port == bpf_ntohs(svc->port4));
}

/*
 * SOCKREDIR_CLAIM: @optval (not NUL-terminated, @optlen bytes) names the
 * service.  Only root or that service's owner may, only on a listening TCP
 * socket bound to the service's address.  Returns 0 or -errno.
 */
static __noinline int sr_claim_set(struct bpf_sockopt *ctx)
{
	const struct sr_config *cfg = sr_get_config();
	struct bpf_sock *sk = ctx->sk;
	char name[SR_NAME_MAX] = {};
	__u8 *p = ctx->optval;
	const struct sr_service *svc;
	struct sr_claim *c;
	__u32 *id, i, uid = (__u32)bpf_get_current_uid_gid();

	if (ctx->optlen <= 0 || ctx->optlen >= SR_NAME_MAX)
		return -EINVAL;
	for (i = 0; i < SR_NAME_MAX - 1; i++) {
		if ((int)i >= ctx->optlen || (void *)(p + i + 1) > ctx->optval_end)
			break;
		name[i] = p[i];
	}
	id = bpf_map_lookup_elem(&sr_service_names, name);
	svc = id ? sr_service_get(*id) : 0;
	if (!svc || !cfg)
		return -ENOENT;
	if (uid != 0 && !sr_owner_of(uid, svc->id)) {
		SR_COUNT(0, denied, 1);
		return -EACCES;
	}
	if (!sk || !(sk->type == SOCK_STREAM ? sk->state == BPF_TCP_LISTEN &&
						      sr_claim_addr_ok(sk, svc) :
						      sr_claim_udp_ok(sk, svc)))
		return -EINVAL;
	if (!(cfg->owners_mask & (1ULL << (svc->id & 63)))) {
		/* No configured owner: the claimer's cgroup becomes it.  Not
		 * the attach cgroup itself, whose processes are applications. */
		__u32 sid = svc->id;
		struct sr_claimer *cl = bpf_map_lookup_elem(&sr_claimers, &sid);
		__u64 cg = bpf_get_current_cgroup_id();

		if (!cl)
			return -ENOENT;
		if (cg == cfg->cgroup_id)
			return -EPERM;
		cl->cgroup_id = cg;
		cl->gen = svc->gen;
	}
	c = bpf_sk_storage_get(&sr_claims, sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
	if (!c)
		return -ENOMEM;
	c->service_id = svc->id;
	c->how = SR_CLAIM_EXPLICIT;
	c->gen = svc->gen;
	return 0;
}

/* Does the claim @c (or none) make its socket @svc's current listener? */
static __always_inline int sr_claim_is(const struct sr_claim *c,
				       const struct sr_service *svc)
{
	return c && c->service_id == svc->id && c->gen == svc->gen;
}

/* Was accepted socket @sk accepted by service @sid's claimed listener? */
static __always_inline int sr_accepted_by(void *sk, __u16 sid)
{
	const struct sr_service *svc = sr_service_get(sid);

	return svc && sr_claim_is(bpf_sk_storage_get(&sr_claims, sk, 0, 0), svc);
}

/*
 * Would a TCP socket bound at @sk's address (in @family, a constant: each
 * post_bind hook may read only its own family's fields) take connects
 * meant for @svc?
 */
static __always_inline int sr_bind_overlaps(const struct bpf_sock *sk,
					    const struct sr_service *svc,
					    int family)
{
	__u32 a[4], a4;

	if (family == AF_INET) {
		a4 = sk->src_ip4;
	} else {
		a[0] = sk->src_ip6[0];
		a[1] = sk->src_ip6[1];
		a[2] = sk->src_ip6[2];
		a[3] = sk->src_ip6[3];
		if (!(a[0] | a[1] | a[2] | a[3]))
			/* [::] takes IPv4 too, unless IPV6_V6ONLY, which a
			 * program cannot see: reserve both. */
			return (svc->port6 && sk->src_port == bpf_ntohs(svc->port6)) ||
			       (svc->port4 && sk->src_port == bpf_ntohs(svc->port4));
		if (!sr_mapped(a))
			return svc->port6 && sk->src_port == bpf_ntohs(svc->port6) &&
			       (!(svc->addr6[0] | svc->addr6[1] | svc->addr6[2] |
				  svc->addr6[3]) ||
				(a[0] == svc->addr6[0] && a[1] == svc->addr6[1] &&
				 a[2] == svc->addr6[2] && a[3] == svc->addr6[3]));
		a4 = a[3];
	}
	return svc->port4 && sk->src_port == bpf_ntohs(svc->port4) &&
	       (!a4 || !svc->addr4 || a4 == svc->addr4);
}

/*
 * A TCP socket in the attached cgroup was bound (post_bind: the port is the
 * one it got).  A service's listen address, or a wildcard over it, is only
 * for root and that service's owner, so nobody else can squat the port
 * before the proxy starts or join its SO_REUSEPORT group.  Returns 0 or
 * -EACCES.
 */
static __always_inline int sr_bind_check(struct bpf_sock *sk, int family)
{
	__u32 uid = (__u32)bpf_get_current_uid_gid(), i;

	if (sk->type != SOCK_STREAM || uid == 0)
		return 0;
	for (i = 1; i < SR_MAX_SERVICES; i++) {
		const struct sr_service *svc = sr_service_get(i);

		if (!svc || !sr_bind_overlaps(sk, svc, family))
			continue;
		if (!sr_owner_of(uid, i)) {
			SR_COUNT(i, denied, 1);
			return -EACCES;
		}
	}
	return 0;
}

/*
 * Claim by owner.  post_bind, in the binder's context: a TCP socket that a
 * service's owner (its uid or cgroup, sr_owner_of) binds on the service's
 * listen address, or on a wildcard over its port, is that service's
 * claimed listener once it listens, exactly as if it had called
 * SOCKREDIR_CLAIM: no call, whatever language or libc the proxy is written
 * in.  The claim is for the service's current generation; an explicit
 * claim later replaces it.  A proxy that binds before its service is added
 * claims nothing (restart it, or claim explicitly).  Returns the service
 * claimed, or 0.  Only the owner's own
 * sockets get it: anyone else's bind on the address (a squatter after the
 * proxy exits) leaves its socket unclaimed, and no flow goes to it.
 * Returns the service claimed, or 0.
 */
static __always_inline __u32 sr_claim_bound(struct bpf_sock *sk, int family)
{
	__u32 uid = (__u32)bpf_get_current_uid_gid(), i;
	struct sr_claim *c;

	if (sk->type != SOCK_STREAM || !sk->src_port)
		return 0;
	for (i = 1; i < SR_MAX_SERVICES; i++) {
		const struct sr_service *svc = sr_service_get(i);

		if (!svc || !sr_bind_overlaps(sk, svc, family) ||
		    !sr_owner_of(uid, svc->id))
			continue;
		c = bpf_sk_storage_get(&sr_claims, sk, 0,
				       BPF_SK_STORAGE_GET_F_CREATE);
		if (!c)
			return 0;
		c->service_id = svc->id;
		c->how = SR_CLAIM_BY_OWNER;
		c->gen = svc->gen;
		return svc->id;
	}
	return 0;
}

#endif
