/* SPDX-License-Identifier: MIT */
/*
 * http.c - HTTP/1.x request heads, chunked bodies, and a request stream.
 *
 * Lines end in LF, optionally after one CR (as servers read them); a CR
 * anywhere else ends the check.  Chunked framing wants CRLF exactly.
 */
#include <errno.h>
#include <string.h>
#include <strings.h>

#include "http.h"

#define METHOD_MAX	24

enum { ST_HEAD, ST_BODY, ST_CHUNKED, ST_PASS };
enum {
	CH_SIZE, CH_SIZE_MORE, CH_EXT, CH_SIZE_LF, CH_DATA, CH_DATA_CR,
	CH_DATA_LF, CH_TRAILER, CH_TRAILER_LINE, CH_TRAILER_LINE_LF,
	CH_END_LF,
};

static bool tchar(unsigned char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
	       (c >= 'A' && c <= 'Z') || (c && strchr("!#$%&'*+-.^_`|~", c));
}

int http_looks_like_request(const unsigned char *p, size_t len)
{
	size_t i;

	for (i = 0; i < len && i <= METHOD_MAX && tchar(p[i]); i++)
		;
	if (i == len)
		return i <= METHOD_MAX ? -EAGAIN : 0;
	return i > 0 && i <= METHOD_MAX && (p[i] == ' ' || p[i] == '\t');
}

/* Trim optional whitespace around a field value. */
static void trim(const unsigned char **v, const unsigned char **ve)
{
	while (*v < *ve && (**v == ' ' || **v == '\t'))
		(*v)++;
	while (*ve > *v && ((*ve)[-1] == ' ' || (*ve)[-1] == '\t'))
		(*ve)--;
}

static bool name_is(const unsigned char *n, size_t len, const char *want)
{
	return len == strlen(want) && !strncasecmp((const char *)n, want, len);
}

/* The end of the line at @i: the index of its LF, or len (incomplete);
 * -1 if it holds a bare CR or a control byte other than HTAB. */
static ssize_t line_end(const unsigned char *p, size_t len, size_t i)
{
	for (; i < len; i++) {
		if (p[i] == '\n')
			return i;
		if (p[i] == '\r' && (i + 1 == len || p[i + 1] == '\n'))
			continue;
		if ((p[i] < 0x20 && p[i] != '\t') || p[i] == 0x7f)
			return -1;
	}
	return len;
}

int http_request_parse(const unsigned char *p, size_t len,
		       struct http_request *r)
{
	static const char version[] = "HTTP/1.";
	size_t i = 0, m, t0, k, n_host = 0, n_len = 0, n_te = 0;
	const unsigned char *v, *ve, *name;
	bool chunked = false, v11;
	uint64_t length = 0;
	ssize_t e;

	memset(r, 0, sizeof(*r));
	while (i < len && i <= METHOD_MAX && tchar(p[i]))
		i++;
	if (i == len)
		return i <= METHOD_MAX ? 0 : -EBADMSG;
	if (i == 0 || i > METHOD_MAX || p[i] != ' ')
		return -EBADMSG;
	m = i++;
	t0 = i;
	while (i < len && p[i] > ' ' && p[i] < 0x7f)
		i++;
	if (i == len)
		return 0;
	if (p[i] != ' ' || i == t0)
		return -EBADMSG;
	for (i++, k = 0; k < sizeof(version) - 1; k++, i++) {
		if (i == len)
			return 0;
		if (p[i] != version[k])
			return -EBADMSG;
	}
	if (i == len)
		return 0;
	if (p[i] != '0' && p[i] != '1')
		return -EBADMSG;
	v11 = p[i++] == '1';
	if (i < len && p[i] == '\r')
		i++;
	if (i == len)
		return 0;
	if (p[i++] != '\n')
		return -EBADMSG;

	for (;;) {
		if (i == len)
			return 0;
		if (p[i] == '\n' || p[i] == '\r') {
			if (p[i] == '\r' && ++i == len)
				return 0;
			if (p[i] != '\n')
				return -EBADMSG;
			r->head = i + 1;
			break;
		}
		name = p + i;
		while (i < len && tchar(p[i]))
			i++;
		if (i == len)
			return 0;
		/* No name (a folded line), or space before the colon. */
		if (p[i] != ':' || name == p + i)
			return -EBADMSG;
		e = line_end(p, len, i + 1);
		if (e < 0)
			return -EBADMSG;
		if ((size_t)e == len)
			return 0;
		v = p + i + 1;
		ve = p + e;
		if (ve > v && ve[-1] == '\r')
			ve--;
		trim(&v, &ve);
		k = p + i - name;
		if (name_is(name, k, "host")) {
			n_host++;
		} else if (name_is(name, k, "content-length")) {
			if (n_len++ || ve == v || ve - v > 18)
				return -EBADMSG;
			for (; v < ve; v++) {
				if (*v < '0' || *v > '9')
					return -EBADMSG;
				length = length * 10 + (*v - '0');
			}
		} else if (name_is(name, k, "transfer-encoding")) {
			if (n_te++ || !name_is(v, ve - v, "chunked"))
				return -EBADMSG;
			chunked = true;
		} else if (name_is(name, k, "upgrade")) {
			r->leaves_http = true;
		}
		i = e + 1;
	}
	if (n_host > 1 || (n_te && (n_len || !v11)))
		return -EBADMSG;
	if (m == 7 && !memcmp(p, "CONNECT", 7))
		r->leaves_http = true;
	r->chunked = chunked;
	r->length = length;
	sniff_http(p, r->head, r->host);
	return 1;
}

