/*
 * upgrade.c - sockredir upgrade: put this build's programs in place of the
 * attached ones without detaching anything.
 *
 * The pinned state is the contract between builds: the maps under
 * SOCKREDIR_PIN_DIR (config, key, services, rules, claims, flows, counters)
 * and one pinned link per program, link_<program>.  A new build takes the
 * layer over by loading its programs against the pinned maps themselves
 * (bpf_map__reuse_fd) and swapping each link's program (bpf_link_update:
 * the kernel replaces it in the cgroup's program array in one step, so a
 * hook never runs with no program and never with half a layer's state).
 * Services, rules, claims, live flows and the records key stay as they
 * are.  A tracepoint's link cannot swap its program: the new program is
 * attached beside the old one and its pin renamed over the old pin, which
 * ends the old link; for that moment both run, which the socket state
 * program allows (bpf/handoff.h: each step is done once, whoever runs it
 * first).  The congestion control's link (link_sr_cc, bpf/cc.h) swaps its
 * struct_ops map; a layer from before it gets one, before the connect
 * hooks that use it.
 *
 * The socket state tracepoint (sr_sock_state) is how builds before the
 * congestion control saw their flows' sockets connect and close; this
 * build's `up` does not attach it.  Upgrading from such a build keeps it
 * attached (this build's program, which does the same for those sockets
 * and nothing twice for the new ones), so that flows held across the
 * upgrade still end, and their counters with them; it goes at the next
 * `down`.  Programs this build retired (sr_sockops, an earlier build's
 * whole-cgroup sockops program) are detached once everything else is in
 * place.  That works only if the new programs read the maps as the old ones
 * wrote them: every pinned map the build knows must have the same type,
 * key and value size, entries, flags and BTF layout; otherwise nothing is
 * touched and the caller is told which map differs.
 */
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>

#include "internal.h"
#include "sockredir.skel.h"

#define MAX_PROGS 32
#define MAX_SWAPS (MAX_PROGS + 2 * SR_MAX_SERVICES)	/* hooks: one per cgroup */
#define MAX_MAPS 64

static void why(struct sockredir_upgrade_result *res, const char *fmt, ...)
{
	va_list ap;

	if (!res || res->why[0])
		return;		/* the first reason is the one to give */
	va_start(ap, fmt);
	vsnprintf(res->why, sizeof(res->why), fmt, ap);
	va_end(ap);
}

/* A growing string. */
struct text {
	char *s;
	size_t n, cap;
};

static void put(struct text *t, const char *fmt, ...)
{
	va_list ap;
	int n;

	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(t->s ? t->s + t->n : NULL, t->s ? t->cap - t->n : 0,
			      fmt, ap);
		va_end(ap);
		if (n < 0)
			return;
		if (t->s && t->n + n < t->cap) {
			t->n += n;
			return;
		}
		t->cap = (t->cap + n + 1) * 2;
		t->s = realloc(t->s, t->cap);
		if (!t->s) {
			t->n = t->cap = 0;
			return;
		}
	}
}

/*
 * The memory layout of BTF type @id as text: sizes, member names and bit
 * offsets, array lengths, integer sizes; typedefs and qualifiers looked
 * through.  Two builds whose maps give the same text read them alike.
 */
static void layout(const struct btf *btf, __u32 id, struct text *out, int depth)
{
	const struct btf_type *t = btf__type_by_id(btf, id);
	int i;

	while (t && (btf_is_typedef(t) || btf_is_const(t) || btf_is_volatile(t) ||
		     btf_is_restrict(t) || btf_is_type_tag(t)))
		t = btf__type_by_id(btf, t->type);
	if (!t || depth > 16) {
		put(out, "?");
		return;
	}
	if (btf_is_int(t)) {
		put(out, "i%u", t->size);
	} else if (btf_is_enum(t) || btf_is_enum64(t)) {
		put(out, "e%u", t->size);
	} else if (btf_is_ptr(t)) {
		put(out, "p");
	} else if (btf_is_array(t)) {
		put(out, "[%u]", btf_array(t)->nelems);
		layout(btf, btf_array(t)->type, out, depth + 1);
	} else if (btf_is_composite(t)) {
		const struct btf_member *m = btf_members(t);

		put(out, "%c%u{", btf_is_struct(t) ? 's' : 'u', t->size);
		for (i = 0; i < btf_vlen(t); i++, m++) {
			put(out, "%s@%u:", btf__name_by_offset(btf, m->name_off),
			    btf_member_bit_offset(t, i));
			layout(btf, m->type, out, depth + 1);
			put(out, ",");
		}
		put(out, "}");
	} else {
		put(out, "k%u", btf_kind(t));
	}
}

