/* rule.c - rules: add (all or none), delete, list; one index change each. */
#include <arpa/inet.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <bpf/bpf.h>

#include "internal.h"

int sr_rules_read(const struct sr_maps *m, struct sr_rule_slot **out)
{
	struct sr_rule_slot *list = NULL;
	struct sr_rule *all;
	uint32_t *keys, count = SR_MAX_RULES, i;
	size_t n = 0;
	int err = 0;

	*out = NULL;
	all = calloc(SR_MAX_RULES, sizeof(*all));
	keys = calloc(SR_MAX_RULES, sizeof(*keys));
	if (!all || !keys) {
		err = -ENOMEM;
		goto out;
	}
	/* One syscall for the whole array, where the kernel allows it. */
	if (bpf_map_lookup_batch(m->rules, NULL, &i, keys, all, &count, NULL)) {
		if (errno != ENOENT) {
			for (i = 0; i < SR_MAX_RULES; i++)
				if (bpf_map_lookup_elem(m->rules, &i, &all[i])) {
					err = -errno;
					goto out;
				}
		}
	}
	for (i = 0; i < SR_MAX_RULES; i++)
		n += all[i].id != 0;
	list = calloc(n + 1, sizeof(*list));
	if (!list) {
		err = -ENOMEM;
		goto out;
	}
	n = 0;
	for (i = 0; i < SR_MAX_RULES; i++) {
		if (!all[i].id)
			continue;
		list[n].slot = i;
		list[n].rule = all[i];
		n++;
	}
	*out = list;
	err = n;
out:
	free(all);
	free(keys);
	return err;
}

void sr_rule_to_public(const struct sr_rule *in, struct sockredir_rule *out)
{
	memset(out, 0, sizeof(*out));
	out->id = in->id;
	out->weight = in->weight;
	out->action = in->action;
	out->protocol = in->protocol;
	out->family = in->family;
	out->prefix_len = in->prefix_len;
	memcpy(out->dst, in->dst, 16);
	out->dport_lo = in->dport_lo;
	out->dport_hi = in->dport_hi;
	out->service_id = in->service;
	out->uid = in->uid == SR_ANY_UID ? -1 : (int64_t)in->uid;
	out->cgroup_id = in->cgroup_id;
	out->cgroup_level = in->cgroup_level;
}

int sr_rule_from_public(const struct sockredir_rule *in, struct sr_rule *out)
{
	unsigned int max = in->family == AF_INET ? 32 : 128;

	memset(out, 0, sizeof(*out));
	if (in->action != SOCKREDIR_ACTION_REDIRECT &&
	    in->action != SOCKREDIR_ACTION_PERMIT &&
	    in->action != SOCKREDIR_ACTION_BLOCK)
		return -EINVAL;
	if (in->action == SOCKREDIR_ACTION_REDIRECT &&
	    (!in->service_id || in->service_id >= SR_MAX_SERVICES))
		return -EINVAL;
	if (in->protocol && in->protocol != IPPROTO_TCP &&
	    in->protocol != IPPROTO_UDP)
		return -EINVAL;
	if (in->family != 0 && in->family != AF_INET && in->family != AF_INET6)
		return -EINVAL;
	if ((in->family == 0 && in->prefix_len) || in->prefix_len > max)
		return -EINVAL;
	if (in->dport_lo > in->dport_hi || (in->dport_hi && !in->dport_lo))
		return -EINVAL;
	/* Deeper cgroups could not be matched once a proxy carries the flow:
	 * the records hold the application's ancestors down to SR_CG_LEVELS. */
	if (in->uid < -1 || in->uid >= (int64_t)UINT32_MAX ||
	    in->cgroup_level > SR_CG_LEVELS)
		return -EINVAL;
	out->weight = in->weight;
	out->action = in->action;
	out->protocol = in->protocol;
	out->family = in->family;
	out->prefix_len = in->prefix_len;
	memcpy(out->dst, in->dst, 16);
	out->dport_lo = in->dport_lo;
	out->dport_hi = in->dport_hi;
	out->service = in->action == SOCKREDIR_ACTION_REDIRECT ? in->service_id : 0;
	out->uid = in->uid < 0 ? SR_ANY_UID : (uint32_t)in->uid;
	out->cgroup_id = in->cgroup_id;
	out->cgroup_level = in->cgroup_level;
	return 0;
}

