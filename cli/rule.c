/* rule.c - sockredir rule add | load | del | list. */
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "rulewords.h"

static int add_failed(int err, size_t n)
{
	if (err == -EEXIST)
		return usage_error("a rule of that name exists");
	if (err == -E2BIG)
		return usage_error("more than 32 rules would cover one address");
	if (err == -ENOENT)
		return fail(0, "sockredir is not up, or a service is gone");
	if (err == -ENOSPC)
		return fail(0, "no room for %zu more rules", n);
	return fail(err, "cannot add rules");
}

/* The services rules may name; prints why and returns -1 if none. */
static int services(struct sockredir_service **svcs)
{
	int n = sockredir_service_list(svcs);

	if (n == -ENOENT)
		return fail(0, "sockredir is not up"), -1;
	if (n < 0)
		return fail(n, "cannot list services"), -1;
	return n;
}

static int rule_add(int argc, char **argv)
{
	struct sockredir_service *svcs = NULL;
	struct rule_spec spec;
	char err[256];
	int ret, ns;

	if (rule_words_parse(argc, argv, &spec, err, sizeof(err)) < 0)
		return usage_error("%s", err);
	ns = services(&svcs);
	if (ns < 0)
		return EXIT_FAIL;
	ret = rule_spec_resolve(&spec, svcs, ns, err, sizeof(err));
	free(svcs);
	if (ret < 0)
		return usage_error("%s", err);
	ret = sockredir_rule_add(&spec.r, 1);
	if (ret < 0)
		return add_failed(ret, 1);
	printf("rule %u\n", spec.r.id);
	return EXIT_OK;
}

/* Split a line into words in place; returns the count. */
static int split(char *line, char **words, int max)
{
	int n = 0;
	char *p = strtok(line, " \t\r\n");

	for (; p && n < max; p = strtok(NULL, " \t\r\n"))
		words[n++] = p;
	return p ? -1 : n;
}

/* A rule file: the words of 'rule add', one rule a line, # comments. */
static int rule_load(int argc, char **argv)
{
	struct sockredir_service *svcs = NULL;
	struct sockredir_rule *rules = NULL;
	size_t n = 0, cap = 0, lineno = 0;
	char *line = NULL, err[256];
	size_t linecap = 0;
	ssize_t len;
	FILE *f;
	int ret = EXIT_OK, ns;

	if (argc != 1)
		return usage_error("rule load takes one FILE ('-' for stdin)");
	f = strcmp(argv[0], "-") ? fopen(argv[0], "re") : stdin;
	if (!f)
		return fail(errno, "cannot open '%s'", argv[0]);
	ns = services(&svcs);
	if (ns < 0) {
		ret = EXIT_FAIL;
		goto out;
	}
	while ((len = getline(&line, &linecap, f)) > 0) {
		char *words[32], *hash = strchr(line, '#');
		struct rule_spec spec;
		int nw;

		lineno++;
		if (memchr(line, '\0', len)) {
			ret = usage_error("%s:%zu: a NUL byte (nothing added)", argv[0],
					  lineno);
			goto out;
		}
		if (hash)
			*hash = '\0';
		nw = split(line, words, 32);
		if (nw == 0)
			continue;
		if (nw < 0) {
			ret = usage_error("%s:%zu: too many words", argv[0], lineno);
			goto out;
		}
		if (!strcmp(words[0], "rule") || !strcmp(words[0], "add")) {
			ret = usage_error("%s:%zu: write only the options of 'rule add', "
					  "as in '--service web --dport 80' (nothing "
					  "added)", argv[0], lineno);
			goto out;
		}
		if (n == cap) {
			struct sockredir_rule *p;

			cap = cap ? 2 * cap : 256;
			p = realloc(rules, cap * sizeof(*p));
			if (!p) {
				ret = fail(ENOMEM, "reading '%s'", argv[0]);
				goto out;
			}
			rules = p;
		}
		if (rule_words_parse(nw, words, &spec, err, sizeof(err)) < 0 ||
		    rule_spec_resolve(&spec, svcs, ns, err, sizeof(err)) < 0) {
			ret = usage_error("%s:%zu: %s (nothing added)", argv[0],
					  lineno, err);
			goto out;
		}
		rules[n++] = spec.r;
	}
	if (ferror(f)) {
		ret = fail(errno, "reading '%s' (nothing added)", argv[0]);
		goto out;
	}
	if (n == 0) {
		ret = usage_error("%s: no rules", argv[0]);
		goto out;
	}
	if (sockredir_rule_add(rules, n) < 0) {
		ret = add_failed(-errno, n);
		goto out;
	}
	printf("added %zu rules (%u-%u)\n", n, rules[0].id, rules[n - 1].id);
out:
	free(svcs);
	free(line);
	free(rules);
	if (f != stdin)
		fclose(f);
	return ret;
}

/* A rule's id from the word naming it: its id, or its name. */
static int rule_id(const char *word, uint32_t *id)
{
	struct sockredir_rule *list;
	char *end;
	unsigned long v;
	int n, i;

	if (word[0] >= '0' && word[0] <= '9') {
		errno = 0;
		v = strtoul(word, &end, 10);
		if (errno || *end || v == 0 || v > 0xffffffffUL)
			return usage_error("bad rule id '%s'", word);
		*id = v;
		return EXIT_OK;
	}
	n = sockredir_rule_list(&list);
	if (n == -ENOENT)
		return fail(0, "sockredir is not up");
	if (n < 0)
		return fail(n, "cannot list rules");
	for (i = 0; i < n && strcmp(list[i].name, word); i++)
		;
	if (i < n)
		*id = list[i].id;
	free(list);
	return i < n ? EXIT_OK : usage_error("no rule named '%s'", word);
}

