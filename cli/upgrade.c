/* upgrade.c - sockredir upgrade [--check] [--object FILE]. */
#include <errno.h>
#include <string.h>

#include "cli.h"

int upgrade_main(int argc, char **argv)
{
	struct sockredir_upgrade_opts opts = { .sz = sizeof(opts) };
	struct sockredir_upgrade_result res;
	int i, ret;

	for (i = 0; i < argc; i++) {
		if (!strcmp(argv[i], "--check")) {
			opts.check = 1;
		} else if (!strcmp(argv[i], "--object")) {
			if (!argv[i + 1] || !argv[i + 1][0])
				return usage_error("--object needs a FILE");
			opts.object = argv[++i];
		} else {
			return usage_error("unexpected word '%s'", argv[i]);
		}
	}
	ret = sockredir_upgrade(&opts, &res);
	if (ret == -ENOENT && !res.why[0])
		return fail(0, "sockredir is not up: nothing to upgrade ('sockredir up' loads this build)");
	if (ret == -ENOEXEC)
		return usage_error("%s", res.why);
	if (ret == -EPROTO)
		return fail(0, "cannot upgrade: %s; nothing was changed (the "
			    "running layer stays as it is; 'sockredir down' then "
			    "'up' loads this build, but drops every service, rule, "
			    "claim and flow)", res.why);
	if (ret < 0 && res.programs_replaced)	/* the hooks' move failed */
		return fail(ret, "upgraded, but %s", res.why);
	if (ret < 0 && res.why[0])
		return fail(ret, "cannot upgrade: %s; nothing was changed", res.why);
	if (ret < 0)
		return fail(ret, "cannot upgrade");
	if (json_output)
		printf("{\"check\":%s,\"programs_replaced\":%u,\"programs_added\":%u,"
		       "\"maps_kept\":%u,\"maps_new\":%u}\n",
		       opts.check ? "true" : "false", res.programs_replaced,
		       res.programs_added, res.maps_kept, res.maps_new);
	else
		printf("%s: %u programs replaced, %u added; %u maps kept, %u new\n",
		       opts.check ? "would upgrade" : "upgraded",
		       res.programs_replaced, res.programs_added, res.maps_kept,
		       res.maps_new);
	return EXIT_OK;
}
