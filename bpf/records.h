/* SPDX-License-Identifier: (GPL-2.0 OR MIT) */
/* records.h - signing, checking and reading a flow's records. */
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

/* FwpsQueryConnectionRedirectState for @service, from @r (may be NULL). */
static __always_inline int sr_records_state(const struct sr_records *r,
					    __u16 service)
{
	int i, last, state = SR_BY_OTHER;

	if (!r || r->nhops == 0)
		return SR_NOT_REDIRECTED;
	last = r->nhops - 1;
	for (i = 0; i < SR_MAX_HOPS; i++) {
		if (i > last)
			break;
		if (r->hops[i] != service)
			continue;
		if (i == last)
			return SR_BY_SELF;
		state = SR_PREVIOUSLY_BY_SELF;
	}
	return state;
}

#endif
