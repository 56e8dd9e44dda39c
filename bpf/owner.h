/* SPDX-License-Identifier: (GPL-2.0 OR MIT) */
/*
 * owner.h - who runs a service's proxy: a uid, or a cgroup and everything
 * below it, as configured; for a service configured without an owner, the
 * cgroup of the process that claimed its listener.  An owner's connects are
 * the proxy's own (never redirected back to it); only root and an owner may
 * claim the service's listener, bind its address or set its records.
 */
#ifndef SOCKREDIR_OWNER_H
#define SOCKREDIR_OWNER_H

#include "maps.h"
#include "service.h"

/*
 * Who claimed service i's listener, for services without a configured
 * owner: without this, a proxy that does not pass records on (haproxy)
 * would have its own onward connects redirected back to itself, each a new
 * flow, forever.  Only the claimer's own cgroup, not below it.
 */
struct sr_claimer {
	__u64 cgroup_id;
	__u32 gen;		/* the service generation it claimed */
	__u32 pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, SR_MAX_SERVICES);
	__type(key, __u32);
	__type(value, struct sr_claimer);
} sr_claimers SEC(".maps");

/* By service id; the hooks never read it (see struct sr_owner_path). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, SR_MAX_SERVICES);
	__type(key, __u32);
	__type(value, struct sr_owner_path);
} sr_owner_paths SEC(".maps");

/*
 * The service whose proxy the current task (uid @uid) runs, or 0; with
 * @only, that service or 0.  Each configured owner has a fixed slot in the
 * config; the mask skips the empty ones.
 *
 * Verifier: a global function, so its 64-slot loop is checked once rather
 * than once for every caller and every path into it.
 */
__noinline int sr_owner_of(__u32 uid, __u32 only)
{
	const struct sr_config *cfg = sr_get_config();
	__u64 mask, cgroup = bpf_get_current_cgroup_id();
	__u32 i;

	if (!cfg)
		return 0;
	mask = cfg->owners_mask;
	for (i = 1; i < SR_MAX_SERVICES; i++) {
		const struct sr_owner *o = &cfg->owners[i];
		const struct sr_service *svc;
		const struct sr_claimer *c;

		__u32 key = i;

		if (only && i != only)
			continue;
		if (!(mask & (1ULL << i))) {
			/* Verifier: a copy of i as the key, so the loop counter
			 * itself never has its address taken (the verifier
			 * would lose its bounds and see an endless loop). */
			c = bpf_map_lookup_elem(&sr_claimers, &key);
			if (!c || !c->cgroup_id || c->cgroup_id != cgroup)
				continue;
			svc = sr_service_get(i);
			if (svc && svc->gen == c->gen)
				return i;
			continue;
		}
		if (o->uid != SR_ANY_UID && o->uid == uid)
			return i;
		if (o->cgroup_id &&
		    bpf_get_current_ancestor_cgroup_id(o->cgroup_level) ==
			    o->cgroup_id)
			return i;
	}
	return 0;
}

#endif
