/* loader.c - sockredir up / down / status: load, attach, pin, detach. */
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <arpa/inet.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "internal.h"
#include "sockredir.skel.h"

#define BPF_FS_MAGIC 0xcafe4a11
#define PIN(name) SOCKREDIR_PIN_DIR "/" name

static int ensure_bpffs(void)
{
	struct statfs fs;

	if (statfs("/sys/fs/bpf", &fs) == 0 && fs.f_type == BPF_FS_MAGIC)
		return 0;
	mkdir("/sys/fs/bpf", 0700);
	if (mount("bpf", "/sys/fs/bpf", "bpf", 0, "mode=0700") < 0)
		return -errno;
	return 0;
}

/* Remove every pin; unpinning the links is what detaches the programs. */
static int remove_pins(void)
{
	DIR *d = opendir(SOCKREDIR_PIN_DIR);
	struct dirent *e;
	char path[PATH_MAX];
	int err = 0;

	if (!d)
		return errno == ENOENT ? 1 : -errno;
	/* Links first, so nothing runs against half-removed maps. */
	for (int pass = 0; pass < 2; pass++) {
		rewinddir(d);
		while ((e = readdir(d))) {
			int is_link = !strncmp(e->d_name, "link_", 5);

			if (e->d_name[0] == '.' || is_link != (pass == 0))
				continue;
			snprintf(path, sizeof(path), "%s/%s", SOCKREDIR_PIN_DIR,
				 e->d_name);
			if (unlink(path) < 0 && errno != ENOENT)
				err = -errno;
		}
	}
	closedir(d);
	if (rmdir(SOCKREDIR_PIN_DIR) < 0 && errno != ENOENT && !err)
		err = -errno;
	return err;
}

static int links_present(void)
{
	DIR *d = opendir(SOCKREDIR_PIN_DIR);
	struct dirent *e;
	int n = 0;

	if (!d)
		return 0;
	while ((e = readdir(d)))
		n += !strncmp(e->d_name, "link_", 5);
	closedir(d);
	return n;
}

/*
 * Attach @prog: to cgroup @cgfd, or, the socket state tracepoint
 * (bpf/handoff.h, after an upgrade only), to the host's tracepoint.  NULL
 * and errno on failure.
 */
struct bpf_link *sr_attach_prog(struct bpf_program *prog, int cgfd)
{
	if (bpf_program__type(prog) == BPF_PROG_TYPE_TRACING)
		return bpf_program__attach(prog);
	return bpf_program__attach_cgroup(prog, cgfd);
}

/* Not in this system's <linux/bpf.h> (6.1): the kernel has had them since 6.4. */
#define SR_BPF_F_LINK		(1U << 13)	/* a struct_ops map for a link */
#define SR_BPF_STRUCT_OPS	44		/* enum bpf_attach_type */

int sr_is_state_tp(const char *prog)
{
	return !strcmp(prog, "sr_sock_state");
}

void sr_cc_prepare(struct bpf_object *obj)
{
	struct bpf_map *map = bpf_object__find_map_by_name(obj, "sr_cc");

	if (map)
		bpf_map__set_map_flags(map, bpf_map__map_flags(map) | SR_BPF_F_LINK);
}

/*
 * libbpf (1.1 here) fills the map's value at "attach", which for a map made
 * for a link does not register it; the link does, and the link is what an
 * upgrade swaps (the kernel then moves the name to the new one at once).
 */
int sr_cc_attach(struct bpf_object *obj, int link)
{
	struct bpf_map *map = bpf_object__find_map_by_name(obj, "sr_cc");
	struct bpf_link *fill;
	int fd, err = 0;

	if (!map)
		return -ENOENT;
	fill = bpf_map__attach_struct_ops(map);
	if (!fill)
		return -errno;
	bpf_link__disconnect(fill);	/* not a kernel link: nothing to end */
	bpf_link__destroy(fill);
	if (link >= 0)
		return bpf_link_update(link, bpf_map__fd(map), NULL) ? -errno : 0;
	fd = bpf_link_create(bpf_map__fd(map), 0, SR_BPF_STRUCT_OPS, NULL);
	if (fd < 0)
		return -errno;
	if (bpf_obj_pin(fd, PIN(SR_CC_LINK_PIN)))
		err = -errno;
	close(fd);
	return err;
}

