/* flow.c - sockredir_flow_list: the live flows, from the kernel's socket state. */
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <stdio.h>
#include <sys/stat.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "internal.h"
#include "observe_abi.h"
#include "sockredir/observe.h"
#include "flows.skel.h"

/* Append what iterator fd @fd writes to *@rows (@have bytes, @cap room). */
static int read_iter(int fd, char **rows, size_t *have, size_t *cap)
{
	for (;;) {
		ssize_t r;

		if (*cap - *have < 64 * sizeof(struct sr_flow_row)) {
			size_t ncap = *cap + 256 * sizeof(struct sr_flow_row);
			void *p = realloc(*rows, ncap);

			if (!p)
				return -ENOMEM;
			*rows = p;
			*cap = ncap;
		}
		r = read(fd, *rows + *have, *cap - *have);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		if (r == 0)
			return 0;
		*have += r;
	}
}

/*
 * The network namespaces to walk: every process's, and those bind-mounted
 * under /run/netns (a namespace with no process in it may still hold
 * sockets).  Returns how many fds are in *@out (malloc'ed), or -ENOMEM.
 */
static int netns_fds(int **out)
{
	struct ns { dev_t dev; ino_t ino; int fd; } *ns = NULL;
	char path[PATH_MAX];
	struct dirent *e;
	int n = 0, cap = 0, i, pass;

	for (pass = 0; pass < 2; pass++) {
		DIR *d = opendir(pass ? "/run/netns" : "/proc");

		if (!d)
			continue;
		while ((e = readdir(d))) {
			struct stat st;
			int fd;

			if (e->d_name[0] == '.' ||
			    (!pass && (e->d_name[0] < '0' || e->d_name[0] > '9')))
				continue;
			snprintf(path, sizeof(path), pass ? "/run/netns/%s" :
				 "/proc/%s/ns/net", e->d_name);
			fd = open(path, O_RDONLY | O_CLOEXEC);
			if (fd < 0)
				continue;	/* gone, or not a namespace */
			if (fstat(fd, &st) < 0) {
				close(fd);
				continue;
			}
			for (i = 0; i < n; i++)
				if (ns[i].dev == st.st_dev && ns[i].ino == st.st_ino)
					break;
			if (i < n) {
				close(fd);
				continue;
			}
			if (n == cap) {
				void *p = realloc(ns, (cap = cap ? 2 * cap : 64) *
							  sizeof(*ns));

				if (!p) {
					close(fd);
					closedir(d);
					for (i = 0; i < n; i++)
						close(ns[i].fd);
					free(ns);
					return -ENOMEM;
				}
				ns = p;
			}
			ns[n].dev = st.st_dev;
			ns[n].ino = st.st_ino;
			ns[n++].fd = fd;
		}
		closedir(d);
	}
	*out = calloc(n ? n : 1, sizeof(**out));
	if (!*out) {
		for (i = 0; i < n; i++)
			close(ns[i].fd);
		free(ns);
		return -ENOMEM;
	}
	for (i = 0; i < n; i++)
		(*out)[i] = ns[i].fd;
	free(ns);
	return n;
}

/* The pinned maps the iterator reads, and the value each must hold. */
static const struct {
	const char *name;
	__u32 value_size;
} state_maps[] = {
	{ "sr_conns", sizeof(struct sr_conn) },
	{ "sr_accepted", sizeof(struct sr_acc) },
	{ "sr_given", sizeof(struct sr_records) },
	{ "sr_socks", sizeof(struct sr_sock) },	/* an earlier build's */
};
#define NSTATE (sizeof(state_maps) / sizeof(state_maps[0]))

/*
 * Point @skel's state maps at the pinned ones, checked against this
 * build's layout.  A map not pinned (a layer from before it) is left to be
 * made empty.  Returns 0, -ENOENT (no layer: no sr_socks pinned), -EPROTO.
 */
