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

struct sr_txn;

/* The pinned maps the control plane works on. */
struct sr_maps {
	int config;		/* sr_config: one entry */
	int services;		/* sr_service by id */
	int rules;		/* sr_rule by slot */
	int rule_index;		/* LPM trie: prefix -> sr_ruleset */
	int counters;		/* per-CPU sr_counters by service id */
	int service_names;	/* name -> id, for SOCKREDIR_CLAIM */
	int rule_names;		/* rule id -> name; the library's own, made
				 * when first needed (-1: none yet) */
	int holders;		/* sr_holder by service and family */
	int owner_paths;	/* sr_owner_path by service id */
};

#define SR_MAPS_INIT { -1, -1, -1, -1, -1, -1, -1, -1, -1 }
#define SR_RULE_NAMES_PIN "sr_rule_names"

int sr_maps_open(struct sr_maps *m);		/* -ENOENT: not up */
struct bpf_object;
int sr_records_key_make(struct bpf_object *obj);	/* loader.c: the key */
struct bpf_program;
struct bpf_link *sr_attach_prog(struct bpf_program *prog, int cgfd); /* loader.c */
/*
 * The layer's congestion control (loader.c, bpf/cc.h): a struct_ops map
 * made for a link (sr_cc_prepare, before the object loads), then its link,
 * pinned as link_sr_cc, or swapped into the pinned link @link (>= 0).
 * The socket state tracepoint is attached only by an upgrade from a build
 * that had it (sr_is_state_tp).
 */
struct bpf_map;
void sr_cc_prepare(struct bpf_object *obj);
int sr_cc_attach(struct bpf_object *obj, int link);
int sr_is_state_tp(const char *prog);
#define SR_CC_LINK_PIN "link_sr_cc"
void sr_maps_close(struct sr_maps *m);

/* Serialises control-plane changes between processes.  Returns an fd. */
/* sockopt.c: a SOCKREDIR_QUERY answer split into context and records
 * (-EPROTO if it does not parse, -ERANGE if the records exceed *reclen). */
int sr_query_parse(const void *buf, size_t len, struct sockredir_context *ctx,
		   void *rec, size_t *reclen);

int sr_lock(void);
void sr_unlock(int fd);

/* cgroup v2: the mount point, and a path's id and depth below it. */
int sr_cgroup_mount(char *buf, size_t len);
int sr_cgroup_resolve(const char *path, char *abs, size_t len,
		      uint64_t *id, unsigned int *level);
/* The path of cgroup @id, searched for at and below @within (NULL: the
 * whole mount).  -ENOENT if it is not there. */
int sr_cgroup_path(uint64_t id, const char *within, char *buf, size_t len);

int sr_config_read(const struct sr_maps *m, struct sr_config *cfg);
int sr_config_write(const struct sr_maps *m, const struct sr_config *cfg);
/* Set service @id's owner slot in @cfg from @svc (NULL: clear it). */
void sr_owner_fill(struct sr_config *cfg, uint32_t id,
		   const struct sr_service *svc);

/* Services (service.c): check and convert a public one; then, within a
 * transaction, give it an id and put it in (returns the id), or take one
 * out (its rules must be gone already). */
int sr_service_make(const struct sockredir_service *in,
		    const char *owner_cgroup, struct sr_service *out);
int sr_service_insert(struct sr_txn *t, struct sr_service *s);
int sr_service_remove(struct sr_txn *t, uint32_t id);
/* Same settings (listeners, owner, flags)?  Change @id's settings to @s's,
 * in place: same id; claims kept unless the listeners moved. */
int sr_service_same(const struct sr_service *a, const struct sr_service *b);
int sr_service_change(struct sr_txn *t, uint32_t id, struct sr_service *s);
int sr_service_owner_inside(const struct sr_txn *t, const struct sr_service *s);

/* Listeners and owners (listener.c): note service @s's owner path within
 * @t; fill in what list shows of service @s's listeners and owner. */
int sr_owner_path_save(struct sr_txn *t, const struct sr_service *s);
void sr_service_state(const struct sr_maps *m, const struct sr_config *cfg,
		      const struct sr_service *s, struct sockredir_service *out);

int sr_services_read(const struct sr_maps *m, struct sr_service *out);
int sr_service_find(const struct sr_maps *m, const char *name,
		    struct sr_service *out);
int sr_counters_read(const struct sr_maps *m, uint32_t service,
		     struct sockredir_counters *out, int64_t *live);

/*
 * A control-plane transaction (txn.c).  Writers:
 *
 *	err = sr_txn_begin(&t, SR_TXN_WRITE);
 *	if (err) return sr_err(err);
 *	... read t.cfg and t.svcs, change maps with sr_txn_update/delete ...
 *	return sr_txn_end(&t, err);	(commit if err >= 0, else undo all)
 *
 * Readers pass no flags: no lock, the maps and a snapshot of config and
 * services.  Every map write in a transaction is undone by sr_txn_abort().
 */
