/* SPDX-License-Identifier: (GPL-2.0 OR MIT) */
/*
 * endpoint.h - the pool of UDP flow endpoints: address number idx of the
 * IPv4 pool (and of the IPv6 pool if configured), with a service's port.
 * Index 0 is never a flow's; it stands for "any endpoint" in the claim
 * check.
 */
#ifndef SOCKREDIR_ENDPOINT_H
#define SOCKREDIR_ENDPOINT_H

#include "claim.h"
#include "maps.h"

/* The pool index of IPv4 address @a (network order), or 0. */
static __always_inline __u32 sr_udp_index4(const struct sr_config *cfg, __u32 a)
{
	__u32 mask = cfg->udp_pool_mask, h = bpf_ntohl(a);

	if (!mask || (h & ~mask) != bpf_ntohl(cfg->udp_pool4))
		return 0;
	return h & mask;
}

static __always_inline __u32 sr_udp_index6(const struct sr_config *cfg,
					   const __u32 *a)
{
	__u32 mask = cfg->udp_pool_mask, h = bpf_ntohl(a[3]);

	if (!mask || !cfg->udp_pool6_on || a[0] != cfg->udp_pool6[0] ||
	    a[1] != cfg->udp_pool6[1] || a[2] != cfg->udp_pool6[2] ||
	    (h & ~mask) != bpf_ntohl(cfg->udp_pool6[3]))
		return 0;
	return h & mask;
}

static __always_inline __u32 sr_udp_addr4(const struct sr_config *cfg, __u32 idx)
{
	return bpf_htonl(bpf_ntohl(cfg->udp_pool4) | idx);
}

static __always_inline void sr_udp_addr6(const struct sr_config *cfg, __u32 idx,
					 __u32 *a)
{
	a[0] = cfg->udp_pool6[0];
	a[1] = cfg->udp_pool6[1];
	a[2] = cfg->udp_pool6[2];
	a[3] = bpf_htonl(bpf_ntohl(cfg->udp_pool6[3]) | idx);
}

/*
 * Is the socket that would receive a datagram for @svc at endpoint
 * address @ep (4 words, IPv4 in ep[0]) the one that claimed @svc?  That is
 * the proxy's wildcard socket: nobody else can bind the service's port
 * while it holds it without SO_REUSEADDR.
 */
static __always_inline int sr_udp_claimed(struct bpf_sock_addr *ctx,
					  const struct sr_service *svc, int v6,
					  const __u32 *ep)
{
	struct bpf_sock_tuple t = {};
	struct bpf_sock *sk;
	struct sr_claim *c;
	int claimed;

	if (!v6) {
		t.ipv4.daddr = ep[0];
		t.ipv4.dport = svc->port4;
		sk = bpf_sk_lookup_udp(ctx, &t, sizeof(t.ipv4),
				       BPF_F_CURRENT_NETNS, 0);
	} else {
		__builtin_memcpy(t.ipv6.daddr, ep, 16);
		t.ipv6.dport = svc->port6;
		sk = bpf_sk_lookup_udp(ctx, &t, sizeof(t.ipv6),
				       BPF_F_CURRENT_NETNS, 0);
	}
	if (!sk)
		return 0;
	c = bpf_sk_storage_get(&sr_claims, sk, 0, 0);
	claimed = c && c->service_id == svc->id && c->gen == svc->gen;
	bpf_sk_release(sk);
	return claimed;
}

/*
 * The claim check at classification: any endpoint address reaches the
 * proxy's wildcard socket, so the pool's index 0 (never a flow's) stands
 * for them.
 */
static __always_inline int sr_udp_service_claimed(struct bpf_sock_addr *ctx,
						  const struct sr_service *svc,
						  int family)
{
	const struct sr_config *cfg = sr_get_config();
	__u32 ep[4] = {};

	if (!cfg)
		return 0;
	if (family == AF_INET) {
		ep[0] = cfg->udp_pool4;
		return sr_udp_claimed(ctx, svc, 0, ep);
	}
	if (!cfg->udp_pool6_on)
		return 0;	/* no IPv6 endpoints: as if unclaimed */
	sr_udp_addr6(cfg, 0, ep);
	return sr_udp_claimed(ctx, svc, 1, ep);
}

#endif
