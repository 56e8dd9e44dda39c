/* service.c - redirect services: one per proxy, the identity records carry. */
#include <arpa/inet.h>
#include <ctype.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "internal.h"

int sr_name_ok(const char *name)
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

static int zero_counters(struct sr_txn *t, uint32_t id)
{
	int ncpu = libbpf_num_possible_cpus(), err;
	struct sr_counters *zero;

	if (ncpu <= 0)
		return ncpu < 0 ? ncpu : -EINVAL;
	zero = calloc(ncpu, sizeof(*zero));
	if (!zero)
		return -ENOMEM;
	err = sr_txn_update(t, t->m.counters, &id, zero);
	free(zero);
	return err;
}

int sr_service_make(const struct sockredir_service *in,
		    const char *owner_cgroup, struct sr_service *s)
{
	memset(s, 0, sizeof(*s));
	if (!in || !sr_name_ok(in->name))
		return -EINVAL;
	if (!in->listen4.sin_port && !in->listen6.sin6_port)
		return -EINVAL;
	if (in->owner_uid < -1 || in->owner_uid > (int64_t)UINT32_MAX - 1 ||
	    in->flags & ~(SOCKREDIR_FAIL_CLOSED | SOCKREDIR_SKIP_INSPECTED))
		return -EINVAL;
	strcpy(s->name, in->name);
	fill_listeners(in, s);
	s->owner_uid = in->owner_uid < 0 ? SR_ANY_UID : (uint32_t)in->owner_uid;
	s->flags = (in->flags & SOCKREDIR_FAIL_CLOSED ? SR_SVC_FAIL_CLOSED : 0) |
		   (in->flags & SOCKREDIR_SKIP_INSPECTED ? SR_SVC_SKIP_INSPECTED : 0);
	if (in->udp_idle > 86400)
		return -EINVAL;
	s->udp_idle = in->udp_idle;
	if (owner_cgroup) {
		char cgpath[PATH_MAX];
		uint64_t cgid;
		unsigned int level;
		int err = sr_cgroup_resolve(owner_cgroup, cgpath, sizeof(cgpath),
					    &cgid, &level);

		if (err)
			return err;
		s->owner_cgroup_id = cgid;
		s->owner_cgroup_level = level;
	}
	return 0;
}

/* Is the owner cgroup strictly below the attached cgroup? */
int sr_service_owner_inside(const struct sr_txn *t, const struct sr_service *s)
{
	char path[PATH_MAX];

	/* Not the attached cgroup itself: every application would be in it. */
	return !s->owner_cgroup_id ||
	       (s->owner_cgroup_id != t->cfg.cgroup_id &&
		!sr_cgroup_path(s->owner_cgroup_id, t->cfg.cgroup_path, path,
				sizeof(path)));
}

int sr_service_insert(struct sr_txn *t, struct sr_service *s)
{
	char key[SR_NAME_MAX] = {};
	uint32_t id = 0, i;
	int err;

	if (!sr_service_owner_inside(t, s))
		return -EXDEV;
	for (i = 1; i < SR_MAX_SERVICES; i++) {
		uint32_t at = (t->cfg.last_id + i - 1) % (SR_MAX_SERVICES - 1) + 1;

		if (t->svcs[i].id && !strcmp(t->svcs[i].name, s->name))
			return -EEXIST;
		if (!t->svcs[at].id && !id)
			id = at;
	}
	if (!id)
		return -ENOSPC;
	strcpy(key, s->name);
	s->id = id;
	s->gen = ++t->cfg.next_gen;
	t->cfg.last_id = id;
	sr_owner_fill(&t->cfg, id, s);
	err = zero_counters(t, id);
	if (!err)
		err = sr_owner_path_save(t, s);
	if (!err)
		err = sr_txn_update(t, t->m.services, &id, s);
	if (!err)
		err = sr_txn_update(t, t->m.service_names, key, &id);
	if (!err)
		err = sr_txn_write_config(t);
	if (!err) {
		t->svcs[id] = *s;
		t->services_changed = 1;
	}
	return err ? err : (int)id;
}

int sr_service_same(const struct sr_service *a, const struct sr_service *b)
{
	return a->port4 == b->port4 && a->addr4 == b->addr4 &&
	       a->port6 == b->port6 && !memcmp(a->addr6, b->addr6, 16) &&
	       a->flags == b->flags && a->owner_uid == b->owner_uid &&
	       a->owner_cgroup_id == b->owner_cgroup_id &&
	       a->owner_cgroup_level == b->owner_cgroup_level &&
	       a->udp_idle == b->udp_idle;
}