/* Evaluation order: higher weight first, then older (lower id) first. */
static int public_order(const void *a, const void *b)
{
	const struct sockredir_rule *x = a, *y = b;

	if (x->weight != y->weight)
		return x->weight > y->weight ? -1 : 1;
	return x->id < y->id ? -1 : x->id > y->id;
}

int sr_rules_change(struct sr_txn *t, const struct sr_rule_slot *old,
		    size_t nold, const struct sr_rule_slot *keep, size_t nkeep,
		    struct sr_rule *add, const char *const *names, size_t nadd)
{
	struct sr_rule_slot *all;
	struct sr_index_entry *idx = NULL;
	struct sr_rule zero = {};
	uint32_t next_id = t->cfg.next_rule_id, slot = 0;
	size_t i, k, j;
	int ni, err = 0;

	if (nkeep + nadd > SR_MAX_RULES - 1)
		return -ENOSPC;
	all = calloc(nkeep + nadd + 1, sizeof(*all));
	if (!all)
		return -ENOMEM;
	memcpy(all, keep, nkeep * sizeof(*all));
	for (k = 0; k < nold; k++)
		if (old[k].rule.id >= next_id)
			next_id = old[k].rule.id + 1;
	if (!next_id)
		next_id = 1;
	/*
	 * New rules take the lowest slots no old rule holds (slot 0 stays
	 * unused); slots of rules going away are not reused, since the index
	 * points at them until the change is in.  @old is in slot order.
	 */
	for (i = 0, k = 0; i < nadd; i++) {
		struct sr_rule_slot *rs = &all[nkeep + i];

		if (add[i].action == SR_ACT_REDIRECT &&
		    (add[i].service >= SR_MAX_SERVICES ||
		     !t->svcs[add[i].service].id)) {
			err = -ENOENT;
			goto out;
		}
		rs->rule = add[i];
		rs->rule.id = add[i].id = next_id++;
		for (slot++; k < nold && old[k].slot <= slot; k++)
			if (old[k].slot == slot)
				slot++;
		if (slot >= SR_MAX_RULES) {
			err = -ENOSPC;
			goto out;
		}
		rs->slot = slot;
	}
	ni = sr_index_build(all, nkeep + nadd, &idx, NULL);
	if (ni < 0) {
		err = ni;
		goto out;
	}
	err = sr_release_rules(t, keep, nkeep, add, nadd);	/* before any write */
	if (err)
		goto out;
	/* Slots, then the index that points at them, then old slots freed. */
	for (i = 0; i < nadd && !err; i++)
		err = sr_txn_update(t, t->m.rules, &all[nkeep + i].slot,
				    &all[nkeep + i].rule);
	if (!err)
		err = sr_index_sync(t, idx, ni);
	for (k = 0, j = 0; k < nold && !err; k++) {
		while (j < nkeep && keep[j].slot < old[k].slot)
			j++;
		if (j < nkeep && keep[j].slot == old[k].slot)
			continue;
		err = sr_txn_update(t, t->m.rules, &old[k].slot, &zero);
		if (!err)
			err = sr_rule_name_forget(t, old[k].rule.id);
	}
	for (i = 0; i < nadd && !err && names; i++)
		if (names[i] && names[i][0])
			err = sr_rule_name_set(t, add[i].id, names[i]);
	if (!err && next_id != t->cfg.next_rule_id) {
		t->cfg.next_rule_id = next_id;
		err = sr_txn_write_config(t);
	}
out:
	free(idx);
	free(all);
	return err;
}

/* Are the names of @in unique, among themselves and the running rules? */
static int names_free(const struct sr_txn *t, const struct sockredir_rule *in,
		      size_t n)
{
	char (*names)[SOCKREDIR_NAME_MAX];
	uint32_t *ids;
	size_t i, j;
	int nn, err = 0;

	for (i = 0; i < n && !err; i++)
		for (j = 0; j < i && in[i].name[0]; j++)
			if (!strcmp(in[i].name, in[j].name))
				err = -EEXIST;
	nn = sr_rule_names_read(&t->m, &ids, &names);
	if (nn < 0)
		return nn;
	for (i = 0; i < n && !err; i++)
		for (j = 0; j < (size_t)nn && in[i].name[0]; j++)
			if (!strcmp(in[i].name, names[j]))
				err = -EEXIST;
	free(ids);
	free(names);
	return err;
}

