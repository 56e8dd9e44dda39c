/* SPDX-License-Identifier: (GPL-2.0 OR MIT) */
/*
 * handoff.h - carrying a flow from the redirected socket to the socket its
 * proxy accepts.  At connect the client port is not known yet; when the
 * client's side of the handshake completes the flow is published under its
 * 4-tuple, and when the proxy's side completes (after it: our ACK does
 * that) the accepted socket adopts it.  A client that closes first takes
 * its entry back.  While an accepted socket is open its hop is live: only
 * then may the proxy give that hop's records to an onward socket.
 *
 * No program runs for this on any other socket:
 *
 *  - the redirected socket: the connect hook gives it the layer's TCP
 *    congestion control, "sockredir" (cc.h: Reno's arithmetic, a
 *    struct_ops of the kernel's tcp_congestion_ops).  Its init callback
 *    runs when the client's side is connected (tcp_init_transfer, the
 *    4-tuple known): sr_publish.  Its release runs when the socket is
 *    destroyed or disconnected: sr_forget.  A connect that never
 *    completes (refused, timed out, closed while connecting) runs
 *    neither, so the quota it was
 *    charged at connect is held by an sr_connecting entry that its publish
 *    takes, or a sweep gives back (SR_CONNECT_NS: longer than the
 *    handshake may take, SR_CONNECT_SYNCNT SYNs on this loopback leg).  An
 *    application that sets another congestion control runs release at
 *    once: its flow was redirected at connect and stays so; if no proxy
 *    had adopted it, the proxy finds no flow (ENOENT), as for any flow
 *    not published.
 *  - the proxy's sockets: a cgroup sockops program (sr_proxy_ops) on the
 *    services' owner cgroups only, where the socket-option hooks are
 *    (lib/scope.c).  The accepted socket adopts at
 *    PASSIVE_ESTABLISHED; only sockets that carry the layer's state (an
 *    adopted one, a listener) ask for state callbacks, to see their close:
 *    the hop ends, the onward note ends, a claimed listener is gone.
 *
 * An earlier build did all of this from the host's socket state tracepoint
 * (sr_sock_state_change, below); a layer upgraded from such a build keeps
 * it attached, for the sockets of that build's flows (lib/upgrade.c).
 * Each step is done once whichever program runs it first.
 */
#ifndef SOCKREDIR_HANDOFF_H
#define SOCKREDIR_HANDOFF_H

#include "addr.h"
#include "claim.h"
#include "forward.h"
#include "ksock.h"
#include "listener.h"
#include "maps.h"
#include "sock.h"

/*
 * Flows on their way to a proxy, by 4-tuple, until the proxy's accept (or
 * the client's close) takes them out.  Not an LRU: nobody's flood may evict
 * another's flow.  Instead each uid may hold SR_PENDING_PER_UID of them,
 * counted from its redirect at connect (a flow whose handshake never
 * completes is on its way too), and the connect hook stops admitting
 * SR_PENDING_SPARE short of the table's size, so a flow is refused at
 * connect, visibly, rather than lost on the way.
 */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, SR_PENDING_MAX);
	__type(key, struct sr_tuple);
	__type(value, struct sr_flow);
} sr_pending SEC(".maps");

#define SR_PENDING_SPARE	1024

/* Pending flows per uid (uids without any may have no entry). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, __u32);
	__type(value, __u32);
} sr_pending_uids SEC(".maps");

/* Pending flows in all. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __s64);
} sr_pending_count SEC(".maps");

/* May @uid start one more flow towards a proxy?  0, or -ENOBUFS. */
static __always_inline int sr_pending_admit(__u32 uid)
{
	__u32 zero = 0, *n = bpf_map_lookup_elem(&sr_pending_uids, &uid);
	__s64 *all = bpf_map_lookup_elem(&sr_pending_count, &zero);

	if (n && *n >= SR_PENDING_PER_UID)
		return -ENOBUFS;
	if (all && *all >= SR_PENDING_MAX - SR_PENDING_SPARE)
		return -ENOBUFS;
	return 0;
}

/* One more (@d 1) or one fewer (-1) pending flow of @uid's. */
static __always_inline void sr_pending_charge(__u32 uid, int d)
{
	__u32 zero = 0, one = 1, *n;
	__s64 *all = bpf_map_lookup_elem(&sr_pending_count, &zero);

	if (all)
		__sync_fetch_and_add(all, d);
	n = bpf_map_lookup_elem(&sr_pending_uids, &uid);
	if (n) {
		__sync_fetch_and_add(n, d);
		return;
	}
	if (d > 0 && bpf_map_update_elem(&sr_pending_uids, &uid, &one, BPF_NOEXIST)) {
		n = bpf_map_lookup_elem(&sr_pending_uids, &uid);
		if (n)
			__sync_fetch_and_add(n, d);
	}
}

