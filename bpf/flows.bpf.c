// SPDX-License-Identifier: GPL-2.0
/*
 * flows.bpf.c - `sockredir flow list`: walk the TCP sockets with a BPF
 * iterator and write one sr_flow_row for each that carries a live flow in
 * the layer's per-socket state (bpf/sock.h).  Its own object, loaded by the
 * library on demand on the pinned map (lib/flow.c): the layer itself
 * carries nothing for it, and the connect path pays nothing.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#include "observe_abi.h"
#include "sockmaps.h"	/* lib/flow.c points them at the pinned maps */

char LICENSE[] SEC("license") = "GPL";

#define TCP_CLOSE 7

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
	const struct sr_records *given;
	const struct sr_conn *c;
	const struct sr_acc *a;
	const struct sr_sock *s;
	struct sr_flow_row row;
	struct tcp_sock *tp;

	if (!skc)
		return 0;
	tp = bpf_skc_to_tcp_sock(skc);	/* not time-wait or request socks */
	if (!tp)
		return 0;
	/* Closed (never connected, or reset and not yet closed): no flow. */
	if (skc->skc_state == TCP_CLOSE)
		return 0;
	__builtin_memset(&row, 0, sizeof(row));
	row.state = skc->skc_state;
	c = bpf_sk_storage_get(&sr_conns, tp, 0, 0);
	a = c ? 0 : bpf_sk_storage_get(&sr_accepted, tp, 0, 0);
	s = c || a ? 0 : bpf_sk_storage_get(&sr_socks, tp, 0, 0);
	if (c && c->role == SR_ROLE_REDIRECTED) {
		/* The application's end: the flow's identity is on the
		 * accepted socket's row (or in the pending map, on its way). */
		row.role = c->role;
		row.started = c->started;
		row.flow.rec.flow_id = c->flow_id;
		row.flow.orig_dst = c->orig_dst;
		row.flow.orig_src = c->orig_src;
		row.flow.service_id = c->service_id;
	} else if (a) {
		row.role = SR_ROLE_ACCEPTED;
		__builtin_memcpy(&row.flow, &a->flow, sizeof(row.flow));
	} else if (s && (s->role == SR_ROLE_REDIRECTED ||
			 s->role == SR_ROLE_ACCEPTED)) {
		row.role = s->role;
		row.started = s->role == SR_ROLE_REDIRECTED ? s->started : 0;
		__builtin_memcpy(&row.flow, &s->flow, sizeof(row.flow));
	} else {
		/* A last hop, to the destination: records given, no redirect. */
		given = bpf_sk_storage_get(&sr_given, tp, 0, 0);
		if (!given && s && s->has_given)
			given = &s->given_rec;
		if (!given)
			return 0;
		__builtin_memcpy(&row.flow.rec, given, sizeof(row.flow.rec));
	}
	bpf_seq_write(ctx->meta->seq, &row, sizeof(row));
	return 0;
}
