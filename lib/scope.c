/*
 * scope.c - where the proxies' hooks run.
 *
 * sr_getsockopt and sr_setsockopt answer the proxies' options (records,
 * context, claims, flows, SO_ORIGINAL_DST); sr_proxy_ops hands a flow to
 * the socket its proxy accepts and sees the close of the proxies' sockets
 * that carry the layer's state (bpf/handoff.h).  The kernel runs the
 * sockopt programs of the cgroup a socket was made in for every option got
 * or set on it, at any level, and a sockops program about nine times for
 * every TCP connection: on the whole attached cgroup, every application's
 * SO_LINGER or connection would pay for program runs.  So they are
 * attached where services' proxies run, their owner cgroups (an accepted
 * socket belongs to its listener's cgroup), and each write transaction
 * that changed a service puts them where its services now need them:
 *
 *  - every service owned by a cgroup only: on each owner cgroup that
 *    exists, except one below another of them (the kernel would run the
 *    program once for each: one attachment covers the cgroups below it);
 *  - any service owned by a uid, or by no one (its owner is whoever
 *    claims it, from anywhere in the attached cgroup): on the attached
 *    cgroup, and nowhere else;
 *  - no services: nowhere.
 *
 * On other sockets the kernel answers SOL_SOCKREDIR itself (ENOPROTOOPT,
 * EOPNOTSUPP), as if the layer were not there.  The programs are pinned
 * as prog_<name>, so this can attach them at any time; each attachment is
 * a pinned link, link_<name> on the attached cgroup (the name every
 * earlier build used) or link_<name>@<cgroup id> on an owner cgroup
 * (bpffs keeps dots for itself).  A layer without the program pins (one
 * from before this scope) is left as it is until it is upgraded.
 */
#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <bpf/bpf.h>

#include "internal.h"

static const struct {
	const char *name;
	enum bpf_attach_type type;
} hooks[] = {
	{ "sr_setsockopt", BPF_CGROUP_SETSOCKOPT },
	{ "sr_getsockopt", BPF_CGROUP_GETSOCKOPT },
	{ "sr_proxy_ops", BPF_CGROUP_SOCK_OPS },
};
#define NHOOKS (sizeof(hooks) / sizeof(hooks[0]))

/* One cgroup the hooks are (to be) on. */
struct spot {
	uint64_t id;
	char path[PATH_MAX];
};

int sr_scope_is_hook(const char *prog)
{
	size_t i;

	for (i = 0; i < NHOOKS; i++)
		if (!strcmp(prog, hooks[i].name))
			return 1;
	return 0;
}

/* The pin of hook @h on cgroup @id (the attached cgroup: @cfg's). */
static void link_pin(char *buf, size_t len, size_t h, uint64_t id,
		     const struct sr_config *cfg)
{
	if (id == cfg->cgroup_id)
		snprintf(buf, len, SOCKREDIR_PIN_DIR "/link_%s", hooks[h].name);
	else
		snprintf(buf, len, SOCKREDIR_PIN_DIR "/link_%s@%" PRIu64,
			 hooks[h].name, id);
}

/*
 * The link pin @name as (hook, cgroup): 1 if it is one of the hooks' (a
 * bare link_<hook> is on the attached cgroup), else 0.
 */
static int parse_pin(const char *name, const struct sr_config *cfg,
		     size_t *h, uint64_t *id)
{
	size_t i, n;
	char *end;

	if (strncmp(name, "link_", 5))
		return 0;
	name += 5;
	for (i = 0; i < NHOOKS; i++) {
		n = strlen(hooks[i].name);
		if (strncmp(name, hooks[i].name, n))
			continue;
		*h = i;
		if (!name[n]) {
			*id = cfg->cgroup_id;
			return 1;
		}
		if (name[n] != '@' || name[n + 1] < '1' || name[n + 1] > '9')
			continue;
		*id = strtoull(name + n + 1, &end, 10);
		if (!*end)
			return 1;
	}
	return 0;
}

/* Is @in strictly below @top?  Paths, as sr_cgroup_path gives them. */
static int below(const char *in, const char *top)
{
	size_t n = strlen(top);

	return !strncmp(in, top, n) && in[n] == '/';
}

/*
 * Where @t's services need the hooks, into @out (SR_MAX_SERVICES of them).
 * Returns how many.
 */
