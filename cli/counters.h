/* counters.h - the layer's counters, one table for every form they take. */
#ifndef SOCKREDIR_CLI_COUNTERS_H
#define SOCKREDIR_CLI_COUNTERS_H

#include <stddef.h>
#include <stdint.h>
#include "sockredir.h"

struct counter_desc {
	const char *key;	/* JSON key, and the metric's name */
	const char *label;	/* text label */
	const char *help;	/* the metric's # HELP */
	size_t off;		/* in struct sockredir_counters */
};

extern const struct counter_desc counter_descs[];
extern const size_t ncounter_descs;

static inline uint64_t counter_value(const struct sockredir_counters *c,
				     const struct counter_desc *d)
{
	return *(const uint64_t *)((const char *)c + d->off);
}

#endif
