/* SPDX-License-Identifier: (GPL-2.0 OR MIT) */
/*
 * forward.h - records for proxies that pass none.  A proxy written for
 * iptables REDIRECT (squid, haproxy, dante behind redsocks) reads the
 * original destination D of a flow it accepted and connects to D without
 * setting records: an "unrecorded" connect, which is never redirected and
 * which the rules judge as the proxy.  Then the next service never sees the
 * flow, and a block rule for the application does not hold through the
 * proxy.  So the layer attaches a flow's records to such a connect itself,
 * when it can tell, without loosening any rule, whose flow it carries.
 *
 * Each flow a service's claimed listener accepts is noted, from its accept
 * until its accepted socket closes (see below for the grace), under (netns,
 * service, D) in one of SR_ONWARD_SLOTS slots, with its records and a
 * signature of how D's rules see its application (sr_onward_sig).
 *
 * A TCP connect with no records, by a task that is service A's owner (its
 * uid or cgroup: the proxy, or a helper such as dante, whatever its pid), to
 * a destination D some rule covers, gets records when (netns, A, D) holds
 * at least one noted flow, and then:
 *
 *  - every flow noted there is judged alike by D's rules (the same chain of
 *    services, and the same uid and cgroup, or the same answer from each of
 *    D's rules' uid and cgroup conditions as the rules stand now): the
 *    oldest one not yet forwarded (else the oldest) lends its records, as if
 *    the proxy had set them.  Which of those flows it really is changes no
 *    decision of any rule, now or at any later hop (every hop connects to
 *    the same D); only the pid, comm and flow id the next service reads may
 *    be a sibling's.  (An open flow before one whose socket has closed.)  A flow whose onward connect was refused (blocked)
 *    stays noted, so each retry (haproxy: 3, about 1 s apart) carries its
 *    records again;
 *  - they are not all judged alike, or more such flows are open than there
 *    are slots (their identities are unknown): the connect fails with ECONNREFUSED, counted as
 *    onward_ambiguous.  Choosing one could hand a blocked application's
 *    flow another's looser identity, so it is never chosen; the proxy sees
 *    a failed connect (haproxy retries, squid answers 503).  Flows already
 *    forwarded stay noted while open: a keep-alive client's next request
 *    makes a new onward connect (squid, server_persistent_connections off),
 *    which must carry the flow's records too.
 *
 * Otherwise (no flow noted for D: the proxy's own traffic, redsocks'
 * connect to its SOCKS server, an onward connect to somewhere else than D
 * such as tinyproxy's Host header) the connect stays unrecorded, as before:
 * never redirected, judged as the proxy.
 *
 * A flow no onward connect has taken yet stays noted SR_ONWARD_GRACE after
 * its accepted socket closes: a proxy may still read what the client sent
 * and connect onward after the client reset the connection, and without
 * the grace an application could send, reset, and have its data carried to
 * D unrecorded.  A flow already forwarded ends at close (its proxy acted on
 * it), so that it makes no later flow ambiguous; so does one whose proxy
 * read its records (it passes them itself, sr_onward_passed).
 */
#ifndef SOCKREDIR_FORWARD_H
#define SOCKREDIR_FORWARD_H

#include "addr.h"
#include "classify.h"
#include "ksock.h"
#include "maps.h"
#include "owner.h"
#include "records.h"
#include "sock.h"

#define SR_ONWARD_SLOTS		64
#define SR_ONWARD_OVERFLOW	0xff	/* sr_acc.onward: counted, no slot */
#define SR_ONWARD_GRACE_NS	(5ULL * 1000000000ULL)
#ifndef CLOCK_MONOTONIC
#define CLOCK_MONOTONIC 1
#endif

struct sr_onward_key {
	__u64 netns;
	struct sr_addr dst;	/* D as the rules see it (sr_dst_of) */
	__u16 service;
	__u16 slot;		/* SR_ONWARD_SLOTS: the overflow count */
};

/* How D's rules see a flow's application. */
struct sr_onward_sig {
	__u32 mask;		/* bit i: rule i of D's set matches its app */
	__u32 setid;		/* which set (sr_onward_setid) */
	__u32 epoch;		/* cfg->next_rule_id then */
	__u32 pad;
};

struct sr_onward_body {
	__u64 since;		/* ktime of the accept */
	__u64 cookie;		/* the accepted socket's; overflow: count */
	__u64 closed;		/* ktime it closed; 0: open */
	__u32 forwarded;	/* an onward connect took its records */
	__u32 pad;
	struct sr_onward_sig sig;
	struct sr_records rec;
};