int sockredir_rule_add(struct sockredir_rule *in, size_t n)
{
	struct sr_rule_slot *old = NULL;
	struct sr_rule *add = NULL;
	const char **names = NULL;
	struct sr_txn t;
	int nold, err = 0;
	size_t i;

	if (!in || n == 0 || n > SR_MAX_RULES)
		return sr_err(-EINVAL);
	add = calloc(n, sizeof(*add));
	names = calloc(n, sizeof(*names));
	if (!add || !names)
		err = -ENOMEM;
	for (i = 0; i < n && !err; i++) {
		err = sr_rule_from_public(&in[i], &add[i]);
		if (!err && in[i].name[0] && !sr_name_ok(in[i].name))
			err = -EINVAL;
		names[i] = in[i].name;
	}
	if (!err)
		err = sr_txn_begin(&t, SR_TXN_WRITE);
	if (err) {
		free(add);
		free(names);
		return sr_err(err);
	}
	err = names_free(&t, in, n);
	if (!err) {
		nold = err = sr_rules_read(&t.m, &old);
		if (nold >= 0)
			err = sr_rules_change(&t, old, nold, old, nold, add,
					      names, n);
	}
	if (!err)
		for (i = 0; i < n; i++)
			in[i].id = add[i].id;
	free(add);
	free(names);
	free(old);
	return sr_txn_end(&t, err);
}

int sr_rules_drop(struct sr_txn *t, int (*drop)(const struct sr_rule *, void *),
		  void *arg)
{
	struct sr_rule_slot *old = NULL, *keep = NULL;
	int n, i, k = 0, err;

	n = sr_rules_read(&t->m, &old);
	if (n < 0)
		return n;
	keep = calloc(n + 1, sizeof(*keep));
	if (!keep) {
		free(old);
		return -ENOMEM;
	}
	for (i = 0; i < n; i++)
		if (!drop(&old[i].rule, arg))
			keep[k++] = old[i];
	err = k == n ? 0 : sr_rules_change(t, old, n, keep, k, NULL, NULL, 0);
	free(keep);
	free(old);
	return err < 0 ? err : n - k;
}

static int is_id(const struct sr_rule *r, void *arg)
{
	return r->id == *(uint32_t *)arg;
}

int sockredir_rule_del(uint32_t id)
{
	struct sr_txn t;
	int err;

	err = sr_txn_begin(&t, SR_TXN_WRITE);
	if (err)
		return sr_err(err);
	err = sr_rules_drop(&t, is_id, &id);
	if (err == 0)
		err = -ENOENT;
	return sr_txn_end(&t, err < 0 ? err : 0);
}

int sockredir_rule_list(struct sockredir_rule **out)
{
	struct sr_rule_slot *rules = NULL;
	struct sockredir_rule *list;
	char (*names)[SOCKREDIR_NAME_MAX] = NULL;
	uint32_t *ids = NULL;
	struct sr_txn t;
	int n, nn, i, j, err;

	if (!out)
		return sr_err(-EINVAL);
	*out = NULL;
	err = sr_txn_begin(&t, 0);
	if (err)
		return sr_err(err);
	n = sr_rules_read(&t.m, &rules);
	nn = n < 0 ? 0 : sr_rule_names_read(&t.m, &ids, &names);
	sr_txn_commit(&t);
	if (n < 0 || nn < 0) {
		free(rules);
		return sr_err(n < 0 ? n : nn);
	}
	list = calloc(n + 1, sizeof(*list));
	if (!list) {
		free(rules);
		free(ids);
		free(names);
		return sr_err(-ENOMEM);
	}
	for (i = 0; i < n; i++) {
		sr_rule_to_public(&rules[i].rule, &list[i]);
		for (j = 0; j < nn; j++)
			if (ids[j] == list[i].id)
				strcpy(list[i].name, names[j]);
	}
	free(rules);
	free(ids);
	free(names);
	qsort(list, n, sizeof(*list), public_order);
	*out = list;
	return n;
}