/*
 * Connects charged to their uid's pending flows and not connected yet,
 * by socket cookie; each entry holds its charge until its socket's publish
 * takes it, or the sweep gives it back SR_CONNECT_NS after the connect.
 * Whoever deletes the entry owns the charge, so it is given back once.
 */
#define SR_CONNECT_SYNCNT	2	/* SYNs at 0, 1 and 3 s: done by 7 s */
#define SR_CONNECT_NS		(8ULL * 1000000000ULL)
#define SR_CONNECT_SWEEP_NS	(1000ULL * 1000000ULL)

struct sr_connecting {
	__u32 uid;
	__u32 pad;
	__u64 since;		/* ktime of the connect */
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, SR_PENDING_MAX);
	__type(key, __u64);
	__type(value, struct sr_connecting);
} sr_connecting SEC(".maps");

/*
 * One timer sweeps them, while there are any.  Not a timer per entry:
 * those are allocated without locks, and this kernel failed that for one
 * connect in twenty (bpf/udpflow.h saw the same).
 */
struct sr_connect_sweeper {
	struct bpf_timer timer;
	__s64 n;		/* entries in sr_connecting */
	__u32 inited;		/* the timer is made */
	__u32 running;		/* it is armed, or about to be */
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct sr_connect_sweeper);
} sr_connect_sweeper SEC(".maps");

/* The entry and its key, off the connect hook's stack (at 504 bytes). */
struct sr_connecting_room {
	__u64 cookie;
	struct sr_connecting c;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct sr_connecting_room);
} sr_connecting_scratch SEC(".maps");

static __always_inline struct sr_connect_sweeper *sr_connect_sweeper_get(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&sr_connect_sweeper, &zero);
}

/* An entry is gone (its deleter owns the charge). */
static __always_inline void sr_connecting_gone(void)
{
	struct sr_connect_sweeper *w = sr_connect_sweeper_get();

	if (w)
		__sync_fetch_and_add(&w->n, -1);
}

static long sr_connect_sweep_one(void *map, __u64 *key, struct sr_connecting *c,
				 __u64 *now)
{
	__u32 uid = c->uid;

	if (c->since < *now && *now - c->since >= SR_CONNECT_NS &&
	    !bpf_map_delete_elem(map, key)) {
		sr_pending_charge(uid, -1);
		sr_connecting_gone();
	}
	return 0;
}

/* Every SR_CONNECT_SWEEP_NS while entries are left. */
static int sr_connect_sweep(void *map, __u32 *key, struct sr_connect_sweeper *w)
{
	__u64 now = bpf_ktime_get_ns();

	bpf_for_each_map_elem(&sr_connecting, sr_connect_sweep_one, &now, 0);
	if (w->n <= 0) {
		/* Stop, then look again: a connect that counted its entry
		 * meanwhile may have seen the sweep still running.  (A
		 * locked add, then the read: no fence in BPF; the kick does
		 * the same the other way.) */
		__sync_fetch_and_add(&w->running, -1);
		if (w->n <= 0)
			return 0;
		__sync_fetch_and_add(&w->running, 1);
	}
	bpf_timer_start(&w->timer, SR_CONNECT_SWEEP_NS, 0);
	return 0;
}

/* An entry was added: have the sweep run (made once; again if that
 * failed before). */
static __always_inline void sr_connect_sweeper_kick(struct sr_connect_sweeper *w)
{
	__sync_fetch_and_add(&w->n, 1);
	if (w->running)
		return;
	if (!w->inited) {
		if (bpf_timer_init(&w->timer, &sr_connect_sweeper, CLOCK_MONOTONIC) &&
		    !w->inited)
			return;
		w->inited = 1;
	}
	if (!bpf_timer_set_callback(&w->timer, sr_connect_sweep) &&
	    !bpf_timer_start(&w->timer, SR_CONNECT_SWEEP_NS, 0))
		w->running = 1;
}

/*
 * The connect of the socket with @cookie is charged to @uid: hold the
 * charge (the caller made it) until its publish or the sweep.  Returns 0,
 * -ENOBUFS (the cookie is there, or the table is full), -ENOMEM.
 */
