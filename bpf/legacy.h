/* SPDX-License-Identifier: (GPL-2.0 OR MIT) */
/*
 * legacy.h - the sockets of an earlier build's flows, after an upgrade
 * from it.  Builds up to 3a26e43 (the congestion-control design) and
 * b4663f8 (the socket state tracepoint's) kept all of a socket's state in
 * one map, sr_socks (struct sr_sock: 592 bytes for every role); this build
 * keeps it in one map per role (sock.h) and never creates in sr_socks.
 * The map stays declared, its layout unchanged, so that `sockredir
 * upgrade` takes it over with the flows it holds, and the new programs
 * still serve those sockets: their proxies' queries, getpeername, the
 * publish of a connect in flight, their close (the pending entry, the
 * hop, the onward note), the records given to an onward socket.
 *
 * Read in place, never migrated: a socket's state is mostly met again in
 * its release or close, where no storage can be made (the kernel refuses
 * to create storage on a socket being destroyed), so migrating would
 * still need these readers; and reading costs nothing to move.
 *
 * All of it is behind one flag, sr_legacy, which only the upgrade sets
 * (lib/upgrade.c: from a layer without this build's maps), so a layer
 * brought up fresh pays one array load where it finds no state of its
 * own, and one per redirect.  The flag goes with the pins at `down`;
 * lib/flow.c's iterator (bpf/flows.bpf.c) reads sr_socks too, for `flow
 * list`.  This file can go
 * (with sr_socks, struct sr_sock, and the flag) once no layer older than
 * this build may still be upgraded in place; flows older than the upgrade
 * before that one are gone by then.
 *
 * Two parts: the readers below, for sock.h; and the flow's transitions
 * (publish, end), which need handoff.h's maps: handoff.h includes this
 * file again once it has declared them (SR_HANDOFF_DECLARED).
 */
#ifndef SOCKREDIR_LEGACY_H
#define SOCKREDIR_LEGACY_H

#include "sockredir_abi.h"
#include "sockmaps.h"

/* 1: this layer was upgraded from a build that kept state in sr_socks. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} sr_legacy SEC(".maps");

/* @sk's state of an earlier build, or NULL (none, or a fresh layer). */
static __always_inline struct sr_sock *sr_legacy_sock(void *sk)
{
	__u32 zero = 0, *on = bpf_map_lookup_elem(&sr_legacy, &zero);

	if (!on || !*on || !sk)
		return 0;
	return bpf_sk_storage_get(&sr_socks, sk, 0, 0);
}

/* An earlier build's accepted socket, read through struct sr_acc (whose
 * first part is laid out as sr_sock's: sockredir_abi.h). */
static __always_inline struct sr_acc *sr_legacy_acc(void *sk)
{
	struct sr_sock *s = sr_legacy_sock(sk);

	return s && s->role == SR_ROLE_ACCEPTED ? (struct sr_acc *)s : 0;
}

static __always_inline struct sr_records *sr_legacy_given(void *sk)
{
	struct sr_sock *s = sr_legacy_sock(sk);

	return s && s->has_given ? &s->given_rec : 0;
}

/* An earlier build's redirected socket: its original destination, and in
 * @to the listener it was sent to; NULL if it is none. */
static __always_inline const struct sr_addr *
sr_legacy_peer(void *sk, const struct sr_addr **to)
{
	struct sr_sock *s = sr_legacy_sock(sk);

	if (!s || s->role != SR_ROLE_REDIRECTED)
		return 0;
	*to = &s->target;
	return &s->flow.orig_dst;
}

#endif

#if defined(SR_HANDOFF_DECLARED) && !defined(SOCKREDIR_LEGACY_HANDOFF_H)
#define SOCKREDIR_LEGACY_HANDOFF_H

/*
 * An earlier build's redirected socket connected (sr_publish found no
 * state of this build's): publish its flow as that build did, from its
 * sr_sock.  Returns as sr_publish.
 */
static __always_inline int sr_legacy_publish(struct sock *sk)
{
	struct sr_sock *s = sr_legacy_sock(sk);
	struct sr_tuple t = {};

	/* Once, from its own connect, as sr_publish: CONNECTING with its
	 * connecting entry, or CHARGED (an earlier build's hook charged it
	 * itself). */
	if (!s || s->role != SR_ROLE_REDIRECTED || s->published == SR_PUB_PENDING)
		return -ENOENT;
	if (s->published == SR_PUB_CONNECTING &&
	    !sr_connecting_take(sr_sk_cookie(sk)))
		s->published = SR_PUB_NONE;
	if (s->published != SR_PUB_CONNECTING && s->published != SR_PUB_CHARGED) {
		s->role = 0;	/* nor does getpeername answer for it */
		return -ENOENT;
	}
	s->published = SR_PUB_CHARGED;
	sr_tuple(sk, 1, &t);
	if (!sr_tuple_to(&t, &s->target)) {
		s->role = 0;
		s->published = SR_PUB_NONE;
		sr_pending_charge(s->flow.quota_uid, -1);
		return -ENOENT;
	}
	sr_tuple_source(&t, &s->flow.orig_src);
	if (bpf_map_update_elem(&sr_pending, &t, &s->flow, BPF_NOEXIST)) {
		s->published = SR_PUB_NONE;
		sr_pending_charge(s->flow.quota_uid, -1);
		SR_COUNT(0, pending_busy, 1);
		return -EEXIST;
	}
	s->published = SR_PUB_PENDING;
	SR_GAUGE(0, live, 1);
	return 0;
}

/* What an earlier build's connect that no proxy took was charged goes
 * back (CHARGED: by its own hook; CONNECTING: held by its entry), as
 * sr_connect_uncharge does for this build's. */
static __always_inline void sr_legacy_uncharge(struct sr_sock *s, __u64 cookie)
{
	if (s->published == SR_PUB_CHARGED)
		sr_pending_charge(s->flow.quota_uid, -1);
	else if (s->published == SR_PUB_CONNECTING)
		sr_connecting_drop(cookie, s->flow.quota_uid);
	s->published = SR_PUB_NONE;
}

/* An earlier build's redirected socket's flow ended (@closed: the socket
 * closed or disconnected, and is no redirected one any more), as
 * sr_forget. */
static __always_inline int sr_legacy_forget(struct sock *sk, __u64 cookie,
					    int closed)
{
	struct sr_sock *s = sr_legacy_sock(sk);
	struct sr_tuple t = {};

	if (!s || s->role != SR_ROLE_REDIRECTED)
		return -ENOENT;
	if (closed)
		s->role = 0;
	if (!s->published)
		return -ENOENT;
	if (s->published == SR_PUB_PENDING) {
		t.netns = sr_sk_netns(sk);
		sr_tuple_from(&t, &s->target, &s->flow.orig_src);
		if (bpf_map_delete_elem(&sr_pending, &t) == 0) {
			sr_pending_charge(s->flow.quota_uid, -1);
			SR_COUNT(s->flow.service_id, pending_lost, 1);
		}
		SR_GAUGE(0, live, -1);
	}
	sr_legacy_uncharge(s, cookie);
	return 0;
}

/* The same, from a connect hook (no struct sock: the connect's own state
 * replaces it; what it held is given back). */
static __always_inline void sr_legacy_retire(struct bpf_sock_addr *ctx,
					     __u64 cookie)
{
	struct sr_sock *s = sr_legacy_sock(ctx->sk);

	if (!s || s->role != SR_ROLE_REDIRECTED)
		return;
	sr_legacy_uncharge(s, cookie);
	s->role = 0;
}

#endif
