/* service.c - sockredir service add | del | list (servicelist.c). */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "servicewords.h"

/* Add one service; prints the outcome.  Returns an exit status. */
static int service_add_spec(const struct service_spec *sp)
{
	struct sockredir_status st = {};
	const char *owner_cgroup = sp->owner_cgroup;
	int id;

	id = sockredir_service_add(&sp->s, owner_cgroup);
	if (id == -ENOENT || id == -EXDEV)
		sockredir_status_get(&st);
	if (!st.up && id == -ENOENT)
		return fail(0, "sockredir is not up");
	if (id == -EXDEV)
		return usage_error("owner cgroup '%s' must be below %s, where "
				   "sockredir is attached (outside it its proxy would "
				   "not see the socket options; the attached cgroup "
				   "itself holds every application)", owner_cgroup,
				   st.cgroup);
	if (id == -EEXIST)
		return usage_error("service '%s' exists", sp->s.name);
	if (id == -EINVAL)
		return usage_error("bad service '%s'", sp->s.name);
	if (id == -ENOENT)
		return usage_error("no cgroup '%s'", owner_cgroup);
	if (id < 0)
		return fail(id, "cannot add service '%s'", sp->s.name);
	printf("service %s id %d\n", sp->s.name, id);
	print_scope_note(sp->s.name, sp->s.owner_uid, owner_cgroup);
	return EXIT_OK;
}

static int service_add(int argc, char **argv)
{
	struct service_spec sp;
	char err[256];
	int i, used, ret;

	if (argc < 1 || argv[0][0] == '-')
		return usage_error("service add needs a NAME");
	if (service_spec_init(&sp, argv[0], err, sizeof(err)) < 0)
		return usage_error("%s", err);
	for (i = 1; i < argc; i++) {
		const char *opt = argv[i];

		if (strncmp(opt, "--", 2) || !opt[2]) {
			service_spec_free(&sp);
			return usage_error("unexpected word '%s'", opt);
		}
		used = service_option(&sp, opt + 2, i + 1 < argc ? argv[i + 1] : NULL,
				      err, sizeof(err));
		if (used < 0) {
			service_spec_free(&sp);
			return usage_error("%s", err);
		}
		i += used;
	}
	if (service_spec_check(&sp, err, sizeof(err)) < 0) {
		service_spec_free(&sp);
		return usage_error("%s", err);
	}
	if (sp.owner_unit) {
		struct sockredir_status st;

		if (sockredir_status_get(&st) < 0 || !st.up) {
			service_spec_free(&sp);
			return fail(0, "sockredir is not up");
		}
		if (service_spec_find_unit(&sp, st.cgroup) <= 0) {
			ret = usage_error("unit '%s' has no cgroup below %s (is it "
					  "running?)", sp.owner_unit, st.cgroup);
			service_spec_free(&sp);
			return ret;
		}
	}
	ret = service_add_spec(&sp);
	service_spec_free(&sp);
	return ret;
}


/* The caller's cgroup v2 path, relative to the mount ("/a/b"). */
static int own_cgroup(char *buf, size_t len)
{
	char line[PATH_MAX + 8];
	FILE *f = fopen("/proc/self/cgroup", "re");
	int err = -ENOENT;

	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, "0::", 3)) {
			line[strcspn(line, "\n")] = '\0';
			err = strlen(line + 3) < len ? 0 : -ENAMETOOLONG;
			if (!err)
				strcpy(buf, line + 3);
			break;
		}
	fclose(f);
	return err;
}

/*
 * service own NAME: make the cgroup this command runs in the owner of
 * service NAME.  Meant for a unit's ExecStartPre=, which runs in the
 * unit's own cgroup: the proxy the unit then starts is the owner, and no
 * one types a cgroup path.
 */
static int service_own(int argc, char **argv)
{
	struct sockredir_service *list = NULL, s;
	struct sockredir_status st = {};
	char cg[PATH_MAX];
	int n, i, ret;

	if (argc != 1)
		return usage_error("service own takes one NAME");
	if (own_cgroup(cg, sizeof(cg)) < 0)
		return fail(0, "cannot tell which cgroup v2 this runs in");
	n = sockredir_service_list(&list);
	if (n == -ENOENT)
		return fail(0, "sockredir is not up");
	if (n < 0)
		return fail(n, "cannot list services");
	for (i = 0; i < n && strcmp(list[i].name, argv[0]); i++)
		;
	if (i == n) {
		free(list);
		return usage_error("no service named '%s'", argv[0]);
	}
	s = list[i];
	free(list);
	ret = sockredir_service_update(&s, cg);
	if (ret == -EXDEV) {
		sockredir_status_get(&st);
		return usage_error("this runs in %s, outside %s where sockredir is "
				   "attached (give the unit Slice= below it)", cg,
				   st.cgroup);
	}
	if (ret < 0)
		return fail(ret, "cannot make %s the owner of '%s'", cg, argv[0]);
	printf("service %s: owner cgroup %s\n", argv[0], cg);
	return EXIT_OK;
}

static int service_del(int argc, char **argv)
{
	int ret;

	if (argc != 1)
		return usage_error("service del takes one NAME");
	ret = sockredir_service_del(argv[0]);
	if (ret == -ENOENT)
		return usage_error("no service named '%s'", argv[0]);
	if (ret < 0)
		return fail(ret, "cannot delete service '%s'", argv[0]);
	printf("deleted service %s and %d rule%s\n", argv[0], ret,
	       ret == 1 ? "" : "s");
	return EXIT_OK;
}

int service_main(int argc, char **argv)
{
	if (argc < 1)
		return usage_error("service: say add, del, list or own");
	if (!strcmp(argv[0], "add"))
		return service_add(argc - 1, argv + 1);
	if (!strcmp(argv[0], "del"))
		return service_del(argc - 1, argv + 1);
	if (!strcmp(argv[0], "list"))
		return service_list(argc - 1, argv + 1);
	if (!strcmp(argv[0], "own"))
		return service_own(argc - 1, argv + 1);
	return usage_error("service: unknown command '%s'", argv[0]);
}
