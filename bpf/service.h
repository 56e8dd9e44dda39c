/* SPDX-License-Identifier: (GPL-2.0 OR MIT) */
/* service.h - the registered services (proxies), by id. */
#ifndef SOCKREDIR_SERVICE_H
#define SOCKREDIR_SERVICE_H

#include "sockredir_abi.h"

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, SR_MAX_SERVICES);
	__type(key, __u32);
	__type(value, struct sr_service);
} sr_services SEC(".maps");

/* Service @id, or NULL if no such service is registered. */
static __always_inline const struct sr_service *sr_service_get(__u32 id)
{
	const struct sr_service *svc = bpf_map_lookup_elem(&sr_services, &id);

	return svc && svc->id ? svc : 0;
}

/* Does @svc listen in @family (AF_INET covers IPv4-mapped connects)? */
static __always_inline int sr_service_serves(const struct sr_service *svc,
					     int family)
{
	return family == AF_INET ? svc->port4 != 0 : svc->port6 != 0;
}

#endif
