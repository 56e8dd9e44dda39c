/* SPDX-License-Identifier: MIT */
/*
 * policy.h - what the relay lets through: the decisions, apart from how
 * flows are carried, so that new rules (and UDP flows) use the same ones.
 */
#ifndef RELAY_POLICY_H
#define RELAY_POLICY_H

#include <stdbool.h>

struct policy {
	char **deny;		/* normalized host patterns (--deny-host) */
	int n_deny;
	bool allow_unknown;	/* --unknown-host allow */
};

/* Must a flow name its host (HTTP Host, TLS SNI) before it may go on? */
bool policy_wants_host(const struct policy *p);

/*
 * policy_check_host - may a flow that named @host ("" for none) go on?
 * Returns 0, or -EACCES if the deny list refuses it.
 */
int policy_check_host(const struct policy *p, const char *host);

/*
 * policy_check_unknown - may a flow go on whose host is not known: an HTTP
 * request or TLS ClientHello that names none, is malformed, or is still
 * incomplete when the sniff window closes or the buffer fills?  0, or
 * -EACCES (the default while a deny list is set).
 */
int policy_check_unknown(const struct policy *p);

/*
 * host_pattern_norm - check and normalize a --deny-host pattern in place
 * (lower-case, no trailing dot).  A pattern is a name, or "*." and a name,
 * which matches every name below it but not the name itself.
 * Returns 0, or -EINVAL if it is not a valid pattern.
 */
int host_pattern_norm(char *pattern);

/* host_match - does a normalized @pattern match @host (case-insensitive)? */
bool host_match(const char *pattern, const char *host);

#endif
