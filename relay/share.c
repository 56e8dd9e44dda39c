/* SPDX-License-Identifier: MIT */
/*
 * share.c - flow counts per application, in a chained hash table; an
 * entry lives while its application has flows.
 */
#include <errno.h>
#include <stdlib.h>

#include "share.h"

#define BUCKETS 1024

struct app {
	struct app *next;
	uint32_t uid;
	uint64_t cgroup;
	unsigned int flows;
};

struct share {
	unsigned int cap;
	struct app *bucket[BUCKETS];
};

struct share *share_new(unsigned int cap)
{
	struct share *s = calloc(1, sizeof(*s));

	if (s)
		s->cap = cap;
	return s;
}

void share_free(struct share *s)
{
	struct app *a;
	int i;

	if (!s)
		return;
	for (i = 0; i < BUCKETS; i++) {
		while ((a = s->bucket[i])) {
			s->bucket[i] = a->next;
			free(a);
		}
	}
	free(s);
}

static struct app **find(struct share *s, uint32_t uid, uint64_t cgroup)
{
	uint64_t h = (cgroup * 0x9e3779b97f4a7c15ull) ^ (uid * 0xff51afd7ed558ccdull);
	struct app **a = &s->bucket[(h >> 32) % BUCKETS];

	while (*a && ((*a)->uid != uid || (*a)->cgroup != cgroup))
		a = &(*a)->next;
	return a;
}

int share_take(struct share *s, uint32_t uid, uint64_t cgroup)
{
	struct app **a = find(s, uid, cgroup);

	if (!*a) {
		*a = calloc(1, sizeof(**a));
		if (!*a)
			return -ENOMEM;
		(*a)->uid = uid;
		(*a)->cgroup = cgroup;
	}
	if ((*a)->flows >= s->cap)
		return -EUSERS;
	(*a)->flows++;
	return 0;
}

void share_put(struct share *s, uint32_t uid, uint64_t cgroup)
{
	struct app **a = find(s, uid, cgroup), *gone;

	if (!*a)
		return;
	if (--(*a)->flows == 0) {
		gone = *a;
		*a = gone->next;
		free(gone);
	}
}
