/*
 * test_txn - lib/txn.c's undo log on real kernel maps of each kind the
 * control plane writes (array, hash, LPM trie, per-CPU array): after
 * changes and sr_txn_abort(), every map holds what it held before; after
 * sr_txn_commit(), the changes stay.  Needs root (BPF maps); skips without.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "tap.h"
#include "internal.h"

struct lpm_key { uint32_t plen; uint8_t addr[4]; };

static int make(enum bpf_map_type type, uint32_t ksz, uint32_t vsz)
{
	LIBBPF_OPTS(bpf_map_create_opts, o,
		    .map_flags = type == BPF_MAP_TYPE_LPM_TRIE ? BPF_F_NO_PREALLOC : 0);

	return bpf_map_create(type, NULL, ksz, vsz, 16, &o);
}

static void txn_on(struct sr_txn *t, int array, int hash, int lpm, int pcpu)
{
	memset(t, 0, sizeof(*t));
	t->lock = -1;
	t->m = (struct sr_maps)SR_MAPS_INIT;
	/* The txn closes its maps at the end: give it copies. */
	t->m.config = dup(array);
	t->m.service_names = dup(hash);
	t->m.rule_index = dup(lpm);
	t->m.counters = dup(pcpu);
}

static uint64_t get(int map, const void *key, int *found)
{
	uint64_t v = 0;

	*found = !bpf_map_lookup_elem(map, key, &v);
	return v;
}

int main(void)
{
	int array, hash, lpm, pcpu, ncpu = libbpf_num_possible_cpus(), f1, f2;
	uint32_t k0 = 0, k1 = 1, k2 = 2;
	uint64_t v, *pv, *pz;
	struct lpm_key p8 = { 8, { 10 } }, p16 = { 16, { 10, 1 } };
	struct sr_txn t;

	if (geteuid() != 0) {
		printf("1..0 # SKIP needs root for BPF maps\n");
		return 0;
	}
	array = make(BPF_MAP_TYPE_ARRAY, 4, 8);
	hash = make(BPF_MAP_TYPE_HASH, 4, 8);
	lpm = make(BPF_MAP_TYPE_LPM_TRIE, sizeof(struct lpm_key), 8);
	pcpu = make(BPF_MAP_TYPE_PERCPU_ARRAY, 4, 8);
	pv = calloc(ncpu, 8);
	pz = calloc(ncpu, 8);
	if (array < 0 || hash < 0 || lpm < 0 || pcpu < 0 || !pv || !pz) {
		printf("Bail out! cannot create maps: %s\n", strerror(errno));
		return 1;
	}
	v = 5;
	bpf_map_update_elem(array, &k0, &v, BPF_ANY);
	bpf_map_update_elem(hash, &k1, &v, BPF_ANY);
	bpf_map_update_elem(lpm, &p8, &v, BPF_ANY);
	for (int i = 0; i < ncpu; i++)
		pv[i] = 100 + i;
	bpf_map_update_elem(pcpu, &k0, pv, BPF_ANY);

	/* Change each, several times, then abort. */
	txn_on(&t, array, hash, lpm, pcpu);
	v = 6;
	ok(sr_txn_update(&t, array, &k0, &v) == 0, "array: update in a txn");
	v = 7;
	ok(sr_txn_update(&t, array, &k0, &v) == 0, "array: a second update");
	ok(sr_txn_update(&t, hash, &k2, &v) == 0, "hash: insert a new key");
	ok(sr_txn_delete(&t, hash, &k1) == 0, "hash: delete an old key");
	ok(sr_txn_update_from(&t, lpm, &p16, &v, NULL) == 0,
	   "lpm: insert a longer prefix (known absent)");
	ok(sr_txn_delete_from(&t, lpm, &p8, &(uint64_t){ 5 }) == 0,
	   "lpm: delete the old prefix (old value given)");
	ok(sr_txn_update(&t, pcpu, &k0, pz) == 0, "per-CPU: zero every CPU's value");
	ok(get(array, &k0, &f1) == 7 && get(hash, &k2, &f2) == 7 && f2,
	   "the changes are in the kernel before abort");
	sr_txn_abort(&t);
	ok(get(array, &k0, &f1) == 5, "abort: array back to its first value");
	get(hash, &k2, &f1);
	ok(get(hash, &k1, &f2) == 5 && f2 && !f1,
	   "abort: hash has its deleted key back and not the new one");
	ok(get(lpm, &p8, &f1) == 5 && f1, "abort: the old prefix is back");
	{
		struct lpm_key probe = { 32, { 10, 1, 2, 3 } };

		ok(get(lpm, &probe, &f1) == 5 && f1,
		   "abort: 10.1.2.3 matches the old /8 again, not the new /16");
	}
	memset(pz, 0xff, ncpu * 8);
	bpf_map_lookup_elem(pcpu, &k0, pz);
	ok(!memcmp(pz, pv, ncpu * 8), "abort: every CPU's counter is back");
	ok(t.nundo == 0 && t.undo == NULL, "abort: the log is freed");

	/* Commit keeps. */
	txn_on(&t, array, hash, lpm, pcpu);
	v = 9;
	sr_txn_update(&t, array, &k0, &v);
	sr_txn_delete(&t, hash, &k1);
	sr_txn_commit(&t);
	ok(get(array, &k0, &f1) == 9 && (get(hash, &k1, &f2), !f2),
	   "commit: the changes stay");

	/* A failed write is not logged: abort after it restores the rest. */
	txn_on(&t, array, hash, lpm, pcpu);
	v = 10;
	sr_txn_update(&t, array, &k0, &v);
	ok(sr_txn_update(&t, array, &(uint32_t){ 99 }, &v) == -E2BIG,
	   "a write past the array's end fails (-E2BIG)");
	ok(t.nundo == 1, "a failed write leaves no undo entry");
	ok(sr_txn_end(&t, -E2BIG) == -E2BIG && get(array, &k0, &f1) == 9,
	   "sr_txn_end with an error aborts and returns it");
	free(pv);
	free(pz);
	return done();
}
