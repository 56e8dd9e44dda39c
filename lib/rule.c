/* rule.c - rules: parse, add (all or none), delete, list. */
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

static int parse_u32(const char *s, uint32_t max, uint32_t *out)
{
	char *end;
	unsigned long long v;

	if (!s || !*s || strspn(s, "0123456789") != strlen(s))
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || v > max)
		return -EINVAL;
	*out = v;
	return 0;
}

static int parse_prefix(const char *s, struct sockredir_rule *r)
{
	char buf[INET6_ADDRSTRLEN + 8], *slash;
	uint32_t plen;

	if (strlen(s) >= sizeof(buf))
		return -EINVAL;
	strcpy(buf, s);
	slash = strchr(buf, '/');
	if (slash)
		*slash++ = '\0';
	memset(r->dst, 0, sizeof(r->dst));
	if (inet_pton(AF_INET, buf, r->dst) == 1)
		r->family = AF_INET;
	else if (inet_pton(AF_INET6, buf, r->dst) == 1)
		r->family = AF_INET6;
	else
		return -EINVAL;
	plen = r->family == AF_INET ? 32 : 128;
	if (slash && parse_u32(slash, plen, &plen))
		return -EINVAL;
	r->prefix_len = plen;
	/* 10.1.2.3/8 means 10.0.0.0/8, as ip route reads it. */
	{
		unsigned int i, p = plen;

		for (i = 0; i < 16; i++, p = p >= 8 ? p - 8 : 0)
			if (p < 8)
				r->dst[i] &= (uint8_t)(0xff00 >> p);
	}
	return 0;
}

static int parse_ports(const char *s, struct sockredir_rule *r)
{
	char buf[16], *dash;
	uint32_t lo, hi;

	if (strlen(s) >= sizeof(buf))
		return -EINVAL;
	strcpy(buf, s);
	dash = strchr(buf, '-');
	if (dash)
		*dash++ = '\0';
	if (parse_u32(buf, 65535, &lo) || lo == 0)
		return -EINVAL;
	hi = lo;
	if (dash && (parse_u32(dash, 65535, &hi) || hi < lo))
		return -EINVAL;
	r->dport_lo = lo;
	r->dport_hi = hi;
	return 0;
}

#define FAIL(code, ...)							\
	do {								\
		if (err)						\
			snprintf(err, errlen, __VA_ARGS__);		\
		return sr_err(code);					\
	} while (0)

