/* SPDX-License-Identifier: (GPL-2.0 OR MIT) */
/*
 * classify.h - the rules, and which of them decides a connect: permit,
 * block, or redirect to which service.  WFP's filter arbitration: the rules
 * covering the destination, highest weight first; the first that decides,
 * decides.
 */
#ifndef SOCKREDIR_CLASSIFY_H
#define SOCKREDIR_CLASSIFY_H

#include "addr.h"
#include "claim.h"
#include "endpoint.h"
#include "listener.h"
#include "events.h"
#include "maps.h"
#include "owner.h"
#include "records.h"
#include "service.h"
#include "sock.h"

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, SR_MAX_RULES);
	__type(key, __u32);
	__type(value, struct sr_rule);
} sr_rules SEC(".maps");

/* Destination -> every rule that covers it (lib/ruleindex.c builds it). */
struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, SR_MAX_RULES);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct sr_lpm_key);
	__type(value, struct sr_ruleset);
} sr_rule_index SEC(".maps");

/* The rules covering destination @d (sr_dst_of), or NULL (almost always). */
static __always_inline const struct sr_ruleset *
sr_rules_for(const struct sr_addr *d)
{
	struct sr_lpm_key key = {};

	key.family = d->family;
	key.prefixlen = 8 + (d->family == AF_INET ? 32 : 128);
	__builtin_memcpy(key.addr, d->addr, 16);
	return bpf_map_lookup_elem(&sr_rule_index, &key);
}

/*
 * What the rules see of one connect, built once and handed to each rule.
 * Only scalars: it is the argument of a global function.  The application
 * is the current task, or on a proxy's onward connect the one named in the
 * records it was given (WFP's original app id), so a rule written for an
 * application holds along the chain.
 *
 * Verifier: kept small (it lives on the connect hook's stack, next to the
 * 512-byte limit); the recorded application's cgroups are read from the
 * socket's records when a rule asks, not copied here.
 */
struct sr_match {
	__u16 dport;		/* host order */
	__u8 protocol;		/* IPPROTO_TCP, IPPROTO_UDP, ... */
	__u8 family;		/* the rule family: AF_INET for IPv4-mapped */
	__u32 uid;		/* the application's */
	__u32 recorded;		/* 1: the connect carries given records */
	__u32 nhops;		/* hops in them */
	struct sr_chain chain;
	/* Filled in by the rules. */
	__s32 owner;		/* the task's service as an owner; -1: not yet
				 * looked up */
	__u32 rule_id;		/* the redirecting rule */
	__u16 service_id;	/* the service redirected (or refused) to */
	__u16 egress_of;	/* an owner's unrecorded connect passed over
				 * this service's rules */
	__u32 listener;		/* SR_LSN_* of the last service looked at */
	struct sr_addr dst;	/* for events: the destination as given */
};

/* What one rule makes of a connect (or -errno: the connect fails). */
enum { SR_NEXT, SR_PASS, SR_REDIRECT };

/* @rec: the records given to the connecting socket, or NULL. */
static __always_inline void sr_match_init(struct sr_match *m,
					  const struct sr_records *rec,
					  __u8 protocol, __u16 dport, int family)
{
	/* Zeroed whole, padding too: a global function reads all of it. */
	__builtin_memset(m, 0, sizeof(*m));
	m->dport = dport;
	m->protocol = protocol;
	m->family = family;
	m->owner = -1;
	if (!rec) {
		m->uid = (__u32)bpf_get_current_uid_gid();
		return;
	}
	m->uid = rec->app_uid;
	m->recorded = 1;
	m->nhops = rec->nhops;
	m->chain = sr_records_chain(rec);
}

/* Is the application in cgroup @id (at @level) or below it? */
static __always_inline int sr_app_in_cgroup(struct bpf_sock_addr *ctx,
					    const struct sr_match *m,
					    __u64 id, __u32 level)
{
	const struct sr_records *rec;

	if (!m->recorded)
		return bpf_get_current_ancestor_cgroup_id(level) == id;
	rec = sr_given_get(ctx->sk);
	if (!rec)
		return 0;
	if (rec->app_cgroup == id || level == 0)
		return 1;
	/* The mask only shows the verifier the index is in bounds. */
	if (level <= SR_CG_LEVELS)
		return rec->app_cgroup_up[(level - 1) & (SR_CG_LEVELS - 1)] == id;
	return 0;
}

static __always_inline int sr_rule_matches(struct bpf_sock_addr *ctx,
					   const struct sr_rule *r,
					   const struct sr_match *m)
{
	if (r->protocol && r->protocol != m->protocol)
		return 0;
	if (r->dport_hi && (m->dport < r->dport_lo || m->dport > r->dport_hi))
		return 0;
	if (r->uid != SR_ANY_UID && r->uid != m->uid)
		return 0;
	if (r->cgroup_id &&
	    !sr_app_in_cgroup(ctx, m, r->cgroup_id, r->cgroup_level))
		return 0;
	return 1;
}

