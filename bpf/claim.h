/* SPDX-License-Identifier: (GPL-2.0 OR MIT) */
/*
 * claim.h - a service's claimed listener: SOCKREDIR_CLAIM makes a listening
 * socket "service NAME's listener", and a connect is sent to a service only
 * if the socket that would receive it carries that claim (an impostor on the
 * port, or nobody, does not).
 */
#ifndef SOCKREDIR_CLAIM_H
#define SOCKREDIR_CLAIM_H

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

/* The claim on a listening socket. */
struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
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
 * SOCKREDIR_CLAIM: @optval (not NUL-terminated, @optlen bytes) names the
 * service.  Only root or that service's owner may, only on a listening TCP
 * socket bound to the service's address.  Returns 0 or -errno.
 */
static __noinline int sr_claim_set(struct bpf_sockopt *ctx)
{
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
	if (!svc)
		return -ENOENT;
	if (uid != 0 && !sr_owner_of(uid, svc->id)) {
		SR_COUNT(0, denied, 1);
		return -EACCES;
	}
	if (!sk || sk->type != SOCK_STREAM || sk->state != BPF_TCP_LISTEN ||
	    !sr_claim_addr_ok(sk, svc))
		return -EINVAL;
	c = bpf_sk_storage_get(&sr_claims, sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
	if (!c)
		return -ENOMEM;
	c->service_id = svc->id;
	c->gen = svc->gen;
	return 0;
}

#endif
