/* SPDX-License-Identifier: MIT */
/*
 * policy.c - the deny list.  Pure functions, no I/O.
 */
#include <errno.h>
#include <string.h>
#include <strings.h>

#include "policy.h"
#include "sniff.h"

bool policy_wants_host(const struct policy *p)
{
	return p->n_deny > 0;
}

int policy_check_host(const struct policy *p, const char *host)
{
	int i;

	for (i = 0; i < p->n_deny; i++)
		if (host_match(p->deny[i], host))
			return -EACCES;
	return 0;
}

int policy_check_unknown(const struct policy *p)
{
	return p->n_deny && !p->allow_unknown ? -EACCES : 0;
}

int host_pattern_norm(char *pattern)
{
	size_t n = strlen(pattern);
	char *name = pattern, *c;

	if (n && pattern[n - 1] == '.')
		pattern[--n] = '\0';
	if (pattern[0] == '*' && pattern[1] == '.')
		name = pattern + 2;
	if (!*name || *name == '.' || n >= SNIFF_HOST_MAX || strchr(name, '*'))
		return -EINVAL;
	for (c = pattern; *c; c++) {
		if ((unsigned char)*c <= ' ' || (unsigned char)*c >= 0x7f)
			return -EINVAL;
		if (*c >= 'A' && *c <= 'Z')
			*c += 'a' - 'A';
	}
	return 0;
}

bool host_match(const char *pattern, const char *host)
{
	size_t pl, hl = strlen(host);

	if (!hl)
		return false;
	if (pattern[0] == '*' && pattern[1] == '.') {
		pl = strlen(pattern + 1);	/* ".example.com" */
		return hl > pl && !strcasecmp(host + hl - pl, pattern + 1);
	}
	return !strcasecmp(pattern, host);
}