struct sr_onward {
	struct sr_onward_body b;
	struct bpf_timer timer;	/* ends the slot after the grace */
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct sr_onward_key);
	__type(value, struct sr_onward);
} sr_onward SEC(".maps");

/* A value's worth of room off the stack (a program's frame is small). */
struct sr_onward_room {
	struct sr_onward_body b;
	__u64 timer_room[2];	/* = sizeof(struct bpf_timer) */
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct sr_onward_room);
} sr_onward_scratch SEC(".maps");

/* Names the rule set covering D, so signatures over two sets differ. */
static __always_inline __u32 sr_onward_setid(const struct sr_ruleset *set)
{
	__u32 i, id = set->n * 0x9e3779b1u;

	for (i = 0; i < SR_RULES_PER_ADDR; i++) {
		if (i >= set->n)
			break;
		id = (id ^ set->slot[i]) * 0x01000193u;
	}
	return id;
}

static __always_inline const struct sr_ruleset *
sr_onward_rules(const struct sr_addr *d)
{
	struct sr_lpm_key key = {};

	key.family = d->family;
	key.prefixlen = 8 + (d->family == AF_INET ? 32 : 128);
	__builtin_memcpy(key.addr, d->addr, 16);
	return bpf_map_lookup_elem(&sr_rule_index, &key);
}

/* Does rule @r's uid and cgroup condition hold for @rec's application? */
static __always_inline int sr_onward_who(const struct sr_rule *r,
					 const struct sr_records *rec)
{
	__u32 level = r->cgroup_level;

	if (r->uid != SR_ANY_UID && r->uid != rec->app_uid)
		return 0;
	if (!r->cgroup_id || level == 0 || rec->app_cgroup == r->cgroup_id)
		return 1;
	if (level <= SR_CG_LEVELS)
		return rec->app_cgroup_up[(level - 1) & (SR_CG_LEVELS - 1)] ==
		       r->cgroup_id;
	return 0;
}

/* How the rules in @set see @rec's application: @sig. */
static __always_inline void sr_onward_sign(const struct sr_ruleset *set,
					   const struct sr_records *rec,
					   struct sr_onward_sig *sig)
{
	const struct sr_config *cfg = sr_get_config();
	__u32 i, slot;

	sig->mask = 0;
	sig->setid = sr_onward_setid(set);
	sig->epoch = cfg ? cfg->next_rule_id : 0;
	for (i = 0; i < SR_RULES_PER_ADDR; i++) {
		const struct sr_rule *r;

		if (i >= set->n)
			break;
		slot = set->slot[i];
		r = bpf_map_lookup_elem(&sr_rules, &slot);
		if (r && sr_onward_who(r, rec))
			sig->mask |= 1u << i;
	}
}

/*
 * A service's listener accepted @sk (socket cookie @cookie), state @s (its
 * flow adopted): note the flow for its proxy's onward connect.  Returns 0 or -ENOSPC (counted in the
 * overflow entry: onward connects to D then fail until it closes).
 */
static __always_inline int sr_onward_note(struct sock *sk, struct sr_acc *s,
					  __u64 cookie)
{
	struct sr_onward_key key = {};
	const struct sr_ruleset *set;
	struct sr_onward_room *v;
	struct sr_onward *o;
	__u32 zero = 0, i;

	v = bpf_map_lookup_elem(&sr_onward_scratch, &zero);
	if (!v)
		return -ENOMEM;
	key.netns = sr_sk_netns(sk);
	key.dst = s->flow.rec.dst;
	key.service = s->flow.service_id;
	__builtin_memset(v, 0, sizeof(*v));
	v->b.since = bpf_ktime_get_ns();
	v->b.cookie = cookie;
	__builtin_memcpy(&v->b.rec, &s->flow.rec, sizeof(v->b.rec));
	set = sr_onward_rules(&key.dst);
	if (set)
		sr_onward_sign(set, &v->b.rec, &v->b.sig);
	for (i = 0; i < SR_ONWARD_SLOTS; i++) {
		key.slot = i;
		if (!bpf_map_update_elem(&sr_onward, &key, v, BPF_NOEXIST)) {
			s->onward = i + 1;
			return 0;
		}
	}
	key.slot = SR_ONWARD_SLOTS;
	s->onward = SR_ONWARD_OVERFLOW;
	o = bpf_map_lookup_elem(&sr_onward, &key);
	if (!o) {
		__builtin_memset(v, 0, sizeof(*v));
		v->b.cookie = 1;
		if (!bpf_map_update_elem(&sr_onward, &key, v, BPF_NOEXIST))
			return -ENOSPC;
		o = bpf_map_lookup_elem(&sr_onward, &key);
	}
	if (o)
		__sync_fetch_and_add(&o->b.cookie, 1);
	else
		s->onward = 0;
	return -ENOSPC;
}

