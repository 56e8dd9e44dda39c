/*
 * test_cli - the sockredir command's parsers, without privilege: the words
 * of 'rule add' and rule files.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>

#include "tap.h"
#include "../../cli/rulewords.c"

static int parse(const char *line, struct rule_spec *s, char *err)
{
	char buf[256], *words[16];
	int n = 0;

	strcpy(buf, line);
	for (char *p = strtok(buf, " "); p; p = strtok(NULL, " "))
		words[n++] = p;
	err[0] = '\0';
	return rule_words_parse(n, words, s, err, 128);
}

static void test_rule_words(void)
{
	struct rule_spec s;
	struct sockredir_rule *r = &s.r;
	struct sockredir_service svcs[2] = { { .name = "A", .id = 7 },
					     { .name = "B", .id = 9 } };
	char err[128];
	const char *bad[] = { "", "--permit --permit", "--dport 80",
			      "--permit --dst 1.2.3.4/33", "--permit --dport 0",
			      "--permit --dport 5-3", "--permit --dport 70000",
			      "--permit --uid x", "--permit --weight -1",
			      "--permit --weight 4294967296",
			      "--permit --proto icmp", "--permit --dst",
			      "--permit extra", "--permit --dst ::/129",
			      "--permit --colour red", "--service A --block",
			      "--permit --cgroup /no/such/cgroup",
			      "--service 0123456789012345678901234567890123" };
	size_t i;

	ok(parse("--permit --dst 10.1.2.3/8 --dport 80-90 --uid 7 --weight 5",
		 &s, err) == 0 && r->family == AF_INET && r->prefix_len == 8 &&
		   r->dst[0] == 10 && r->dst[1] == 0 && r->dport_lo == 80 &&
		   r->dport_hi == 90 && r->uid == 7 && r->weight == 5 &&
		   r->action == SOCKREDIR_ACTION_PERMIT,
	   "rule words: a full permit rule, prefix masked");
	ok(parse("--permit --dst 2001:db8::1 --proto tcp", &s, err) == 0 &&
		   r->family == AF_INET6 && r->prefix_len == 128 &&
		   r->protocol == IPPROTO_TCP, "rule words: IPv6 host, tcp");
	ok(parse("--block", &s, err) == 0 && r->uid == -1 && r->family == 0 &&
		   r->dport_hi == 0 && r->cgroup_id == 0,
	   "rule words: --block alone matches everything");
	ok(parse("--block --proto udp", &s, err) < 0 && strstr(err, "UDP"),
	   "rule words: udp is refused until UDP is redirected");
	ok(parse("--permit --cgroup /", &s, err) == 0 && r->cgroup_id != 0 &&
		   r->cgroup_level == 0,
	   "rule words: --cgroup / is the mount's root, level 0");
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ok(parse(bad[i], &s, err) < 0 && err[0],
		   "rule words: '%s' is refused (%s)", bad[i], err);

	ok(parse("--service B --dport 443", &s, err) == 0 &&
		   r->action == SOCKREDIR_ACTION_REDIRECT && !strcmp(s.service, "B") &&
		   r->service_id == 0,
	   "rule words: --service keeps the name for later");
	ok(rule_spec_resolve(&s, svcs, 2, err, sizeof(err)) == 0 &&
		   r->service_id == 9, "resolve: a known service gets its id");
	parse("--service C", &s, err);
	ok(rule_spec_resolve(&s, svcs, 2, err, sizeof(err)) == -ENOENT &&
		   strstr(err, "'C'"), "resolve: an unknown service is refused (%s)", err);
	parse("--permit", &s, err);
	ok(rule_spec_resolve(&s, NULL, 0, err, sizeof(err)) == 0 &&
		   r->service_id == 0, "resolve: permit needs no service");
}

int main(void)
{
	test_rule_words();
	return done();
}
