/* internal.h - libsockredir's private helpers (hidden symbols). */
#ifndef SOCKREDIR_INTERNAL_H
#define SOCKREDIR_INTERNAL_H

#include <errno.h>
#include <stdint.h>
#include <stddef.h>
#include "sockredir.h"
#include "sockredir_abi.h"

/* The library's one error convention: return -errno, and set errno. */
static inline int sr_err(int err)
{
	if (err < 0)
		errno = -err;
	return err;
}

/* The pinned maps the control plane works on. */
struct sr_maps {
	int config;
	int services;
	int rules;
	int index;
	int stats;
	int names;
};

#define SR_MAPS_INIT { -1, -1, -1, -1, -1, -1 }

int sr_maps_open(struct sr_maps *m);		/* -ENOENT: not up */
void sr_maps_close(struct sr_maps *m);

/* Serialises control-plane changes between processes.  Returns an fd. */
int sr_lock(void);
void sr_unlock(int fd);

/* cgroup v2: the mount point, and a path's id and depth below it. */
int sr_cgroup_mount(char *buf, size_t len);
int sr_cgroup_resolve(const char *path, char *abs, size_t len,
		      uint64_t *id, unsigned int *level);

int sr_config_read(const struct sr_maps *m, struct sr_config *cfg);
int sr_config_write(const struct sr_maps *m, const struct sr_config *cfg);
/* Set service @id's owner slot from @svc (NULL: clear it). */
int sr_owner_set(const struct sr_maps *m, uint32_t id,
		 const struct sr_service *svc);

int sr_services_read(const struct sr_maps *m, struct sr_service *out);
int sr_service_find(const struct sr_maps *m, const char *name,
		    struct sr_service *out);
int sr_counters_read(const struct sr_maps *m, uint32_t service,
		     struct sockredir_counters *out, int64_t *live);

/* Rules: every used slot, and the index the kernel matches with. */
struct sr_rule_slot {
	uint32_t slot;
	struct sr_rule rule;
};
int sr_rules_read(const struct sr_maps *m, struct sr_rule_slot **out);

struct sr_index_entry {
	struct sr_lpm_key key;
	struct sr_ruleset set;
};
/*
 * Compute the index for @rules.  Returns the number of entries in *@out
 * (malloc'ed), or -E2BIG with *@bad set to the first over-full entry's key.
 */
int sr_index_build(const struct sr_rule_slot *rules, size_t n,
		   struct sr_index_entry **out, struct sr_lpm_key *bad);
/* Make the kernel's index equal @e (updates first, then stale deletes). */
int sr_index_sync(const struct sr_maps *m, const struct sr_index_entry *e,
		  size_t n);

void sr_rule_to_public(const struct sr_rule *in, struct sockredir_rule *out);
int sr_rule_from_public(const struct sockredir_rule *in, struct sr_rule *out);

#endif
