/* apply.c - sockredir apply [--check] [FILE|-], and sockredir show. */
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "conf.h"

/* The library's view of a file: services and rules by name. */
static int to_lib(const struct conf *c, struct sockredir_conf *lc)
{
	struct sockredir_conf_service *s;
	struct sockredir_conf_rule *r;
	size_t i;

	memset(lc, 0, sizeof(*lc));
	lc->sz = sizeof(*lc);
	lc->max_hops = c->max_hops;
	s = calloc(c->nsvcs + 1, sizeof(*s));
	r = calloc(c->nrules + 1, sizeof(*r));
	if (!s || !r) {
		free(s);
		free(r);
		return -ENOMEM;
	}
	for (i = 0; i < c->nsvcs; i++) {
		s[i].svc = c->svcs[i].s;
		s[i].owner_cgroup = c->svcs[i].owner_cgroup;
	}
	for (i = 0; i < c->nrules; i++) {
		r[i].rule = c->rules[i].r;
		r[i].service = c->rules[i].service;
	}
	lc->services = s;
	lc->nservices = c->nsvcs;
	lc->rules = r;
	lc->nrules = c->nrules;
	return 0;
}

/* Say what the library refused, at the line it is about. */
static int refused(const char *fname, const struct conf *c, int err,
		   const struct sockredir_apply_result *res,
		   const struct sockredir_status *st)
{
	const struct service_spec *s = res->bad_service >= 0 ?
				       &c->svcs[res->bad_service] : NULL;
	int sline = s ? c->svc_line[res->bad_service] : 0;
	int rline = res->bad_rule >= 0 ? c->rule_line[res->bad_rule] : 0;

	if (err == -EXDEV && s)
		return usage_error("%s:%d: service %s: owner cgroup '%s' must be "
				   "below %s, where sockredir is attached (nothing "
				   "changed)", fname, sline, s->s.name,
				   s->owner_cgroup, st->cgroup);
	if (err == -ENOENT && s)
		return usage_error("%s:%d: service %s: no cgroup '%s' (nothing "
				   "changed)", fname, sline, s->s.name,
				   s->owner_cgroup ? s->owner_cgroup : "");
	if (err == -E2BIG)
		return usage_error("%s:%d: more than 32 rules would cover one "
				   "address with this rule (nothing changed)",
				   fname, rline ? rline : 1);
	if (err == -ENOSPC)
		return fail(0, "%s: more services or rules than the layer holds "
			    "(nothing changed)", fname);
	if ((err == -EINVAL || err == -EEXIST) && (sline || rline))
		return usage_error("%s:%d: refused by the layer: %s (nothing "
				   "changed)", fname, sline ? sline : rline,
				   strerror(-err));
	if (err == -ENOENT)
		return fail(0, "sockredir is not up");
	return fail(err, "cannot apply %s (nothing changed)", fname);
}

/* The file's services that ended up with no owner cgroup (a uid, or an
 * owner-unit that is not running): their option hooks' note. */
static void scope_notes(const struct conf *c)
{
	struct sockredir_service *list = NULL;
	int n = sockredir_service_list(&list), i;
	size_t j;

	for (i = 0; i < n; i++)
		for (j = 0; j < c->nsvcs; j++)
			if (!strcmp(list[i].name, c->svcs[j].s.name))
				print_scope_note(list[i].name, list[i].owner_uid,
						 list[i].owner_cgroup_id ? "" : NULL);
	free(list);
}

static void summary(const char *what, const struct sockredir_apply_result *r)
{
	printf("%s: services %u added, %u changed, %u removed, %u kept; "
	       "rules %u added, %u removed, %u kept%s\n", what,
	       r->services_added, r->services_changed, r->services_removed,
	       r->services_kept, r->rules_added, r->rules_removed, r->rules_kept,
	       r->max_hops_changed ? "; max-hops changed" : "");
}

/*
 * apply --check while the layer is down: what the library can check only
 * against a running layer, checked against the file's own layer block.  An
 * owner cgroup must lie strictly below the cgroup the layer attaches to
 * (lib/service.c); without a 'layer { cgroup }' that cannot be known, and
 * the caller is told so.  Returns EXIT_OK or the exit status of the error.
 */
