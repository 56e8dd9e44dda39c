/*
 * test_cli - the sockredir command's parsers, without privilege: the words
 * of 'rule add' and rule files, and sockredir.conf(5).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>

#include "tap.h"
#include "../../cli/rulewords.c"
#include "../../cli/servicewords.c"
#include "../../cli/conf.c"

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

	static const char *hostbits[][2] = {
		{ "127.0.0.33/31", "127.0.0.32/31" },
		{ "10.1.2.3/8", "10.0.0.0/8" },
		{ "1.2.3.4/0", "0.0.0.0/0" },
		{ "2001:db8::1/64", "2001:db8::/64" },
		{ "fd00::8001/113", "fd00::8000/113" },
		{ "::ffff:127.0.0.33/127", "::ffff:127.0.0.32/127" },
	};

	ok(parse("--permit --dst 10.0.0.0/8 --dport 80-90 --uid 7 --weight 5",
		 &s, err) == 0 && r->family == AF_INET && r->prefix_len == 8 &&
		   r->dst[0] == 10 && r->dst[1] == 0 && r->dport_lo == 80 &&
		   r->dport_hi == 90 && r->uid == 7 && r->weight == 5 &&
		   r->action == SOCKREDIR_ACTION_PERMIT,
	   "rule words: a full permit rule");
	for (i = 0; i < sizeof(hostbits) / sizeof(hostbits[0]); i++) {
		char line[96], want[128];

		snprintf(line, sizeof(line), "--permit --dst %s", hostbits[i][0]);
		snprintf(want, sizeof(want), "%s has host bits set; did you mean %s?",
			 hostbits[i][0], hostbits[i][1]);
		ok(parse(line, &s, err) == -EINVAL && !strcmp(err, want),
		   "rule words: %s is refused (%s)", hostbits[i][0], err);
	}
	ok(parse("--permit --dst 127.0.0.32/31", &s, err) == 0 &&
		   r->prefix_len == 31 && r->dst[3] == 32,
	   "rule words: 127.0.0.32/31 is a network");
	ok(parse("--permit --dst ::ffff:127.0.0.32/127", &s, err) == 0 &&
		   r->family == AF_INET && r->prefix_len == 31 && r->dst[3] == 32,
	   "rule words: ::ffff:127.0.0.32/127 is the IPv4 network 127.0.0.32/31");
	ok(parse("--permit --dst 2001:db8::1 --proto tcp", &s, err) == 0 &&
		   r->family == AF_INET6 && r->prefix_len == 128 &&
		   r->protocol == IPPROTO_TCP, "rule words: IPv6 host, tcp");
	ok(parse("--block", &s, err) == 0 && r->uid == -1 && r->family == 0 &&
		   r->dport_hi == 0 && r->cgroup_id == 0,
	   "rule words: --block alone matches everything");
	ok(parse("--block --proto udp", &s, err) == 0 &&
		   r->protocol == IPPROTO_UDP, "rule words: --proto udp");
	ok(parse("--block --proto tcp --proto any", &s, err) == 0 &&
		   r->protocol == 0, "rule words: --proto any covers both");
	ok(parse("--block --proto sctp", &s, err) < 0 && strstr(err, "any"),
	   "rule words: --proto sctp is refused (%s)", err);
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

/* Parse @text as a file; returns conf_read's result, @err its message. */
static int conf_of(const char *text, size_t len, struct conf *c, char *err)
{
	FILE *f = fmemopen((void *)text, len, "r");
	int ret;

	err[0] = '\0';
	ret = conf_read(f, "t.conf", c, err, 256);
	fclose(f);
	return ret;
}

#define CONF(text, c, err) conf_of(text, sizeof(text) - 1, c, err)
#define CONF_STR(text, c, err) conf_of(text, strlen(text), c, err)

