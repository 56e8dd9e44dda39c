// SPDX-License-Identifier: GPL-2.0
/*
 * flows.bpf.c - `sockredir flow list`: walk the TCP sockets with a BPF
 * iterator and write one sr_flow_row for each that carries a live flow in
 * the layer's per-socket state (sr_socks).  Its own object, loaded by the
 * library on demand on the pinned map (lib/flow.c): the layer itself
 * carries nothing for it, and the connect path pays nothing.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#include "observe_abi.h"

char LICENSE[] SEC("license") = "GPL";

#define TCP_CLOSE 7

/* The layer's socket state; lib/flow.c points this at the pinned map. */
struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct sr_sock);
} sr_socks SEC(".maps");

/* The kernel's types, as far as this reads them (CO-RE relocates). */
struct sock_common {
	unsigned char skc_state;
} __attribute__((preserve_access_index));
struct tcp_sock;
struct bpf_iter_meta {
	struct seq_file *seq;
} __attribute__((preserve_access_index));
struct bpf_iter__tcp {
	struct bpf_iter_meta *meta;
	struct sock_common *sk_common;
} __attribute__((preserve_access_index));

/*
 * Every TCP socket of the namespace the reader opened the iterator in
 * (lib/flow.c opens one per namespace).  An iterator over the storage map
 * itself (iter/bpf_sk_storage_map) would see every namespace at once, but
 * map element iterators are refused with EPERM on this project's kernel.
 */
SEC("iter/tcp")
int sr_flows(struct bpf_iter__tcp *ctx)
{
	struct sock_common *skc = ctx->sk_common;
	const struct sr_sock *s;
	struct sr_flow_row row;
	struct tcp_sock *tp;

	if (!skc)
		return 0;
	tp = bpf_skc_to_tcp_sock(skc);	/* not time-wait or request socks */
	if (!tp)
		return 0;
	s = bpf_sk_storage_get(&sr_socks, tp, 0, 0);
	if (!s)
		return 0;
	__builtin_memset(&row, 0, sizeof(row));
	row.state = skc->skc_state;
	/* Closed (never connected, or reset and not yet closed): no flow. */
	if (row.state == TCP_CLOSE)
		return 0;
	row.role = s->role;
	row.started = s->role == SR_ROLE_REDIRECTED ? s->started : 0;
	if (s->role == SR_ROLE_REDIRECTED || s->role == SR_ROLE_ACCEPTED)
		__builtin_memcpy(&row.flow, &s->flow, sizeof(row.flow));
	else if (s->has_given)	/* a last hop, to the destination */
		__builtin_memcpy(&row.flow.rec, &s->given_rec,
				 sizeof(row.flow.rec));
	else
		return 0;
	bpf_seq_write(ctx->meta->seq, &row, sizeof(row));
	return 0;
}