static int check_owners_down(const char *fname, const struct conf *c)
{
	char at[PATH_MAX], own[PATH_MAX];
	uint64_t id;
	size_t i, n;
	int err, owners = 0;

	for (i = 0; i < c->nsvcs; i++)
		owners += c->svcs[i].owner_cgroup != NULL;
	if (!owners)
		return EXIT_OK;
	if (!c->cgroup) {
		fprintf(stderr, "sockredir: %s: owner cgroups not checked: sockredir "
			"is down and the file has no 'layer { cgroup PATH }' to check "
			"them against (each must lie below the attach cgroup)\n", fname);
		return EXIT_OK;
	}
	err = sockredir_cgroup_lookup(c->cgroup, &id, NULL);
	if (!err)
		err = sockredir_cgroup_path(id, at, sizeof(at));
	if (err)
		return fail(err, "%s:%d: cannot read cgroup '%s'", fname,
			    c->cgroup_line, c->cgroup);
	n = strlen(at);
	for (i = 0; i < c->nsvcs; i++) {
		const char *o = c->svcs[i].owner_cgroup;

		if (!o)
			continue;
		err = sockredir_cgroup_lookup(o, &id, NULL);
		if (!err)
			err = sockredir_cgroup_path(id, own, sizeof(own));
		if (err == -ENOENT)
			return usage_error("%s:%d: service %s: no cgroup '%s' (nothing "
					   "changed)", fname, c->svc_line[i],
					   c->svcs[i].s.name, o);
		if (err)
			return fail(err, "%s:%d: cannot read cgroup '%s'", fname,
				    c->svc_line[i], o);
		if (strncmp(own, at, n) || own[n] != '/' || !own[n + 1])
			return usage_error("%s:%d: service %s: owner cgroup '%s' must "
					   "be below %s, where the file attaches "
					   "sockredir", fname, c->svc_line[i],
					   c->svcs[i].s.name, o, c->cgroup);
	}
	return EXIT_OK;
}

/* The file's layer block against what runs; brings the layer up if asked. */
static int layer_ready(const char *fname, const struct conf *c, int check,
		       struct sockredir_status *st, int *brought_up)
{
	uint64_t id;
	int err;

	if (sockredir_status_get(st) < 0)
		return fail(-errno, "cannot read the redirect layer");
	if (c->cgroup && sockredir_cgroup_lookup(c->cgroup, &id, NULL) < 0)
		return usage_error("%s:%d: no cgroup '%s' (nothing changed)",
				   fname, c->cgroup_line, c->cgroup);
	if (st->up) {
		if (c->cgroup && id != st->cgroup_id)
			return fail(0, "%s:%d: sockredir is attached to %s, not %s; "
				    "run 'sockredir down' first (nothing changed)",
				    fname, c->cgroup_line, st->cgroup, c->cgroup);
		return EXIT_OK;
	}
	if (check)			/* checked against an empty layer */
		return check_owners_down(fname, c);
	if (!c->cgroup)
		return fail(0, "sockredir is not up, and %s has no 'layer { cgroup "
			    "PATH }' to bring it up on", fname);
	{
		struct sockredir_up_opts o = { .sz = sizeof(o), .cgroup = c->cgroup,
					       .max_hops = c->max_hops };

		err = sockredir_up(&o);
	}
	if (err < 0)
		return fail(err, "cannot bring the redirect layer up on %s",
			    c->cgroup);
	*brought_up = 1;
	return sockredir_status_get(st) < 0 ? EXIT_FAIL : EXIT_OK;
}

int apply_main(int argc, char **argv)
{
	const char *fname = CONF_DEFAULT_PATH;
	struct sockredir_apply_result res = { .sz = sizeof(res) };
	struct sockredir_status st;
	struct sockredir_conf lc;
	struct conf c;
	char err[512];
	int i, check = 0, ret, brought_up = 0, nfiles = 0;
	FILE *f;

	for (i = 0; i < argc; i++) {
		if (!strcmp(argv[i], "--check"))
			check = 1;
		else if (argv[i][0] == '-' && argv[i][1])
			return usage_error("apply: unknown option '%s'", argv[i]);
		else if (nfiles++)
			return usage_error("apply takes one FILE ('-' for stdin)");
		else
			fname = argv[i];
	}
	f = strcmp(fname, "-") ? fopen(fname, "re") : stdin;
	if (!f)
		return fail(errno, "cannot open '%s'", fname);
	ret = conf_read(f, strcmp(fname, "-") ? fname : "<stdin>", &c, err,
			sizeof(err));
	if (f != stdin)
		fclose(f);
	if (ret == -EIO)
		return fail(0, "%s", err);
	if (ret)
		return usage_error("%s (nothing changed)", err);
	if (strcmp(fname, "-") == 0)
		fname = "<stdin>";
	ret = layer_ready(fname, &c, check, &st, &brought_up);
	if (ret)
		goto out;
	for (i = 0; i < (int)c.nsvcs; i++)
		if (c.svcs[i].owner_unit &&
		    service_spec_find_unit(&c.svcs[i], st.up ? st.cgroup : c.cgroup) <= 0)
			fprintf(stderr, "sockredir: %s:%d: service %s: unit %s is not "
				"running; it becomes the owner when it starts "
				"('sockredir service own %s')\n", fname,
				c.svc_line[i], c.svcs[i].s.name,
				c.svcs[i].owner_unit, c.svcs[i].s.name);
	if (to_lib(&c, &lc) < 0) {
		ret = fail(ENOMEM, "reading %s", fname);
		goto out;
	}
	i = sockredir_apply(&lc, check ? SOCKREDIR_APPLY_CHECK : 0, &res);
	free((void *)lc.services);
	free((void *)lc.rules);
	if (i < 0) {
		ret = refused(fname, &c, i, &res, &st);
		if (brought_up)
			sockredir_down(NULL);	/* all or nothing */
		goto out;
	}
	summary(check ? (st.up ? "would apply" : "valid (sockredir is down)") :
			"applied", &res);
	if (!check)
		scope_notes(&c);
	ret = EXIT_OK;
out:
	conf_free(&c);
	return ret;
}

