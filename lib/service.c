/* service.c - redirect services: one per proxy, the identity records carry. */
#include <arpa/inet.h>
#include <ctype.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "internal.h"

static int name_ok(const char *name)
{
	size_t i, n = strlen(name);

	if (n == 0 || n >= SOCKREDIR_NAME_MAX)
		return 0;
	for (i = 0; i < n; i++)
		if (!isalnum((unsigned char)name[i]) && !strchr("-_.", name[i]))
			return 0;
	return isalpha((unsigned char)name[0]);
}

/* A wildcard listener is reached on loopback. */
static void fill_listeners(const struct sockredir_service *in,
			   struct sr_service *s)
{
	if (in->listen4.sin_port) {
		s->port4 = in->listen4.sin_port;
		s->addr4 = in->listen4.sin_addr.s_addr;
		if (s->addr4 == htonl(INADDR_ANY))
			s->addr4 = htonl(INADDR_LOOPBACK);
	}
	if (in->listen6.sin6_port) {
		s->port6 = in->listen6.sin6_port;
		memcpy(s->addr6, &in->listen6.sin6_addr, 16);
		if (IN6_IS_ADDR_UNSPECIFIED(&in->listen6.sin6_addr))
			memcpy(s->addr6, &in6addr_loopback, 16);
	}
}

/* Is absolute cgroup path @path @top or below it? */
static int below(const char *path, const char *top)
{
	size_t n = strlen(top);

	return !strncmp(path, top, n) && (path[n] == '/' || !path[n] ||
					  (n && top[n - 1] == '/'));
}

static int zero_counters(const struct sr_maps *m, uint32_t id)
{
	int ncpu = libbpf_num_possible_cpus(), err = 0;
	struct sr_counters *zero;

	if (ncpu <= 0)
		return ncpu < 0 ? ncpu : -EINVAL;
	zero = calloc(ncpu, sizeof(*zero));
	if (!zero)
		return -ENOMEM;
	if (bpf_map_update_elem(m->stats, &id, zero, BPF_ANY))
		err = -errno;
	free(zero);
	return err;
}

int sockredir_service_add(const struct sockredir_service *in,
			  const char *owner_cgroup)
{
	struct sr_maps m = SR_MAPS_INIT;
	struct sr_service all[SR_MAX_SERVICES], s, none = {};
	struct sr_config cfg;
	char cgpath[PATH_MAX] = "", key[SR_NAME_MAX] = {};
	uint32_t id = 0, i;
	int lock = -1, err;

	if (!in || !name_ok(in->name))
		return sr_err(-EINVAL);
	if (!in->listen4.sin_port && !in->listen6.sin6_port)
		return sr_err(-EINVAL);
	if (in->owner_uid < -1 || in->owner_uid > (int64_t)UINT32_MAX - 1 ||
	    in->flags & ~(SOCKREDIR_FAIL_CLOSED | SOCKREDIR_SKIP_INSPECTED))
		return sr_err(-EINVAL);
	memset(&s, 0, sizeof(s));
	strcpy(s.name, in->name);
	strcpy(key, in->name);
	fill_listeners(in, &s);
	s.owner_uid = in->owner_uid < 0 ? SR_ANY_UID : (uint32_t)in->owner_uid;
	s.flags = (in->flags & SOCKREDIR_FAIL_CLOSED ? SR_SVC_FAIL_CLOSED : 0) |
		  (in->flags & SOCKREDIR_SKIP_INSPECTED ? SR_SVC_SKIP_INSPECTED : 0);
	if (owner_cgroup) {
		uint64_t cgid;
		unsigned int level;

		err = sr_cgroup_resolve(owner_cgroup, cgpath, sizeof(cgpath),
					&cgid, &level);
		if (err)
			return sr_err(err);
		s.owner_cgroup_id = cgid;
		s.owner_cgroup_level = level;
	}

	lock = sr_lock();
	if (lock < 0)
		return sr_err(lock);
	err = sr_maps_open(&m);
	if (!err)
		err = sr_services_read(&m, all);
	if (!err)
		err = sr_config_read(&m, &cfg);
	if (err)
		goto out;
	if (cgpath[0] && !below(cgpath, cfg.cgroup_path)) {
		err = -EXDEV;
		goto out;
	}
	for (i = 1; i < SR_MAX_SERVICES; i++) {
		uint32_t at = (cfg.last_id + i - 1) % (SR_MAX_SERVICES - 1) + 1;

		if (all[i].id && !strcmp(all[i].name, s.name)) {
			err = -EEXIST;
			goto out;
		}
		if (!all[at].id && !id)
			id = at;
	}
	if (!id) {
		err = -ENOSPC;
		goto out;
	}
	s.id = id;
	s.gen = ++cfg.next_gen;
	cfg.last_id = id;
	err = zero_counters(&m, id);
	if (err)
		goto out;
	if (bpf_map_update_elem(m.services, &id, &s, BPF_ANY) ||
	    bpf_map_update_elem(m.names, key, &id, BPF_ANY)) {
		err = -errno;
		goto undo;
	}
	err = sr_config_write(&m, &cfg);
	if (!err)
		err = sr_owner_set(&m, id, &s);
	if (!err) {
		err = id;
		goto out;
	}
undo:
	bpf_map_update_elem(m.services, &id, &none, BPF_ANY);
	bpf_map_delete_elem(m.names, key);
out:
	sr_maps_close(&m);
	sr_unlock(lock);
	return sr_err(err);
}

