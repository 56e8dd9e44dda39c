/* SPDX-License-Identifier: (GPL-2.0 OR MIT) */
/* maps.h - the layer's maps, and the counters kept next to them. */
#ifndef SOCKREDIR_MAPS_H
#define SOCKREDIR_MAPS_H

#include "sockredir_abi.h"

/* The pinned maps are the control plane's only way in (lib/maps.c). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct sr_config);
} sr_config SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, SR_MAX_SERVICES);
	__type(key, __u32);
	__type(value, struct sr_service);
} sr_services SEC(".maps");

/* Service name -> id, for SOCKREDIR_CLAIM; kept by the control plane. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, SR_MAX_SERVICES);
	__type(key, char[SR_NAME_MAX]);
	__type(value, __u32);
} sr_service_names SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, SR_MAX_RULES);
	__type(key, __u32);
	__type(value, struct sr_rule);
} sr_rules SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, SR_MAX_RULES);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct sr_lpm_key);
	__type(value, struct sr_ruleset);
} sr_rule_index SEC(".maps");

/* Per socket, only for sockets that were redirected or given records. */
struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct sr_sock);
} sr_socks SEC(".maps");

/*
 * Connects on their way to a proxy, by 4-tuple, until the proxy's accept
 * (or the client's close) takes them out.  LRU bounds it if neither comes.
 */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, SR_PENDING_MAX);
	__type(key, struct sr_tuple);
	__type(value, struct sr_flow);
} sr_pending SEC(".maps");

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

#define SR_COUNT(service, field, n)					\
	do {								\
		struct sr_counters *__c = sr_counters(service);		\
		if (__c)						\
			__c->field += (n);				\
	} while (0)

static __always_inline struct sr_config *sr_get_config(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&sr_config, &zero);
}

#endif
