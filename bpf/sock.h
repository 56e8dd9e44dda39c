/* SPDX-License-Identifier: (GPL-2.0 OR MIT) */
/*
 * sock.h - the per-socket state, one map per role (sockredir_abi.h): only
 * for sockets this layer redirected, handed to a proxy, or that a proxy
 * gave records to.  Every other socket pays nothing.  Each accessor also
 * finds the state an earlier build left on a socket, after an upgrade from
 * it (legacy.h); a layer that was brought up fresh pays one array load for
 * that, only where no state of its own is found.
 */
#ifndef SOCKREDIR_SOCK_H
#define SOCKREDIR_SOCK_H

#include "sockredir_abi.h"
#include "legacy.h"
#include "sockmaps.h"

/*
 * Where the connect hook makes a flow's body before it goes to
 * sr_connect_flows (handoff.h): the hook's stack is near its 512 bytes.
 * The decision event of that connect reads it there too (events.h).
 */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct sr_flow);
} sr_flow_scratch SEC(".maps");

static __always_inline struct sr_flow *sr_flow_room(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&sr_flow_scratch, &zero);
}

/* The redirected state of @sk, or NULL. */
static __always_inline struct sr_conn *sr_conn_get(void *sk)
{
	return sk ? bpf_sk_storage_get(&sr_conns, sk, 0, 0) : 0;
}

/* The same, made if needed; NULL if it cannot be (the storage is charged
 * to the socket's option memory, which its owner can exhaust). */
static __always_inline struct sr_conn *sr_conn_make(void *sk)
{
	return sk ? bpf_sk_storage_get(&sr_conns, sk, 0,
				       BPF_SK_STORAGE_GET_F_CREATE) : 0;
}

/* The accepted socket @sk's state (its flow adopted), or NULL; an earlier
 * build's accepted socket is read through the same struct (legacy.h). */
static __always_inline struct sr_acc *sr_acc_get(void *sk)
{
	struct sr_acc *a;

	if (!sk)
		return 0;
	a = bpf_sk_storage_get(&sr_accepted, sk, 0, 0);
	return a ? a : sr_legacy_acc(sk);
}

static __always_inline struct sr_acc *sr_acc_make(void *sk)
{
	return sk ? bpf_sk_storage_get(&sr_accepted, sk, 0,
				       BPF_SK_STORAGE_GET_F_CREATE) : 0;
}

/* The records a proxy gave @sk, or NULL. */
static __always_inline struct sr_records *sr_given_get(void *sk)
{
	struct sr_records *r;

	if (!sk)
		return 0;
	r = bpf_sk_storage_get(&sr_given, sk, 0, 0);
	return r ? r : sr_legacy_given(sk);
}

static __always_inline struct sr_records *sr_given_make(void *sk)
{
	return sk ? bpf_sk_storage_get(&sr_given, sk, 0,
				       BPF_SK_STORAGE_GET_F_CREATE) : 0;
}

#endif
