/*
 * listener.c - what service list says about who holds a service: its
 * listeners' claims and states (the hooks keep them in sr_holders, see
 * bpf/listener.h) and its owner cgroup as a path (sr_owner_paths).
 */
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <bpf/bpf.h>

#include "internal.h"

/* Note @s's owner cgroup path, so a removed one can still be named. */
int sr_owner_path_save(struct sr_txn *t, const struct sr_service *s)
{
	struct sr_owner_path p = {};
	uint32_t id = s->id;

	if (t->m.owner_paths < 0)
		return 0;	/* a layer from before owner paths were kept */
	if (s->owner_cgroup_id &&
	    sr_cgroup_path(s->owner_cgroup_id, t->cfg.cgroup_path, p.path,
			   sizeof(p.path)))
		p.path[0] = '\0';	/* too long: named by id only */
	return sr_txn_update(t, t->m.owner_paths, &id, &p);
}

static void listener_state(const struct sr_maps *m, const struct sr_service *s,
			   int v6, struct sockredir_listener *out)
{
	uint32_t slot = (s->id % SR_MAX_SERVICES) * 2 + v6;
	struct sr_holder h;

	memset(out, 0, sizeof(*out));
	if (m->holders < 0 || bpf_map_lookup_elem(m->holders, &slot, &h))
		return;
	if (h.gen && h.gen != s->gen)
		return;		/* an earlier service's: nothing of this one's */
	out->state = h.state;
	out->seen_ns = h.seen_ns;
	out->backlog = h.backlog;
	out->max_backlog = h.max_backlog;
	if (!h.gen)
		return;
	out->pid = h.pid;
	out->uid = h.uid;
	out->claimed_ns = h.claimed_ns;
	if (!h.how)
		return;		/* that listener closed */
	out->claimed = 1;
	out->how = h.how == SR_CLAIM_BY_OWNER ? SOCKREDIR_CLAIM_BY_OWNER :
						 SOCKREDIR_CLAIM_EXPLICIT;
}

/*
 * The owner cgroup by its id; if that is gone, the path it had: nothing
 * there (removed), or a new cgroup with another id (stale: the service
 * still names the old one, and processes in the new one are not owners).
 */
static void owner_state(const struct sr_maps *m, const struct sr_config *cfg,
			const struct sr_service *s, struct sockredir_service *out)
{
	struct sr_owner_path p = {};
	uint32_t id = s->id;
	struct stat st;

	if (!s->owner_cgroup_id)
		return;
	if (!sr_cgroup_path(s->owner_cgroup_id, cfg->cgroup_path,
			    out->owner_cgroup, sizeof(out->owner_cgroup)))
		return;
	if (m->owner_paths >= 0)
		bpf_map_lookup_elem(m->owner_paths, &id, &p);
	p.path[sizeof(p.path) - 1] = '\0';
	snprintf(out->owner_cgroup, sizeof(out->owner_cgroup), "%s", p.path);
	out->owner_cgroup_state = SOCKREDIR_OWNER_REMOVED;
	if (p.path[0] && stat(p.path, &st) == 0 && st.st_ino != s->owner_cgroup_id) {
		out->owner_cgroup_state = SOCKREDIR_OWNER_STALE;
		out->owner_cgroup_now = st.st_ino;
	}
}

void sr_service_state(const struct sr_maps *m, const struct sr_config *cfg,
		      const struct sr_service *s, struct sockredir_service *out)
{
	listener_state(m, s, 0, &out->listener4);
	listener_state(m, s, 1, &out->listener6);
	owner_state(m, cfg, s, out);
}