/* ---- show ------------------------------------------------------------- */

static void put_cgroup(const char *key, uint64_t id)
{
	char path[PATH_MAX];

	if (sockredir_cgroup_path(id, path, sizeof(path)) == 0) {
		printf("\t%s ", key);
		conf_put_value(stdout, path);
		putchar('\n');
	} else {
		printf("\t# %s: cgroup id %llu no longer exists\n", key,
		       (unsigned long long)id);
	}
}

static void show_service(const struct sockredir_service *s)
{
	char a[SOCKREDIR_ADDRSTRLEN];

	printf("service %s {\n", s->name);
	if (s->listen4.sin_port)
		printf("\tlisten %s\n", sockredir_format_addr((void *)&s->listen4,
							      a, sizeof(a)));
	if (s->listen6.sin6_port)
		printf("\tlisten %s\n", sockredir_format_addr((void *)&s->listen6,
							      a, sizeof(a)));
	if (s->owner_uid >= 0)
		printf("\towner-uid %lld\n", (long long)s->owner_uid);
	if (s->owner_uid == 0)
		printf("\ttrust-every-root-process\n");
	if (s->owner_cgroup_id)
		put_cgroup("owner-cgroup", s->owner_cgroup_id);
	if (s->flags & SOCKREDIR_FAIL_CLOSED)
		printf("\tfail closed\n");
	if (s->flags & SOCKREDIR_SKIP_INSPECTED)
		printf("\tskip-inspected\n");
	if (s->udp_idle)
		printf("\tudp-idle %u\n", s->udp_idle);
	printf("}\n\n");
}

static void show_rule(const struct sockredir_rule *r,
		      const struct sockredir_service *svcs, int ns)
{
	char a[INET6_ADDRSTRLEN];
	int i;

	printf("rule %s%s{\t# id %u\n", r->name, r->name[0] ? " " : "", r->id);
	if (r->action == SOCKREDIR_ACTION_PERMIT)
		printf("\tpermit\n");
	else if (r->action == SOCKREDIR_ACTION_BLOCK)
		printf("\tblock\n");
	else
		for (i = 0; i < ns; i++)
			if (svcs[i].id == r->service_id)
				printf("\tservice %s\n", svcs[i].name);
	if (r->protocol == IPPROTO_TCP)
		printf("\tproto tcp\n");
	else if (r->protocol == IPPROTO_UDP)
		printf("\tproto udp\n");
	if (r->family) {
		inet_ntop(r->family, r->dst, a, sizeof(a));
		printf("\tdst %s/%u\n", a, r->prefix_len);
	}
	if (r->dport_hi)
		printf(r->dport_lo == r->dport_hi ? "\tdport %u\n" : "\tdport %u-%u\n",
		       r->dport_lo, r->dport_hi);
	if (r->cgroup_id)
		put_cgroup("cgroup", r->cgroup_id);
	if (r->uid >= 0)
		printf("\tuid %lld\n", (long long)r->uid);
	if (r->weight)
		printf("\tweight %u\n", r->weight);
	printf("}\n\n");
}

int show_main(int argc, char **argv)
{
	struct sockredir_service *svcs = NULL;
	struct sockredir_rule *rules = NULL;
	struct sockredir_status st;
	int ns, nr, i, ret;

	if (argc)
		return usage_error("unexpected word '%s'", argv[0]);
	ret = sockredir_status_get(&st);
	if (ret < 0)
		return fail(ret, "cannot read the redirect layer");
	if (!st.up)
		return fail(0, "sockredir is not up");
	ns = sockredir_service_list(&svcs);
	if (ns < 0)
		return fail(ns, "cannot list services");
	nr = sockredir_rule_list(&rules);
	if (nr < 0) {
		free(svcs);
		return fail(nr, "cannot list rules");
	}
	printf("# sockredir configuration, as it runs now (sockredir show)\n");
	printf("layer {\n\tcgroup ");
	conf_put_value(stdout, st.cgroup);
	printf("\n\tmax-hops %u\n}\n\n", st.max_hops);
	for (i = 0; i < ns; i++)
		show_service(&svcs[i]);
	for (i = 0; i < nr; i++)
		show_rule(&rules[i], svcs, ns);
	free(svcs);
	free(rules);
	return EXIT_OK;
}