int sockredir_rule_parse(int argc, char **argv, struct sockredir_rule *r,
			 char *err, size_t errlen)
{
	struct sr_maps m = SR_MAPS_INIT;
	int i, have_action = 0;

	memset(r, 0, sizeof(*r));
	r->uid = -1;
	for (i = 0; i < argc; i++) {
		const char *opt = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;

		if (!strcmp(opt, "--permit") || !strcmp(opt, "--block")) {
			if (have_action++)
				FAIL(-EINVAL, "give one of --service, --permit and --block");
			r->action = opt[2] == 'p' ? SOCKREDIR_ACTION_PERMIT :
						    SOCKREDIR_ACTION_BLOCK;
			continue;
		}
		if (strncmp(opt, "--", 2))
			FAIL(-EINVAL, "unexpected word '%s'", opt);
		if (!val)
			FAIL(-EINVAL, "%s needs a value", opt);
		i++;
		if (!strcmp(opt, "--service")) {
			struct sr_service s;
			int id;

			if (have_action++)
				FAIL(-EINVAL, "give one of --service, --permit and --block");
			if (sr_maps_open(&m))
				FAIL(-ENOENT, "sockredir is not up");
			id = sr_service_find(&m, val, &s);
			sr_maps_close(&m);
			if (id < 0)
				FAIL(-ENOENT, "no service named '%s'", val);
			r->action = SOCKREDIR_ACTION_REDIRECT;
			r->service_id = id;
		} else if (!strcmp(opt, "--proto")) {
			if (!strcmp(val, "tcp"))
				r->protocol = IPPROTO_TCP;
			else if (!strcmp(val, "udp"))
				FAIL(-EINVAL, "UDP is not redirected yet: rules cover TCP");
			else
				FAIL(-EINVAL, "--proto takes tcp or udp, not '%s'", val);
		} else if (!strcmp(opt, "--dst")) {
			if (parse_prefix(val, r))
				FAIL(-EINVAL, "bad prefix '%s' (want ADDR[/LEN])", val);
		} else if (!strcmp(opt, "--dport")) {
			if (parse_ports(val, r))
				FAIL(-EINVAL, "bad port or range '%s' (want N or N-M, 1-65535)", val);
		} else if (!strcmp(opt, "--cgroup")) {
			char abs[PATH_MAX];
			unsigned int level;

			if (sr_cgroup_resolve(val, abs, sizeof(abs),
					      &r->cgroup_id, &level))
				FAIL(-ENOENT, "no cgroup '%s'", val);
			if (level > SR_CG_LEVELS)
				FAIL(-EINVAL, "cgroup '%s' is at level %u; rules can name cgroups down to level %d",
				     val, level, SR_CG_LEVELS);
			r->cgroup_level = level;
		} else if (!strcmp(opt, "--uid")) {
			uint32_t uid;

			if (parse_u32(val, UINT32_MAX - 1, &uid))
				FAIL(-EINVAL, "bad uid '%s'", val);
			r->uid = uid;
		} else if (!strcmp(opt, "--weight")) {
			uint32_t w;

			if (parse_u32(val, UINT32_MAX, &w))
				FAIL(-EINVAL, "bad weight '%s'", val);
			r->weight = w;
		} else {
			FAIL(-EINVAL, "unknown option '%s'", opt);
		}
	}
	if (!have_action)
		FAIL(-EINVAL, "give --service NAME, --permit or --block");
	return 0;
}

int sockredir_rule_add(struct sockredir_rule *in, size_t n)
{
	struct sr_maps m = SR_MAPS_INIT;
	struct sr_rule_slot *old = NULL, *all = NULL;
	struct sr_index_entry *idx = NULL;
	struct sr_service svcs[SR_MAX_SERVICES];
	struct sr_config cfg;
	struct sr_lpm_key bad;
	uint32_t next_id = 1, slot = 0;
	int nold, ni, lock = -1, err;
	size_t i, k;

	if (!in || n == 0 || n > SR_MAX_RULES)
		return sr_err(-EINVAL);
	lock = sr_lock();
	if (lock < 0)
		return sr_err(lock);
	err = sr_maps_open(&m);
	if (!err)
		err = sr_services_read(&m, svcs);
	if (!err)
		err = sr_config_read(&m, &cfg);
	if (err)
		goto out;
	nold = sr_rules_read(&m, &old);
	if (nold < 0) {
		err = nold;
		goto out;
	}
	if ((size_t)nold + n > SR_MAX_RULES - 1) {
		err = -ENOSPC;
		goto out;
	}
	all = calloc(nold + n, sizeof(*all));
	if (!all) {
		err = -ENOMEM;
		goto out;
	}
	memcpy(all, old, nold * sizeof(*all));
	for (k = 0; k < (size_t)nold; k++)
		if (old[k].rule.id >= next_id)
			next_id = old[k].rule.id + 1;
	if (cfg.next_rule_id > next_id)
		next_id = cfg.next_rule_id;

	/* Check and place every new rule before touching the kernel. */
	for (i = 0, k = 0; i < n; i++) {
		struct sr_rule_slot *rs = &all[nold + i];

		err = sr_rule_from_public(&in[i], &rs->rule);
		if (err)
			goto out;
		if (rs->rule.action == SR_ACT_REDIRECT &&
		    !svcs[rs->rule.service].id) {
			err = -ENOENT;
			goto out;
		}
		rs->rule.id = next_id++;
		/* lowest free slot; slot 0 stays unused */
		for (slot++; k < (size_t)nold && old[k].slot <= slot; k++)
			if (old[k].slot == slot)
				slot++;
		rs->slot = slot;
	}
	ni = sr_index_build(all, nold + n, &idx, &bad);
	if (ni < 0) {
		err = ni;
		goto out;
	}

	for (i = 0; i < n; i++) {
		struct sr_rule_slot *rs = &all[nold + i];

		if (bpf_map_update_elem(m.rules, &rs->slot, &rs->rule, BPF_ANY)) {
			err = -errno;
			goto undo;
		}
	}
	err = sr_index_sync(&m, idx, ni);
	if (err)
		goto undo;
	for (i = 0; i < n; i++)
		in[i].id = all[nold + i].rule.id;
	cfg.next_rule_id = next_id;
	sr_config_write(&m, &cfg);	/* only an id hint: rules are in */
	goto out;
undo:
	/* Back to the old index, then free the slots. */
	free(idx);
	idx = NULL;
	ni = sr_index_build(old, nold, &idx, &bad);
	if (ni >= 0)
		sr_index_sync(&m, idx, ni);
	for (i = 0; i < n; i++) {
		struct sr_rule zero = {};

		bpf_map_update_elem(m.rules, &all[nold + i].slot, &zero, BPF_ANY);
	}
out:
	free(idx);
	free(all);
	free(old);
	sr_maps_close(&m);
	sr_unlock(lock);
	return sr_err(err);
}