/* Key and value layout of @map in the new object, as text. */
static char *obj_layout(const struct bpf_object *obj, const struct bpf_map *map)
{
	const struct btf *btf = bpf_object__btf(obj);
	struct text t = {};

	if (!btf || !bpf_map__btf_value_type_id(map))
		return strdup("");
	layout(btf, bpf_map__btf_key_type_id(map), &t, 0);
	put(&t, "=");
	layout(btf, bpf_map__btf_value_type_id(map), &t, 0);
	return t.s ? t.s : strdup("");
}

/* The same for a pinned map, from the BTF the kernel holds for it. */
static char *pinned_layout(const struct bpf_map_info *info)
{
	struct text t = {};
	struct btf *btf;

	if (!info->btf_id || !info->btf_value_type_id)
		return strdup("");
	btf = btf__load_from_kernel_by_id(info->btf_id);
	if (!btf)
		return NULL;
	layout(btf, info->btf_key_type_id, &t, 0);
	put(&t, "=");
	layout(btf, info->btf_value_type_id, &t, 0);
	btf__free(btf);
	return t.s ? t.s : strdup("");
}

/*
 * Can @map of the new object take over pinned map @fd as it is?  Returns
 * 0, or -EPROTO with the reason in @res.
 */
static int map_compatible(const struct bpf_object *obj,
			  const struct bpf_map *map, int fd,
			  struct sockredir_upgrade_result *res)
{
	const char *name = bpf_map__name(map);
	struct bpf_map_info info;
	__u32 len = sizeof(info);
	char *a = NULL, *b = NULL;
	int err = 0;

	memset(&info, 0, sizeof(info));
	if (bpf_obj_get_info_by_fd(fd, &info, &len))
		return -errno;
	if (info.type != bpf_map__type(map)) {
		why(res, "map %s: type %u running, %u in this build", name,
		    info.type, bpf_map__type(map));
		return -EPROTO;
	}
	if (info.key_size != bpf_map__key_size(map) ||
	    info.value_size != bpf_map__value_size(map)) {
		why(res, "map %s: key/value size %u/%u running, %u/%u in this build",
		    name, info.key_size, info.value_size, bpf_map__key_size(map),
		    bpf_map__value_size(map));
		return -EPROTO;
	}
	if (info.max_entries != bpf_map__max_entries(map) ||
	    info.map_flags != bpf_map__map_flags(map)) {
		why(res, "map %s: %u entries, flags %#x running, %u, %#x in this build",
		    name, info.max_entries, info.map_flags,
		    bpf_map__max_entries(map), bpf_map__map_flags(map));
		return -EPROTO;
	}
	a = pinned_layout(&info);
	b = obj_layout(obj, map);
	if (!a || !b)
		err = -ENOMEM;
	else if (strcmp(a, b)) {
		why(res, "map %s: the layout of its entries differs (same sizes, "
		    "other fields)", name);
		err = -EPROTO;
	}
	free(a);
	free(b);
	return err;
}

/* The program a pinned link runs now, as an fd (to put back on failure). */
static int link_prog_fd(int link)
{
	struct bpf_link_info info;
	__u32 len = sizeof(info);
	int fd;

	memset(&info, 0, sizeof(info));
	if (bpf_obj_get_info_by_fd(link, &info, &len))
		return -errno;
	fd = bpf_prog_get_fd_by_id(info.prog_id);
	return fd < 0 ? -errno : fd;
}

