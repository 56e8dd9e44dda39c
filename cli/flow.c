/* flow.c - sockredir flow list [--service NAME]. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "sockredir/observe.h"

/* "45s", "12m03s", "3h07m", "2d04h", like ps and ss. */
static void format_age(uint64_t ns, char *buf, size_t len)
{
	uint64_t s = ns / 1000000000ull;

	if (s < 60)
		snprintf(buf, len, "%llus", (unsigned long long)s);
	else if (s < 3600)
		snprintf(buf, len, "%llum%02llus", (unsigned long long)s / 60,
			 (unsigned long long)s % 60);
	else if (s < 86400)
		snprintf(buf, len, "%lluh%02llum", (unsigned long long)s / 3600,
			 (unsigned long long)s / 60 % 60);
	else
		snprintf(buf, len, "%llud%02lluh", (unsigned long long)s / 86400,
			 (unsigned long long)s / 3600 % 24);
}

static void print_json(const struct sockredir_flow *f,
		       const struct names_table *t)
{
	char tmp[16];
	unsigned int i;

	printf("{\"flow_id\":%llu,\"app\":{\"pid\":%u,\"comm\":",
	       (unsigned long long)f->flow_id, f->app_pid);
	json_string(stdout, f->app_comm);
	printf(",\"uid\":%u,\"gid\":%u,\"cgroup\":", f->app_uid, f->app_gid);
	json_string(stdout, f->app_cgroup[0] ? f->app_cgroup : NULL);
	printf(",\"cgroup_id\":%llu},\"dst\":", (unsigned long long)f->app_cgroup_id);
	print_addr(stdout, &f->dst);
	printf(",\"chain\":[");
	for (i = 0; i < f->hops; i++) {
		printf(i ? "," : "");
		json_string(stdout, names_get(t, f->chain[i], tmp, sizeof(tmp)));
	}
	printf("],\"chain_ids\":[");
	for (i = 0; i < f->hops; i++)
		printf("%s%u", i ? "," : "", f->chain[i]);
	printf("],\"service\":");
	if (f->service_id)
		json_string(stdout, names_get(t, f->service_id, tmp, sizeof(tmp)));
	else
		printf("null");
	printf(",\"service_id\":%u,\"at_destination\":%s,\"age\":%.3f,"
	       "\"sockets\":%u}", f->service_id,
	       f->at_destination ? "true" : "false", f->age_ns / 1e9, f->sockets);
}

enum { COLS = 9 };
typedef char cell[SOCKREDIR_MAX_HOPS * SOCKREDIR_NAME_MAX];

static void text_row(const struct sockredir_flow *f,
		     const struct names_table *t, cell *row)
{
	char tmp[16];
	size_t used = 0;
	unsigned int i;

	snprintf(row[0], sizeof(cell), "%llu", (unsigned long long)f->flow_id);
	snprintf(row[1], sizeof(cell), "%s", f->app_comm);
	snprintf(row[2], sizeof(cell), "%u", f->app_pid);
	snprintf(row[3], sizeof(cell), "%u", f->app_uid);
	sockredir_format_addr(&f->dst, row[4], sizeof(cell));
	row[5][0] = '\0';
	for (i = 0; i < f->hops; i++)
		used += snprintf(row[5] + used, sizeof(cell) - used, "%s%s",
				 i ? ">" : "",
				 names_get(t, f->chain[i], tmp, sizeof(tmp)));
	snprintf(row[6], sizeof(cell), "%s", f->service_id ?
		 names_get(t, f->service_id, tmp, sizeof(tmp)) : "-");
	format_age(f->age_ns, row[7], sizeof(cell));
	snprintf(row[8], sizeof(cell), "%s", f->app_cgroup[0] ? f->app_cgroup : "-");
}

/* Columns as wide as their widest cell, like ss and ip. */
static void print_table(cell (*rows)[COLS], int n)
{
	size_t w[COLS] = { 0 };
	int r, c;

	for (r = 0; r < n; r++)
		for (c = 0; c < COLS; c++)
			if (strlen(rows[r][c]) > w[c])
				w[c] = strlen(rows[r][c]);
	for (r = 0; r < n; r++)
		for (c = 0; c < COLS; c++)
			if (c == COLS - 1)
				printf("%s\n", rows[r][c]);
			else
				printf("%-*s  ", (int)w[c], rows[r][c]);
}

static int through(const struct sockredir_flow *f, int service)
{
	unsigned int i;

	if (service < 0)
		return 1;
	for (i = 0; i < f->hops; i++)
		if (f->chain[i] == service)
			return 1;
	return 0;
}

static int flow_list(int argc, char **argv)
{
	struct sockredir_flow *flows = NULL;
	cell (*rows)[COLS] = NULL;
	struct names_table t;
	int i, n, shown = 0, service = -1;
	const char *only = NULL;

	for (i = 0; i < argc; i++) {
		if (!strcmp(argv[i], "--service") && i + 1 < argc)
			only = argv[++i];
		else if (!strcmp(argv[i], "--service"))
			return usage_error("--service needs a NAME");
		else
			return usage_error("flow list: unexpected word '%s'", argv[i]);
	}
	n = names_load(&t);
	if (n == -ENOENT)
		return fail(0, "sockredir is not up");
	if (n < 0)
		return fail(n, "cannot list services");
	if (only) {
		for (i = 1; i < SOCKREDIR_MAX_SERVICES; i++)
			if (!strcmp(t.name[i], only))
				service = i;
		if (service < 0)
			return usage_error("no service named '%s'", only);
	}
	n = sockredir_flow_list(&flows);
	if (n == -ENOENT)
		return fail(0, "sockredir is not up");
	if (n == -EPROTO)
		return fail(0, "the loaded layer is from another build "
			    "(its socket state differs): upgrade it first");
	if (n < 0)
		return fail(n, "cannot list flows");
	if (!json_output) {
		static const char *const head[COLS] = {
			"FLOW", "APP", "PID", "UID", "DST", "CHAIN", "SERVICE",
			"AGE", "CGROUP" };

		rows = calloc(n + 1, sizeof(*rows));
		if (!rows) {
			free(flows);
			return fail(-ENOMEM, "cannot list flows");
		}
		for (i = 0; i < COLS; i++)
			snprintf(rows[0][i], sizeof(cell), "%s", head[i]);
	}
	if (json_output)
		printf("[");
	for (i = 0; i < n; i++) {
		if (!through(&flows[i], service))
			continue;
		if (json_output) {
			printf(shown ? "," : "");
			print_json(&flows[i], &t);
		} else {
			text_row(&flows[i], &t, rows[shown + 1]);
		}
		shown++;
	}
	if (json_output)
		printf("]\n");
	else if (shown)
		print_table(rows, shown + 1);
	free(rows);
	free(flows);
	return EXIT_OK;
}

int flow_main(int argc, char **argv)
{
	if (argc < 1)
		return usage_error("flow: say list");
	if (!strcmp(argv[0], "list"))
		return flow_list(argc - 1, argv + 1);
	return usage_error("flow: unknown command '%s'", argv[0]);
}