static int attach_all(struct sockredir_bpf *skel, int cgfd)
{
	struct bpf_program *prog;
	char path[PATH_MAX];

	/* The connect and sendmsg hooks last: nothing is redirected before
	 * the hooks that carry a flow to its proxy are in place, the
	 * congestion control first of them. */
	int err = sr_cc_attach(skel->obj, -1);

	if (err)
		return err;
	for (int pass = 0; pass < 2; pass++) {
		bpf_object__for_each_program(prog, skel->obj) {
			const char *name = bpf_program__name(prog);
			struct bpf_link *link;
			int err;

			if ((!strncmp(name, "sr_connect", 10) ||
			     !strncmp(name, "sr_sendmsg", 10)) != pass ||
			    bpf_program__type(prog) == BPF_PROG_TYPE_SYSCALL ||
			    bpf_program__type(prog) == BPF_PROG_TYPE_STRUCT_OPS ||
			    sr_is_state_tp(name))
				continue;
			if (sr_scope_is_hook(name) || sr_release_is_prog(name)) {
				/* Pinned, attached by services (scope.c) or
				 * by rules (release.c). */
				snprintf(path, sizeof(path), PIN("prog_%s"), name);
				if (bpf_program__pin(prog, path))
					return -errno;
				continue;
			}
			link = sr_attach_prog(prog, cgfd);
			if (!link)
				return -errno;
			snprintf(path, sizeof(path), PIN("link_%s"), name);
			err = bpf_link__pin(link, path);
			bpf_link__destroy(link);	/* the pin holds it now */
			if (err)
				return err;
		}
	}
	return 0;
}

/*
 * A UDP endpoint pool, "ADDR/LEN" in @family: its first address into @addr
 * (network order) and how many endpoints it holds (2^(bits - LEN), at most
 * SR_UDP_FLOWS_MAX) into @size.  Returns 0 or -EINVAL.
 */
static int parse_pool(const char *s, int family, uint32_t addr[4],
		      uint32_t *size)
{
	int bits = family == AF_INET ? 32 : 128, lo = family == AF_INET ? 8 : 96;
	unsigned char buf[16];
	char host[INET6_ADDRSTRLEN], *end;
	const char *slash = strchr(s, '/');
	long len;
	int i;

	if (!slash || (size_t)(slash - s) >= sizeof(host))
		return -EINVAL;
	memcpy(host, s, slash - s);
	host[slash - s] = 0;
	errno = 0;
	len = strtol(slash + 1, &end, 10);
	if (errno || *end || end == slash + 1 || slash[1] < '0' ||
	    slash[1] > '9' || len < lo || len > bits - 2)
		return -EINVAL;
	if (inet_pton(family, host, buf) != 1)
		return -EINVAL;
	for (i = len; i < bits; i++)	/* no host bits: index 0 is the base */
		if (buf[i / 8] & (0x80 >> (i % 8)))
			return -EINVAL;
	if (family == AF_INET && buf[0] != 127)
		return -EINVAL;	/* local in every namespace: inside 127/8 */
	memset(addr, 0, 16);
	memcpy(addr, buf, family == AF_INET ? 4 : 16);
	*size = bits - len >= 16 ? SR_UDP_FLOWS_MAX : 1u << (bits - len);
	return 0;
}

/* The UDP fields of @opts (those its sz covers) into @cfg. */
static int udp_config(const struct sockredir_up_opts *opts,
		      struct sr_config *cfg)
{
	const char *p4 = SOCKREDIR_UDP_POOL4, *p6 = NULL;
	uint32_t size4, size6 = SR_UDP_FLOWS_MAX, a[4], uid_max = 0;

