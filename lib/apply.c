/*
 * apply.c - make the running layer equal a whole configuration, changing
 * only the difference, in one transaction: all of it or none of it.
 *
 * The order is what keeps traffic safe while it happens: new services and
 * changed settings first, then one change of the rules (new rules' slots,
 * the index switched to the new set, old slots freed: no address is ever
 * without its rules), then the services nothing points at any more.
 */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

struct plan {
	size_t ns, nr;
	struct sr_service *want;	/* per conf service, converted */
	int *running;			/* per conf service: its id now, or 0 */
	struct sr_rule *rules;		/* per conf rule, converted */
	int *svc;			/* per conf rule: its conf service, or -1 */
	const char **names;		/* per conf rule */
	struct sr_rule_slot *old;	/* the running rules, in slot order */
	int nold;
	uint32_t *old_name_ids;
	char (*old_names)[SOCKREDIR_NAME_MAX];
	int nold_names;
	char *kept;			/* per old rule: in the conf too */
	char *added;			/* per conf rule: not running yet */
};

static void plan_free(struct plan *p)
{
	free(p->want);
	free(p->running);
	free(p->rules);
	free(p->svc);
	free(p->names);
	free(p->old);
	free(p->old_name_ids);
	free(p->old_names);
	free(p->kept);
	free(p->added);
}

static int same_rule(const struct sr_rule *a, const struct sr_rule *b)
{
	return a->weight == b->weight && a->action == b->action &&
	       a->protocol == b->protocol && a->family == b->family &&
	       a->prefix_len == b->prefix_len && !memcmp(a->dst, b->dst, 16) &&
	       a->dport_lo == b->dport_lo && a->dport_hi == b->dport_hi &&
	       a->service == b->service && a->uid == b->uid &&
	       a->cgroup_id == b->cgroup_id &&
	       a->cgroup_level == b->cgroup_level;
}

static const char *old_name(const struct plan *p, uint32_t id)
{
	int i;

	for (i = 0; i < p->nold_names; i++)
		if (p->old_name_ids[i] == id)
			return p->old_names[i];
	return "";
}

/* Check and convert everything in @conf; nothing running is read yet. */
static int convert(const struct sockredir_conf *conf, struct plan *p,
		   struct sockredir_apply_result *r)
{
	size_t i, j;
	int err;

	p->ns = conf->nservices;
	p->nr = conf->nrules;
	p->want = calloc(p->ns + 1, sizeof(*p->want));
	p->running = calloc(p->ns + 1, sizeof(*p->running));
	p->rules = calloc(p->nr + 1, sizeof(*p->rules));
	p->svc = calloc(p->nr + 1, sizeof(*p->svc));
	p->names = calloc(p->nr + 1, sizeof(*p->names));
	p->added = calloc(p->nr + 1, 1);
	if (!p->want || !p->running || !p->rules || !p->svc || !p->names ||
	    !p->added)
		return -ENOMEM;
	for (i = 0; i < p->ns; i++) {
		r->bad_service = i;
		err = sr_service_make(&conf->services[i].svc,
				      conf->services[i].owner_cgroup, &p->want[i]);
		if (err)
			return err;
		for (j = 0; j < i; j++)
			if (!strcmp(p->want[i].name, p->want[j].name))
				return -EEXIST;
	}
	r->bad_service = -1;
	for (i = 0; i < p->nr; i++) {
		struct sockredir_rule in = conf->rules[i].rule;
		const char *svc = conf->rules[i].service;

		r->bad_rule = i;
		p->svc[i] = -1;
		if (in.action == SOCKREDIR_ACTION_REDIRECT) {
			for (j = 0; svc && j < p->ns; j++)
				if (!strcmp(p->want[j].name, svc))
					p->svc[i] = j;
			if (p->svc[i] < 0)
				return -ENOENT;
			in.service_id = 1;	/* the real id is known later */
		}
		in.name[SOCKREDIR_NAME_MAX - 1] = '\0';
		err = sr_rule_from_public(&in, &p->rules[i]);
		if (err)
			return err;
		if (in.name[0] && !sr_name_ok(in.name))
			return -EINVAL;
		p->names[i] = conf->rules[i].rule.name;
		for (j = 0; j < i && in.name[0]; j++)
			if (!strcmp(p->names[j], in.name))
				return -EEXIST;
	}
	r->bad_rule = -1;
	return 0;
}

