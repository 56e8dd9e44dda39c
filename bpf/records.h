/* SPDX-License-Identifier: (GPL-2.0 OR MIT) */
/*
 * records.h - a flow's records: started at its first redirect, extended by
 * one hop at each later one, signed so that user space can carry them but
 * not make them up or edit them; and the redirect state they give each
 * service.
 */
#ifndef SOCKREDIR_RECORDS_H
#define SOCKREDIR_RECORDS_H

#include "addr.h"
#include "sockredir_abi.h"
#include "siphash.h"

/*
 * The signing key.  Drawn in the kernel at up by sr_make_key (a syscall
 * program the loader runs once: bpf_get_prandom_u32 is get_random_u32, the
 * kernel's CSPRNG), then the map is frozen and left unpinned: no file
 * holds it, the config map does not carry it, and no control-plane command
 * reads it.  (BPF_F_WRONLY would not do: it limits only the creating file
 * descriptor, and a pin or an id gives a new one that reads.)  Root with
 * CAP_SYS_ADMIN can still open any map by id, or read kernel memory.
 */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct sr_key);
} sr_key SEC(".maps");

/* Fill the key once; 0, or -EEXIST if it was filled already. */
static __always_inline int sr_key_make(void)
{
	struct sr_key *key;
	__u32 zero = 0;

	key = bpf_map_lookup_elem(&sr_key, &zero);
	if (!key)
		return -ENOENT;
	if (key->k[0] | key->k[1])
		return -EEXIST;
	key->k[0] = (__u64)bpf_get_prandom_u32() << 32 | bpf_get_prandom_u32();
	key->k[1] = (__u64)bpf_get_prandom_u32() << 32 | bpf_get_prandom_u32();
	return 0;
}

/* The key, or NULL before it was made (nothing can be signed then). */
static __always_inline const struct sr_key *sr_get_key(void)
{
	const struct sr_key *key;
	__u32 zero = 0;

	key = bpf_map_lookup_elem(&sr_key, &zero);
	return key && (key->k[0] | key->k[1]) ? key : 0;
}

static __always_inline __u64 sr_records_mac(const struct sr_records *r,
					     const struct sr_key *key)
{
	return sr_siphash((const __u64 *)r, SR_REC_WORDS, key->k[0], key->k[1]);
}

static __always_inline void sr_records_sign(struct sr_records *r,
					    const struct sr_key *key)
{
	r->mac = sr_records_mac(r, key);
}

/* Returns 0 if the layer issued @r, -EINVAL otherwise. */
static __always_inline int sr_records_check(const struct sr_records *r,
					    const struct sr_key *key)
{
	if (r->magic != SR_REC_MAGIC || r->version != SR_REC_VERSION ||
	    r->size != sizeof(*r) || r->nhops == 0 || r->nhops > SR_MAX_HOPS)
		return -EINVAL;
	if (r->mac != sr_records_mac(r, key))
		return -EINVAL;
	return 0;
}

/*
 * The two task_struct fields read; CO-RE finds them in the running kernel.
 */
struct task_struct {
	struct task_struct *group_leader;
	char comm[16];
}
#ifdef __bpf__
__attribute__((preserve_access_index))
#endif
;

/*
 * The current process's name: its main thread's comm, as ps shows it.
 * A thread may name itself (dig sends from "isc-net-0000"); the
 * application is the process.  Falls back to the thread's own name.
 */
static __always_inline void sr_current_comm(char comm[16])
{
	struct task_struct *t = (struct task_struct *)bpf_get_current_task();
	struct task_struct *leader = 0;

	bpf_get_current_comm(comm, 16);
	if (t && !bpf_probe_read_kernel(&leader, sizeof(leader),
					&t->group_leader) && leader)
		bpf_probe_read_kernel(comm, 16, &leader->comm);
}

/* The service whose hop @r (checked) is: the last one. */
static __always_inline __u16 sr_records_last(const struct sr_records *r)
{
	return r->hops[(r->nhops - 1) & (SR_MAX_HOPS - 1)];
}

/*
 * May a socket given @r connect to @dst (sr_dst_of)?  Only to the
 * destination the application connected to: records are not a pass to
 * anywhere else.  Returns 0 or -EPERM.
 */
static __always_inline int sr_records_bound(const struct sr_records *r,
					    const struct sr_addr *dst)
{
	return sr_addr_eq(&r->dst, dst) ? 0 : -EPERM;
}

/*
 * Fresh records for the current task's connect on @ctx to @dst
 * (sr_dst_of): no hops yet.
 */
static __always_inline void sr_records_start(struct bpf_sock_addr *ctx,
					     const struct sr_addr *dst,
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
	sr_current_comm(rec->app_comm);
	rec->dst = *dst;
}

/* Add hop @service to @rec and sign it.  Returns 0 or -ELOOP (full). */
static __always_inline int sr_records_extend(struct sr_records *rec,
					     __u16 service,
					     const struct sr_key *key)
{
	__u32 n = rec->nhops;

	if (n >= SR_MAX_HOPS)	/* the hop limit is lower; this bounds hops[n] */
		return -ELOOP;
	rec->hops[n] = service;
	rec->nhops = n + 1;
	sr_records_sign(rec, key);
	return 0;
}

/*
 * Add hop @service to @rec and sign it with the layer's key.  Returns 0,
 * -ELOOP (full), -ENOKEY (no key yet).
 *
 * Verifier: a global function, so its SipHash is checked once and its
 * frame is not the connect hook's.
 */
__noinline int sr_records_add_hop(struct sr_records *rec, __u32 service)
{
	const struct sr_key *key = sr_get_key();

	if (!rec || !key)
		return -ENOKEY;
	return sr_records_extend(rec, service, key);
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
