/* rulewords.c - the words of 'rule add' and of rule files, into structs. */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rulewords.h"

static int parse_u32(const char *s, uint32_t max, uint32_t *out)
{
	unsigned long long v;

	if (!s || !*s || strspn(s, "0123456789") != strlen(s))
		return -EINVAL;
	errno = 0;
	v = strtoull(s, NULL, 10);
	if (errno || v > max)
		return -EINVAL;
	*out = v;
	return 0;
}

/* Parse ADDR[/LEN] into r.  A prefix with host bits set (10.1.2.3/8) is
 * refused with -EDOM, and the network it would be goes to net: a rule that
 * says more than it matches is a mistake to show, not to guess at. */
static int parse_prefix(const char *s, struct sockredir_rule *r, char *net,
			size_t netlen)
{
	char buf[INET6_ADDRSTRLEN + 8], *slash;
	unsigned char masked[16];
	unsigned int i, p;
	uint32_t plen;
	int family;

	if (strlen(s) >= sizeof(buf))
		return -EINVAL;
	strcpy(buf, s);
	slash = strchr(buf, '/');
	if (slash)
		*slash++ = '\0';
	memset(r->dst, 0, sizeof(r->dst));
	if (inet_pton(AF_INET, buf, r->dst) == 1)
		family = AF_INET;
	else if (inet_pton(AF_INET6, buf, r->dst) == 1)
		family = AF_INET6;
	else
		return -EINVAL;
	plen = family == AF_INET ? 32 : 128;
	if (slash && parse_u32(slash, plen, &plen))
		return -EINVAL;
	memcpy(masked, r->dst, sizeof(masked));
	for (i = 0, p = plen; i < 16; i++, p = p >= 8 ? p - 8 : 0)
		if (p < 8)
			masked[i] &= (uint8_t)(0xff00 >> p);
	if (memcmp(masked, r->dst, sizeof(masked))) {
		char a[INET6_ADDRSTRLEN];

		inet_ntop(family, masked, a, sizeof(a));
		snprintf(net, netlen, "%s/%u", a, plen);
		return -EDOM;
	}
	r->family = family;
	/* ::ffff:a.b.c.d/N (N >= 96) is IPv4 a.b.c.d/(N - 96): connects to
	 * mapped addresses are matched as the IPv4 they are. */
	if (r->family == AF_INET6 && plen >= 96 &&
	    !memcmp(r->dst, "\0\0\0\0\0\0\0\0\0\0\xff\xff", 12)) {
		memmove(r->dst, r->dst + 12, 4);
		memset(r->dst + 4, 0, 12);
		r->family = AF_INET;
		plen -= 96;
	}
	r->prefix_len = plen;
	return 0;
}

static int parse_ports(const char *s, struct sockredir_rule *r)
{
	char buf[16], *dash;
	uint32_t lo, hi;

	if (strlen(s) >= sizeof(buf))
		return -EINVAL;
	strcpy(buf, s);
	dash = strchr(buf, '-');
	if (dash)
		*dash++ = '\0';
	if (parse_u32(buf, 65535, &lo) || lo == 0)
		return -EINVAL;
	hi = lo;
	if (dash && (parse_u32(dash, 65535, &hi) || hi < lo))
		return -EINVAL;
	r->dport_lo = lo;
	r->dport_hi = hi;
	return 0;
}

#define FAIL(code, ...)							\
	do {								\
		if (err)						\
			snprintf(err, errlen, __VA_ARGS__);		\
		return code;						\
	} while (0)

void rule_spec_init(struct rule_spec *s)
{
	memset(s, 0, sizeof(*s));
	s->r.uid = -1;
}

/* A service or rule name: a letter, then letters, digits, -_. */
int word_name_ok(const char *name)
{
	size_t i, n = strlen(name);

	if (n == 0 || n >= SOCKREDIR_NAME_MAX)
		return 0;
	for (i = 0; i < n; i++)
		if (!isalnum((unsigned char)name[i]) && !strchr("-_.", name[i]))
			return 0;
	return isalpha((unsigned char)name[0]);
}