struct swap {
	struct bpf_program *prog;
	int link;		/* pinned link, or -1: a new program to attach */
	int old;		/* the program it ran before */
	int done;
};

/*
 * The records' key map of the running layer, as an fd, or -ENOENT: it is
 * not pinned (bpf/records.h), so it is found through the maps the pinned
 * connect hook uses.  Taken over like a pinned map, so records issued
 * before the upgrade still check after it.
 */
static int running_key_map(void)
{
	struct bpf_prog_info pinfo = {};
	struct bpf_link_info linfo = {};
	__u32 len = sizeof(linfo), ids[64], i, n;
	int link, prog, fd, found = -ENOENT;

	link = bpf_obj_get(SOCKREDIR_PIN_DIR "/link_sr_connect4");
	if (link < 0)
		return -ENOENT;
	if (bpf_obj_get_info_by_fd(link, &linfo, &len)) {
		close(link);
		return -errno;
	}
	close(link);
	prog = bpf_prog_get_fd_by_id(linfo.prog_id);
	if (prog < 0)
		return -errno;
	pinfo.nr_map_ids = 64;
	pinfo.map_ids = (__u64)(unsigned long)ids;
	len = sizeof(pinfo);
	if (bpf_obj_get_info_by_fd(prog, &pinfo, &len)) {
		close(prog);
		return -errno;
	}
	close(prog);
	n = pinfo.nr_map_ids < 64 ? pinfo.nr_map_ids : 64;
	for (i = 0; i < n && found < 0; i++) {
		struct bpf_map_info minfo = {};

		len = sizeof(minfo);
		fd = bpf_map_get_fd_by_id(ids[i]);
		if (fd < 0)
			continue;
		if (!bpf_obj_get_info_by_fd(fd, &minfo, &len) &&
		    !strcmp(minfo.name, "sr_key"))
			found = fd;
		else
			close(fd);
	}
	return found;
}

static struct bpf_object *open_object(const char *path)
{
	LIBBPF_OPTS(bpf_object_open_opts, o, .object_name = "sockredir_bpf");
	const void *elf;
	size_t sz;

	libbpf_print_fn_t old = libbpf_set_print(NULL);
	struct bpf_object *obj;

	if (path) {
		obj = bpf_object__open_file(path, &o);
	} else {
		elf = sockredir_bpf__elf_bytes(&sz);
		obj = bpf_object__open_mem(elf, sz, &o);
	}
	libbpf_set_print(old);
	if (obj)
		sr_cc_prepare(obj);
	return obj;
}

/* Programs of earlier builds that this one does without. */
static const char *const retired[] = { "sr_sockops", NULL };

static int is_retired(const char *name)
{
	for (int i = 0; retired[i]; i++)
		if (!strcmp(name, retired[i]))
			return 1;
	return 0;
}

/* Every pinned link's program must be in the new build, or retired. */
static int check_links(struct bpf_object *obj,
		       struct sockredir_upgrade_result *res)
{
	DIR *d = opendir(SOCKREDIR_PIN_DIR);
	struct dirent *e;
	int err = 0;

	if (!d)
		return -errno;
	while ((e = readdir(d))) {
		char name[NAME_MAX + 1];

		if (strncmp(e->d_name, "link_", 5) ||
		    !strcmp(e->d_name, SR_CC_LINK_PIN))
			continue;	/* (a map's link: swapped as a map) */
		snprintf(name, sizeof(name), "%s", e->d_name + 5);
		name[strcspn(name, "@")] = '\0';	/* a hook's: @<cgroup id> */
		if (!bpf_object__find_program_by_name(obj, name) &&
		    !is_retired(name)) {
			why(res, "program %s is attached, but this build has no "
			    "such program", name);
			err = -EPROTO;
		}
	}
	closedir(d);
	return err;
}

/*
 * The pinned links of program @name, opened into @links (at most @max):
 * link_<name>, and for a socket-option hook every link_<name>@<cgroup>
 * too (lib/scope.c).  Returns how many, or -errno.
 */