struct sr_undo;
struct sr_txn {
	int lock;			/* -1: a reader */
	int up;				/* maps open, cfg and svcs read */
	int down_err;			/* SR_TXN_IF_UP: why not up */
	struct sr_maps m;
	struct sr_config cfg;		/* edit, then sr_txn_write_config() */
	struct sr_service svcs[SR_MAX_SERVICES];	/* by id, as read */
	struct sr_undo **undo;
	size_t nundo, capundo;
	struct { int map; uint32_t ksz, vsz; } sizes[8];
	size_t nsizes;
	int services_changed;		/* sr_txn_end puts the hooks right */
	int rules_changed;		/* ... and sr_sock_release (release.c) */
	int udp_rules;			/* the rules now may make UDP flows */
	int release_attached;		/* this one attached sr_sock_release */
};
#define SR_TXN_WRITE	1	/* take the lock: this transaction writes */
#define SR_TXN_IF_UP	2	/* not up is no error: t->up says (up, down) */

int sr_txn_begin(struct sr_txn *t, int flags);	/* -ENOENT: not up */
/* Write @value at @key, noting the old value (array and hash maps). */
int sr_txn_update(struct sr_txn *t, int map, const void *key,
		  const void *value);
int sr_txn_delete(struct sr_txn *t, int map, const void *key);
/* The same with the old value given (NULL: none), for maps whose lookup
 * is not an exact match (the LPM index). */
int sr_txn_update_from(struct sr_txn *t, int map, const void *key,
		       const void *value, const void *old);
int sr_txn_delete_from(struct sr_txn *t, int map, const void *key,
		       const void *old);
int sr_txn_write_config(struct sr_txn *t);	/* t->cfg to the kernel */
void sr_txn_commit(struct sr_txn *t);		/* keep, unlock */
void sr_txn_abort(struct sr_txn *t);		/* undo newest first, unlock */
int sr_txn_end(struct sr_txn *t, int err);	/* either; returns sr_err(err) */

/* release.c: sr_sock_release attached only while UDP flows can be made. */
int sr_release_is_prog(const char *name);	/* the program's name? */
int sr_release_attached(void);
struct sr_rule_slot;
/* The rules are about to become @keep + @add: attach it first if they
 * can make UDP flows.  0 or -errno. */
int sr_release_rules(struct sr_txn *t, const struct sr_rule_slot *keep,
		     size_t nkeep, const struct sr_rule *add, size_t nadd);
int sr_release_sync(struct sr_txn *t);	/* after the writes: detach if idle */
void sr_release_undo(struct sr_txn *t);	/* sr_txn_abort's part */
/* Outside a transaction (upgrade): as the rules in @t's maps stand. */
int sr_release_resync(struct sr_txn *t);

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
int sr_index_sync(struct sr_txn *t, const struct sr_index_entry *e, size_t n);

/*
 * Within @t, change the rules from @old (every rule now, in slot order) to
 * @keep (some of @old, in slot order) plus @add (new; their ids are set;
 * @names, if not NULL, names them; the names of removed rules go too),
 * in one index change: new slots first, then the index, then freed slots,
 * so no rule is gone before its replacement is in.  -ENOENT: an added rule
 * redirects to a service not in t->svcs; -E2BIG: over 32 on one address.
 */
int sr_rules_change(struct sr_txn *t, const struct sr_rule_slot *old,
		    size_t nold, const struct sr_rule_slot *keep, size_t nkeep,
		    struct sr_rule *add, const char *const *names, size_t nadd);
/* Within @t, delete every rule @drop says yes to; returns how many. */
int sr_rules_drop(struct sr_txn *t, int (*drop)(const struct sr_rule *, void *),
		  void *arg);

/*
 * Where the socket-option hooks run (scope.c): attach and detach them so
 * they are where @t's services need them.  0 or -errno (then nothing of
 * it was attached).  sr_scope_is_hook: is @prog one of them?
 */
int sr_scope_sync(const struct sr_txn *t);
int sr_scope_is_hook(const char *prog);
#define SR_SCOPE_HOOKS 3	/* sr_setsockopt, sr_getsockopt, sr_proxy_ops */

void sr_rule_to_public(const struct sr_rule *in, struct sockredir_rule *out);

/* Rule names (rulename.c), kept by the library beside the kernel's maps. */
int sr_name_ok(const char *name);
struct sockaddr_storage;
void sr_addr_to_sockaddr(const struct sr_addr *a, struct sockaddr_storage *ss);
/* The name of every named rule: ids[i] is called names[i]. */
int sr_rule_names_read(const struct sr_maps *m, uint32_t **ids,
		       char (**names)[SOCKREDIR_NAME_MAX]);
/* Within @t: name rule @id (creating the map if needed), or forget it. */
int sr_rule_name_set(struct sr_txn *t, uint32_t id, const char *name);
int sr_rule_name_forget(struct sr_txn *t, uint32_t id);
int sr_rule_from_public(const struct sockredir_rule *in, struct sr_rule *out);

#endif
