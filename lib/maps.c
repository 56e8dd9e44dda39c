/* maps.c - pinned maps, the control-plane lock, cgroup paths. */
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "internal.h"

static int open_pin(const char *name)
{
	char path[PATH_MAX];
	int fd;

	snprintf(path, sizeof(path), SOCKREDIR_PIN_DIR "/%s", name);
	fd = bpf_obj_get(path);
	return fd < 0 ? -errno : fd;
}

int sr_maps_open(struct sr_maps *m)
{
	struct { int *fd; const char *name; } pins[] = {
		{ &m->config, "sr_config" },	 { &m->services, "sr_services" },
		{ &m->rules, "sr_rules" },	 { &m->index, "sr_rule_index" },
		{ &m->stats, "sr_stats" },	 { &m->names, "sr_service_names" },
	};
	size_t i;

	for (i = 0; i < sizeof(pins) / sizeof(pins[0]); i++) {
		*pins[i].fd = open_pin(pins[i].name);
		if (*pins[i].fd < 0) {
			int err = *pins[i].fd;

			sr_maps_close(m);
			return err == -EPERM || err == -EACCES ? err : -ENOENT;
		}
	}
	return 0;
}

void sr_maps_close(struct sr_maps *m)
{
	int *fds[] = { &m->config, &m->services, &m->rules, &m->index,
		       &m->stats, &m->names };
	size_t i;

	for (i = 0; i < sizeof(fds) / sizeof(fds[0]); i++) {
		if (*fds[i] >= 0)
			close(*fds[i]);
		*fds[i] = -1;
	}
}

int sr_lock(void)
{
	int fd;

	mkdir("/run/sockredir", 0700);
	fd = open("/run/sockredir/lock", O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	if (flock(fd, LOCK_EX) < 0) {
		int err = -errno;

		close(fd);
		return err;
	}
	return fd;
}

void sr_unlock(int fd)
{
	if (fd >= 0)
		close(fd);
}

int sr_cgroup_mount(char *buf, size_t len)
{
	char line[4096], mnt[PATH_MAX], type[64];
	FILE *f = fopen("/proc/self/mountinfo", "re");
	int err = -ENOENT;

	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		/* id parent maj:min root mountpoint opts ... - type source */
		const char *dash = strstr(line, " - ");

		if (!dash || sscanf(dash, " - %63s", type) != 1 ||
		    strcmp(type, "cgroup2"))
			continue;
		if (sscanf(line, "%*s %*s %*s %*s %4095s", mnt) != 1)
			continue;
		if (strlen(mnt) >= len) {
			err = -ENAMETOOLONG;
			break;
		}
		strcpy(buf, mnt);
		err = 0;
		break;
	}
	fclose(f);
	return err;
}

/*
 * Accepts an absolute path inside the cgroup v2 mount, or a path relative
 * to the mount ("/" or "/system.slice").  cgroup v2 ids are inode numbers.
 */
int sr_cgroup_resolve(const char *path, char *abs, size_t len, uint64_t *id,
		      unsigned int *level)
{
	char mnt[PATH_MAX], cand[PATH_MAX], real[PATH_MAX];
	const char *p;
	struct stat st;
	size_t ml;
	int n, err;

	err = sr_cgroup_mount(mnt, sizeof(mnt));
	if (err)
		return err;
	ml = strlen(mnt);
	if (!path || !*path)
		path = "/";
	if (!strncmp(path, mnt, ml) && (path[ml] == '/' || !path[ml]))
		n = snprintf(cand, sizeof(cand), "%s", path);
	else
		n = snprintf(cand, sizeof(cand), "%s/%s", mnt,
			     path[0] == '/' ? path + 1 : path);
	if (n < 0 || (size_t)n >= sizeof(cand))
		return -ENAMETOOLONG;
	if (!realpath(cand, real) || stat(real, &st) < 0)
		return -ENOENT;
	if (!S_ISDIR(st.st_mode) || strncmp(real, mnt, ml) ||
	    (real[ml] != '/' && real[ml]))
		return -ENOENT;
	n = snprintf(cand, sizeof(cand), "%s/cgroup.procs", real);
	if (n < 0 || (size_t)n >= sizeof(cand) || access(cand, F_OK))
		return -ENOENT;
	if (strlen(real) >= len)
		return -ENAMETOOLONG;
	strcpy(abs, real);
	*id = st.st_ino;
	*level = 0;
	for (p = real + ml; *p; p++)
		if (*p == '/' && p[1])
			(*level)++;
	return 0;
}

