/* SPDX-License-Identifier: MIT */
/*
 * sniff.c - HTTP/1 Host and TLS SNI from a flow's first bytes.
 *
 * Both parsers take whatever has arrived so far and say SNIFF_MORE only
 * while the bytes are a plausible prefix of what they look for; the caller
 * bounds how long and how much it waits.  Every length read from the wire
 * is checked against what is in the buffer before it is used.
 */
#include <string.h>
#include <strings.h>

#include "sniff.h"

#define METHOD_MAX	24
#define TLS_HS_MAX	16384	/* reassembled handshake bytes we look at */

static unsigned char lower(unsigned char c)
{
	return c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c;
}

/* Store a name: printable ASCII only, lower-cased, no trailing dot. */
static void host_set(char host[SNIFF_HOST_MAX], const unsigned char *s,
		     size_t n)
{
	size_t i;

	host[0] = '\0';
	if (n && s[n - 1] == '.')
		n--;
	if (n == 0 || n >= SNIFF_HOST_MAX)
		return;
	for (i = 0; i < n; i++) {
		if (s[i] <= ' ' || s[i] >= 0x7f) {
			host[0] = '\0';
			return;
		}
		host[i] = lower(s[i]);
	}
	host[n] = '\0';
}

/* [userinfo@]host[:port], host possibly a bracketed IPv6 literal. */
static void authority_host(char host[SNIFF_HOST_MAX], const unsigned char *s,
			   size_t n)
{
	const unsigned char *at, *end;

	at = memrchr(s, '@', n);
	if (at) {
		n -= at + 1 - s;
		s = at + 1;
	}
	if (n && s[0] == '[') {
		end = memchr(s, ']', n);
		if (end)
			host_set(host, s + 1, end - s - 1);
		return;
	}
	end = memchr(s, ':', n);
	host_set(host, s, end ? (size_t)(end - s) : n);
}

static int is_tchar(unsigned char c)
{
	return (c >= '0' && c <= '9') || (lower(c) >= 'a' && lower(c) <= 'z') ||
	       (c && strchr("!#$%&'*+-.^_`|~", c));
}

/* The authority of an absolute-form target, which overrides Host. */
static int target_authority(const unsigned char *t, size_t n,
			    const unsigned char **auth, size_t *alen)
{
	const unsigned char *sep = memmem(t, n, "://", 3);
	size_t i;

	if (!sep || sep == t)
		return 0;
	for (i = 0; t + i < sep; i++)
		if (!(lower(t[i]) >= 'a' && lower(t[i]) <= 'z') &&
		    !(t[i] >= '0' && t[i] <= '9') && !strchr("+-.", t[i]))
			return 0;
	*auth = sep + 3;
	n -= *auth - t;
	for (i = 0; i < n && !strchr("/?#", (*auth)[i]); i++)
		;
	*alen = i;
	return 1;
}

enum sniff_result sniff_http(const unsigned char *p, size_t len,
			     char host[SNIFF_HOST_MAX])
{
	static const char version[] = "HTTP/";
	const unsigned char *auth, *nl, *colon, *v, *ve;
	size_t i = 0, m, t0, t1, k, alen, e;

	host[0] = '\0';
	while (i < len && is_tchar(p[i]) && i <= METHOD_MAX)
		i++;
	if (i == len)
		return i <= METHOD_MAX ? SNIFF_MORE : SNIFF_DONE;
	if (i == 0 || i > METHOD_MAX || p[i] != ' ')
		return SNIFF_DONE;
	m = i++;

	t0 = i;
	while (i < len && p[i] > ' ' && p[i] < 0x7f)
		i++;
	if (i == len)
		return SNIFF_MORE;
	if (p[i] != ' ' || i == t0)
		return SNIFF_DONE;
	t1 = i++;

	for (k = 0; k < 8; k++, i++) {
		if (i == len)
			return SNIFF_MORE;
		if (k < 5 ? p[i] != version[k] :
		    k == 6 ? p[i] != '.' : (p[i] < '0' || p[i] > '9'))
			return SNIFF_DONE;
	}
	if (i < len && p[i] == '\r')
		i++;
	if (i == len)
		return SNIFF_MORE;
	if (p[i++] != '\n')
		return SNIFF_DONE;

	if (m == 7 && !memcmp(p, "CONNECT", 7)) {
		authority_host(host, p + t0, t1 - t0);
		return SNIFF_DONE;
	}
	if (p[t0] != '/' && target_authority(p + t0, t1 - t0, &auth, &alen)) {
		authority_host(host, auth, alen);
		return SNIFF_DONE;
	}

	for (;;) {
		nl = memchr(p + i, '\n', len - i);
		if (!nl)
			return SNIFF_MORE;
		e = nl - p;
		if (e > i && p[e - 1] == '\r')
			e--;
		if (e == i)
			return SNIFF_DONE;	/* end of headers, no Host */
		colon = memchr(p + i, ':', e - i);
		if (colon && colon - (p + i) == 4 &&
		    !strncasecmp((const char *)p + i, "host", 4)) {
			v = colon + 1;
			ve = p + e;
			while (v < ve && (*v == ' ' || *v == '\t'))
				v++;
			while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
				ve--;
			authority_host(host, v, ve - v);
			return SNIFF_DONE;
		}
		i = nl - p + 1;
	}
}

