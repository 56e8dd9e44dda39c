/*
 * ruleindex.c - compile rules into the LPM index the connect hook uses.
 *
 * The trie answers one question per connect: the longest prefix that holds
 * the destination.  So each prefix's entry lists the rules of that prefix
 * *and of every shorter prefix containing it*, in evaluation order.  A
 * destination no rule covers misses the trie and costs one lookup, however
 * many rules there are.
 */
#include <stdlib.h>
#include <string.h>
#include <bpf/bpf.h>

#include "internal.h"

struct prefix {
	struct sr_lpm_key key;	/* addr masked to the prefix */
	uint32_t first, count;	/* rules of exactly this prefix, in byslot */
};

static void mask(uint8_t *addr, unsigned int plen)
{
	unsigned int i;

	for (i = 0; i < 16; i++) {
		if (plen >= 8) {
			plen -= 8;
			continue;
		}
		addr[i] &= (uint8_t)(0xff00 >> plen);
		plen = 0;
	}
}

static int key_cmp(const struct sr_lpm_key *a, const struct sr_lpm_key *b)
{
	if (a->family != b->family)
		return a->family < b->family ? -1 : 1;
	if (a->prefixlen != b->prefixlen)
		return a->prefixlen < b->prefixlen ? -1 : 1;
	return memcmp(a->addr, b->addr, 16);
}

static int prefix_cmp(const void *a, const void *b)
{
	return key_cmp(&((const struct prefix *)a)->key,
		       &((const struct prefix *)b)->key);
}

/* One rule may stand under two families (no --dst). */
struct placed {
	struct sr_lpm_key key;
	const struct sr_rule_slot *r;
};

static int placed_cmp(const void *a, const void *b)
{
	return key_cmp(&((const struct placed *)a)->key,
		       &((const struct placed *)b)->key);
}

/* Evaluation order: higher weight first, then older (lower id) first. */
static int order_cmp(const struct sr_rule *a, const struct sr_rule *b)
{
	if (a->weight != b->weight)
		return a->weight > b->weight ? -1 : 1;
	return a->id < b->id ? -1 : a->id > b->id;
}

static int place(const struct sr_rule_slot *rules, size_t n,
		 struct placed **out)
{
	struct placed *p = calloc(2 * n + 1, sizeof(*p));
	size_t i, k = 0;
	int f;

	if (!p)
		return -ENOMEM;
	for (i = 0; i < n; i++) {
		const struct sr_rule *r = &rules[i].rule;

		for (f = 0; f < 2; f++) {
			int fam = f ? AF_INET6 : AF_INET;
			struct sr_lpm_key *key = &p[k].key;

			if (r->family && r->family != fam)
				continue;
			key->family = fam;
			key->prefixlen = 8 + r->prefix_len;
			memcpy(key->addr, r->dst, 16);
			mask(key->addr, r->prefix_len);
			p[k++].r = &rules[i];
		}
	}
	qsort(p, k, sizeof(*p), placed_cmp);
	*out = p;
	return k;
}

int sr_index_build(const struct sr_rule_slot *rules, size_t n,
		   struct sr_index_entry **out, struct sr_lpm_key *bad)
{
	struct placed *pl = NULL;
	struct prefix *px = NULL;
	struct sr_index_entry *e = NULL;
	uint8_t lens[2][129] = {};	/* prefix lengths in use, per family */
	size_t np = 0, i, j;
	int npl, err = 0;