/*
 * Rule slot @slot's decision on the connect @m describes: SR_NEXT (it does
 * not decide: no match, or its service passes this flow over), SR_PASS (a
 * permit rule), SR_REDIRECT (to m->service_id, by m->rule_id), or -EPERM (a
 * block rule), -ECONNREFUSED (a fail-closed service without its claimed
 * listener, or with its accept queue full; m->service_id says which and
 * m->listener why), -ELOOP (the hop limit).
 *
 * A proxy's own connect without records is never redirected (it cannot say
 * which flow it carries, so redirecting it could loop), but permit and block
 * rules still apply to it.
 *
 * Verifier: a global function, so the verifier checks this body once, with
 * no knowledge of the caller's state, rather than once per rule slot and
 * per path through the earlier slots (that was 755,000 instructions for
 * connect6 with the body inlined into a 32-slot loop).  Hence its arguments
 * are only the context, a scalar and a pointer to plain memory.
 */
__noinline int sr_rule_decide(struct bpf_sock_addr *ctx, __u32 slot,
			      struct sr_match *m)
{
	const struct sr_service *svc;
	const struct sr_config *cfg;
	const struct sr_rule *r;
	int state;

	if (!m)
		return SR_NEXT;
	r = bpf_map_lookup_elem(&sr_rules, &slot);
	if (!r || !r->id || !sr_rule_matches(ctx, r, m))
		return SR_NEXT;
	if (r->action == SR_ACT_PERMIT) {
		SR_EMIT(ctx, m, SR_EV_PERMITTED, 0, r->id);
		return SR_PASS;
	}
	if (r->action == SR_ACT_BLOCK) {
		SR_EMIT(ctx, m, SR_EV_BLOCKED, 0, r->id);
		return -EPERM;
	}
	/* TCP and UDP are redirected; other protocols meet permit and block
	 * rules alone. */
	if (m->protocol != IPPROTO_TCP && m->protocol != IPPROTO_UDP)
		return SR_NEXT;
	svc = sr_service_get(r->service);
	if (!svc || !sr_service_serves(svc, m->family))
		return SR_NEXT;
	if (!m->recorded) {
		if (m->owner < 0)
			m->owner = sr_owner_of(m->uid, 0);
		if (m->owner) {
			m->egress_of = m->owner;
			return SR_NEXT;
		}
	}
	state = sr_chain_state(&m->chain, svc->id);
	if (state == SR_BY_SELF || state == SR_PREVIOUSLY_BY_SELF) {
		SR_EMIT(ctx, m, state == SR_BY_SELF ? SR_EV_SKIP_SELF :
			SR_EV_SKIP_PREV_SELF, svc->id, r->id);
		return SR_NEXT;
	}
	if (state == SR_BY_OTHER && (svc->flags & SR_SVC_SKIP_INSPECTED)) {
		SR_EMIT(ctx, m, SR_EV_SKIP_INSPECTED, svc->id, r->id);
		return SR_NEXT;
	}
	m->rule_id = r->id;
	m->service_id = svc->id;
	m->listener = m->protocol == IPPROTO_UDP ?
			      (sr_udp_service_claimed(ctx, svc, m->family) ?
				       SR_LSN_OK : SR_LSN_GONE) :
			      sr_listener_state(ctx, svc, m->family);
	if (m->listener != SR_LSN_OK) {
		/* Gone, squatted or overloaded: the fail mode, at once. */
		if (svc->flags & SR_SVC_FAIL_CLOSED)
			return -ECONNREFUSED;
		if (m->listener == SR_LSN_OVERLOADED) {
			SR_COUNT(svc->id, overloaded, 1);
			SR_EMIT(ctx, m, SR_EV_OVERLOADED, svc->id, r->id);
		} else {
			SR_COUNT(svc->id, listener_gone, 1);
			SR_EMIT(ctx, m, SR_EV_LISTENER_GONE, svc->id, r->id);
		}
		m->service_id = 0;
		return SR_NEXT;	/* fail open: the next service, or D */
	}
	cfg = sr_get_config();
	if (m->recorded && cfg && m->nhops >= cfg->max_hops) {
		SR_EMIT(ctx, m, SR_EV_HOP_LIMIT, svc->id, r->id);
		return -ELOOP;
	}
	return SR_REDIRECT;
}

/*
 * The decision of the rules in @set, highest weight first: SR_PASS (none
 * decided, or a permit rule), SR_REDIRECT, or -errno (see sr_rule_decide).
 */
static __always_inline int sr_classify(struct bpf_sock_addr *ctx,
				       const struct sr_ruleset *set,
				       struct sr_match *m)
{
	__u32 i, n = set->n;
	int ret;

	for (i = 0; i < SR_RULES_PER_ADDR; i++) {
		if (i >= n)
			break;
		ret = sr_rule_decide(ctx, set->slot[i], m);
		if (ret != SR_NEXT)
			return ret;
	}
	return SR_PASS;
}

#endif