static __always_inline int sr_connecting_start(__u64 cookie, __u32 uid)
{
	struct sr_connect_sweeper *w = sr_connect_sweeper_get();
	struct sr_connecting_room *v;
	__u32 zero = 0;

	v = bpf_map_lookup_elem(&sr_connecting_scratch, &zero);
	if (!v || !w)
		return -ENOMEM;
	v->cookie = cookie;
	v->c.uid = uid;
	v->c.pad = 0;
	v->c.since = bpf_ktime_get_ns();
	if (bpf_map_update_elem(&sr_connecting, &v->cookie, &v->c, BPF_NOEXIST))
		return -ENOBUFS;
	sr_connect_sweeper_kick(w);
	return 0;
}

/* Take the entry of @cookie: 1 if it was there (its charge is the
 * caller's now), 0 if the sweep gave the charge back already. */
static __always_inline int sr_connecting_take(__u64 cookie)
{
	if (bpf_map_delete_elem(&sr_connecting, &cookie))
		return 0;
	sr_connecting_gone();
	return 1;
}

/* A connect of @uid that held an entry is over: give its charge back. */
static __always_inline void sr_connecting_drop(__u64 cookie, __u32 uid)
{
	if (sr_connecting_take(cookie))
		sr_pending_charge(uid, -1);
}

/*
 * A redirected socket's connect that no proxy took is over (it failed,
 * the socket closed, or it connects again): give back what it was
 * charged, by connecting entry (@cookie: the socket's) or directly.
 */
static __always_inline void sr_connect_uncharge(struct sr_sock *s, __u64 cookie)
{
	if (s->published == SR_PUB_CHARGED)
		sr_pending_charge(s->flow.quota_uid, -1);
	else if (s->published == SR_PUB_CONNECTING)
		sr_connecting_drop(cookie, s->flow.quota_uid);
	s->published = SR_PUB_NONE;
}

/* A hop of a flow: the records' flow id and hop count at that hop. */
struct sr_hop {
	__u64 flow_id;
	__u32 hop;
	__u32 pad;
};
#define SR_LIVE_HOPS_MAX	262144

/* Live hops -> how many accepted sockets hold them (a proxy may fork a
 * flow onward twice). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, SR_LIVE_HOPS_MAX);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct sr_hop);
	__type(value, __u32);
} sr_live_hops SEC(".maps");

/* Is the hop @r was issued for still open?  0, or -ESTALE (it ended). */
static __always_inline int sr_hop_live(const struct sr_records *r)
{
	struct sr_hop h = { .flow_id = r->flow_id, .hop = r->nhops };

	return bpf_map_lookup_elem(&sr_live_hops, &h) ? 0 : -ESTALE;
}

static __always_inline int sr_hop_hold(const struct sr_records *r)
{
	struct sr_hop h = { .flow_id = r->flow_id, .hop = r->nhops };
	__u32 one = 1, *n;

	n = bpf_map_lookup_elem(&sr_live_hops, &h);
	if (n) {
		__sync_fetch_and_add(n, 1);
		return 0;
	}
	return bpf_map_update_elem(&sr_live_hops, &h, &one, BPF_NOEXIST) ? -ENOMEM : 0;
}

static __always_inline void sr_hop_release(const struct sr_records *r)
{
	struct sr_hop h = { .flow_id = r->flow_id, .hop = r->nhops };
	__u32 *n = bpf_map_lookup_elem(&sr_live_hops, &h);

	if (!n)
		return;
	/* Compiler: a fetching atomic needs -mcpu=v3, so add, then read; two
	 * closes at once may both delete, which is harmless. */
	__sync_fetch_and_add(n, -1);
	if (*n == 0 || *n > SR_LIVE_HOPS_MAX)
		bpf_map_delete_elem(&sr_live_hops, &h);
}

/* An IPv6 socket on IPv4-mapped addresses meets an IPv4 listener. */
static __always_inline void sr_tuple_unmap(struct sr_tuple *t)
{
	if (t->family == AF_INET6 && sr_mapped(t->saddr) && sr_mapped(t->daddr)) {
		t->family = AF_INET;
		t->saddr[0] = t->saddr[3];
		t->daddr[0] = t->daddr[3];
		t->saddr[2] = t->saddr[3] = t->daddr[2] = t->daddr[3] = 0;
	}
}

/*
 * The 4-tuple of TCP socket @sk, client first (@client: @sk is the
 * client's).  Not at close: by then the kernel has put the local port back
 * (sr_forget rebuilds the tuple from the socket's state instead).
 */
