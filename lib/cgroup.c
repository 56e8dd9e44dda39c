/* cgroup.c - cgroup v2 paths: the mount, a path's id and depth, an id's path. */
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"

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

/* Depth-first search below @path (its length @n) for the cgroup @id. */
static int find_id(char *path, size_t n, size_t cap, uint64_t id, int depth)
{
	DIR *d;
	struct dirent *e;
	int found = 0;

	if (depth > 64)
		return 0;
	d = opendir(path);
	if (!d)
		return 0;
	while (!found && (e = readdir(d))) {
		size_t l = strlen(e->d_name);
		struct stat st;

		if (e->d_type != DT_DIR || e->d_name[0] == '.' || n + 1 + l >= cap)
			continue;
		path[n] = '/';
		memcpy(path + n + 1, e->d_name, l + 1);
		if (stat(path, &st) == 0 && st.st_ino == id)
			found = 1;
		else
			found = find_id(path, n + 1 + l, cap, id, depth + 1);
		if (!found)
			path[n] = '\0';
	}
	closedir(d);
	return found;
}

int sr_cgroup_path(uint64_t id, const char *within, char *buf, size_t len)
{
	char mnt[PATH_MAX], path[PATH_MAX];
	struct stat st;
	int err;

	if (!id || !buf)
		return -EINVAL;
	if (!within || !*within) {
		err = sr_cgroup_mount(mnt, sizeof(mnt));
		if (err)
			return err;
		within = mnt;
	}
	if (strlen(within) >= sizeof(path))
		return -ENAMETOOLONG;
	strcpy(path, within);
	if (stat(path, &st) < 0)
		return -ENOENT;
	if (st.st_ino != id && !find_id(path, strlen(path), sizeof(path), id, 0))
		return -ENOENT;
	if (strlen(path) >= len)
		return -ENAMETOOLONG;
	strcpy(buf, path);
	return 0;
}

int sockredir_cgroup_lookup(const char *path, uint64_t *id, unsigned int *level)
{
	char abs[PATH_MAX];
	uint64_t i;
	unsigned int l;
	int err;

	if (!path)
		return sr_err(-EINVAL);
	err = sr_cgroup_resolve(path, abs, sizeof(abs), &i, &l);
	if (err)
		return sr_err(err);
	if (id)
		*id = i;
	if (level)
		*level = l;
	return 0;
}

int sockredir_cgroup_path(uint64_t id, char *buf, size_t len)
{
	return sr_err(sr_cgroup_path(id, NULL, buf, len));
}
