/* service.c - sockredir service add | del | list. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static int service_add(int argc, char **argv)
{
	struct sockredir_service s = { .owner_uid = -1 };
	struct sockredir_status st = {};
	const char *owner_cgroup = NULL;
	int i, id;

	if (argc < 1 || argv[0][0] == '-')
		return usage_error("service add needs a NAME");
	if (strlen(argv[0]) >= sizeof(s.name))
		return usage_error("service name '%s' is too long (%d at most)",
				   argv[0], SOCKREDIR_NAME_MAX - 1);
	strcpy(s.name, argv[0]);
	for (i = 1; i < argc; i += 2) {
		const char *opt = argv[i], *val = argv[i + 1];
		struct sockaddr_storage ss;

		if (!strcmp(opt, "--skip-inspected")) {
			s.flags |= SOCKREDIR_SKIP_INSPECTED;
			i--;
			continue;
		}
		if (!val)
			return usage_error("%s needs a value", opt);
		if (!strcmp(opt, "--listen")) {
			if (sockredir_parse_addr(val, &ss) < 0)
				return usage_error("bad address '%s' (want ADDR:PORT or [ADDR6]:PORT)", val);
			if (ss.ss_family == AF_INET) {
				if (s.listen4.sin_port)
					return usage_error("one IPv4 --listen per service");
				memcpy(&s.listen4, &ss, sizeof(s.listen4));
			} else {
				if (s.listen6.sin6_port)
					return usage_error("one IPv6 --listen per service");
				memcpy(&s.listen6, &ss, sizeof(s.listen6));
			}
		} else if (!strcmp(opt, "--owner-uid")) {
			char *end;
			unsigned long v = strtoul(val, &end, 10);

			if (*end || end == val || val[0] == '-' || v >= 0xffffffffUL)
				return usage_error("bad uid '%s'", val);
			s.owner_uid = v;
		} else if (!strcmp(opt, "--owner-cgroup")) {
			owner_cgroup = val;
		} else if (!strcmp(opt, "--fail")) {
			if (!strcmp(val, "closed"))
				s.flags |= SOCKREDIR_FAIL_CLOSED;
			else if (strcmp(val, "open"))
				return usage_error("--fail takes open or closed, not '%s'", val);
		} else {
			return usage_error("unknown option '%s'", opt);
		}
	}
	if (!s.listen4.sin_port && !s.listen6.sin6_port)
		return usage_error("service %s needs --listen ADDR:PORT", s.name);

	id = sockredir_service_add(&s, owner_cgroup);
	if (id == -ENOENT || id == -EXDEV)
		sockredir_status_get(&st);
	if (!st.up && id == -ENOENT)
		return fail(0, "sockredir is not up");
	if (id == -EXDEV)
		return usage_error("owner cgroup '%s' is outside %s, where sockredir "
				   "is attached: its proxy would not see the socket "
				   "options", owner_cgroup, st.cgroup);
	if (id == -EEXIST)
		return usage_error("service '%s' exists", s.name);
	if (id == -EINVAL)
		return usage_error("bad service name '%s' (a letter, then letters, digits, -_.)", s.name);
	if (id == -ENOENT)
		return usage_error("no cgroup '%s'", owner_cgroup);
	if (id < 0)
		return fail(id, "cannot add service '%s'", s.name);
	printf("service %s id %d\n", s.name, id);
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

static int service_list(int argc, char **argv)
{
	struct sockredir_service *list;
	int n, i;

	if (argc)
		return usage_error("unexpected word '%s'", argv[0]);
	n = sockredir_service_list(&list);
	if (n == -ENOENT)
		return fail(0, "sockredir is not up");
	if (n < 0)
		return fail(n, "cannot list services");
	if (json_output)
		printf("[");
	else if (n)
		printf("%-3s %-16s %-22s %-28s %-10s %-12s %s\n", "ID", "NAME",
		       "LISTEN4", "LISTEN6", "OWNER", "FAIL", "COUNTERS");
	for (i = 0; i < n; i++) {
		struct sockredir_service *s = &list[i];
		const struct sockredir_counters *c = &s->stats;

		if (json_output) {
			printf("%s{\"id\":%u,\"name\":", i ? "," : "", s->id);
			json_string(stdout, s->name);
			printf(",\"listen\":[");
			if (s->listen4.sin_port)
				print_addr(stdout, (void *)&s->listen4);
			if (s->listen6.sin6_port) {
				printf(s->listen4.sin_port ? "," : "");
				print_addr(stdout, (void *)&s->listen6);
			}
			printf("],\"owner_uid\":%lld,\"owner_cgroup_id\":%llu,"
			       "\"fail\":\"%s\",\"skip_inspected\":%s,"
			       "\"redirected\":%llu,\"unrecorded_egress\":%llu,"
			       "\"listener_gone\":%llu,\"refused\":%llu}",
			       (long long)s->owner_uid,
			       (unsigned long long)s->owner_cgroup_id,
			       s->flags & SOCKREDIR_FAIL_CLOSED ? "closed" : "open",
			       s->flags & SOCKREDIR_SKIP_INSPECTED ? "true" : "false",
			       (unsigned long long)c->redirected,
			       (unsigned long long)c->unrecorded_egress,
			       (unsigned long long)c->listener_gone,
			       (unsigned long long)c->refused);
			continue;
		}
		char a4[SOCKREDIR_ADDRSTRLEN] = "-", a6[SOCKREDIR_ADDRSTRLEN] = "-",
		     own[32] = "-";

		if (s->listen4.sin_port)
			sockredir_format_addr((void *)&s->listen4, a4, sizeof(a4));
		if (s->listen6.sin6_port)
			sockredir_format_addr((void *)&s->listen6, a6, sizeof(a6));
		if (s->owner_uid >= 0)
			snprintf(own, sizeof(own), "uid %lld", (long long)s->owner_uid);
		else if (s->owner_cgroup_id)
			snprintf(own, sizeof(own), "cg %llu",
				 (unsigned long long)s->owner_cgroup_id);
		printf("%-3u %-16s %-22s %-28s %-10s %-12s redirected %llu, "
		       "unrecorded-egress %llu, listener-gone %llu, refused %llu\n",
		       s->id, s->name, a4, a6, own,
		       s->flags & SOCKREDIR_SKIP_INSPECTED ?
			       (s->flags & SOCKREDIR_FAIL_CLOSED ? "closed,skip" : "open,skip") :
			       (s->flags & SOCKREDIR_FAIL_CLOSED ? "closed" : "open"),
		       (unsigned long long)c->redirected,
		       (unsigned long long)c->unrecorded_egress,
		       (unsigned long long)c->listener_gone,
		       (unsigned long long)c->refused);
	}
	if (json_output)
		printf("]\n");
	free(list);
	return EXIT_OK;
}

int service_main(int argc, char **argv)
{
	if (argc < 1)
		return usage_error("service: say add, del or list");
	if (!strcmp(argv[0], "add"))
		return service_add(argc - 1, argv + 1);
	if (!strcmp(argv[0], "del"))
		return service_del(argc - 1, argv + 1);
	if (!strcmp(argv[0], "list"))
		return service_list(argc - 1, argv + 1);
	return usage_error("service: unknown command '%s'", argv[0]);
}
