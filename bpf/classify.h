/* SPDX-License-Identifier: (GPL-2.0 OR MIT) */
/*
 * classify.h - who is connecting, and which rule and service a connect
 * goes to.
 */
#ifndef SOCKREDIR_CLASSIFY_H
#define SOCKREDIR_CLASSIFY_H

#include "addr.h"
#include "maps.h"
#include "records.h"

/*
 * The service whose proxy the current task runs (@only: that service or
 * none), or 0.  Each service's owner has a fixed slot; the mask skips the
 * empty ones.  A global function, so the verifier walks its loop once
 * rather than once per rule that calls it.
 */
__noinline int sr_owner_of(__u32 uid, __u32 only)
{
	const struct sr_config *cfg = sr_get_config();
	__u64 mask;
	__u32 i;

	if (!cfg)
		return 0;
	mask = cfg->owners_mask;
	if (only)
		mask &= 1ULL << (only & 63);
	for (i = 1; i < SR_MAX_SERVICES; i++) {
		const struct sr_owner *o = &cfg->owners[i];

		if (!(mask & (1ULL << i)))
			continue;
		if (o->uid != SR_ANY_UID && o->uid == uid)
			return i;
		if (o->cgroup_id &&
		    bpf_get_current_ancestor_cgroup_id(o->cgroup_level) ==
			    o->cgroup_id)
			return i;
	}
	return 0;
}

/*
 * Who the rules see: the application that opened the flow.  On a proxy's
 * onward connection that is the one named in the records (WFP's original
 * app id), so a rule written for an application holds along the chain.
 */
struct sr_who {
	__u32 uid;
	const struct sr_records *rec;	/* NULL: the current task */
};

/* Is the application in cgroup @id (at @level) or below it? */
static __always_inline int sr_who_in_cgroup(const struct sr_who *who,
					    __u64 id, __u32 level)
{
	const struct sr_records *rec = who->rec;

	if (!rec)
		return bpf_get_current_ancestor_cgroup_id(level) == id;
	if (rec->app_cgroup == id || level == 0)
		return 1;
	/* The mask only shows the verifier the index is in bounds. */
	if (level <= SR_CG_LEVELS)
		return rec->app_cgroup_up[(level - 1) & (SR_CG_LEVELS - 1)] == id;
	return 0;
}

static __always_inline int sr_rule_matches(const struct sr_rule *r,
					   const struct sr_who *who,
					   __u8 protocol, __u16 dport)
{
	if (r->protocol && r->protocol != protocol)
		return 0;
	if (r->dport_hi && (dport < r->dport_lo || dport > r->dport_hi))
		return 0;
	if (r->uid != SR_ANY_UID && r->uid != who->uid)
		return 0;
	if (r->cgroup_id && !sr_who_in_cgroup(who, r->cgroup_id, r->cgroup_level))
		return 0;
	return 1;
}

/*
 * Does the socket that would receive a connect to @svc's listener carry
 * @svc's claim?  An impostor on the port, or nobody, does not.
 */
static __always_inline int sr_listener_claimed(struct bpf_sock_addr *ctx,
					       const struct sr_service *svc,
					       int family)
{
	struct bpf_sock_tuple t = {};
	struct bpf_sock *sk;
	struct sr_sock *s;
	int claimed;

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
	if (!sk)
		return 0;
	s = bpf_sk_storage_get(&sr_socks, sk, 0, 0);
	claimed = s && s->role == SR_ROLE_LISTENER &&
		  s->flow.service_id == svc->id && s->claim_gen == svc->gen;
	bpf_sk_release(sk);
	return claimed;
}

struct sr_verdict {
	const struct sr_rule *rule;
	const struct sr_service *service;
	__u16 unrecorded;	/* an owner's connect skipped its redirects */
};

/*
 * Walk the rules covering the destination, highest weight first.  Returns
 * 1 with @v set for a redirect, 0 to leave the connect alone, or the error
 * the connect fails with: -ELOOP (hop limit), -EPERM (a block rule),
 * -ECONNREFUSED (a fail-closed service without its listener; @v says which).
 *
 * A proxy's own connect without records is never redirected (it cannot
 * say which flow it carries, so redirecting it could loop), but permit and
 * block rules still apply to it.
 */
static __always_inline int sr_classify(struct bpf_sock_addr *ctx,
				       const struct sr_ruleset *set,
				       const struct sr_records *rec,
				       const struct sr_who *who,
				       const struct sr_config *cfg,
				       __u8 protocol, __u16 dport, int family,
				       struct sr_verdict *v)
{
	struct sr_chain chain = sr_records_chain(rec);
	__u32 i, n = set->n;
	int owner = -1;		/* not looked up yet */

	for (i = 0; i < SR_RULES_PER_ADDR; i++) {
		const struct sr_service *svc;
		const struct sr_rule *r;
		__u32 slot, sid;
		int state;

		if (i >= n)
			break;
		slot = set->slot[i];
		r = bpf_map_lookup_elem(&sr_rules, &slot);
		if (!r || !r->id || !sr_rule_matches(r, who, protocol, dport))
			continue;
		if (r->action == SR_ACT_PERMIT)
			return 0;
		if (r->action == SR_ACT_BLOCK)
			return -EPERM;
		sid = r->service;
		svc = bpf_map_lookup_elem(&sr_services, &sid);
		if (!svc || !svc->id)
			continue;
		if (family == AF_INET ? !svc->port4 : !svc->port6)
			continue;
		if (!rec) {
			if (owner < 0)
				owner = sr_owner_of(who->uid, 0);
			if (owner) {
				v->unrecorded = owner;
				continue;
			}
		}
		state = sr_chain_state(&chain, svc->id);
		if (state == SR_BY_SELF || state == SR_PREVIOUSLY_BY_SELF)
			continue;
		if (state == SR_BY_OTHER && (svc->flags & SR_SVC_SKIP_INSPECTED))
			continue;
		v->rule = r;
		v->service = svc;
		if (!sr_listener_claimed(ctx, svc, family)) {
			if (svc->flags & SR_SVC_FAIL_CLOSED)
				return -ECONNREFUSED;
			SR_COUNT(svc->id, listener_gone, 1);
			v->service = 0;
			continue;	/* fail open: the next service, or D */
		}
		if (rec && rec->nhops >= cfg->max_hops)
			return -ELOOP;
		return 1;
	}
	return 0;
}

#endif