static int wanted(const struct sr_txn *t, struct spot *out)
{
	int i, j, n = 0, whole = 0, any = 0;

	for (i = 1; i < SR_MAX_SERVICES; i++) {
		const struct sr_service *s = &t->svcs[i];

		if (!s->id)
			continue;
		any = 1;
		if (s->owner_uid != SR_ANY_UID || !s->owner_cgroup_id) {
			whole = 1;
			break;
		}
		for (j = 0; j < n && out[j].id != s->owner_cgroup_id; j++)
			;
		if (j < n || sr_cgroup_path(s->owner_cgroup_id, t->cfg.cgroup_path,
					    out[n].path, sizeof(out[n].path)))
			continue;	/* had it, or removed: no one is in it */
		out[n++].id = s->owner_cgroup_id;
	}
	if (whole) {
		out[0].id = t->cfg.cgroup_id;
		snprintf(out[0].path, sizeof(out[0].path), "%s", t->cfg.cgroup_path);
		return 1;
	}
	if (!any)
		return 0;
	/* Not twice for one call: drop a cgroup below another of them. */
	for (i = 0; i < n; i++)
		for (j = 0; j < n; j++)
			if (i != j && below(out[i].path, out[j].path)) {
				out[i--] = out[--n];
				break;
			}
	return n;
}

/* Attach the hooks in mask @miss to @s, pinned.  On failure, none of them
 * is left there. */
static int attach_spot(const struct spot *s, const struct sr_config *cfg,
		       const int *progs, int miss)
{
	char path[PATH_MAX];
	int cg, link, err = 0;
	size_t h, done = 0;

	cg = open(s->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (cg < 0)
		return -errno;
	for (h = 0; h < NHOOKS && !err; h++, done++) {
		if (!(miss & (1 << h)))
			continue;
		link_pin(path, sizeof(path), h, s->id, cfg);
		link = bpf_link_create(progs[h], cg, hooks[h].type, NULL);
		if (link < 0) {
			err = -errno;
			break;
		}
		if (bpf_obj_pin(link, path))
			err = -errno;
		close(link);	/* the pin holds it now */
	}
	close(cg);
	while (err && done-- > 0) {
		if (!(miss & (1 << done)))
			continue;
		link_pin(path, sizeof(path), done, s->id, cfg);
		unlink(path);
	}
	return err;
}

int sr_scope_sync(const struct sr_txn *t)
{
	struct spot *want;
	int progs[NHOOKS], nwant, i, err = 0, on[SR_MAX_SERVICES] = {}, have = 0;
	char path[PATH_MAX];
	struct dirent *e;
	uint64_t id;
	size_t h;
	DIR *d;

	for (h = 0; h < NHOOKS; h++)
		progs[h] = -1;
	want = calloc(SR_MAX_SERVICES, sizeof(*want));
	if (!want)
		return -ENOMEM;
	for (h = 0; h < NHOOKS; h++) {
		snprintf(path, sizeof(path), SOCKREDIR_PIN_DIR "/prog_%s",
			 hooks[h].name);
		progs[h] = bpf_obj_get(path);
		if (progs[h] >= 0)
			have |= 1 << h;
		else if (errno != ENOENT) {
			err = -errno;
			goto out;
		}
	}
	/* None: a layer from before this scope, whose hooks stay on the
	 * attached cgroup until it is upgraded.  Some: one from before the
	 * others (sr_proxy_ops), which an upgrade brings. */
	if (!have)
		goto out;
	nwant = wanted(t, want);
	d = opendir(SOCKREDIR_PIN_DIR);
	if (!d) {
		err = -errno;
		goto out;
	}
	/* Which are there already (a layer upgraded from a build with fewer
	 * hooks has some of them). */
	while ((e = readdir(d)))
		if (parse_pin(e->d_name, &t->cfg, &h, &id))
			for (i = 0; i < nwant; i++)
				if (want[i].id == id)
					on[i] |= 1 << h;
	/* New places first, then the old ones go: no call meanwhile finds
	 * no hook (one may find two for a moment; sr_setsockopt knows).  The
	 * hooks a place has stay: only the missing ones are attached. */
	for (i = 0; i < nwant && !err; i++) {
		on[i] = have & ~on[i];	/* now: to attach */
		if (on[i])
			err = attach_spot(&want[i], &t->cfg, progs, on[i]);
		if (err)
			on[i] = 0;
	}
	if (err) {
		/* Take away what this call attached; the rest stays. */
		while (i-- > 0)
			for (h = 0; h < NHOOKS; h++)
				if (on[i] & (1 << h)) {
					link_pin(path, sizeof(path), h, want[i].id,
						 &t->cfg);
					unlink(path);
				}
		closedir(d);
		goto out;
	}
	rewinddir(d);
	while ((e = readdir(d))) {
		/* A hook this layer has no program pin for stays where it is:
		 * it could not be attached anywhere else. */
		if (!parse_pin(e->d_name, &t->cfg, &h, &id) || !(have & (1 << h)))
			continue;
		for (i = 0; i < nwant && want[i].id != id; i++)
			;
		if (i < nwant)
			continue;
		snprintf(path, sizeof(path), SOCKREDIR_PIN_DIR "/%s", e->d_name);
		unlink(path);	/* the last reference: detached */
	}
	closedir(d);
out:
	for (h = 0; h < NHOOKS; h++)
		if (progs[h] >= 0)
			close(progs[h]);
	free(want);
	return err;
}