static int sr_onward_expire(void *map, struct sr_onward_key *key,
			    struct sr_onward *o)
{
	bpf_map_delete_elem(map, key);
	return 0;
}

/* Socket @sk closed: if it is an accepted one, end its note. */
static __always_inline void sr_onward_closed(struct sock *sk)
{
	struct sr_onward_key key = {};
	struct sr_onward *o;
	struct sr_acc *s;
	__u8 slot;

	s = sr_acc_get(sk);
	if (!s || !s->onward)
		return;
	slot = s->onward;
	s->onward = 0;
	key.netns = sr_sk_netns(sk);
	key.dst = s->flow.rec.dst;
	key.service = s->flow.service_id;
	key.slot = slot == SR_ONWARD_OVERFLOW ? SR_ONWARD_SLOTS : slot - 1;
	o = bpf_map_lookup_elem(&sr_onward, &key);
	if (!o)
		return;
	if (slot == SR_ONWARD_OVERFLOW) {
		__sync_fetch_and_add(&o->b.cookie, -1);
		return;
	}
	/* Forwarded: its proxy acted on it; only one that has not yet may
	 * still read what the client sent and connect late. */
	if (o->b.forwarded) {
		bpf_map_delete_elem(&sr_onward, &key);
		return;
	}
	o->b.closed = bpf_ktime_get_ns();
	if (bpf_timer_init(&o->timer, &sr_onward, CLOCK_MONOTONIC) ||
	    bpf_timer_set_callback(&o->timer, sr_onward_expire) ||
	    bpf_timer_start(&o->timer, SR_ONWARD_GRACE_NS, 0))
		bpf_map_delete_elem(&sr_onward, &key);
}

/*
 * getsockopt SOCKREDIR_RECORDS on accepted socket @s: its proxy passes
 * records itself, so its onward connect comes with them.  Its note then
 * counts as forwarded: it ends at close, with no grace to make later
 * connects to D ambiguous.
 */
static __always_inline void sr_onward_passed(struct bpf_sockopt *ctx,
					     struct sr_acc *s)
{
	struct sr_onward_key key = {};
	struct sr_onward *o;

	if (!s->onward || s->onward == SR_ONWARD_OVERFLOW)
		return;
	key.netns = bpf_get_netns_cookie(ctx);
	key.dst = s->flow.rec.dst;
	key.service = s->flow.service_id;
	key.slot = s->onward - 1;
	/* The slot is this socket's while it is open (only its close ends
	 * it); sockopt programs cannot read the socket's cookie to check. */
	o = bpf_map_lookup_elem(&sr_onward, &key);
	if (o)
		o->b.forwarded = 1;
}

/* What the scan of one (netns, service, D) found. */
struct sr_onward_pick {
	__u32 n;		/* flows noted */
	__u32 mixed;		/* not all judged alike */
	__u32 best;		/* slot to take */
	__u32 best_rank;	/* 2 open, not forwarded; 1 open; 0 closed */
	__u64 best_since;
	__u32 setid;		/* D's set now ... */
	__u32 epoch;		/* ... and the rules' epoch now */
	/* The first flow's identity, which every other must share. */
	struct sr_onward_sig sig;
	__u64 cgroup;
	__u64 visited;
	__u32 uid;
	__u16 last;
	__u16 nhops;
};

/*
 * Look at slot @slot of @key's flows and fold it into @p.  Returns 0.
 *
 * Verifier: a global function, checked once rather than once per slot.
 */
__noinline int sr_onward_look(struct sr_onward_key *key, __u32 slot,
			      struct sr_onward_pick *p)
{
	const struct sr_onward *o;
	struct sr_chain c;
	__u64 now;
	int rank, alike;

