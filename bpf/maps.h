/* SPDX-License-Identifier: (GPL-2.0 OR MIT) */
/*
 * maps.h - the layer's configuration and its counters.  Every other map is
 * declared in the module whose helpers own it (sock.h, service.h, claim.h,
 * classify.h, handoff.h).  The pinned maps are the control plane's only way
 * in (lib/maps.c).
 */
#ifndef SOCKREDIR_MAPS_H
#define SOCKREDIR_MAPS_H

#include "sockredir_abi.h"

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct sr_config);
} sr_config SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, SR_MAX_SERVICES);
	__type(key, __u32);
	__type(value, struct sr_counters);
} sr_stats SEC(".maps");

static __always_inline struct sr_counters *sr_counters(__u32 service)
{
	return bpf_map_lookup_elem(&sr_stats, &service);
}

/* Count @n of @field against @service (0: not tied to a service). */
#define SR_COUNT(service, field, n)					\
	do {								\
		struct sr_counters *__c = sr_counters(service);		\
		if (__c)						\
			__c->field += (n);				\
	} while (0)

/*
 * The same for a gauge (a count that goes up and down, never reset): the
 * two sides of it may run on one CPU at once, a socket's softirq work
 * interrupting a system call's program, and a plain add would lose one of
 * them for good.
 */
#define SR_GAUGE(service, field, n)					\
	do {								\
		struct sr_counters *__c = sr_counters(service);		\
		if (__c)						\
			__sync_fetch_and_add(&__c->field, (n));		\
	} while (0)

static __always_inline struct sr_config *sr_get_config(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&sr_config, &zero);
}

#endif
