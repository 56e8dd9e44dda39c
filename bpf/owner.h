/* SPDX-License-Identifier: (GPL-2.0 OR MIT) */
/*
 * owner.h - who runs a service's proxy: a uid, or a cgroup and everything
 * below it.  An owner's connects are the proxy's own (never redirected back
 * to it); only root and an owner may claim the service's listener or set
 * records.
 */
#ifndef SOCKREDIR_OWNER_H
#define SOCKREDIR_OWNER_H

#include "maps.h"

/* By service id; the hooks never read it (see struct sr_owner_path). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, SR_MAX_SERVICES);
	__type(key, __u32);
	__type(value, struct sr_owner_path);
} sr_owner_paths SEC(".maps");

/*
 * The service whose proxy the current task (uid @uid) runs, or 0; with
 * @only, that service or 0.  Each service's owner has a fixed slot in the
 * config; the mask skips the empty ones.
 *
 * Verifier: a global function, so its 64-slot loop is checked once rather
 * than once for every caller and every path into it.
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

#endif