	*out = NULL;
	npl = place(rules, n, &pl);
	if (npl < 0)
		return npl;
	px = calloc(npl + 1, sizeof(*px));
	if (!px) {
		err = -ENOMEM;
		goto out;
	}
	for (i = 0; i < (size_t)npl; i++) {
		if (!np || key_cmp(&px[np - 1].key, &pl[i].key)) {
			px[np].key = pl[i].key;
			px[np].first = i;
			np++;
			lens[pl[i].key.family == AF_INET6][pl[i].key.prefixlen - 8] = 1;
		}
		px[np - 1].count++;
	}
	e = calloc(np + 1, sizeof(*e));
	if (!e) {
		err = -ENOMEM;
		goto out;
	}
	for (i = 0; i < np; i++) {
		const struct sr_rule *set[SR_RULES_PER_ADDR];
		int fam6 = px[i].key.family == AF_INET6;
		unsigned int len, cnt = 0, plen = px[i].key.prefixlen - 8;

		e[i].key = px[i].key;
		/* Gather this prefix's rules and its ancestors'. */
		for (len = 0; len <= plen; len++) {
			struct prefix want = { .key = px[i].key }, *hit;

			if (!lens[fam6][len])
				continue;
			want.key.prefixlen = 8 + len;
			mask(want.key.addr, len);
			hit = bsearch(&want, px, np, sizeof(*px), prefix_cmp);
			if (!hit)
				continue;
			for (j = 0; j < hit->count; j++) {
				const struct sr_rule *r = &pl[hit->first + j].r->rule;
				unsigned int at = cnt;

				if (cnt == SR_RULES_PER_ADDR) {
					if (bad)
						*bad = px[i].key;
					err = -E2BIG;
					goto out;
				}
				/* insertion sort: sets are small */
				while (at > 0 && order_cmp(r, set[at - 1]) < 0) {
					set[at] = set[at - 1];
					at--;
				}
				set[at] = r;
				cnt++;
			}
		}
		e[i].set.n = cnt;
		for (j = 0; j < cnt; j++) {
			const struct sr_rule_slot *rs =
				(const void *)((const char *)set[j] -
					       offsetof(struct sr_rule_slot, rule));
			e[i].set.slot[j] = rs->slot;
		}
	}
	*out = e;
	e = NULL;
	err = np;
out:
	free(e);
	free(px);
	free(pl);
	return err;
}

static int entry_cmp(const void *a, const void *b)
{
	return key_cmp(&((const struct sr_index_entry *)a)->key,
		       &((const struct sr_index_entry *)b)->key);
}

/* Every entry of the kernel's index now, sorted; returns the count. */
static int index_read(int map, struct sr_index_entry **out)
{
	struct sr_index_entry *all = NULL;
	struct sr_lpm_key key, next;
	size_t n = 0, cap = 0;
	int more;

	more = !bpf_map_get_next_key(map, NULL, &next);
	while (more) {
		key = next;
		more = !bpf_map_get_next_key(map, &key, &next);
		if (n == cap) {
			struct sr_index_entry *p;

			cap = cap ? 2 * cap : 64;
			p = realloc(all, cap * sizeof(*p));
			if (!p) {
				free(all);
				return -ENOMEM;
			}
			all = p;
		}
		all[n].key = key;
		/* The key exists, so the longest match is the key itself. */
		if (bpf_map_lookup_elem(map, &key, &all[n].set))
			continue;	/* gone meanwhile: not ours to restore */
		n++;
	}
	if (n)
		qsort(all, n, sizeof(*all), entry_cmp);
	*out = all;
	return n;
}

int sr_index_sync(struct sr_txn *t, const struct sr_index_entry *e, size_t n)
{
	struct sr_index_entry *cur = NULL, *hit;
	int ncur, err = 0;
	size_t i;

	ncur = index_read(t->m.rule_index, &cur);
	if (ncur < 0)
		return ncur;
	/* New and changed entries first: a connect never sees fewer rules. */
	for (i = 0; i < n && !err; i++) {
		hit = ncur ? bsearch(&e[i], cur, ncur, sizeof(*cur), entry_cmp) : NULL;
		if (hit && !memcmp(&hit->set, &e[i].set, sizeof(hit->set)))
			continue;
		err = sr_txn_update_from(t, t->m.rule_index, &e[i].key, &e[i].set,
					 hit ? &hit->set : NULL);
	}
	/* Then what no rule needs any more (e is sorted by build). */
	for (i = 0; i < (size_t)ncur && !err; i++) {
		if (n && bsearch(&cur[i], e, n, sizeof(*e), entry_cmp))
			continue;
		err = sr_txn_delete_from(t, t->m.rule_index, &cur[i].key, &cur[i].set);
	}
	free(cur);
	return err;
}