int sr_service_change(struct sr_txn *t, uint32_t id, struct sr_service *s)
{
	const struct sr_service *old = &t->svcs[id];
	int moved = s->port4 != old->port4 || s->addr4 != old->addr4 ||
		    s->port6 != old->port6 || memcmp(s->addr6, old->addr6, 16);
	int err;

	if (!sr_service_owner_inside(t, s))
		return -EXDEV;
	s->id = id;
	/* Claims stand for a generation: a listener that moved must claim
	 * again; any other change keeps them. */
	s->gen = moved ? ++t->cfg.next_gen : old->gen;
	sr_owner_fill(&t->cfg, id, s);
	err = sr_owner_path_save(t, s);
	if (!err)
		err = sr_txn_update(t, t->m.services, &id, s);
	if (!err)
		err = sr_txn_write_config(t);
	if (!err) {
		t->svcs[id] = *s;
		t->services_changed = 1;
	}
	return err;
}

int sr_service_remove(struct sr_txn *t, uint32_t id)
{
	struct sr_service none = {};
	char key[SR_NAME_MAX] = {};
	int err;

	strcpy(key, t->svcs[id].name);
	sr_owner_fill(&t->cfg, id, NULL);
	err = sr_txn_write_config(t);
	if (!err)
		err = sr_txn_update(t, t->m.services, &id, &none);
	if (!err)
		err = sr_txn_delete(t, t->m.service_names, key);
	if (!err) {
		t->svcs[id] = none;
		t->services_changed = 1;
	}
	return err;
}

int sockredir_service_add(const struct sockredir_service *in,
			  const char *owner_cgroup)
{
	struct sr_service s;
	struct sr_txn t;
	int err;

	err = sr_service_make(in, owner_cgroup, &s);
	if (err)
		return sr_err(err);
	err = sr_txn_begin(&t, SR_TXN_WRITE);
	if (err)
		return sr_err(err);
	return sr_txn_end(&t, sr_service_insert(&t, &s));
}

int sockredir_service_update(const struct sockredir_service *in,
			     const char *owner_cgroup)
{
	struct sr_service s;
	struct sr_txn t;
	int err, id;

	err = sr_service_make(in, owner_cgroup, &s);
	if (err)
		return sr_err(err);
	err = sr_txn_begin(&t, SR_TXN_WRITE);
	if (err)
		return sr_err(err);
	id = sr_service_find(&t.m, s.name, NULL);
	if (id < 0)
		return sr_txn_end(&t, id);
	if (sr_service_same(&s, &t.svcs[id]))
		return sr_txn_end(&t, 0);
	return sr_txn_end(&t, sr_service_change(&t, id, &s));
}

static int redirects_to(const struct sr_rule *r, void *arg)
{
	return r->action == SR_ACT_REDIRECT && r->service == *(uint32_t *)arg;
}

int sockredir_service_del(const char *name)
{
	struct sr_txn t;
	int err, removed;
	uint32_t id;

	if (!name || strlen(name) >= SR_NAME_MAX)
		return sr_err(-EINVAL);
	err = sr_txn_begin(&t, SR_TXN_WRITE);
	if (err)
		return sr_err(err);
	err = sr_service_find(&t.m, name, NULL);
	if (err < 0)
		return sr_txn_end(&t, err);
	id = err;
	/* Its rules go first, out of the index and then their slots. */
	removed = err = sr_rules_drop(&t, redirects_to, &id);
	if (err >= 0)
		err = sr_service_remove(&t, id);
	return sr_txn_end(&t, err < 0 ? err : removed);
}

int sockredir_service_list(struct sockredir_service **out)
{
	const struct sr_service *all;
	struct sockredir_service *list;
	struct sr_txn t;
	int i, n = 0, err;

	if (!out)
		return sr_err(-EINVAL);
	*out = NULL;
	err = sr_txn_begin(&t, 0);
	if (err)
		return sr_err(err);
	all = t.svcs;
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
		p->udp_idle = all[i].udp_idle;
		sr_counters_read(&t.m, i, &p->stats, &p->live_flows);
		sr_service_state(&t.m, &t.cfg, &all[i], p);
		n++;
	}
	*out = list;
	err = n;
out:
	sr_txn_commit(&t);
	return sr_err(err);
}