	if (opts && opts->sz >= sizeof(*opts)) {
		p4 = opts->udp_pool4 ? opts->udp_pool4 : p4;
		p6 = opts->udp_pool6;
		uid_max = opts->udp_uid_max;
	}
	if (parse_pool(p4, AF_INET, a, &size4))
		return -EINVAL;
	cfg->udp_pool4 = a[0];
	if (p6) {
		if (parse_pool(p6, AF_INET6, cfg->udp_pool6, &size6))
			return -EINVAL;
		cfg->udp_pool6_on = 1;
	}
	cfg->udp_pool_mask = (size4 < size6 ? size4 : size6) - 1;
	cfg->udp_uid_max = uid_max ? uid_max : (cfg->udp_pool_mask + 1) / 4;
	if (cfg->udp_uid_max > cfg->udp_pool_mask)
		return -EINVAL;
	return 0;
}

/* Live flows hold endpoints: an up may only restate the pools it has. */
static int udp_config_same(const struct sr_config *a, const struct sr_config *b)
{
	return a->udp_pool4 == b->udp_pool4 && a->udp_pool6_on == b->udp_pool6_on &&
	       !memcmp(a->udp_pool6, b->udp_pool6, sizeof(a->udp_pool6)) &&
	       a->udp_pool_mask == b->udp_pool_mask &&
	       a->udp_uid_max == b->udp_uid_max;
}

/*
 * The records' signing key: drawn in the kernel (sr_make_key), never seen
 * here; then its map is frozen, and the caller leaves it unpinned, so
 * nothing in user space holds it or can replace it.  0 or -errno.
 */
int sr_records_key_make(struct bpf_object *obj)
{
	LIBBPF_OPTS(bpf_test_run_opts, run);
	struct bpf_program *prog;
	struct bpf_map *map;

	prog = bpf_object__find_program_by_name(obj, "sr_make_key");
	map = bpf_object__find_map_by_name(obj, "sr_key");
	if (!prog || !map)
		return -ENOENT;
	if (bpf_prog_test_run_opts(bpf_program__fd(prog), &run))
		return -errno;
	if (run.retval)
		return -EIO;
	if (bpf_map_freeze(bpf_map__fd(map)))
		return -errno;
	return 0;
}

