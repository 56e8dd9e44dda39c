/* SPDX-License-Identifier: (GPL-2.0 OR MIT) */
/*
 * records.h - a flow's records: started at its first redirect, extended by
 * one hop at each later one, signed so that user space can carry them but
 * not make them up or edit them; and the redirect state they give each
 * service.
 */
#ifndef SOCKREDIR_RECORDS_H
#define SOCKREDIR_RECORDS_H

#include "sockredir_abi.h"
#include "siphash.h"

static __always_inline __u64 sr_records_mac(const struct sr_records *r,
					     const struct sr_config *cfg)
{
	return sr_siphash((const __u64 *)r, SR_REC_WORDS, cfg->key[0],
			  cfg->key[1]);
}

static __always_inline void sr_records_sign(struct sr_records *r,
					    const struct sr_config *cfg)
{
	r->mac = sr_records_mac(r, cfg);
}

/* Returns 0 if the layer issued @r, -EINVAL otherwise. */
static __always_inline int sr_records_check(const struct sr_records *r,
					    const struct sr_config *cfg)
{
	if (r->magic != SR_REC_MAGIC || r->version != SR_REC_VERSION ||
	    r->size != sizeof(*r) || r->nhops == 0 || r->nhops > SR_MAX_HOPS)
		return -EINVAL;
	if (r->mac != sr_records_mac(r, cfg))
		return -EINVAL;
	return 0;
}

/* Fresh records for the current task's connect on @ctx: no hops yet. */
static __always_inline void sr_records_start(struct bpf_sock_addr *ctx,
					     struct sr_records *rec)
{
	__u64 id = bpf_get_current_uid_gid();
	int i;

	__builtin_memset(rec, 0, sizeof(*rec));
	rec->magic = SR_REC_MAGIC;
	rec->version = SR_REC_VERSION;
	rec->size = sizeof(*rec);
	rec->flow_id = bpf_get_socket_cookie(ctx);
	rec->app_pid = bpf_get_current_pid_tgid() >> 32;
	rec->app_uid = (__u32)id;
	rec->app_gid = id >> 32;
	rec->protocol = IPPROTO_TCP;
	rec->app_cgroup = bpf_get_current_cgroup_id();
	for (i = 0; i < SR_CG_LEVELS; i++)
		rec->app_cgroup_up[i] = bpf_get_current_ancestor_cgroup_id(i + 1);
	bpf_get_current_comm(rec->app_comm, sizeof(rec->app_comm));
}

/* Add hop @service to @rec and sign it.  Returns 0 or -ELOOP (full). */
static __always_inline int sr_records_extend(struct sr_records *rec,
					     __u16 service,
					     const struct sr_config *cfg)
{
	__u32 n = rec->nhops;

	if (n >= SR_MAX_HOPS)	/* the hop limit is lower; this bounds hops[n] */
		return -ELOOP;
	rec->hops[n] = service;
	rec->nhops = n + 1;
	sr_records_sign(rec, cfg);
	return 0;
}

/*
 * The services a flow has been through, as a bitmask of service ids (ids
 * are below 64), and the last one.  Computed once per connect, so each
 * candidate service's state below costs no loop.
 */
struct sr_chain {
	__u64 visited;
	__u16 last;		/* 0: not redirected yet */
};

static __always_inline struct sr_chain sr_records_chain(const struct sr_records *r)
{
	struct sr_chain c = {};
	__u32 i, n = r ? r->nhops : 0;

	for (i = 0; i < SR_MAX_HOPS; i++) {
		if (i >= n)
			break;
		c.visited |= 1ULL << (r->hops[i] & 63);
		c.last = r->hops[i];
	}
	return c;
}

/* FwpsQueryConnectionRedirectState for @service. */
static __always_inline int sr_chain_state(const struct sr_chain *c,
					  __u16 service)
{
	if (!c->visited)
		return SR_NOT_REDIRECTED;
	if (c->last == service)
		return SR_BY_SELF;
	if (c->visited & (1ULL << (service & 63)))
		return SR_PREVIOUSLY_BY_SELF;
	return SR_BY_OTHER;
}

#endif