static int reuse_state(struct sockredir_flows *skel)
{
	struct bpf_map *maps[NSTATE] = {
		skel->maps.sr_conns, skel->maps.sr_accepted,
		skel->maps.sr_given, skel->maps.sr_socks,
	};
	char path[128];
	size_t i;
	int err = 0;

	for (i = 0; i < NSTATE && !err; i++) {
		struct bpf_map_info info = {};
		__u32 len = sizeof(info);
		int fd;

		snprintf(path, sizeof(path), SOCKREDIR_PIN_DIR "/%s", state_maps[i].name);
		fd = bpf_obj_get(path);
		if (fd < 0) {
			if (errno != ENOENT || !strcmp(state_maps[i].name, "sr_socks"))
				err = errno == ENOENT ? -ENOENT : -errno;
			continue;
		}
		if (bpf_obj_get_info_by_fd(fd, &info, &len))
			err = -errno;
		else if (info.value_size != state_maps[i].value_size)
			err = -EPROTO;
		else if (bpf_map__reuse_fd(maps[i], fd))
			err = -errno;
		close(fd);
	}
	return err;
}

/*
 * Every row the iterator writes, in every network namespace (a TCP
 * iterator walks the namespace of whoever opens it, so this enters each in
 * turn and comes back).  The program is loaded for this call on the
 * pinned state maps rather than with the layer: the layer stays as it was
 * (nothing pinned for it to keep in step across an upgrade), and the
 * program reads the socket state the way this build lays it out, which is
 * checked against the maps first.  Returns the row count (*@out malloc'ed)
 * or -errno.
 */
static int read_rows(struct sr_flow_row **out)
{
	struct sockredir_flows *skel = NULL;
	struct bpf_link *link = NULL;
	char *rows = NULL;
	size_t have = 0, cap = 0;
	libbpf_print_fn_t old;
	int *ns = NULL, nns = 0, home = -1, i, err;

	old = libbpf_set_print(NULL);
	skel = sockredir_flows__open();
	err = skel ? 0 : -errno;
	if (!err)
		err = reuse_state(skel);
	if (!err)
		err = sockredir_flows__load(skel);
	if (!err) {
		link = bpf_program__attach_iter(skel->progs.sr_flows, NULL);
		err = link ? 0 : -errno;
	}
	libbpf_set_print(old);
	if (err)
		goto out;
	home = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	if (home < 0) {
		err = -errno;
		goto out;
	}
	nns = netns_fds(&ns);
	if (nns < 0) {
		err = nns;
		nns = 0;
		goto out;
	}
	for (i = 0; i < nns && !err; i++) {
		int fd;

		if (setns(ns[i], CLONE_NEWNET) < 0)
			continue;	/* it went away meanwhile */
		fd = bpf_iter_create(bpf_link__fd(link));
		if (setns(home, CLONE_NEWNET) < 0)
			abort();	/* cannot happen: we came from there */
		if (fd < 0) {
			err = -errno;
			break;
		}
		err = read_iter(fd, &rows, &have, &cap);
		close(fd);
	}
	if (!err && have % sizeof(struct sr_flow_row))
		err = -EPROTO;
	if (!err) {
		*out = (struct sr_flow_row *)rows;
		rows = NULL;
		err = (int)(have / sizeof(struct sr_flow_row));
	}
out:
	for (i = 0; i < nns; i++)
		close(ns[i]);
	free(ns);
	if (home >= 0)
		close(home);
	bpf_link__destroy(link);
	sockredir_flows__destroy(skel);
	free(rows);
	return err;
}

static struct sockredir_flow *flow_of(struct sockredir_flow *f, size_t *n,
				      uint64_t id)
{
	size_t i;

	for (i = 0; i < *n; i++)
		if (f[i].flow_id == id)
			return &f[i];
	memset(&f[*n], 0, sizeof(f[*n]));
	f[*n].flow_id = id;
	return &f[(*n)++];
}