static int prog_links(const char *name, int *links, int max)
{
	size_t n = strlen(name);
	char path[PATH_MAX];
	struct dirent *e;
	int k = 0, err = 0;
	DIR *d;

	d = opendir(SOCKREDIR_PIN_DIR);
	if (!d)
		return -errno;
	while ((e = readdir(d)) && !err) {
		const char *tail = e->d_name + 5;

		if (strncmp(e->d_name, "link_", 5) || strncmp(tail, name, n) ||
		    (tail[n] && (tail[n] != '@' || !sr_scope_is_hook(name))))
			continue;
		if (k == max) {
			err = -E2BIG;
			break;
		}
		snprintf(path, sizeof(path), SOCKREDIR_PIN_DIR "/%s", e->d_name);
		links[k] = bpf_obj_get(path);
		if (links[k] < 0)
			err = -errno;
		else
			k++;
	}
	closedir(d);
	if (err)
		while (k-- > 0)
			close(links[k]);
	return err ? err : k;
}

/*
 * Pin this build's socket-option hooks as prog_<name>, for scope.c to
 * attach; with @back, the programs in @old instead (undo).  0 or -errno.
 */
static int pin_hooks(struct bpf_object *obj, const int *old, int back)
{
	struct bpf_program *prog;
	char path[PATH_MAX];
	int h = 0, err = 0;

	bpf_object__for_each_program(prog, obj) {
		if (!sr_scope_is_hook(bpf_program__name(prog)))
			continue;
		snprintf(path, sizeof(path), SOCKREDIR_PIN_DIR "/prog_%s",
			 bpf_program__name(prog));
		unlink(path);
		if (back ? old[h] >= 0 && bpf_obj_pin(old[h], path) :
			   bpf_obj_pin(bpf_program__fd(prog), path))
			err = err ? err : -errno;
		h++;
	}
	return err;
}

/*
 * Replace the pinned link of tracing program @prog: attach it anew and
 * rename that link's pin over the old one (ending the old link, unless the
 * caller still holds it to put it back).  Returns 0 or -errno.
 */
static int swap_tracing(struct bpf_program *prog)
{
	char path[PATH_MAX], tmp[PATH_MAX];
	struct bpf_link *link = sr_attach_prog(prog, -1);
	int err;

	if (!link)
		return -errno;
	snprintf(path, sizeof(path), SOCKREDIR_PIN_DIR "/link_%s",
		 bpf_program__name(prog));
	/* No dot: bpffs keeps names with one for itself (EPERM). */
	snprintf(tmp, sizeof(tmp), SOCKREDIR_PIN_DIR "/swap_%s",
		 bpf_program__name(prog));
	err = bpf_link__pin(link, tmp);
	if (!err && rename(tmp, path)) {
		err = -errno;
		unlink(tmp);
	}
	bpf_link__destroy(link);	/* the pin holds it, or it ends */
	return err;
}

/* Undo one replacement: the old program (or link) back in place. */
static void swap_back(const struct swap *sw)
{
	char path[PATH_MAX];

	if (bpf_program__type(sw->prog) != BPF_PROG_TYPE_TRACING) {
		bpf_link_update(sw->link, sw->old, NULL);
		return;
	}
	snprintf(path, sizeof(path), SOCKREDIR_PIN_DIR "/link_%s",
		 bpf_program__name(sw->prog));
	unlink(path);			/* ends the new link */
	bpf_obj_pin(sw->link, path);	/* the old one, still held */
}

/* Detach the programs this build retired: unpinned, their links end. */
static void retire_links(void)
{
	char path[PATH_MAX];

	for (int i = 0; retired[i]; i++) {
		snprintf(path, sizeof(path), SOCKREDIR_PIN_DIR "/link_%s",
			 retired[i]);
		unlink(path);
	}
}

