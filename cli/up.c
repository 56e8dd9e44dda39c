/* up.c - sockredir up, down, status. */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "counters.h"

static int up_options(int argc, char **argv, const char **cgroup,
		       unsigned int *max_hops)
{
	int i;

	for (i = 0; i < argc; i += 2) {
		const char *opt = argv[i], *val = argv[i + 1];
		char *end;
		long v;

		if (strcmp(opt, "--cgroup") &&
		    (!max_hops || strcmp(opt, "--max-hops")))
			return usage_error("unexpected word '%s'", opt);
		if (!val)
			return usage_error("%s needs a value", opt);
		if (!strcmp(opt, "--cgroup")) {
			*cgroup = val;
			continue;
		}
		v = strtol(val, &end, 10);
		if (*end || end == val || v < 1 || v > SOCKREDIR_MAX_HOPS)
			return usage_error("--max-hops takes 1 to %d, not '%s'",
					   SOCKREDIR_MAX_HOPS, val);
		*max_hops = v;
	}
	return EXIT_OK;
}

int up_main(int argc, char **argv)
{
	struct sockredir_up_opts opts = { .sz = sizeof(opts) };
	struct sockredir_status st;
	int ret;

	ret = up_options(argc, argv, &opts.cgroup, &opts.max_hops);
	if (ret)
		return ret;
	ret = sockredir_up(&opts);
	if (ret == -EBUSY) {
		sockredir_status_get(&st);
		return fail(0, "already up on %s; run 'sockredir down' first",
			    st.cgroup);
	}
	if (ret == -ENOENT)
		return fail(0, "no cgroup v2 directory '%s'",
			    opts.cgroup ? opts.cgroup : "/");
	if (ret == -EIO)
		return fail(0, "a layer is attached but its maps cannot be read "
			    "(an earlier run that failed?); run 'sockredir down' first");
	if (ret < 0)
		return fail(ret, "cannot load the redirect layer");
	if (sockredir_status_get(&st) == 0) {
		printf("%s on %s (max hops %u)\n",
		       ret == 1 ? "already up" : "up", st.cgroup, st.max_hops);
		/* What a newcomer needs next: only processes below it count. */
		if (ret != 1)
			printf("programs and proxies run in %s or below it, e.g.\n"
			       "  mkdir %s/app && echo $$ > %s/app/cgroup.procs\n",
			       st.cgroup, st.cgroup, st.cgroup);
	}
	return EXIT_OK;
}

int down_main(int argc, char **argv)
{
	const char *cgroup = NULL;
	int ret;

	ret = up_options(argc, argv, &cgroup, NULL);
	if (ret)
		return ret;
	ret = sockredir_down(cgroup);
	if (ret == -ENOENT)
		return fail(0, "not attached to '%s'", cgroup);
	if (ret < 0)
		return fail(ret, "cannot remove the redirect layer");
	printf("%s\n", ret == 1 ? "was not up" : "down");
	return EXIT_OK;
}

static void print_counters(const struct sockredir_counters *c)
{
	size_t i;

	for (i = 0; i < ncounter_descs; i++) {
		const struct counter_desc *d = &counter_descs[i];
		unsigned long long v = counter_value(c, d);

		if (json_output)
			printf("%s\"%s\":%llu", i ? "," : "{", d->key, v);
		else
			printf("%s%s %llu", i == 0 ? "" : i % 5 ? "  " : "\n",
			       d->label, v);
	}
	if (json_output)
		putchar('}');
}

int status_main(int argc, char **argv)
{
	struct sockredir_status st;
	int ret;

	if (argc)
		return usage_error("unexpected word '%s'", argv[0]);
	ret = sockredir_status_get(&st);
	if (ret == -EPERM || ret == -EACCES)
		return fail(0, "reading the redirect layer needs root (CAP_BPF and "
			    "CAP_SYS_ADMIN): run 'sudo sockredir status'");
	if (ret < 0)
		return fail(ret, "cannot read the redirect layer");
	if (json_output) {
		printf("{\"up\":%s", st.up ? "true" : "false");
		if (st.up) {
			printf(",\"cgroup\":");
			json_string(stdout, st.cgroup);
			printf(",\"cgroup_id\":%llu,\"max_hops\":%u,\"services\":%u,"
			       "\"rules\":%u,\"live_flows\":%lld,\"counters\":",
			       (unsigned long long)st.cgroup_id, st.max_hops,
			       st.services, st.rules, (long long)st.live_flows);
			print_counters(&st.total);
			status_services();
		}
		printf("}\n");
		return EXIT_OK;
	}
	if (!st.up) {
		printf("down\n");
		return EXIT_OK;
	}
	printf("up on %s (cgroup id %llu), max hops %u\n", st.cgroup,
	       (unsigned long long)st.cgroup_id, st.max_hops);
	printf("%u services, %u rules, %lld live flows\n", st.services,
	       st.rules, (long long)st.live_flows);
	print_counters(&st.total);
	printf("\n");
	status_services();
	return EXIT_OK;
}
