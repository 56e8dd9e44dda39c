/* SPDX-License-Identifier: (GPL-2.0 OR MIT) */
/*
 * classify.h - who is connecting, and which rule and service a connect
 * goes to.  Helpers return a service id, 0 for "leave it", or -errno.
 */
#ifndef SOCKREDIR_CLASSIFY_H
#define SOCKREDIR_CLASSIFY_H

#include "maps.h"
#include "records.h"

/* The service whose proxy the current task runs, or 0. */
static __always_inline __u16 sr_owner_of(const struct sr_config *cfg,
					 __u32 uid)
{
	__u32 i, n = cfg->n_owners;

	for (i = 0; i < SR_MAX_SERVICES; i++) {
		const struct sr_owner *o;

		if (i >= n)
			break;
		o = &cfg->owners[i];
		if (o->uid != SR_ANY_UID) {
			if (o->uid == uid)
				return o->service;
		} else if (o->cgroup_id &&
			   bpf_get_current_ancestor_cgroup_id(o->cgroup_level) ==
				   o->cgroup_id) {
			return o->service;
		}
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
	__u64 cgroup_id;	/* from the records; 0: ask the current task */
};

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
	if (r->cgroup_id) {
		/* Carried identities are exact; a live task can be below. */
		if (who->cgroup_id)
			return who->cgroup_id == r->cgroup_id;
		return bpf_get_current_ancestor_cgroup_id(r->cgroup_level) ==
		       r->cgroup_id;
	}
	return 1;
}

struct sr_verdict {
	const struct sr_rule *rule;
	const struct sr_service *service;
};

/*
 * Walk the rules covering the destination, highest weight first.  Returns
 * 1 with @v set for a redirect, 0 to leave the connect alone, or -ELOOP.
 */
static __always_inline int sr_classify(const struct sr_ruleset *set,
				       const struct sr_records *rec,
				       const struct sr_who *who,
				       const struct sr_config *cfg,
				       __u8 protocol, __u16 dport, int family,
				       struct sr_verdict *v)
{
	__u32 i, n = set->n;

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
		sid = r->service;
		svc = bpf_map_lookup_elem(&sr_services, &sid);
		if (!svc || !svc->id)
			continue;
		if (family == AF_INET ? !svc->port4 : !svc->port6)
			continue;
		state = sr_records_state(rec, svc->id);
		if (state == SR_BY_SELF || state == SR_PREVIOUSLY_BY_SELF)
			continue;
		if (rec && rec->nhops >= cfg->max_hops)
			return -ELOOP;
		v->rule = r;
		v->service = svc;
		return 1;
	}
	return 0;
}

#endif