/* Where the layer is attached: the cgroup of its connect4 link. */
static int attached_cgroup(void)
{
	struct bpf_link_info info;
	__u32 len = sizeof(info);
	char path[PATH_MAX];
	int link, err;

	link = bpf_obj_get(SOCKREDIR_PIN_DIR "/link_sr_connect4");
	if (link < 0)
		return -errno;
	memset(&info, 0, sizeof(info));
	err = bpf_obj_get_info_by_fd(link, &info, &len) ? -errno : 0;
	close(link);
	if (!err)
		err = sr_cgroup_path(info.cgroup.cgroup_id, NULL, path, sizeof(path));
	if (err)
		return err;
	err = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	return err < 0 ? -errno : err;
}

static int do_upgrade(const struct sockredir_upgrade_opts *opts,
		      struct sockredir_upgrade_result *res)
{
	struct swap sw[MAX_SWAPS];
	int oldpins[SR_SCOPE_HOOKS] = { -1, -1, -1 }, pinned = 0;
	struct bpf_map *newmaps[MAX_MAPS];
	struct bpf_object *obj;
	struct bpf_program *prog;
	struct bpf_map *map;
	char path[PATH_MAX];
	int nsw = 0, nnew = 0, i, pass, err = 0, cgfd = -1, cc_added = 0;
	int legacy = 0;

