/* SPDX-License-Identifier: (GPL-2.0 OR MIT) */
/* addr.h - address helpers shared by the hooks. */
#ifndef SOCKREDIR_ADDR_H
#define SOCKREDIR_ADDR_H

/* ::ffff:a.b.c.d: an IPv6 socket talking IPv4 (Java does, by default). */
static __always_inline int sr_mapped(const __u32 *a)
{
	return a[0] == 0 && a[1] == 0 && a[2] == bpf_htonl(0xffff);
}

#endif
