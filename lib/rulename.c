/*
 * rulename.c - names of rules, so that configuration files can refer to
 * them.  The kernel never needs them: they live in a map of the library's
 * own, pinned beside the layer's (and removed with it by down), made the
 * first time a rule is named.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <bpf/bpf.h>

#include "internal.h"

static int names_create(struct sr_txn *t)
{
	LIBBPF_OPTS(bpf_map_create_opts, o, .map_flags = BPF_F_NO_PREALLOC);
	char path[PATH_MAX];
	int fd;

	fd = bpf_map_create(BPF_MAP_TYPE_HASH, "sr_rule_names", sizeof(uint32_t),
			    SOCKREDIR_NAME_MAX, SR_MAX_RULES, &o);
	if (fd < 0)
		return -errno;
	snprintf(path, sizeof(path), SOCKREDIR_PIN_DIR "/" SR_RULE_NAMES_PIN);
	if (bpf_obj_pin(fd, path)) {
		int err = -errno;

		close(fd);
		return err;
	}
	t->m.rule_names = fd;
	return 0;
}

int sr_rule_names_read(const struct sr_maps *m, uint32_t **ids,
		       char (**names)[SOCKREDIR_NAME_MAX])
{
	uint32_t key, next, *id = NULL;
	char (*nm)[SOCKREDIR_NAME_MAX] = NULL;
	size_t n = 0, cap = 0;
	int more;

	*ids = NULL;
	*names = NULL;
	if (m->rule_names < 0)
		return 0;
	more = !bpf_map_get_next_key(m->rule_names, NULL, &next);
	while (more) {
		key = next;
		more = !bpf_map_get_next_key(m->rule_names, &key, &next);
		if (n == cap) {
			void *a, *b;

			cap = cap ? 2 * cap : 64;
			a = realloc(id, cap * sizeof(*id));
			if (a)
				id = a;
			b = realloc(nm, cap * sizeof(*nm));
			if (b)
				nm = b;
			if (!a || !b) {
				free(id);
				free(nm);
				return -ENOMEM;
			}
		}
		if (bpf_map_lookup_elem(m->rule_names, &key, nm[n]))
			continue;
		nm[n][SOCKREDIR_NAME_MAX - 1] = '\0';
		id[n++] = key;
	}
	*ids = id;
	*names = nm;
	return n;
}

int sr_rule_name_set(struct sr_txn *t, uint32_t id, const char *name)
{
	char v[SOCKREDIR_NAME_MAX] = {};
	int err;

	if (!sr_name_ok(name))
		return -EINVAL;
	if (t->m.rule_names < 0) {
		err = names_create(t);
		if (err)
			return err;
	}
	strcpy(v, name);
	return sr_txn_update(t, t->m.rule_names, &id, v);
}

int sr_rule_name_forget(struct sr_txn *t, uint32_t id)
{
	if (t->m.rule_names < 0)
		return 0;
	return sr_txn_delete(t, t->m.rule_names, &id);
}
