/* main.c - sockredir: dispatch to the object named on the command line. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"

int json_output;

static const char usage[] =
"usage: sockredir [-j] OBJECT COMMAND [ARGS]\n"
"\n"
"  up [--cgroup PATH] [--max-hops N]   load and attach the redirect layer\n"
"     [--udp-pool4 CIDR] [--udp-pool6 CIDR] [--udp-uid-max N]\n"
"                                      UDP flow endpoints (at first load)\n"
"  down [--cgroup PATH]                detach and remove everything\n"
"  status                              where it is attached, counts\n"
"  upgrade [--check] [--object FILE]   swap this build's programs in, keeping\n"
"                                      services, rules, claims and flows\n"
"\n"
"  service add NAME --listen ADDR:PORT [--listen [ADDR6]:PORT]\n"
"              [--owner-uid N] [--owner-cgroup PATH] [--fail open|closed]\n"
"              [--owner-unit UNIT] [--skip-inspected] [--udp-idle SECONDS]\n"
"              [--owner-uid 0 --trust-every-root-process]\n"
"  service del NAME                    (its rules go with it)\n"
"  service list\n"
"  service own NAME                    make the cgroup this runs in NAME's\n"
"                                      owner (for a unit's ExecStartPre=)\n"
"\n"
"  rule add (--service NAME | --permit | --block) [--proto tcp|udp|any]\n"
"           [--dst PREFIX] [--dport N[-M]] [--cgroup PATH] [--uid N]\n"
"           [--weight N] [--name NAME]\n"
"  rule load FILE      add rules, all or none: each line holds the options\n"
"                      of one 'rule add' (\"--service web --dport 80\")\n"
"  rule del ID|NAME\n"
"  rule list\n"
"\n"
"  apply [--check] [FILE|-]            make the layer match a configuration\n"
"                                      file (default " "/etc/sockredir/sockredir.conf" ")\n"
"  show                                print the running configuration\n"
"  metrics [--listen ADDR:PORT]        counters in the Prometheus text format;\n"
"                                      --listen serves them on /metrics\n"
"  flow list [--service NAME]          live redirected flows and their chains\n"
"  monitor [--service NAME] [--time]   the layer's decisions as they happen\n"
"\n"
"  -j   print listings as JSON\n"
"\n"
"Exit status: 0 done, 1 failed, 2 misused.\n";

static const struct {
	const char *name;
	int (*fn)(int, char **);
} objects[] = {
	{ "up", up_main },	   { "down", down_main },
	{ "status", status_main }, { "service", service_main },
	{ "rule", rule_main },	   { "apply", apply_main },
	{ "show", show_main },	   { "metrics", metrics_main },
	{ "upgrade", upgrade_main },
	{ "flow", flow_main },	   { "monitor", monitor_main },
};

int fail(int err, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "sockredir: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	if (err == -EPROTO)
		fprintf(stderr, ": the running layer's maps are laid out as "
			"another build of sockredir wrote them (run this build's "
			"'sockredir upgrade', or the tool that matches the layer)");
	else if (err)
		fprintf(stderr, ": %s", strerror(err < 0 ? -err : err));
	if (err == EPERM || err == -EPERM || err == EACCES || err == -EACCES)
		fprintf(stderr, " (the redirect layer needs root: CAP_BPF and "
			"CAP_SYS_ADMIN)");
	fprintf(stderr, "\n");
	return EXIT_FAIL;
}

int usage_error(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "sockredir: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n(sockredir --help for usage)\n");
	return EXIT_USAGE;
}

int main(int argc, char **argv)
{
	int i, j = 1;

	/* -j may stand anywhere; take it out before dispatching. */
	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "-j") || !strcmp(argv[i], "--json")) {
			json_output = 1;
			continue;
		}
		if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help") ||
		    !strcmp(argv[i], "help")) {
			fputs(usage, stdout);
			return EXIT_OK;
		}
		argv[j++] = argv[i];
	}
	argc = j;
	argv[argc] = NULL;
	if (argc < 2)
		return usage_error("say what to do");
	for (i = 0; i < (int)(sizeof(objects) / sizeof(objects[0])); i++)
		if (!strcmp(argv[1], objects[i].name))
			return objects[i].fn(argc - 2, argv + 2);
	return usage_error("unknown object '%s'", argv[1]);
}