static __always_inline void sr_tuple(struct sock *sk, int client,
				     struct sr_tuple *t)
{
	struct sock_common *c = &sk->__sk_common;
	__u16 lport = c->skc_num, rport = bpf_ntohs(c->skc_dport);
	__u32 *s = client ? t->saddr : t->daddr, *d = client ? t->daddr : t->saddr;
	int i;

	t->netns = sr_sk_netns(sk);
	t->family = c->skc_family;
	if (t->family == AF_INET) {
		s[0] = c->skc_rcv_saddr;
		d[0] = c->skc_daddr;
	} else {
		for (i = 0; i < 4; i++) {
			s[i] = c->skc_v6_rcv_saddr.in6_u.u6_addr32[i];
			d[i] = c->skc_v6_daddr.in6_u.u6_addr32[i];
		}
	}
	t->sport = client ? lport : rport;
	t->dport = client ? rport : lport;
	sr_tuple_unmap(t);
}

/*
 * Client side, connected (ESTABLISHED from SYN_SENT: the proxy's side of
 * the handshake completes only after this, when our ACK reaches it):
 * publish the flow.  Returns 0, or -ENOENT (not a redirected socket, or
 * not connected to the listener it was sent to: that flow is over),
 * -EEXIST (the 4-tuple is pending already: the flow is not tracked).
 */