	if (!key || !p)
		return 0;
	key->slot = slot;
	o = bpf_map_lookup_elem(&sr_onward, key);
	if (!o)
		return 0;
	now = bpf_ktime_get_ns();
	if (o->b.closed && now - o->b.closed > SR_ONWARD_GRACE_NS)
		return 0;	/* its timer is about to end it */
	c = sr_records_chain(&o->b.rec);
	/* Rather an open flow not forwarded yet, then an open one; a closed
	 * one (its hop over: its records would be refused) only to decide. */
	rank = o->b.closed ? 0 : o->b.forwarded ? 1 : 2;
	if (!p->n) {
		p->sig = o->b.sig;
		p->cgroup = o->b.rec.app_cgroup;
		p->uid = o->b.rec.app_uid;
		p->visited = c.visited;
		p->last = c.last;
		p->nhops = o->b.rec.nhops;
	} else {
		/* The same chain, and the same application, or the same
		 * answer from every rule of D's set as it stands now. */
		alike = p->visited == c.visited && p->last == c.last &&
			p->nhops == o->b.rec.nhops;
		if (alike && !(p->uid == o->b.rec.app_uid &&
			       p->cgroup == o->b.rec.app_cgroup))
			alike = p->sig.setid == p->setid &&
				p->sig.epoch == p->epoch &&
				o->b.sig.setid == p->setid &&
				o->b.sig.epoch == p->epoch &&
				o->b.sig.mask == p->sig.mask;
		if (!alike)
			p->mixed = 1;
	}
	if (!p->n || rank > (int)p->best_rank ||
	    (rank == (int)p->best_rank && o->b.since < p->best_since)) {
		p->best = slot;
		p->best_rank = rank;
		p->best_since = o->b.since;
	}
	p->n++;
	return 0;
}

/* The scan's state, off the connect hook's stack (near its 512 bytes). */
struct sr_onward_scan {
	struct sr_onward_key key;
	struct sr_onward_pick p;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct sr_onward_scan);
} sr_onward_scans SEC(".maps");

/* The scan for a connect to @d (sr_dst_of), or NULL. */
static __always_inline struct sr_onward_scan *
sr_onward_begin(const struct sr_addr *d)
{
	struct sr_onward_scan *sc;
	__u32 zero = 0;

	sc = bpf_map_lookup_elem(&sr_onward_scans, &zero);
	if (!sc)
		return 0;
	__builtin_memset(sc, 0, sizeof(*sc));
	sc->key.dst = *d;
	return sc;
}

/*
 * connect, TCP, no records given, destination in @sc (sr_onward_begin): if
 * the task is a service's owner and the destination D is that of flows its
 * listener accepted, attach one's records to @ctx's socket (see the top of
 * this file).  Returns 1 (attached: the socket's sr_given), 0 (nothing to
 * attach), -ECONNREFUSED (ambiguous, or the flow ended just now), -ENOMEM.
 *
 * Verifier: a global function, so the connect hooks' frames do not grow.
 */
__noinline int sr_onward_attach(struct bpf_sock_addr *ctx,
				struct sr_onward_scan *sc)
{
	const struct sr_config *cfg = sr_get_config();
	const struct sr_ruleset *set;
	struct sr_records *given;
	struct sr_onward *o;
	__u32 i;
	int owner;

	if (!sc || !cfg)
		return 0;
	owner = sr_owner_of((__u32)bpf_get_current_uid_gid(), 0);
	if (!owner)
		return 0;
	set = sr_onward_rules(&sc->key.dst);
	if (!set)
		return 0;	/* no rule covers D: nothing to decide */
	sc->key.netns = bpf_get_netns_cookie(ctx);
	sc->key.service = owner;
	sc->p.setid = sr_onward_setid(set);
	sc->p.epoch = cfg->next_rule_id;
	for (i = 0; i < SR_ONWARD_SLOTS; i++)
		sr_onward_look(&sc->key, i, &sc->p);
	sc->key.slot = SR_ONWARD_SLOTS;
	o = bpf_map_lookup_elem(&sr_onward, &sc->key);
	if (o && (__s64)o->b.cookie > 0)
		sc->p.mixed = 1;	/* flows we could not note: unknown */
	if (!sc->p.n && !sc->p.mixed)
		return 0;
	if (sc->p.mixed) {
		SR_COUNT(owner, onward_ambiguous, 1);
		return -ECONNREFUSED;
	}
	sc->key.slot = sc->p.best;
	o = bpf_map_lookup_elem(&sr_onward, &sc->key);
	if (!o)
		return -ECONNREFUSED;	/* ended just now */
	given = sr_given_make(ctx->sk);
	if (!given)
		return -ENOMEM;
	__builtin_memcpy(given, &o->b.rec, sizeof(*given));
	o->b.forwarded = 1;
	SR_COUNT(owner, onward_recorded, 1);
	return 1;
}

#endif