static void test_conf(void)
{
	struct conf c;
	char err[256];
	static const struct { const char *text, *line; } bad[] = {
		{ "bogus {\n}\n", "t.conf:1:" },
		{ "layer {\n\tcolour red\n}\n", "t.conf:2:" },
		{ "layer {\n}\nlayer {\n}\n", "t.conf:3:" },
		{ "service A {\n\tlisten 1.2.3.4\n}\n", "t.conf:2:" },
		{ "service A {\n}\n", "t.conf:1:" },
		{ "service A {\n\tlisten 1.2.3.4:5\n", "t.conf:1:" },
		{ "service 9 {\n\tlisten 1.2.3.4:5\n}\n", "t.conf:1:" },
		{ "service A {\n\tlisten 1.2.3.4:5\n\tlisten 1.2.3.4:6\n}\n", "t.conf:3:" },
		{ "service A {\n\tlisten 1.2.3.4:5 extra\n}\n", "t.conf:2:" },
		{ "service A {\n\tlisten 1.2.3.4:5\n\tfail maybe\n}\n", "t.conf:3:" },
		{ "service A {\n\tlisten 1.2.3.4:5\n}\nservice A {\n\tlisten 1.2.3.4:6\n}\n", "t.conf:4:" },
		{ "rule {\n\tdport 80\n}\n", "t.conf:1:" },
		{ "rule {\n\tpermit\n\tblock\n}\n", "t.conf:3:" },
		{ "rule {\n\tservice nope\n}\n", "t.conf:2:" },
		{ "rule x {\n\tpermit\n}\nrule x {\n\tblock\n}\n", "t.conf:4:" },
		{ "rule {\n\tpermit\n\tname x\n}\n", "t.conf:3:" },
		{ "rule {\n\tpermit\n\tdst \"1.2.3.4\n}\n", "t.conf:3:" },
		{ "rule {\n\tpermit\n\tdst 10.1.2.3/8\n}\n", "t.conf:3:" },
		{ "rule {\n\tpermit\n\tweight 1 2 3 4 5 6 7 8 9\n}\n", "t.conf:3:" },
		{ "rule {\n\tpermit\nrule {\n", "t.conf:3:" },
		{ "rule { permit }\n", "t.conf:1:" },
		{ "}\n", "t.conf:1:" },
	};
	size_t i;

	ok(CONF("# nothing\n\n   \n", &c, err) == 0 && c.nsvcs == 0 && c.nrules == 0,
	   "conf: comments and blank lines only: an empty configuration");
	conf_free(&c);
	ok(CONF("layer {\n\tcgroup \"/a b#c\"  # the slice\n\tmax-hops 4\n}\n"
		"service web.1 {\n\tlisten 127.0.0.1:7001\n\tlisten [::1]:7001\n"
		"\towner-uid 1000\n\tfail closed\n\tskip-inspected\n}\n"
		"rule r1 {\n\tservice web.1\n\tdst 10.0.0.0/8\n\tdport 80-90\n"
		"\tweight 7\n}\nrule {\n\tblock\n}", &c, err) == 0,
	   "conf: a full file parses (%s)", err);
	ok(c.cgroup && !strcmp(c.cgroup, "/a b#c") && c.max_hops == 4,
	   "conf: quoted words keep blanks and '#'");
	ok(c.nsvcs == 1 && !strcmp(c.svcs[0].s.name, "web.1") &&
		   c.svcs[0].s.listen4.sin_port == htons(7001) &&
		   c.svcs[0].s.listen6.sin6_port == htons(7001) &&
		   c.svcs[0].s.owner_uid == 1000 &&
		   c.svcs[0].s.flags == (SOCKREDIR_FAIL_CLOSED | SOCKREDIR_SKIP_INSPECTED) &&
		   c.svc_line[0] == 5, "conf: the service, its options and its line");
	ok(c.nrules == 2 && !strcmp(c.rules[0].r.name, "r1") &&
		   !strcmp(c.rules[0].service, "web.1") && c.rules[0].r.dst[1] == 0 &&
		   c.rules[0].r.dport_lo == 80 && c.rules[0].r.weight == 7 &&
		   c.rule_line[0] == 12 && c.rule_svc_line[0] == 13 &&
		   c.rules[1].r.action == SOCKREDIR_ACTION_BLOCK && !c.rules[1].r.name[0],
	   "conf: the rules, their names and lines (a last line without newline too)");
	conf_free(&c);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ok(CONF_STR(bad[i].text, &c, err) == -EINVAL &&
			   !strncmp(err, bad[i].line, strlen(bad[i].line)),
		   "conf: refused at %s (%s)", bad[i].line, err);
	ok(conf_of("rule {\n\tpermit\0\n}\n", 17, &c, err) == -EINVAL &&
		   strstr(err, "t.conf:2:") && strstr(err, "NUL"),
	   "conf: a NUL byte is refused with its line (%s)", err);
}

int main(void)
{
	test_rule_words();
	test_conf();
	return done();
}