int sockredir_rule_del(uint32_t id)
{
	struct sr_maps m = SR_MAPS_INIT;
	struct sr_rule_slot *rules = NULL;
	struct sr_index_entry *idx = NULL;
	struct sr_rule zero = {};
	struct sr_lpm_key bad;
	int n, ni, i, k, lock, err;
	uint32_t slot = 0;

	lock = sr_lock();
	if (lock < 0)
		return sr_err(lock);
	err = sr_maps_open(&m);
	if (err)
		goto out;
	n = sr_rules_read(&m, &rules);
	if (n < 0) {
		err = n;
		goto out;
	}
	for (i = 0, k = 0; i < n; i++) {
		if (rules[i].rule.id == id)
			slot = rules[i].slot;
		else
			rules[k++] = rules[i];
	}
	if (k == n) {
		err = -ENOENT;
		goto out;
	}
	ni = sr_index_build(rules, k, &idx, &bad);
	err = ni < 0 ? ni : sr_index_sync(&m, idx, ni);
	if (err) {
		/* Put the index back as it was: nothing half-applied. */
		free(idx);
		idx = NULL;
		free(rules);
		n = sr_rules_read(&m, &rules);
		ni = n < 0 ? n : sr_index_build(rules, n, &idx, &bad);
		if (ni >= 0)
			sr_index_sync(&m, idx, ni);
		goto out;
	}
	if (bpf_map_update_elem(m.rules, &slot, &zero, BPF_ANY))
		err = -errno;
out:
	free(idx);
	free(rules);
	sr_maps_close(&m);
	sr_unlock(lock);
	return sr_err(err);
}

static int public_order(const void *a, const void *b)
{
	const struct sockredir_rule *x = a, *y = b;

	if (x->weight != y->weight)
		return x->weight > y->weight ? -1 : 1;
	return x->id < y->id ? -1 : x->id > y->id;
}

int sockredir_rule_list(struct sockredir_rule **out)
{
	struct sr_maps m = SR_MAPS_INIT;
	struct sr_rule_slot *rules = NULL;
	struct sockredir_rule *list;
	int n, i, err;

	if (!out)
		return sr_err(-EINVAL);
	*out = NULL;
	err = sr_maps_open(&m);
	if (err)
		return sr_err(err);
	n = sr_rules_read(&m, &rules);
	sr_maps_close(&m);
	if (n < 0)
		return sr_err(n);
	list = calloc(n + 1, sizeof(*list));
	if (!list) {
		free(rules);
		return sr_err(-ENOMEM);
	}
	for (i = 0; i < n; i++)
		sr_rule_to_public(&rules[i].rule, &list[i]);
	free(rules);
	qsort(list, n, sizeof(*list), public_order);
	*out = list;
	return n;
}