	obj = open_object(opts ? opts->object : NULL);
	if (!obj) {
		why(res, "%s is not a BPF object of sockredir's (%s)",
		    opts && opts->object ? opts->object : "this build's object",
		    strerror(errno));
		return -ENOEXEC;
	}
	/* Take the pinned maps over, or say why not, before changing anything. */
	bpf_object__for_each_map(map, obj) {
		int fd;

		if (bpf_map__is_internal(map) ||
		    bpf_map__type(map) == BPF_MAP_TYPE_STRUCT_OPS)
			continue;	/* .rodata and the like: the build's own */
		snprintf(path, sizeof(path), SOCKREDIR_PIN_DIR "/%s",
			 bpf_map__name(map));
		if (!strcmp(bpf_map__name(map), "sr_key")) {
			fd = running_key_map();
			if (fd < 0)
				errno = -fd;
		} else {
			fd = bpf_obj_get(path);
		}
		if (fd < 0) {
			if (errno != ENOENT) {
				err = -errno;
				goto out;
			}
			if (nnew < MAX_MAPS)
				newmaps[nnew++] = map;	/* new in this build */
			/* The running layer keeps its sockets' state in
			 * sr_socks alone (bpf/legacy.h). */
			if (!strcmp(bpf_map__name(map), "sr_conns"))
				legacy = 1;
			continue;
		}
		err = map_compatible(obj, map, fd, res);
		if (!err && bpf_map__reuse_fd(map, fd))
			err = -errno;
		close(fd);
		if (err)
			goto out;
		res->maps_kept++;
	}
	err = check_links(obj, res);
	if (err)
		goto out;
	if (opts && opts->check) {
		res->maps_new = nnew;
		bpf_object__for_each_program(prog, obj) {
			if (bpf_program__type(prog) == BPF_PROG_TYPE_SYSCALL ||
			    bpf_program__type(prog) == BPF_PROG_TYPE_STRUCT_OPS ||
			    (sr_is_state_tp(bpf_program__name(prog)) &&
			     access(SOCKREDIR_PIN_DIR "/link_sr_sock_state", F_OK)))
				continue;	/* run, or not attached alone */
			snprintf(path, sizeof(path), SOCKREDIR_PIN_DIR "/%s_%s",
				 sr_scope_is_hook(bpf_program__name(prog)) ?
					 "prog" : "link",
				 bpf_program__name(prog));
			if (access(path, F_OK) == 0 ||
			    (sr_scope_is_hook(bpf_program__name(prog)) &&
			     !access(SOCKREDIR_PIN_DIR "/link_sr_getsockopt", F_OK)) ||
			    (sr_release_is_prog(bpf_program__name(prog)) &&
			     !access(SOCKREDIR_PIN_DIR "/prog_sr_sock_release", F_OK)))
				res->programs_replaced++;
			else
				res->programs_added++;
		}
		goto out;
	}
	{
		libbpf_print_fn_t old = libbpf_set_print(NULL);

		err = bpf_object__load(obj);
		libbpf_set_print(old);
	}
	if (err) {
		why(res, "this build's programs do not load on this kernel");
		goto out;
	}
	/* New maps start empty; pin them so the next build finds them.  A new
	 * key map (the running layer had none) gets its key, never a pin. */
	for (i = 0; i < nnew; i++) {
		if (!strcmp(bpf_map__name(newmaps[i]), "sr_key")) {
			err = sr_records_key_make(obj);
			if (err)
				goto out;
			res->maps_new++;
			continue;
		}
		snprintf(path, sizeof(path), SOCKREDIR_PIN_DIR "/%s",
			 bpf_map__name(newmaps[i]));
		err = bpf_map__pin(newmaps[i], path);
		if (err)
			goto out;
		res->maps_new++;
	}
	/* Before any new program runs: the flows of a build that kept all of
	 * a socket's state in sr_socks are read there (bpf/legacy.h).  Once
	 * set, the flag is kept by every later upgrade (a pinned map). */
	if (legacy) {
		struct bpf_map *flag = bpf_object__find_map_by_name(obj, "sr_legacy");
		__u32 zero = 0, on = 1;

		if (!flag || bpf_map_update_elem(bpf_map__fd(flag), &zero, &on, 0)) {
			err = -errno;
			why(res, "cannot mark the earlier build's flows");
			goto out;
		}
	}
	bpf_object__for_each_program(prog, obj) {
		const char *name = bpf_program__name(prog);
		int links[MAX_SWAPS], k, n;

		if (bpf_program__type(prog) == BPF_PROG_TYPE_SYSCALL ||
		    bpf_program__type(prog) == BPF_PROG_TYPE_STRUCT_OPS)
			continue;	/* run (sr_make_key), or the map's (sr_cc) */
		if (sr_scope_is_hook(name) && pinned < SR_SCOPE_HOOKS) {
			snprintf(path, sizeof(path), SOCKREDIR_PIN_DIR "/prog_%s", name);
			oldpins[pinned++] = bpf_obj_get(path);	/* -1: none yet */
		}
		n = prog_links(name, links, MAX_SWAPS - nsw - 1);
		if (n < 0) {
			err = n;
			goto swaps;
		}
		if (!n && !sr_scope_is_hook(name) && !sr_is_state_tp(name))
			links[n++] = -1;	/* new: attach it below */
		for (k = 0; k < n; k++, nsw++) {
			sw[nsw] = (struct swap){ prog, links[k], -1, 0 };
			if (links[k] < 0)
				continue;
			sw[nsw].old = link_prog_fd(links[k]);
			if (sw[nsw].old < 0) {
				err = sw[nsw].old;
				for (; k < n; k++)
					close(links[k]);
				goto swaps;
			}
		}
	}
	/* The connect hooks last, as at up: by the time the new ones decide,
	 * the hooks that carry their flows on are the new ones too. */
	for (pass = 0; pass < 2 && !err; pass++) {
		if (pass == 1) {
			/* The congestion control the new connect hooks set. */
			int cc = bpf_obj_get(SOCKREDIR_PIN_DIR "/" SR_CC_LINK_PIN);

			err = sr_cc_attach(obj, cc);
			cc_added = !err && cc < 0;
			if (cc >= 0)
				close(cc);
			if (err) {
				why(res, "cannot put the congestion control in place");
				break;
			}
		}
		for (i = 0; i < nsw && !err; i++) {
			const char *name = bpf_program__name(sw[i].prog);

			if ((strncmp(name, "sr_connect", 10) == 0) != pass ||
			    sw[i].link < 0)
				continue;
			if (bpf_program__type(sw[i].prog) == BPF_PROG_TYPE_TRACING)
				err = swap_tracing(sw[i].prog);
			else if (bpf_link_update(sw[i].link,
						 bpf_program__fd(sw[i].prog), NULL))
				err = -errno;
			if (err) {
				why(res, "cannot replace program %s", name);
				break;
			}
			sw[i].done = 1;
			res->programs_replaced++;
		}
	}
	/* Programs the running layer did not have: attach them now. */
	for (i = 0; i < nsw && !err; i++) {
		struct bpf_link *link;

		if (sw[i].link >= 0)
			continue;
		if (cgfd < 0 && bpf_program__type(sw[i].prog) != BPF_PROG_TYPE_TRACING)
			cgfd = attached_cgroup();
		if (cgfd < 0 && bpf_program__type(sw[i].prog) != BPF_PROG_TYPE_TRACING) {
			err = cgfd;
			break;
		}
		link = sr_attach_prog(sw[i].prog, cgfd);
		if (!link) {
			err = -errno;
			why(res, "cannot attach new program %s",
			    bpf_program__name(sw[i].prog));
			break;
		}
		snprintf(path, sizeof(path), SOCKREDIR_PIN_DIR "/link_%s",
			 bpf_program__name(sw[i].prog));
		err = bpf_link__pin(link, path);
		bpf_link__destroy(link);
		if (!err)
			res->programs_added++;
	}
	if (!err) {
		err = pin_hooks(obj, oldpins, 0);
		if (err)
			why(res, "cannot pin the socket-option hooks");
	}
	if (err) {
		pin_hooks(obj, oldpins, 1);
		if (cc_added)
			unlink(SOCKREDIR_PIN_DIR "/" SR_CC_LINK_PIN);
		/* Put the old programs back, newest first. */
		for (i = nsw - 1; i >= 0; i--)
			if (sw[i].done)
				swap_back(&sw[i]);
		res->programs_replaced = 0;
	} else {
		retire_links();
	}
swaps:
	for (i = 0; i < nsw; i++) {
		if (sw[i].link >= 0)
			close(sw[i].link);
		if (sw[i].old >= 0)
			close(sw[i].old);
	}
	for (i = 0; i < SR_SCOPE_HOOKS; i++)
		if (oldpins[i] >= 0)
			close(oldpins[i]);
out:
	if (cgfd >= 0)
		close(cgfd);
	bpf_object__close(obj);	/* the links and pins hold what is in use */
	return err;
}