/* Fold one socket's row into its flow. */
static void add_row(struct sockredir_flow *f, const struct sr_flow_row *r,
		    uint64_t now, unsigned int *held_hops)
{
	const struct sr_records *rec = &r->flow.rec;
	unsigned int i, nhops = rec->nhops > SR_MAX_HOPS ? SR_MAX_HOPS : rec->nhops;

	f->sockets++;
	if (rec->nhops) {	/* a redirected socket's row carries no records */
		f->app_pid = rec->app_pid;
		f->app_uid = rec->app_uid;
		f->app_gid = rec->app_gid;
		f->app_cgroup_id = rec->app_cgroup;
		memcpy(f->app_comm, rec->app_comm, sizeof(f->app_comm));
		f->app_comm[sizeof(f->app_comm) - 1] = '\0';
	}
	if (nhops && nhops >= f->hops) {
		f->hops = nhops;
		for (i = 0; i < SR_MAX_HOPS; i++)
			f->chain[i] = i < nhops ? rec->hops[i] : 0;
	}
	if (r->role && r->flow.orig_dst.family)
		sr_addr_to_sockaddr(&r->flow.orig_dst, &f->dst);
	if (r->role == SR_ROLE_ACCEPTED && nhops >= *held_hops) {
		*held_hops = nhops;
		f->service_id = r->flow.service_id;
	}
	if (!r->role)
		f->at_destination = 1;
	if (r->started && r->started <= now && now - r->started > f->age_ns)
		f->age_ns = now - r->started;
}

static int older_first(const void *a, const void *b)
{
	const struct sockredir_flow *x = a, *y = b;

	if (x->age_ns != y->age_ns)
		return x->age_ns > y->age_ns ? -1 : 1;
	return x->flow_id < y->flow_id ? -1 : x->flow_id > y->flow_id;
}

/* @abs without the cgroup v2 mount point @mnt in front. */
static void cgroup_below(const char *mnt, const char *abs, char *out,
			 size_t len)
{
	size_t m = strlen(mnt);

	out[0] = '\0';
	if (strncmp(abs, mnt, m) || (abs[m] && abs[m] != '/'))
		return;
	if (strlen(abs + m) + 2 > len)
		return;
	strcpy(out, abs[m] ? abs + m : "/");
}

int sockredir_flow_list(struct sockredir_flow **out)
{
	struct sockredir_flow *flows = NULL;
	struct sr_flow_row *rows = NULL;
	char mnt[PATH_MAX], abs[PATH_MAX];
	unsigned int *held = NULL;
	struct timespec ts;
	struct sr_txn t;
	size_t i, j, n = 0;
	uint64_t now;
	int err, nrows;

	if (!out)
		return sr_err(-EINVAL);
	*out = NULL;
	err = sr_txn_begin(&t, 0);
	if (err)
		return sr_err(err);
	nrows = read_rows(&rows);
	clock_gettime(CLOCK_BOOTTIME, &ts);
	now = (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec;
	if (nrows < 0) {
		err = nrows;
		goto out;
	}
	flows = calloc(nrows ? nrows : 1, sizeof(*flows));
	held = calloc(nrows ? nrows : 1, sizeof(*held));
	if (!flows || !held) {
		err = -ENOMEM;
		goto out;
	}
	for (i = 0; i < (size_t)nrows; i++) {
		struct sockredir_flow *f;

		if (!rows[i].flow.rec.flow_id)
			continue;
		f = flow_of(flows, &n, rows[i].flow.rec.flow_id);
		add_row(f, &rows[i], now, &held[f - flows]);
	}
	/* A flow is the application's connection: rows of a proxy's onward
	 * socket alone (the application's end closed) are not one. */
	for (i = j = 0; i < n; i++)
		if (flows[i].dst.ss_family)
			flows[j++] = flows[i];
	n = j;
	if (sr_cgroup_mount(mnt, sizeof(mnt)) == 0)
		for (i = 0; i < n; i++)
			if (sr_cgroup_path(flows[i].app_cgroup_id,
					   t.cfg.cgroup_path, abs, sizeof(abs)) == 0 ||
			    sr_cgroup_path(flows[i].app_cgroup_id, NULL, abs,
					   sizeof(abs)) == 0)
				cgroup_below(mnt, abs, flows[i].app_cgroup,
					     sizeof(flows[i].app_cgroup));
	qsort(flows, n, sizeof(*flows), older_first);
	if (n) {
		*out = flows;
		flows = NULL;
	}
	err = (int)n;
out:
	free(held);
	free(rows);
	free(flows);
	sr_txn_commit(&t);
	return sr_err(err);
}