int rule_option(struct rule_spec *s, const char *key, const char *val,
		char *err, size_t errlen)
{
	struct sockredir_rule *r = &s->r;

	if (!strcmp(key, "permit") || !strcmp(key, "block")) {
		if (s->actions++)
			FAIL(-EINVAL, "give one of service, permit and block");
		r->action = key[0] == 'p' ? SOCKREDIR_ACTION_PERMIT :
					    SOCKREDIR_ACTION_BLOCK;
		return 0;
	}
	if (strcmp(key, "service") && strcmp(key, "proto") && strcmp(key, "dst") &&
	    strcmp(key, "dport") && strcmp(key, "cgroup") && strcmp(key, "uid") &&
	    strcmp(key, "weight") && strcmp(key, "name"))
		FAIL(-EINVAL, "unknown option '%s'", key);
	if (!val)
		FAIL(-EINVAL, "%s needs a value", key);
	if (!strcmp(key, "service")) {
		if (s->actions++)
			FAIL(-EINVAL, "give one of service, permit and block");
		if (!*val || strlen(val) >= sizeof(s->service))
			FAIL(-EINVAL, "bad service name '%s'", val);
		strcpy(s->service, val);
		r->action = SOCKREDIR_ACTION_REDIRECT;
	} else if (!strcmp(key, "name")) {
		if (!word_name_ok(val))
			FAIL(-EINVAL, "bad rule name '%s' (a letter, then up to 30 "
			     "letters, digits, -_.)", val);
		strcpy(r->name, val);
	} else if (!strcmp(key, "proto")) {
		if (!strcmp(val, "tcp"))
			r->protocol = IPPROTO_TCP;
		else if (!strcmp(val, "udp"))
			r->protocol = IPPROTO_UDP;
		else if (!strcmp(val, "any"))
			r->protocol = 0;
		else
			FAIL(-EINVAL, "proto takes tcp, udp or any, not '%s'", val);
	} else if (!strcmp(key, "dst")) {
		char net[INET6_ADDRSTRLEN + 8];
		int ret = parse_prefix(val, r, net, sizeof(net));

		if (ret == -EDOM)
			FAIL(-EINVAL, "%s has host bits set; did you mean %s?", val, net);
		if (ret)
			FAIL(-EINVAL, "bad prefix '%s' (want ADDR[/LEN])", val);
	} else if (!strcmp(key, "dport")) {
		if (parse_ports(val, r))
			FAIL(-EINVAL, "bad port or range '%s' (want N or N-M, 1-65535)", val);
	} else if (!strcmp(key, "cgroup")) {
		unsigned int level;

		if (sockredir_cgroup_lookup(val, &r->cgroup_id, &level))
			FAIL(-ENOENT, "no cgroup '%s'", val);
		if (level > SOCKREDIR_CGROUP_LEVELS)
			FAIL(-EINVAL, "cgroup '%s' is at level %u; rules can name cgroups down to level %d",
			     val, level, SOCKREDIR_CGROUP_LEVELS);
		r->cgroup_level = level;
	} else if (!strcmp(key, "uid")) {
		uint32_t uid;

		if (parse_u32(val, UINT32_MAX - 1, &uid))
			FAIL(-EINVAL, "bad uid '%s'", val);
		r->uid = uid;
	} else {
		uint32_t w;

		if (parse_u32(val, UINT32_MAX, &w))
			FAIL(-EINVAL, "bad weight '%s'", val);
		r->weight = w;
	}
	return 1;
}

int rule_spec_check(const struct rule_spec *s, char *err, size_t errlen)
{
	if (!s->actions)
		FAIL(-EINVAL, "give service NAME, permit or block");
	return 0;
}

int rule_words_parse(int argc, char **argv, struct rule_spec *out, char *err,
		     size_t errlen)
{
	int i, used;

	rule_spec_init(out);
	for (i = 0; i < argc; i++) {
		const char *opt = argv[i];

		if (strncmp(opt, "--", 2) || !opt[2])
			FAIL(-EINVAL, "unexpected word '%s'", opt);
		used = rule_option(out, opt + 2, i + 1 < argc ? argv[i + 1] : NULL,
				   err, errlen);
		if (used < 0)
			return used;
		i += used;
	}
	return rule_spec_check(out, err, errlen);
}

int rule_spec_resolve(struct rule_spec *spec,
		      const struct sockredir_service *svcs, int n, char *err,
		      size_t errlen)
{
	int i;

	if (spec->r.action != SOCKREDIR_ACTION_REDIRECT)
		return 0;
	for (i = 0; i < n; i++)
		if (!strcmp(svcs[i].name, spec->service)) {
			spec->r.service_id = svcs[i].id;
			return 0;
		}
	FAIL(-ENOENT, "no service named '%s'", spec->service);
}
