/* sockopt.c - the proxy-side calls: records, context, addresses. */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "internal.h"

_Static_assert(sizeof(struct sockredir_context) == sizeof(struct sr_context),
	       "context layout");
_Static_assert(sizeof(struct sockredir_context_block) == SR_CONTEXT_BLOCK_SIZE,
	       "context block layout");
_Static_assert(SOCKREDIR_CGROUP_LEVELS == SR_CG_LEVELS, "cgroup levels");
_Static_assert(sizeof(struct sr_records) <= SOCKREDIR_RECORDS_MAX,
	       "records size");
_Static_assert(sizeof(struct sockredir_query) >=
	       sizeof(struct sr_context) + sizeof(struct sr_records),
	       "query layout");
_Static_assert((int)SOCKREDIR_PREVIOUSLY_REDIRECTED_BY_SELF ==
	       (int)SR_PREVIOUSLY_BY_SELF, "state values");

/*
 * Without the layer, an IPv4 socket answers an unknown level's getsockopt
 * with EOPNOTSUPP and an IPv6 socket with ENOPROTOOPT: say ENOPROTOOPT.
 */
static int get_err(void)
{
	return errno == EOPNOTSUPP ? -ENOPROTOOPT : -errno;
}

int sockredir_query_records(int fd, void *buf, size_t *len)
{
	socklen_t l;

	if (!buf || !len)
		return sr_err(-EINVAL);
	l = *len;
	if (getsockopt(fd, SOL_SOCKREDIR, SOCKREDIR_RECORDS, buf, &l) < 0)
		return sr_err(get_err());
	*len = l;
	return 0;
}

int sockredir_query_context(int fd, struct sockredir_context *ctx)
{
	struct sockredir_context raw;
	socklen_t l = sizeof(raw);

	if (!ctx)
		return sr_err(-EINVAL);
	if (getsockopt(fd, SOL_SOCKREDIR, SOCKREDIR_CONTEXT, &raw, &l) < 0)
		return sr_err(get_err());
	if (sockredir_parse_context(&raw, l, ctx) < 0)
		return sr_err(-EPROTO);
	return 0;
}

/* The two old options, for a layer that does not know SOCKREDIR_QUERY. */
static int query_two(int fd, struct sockredir_context *ctx, void *rec,
		     size_t *reclen)
{
	int err = sockredir_query_records(fd, rec, reclen);

	return err ? err : sockredir_query_context(fd, ctx);
}

int sr_query_parse(const void *buf, size_t len, struct sockredir_context *ctx,
		   void *rec, size_t *reclen)
{
	const size_t head = offsetof(struct sockredir_context, sr);
	uint32_t blk;
	size_t n;

	if (sockredir_parse_context(buf, len, ctx) < 0)
		return -EPROTO;
	/* The records start where the block ends; parse_context checked
	 * that it ends within @len. */
	memcpy(&blk, (const char *)buf + head + 4, sizeof(blk));
	n = len - (head + blk);
	if (n == 0)
		return -EPROTO;
	if (n > *reclen)
		return -ERANGE;
	memcpy(rec, (const char *)buf + head + blk, n);
	*reclen = n;
	return 0;
}

int sockredir_query(int fd, struct sockredir_context *ctx, void *rec,
		    size_t *reclen)
{
	struct sockredir_query q;
	socklen_t l = sizeof(q);
	int err;

	if (!ctx || !rec || !reclen)
		return sr_err(-EINVAL);
	if (getsockopt(fd, SOL_SOCKREDIR, SOCKREDIR_QUERY, &q, &l) < 0) {
		err = get_err();
		return err == -ENOPROTOOPT ? query_two(fd, ctx, rec, reclen) :
		       sr_err(err);
	}
	err = sr_query_parse(&q, l, ctx, rec, reclen);
	return err ? sr_err(err) : 0;
}

int sockredir_set_records(int fd, const void *buf, size_t len)
{
	if (!buf || len == 0 || len > SOCKREDIR_RECORDS_MAX)
		return sr_err(-EINVAL);
	if (setsockopt(fd, SOL_SOCKREDIR, SOCKREDIR_RECORDS, buf, len) < 0)
		return sr_err(-errno);
	return 0;
}