static __always_inline int sr_publish(struct sock *sk)
{
	struct sr_sock *s = sr_sock_get(sk);
	struct sr_tuple t = {};

	/*
	 * A redirect publishes once, from its own connect.  Its charge is
	 * held by its connecting entry, which outlives the handshake that
	 * connect may take (SR_CONNECT_NS); a connect whose entry the sweep
	 * took, or a socket whose flow was published and forgotten (NONE),
	 * is a later connect of the same socket that no rule sent here:
	 * straight to the proxy's listener, it must not hand the proxy an
	 * earlier flow's context as if the layer had classified it.  (A
	 * redirected connect that failed, followed within SR_CONNECT_NS by
	 * one straight to the listener, is that flow's one use.  CHARGED: a
	 * connect an earlier build's hook charged itself.)
	 */
	if (!s || s->role != SR_ROLE_REDIRECTED || s->published == SR_PUB_PENDING)
		return -ENOENT;	/* (PENDING: the other program published it) */
	if (s->published == SR_PUB_CONNECTING) {
		if (!sr_connecting_take(sr_sk_cookie(sk)))
			s->published = SR_PUB_NONE;
	}
	if (s->published != SR_PUB_CONNECTING && s->published != SR_PUB_CHARGED) {
		s->role = 0;	/* nor does getpeername answer for it */
		return -ENOENT;
	}
	s->published = SR_PUB_CHARGED;
	sr_tuple(sk, 1, &t);
	if (t.family != s->target.family || t.daddr[0] != s->target.addr[0] ||
	    t.daddr[1] != s->target.addr[1] || t.daddr[2] != s->target.addr[2] ||
	    t.daddr[3] != s->target.addr[3] ||
	    t.dport != bpf_ntohs(s->target.port)) {
		s->role = 0;
		s->published = SR_PUB_NONE;
		sr_pending_charge(s->flow.quota_uid, -1);
		return -ENOENT;
	}
	s->flow.orig_src.family = t.family;
	s->flow.orig_src.port = bpf_htons(t.sport);
	s->flow.orig_src.addr[0] = t.saddr[0];
	s->flow.orig_src.addr[1] = t.saddr[1];
	s->flow.orig_src.addr[2] = t.saddr[2];
	s->flow.orig_src.addr[3] = t.saddr[3];
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

/* Are flows pending at all?  (The one look a handshake costs otherwise.) */
static __always_inline int sr_pending_any(void)
{
	__u32 zero = 0;
	__s64 *all = bpf_map_lookup_elem(&sr_pending_count, &zero);

	return all && *all > 0;
}

/*
 * Proxy side, handshake done (ESTABLISHED from SYN_RECV): move the flow
 * onto the accepted socket.  Returns 0, -ENOENT (no flow pending on this
 * 4-tuple), -EACCES (not accepted by the service's claimed listener),
 * -ENOMEM.
 */
static __always_inline int sr_adopt(struct sock *sk, __u64 cookie)
{
	struct sr_tuple t = {};
	struct sr_flow *f;
	struct sr_sock *s;
	__u16 sid;

	if (!sr_pending_any())
		return -ENOENT;
	sr_tuple(sk, 0, &t);
	f = bpf_map_lookup_elem(&sr_pending, &t);
	if (!f)
		return -ENOENT;
	sid = f->service_id;
	sr_pending_charge(f->quota_uid, -1);
	if (!sr_accepted_by(sk, sid)) {
		/* Accepted by a socket without the service's claim (one that
		 * joined the listener's SO_REUSEPORT group from outside the
		 * cgroup): it learns nothing of the flow. */
		bpf_map_delete_elem(&sr_pending, &t);
		SR_COUNT(sid, denied, 1);
		return -EACCES;
	}
	s = sr_sock_make(sk);
	if (s) {
		__builtin_memcpy(&s->flow, f, sizeof(*f));
		s->role = SR_ROLE_ACCEPTED;
		s->live = sr_hop_hold(&s->flow.rec) == 0;
		/* Note it for its proxy's onward connect; its close ends it. */
		sr_onward_note(sk, s, cookie);
	}
	bpf_map_delete_elem(&sr_pending, &t);
	if (!s || !s->live) {
		SR_COUNT(sid, untracked, 1);
		return -ENOMEM;
	}
	return 0;
}

/*
 * A socket's flow ended: it closed (@closed; destroyed, or disconnected
 * with connect(AF_UNSPEC), after which it may connect again), or a
 * client's changed its congestion control.  A proxy's accepted one: its
 * hop ends.  A client's: take its pending entry back if no proxy took it;
 * closed, it is no redirected socket any more (a later connect straight to
 * the proxy's listener is the application's own, which getpeername tells
 * as it is).  The tuple is the one sr_publish used, from what it kept: the
 * target and the source it saw.
 */
static __always_inline int sr_forget(struct sock *sk, int closed)
{
	struct sr_tuple t = {};
	struct sr_sock *s;

	s = sr_sock_get(sk);
	if (s && s->role == SR_ROLE_ACCEPTED && s->live) {
		s->live = 0;
		sr_hop_release(&s->flow.rec);
		return 0;
	}
	if (!s || s->role != SR_ROLE_REDIRECTED)
		return -ENOENT;
	if (closed)
		s->role = 0;
	if (!s->published)
		return -ENOENT;
	if (s->published != SR_PUB_PENDING) {
		/* Never connected (refused, timed out, or closed first). */
		sr_connect_uncharge(s, sr_sk_cookie(sk));
		return 0;
	}
	s->published = SR_PUB_NONE;
	t.netns = sr_sk_netns(sk);
	t.family = s->target.family;
	__builtin_memcpy(t.saddr, s->flow.orig_src.addr, 16);
	__builtin_memcpy(t.daddr, s->target.addr, 16);
	t.sport = bpf_ntohs(s->flow.orig_src.port);
	t.dport = bpf_ntohs(s->target.port);
	if (bpf_map_delete_elem(&sr_pending, &t) == 0) {
		sr_pending_charge(s->flow.quota_uid, -1);
		SR_COUNT(s->flow.service_id, pending_lost, 1);
	}
	SR_GAUGE(0, live, -1);
	return 0;
}

/*
 * A closed socket's end of its flow, whichever program saw it: a claimed
 * listener's, an accepted socket's hop and onward note, a client's entry.
 */
static __always_inline void sr_sock_closed(struct sock *sk, int oldstate)
{
	sr_holder_closed(sk, oldstate, sk->__sk_common.skc_family);
	sr_onward_closed(sk);
	sr_forget(sk, 1);
}

/*
 * The socket state tracepoint (inet_sock_set_state), for every socket of
 * the host: attached only to a layer upgraded from a build that had no
 * other way to see its flows' sockets (see the top of this file).  Each
 * call that is not a redirected flow's costs a compare or two.
 */
static __always_inline void sr_sock_state_change(struct sock *sk, int oldstate,
						 int newstate)
{
	if (sk->sk_protocol != IPPROTO_TCP)
		return;		/* MPTCP's own socket: its subflows are TCP */
	if (newstate == BPF_TCP_ESTABLISHED) {
		if (oldstate == BPF_TCP_SYN_SENT && sk->sk_bpf_storage)
			sr_publish(sk);
		else if (oldstate == BPF_TCP_SYN_RECV)
			sr_adopt(sk, bpf_get_socket_cookie(sk));
		return;
	}
	if (newstate != BPF_TCP_CLOSE || !sk->sk_bpf_storage)
		return;
	sr_sock_closed(sk, oldstate);
}

#endif
