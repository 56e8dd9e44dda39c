/* SPDX-License-Identifier: (GPL-2.0 OR MIT) */
/*
 * handoff.h - carrying a flow from the redirected socket to the socket its
 * proxy accepts.  At connect the client port is not known yet; when the SYN
 * is about to leave (sockops) the flow is published under its 4-tuple, and
 * when the proxy's side of the handshake completes the accepted socket
 * adopts it.  A client that closes first takes its entry back.
 */
#ifndef SOCKREDIR_HANDOFF_H
#define SOCKREDIR_HANDOFF_H

#include "addr.h"
#include "forward.h"
#include "maps.h"
#include "sock.h"

/*
 * Flows on their way to a proxy, by 4-tuple, until the proxy's accept (or
 * the client's close) takes them out.  LRU bounds it if neither comes.
 */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, SR_PENDING_MAX);
	__type(key, struct sr_tuple);
	__type(value, struct sr_flow);
} sr_pending SEC(".maps");

/* The 4-tuple of a sockops socket, client first. */
static __always_inline void sr_tuple(struct bpf_sock_ops *skops, int client,
				     struct sr_tuple *t)
{
	__u16 lport = skops->local_port, rport = bpf_ntohl(skops->remote_port);

	t->netns = bpf_get_netns_cookie(skops);
	t->family = skops->family;
	if (t->family == AF_INET) {
		t->saddr[0] = client ? skops->local_ip4 : skops->remote_ip4;
		t->daddr[0] = client ? skops->remote_ip4 : skops->local_ip4;
	} else if (client) {
		t->saddr[0] = skops->local_ip6[0];
		t->saddr[1] = skops->local_ip6[1];
		t->saddr[2] = skops->local_ip6[2];
		t->saddr[3] = skops->local_ip6[3];
		t->daddr[0] = skops->remote_ip6[0];
		t->daddr[1] = skops->remote_ip6[1];
		t->daddr[2] = skops->remote_ip6[2];
		t->daddr[3] = skops->remote_ip6[3];
	} else {
		t->saddr[0] = skops->remote_ip6[0];
		t->saddr[1] = skops->remote_ip6[1];
		t->saddr[2] = skops->remote_ip6[2];
		t->saddr[3] = skops->remote_ip6[3];
		t->daddr[0] = skops->local_ip6[0];
		t->daddr[1] = skops->local_ip6[1];
		t->daddr[2] = skops->local_ip6[2];
		t->daddr[3] = skops->local_ip6[3];
	}
	t->sport = client ? lport : rport;
	t->dport = client ? rport : lport;
	/* An IPv6 socket on IPv4-mapped addresses meets an IPv4 listener. */
	if (t->family == AF_INET6 && sr_mapped(t->saddr) && sr_mapped(t->daddr)) {
		t->family = AF_INET;
		t->saddr[0] = t->saddr[3];
		t->daddr[0] = t->daddr[3];
		t->saddr[2] = t->saddr[3] = t->daddr[2] = t->daddr[3] = 0;
	}
}

/*
 * Client side, SYN about to go out: publish the flow.  Returns 0, or
 * -ENOENT (not a redirected socket, or no longer connecting to the listener
 * it was sent to: that flow is over), -EEXIST (the 4-tuple is pending
 * already: the flow is not tracked).
 */
static __always_inline int sr_publish(struct bpf_sock_ops *skops)
{
	struct sr_sock *s = sr_sock_get(skops->sk);
	struct sr_tuple t = {};

	if (!s || s->role != SR_ROLE_REDIRECTED || s->published)
		return -ENOENT;
	sr_tuple(skops, 1, &t);
	if (t.family != s->target.family || t.daddr[0] != s->target.addr[0] ||
	    t.daddr[1] != s->target.addr[1] || t.daddr[2] != s->target.addr[2] ||
	    t.daddr[3] != s->target.addr[3] ||
	    t.dport != bpf_ntohs(s->target.port)) {
		s->role = 0;
		return -ENOENT;
	}
	s->flow.orig_src.family = t.family;
	s->flow.orig_src.port = bpf_htons(t.sport);
	s->flow.orig_src.addr[0] = t.saddr[0];
	s->flow.orig_src.addr[1] = t.saddr[1];
	s->flow.orig_src.addr[2] = t.saddr[2];
	s->flow.orig_src.addr[3] = t.saddr[3];
	if (bpf_map_update_elem(&sr_pending, &t, &s->flow, BPF_NOEXIST)) {
		SR_COUNT(0, pending_busy, 1);
		return -EEXIST;
	}
	s->published = 1;
	bpf_sock_ops_cb_flags_set(skops, skops->bpf_sock_ops_cb_flags |
					 BPF_SOCK_OPS_STATE_CB_FLAG);
	SR_COUNT(0, live, 1);
	return 0;
}

/*
 * Proxy side, handshake done: move the flow onto the accepted socket.
 * Returns 0, -ENOENT (no flow pending on this 4-tuple), -ENOMEM.
 */
static __always_inline int sr_adopt(struct bpf_sock_ops *skops)
{
	struct sr_tuple t = {};
	struct sr_flow *f;
	struct sr_sock *s;

	if (!skops->sk)
		return -ENOENT;
	sr_tuple(skops, 0, &t);
	f = bpf_map_lookup_elem(&sr_pending, &t);
	if (!f)
		return -ENOENT;
	s = sr_sock_make(skops->sk);
	if (s) {
		__builtin_memcpy(&s->flow, f, sizeof(*f));
		s->role = SR_ROLE_ACCEPTED;
		/* Note it for its proxy's onward connect; its close ends it. */
		sr_onward_note(skops, s);
		bpf_sock_ops_cb_flags_set(skops, skops->bpf_sock_ops_cb_flags |
						 BPF_SOCK_OPS_STATE_CB_FLAG);
	}
	bpf_map_delete_elem(&sr_pending, &t);
	return s ? 0 : -ENOMEM;
}

/* Client side closed: take its pending entry back if no proxy took it. */
static __always_inline int sr_forget(struct bpf_sock_ops *skops)
{
	struct sr_tuple t = {};
	struct sr_sock *s;

	if (skops->args[1] != BPF_TCP_CLOSE)
		return 0;
	s = sr_sock_get(skops->sk);
	if (!s || s->role != SR_ROLE_REDIRECTED || !s->published)
		return -ENOENT;
	s->published = 0;
	sr_tuple(skops, 1, &t);
	if (bpf_map_delete_elem(&sr_pending, &t) == 0)
		SR_COUNT(s->flow.service_id, pending_lost, 1);
	SR_COUNT(0, live, -1);
	return 0;
}

#endif