static int rule_del(int argc, char **argv)
{
	uint32_t id = 0;
	int ret;

	if (argc != 1)
		return usage_error("rule del takes one ID or NAME");
	ret = rule_id(argv[0], &id);
	if (ret)
		return ret;
	ret = sockredir_rule_del(id);
	if (ret == -ENOENT)
		return usage_error("no rule %u (or sockredir is not up)", id);
	if (ret < 0)
		return fail(ret, "cannot delete rule %u", id);
	printf("deleted rule %u\n", id);
	return EXIT_OK;
}

static void format_dst(const struct sockredir_rule *r, char *buf, size_t len)
{
	char a[INET6_ADDRSTRLEN];

	if (!r->family) {
		snprintf(buf, len, "any");
		return;
	}
	inet_ntop(r->family, r->dst, a, sizeof(a));
	snprintf(buf, len, "%s/%u", a, r->prefix_len);
}

static const char *service_name(struct sockredir_service *svcs, int n,
				unsigned int id)
{
	int i;

	for (i = 0; i < n; i++)
		if (svcs[i].id == id)
			return svcs[i].name;
	return "?";
}

static int rule_list(int argc, char **argv)
{
	struct sockredir_service *svcs = NULL;
	struct sockredir_rule *list;
	int n, ns, i;

	if (argc)
		return usage_error("unexpected word '%s'", argv[0]);
	n = sockredir_rule_list(&list);
	if (n == -ENOENT)
		return fail(0, "sockredir is not up");
	if (n < 0)
		return fail(n, "cannot list rules");
	ns = sockredir_service_list(&svcs);
	if (ns < 0)
		ns = 0;
	if (json_output)
		printf("[");
	else if (n)
		printf("%-6s %-16s %-8s %-10s %-5s %-24s %-11s %-10s %s\n", "ID",
		       "NAME", "WEIGHT", "ACTION", "PROTO", "DST", "DPORT", "UID",
		       "CGROUP");
	for (i = 0; i < n; i++) {
		const struct sockredir_rule *r = &list[i];
		const char *proto = r->protocol == IPPROTO_TCP ? "tcp" :
				    r->protocol == IPPROTO_UDP ? "udp" : "any";
		char dst[64], ports[16] = "any", uid[24] = "any", cg[PATH_MAX] = "any";
		const char *act = r->action == SOCKREDIR_ACTION_PERMIT ? "permit" :
				  r->action == SOCKREDIR_ACTION_BLOCK ? "block" :
				  service_name(svcs, ns, r->service_id);

		format_dst(r, dst, sizeof(dst));
		if (r->dport_hi)
			snprintf(ports, sizeof(ports), r->dport_lo == r->dport_hi ?
				 "%u" : "%u-%u", r->dport_lo, r->dport_hi);
		if (r->uid >= 0)
			snprintf(uid, sizeof(uid), "%lld", (long long)r->uid);
		if (r->cgroup_id && sockredir_cgroup_path(r->cgroup_id, cg, sizeof(cg)))
			snprintf(cg, sizeof(cg), "(gone: id %llu)",
				 (unsigned long long)r->cgroup_id);
		if (json_output) {
			printf("%s{\"id\":%u,\"weight\":%u,\"action\":\"%s\",",
			       i ? "," : "", r->id, r->weight,
			       r->action == SOCKREDIR_ACTION_REDIRECT ? "redirect" : act);
			if (r->action == SOCKREDIR_ACTION_REDIRECT) {
				printf("\"service\":");
				json_string(stdout, act);
				printf(",");
			}
			printf("\"proto\":\"%s\",\"dst\":\"%s\",\"dport\":\"%s\","
			       "\"uid\":%lld,\"cgroup_id\":%llu,\"cgroup\":",
			       proto, dst, ports, (long long)r->uid,
			       (unsigned long long)r->cgroup_id);
			json_string(stdout, r->cgroup_id ? cg : NULL);
			printf(",\"name\":");
			json_string(stdout, r->name[0] ? r->name : NULL);
			printf("}");
			continue;
		}
		printf("%-6u %-16s %-8u %-10s %-5s %-24s %-11s %-10s %s\n", r->id,
		       r->name[0] ? r->name : "-", r->weight, act, proto, dst,
		       ports, uid, cg);
	}
	if (json_output)
		printf("]\n");
	free(list);
	free(svcs);
	return EXIT_OK;
}

int rule_main(int argc, char **argv)
{
	if (argc < 1)
		return usage_error("rule: say add, load, del or list");
	if (!strcmp(argv[0], "add"))
		return rule_add(argc - 1, argv + 1);
	if (!strcmp(argv[0], "load"))
		return rule_load(argc - 1, argv + 1);
	if (!strcmp(argv[0], "del"))
		return rule_del(argc - 1, argv + 1);
	if (!strcmp(argv[0], "list"))
		return rule_list(argc - 1, argv + 1);
	return usage_error("rule: unknown command '%s'", argv[0]);
}
