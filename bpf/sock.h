/* SPDX-License-Identifier: (GPL-2.0 OR MIT) */
/*
 * sock.h - the per-socket state: only for sockets this layer redirected,
 * handed to a proxy, or that a proxy gave records to.  Every other socket
 * pays nothing.
 */
#ifndef SOCKREDIR_SOCK_H
#define SOCKREDIR_SOCK_H

#include "sockredir_abi.h"

struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct sr_sock);
} sr_socks SEC(".maps");

/* The state of @sk, or NULL if the layer never touched it. */
static __always_inline struct sr_sock *sr_sock_get(void *sk)
{
	return sk ? bpf_sk_storage_get(&sr_socks, sk, 0, 0) : 0;
}

/*
 * The state of @sk, made if needed; NULL if it cannot be (the storage is
 * charged to the socket's option memory, which its owner can exhaust).
 */
static __always_inline struct sr_sock *sr_sock_make(void *sk)
{
	return sk ? bpf_sk_storage_get(&sr_socks, sk, 0,
				       BPF_SK_STORAGE_GET_F_CREATE) : 0;
}

#endif
