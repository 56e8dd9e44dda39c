/* SPDX-License-Identifier: (GPL-2.0 OR MIT) */
/* addr.h - address helpers shared by the hooks. */
#ifndef SOCKREDIR_ADDR_H
#define SOCKREDIR_ADDR_H

#include "sockredir_abi.h"

/* ::ffff:a.b.c.d: an IPv6 socket talking IPv4 (Java does, by default). */
static __always_inline int sr_mapped(const __u32 *a)
{
	return a[0] == 0 && a[1] == 0 && a[2] == bpf_htonl(0xffff);
}

/*
 * Where a connect (or a datagram) on @ctx really goes, as rules see it: an
 * IPv4-mapped address as the IPv4 address it is, and the unspecified
 * address as the loopback the kernel turns it into (0.0.0.0 and
 * ::ffff:0.0.0.0 reach 127.0.0.1, :: reaches ::1), so that a rule on
 * loopback holds for its aliases.  Port in network order.
 */
static __always_inline void sr_dst_of(struct bpf_sock_addr *ctx, int family,
				      struct sr_addr *d)
{
	__builtin_memset(d, 0, sizeof(*d));
	d->port = (__u16)ctx->user_port;
	if (family == AF_INET) {
		d->family = AF_INET;
		d->addr[0] = ctx->user_ip4;
	} else {
		d->addr[0] = ctx->user_ip6[0];
		d->addr[1] = ctx->user_ip6[1];
		d->addr[2] = ctx->user_ip6[2];
		d->addr[3] = ctx->user_ip6[3];
		d->family = AF_INET6;
		if (sr_mapped(d->addr)) {
			d->family = AF_INET;
			d->addr[0] = d->addr[3];
			d->addr[2] = d->addr[3] = 0;
		}
	}
	if (d->family == AF_INET && !d->addr[0])
		d->addr[0] = bpf_htonl(0x7f000001);
	if (d->family == AF_INET6 &&
	    !(d->addr[0] | d->addr[1] | d->addr[2] | d->addr[3]))
		d->addr[3] = bpf_htonl(1);
}

/* Same family, address and port? */
static __always_inline int sr_addr_eq(const struct sr_addr *a,
				      const struct sr_addr *b)
{
	return a->family == b->family && a->port == b->port &&
	       a->addr[0] == b->addr[0] && a->addr[1] == b->addr[1] &&
	       a->addr[2] == b->addr[2] && a->addr[3] == b->addr[3];
}

#endif