int sockredir_service_del(const char *name)
{
	struct sr_maps m = SR_MAPS_INIT;
	struct sr_rule_slot *rules = NULL, *keep = NULL;
	struct sr_index_entry *idx = NULL;
	struct sr_service s, none = {};
	struct sr_rule zero = {};
	char key[SR_NAME_MAX] = {};
	int lock, err, n, i, k = 0, ni, removed;
	uint32_t id;

	if (!name || strlen(name) >= SR_NAME_MAX)
		return sr_err(-EINVAL);
	strcpy(key, name);
	lock = sr_lock();
	if (lock < 0)
		return sr_err(lock);
	err = sr_maps_open(&m);
	if (err)
		goto out;
	err = sr_service_find(&m, name, &s);
	if (err < 0)
		goto out;
	id = err;

	/* Its rules go with it: out of the index first, then their slots. */
	n = sr_rules_read(&m, &rules);
	if (n < 0) {
		err = n;
		goto out;
	}
	keep = calloc(n + 1, sizeof(*keep));
	if (!keep) {
		err = -ENOMEM;
		goto out;
	}
	for (i = 0; i < n; i++)
		if (rules[i].rule.action != SR_ACT_REDIRECT ||
		    rules[i].rule.service != id)
			keep[k++] = rules[i];
	removed = n - k;
	ni = sr_index_build(keep, k, &idx, NULL);
	err = ni < 0 ? ni : sr_index_sync(&m, idx, ni);
	if (err) {
		/* Put the index back as it was: nothing half-applied. */
		free(idx);
		idx = NULL;
		ni = sr_index_build(rules, n, &idx, NULL);
		if (ni >= 0)
			sr_index_sync(&m, idx, ni);
		goto out;
	}
	for (i = 0; i < n; i++)
		if (rules[i].rule.action == SR_ACT_REDIRECT &&
		    rules[i].rule.service == id &&
		    bpf_map_update_elem(m.rules, &rules[i].slot, &zero, BPF_ANY))
			err = -errno;
	if (!err)
		err = sr_owner_set(&m, id, NULL);
	if (!err && (bpf_map_update_elem(m.services, &id, &none, BPF_ANY) ||
		     bpf_map_delete_elem(m.names, key)))
		err = -errno;
	if (!err)
		err = removed;
out:
	free(idx);
	free(keep);
	free(rules);
	sr_maps_close(&m);
	sr_unlock(lock);
	return sr_err(err);
}

int sockredir_service_list(struct sockredir_service **out)
{
	struct sr_maps m = SR_MAPS_INIT;
	struct sr_service all[SR_MAX_SERVICES];
	struct sockredir_service *list;
	int i, n = 0, err;

	if (!out)
		return sr_err(-EINVAL);
	*out = NULL;
	err = sr_maps_open(&m);
	if (!err)
		err = sr_services_read(&m, all);
	if (err)
		goto out;
	list = calloc(SR_MAX_SERVICES, sizeof(*list));
	if (!list) {
		err = -ENOMEM;
		goto out;
	}
	for (i = 1; i < SR_MAX_SERVICES; i++) {
		struct sockredir_service *p = &list[n];

		if (!all[i].id)
			continue;
		strcpy(p->name, all[i].name);
		p->id = i;
		if (all[i].port4) {
			p->listen4.sin_family = AF_INET;
			p->listen4.sin_port = all[i].port4;
			p->listen4.sin_addr.s_addr = all[i].addr4;
		}
		if (all[i].port6) {
			p->listen6.sin6_family = AF_INET6;
			p->listen6.sin6_port = all[i].port6;
			memcpy(&p->listen6.sin6_addr, all[i].addr6, 16);
		}
		p->owner_uid = all[i].owner_uid == SR_ANY_UID ?
				       -1 : (int64_t)all[i].owner_uid;
		p->owner_cgroup_id = all[i].owner_cgroup_id;
		p->flags = (all[i].flags & SR_SVC_FAIL_CLOSED ? SOCKREDIR_FAIL_CLOSED : 0) |
			   (all[i].flags & SR_SVC_SKIP_INSPECTED ? SOCKREDIR_SKIP_INSPECTED : 0);
		sr_counters_read(&m, i, &p->stats, NULL);
		n++;
	}
	*out = list;
	err = n;
out:
	sr_maps_close(&m);
	return sr_err(err);
}
