/* SPDX-License-Identifier: MIT */
/*
 * main.c - sockredir-relay: options, then relay_new() and relay_run().
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sockredir.h>

#include "diag.h"
#include "policy.h"
#include "relay.h"

static const char usage_text[] =
"Usage: sockredir-relay --service NAME --listen ADDR:PORT [--listen [ADDR6]:PORT]\n"
"                       [OPTIONS]\n"
"\n"
"The reference inspecting proxy for sockredir: accepts connections the\n"
"redirect layer sends to service NAME, learns each flow's original\n"
"destination and records, connects there with the records set, and\n"
"relays both directions.  One JSON line per flow is logged when it ends.\n"
"\n"
"Options:\n"
"  -s, --service NAME        the redirect service this relay serves\n"
"  -l, --listen ADDR:PORT    address to accept on; repeat for IPv6 ([::1]:PORT)\n"
"  -d, --deny-host PATTERN   reset flows whose HTTP Host or TLS SNI matches\n"
"                            PATTERN: a name, or *.name for names below it;\n"
"                            case-insensitive, repeatable\n"
"  -L, --log FILE            flow log (default: stdout, also \"-\");\n"
"                            reopened on SIGHUP\n"
"      --connect-timeout MS  upstream connect timeout (default 5000)\n"
"      --sniff-timeout MS    how long to wait for a client's first request\n"
"                            bytes to name a host (default 1000)\n"
"      --drain-timeout MS    on SIGTERM/SIGINT, how long live flows may go on\n"
"                            before they are reset (default 5000)\n"
"  -q, --quiet               no diagnostics on stderr except errors\n"
"  -h, --help                this text\n"
"\n"
"Exit status: 0 after a drain, 1 on failure, 2 on bad usage.\n";

enum { OPT_CONNECT = 256, OPT_SNIFF, OPT_DRAIN };

static const struct option options[] = {
	{ "service", required_argument, NULL, 's' },
	{ "listen", required_argument, NULL, 'l' },
	{ "deny-host", required_argument, NULL, 'd' },
	{ "log", required_argument, NULL, 'L' },
	{ "connect-timeout", required_argument, NULL, OPT_CONNECT },
	{ "sniff-timeout", required_argument, NULL, OPT_SNIFF },
	{ "drain-timeout", required_argument, NULL, OPT_DRAIN },
	{ "quiet", no_argument, NULL, 'q' },
	{ "help", no_argument, NULL, 'h' },
	{ 0 }
};

static int __attribute__((format(printf, 1, 2))) usage_error(const char *fmt, ...)
{
	va_list ap;

	fputs("sockredir-relay: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs("\nTry 'sockredir-relay --help'.\n", stderr);
	return 2;
}

static int parse_ms(const char *s, unsigned int *out)
{
	unsigned long v;
	char *end;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || end == s || *end || *s == '-' || v == 0 || v > INT_MAX)
		return -EINVAL;
	*out = v;
	return 0;
}

/* Returns 0, or the exit code for a usage error. */
static int parse_args(int argc, char **argv, struct relay_config *cfg)
{
	unsigned int *ms;
	int c;

	while ((c = getopt_long(argc, argv, "s:l:d:L:qh", options, NULL)) != -1) {
		switch (c) {
		case 's':
			if (!*optarg || strlen(optarg) >= SOCKREDIR_NAME_MAX)
				return usage_error("bad service name '%s'", optarg);
			cfg->flow.service = optarg;
			break;
		case 'l':
			if (cfg->n_listen == RELAY_MAX_LISTEN)
				return usage_error("too many --listen at '%s'", optarg);
			if (sockredir_parse_addr(optarg, &cfg->listen[cfg->n_listen]))
				return usage_error("bad listen address '%s' "
						   "(ADDR:PORT or [ADDR6]:PORT)", optarg);
			cfg->n_listen++;
			break;
		case 'd':
			if (host_pattern_norm(optarg) < 0)
				return usage_error("bad host pattern '%s'", optarg);
			cfg->policy.deny[cfg->policy.n_deny++] = optarg;
			break;
		case 'L':
			cfg->log_path = optarg;
			break;
		case OPT_CONNECT: case OPT_SNIFF: case OPT_DRAIN:
			ms = c == OPT_CONNECT ? &cfg->flow.connect_timeout_ms :
			     c == OPT_SNIFF ? &cfg->flow.sniff_timeout_ms :
			     &cfg->drain_timeout_ms;
			if (parse_ms(optarg, ms) < 0)
				return usage_error("bad milliseconds '%s'", optarg);
			break;
		case 'q':
			cfg->quiet = true;
			break;
		case 'h':
			fputs(usage_text, stdout);
			exit(0);
		default:
			fputs("Try 'sockredir-relay --help'.\n", stderr);
			return 2;
		}
	}
	if (optind < argc)
		return usage_error("unexpected argument '%s'", argv[optind]);
	if (!cfg->flow.service)
		return usage_error("%s", "--service NAME is required");
	if (!cfg->n_listen)
		return usage_error("%s", "--listen ADDR:PORT is required");
	return 0;
}

int main(int argc, char **argv)
{
	struct relay_config cfg = {
		.drain_timeout_ms = 5000,
		.flow = {
			.connect_timeout_ms = 5000,
			.sniff_timeout_ms = 1000,
		},
	};
	struct relay *r;
	int rc;

	cfg.policy.deny = calloc(argc, sizeof(*cfg.policy.deny));
	if (!cfg.policy.deny)
		return 1;
	rc = parse_args(argc, argv, &cfg);
	if (rc)
		goto cleanup;
	diag_quiet = cfg.quiet;
	r = relay_new(&cfg);
	rc = r ? relay_run(r) : 1;
	relay_free(r);

cleanup:
	free(cfg.policy.deny);
	return rc;
}
