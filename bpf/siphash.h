/* SPDX-License-Identifier: (GPL-2.0 OR MIT) */
/*
 * siphash.h - SipHash-2-4 over whole 64-bit words, for BPF and user space.
 * The records' MAC; small enough for the verifier, fast enough to run only
 * when a flow is redirected or records are set.
 */
#ifndef SOCKREDIR_SIPHASH_H
#define SOCKREDIR_SIPHASH_H

#include <linux/types.h>

#define SR_ROTL(x, b) (((x) << (b)) | ((x) >> (64 - (b))))
#define SR_SIPROUND						\
	do {							\
		v0 += v1; v1 = SR_ROTL(v1, 13); v1 ^= v0;	\
		v0 = SR_ROTL(v0, 32);				\
		v2 += v3; v3 = SR_ROTL(v3, 16); v3 ^= v2;	\
		v0 += v3; v3 = SR_ROTL(v3, 21); v3 ^= v0;	\
		v2 += v1; v1 = SR_ROTL(v1, 17); v1 ^= v2;	\
		v2 = SR_ROTL(v2, 32);				\
	} while (0)

/* n words of input; the length byte is n * 8, as in the reference. */
static __always_inline __u64 sr_siphash(const __u64 *w, int n,
					 __u64 k0, __u64 k1)
{
	__u64 v0 = 0x736f6d6570736575ULL ^ k0;
	__u64 v1 = 0x646f72616e646f6dULL ^ k1;
	__u64 v2 = 0x6c7967656e657261ULL ^ k0;
	__u64 v3 = 0x7465646279746573ULL ^ k1;
	__u64 b = ((__u64)(n * 8)) << 56;
	int i;

#ifdef __clang__
#pragma unroll
#endif
	for (i = 0; i < n; i++) {
		v3 ^= w[i];
		SR_SIPROUND;
		SR_SIPROUND;
		v0 ^= w[i];
	}
	v3 ^= b;
	SR_SIPROUND;
	SR_SIPROUND;
	v0 ^= b;
	v2 ^= 0xff;
	SR_SIPROUND;
	SR_SIPROUND;
	SR_SIPROUND;
	SR_SIPROUND;
	return v0 ^ v1 ^ v2 ^ v3;
}

#endif
