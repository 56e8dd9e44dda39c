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
"                            case-insensitive, repeatable.  With a deny list,\n"
"                            nothing is connected upstream before the flow\n"
"                            is cleared, every request of a keep-alive\n"
"                            HTTP/1.x connection is checked, and a server\n"
"                            that speaks first waits for the client\n"
"      --unknown-host deny|allow\n"
"                            with a deny list, what happens to a flow whose\n"
"                            host cannot be known: none named, a malformed\n"
"                            or ambiguous HTTP request, or still no name at\n"
"                            --sniff-timeout or after 16 KiB (default deny)\n"
"  -u, --udp                 also relay UDP: [::]:PORT for each --listen port;\n"
"                            DNS queries for a denied name are answered REFUSED\n"
"      --udp-idle MS         a UDP flow ends (and is logged) after MS idle\n"
"                            (default 30000)\n"
"      --udp-upstream ADDR:PORT\n"
"                            send IPv4 datagrams the layer did not redirect\n"
"                            (iptables REDIRECT or TPROXY did) to ADDR:PORT,\n"
"                            without records: for comparisons (bench/)\n"
"  -L, --log FILE            flow log (default: stdout, also \"-\");\n"
"                            reopened on SIGHUP\n"
"      --connect-timeout MS  upstream connect timeout (default 5000)\n"
"      --sniff-timeout MS    how long a begun TLS hello or request head may\n"
"                            take to name its host (default 1000)\n"
"      --first-byte-timeout MS\n"
"                            reset a flow that carries no byte either way\n"
"                            within MS of its accept (default 10000)\n"
"      --idle-timeout MS     reset a flow that carries no byte either way\n"
"                            for MS (default 600000)\n"
"      --max-flows N         live flows at most; at the limit, stop accepting\n"
"                            (connections wait in the listen queue, and the\n"
"                            layer's fail mode applies once it is full)\n"
"                            (default: a third of the descriptor limit)\n"
"      --max-flows-per-app N live flows at most per application (uid and\n"
"                            cgroup); past it, new ones are reset\n"
"                            (default: a quarter of --max-flows)\n"
"      --drain-timeout MS    on SIGTERM/SIGINT, how long live flows may go on\n"
"                            before they are reset (default 5000)\n"
"  -q, --quiet               no diagnostics on stderr except errors\n"
"  -h, --help                this text\n"
"\n"
"Exit status: 0 after a drain, 1 on failure, 2 on bad usage.\n";

enum {
	OPT_CONNECT = 256, OPT_SNIFF, OPT_DRAIN, OPT_FIRST_BYTE, OPT_IDLE,
	OPT_MAX_FLOWS, OPT_MAX_PER_APP, OPT_UNKNOWN_HOST, OPT_UDP_IDLE,
	OPT_UDP_UPSTREAM,
};

static const struct option options[] = {
	{ "service", required_argument, NULL, 's' },
	{ "listen", required_argument, NULL, 'l' },
	{ "deny-host", required_argument, NULL, 'd' },
	{ "log", required_argument, NULL, 'L' },
	{ "connect-timeout", required_argument, NULL, OPT_CONNECT },
	{ "sniff-timeout", required_argument, NULL, OPT_SNIFF },
	{ "drain-timeout", required_argument, NULL, OPT_DRAIN },
	{ "first-byte-timeout", required_argument, NULL, OPT_FIRST_BYTE },
	{ "idle-timeout", required_argument, NULL, OPT_IDLE },
	{ "max-flows", required_argument, NULL, OPT_MAX_FLOWS },
	{ "max-flows-per-app", required_argument, NULL, OPT_MAX_PER_APP },
	{ "unknown-host", required_argument, NULL, OPT_UNKNOWN_HOST },
	{ "udp", no_argument, NULL, 'u' },
	{ "udp-idle", required_argument, NULL, OPT_UDP_IDLE },
	{ "udp-upstream", required_argument, NULL, OPT_UDP_UPSTREAM },
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
	unsigned int *ms, n;
	int c;

	while ((c = getopt_long(argc, argv, "s:l:d:L:uqh", options, NULL)) != -1) {
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
		case 'u':
			cfg->udp = true;
			break;
		case OPT_UDP_UPSTREAM: {
			struct sockaddr_storage ss;

			if (sockredir_parse_addr(optarg, &ss) || ss.ss_family != AF_INET ||
			    !((struct sockaddr_in *)&ss)->sin_port)
				return usage_error("bad --udp-upstream '%s' (ADDR:PORT, "
						   "IPv4)", optarg);
			memcpy(&cfg->udp_upstream, &ss, sizeof(cfg->udp_upstream));
			break;
		}
		case OPT_CONNECT: case OPT_SNIFF: case OPT_DRAIN:
		case OPT_FIRST_BYTE: case OPT_IDLE: case OPT_UDP_IDLE:
			ms = c == OPT_CONNECT ? &cfg->flow.connect_timeout_ms :
			     c == OPT_SNIFF ? &cfg->flow.sniff_timeout_ms :
			     c == OPT_FIRST_BYTE ? &cfg->flow.first_byte_timeout_ms :
			     c == OPT_IDLE ? &cfg->flow.idle_timeout_ms :
			     c == OPT_UDP_IDLE ? &cfg->udp_idle_ms :
			     &cfg->drain_timeout_ms;
			if (parse_ms(optarg, ms) < 0)
				return usage_error("bad milliseconds '%s'", optarg);
			break;
		case OPT_MAX_FLOWS: case OPT_MAX_PER_APP:
			if (parse_ms(optarg, &n) < 0)
				return usage_error("bad count '%s' (a number from 1)", optarg);
			if (c == OPT_MAX_FLOWS)
				cfg->max_flows = n;
			else
				cfg->max_flows_per_app = n;
			break;
		case OPT_UNKNOWN_HOST:
			if (strcmp(optarg, "deny") && strcmp(optarg, "allow"))
				return usage_error("--unknown-host takes deny or allow, "
						   "not '%s'", optarg);
			cfg->policy.allow_unknown = !strcmp(optarg, "allow");
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
	if (cfg->max_flows && cfg->max_flows_per_app > cfg->max_flows)
		return usage_error("--max-flows-per-app %u is more than --max-flows %lu",
				   cfg->max_flows_per_app, cfg->max_flows);
	return 0;
}

int main(int argc, char **argv)
{
	struct relay_config cfg = {
		.drain_timeout_ms = 5000,
		.udp_idle_ms = 30000,
		.flow = {
			.connect_timeout_ms = 5000,
			.sniff_timeout_ms = 1000,
			.first_byte_timeout_ms = 10000,
			.idle_timeout_ms = 600000,
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