/* Which services and rules are running already, and may stay. */
static int compare(struct sr_txn *t, struct plan *p,
		   struct sockredir_apply_result *r)
{
	size_t i, free_ids = 0;
	int j, id;

	for (i = 0; i < p->ns; i++) {
		for (id = SR_MAX_SERVICES - 1; id > 0; id--)
			if (t->svcs[id].id && !strcmp(t->svcs[id].name, p->want[i].name))
				break;
		p->running[i] = id;
		if (t->up && !sr_service_owner_inside(t, &p->want[i])) {
			r->bad_service = i;
			return -EXDEV;
		}
		if (!p->running[i])
			r->services_added++;
		else if (sr_service_same(&p->want[i], &t->svcs[id]))
			r->services_kept++;
		else
			r->services_changed++;
	}
	for (j = 1; j < SR_MAX_SERVICES; j++) {
		int wanted = 0;

		free_ids += !t->svcs[j].id;
		for (i = 0; i < p->ns && t->svcs[j].id; i++)
			wanted |= p->running[i] == j;
		r->services_removed += t->svcs[j].id && !wanted;
	}
	if (r->services_added > free_ids)
		return -ENOSPC;

	/* Rules to services that run already keep their ids when unchanged. */
	for (i = 0; i < p->nr; i++)
		if (p->svc[i] >= 0)
			p->rules[i].service = p->running[p->svc[i]];
	if (t->up) {
		p->nold = sr_rules_read(&t->m, &p->old);
		if (p->nold < 0)
			return p->nold;
		p->nold_names = sr_rule_names_read(&t->m, &p->old_name_ids,
						   &p->old_names);
		if (p->nold_names < 0)
			return p->nold_names;
	}
	p->kept = calloc(p->nold + 1, 1);
	if (!p->kept)
		return -ENOMEM;
	for (i = 0; i < p->nr; i++) {
		p->added[i] = 1;
		/* (A rule to a new service is new.) */
		for (j = 0; j < p->nold && (p->svc[i] < 0 || p->rules[i].service); j++) {
			if (p->kept[j] || !same_rule(&p->old[j].rule, &p->rules[i]) ||
			    strcmp(old_name(p, p->old[j].rule.id), p->names[i]))
				continue;
			p->kept[j] = 1;
			p->added[i] = 0;
			break;
		}
		r->rules_added += p->added[i];
	}
	for (j = 0; j < p->nold; j++)
		r->rules_kept += p->kept[j];
	r->rules_removed = p->nold - r->rules_kept;
	return 0;
}

/* Is @addr inside rule @x's prefix? */
static int covers(const struct sr_rule *x, const uint8_t *addr)
{
	unsigned int i, p = x->prefix_len;

	for (i = 0; i < 16 && p; i++, p = p >= 8 ? p - 8 : 0) {
		uint8_t m = p >= 8 ? 0xff : (uint8_t)(0xff00 >> p);

		if ((x->dst[i] & m) != (addr[i] & m))
			return 0;
	}
	return 1;
}

/* Does the conf's rule set fit the index?  Names the rule if not. */
static int check_index(const struct plan *p, struct sockredir_apply_result *r)
{
	struct sr_rule_slot *all = calloc(p->nr + 1, sizeof(*all));
	struct sr_index_entry *idx = NULL;
	struct sr_lpm_key bad;
	size_t i;
	int n;

	if (!all)
		return -ENOMEM;
	for (i = 0; i < p->nr; i++) {
		all[i].slot = i + 1;
		all[i].rule = p->rules[i];
		all[i].rule.id = i + 1;
	}
	n = sr_index_build(all, p->nr, &idx, &bad);
	free(all);
	free(idx);
	if (n != -E2BIG)
		return n < 0 ? n : 0;
	/* The first rule at that very prefix, else the first covering it. */
	for (int pass = 0; pass < 2 && r->bad_rule < 0; pass++)
		for (i = 0; i < p->nr && r->bad_rule < 0; i++) {
			const struct sr_rule *x = &p->rules[i];

			if ((x->family && x->family != bad.family) ||
			    (pass == 0 && 8u + x->prefix_len != bad.prefixlen) ||
			    8u + x->prefix_len > bad.prefixlen || !covers(x, bad.addr))
				continue;
			r->bad_rule = i;
		}
	return -E2BIG;
}