int sr_config_read(const struct sr_maps *m, struct sr_config *cfg)
{
	uint32_t zero = 0;

	return bpf_map_lookup_elem(m->config, &zero, cfg) ? -errno : 0;
}

int sr_config_write(const struct sr_maps *m, const struct sr_config *cfg)
{
	uint32_t zero = 0;

	return bpf_map_update_elem(m->config, &zero, cfg, BPF_ANY) ? -errno : 0;
}

/* @out holds SR_MAX_SERVICES entries, indexed by id. */
int sr_services_read(const struct sr_maps *m, struct sr_service *out)
{
	uint32_t i;

	for (i = 0; i < SR_MAX_SERVICES; i++)
		if (bpf_map_lookup_elem(m->services, &i, &out[i]))
			return -errno;
	return 0;
}

int sr_service_find(const struct sr_maps *m, const char *name,
		    struct sr_service *out)
{
	struct sr_service all[SR_MAX_SERVICES];
	int i, err = sr_services_read(m, all);

	if (err)
		return err;
	for (i = 1; i < SR_MAX_SERVICES; i++) {
		if (all[i].id && !strncmp(all[i].name, name, sizeof(all[i].name))) {
			if (out)
				*out = all[i];
			return i;
		}
	}
	return -ENOENT;
}

/*
 * Put service @id's owner (or none, for a deleted service) in its fixed
 * slot of the config.  Other slots are written back unchanged, so a hook
 * reading the config meanwhile never sees them torn.
 */
int sr_owner_set(const struct sr_maps *m, uint32_t id,
		 const struct sr_service *svc)
{
	struct sr_config cfg;
	struct sr_owner *o;
	int err = sr_config_read(m, &cfg);

	if (err)
		return err;
	o = &cfg.owners[id];
	memset(o, 0, sizeof(*o));
	o->uid = SR_ANY_UID;
	cfg.owners_mask &= ~(1ULL << id);
	if (svc && (svc->owner_uid != SR_ANY_UID || svc->owner_cgroup_id)) {
		o->uid = svc->owner_uid;
		o->cgroup_id = svc->owner_cgroup_id;
		o->cgroup_level = svc->owner_cgroup_level;
		cfg.owners_mask |= 1ULL << id;
	}
	return sr_config_write(m, &cfg);
}

int sr_counters_read(const struct sr_maps *m, uint32_t service,
		     struct sockredir_counters *out, int64_t *live)
{
	int ncpu = libbpf_num_possible_cpus(), i;
	struct sr_counters *pc;

	if (ncpu < 0)
		return ncpu;
	pc = calloc(ncpu, sizeof(*pc));
	if (!pc)
		return -ENOMEM;
	if (bpf_map_lookup_elem(m->stats, &service, pc)) {
		int err = -errno;

		free(pc);
		return err;
	}
	for (i = 0; i < ncpu; i++) {
		out->redirected += pc[i].redirected;
		out->unrecorded_egress += pc[i].unrecorded_egress;
		out->hop_limit += pc[i].hop_limit;
		out->bad_records += pc[i].bad_records;
		out->denied += pc[i].denied;
		out->pending_lost += pc[i].pending_lost;
		out->blocked += pc[i].blocked;
		out->listener_gone += pc[i].listener_gone;
		out->refused += pc[i].refused;
		out->pending_busy += pc[i].pending_busy;
		out->untracked += pc[i].untracked;
		out->pending_full += pc[i].pending_full;
		if (live)
			*live += pc[i].live;
	}
	free(pc);
	return 0;
}
