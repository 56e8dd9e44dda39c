/*
 * txn.c - control-plane transactions: the lock, the pinned maps, config and
 * services as read under the lock, and an undo log.
 *
 * Every change the library makes to the kernel's maps goes through
 * sr_txn_update() or sr_txn_delete(), which note the old value first.  An
 * operation that fails half way calls sr_txn_abort(), which puts the old
 * values back newest first, so nothing is ever left half-applied; the
 * writes themselves are ordered by the caller (for example, new rules'
 * slots before the index entries that point at them), and undoing in
 * reverse keeps that order safe too.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "internal.h"

struct sr_undo {
	int map;
	int had;		/* the key held a value before */
	uint32_t ksz, vsz;
	unsigned char data[];	/* key, then the old value */
};

int sr_txn_begin(struct sr_txn *t, int flags)
{
	int err;

	memset(t, 0, sizeof(*t));
	t->lock = -1;
	t->m = (struct sr_maps)SR_MAPS_INIT;
	if (flags & SR_TXN_WRITE) {
		t->lock = sr_lock();
		if (t->lock < 0)
			return t->lock;
	}
	err = sr_maps_open(&t->m);
	if (!err)
		err = sr_config_read(&t->m, &t->cfg);
	if (!err)
		err = sr_services_read(&t->m, t->svcs);
	if (!err) {
		t->up = 1;
		return 0;
	}
	sr_maps_close(&t->m);
	if (flags & SR_TXN_IF_UP) {
		t->down_err = err;	/* the caller decides what down means */
		return 0;
	}
	sr_unlock(t->lock);
	t->lock = -1;
	return err;
}

/* Key and value sizes of @map, per-CPU values as the syscalls copy them. */
static int map_sizes(struct sr_txn *t, int map, uint32_t *ksz, uint32_t *vsz)
{
	struct bpf_map_info info;
	uint32_t len = sizeof(info);
	size_t i;

	for (i = 0; i < t->nsizes; i++)
		if (t->sizes[i].map == map) {
			*ksz = t->sizes[i].ksz;
			*vsz = t->sizes[i].vsz;
			return 0;
		}
	memset(&info, 0, sizeof(info));
	if (bpf_obj_get_info_by_fd(map, &info, &len))
		return -errno;
	*ksz = info.key_size;
	*vsz = info.value_size;
	if (info.type == BPF_MAP_TYPE_PERCPU_ARRAY ||
	    info.type == BPF_MAP_TYPE_PERCPU_HASH) {
		int ncpu = libbpf_num_possible_cpus();

		if (ncpu <= 0)
			return ncpu < 0 ? ncpu : -EINVAL;
		*vsz = ((*vsz + 7) & ~7u) * ncpu;
	}
	if (t->nsizes < sizeof(t->sizes) / sizeof(t->sizes[0]))
		t->sizes[t->nsizes++] = (typeof(t->sizes[0])){ map, *ksz, *vsz };
	return 0;
}

/* Note that @key of @map held @old (NULL: nothing) before this change. */
static int note(struct sr_txn *t, int map, const void *key, const void *old,
		struct sr_undo **out)
{
	struct sr_undo *u;
	uint32_t ksz = 0, vsz = 0;
	int err = map_sizes(t, map, &ksz, &vsz);

	if (err)
		return err;
	if (t->nundo == t->capundo) {
		size_t cap = t->capundo ? 2 * t->capundo : 64;
		struct sr_undo **p = realloc(t->undo, cap * sizeof(*p));

		if (!p)
			return -ENOMEM;
		t->undo = p;
		t->capundo = cap;
	}
	u = malloc(sizeof(*u) + ksz + vsz);
	if (!u)
		return -ENOMEM;
	u->map = map;
	u->ksz = ksz;
	u->vsz = vsz;
	u->had = old != NULL;
	memcpy(u->data, key, ksz);
	if (old)
		memcpy(u->data + ksz, old, vsz);
	*out = u;
	return 0;
}

/* The old value of an exact-match map (array, hash): looked up. */
static int note_lookup(struct sr_txn *t, int map, const void *key,
		       struct sr_undo **out)
{
	struct sr_undo *u;
	int err = note(t, map, key, NULL, &u);

	if (err)
		return err;
	if (!bpf_map_lookup_elem(map, key, u->data + u->ksz))
		u->had = 1;
	else if (errno != ENOENT) {
		err = -errno;
		free(u);
		return err;
	}
	*out = u;
	return 0;
}

int sr_txn_update_from(struct sr_txn *t, int map, const void *key,
		       const void *value, const void *old)
{
	struct sr_undo *u;
	int err = note(t, map, key, old, &u);

	if (err)
		return err;
	if (bpf_map_update_elem(map, key, value, BPF_ANY)) {
		err = -errno;
		free(u);
		return err;
	}
	t->undo[t->nundo++] = u;
	return 0;
}

int sr_txn_delete_from(struct sr_txn *t, int map, const void *key,
		       const void *old)
{
	struct sr_undo *u;
	int err = note(t, map, key, old, &u);

	if (err)
		return err;
	if (bpf_map_delete_elem(map, key) && errno != ENOENT) {
		err = -errno;
		free(u);
		return err;
	}
	t->undo[t->nundo++] = u;
	return 0;
}

int sr_txn_update(struct sr_txn *t, int map, const void *key,
		  const void *value)
{
	struct sr_undo *u;
	int err = note_lookup(t, map, key, &u);

	if (err)
		return err;
	if (bpf_map_update_elem(map, key, value, BPF_ANY)) {
		err = -errno;
		free(u);
		return err;
	}
	t->undo[t->nundo++] = u;
	return 0;
}

int sr_txn_delete(struct sr_txn *t, int map, const void *key)
{
	struct sr_undo *u;
	int err = note_lookup(t, map, key, &u);

	if (err)
		return err;
	if (!u->had) {
		free(u);
		return 0;
	}
	if (bpf_map_delete_elem(map, key) && errno != ENOENT) {
		err = -errno;
		free(u);
		return err;
	}
	t->undo[t->nundo++] = u;
	return 0;
}

int sr_txn_write_config(struct sr_txn *t)
{
	uint32_t zero = 0;

	return sr_txn_update(t, t->m.config, &zero, &t->cfg);
}

static void finish(struct sr_txn *t)
{
	size_t i;

	for (i = 0; i < t->nundo; i++)
		free(t->undo[i]);
	free(t->undo);
	t->undo = NULL;
	t->nundo = t->capundo = 0;
	sr_maps_close(&t->m);
	sr_unlock(t->lock);
	t->lock = -1;
}

void sr_txn_commit(struct sr_txn *t)
{
	finish(t);
}

void sr_txn_abort(struct sr_txn *t)
{
	size_t i = t->nundo;

	/* Newest first: the reverse of the order the caller chose. */
	while (i-- > 0) {
		struct sr_undo *u = t->undo[i];

		if (u->had)
			bpf_map_update_elem(u->map, u->data, u->data + u->ksz,
					    BPF_ANY);
		else
			bpf_map_delete_elem(u->map, u->data);
	}
	sr_release_undo(t);
	finish(t);
}

int sr_txn_end(struct sr_txn *t, int err)
{
	/* Last, so a failure here still undoes every map write before it. */
	if (err >= 0 && t->services_changed) {
		int e = sr_scope_sync(t);

		if (e < 0)
			err = e;
	}
	/* Best effort (release.c): a failure leaves it attached, harmless. */
	if (err >= 0)
		sr_release_sync(t);
	if (err < 0)
		sr_txn_abort(t);
	else
		sr_txn_commit(t);
	return sr_err(err);
}