int sockredir_claim(int fd, const char *name)
{
	size_t n = name ? strlen(name) : 0;

	if (n == 0 || n >= SOCKREDIR_NAME_MAX)
		return sr_err(-EINVAL);
	if (setsockopt(fd, SOL_SOCKREDIR, SOCKREDIR_CLAIM, name, n) < 0)
		return sr_err(-errno);
	return 0;
}

static int family_ok(const struct sockaddr_storage *ss)
{
	return ss->ss_family == AF_INET || ss->ss_family == AF_INET6 ||
	       ss->ss_family == AF_UNSPEC;
}

int sockredir_parse_context(const void *buf, size_t len,
			    struct sockredir_context *out)
{
	const size_t head = offsetof(struct sockredir_context, sr);
	struct sockredir_context c;
	size_t blk;

	if (!buf || !out || len < head + 8)
		return sr_err(-EINVAL);
	memset(&c, 0, sizeof(c));
	memcpy(&c, buf, head + 8);	/* addresses, version, size */
	if (c.remote.ss_family != AF_INET && c.remote.ss_family != AF_INET6)
		return sr_err(-EINVAL);
	if (!family_ok(&c.local) || c.sr.version < SOCKREDIR_CONTEXT_VERSION)
		return sr_err(-EINVAL);
	blk = c.sr.size;
	if (blk < 8 || head + blk > len)
		return sr_err(-EINVAL);
	/* An older, shorter block leaves the newer fields zero. */
	if (blk > sizeof(c.sr))
		blk = sizeof(c.sr);
	memcpy(&c.sr, (const char *)buf + head, blk);
	c.sr.app_comm[sizeof(c.sr.app_comm) - 1] = '\0';
	if (c.sr.hop > SOCKREDIR_MAX_HOPS)
		return sr_err(-EINVAL);
	*out = c;
	return 0;
}

char *sockredir_format_addr(const struct sockaddr_storage *ss, char *out,
			    size_t outlen)
{
	char a[INET6_ADDRSTRLEN];

	if (!out || outlen == 0)
		return out;
	if (ss && ss->ss_family == AF_INET) {
		const struct sockaddr_in *s4 = (const void *)ss;

		inet_ntop(AF_INET, &s4->sin_addr, a, sizeof(a));
		snprintf(out, outlen, "%s:%u", a, ntohs(s4->sin_port));
	} else if (ss && ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const void *)ss;

		inet_ntop(AF_INET6, &s6->sin6_addr, a, sizeof(a));
		snprintf(out, outlen, "[%s]:%u", a, ntohs(s6->sin6_port));
	} else {
		snprintf(out, outlen, "-");
	}
	return out;
}

/* A port: 1..65535, digits only. */
static int parse_port(const char *s, uint16_t *port)
{
	char *end;
	unsigned long v;

	if (!*s || strspn(s, "0123456789") != strlen(s))
		return -EINVAL;
	v = strtoul(s, &end, 10);
	if (v == 0 || v > 65535)
		return -EINVAL;
	*port = v;
	return 0;
}

int sockredir_parse_addr(const char *s, struct sockaddr_storage *out)
{
	char host[INET6_ADDRSTRLEN + 2];
	const char *colon;
	uint16_t port;
	size_t hl;

	if (!s || !out)
		return sr_err(-EINVAL);
	memset(out, 0, sizeof(*out));
	if (s[0] == '[') {
		const char *close = strchr(s, ']');
		struct sockaddr_in6 *s6 = (void *)out;

		if (!close || close[1] != ':')
			return sr_err(-EINVAL);
		hl = close - s - 1;
		if (hl == 0 || hl >= sizeof(host))
			return sr_err(-EINVAL);
		memcpy(host, s + 1, hl);
		host[hl] = '\0';
		if (inet_pton(AF_INET6, host, &s6->sin6_addr) != 1 ||
		    parse_port(close + 2, &port))
			return sr_err(-EINVAL);
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(port);
		return 0;
	}
	colon = strrchr(s, ':');
	if (!colon)
		return sr_err(-EINVAL);
	hl = colon - s;
	if (hl == 0 || hl >= sizeof(host))
		return sr_err(-EINVAL);
	memcpy(host, s, hl);
	host[hl] = '\0';
	{
		struct sockaddr_in *s4 = (void *)out;

		if (inet_pton(AF_INET, host, &s4->sin_addr) != 1 ||
		    parse_port(colon + 1, &port))
			return sr_err(-EINVAL);
		s4->sin_family = AF_INET;
		s4->sin_port = htons(port);
	}
	return 0;
}