static int load_and_attach(const char *cgpath, uint64_t cgid,
			   const struct sr_config *udp, unsigned int max_hops)
{
	struct sr_maps m = SR_MAPS_INIT;
	struct sockredir_bpf *skel;
	struct sr_config cfg;
	int cgfd = -1, err;

	skel = sockredir_bpf__open();
	if (!skel)
		return -errno;
	sr_cc_prepare(skel->obj);
	err = sockredir_bpf__load(skel);
	if (err)
		goto out;
	if (mkdir(SOCKREDIR_PIN_DIR, 0700) < 0 && errno != EEXIST) {
		err = -errno;
		goto out;
	}
	err = bpf_object__pin_maps(skel->obj, SOCKREDIR_PIN_DIR);
	if (err)
		goto out;
	unlink(PIN("sr_cc"));	/* the build's own, as its link holds it */

	memcpy(&cfg, udp, sizeof(cfg));
	cfg.max_hops = max_hops;
	cfg.cgroup_id = cgid;
	if (strlen(cgpath) >= sizeof(cfg.cgroup_path)) {
		err = -ENAMETOOLONG;
		goto out;
	}
	strcpy(cfg.cgroup_path, cgpath);
	err = sr_records_key_make(skel->obj);
	if (!err && unlink(PIN("sr_key")) < 0)
		err = -errno;
	if (err)
		goto out;
	err = sr_maps_open(&m);
	if (!err)
		err = sr_config_write(&m, &cfg);
	if (err)
		goto out;

	cgfd = open(cgpath, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (cgfd < 0) {
		err = -errno;
		goto out;
	}
	err = attach_all(skel, cgfd);
out:
	if (cgfd >= 0)
		close(cgfd);
	sr_maps_close(&m);
	sockredir_bpf__destroy(skel);
	return err;
}

int sockredir_up(const struct sockredir_up_opts *opts)
{
	char cgpath[PATH_MAX];
	unsigned int level, max_hops = SOCKREDIR_DEFAULT_HOPS;
	struct sr_config udp;
	struct sr_txn t;
	uint64_t cgid;
	int err;

	if (opts && opts->sz < offsetof(struct sockredir_up_opts, udp_pool4))
		return sr_err(-EINVAL);
	memset(&udp, 0, sizeof(udp));
	if (udp_config(opts, &udp))
		return sr_err(-EINVAL);
	if (opts && opts->max_hops)
		max_hops = opts->max_hops;
	if (max_hops > SOCKREDIR_MAX_HOPS)
		return sr_err(-EINVAL);
	err = sr_cgroup_resolve(opts ? opts->cgroup : NULL, cgpath,
				sizeof(cgpath), &cgid, &level);
	if (err)
		return sr_err(err);
	err = sr_txn_begin(&t, SR_TXN_WRITE | SR_TXN_IF_UP);
	if (err)
		return sr_err(err);
	err = ensure_bpffs();
	if (err)
		return sr_txn_end(&t, err);

	if (links_present()) {
		/*
		 * Attached already.  A layer we cannot read is left alone: its
		 * services, rules and key belong to whoever runs it.
		 */
		if (!t.up)
			return sr_txn_end(&t, -EIO);
		if (t.cfg.cgroup_id != cgid)
			return sr_txn_end(&t, -EBUSY);
		if (opts && opts->sz >= sizeof(*opts) &&
		    (opts->udp_pool4 || opts->udp_pool6 || opts->udp_uid_max) &&
		    !udp_config_same(&t.cfg, &udp))
			return sr_txn_end(&t, -EBUSY);
		t.cfg.max_hops = max_hops;
		err = sr_txn_write_config(&t);
		return sr_txn_end(&t, err ? err : 1);
	}
	remove_pins();		/* maps a failed run left, nothing attached */
	{
		libbpf_print_fn_t old = libbpf_set_print(NULL);

		err = load_and_attach(cgpath, cgid, &udp, max_hops);
		libbpf_set_print(old);
	}
	if (err < 0)
		remove_pins();
	/* Nothing to undo in the maps: a failed load removed them all. */
	sr_txn_commit(&t);
	return sr_err(err);
}

int sockredir_down(const char *cgroup)
{
	char cgpath[PATH_MAX];
	unsigned int level;
	struct sr_txn t;
	uint64_t cgid;
	int err;

	err = sr_txn_begin(&t, SR_TXN_WRITE | SR_TXN_IF_UP);
	if (err)
		return sr_err(err);
	if (cgroup && t.up) {
		err = sr_cgroup_resolve(cgroup, cgpath, sizeof(cgpath), &cgid,
					&level);
		if (err || cgid != t.cfg.cgroup_id)
			return sr_txn_end(&t, -ENOENT);
	}
	sr_maps_close(&t.m);
	err = remove_pins();
	sr_txn_commit(&t);
	return sr_err(err);
}

int sockredir_status_get(struct sockredir_status *st)
{
	struct sr_rule_slot *rules = NULL;
	struct sr_txn t;
	int i, n, err;

	if (!st)
		return sr_err(-EINVAL);
	memset(st, 0, sizeof(*st));
	err = sr_txn_begin(&t, 0);
	if (err == -ENOENT)
		return 0;		/* down */
	if (err)
		return sr_err(err);
	if (!links_present())
		goto out;
	st->up = 1;
	snprintf(st->cgroup, sizeof(st->cgroup), "%s", t.cfg.cgroup_path);
	st->cgroup_id = t.cfg.cgroup_id;
	st->max_hops = t.cfg.max_hops;
	st->udp_pool_size = t.cfg.udp_pool_mask + 1;
	st->udp_uid_max = t.cfg.udp_uid_max;
	for (i = 0; i < SR_MAX_SERVICES; i++) {
		st->services += i && t.svcs[i].id;
		err = sr_counters_read(&t.m, i, &st->total, &st->live_flows);
		if (err)
			goto out;
	}
	n = sr_rules_read(&t.m, &rules);
	if (n < 0) {
		err = n;
		goto out;
	}
	st->rules = n;
	st->live_udp_flows = st->total.udp_flows;
	free(rules);
out:
	sr_txn_commit(&t);
	return sr_err(err);
}
