/* SPDX-License-Identifier: (GPL-2.0 OR MIT) */
/*
 * listener.h - can a service's listener take a connect now, and who holds
 * it.  A connect is sent to a service only if the socket that would receive
 * it carries the service's claim (claim.h) and its accept queue has room: a
 * proxy that is stopped, deadlocked or saturated keeps its listener, but
 * once the queue is full the kernel drops the SYN and the application would
 * hang in SYN retries, so the service is treated as if its listener were
 * gone and its fail mode applies at once.
 *
 * What the hooks see is kept per service and family in sr_holders, for the
 * control plane to show (service list, status): who claimed the listener
 * (pid, how) and what the last connect found there.
 */
#ifndef SOCKREDIR_LISTENER_H
#define SOCKREDIR_LISTENER_H

#include "claim.h"
#include "maps.h"
#include "ksock.h"
#include "service.h"

/* Slot of service @id's listener in @family. */
static __always_inline __u32 sr_holder_slot(__u32 id, int family)
{
	return (id & (SR_MAX_SERVICES - 1)) * 2 + (family == AF_INET6);
}

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, SR_MAX_SERVICES * 2);
	__type(key, __u32);
	__type(value, struct sr_holder);
} sr_holders SEC(".maps");

/* Note that @svc's listener in @family (port @port) was just claimed, @how. */
static __always_inline void sr_holder_note(const struct sr_service *svc,
					   int family, __u16 port, __u8 how,
					   __u64 netns)
{
	__u32 slot = sr_holder_slot(svc->id, family);
	struct sr_holder *h = bpf_map_lookup_elem(&sr_holders, &slot);

	if (!h)
		return;
	h->gen = svc->gen;
	h->pid = bpf_get_current_pid_tgid() >> 32;
	h->uid = (__u32)bpf_get_current_uid_gid();
	h->how = how;
	h->state = SR_LSN_OK;
	h->port = port;
	h->netns = netns;
	h->claimed_ns = bpf_ktime_get_boot_ns();
	h->seen_ns = h->claimed_ns;
	h->backlog = h->max_backlog = 0;
}

/* SOCKREDIR_CLAIM on @ctx's socket succeeded: note who made it. */
static __always_inline void sr_holder_claimed(struct bpf_sockopt *ctx)
{
	struct bpf_sock *sk = ctx->sk;
	const struct sr_service *svc;
	const struct sr_claim *c;

	if (!sk)
		return;
	c = bpf_sk_storage_get(&sr_claims, sk, 0, 0);
	svc = c ? sr_service_get(c->service_id) : 0;
	if (svc)
		sr_holder_note(svc, sk->family, sk->src_port, SR_CLAIM_EXPLICIT,
			       bpf_get_netns_cookie(ctx));
}

/* post_bind: the owner's socket @sk became service @sid's listener. */
static __always_inline void sr_holder_bound(struct bpf_sock *sk, __u32 sid,
					    int family)
{
	const struct sr_service *svc = sid ? sr_service_get(sid) : 0;

	if (svc)
		sr_holder_note(svc, family, sk->src_port, SR_CLAIM_BY_OWNER,
			       bpf_get_netns_cookie(sk));
}

/*
 * A claimed listener closed (the socket state tracepoint, handoff.h): its
 * service's listener is gone.
 */
static __always_inline void sr_holder_closed(struct sock *sk, int oldstate,
					     int family)
{
	const struct sr_claim *c;
	struct sr_holder *h;
	__u32 slot;

	if (oldstate != BPF_TCP_LISTEN)
		return;
	c = bpf_sk_storage_get(&sr_claims, sk, 0, 0);
	if (!c)
		return;
	slot = sr_holder_slot(c->service_id, family);
	h = bpf_map_lookup_elem(&sr_holders, &slot);
	if (h && h->gen == c->gen) {
		h->how = 0;	/* not claimed now; pid says who had it */
		h->state = SR_LSN_GONE;
		h->seen_ns = bpf_ktime_get_boot_ns();
	}
}

/* Note what a connect found at @svc's listener; written only on change. */
static __always_inline void sr_holder_seen(const struct sr_service *svc,
					   int family, __u8 state,
					   __u32 backlog, __u32 max)
{
	__u32 slot = sr_holder_slot(svc->id, family);
	struct sr_holder *h = bpf_map_lookup_elem(&sr_holders, &slot);

	if (!h)
		return;
	if (h->gen && h->gen != svc->gen)
		/* A claim on an earlier service of this id: forget it. */
		__builtin_memset(h, 0, sizeof(*h));
	else if (h->state == state)
		return;
	h->state = state;
	h->backlog = backlog;
	h->max_backlog = max;
	h->seen_ns = bpf_ktime_get_boot_ns();
}

/*
 * What is at @svc's listener in @family for a connect now: SR_LSN_OK (its
 * claimed listener, with room), SR_LSN_GONE (nothing listens),
 * SR_LSN_SQUATTED (a socket without the claim would receive it), or
 * SR_LSN_OVERLOADED (the claimed listener's accept queue is full).
 */
static __always_inline int sr_listener_state(struct bpf_sock_addr *ctx,
					     const struct sr_service *svc,
					     int family)
{
	struct bpf_sock_tuple t = {};
	struct tcp_sock *tp;
	struct bpf_sock *sk;
	struct sr_claim *c;
	__u32 backlog = 0, max = 0;
	int state;

	if (family == AF_INET) {
		t.ipv4.daddr = svc->addr4;
		t.ipv4.dport = svc->port4;
		sk = bpf_sk_lookup_tcp(ctx, &t, sizeof(t.ipv4),
				       BPF_F_CURRENT_NETNS, 0);
	} else {
		__builtin_memcpy(t.ipv6.daddr, svc->addr6, 16);
		t.ipv6.dport = svc->port6;
		sk = bpf_sk_lookup_tcp(ctx, &t, sizeof(t.ipv6),
				       BPF_F_CURRENT_NETNS, 0);
	}
	if (!sk) {
		sr_holder_seen(svc, family, SR_LSN_GONE, 0, 0);
		return SR_LSN_GONE;
	}
	c = bpf_sk_storage_get(&sr_claims, sk, 0, 0);
	state = c && c->service_id == svc->id && c->gen == svc->gen ?
			SR_LSN_OK : SR_LSN_SQUATTED;
	/* The kernel's sk_acceptq_is_full(): the next SYN would be dropped.
	 * A BTF pointer: the loads are the kernel's checked probe reads. */
	tp = bpf_skc_to_tcp_sock(sk);
	if (tp) {
		backlog = ((struct sock *)tp)->sk_ack_backlog;
		max = ((struct sock *)tp)->sk_max_ack_backlog;
		if (state == SR_LSN_OK && backlog > max)
			state = SR_LSN_OVERLOADED;
	}
	/* A claimed [::] listener takes IPv4 too: note it where it claimed. */
	if (state != SR_LSN_SQUATTED)
		family = sk->family;
	bpf_sk_release(sk);
	sr_holder_seen(svc, family, state, backlog, max);
	return state;
}

#endif