static unsigned int be16(const unsigned char *p)
{
	return (unsigned int)p[0] << 8 | p[1];
}

static void sni_host(char host[SNIFF_HOST_MAX], const unsigned char *p,
		     size_t n)
{
	size_t off = 2, end, nlen;

	if (n < 2)
		return;
	end = 2 + be16(p);
	if (end > n)
		return;
	while (end - off >= 3) {
		nlen = be16(p + off + 1);
		if (nlen > end - off - 3)
			return;
		if (p[off] == 0) {		/* host_name */
			host_set(host, p + off + 3, nlen);
			return;
		}
		off += 3 + nlen;
	}
}

/*
 * The ClientHello in reassembled handshake bytes @hs[0..n).  @can_grow:
 * more input could still extend them.
 */
static enum sniff_result client_hello(const unsigned char *hs, size_t n,
				      int can_grow, char host[SNIFF_HOST_MAX])
{
	size_t off = 4, end, limit, ext_end, l;
	unsigned int type;

#define NEED(k) do { if (off > limit || limit - off < (k)) goto short_read; } while (0)
	if (n < 4)
		return can_grow ? SNIFF_MORE : SNIFF_DONE;
	if (hs[0] != 1)			/* client_hello */
		return SNIFF_DONE;
	end = 4 + ((size_t)hs[1] << 16 | (size_t)hs[2] << 8 | hs[3]);
	limit = n < end ? n : end;

	NEED(2 + 32);			/* legacy_version, random */
	off += 2 + 32;
	NEED(1);
	l = hs[off++];			/* legacy_session_id */
	if (l > 32)
		return SNIFF_DONE;
	NEED(l);
	off += l;
	NEED(2);
	l = be16(hs + off);		/* cipher_suites */
	off += 2;
	NEED(l);
	off += l;
	NEED(1);
	l = hs[off++];			/* legacy_compression_methods */
	NEED(l);
	off += l;
	if (off == end)
		return SNIFF_DONE;	/* no extensions */
	NEED(2);
	ext_end = off + 2 + be16(hs + off);
	off += 2;
	if (ext_end > end)
		return SNIFF_DONE;
	while (off < ext_end) {
		NEED(4);
		type = be16(hs + off);
		l = be16(hs + off + 2);
		off += 4;
		if (l > ext_end - off)
			return SNIFF_DONE;
		if (type == 0) {	/* server_name */
			NEED(l);
			sni_host(host, hs + off, l);
			return SNIFF_DONE;
		}
		off += l;
	}
	return SNIFF_DONE;
#undef NEED

short_read:
	return limit < end && can_grow ? SNIFF_MORE : SNIFF_DONE;
}

enum sniff_result sniff_tls(const unsigned char *p, size_t len,
			    char host[SNIFF_HOST_MAX])
{
	unsigned char hs[TLS_HS_MAX];
	size_t i = 0, hlen = 0, rlen, n;
	int can_grow = 1;

	host[0] = '\0';
	/* A ClientHello may span several handshake records: join them. */
	while (i < len) {
		if (p[i] != 0x16 || (len - i >= 2 && p[i + 1] != 3)) {
			if (i == 0)
				return SNIFF_DONE;
			can_grow = 0;
			break;
		}
		if (len - i < 5)
			break;
		rlen = be16(p + i + 3);
		if (rlen == 0 || rlen > 16384 + 2048)
			return SNIFF_DONE;
		i += 5;
		n = len - i < rlen ? len - i : rlen;
		if (n > sizeof(hs) - hlen) {
			n = sizeof(hs) - hlen;
			can_grow = 0;
		}
		memcpy(hs + hlen, p + i, n);
		hlen += n;
		i += n;
		if (!can_grow)
			break;
	}
	return client_hello(hs, hlen, can_grow, host);
}

void sniff_hello(const unsigned char *hs, size_t len, char host[SNIFF_HOST_MAX])
{
	host[0] = '\0';
	client_hello(hs, len, 0, host);
}

enum sniff_result sniff(const void *buf, size_t len, char host[SNIFF_HOST_MAX])
{
	const unsigned char *p = buf;

	host[0] = '\0';
	if (len == 0)
		return SNIFF_MORE;
	if (p[0] == 0x16)
		return sniff_tls(p, len, host);
	return sniff_http(p, len, host);
}