static int execute(struct sr_txn *t, const struct sockredir_conf *conf,
		   struct plan *p)
{
	struct sr_rule_slot *keep = NULL;
	struct sr_rule *add = NULL;
	const char **names = NULL;
	size_t i, nkeep = 0, nadd = 0;
	int j, err = 0;

	for (i = 0; i < p->ns && !err; i++) {
		if (!p->running[i]) {
			err = sr_service_insert(t, &p->want[i]);
			if (err > 0)
				p->running[i] = err, err = 0;
		} else if (!sr_service_same(&p->want[i], &t->svcs[p->running[i]])) {
			err = sr_service_change(t, p->running[i], &p->want[i]);
		}
	}
	keep = calloc(p->nold + 1, sizeof(*keep));
	add = calloc(p->nr + 1, sizeof(*add));
	names = calloc(p->nr + 1, sizeof(*names));
	if (!err && (!keep || !add || !names))
		err = -ENOMEM;
	if (err)
		goto out;
	for (j = 0; j < p->nold; j++)
		if (p->kept[j])
			keep[nkeep++] = p->old[j];
	for (i = 0; i < p->nr; i++) {
		if (!p->added[i])
			continue;
		add[nadd] = p->rules[i];
		if (p->svc[i] >= 0)
			add[nadd].service = p->running[p->svc[i]];
		names[nadd++] = p->names[i];
	}
	if (nadd || nkeep != (size_t)p->nold)
		err = sr_rules_change(t, p->old, p->nold, keep, nkeep, add,
				      names, nadd);
	for (j = 1; j < SR_MAX_SERVICES && !err; j++) {
		int wanted = 0;

		for (i = 0; i < p->ns; i++)
			wanted |= p->running[i] == j;
		if (t->svcs[j].id && !wanted)
			err = sr_service_remove(t, j);
	}
	if (!err && conf->max_hops && conf->max_hops != t->cfg.max_hops) {
		t->cfg.max_hops = conf->max_hops;
		err = sr_txn_write_config(t);
	}
out:
	free(keep);
	free(add);
	free(names);
	return err;
}

int sockredir_apply(const struct sockredir_conf *conf, unsigned int flags,
		    struct sockredir_apply_result *res)
{
	struct sockredir_apply_result r = { .sz = sizeof(r), .bad_service = -1,
					    .bad_rule = -1 };
	struct plan p = {};
	struct sr_txn t;
	int check = flags & SOCKREDIR_APPLY_CHECK, err;

	if (!conf || conf->sz < sizeof(*conf) || (res && res->sz < sizeof(*res)) ||
	    (flags & ~SOCKREDIR_APPLY_CHECK) || conf->max_hops > SOCKREDIR_MAX_HOPS ||
	    (conf->nservices && !conf->services) || (conf->nrules && !conf->rules))
		return sr_err(-EINVAL);
	err = convert(conf, &p, &r);
	if (err)
		goto out;
	err = sr_txn_begin(&t, check ? SR_TXN_IF_UP : SR_TXN_WRITE);
	if (err)
		goto out;
	err = compare(&t, &p, &r);
	if (!err)
		err = check_index(&p, &r);
	r.max_hops_changed = conf->max_hops && t.up &&
			     conf->max_hops != t.cfg.max_hops;
	if (!err && !check)
		err = execute(&t, conf, &p);
	if (check)
		sr_txn_commit(&t);	/* nothing was written */
	else
		err = sr_txn_end(&t, err);
out:
	plan_free(&p);
	if (res)
		*res = r;
	return sr_err(err);
}