int sockredir_upgrade(const struct sockredir_upgrade_opts *opts,
		      struct sockredir_upgrade_result *res)
{
	struct sockredir_upgrade_result none;
	char path[PATH_MAX];
	int lock, err;

	if (opts && opts->sz < sizeof(*opts))
		return sr_err(-EINVAL);
	if (!res)
		res = &none;
	memset(res, 0, sizeof(*res));
	res->sz = sizeof(*res);
	/* The lock keeps other control-plane changes out meanwhile.  The maps
	 * are not read through a transaction: their layout is what is in
	 * question, and only the new build's view of them matters. */
	lock = sr_lock();
	if (lock < 0)
		return sr_err(lock);
	snprintf(path, sizeof(path), SOCKREDIR_PIN_DIR "/link_sr_connect4");
	if (access(path, F_OK))
		err = -ENOENT;		/* not up */
	else
		err = do_upgrade(opts, res);
	if (!err && !(opts && opts->check)) {
		/* The new programs in place: now put the socket-option hooks
		 * where the services need them (a layer from before did not
		 * know: they were on the whole attached cgroup).  Claims and
		 * flows are in the maps and stay. */
		struct sr_txn t = { .lock = -1, .m = SR_MAPS_INIT };

		err = sr_maps_open(&t.m);
		if (!err)
			err = sr_config_read(&t.m, &t.cfg);
		if (!err)
			err = sr_services_read(&t.m, t.svcs);
		if (!err)
			err = sr_scope_sync(&t);
		if (err)
			why(res, "the socket-option hooks could not be moved to "
			    "the services' cgroups (%s): they stay where they were",
			    strerror(-err));
		/* sr_sock_release, attached as a new program if it was not:
		 * only while the rules can make UDP flows (release.c).  Best
		 * effort: left attached, it costs runs, never a flow. */
		if (!err)
			sr_release_resync(&t);
		sr_maps_close(&t.m);
	}
	sr_unlock(lock);
	return sr_err(err);
}
