/* rulewords.c - the words of 'rule add' and of rule files, into structs. */
#include <arpa/inet.h>
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

static int parse_prefix(const char *s, struct sockredir_rule *r)
{
	char buf[INET6_ADDRSTRLEN + 8], *slash;
	unsigned int i, p;
	uint32_t plen;

	if (strlen(s) >= sizeof(buf))
		return -EINVAL;
	strcpy(buf, s);
	slash = strchr(buf, '/');
	if (slash)
		*slash++ = '\0';
	memset(r->dst, 0, sizeof(r->dst));
	if (inet_pton(AF_INET, buf, r->dst) == 1)
		r->family = AF_INET;
	else if (inet_pton(AF_INET6, buf, r->dst) == 1)
		r->family = AF_INET6;
	else
		return -EINVAL;
	plen = r->family == AF_INET ? 32 : 128;
	if (slash && parse_u32(slash, plen, &plen))
		return -EINVAL;
	r->prefix_len = plen;
	/* 10.1.2.3/8 means 10.0.0.0/8, as ip route reads it. */
	for (i = 0, p = plen; i < 16; i++, p = p >= 8 ? p - 8 : 0)
		if (p < 8)
			r->dst[i] &= (uint8_t)(0xff00 >> p);
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

int rule_words_parse(int argc, char **argv, struct rule_spec *out, char *err,
		     size_t errlen)
{
	struct sockredir_rule *r = &out->r;
	int i, have_action = 0;

	memset(out, 0, sizeof(*out));
	r->uid = -1;
	for (i = 0; i < argc; i++) {
		const char *opt = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;

		if (!strcmp(opt, "--permit") || !strcmp(opt, "--block")) {
			if (have_action++)
				FAIL(-EINVAL, "give one of --service, --permit and --block");
			r->action = opt[2] == 'p' ? SOCKREDIR_ACTION_PERMIT :
						    SOCKREDIR_ACTION_BLOCK;
			continue;
		}
		if (strncmp(opt, "--", 2))
			FAIL(-EINVAL, "unexpected word '%s'", opt);
		if (!val)
			FAIL(-EINVAL, "%s needs a value", opt);
		i++;
		if (!strcmp(opt, "--service")) {
			if (have_action++)
				FAIL(-EINVAL, "give one of --service, --permit and --block");
			if (!*val || strlen(val) >= sizeof(out->service))
				FAIL(-EINVAL, "bad service name '%s'", val);
			strcpy(out->service, val);
			r->action = SOCKREDIR_ACTION_REDIRECT;
		} else if (!strcmp(opt, "--proto")) {
			if (!strcmp(val, "tcp"))
				r->protocol = IPPROTO_TCP;
			else if (!strcmp(val, "udp"))
				FAIL(-EINVAL, "UDP is not redirected yet: rules cover TCP");
			else
				FAIL(-EINVAL, "--proto takes tcp or udp, not '%s'", val);
		} else if (!strcmp(opt, "--dst")) {
			if (parse_prefix(val, r))
				FAIL(-EINVAL, "bad prefix '%s' (want ADDR[/LEN])", val);
		} else if (!strcmp(opt, "--dport")) {
			if (parse_ports(val, r))
				FAIL(-EINVAL, "bad port or range '%s' (want N or N-M, 1-65535)", val);
		} else if (!strcmp(opt, "--cgroup")) {
			unsigned int level;

			if (sockredir_cgroup_lookup(val, &r->cgroup_id, &level))
				FAIL(-ENOENT, "no cgroup '%s'", val);
			r->cgroup_level = level;
		} else if (!strcmp(opt, "--uid")) {
			uint32_t uid;

			if (parse_u32(val, UINT32_MAX - 1, &uid))
				FAIL(-EINVAL, "bad uid '%s'", val);
			r->uid = uid;
		} else if (!strcmp(opt, "--weight")) {
			uint32_t w;

			if (parse_u32(val, UINT32_MAX, &w))
				FAIL(-EINVAL, "bad weight '%s'", val);
			r->weight = w;
		} else {
			FAIL(-EINVAL, "unknown option '%s'", opt);
		}
	}
	if (!have_action)
		FAIL(-EINVAL, "give --service NAME, --permit or --block");
	return 0;
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