static int hex(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c |= 0x20;
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

ssize_t http_chunked_scan(struct http_chunked *c, const unsigned char *p,
			  size_t len, bool *done)
{
	size_t i = 0, n;
	unsigned char b;

	*done = false;
	while (i < len) {
		b = p[i];
		switch (c->state) {
		case CH_SIZE:
		case CH_SIZE_MORE:
			if (hex(b) >= 0) {
				if (++c->digits > 15)
					return -EBADMSG;
				c->left = c->left << 4 | hex(b);
				c->state = CH_SIZE_MORE;
			} else if (c->state == CH_SIZE) {
				return -EBADMSG;
			} else if (b == ';') {
				c->state = CH_EXT;
			} else if (b == '\r') {
				c->state = CH_SIZE_LF;
			} else {
				return -EBADMSG;
			}
			break;
		case CH_EXT:
			if (b == '\r')
				c->state = CH_SIZE_LF;
			else if ((b < 0x20 && b != '\t') || b == 0x7f)
				return -EBADMSG;
			break;
		case CH_SIZE_LF:
			if (b != '\n')
				return -EBADMSG;
			c->digits = 0;
			c->state = c->left ? CH_DATA : CH_TRAILER;
			break;
		case CH_DATA:
			n = len - i < c->left ? len - i : (size_t)c->left;
			c->left -= n;
			i += n;
			if (!c->left)
				c->state = CH_DATA_CR;
			continue;
		case CH_DATA_CR:
			if (b != '\r')
				return -EBADMSG;
			c->state = CH_DATA_LF;
			break;
		case CH_DATA_LF:
			if (b != '\n')
				return -EBADMSG;
			c->state = CH_SIZE;
			break;
		case CH_TRAILER:
			c->state = b == '\r' ? CH_END_LF : CH_TRAILER_LINE;
			if (b == '\n' || (b < 0x20 && b != '\r' && b != '\t'))
				return -EBADMSG;
			break;
		case CH_TRAILER_LINE:
			if (b == '\r')
				c->state = CH_TRAILER_LINE_LF;
			else if ((b < 0x20 && b != '\t') || b == 0x7f)
				return -EBADMSG;
			break;
		case CH_TRAILER_LINE_LF:
			if (b != '\n')
				return -EBADMSG;
			c->state = CH_TRAILER;
			break;
		case CH_END_LF:
			if (b != '\n')
				return -EBADMSG;
			memset(c, 0, sizeof(*c));
			*done = true;
			return i + 1;
		}
		i++;
	}
	return len;
}

/* Where the head that starts @p ends: just past its empty line, or 0. */
static size_t head_end(const unsigned char *p, size_t len, size_t from)
{
	const unsigned char *nl;

	while (from < len && (nl = memchr(p + from, '\n', len - from))) {
		from = nl - p + 1;
		if (from < len && p[from] == '\n')
			return from + 1;
		if (from + 1 < len && p[from] == '\r' && p[from + 1] == '\n')
			return from + 2;
	}
	return 0;
}

ssize_t http_stream_scan(struct http_stream *s, const unsigned char *p,
			 size_t len, size_t max, http_check_fn *check, void *arg)
{
	struct http_request r;
	size_t pos = 0, skip, n, from;
	const unsigned char *h;
	bool done;
	ssize_t k;
	int err;

	while (pos < len) {
		switch (s->state) {
		case ST_PASS:
			return len;
		case ST_BODY:
			n = len - pos < s->left ? len - pos : (size_t)s->left;
			pos += n;
			s->left -= n;
			if (!s->left)
				s->state = ST_HEAD;
			continue;
		case ST_CHUNKED:
			k = http_chunked_scan(&s->chunked, p + pos, len - pos, &done);
			if (k < 0)
				return k;
			pos += k;
			if (done)
				s->state = ST_HEAD;
			continue;
		}
		/* A head, after any empty lines (which go with it). */
		h = p + pos;
		n = len - pos;
		for (skip = 0; skip < n && (h[skip] == '\r' || h[skip] == '\n'); skip++)
			;
		if (skip == n)
			return skip > max ? -EMSGSIZE : (ssize_t)pos;
		if (s->after_switch) {
			err = http_looks_like_request(h + skip, n - skip);
			if (err == 0) {
				s->state = ST_PASS;
				continue;
			}
			if (err == -EAGAIN)
				return n > max ? -EMSGSIZE : (ssize_t)pos;
		}
		from = s->scanned > skip + 2 ? s->scanned - 2 : skip;
		if (!head_end(h, n, from)) {
			s->scanned = n;	/* look at each byte once */
			return n > max ? -EMSGSIZE : (ssize_t)pos;
		}
		s->scanned = 0;
		if (http_request_parse(h + skip, n - skip, &r) != 1)
			return -EBADMSG;
		if (skip + r.head > max)
			return -EMSGSIZE;
		memcpy(s->host, r.host, sizeof(s->host));
		err = check(arg, r.host);
		if (err < 0)
			return err;
		pos += skip + r.head;
		s->after_switch = r.leaves_http;
		s->left = r.length;
		memset(&s->chunked, 0, sizeof(s->chunked));
		s->state = r.chunked ? ST_CHUNKED : r.length ? ST_BODY : ST_HEAD;
	}
	return pos;
}
