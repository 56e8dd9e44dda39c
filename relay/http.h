/* SPDX-License-Identifier: MIT */
/*
 * http.h - HTTP/1.x request framing, strict enough to check every request
 * of a keep-alive connection: where each head ends, which host it names,
 * and how long its body is.  Pure functions over byte buffers, no I/O.
 *
 * Anything a server could read two ways (two Hosts, two lengths, Content-
 * Length with Transfer-Encoding, folded lines, a bare CR, chunk sizes with
 * spaces) is refused, not guessed: a check that frames requests unlike the
 * server would let a second request through unseen.
 */
#ifndef RELAY_HTTP_H
#define RELAY_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "sniff.h"

struct http_request {
	size_t head;		/* bytes of request line, fields and empty line */
	bool chunked;		/* Transfer-Encoding: chunked */
	uint64_t length;	/* else the body's length (0: none) */
	bool leaves_http;	/* CONNECT or Upgrade: the server may switch */
	char host[SNIFF_HOST_MAX];	/* "" if it names none */
};

/*
 * http_request_parse - the request head at the start of @p (no leading
 * empty lines).  Returns 1 with @r filled in, 0 if the head is not complete
 * yet, or -EBADMSG if it is not a well-formed HTTP/1.0 or 1.1 request head.
 */
int http_request_parse(const unsigned char *p, size_t len,
		       struct http_request *r);

/*
 * http_looks_like_request - could @p start an HTTP request?  A method
 * token and a space, and a first line that names HTTP/.  1 yes, 0 no,
 * -EAGAIN if the bytes so far cannot tell.
 */
int http_looks_like_request(const unsigned char *p, size_t len);

/* A chunked body, as far as it has been read. */
struct http_chunked {
	int state;
	uint64_t left;		/* of the current chunk's data */
	int digits;
};

/*
 * http_chunked_scan - consume the chunked body in @p.  Returns the bytes
 * that belong to it (all @len unless it ended inside them: *done is then
 * set), or -EBADMSG for bad framing.
 */
ssize_t http_chunked_scan(struct http_chunked *c, const unsigned char *p,
			  size_t len, bool *done);

/*
 * The whole client-to-server stream of an HTTP/1.x connection: each
 * request head is held until it is complete and @check has allowed its
 * host; bodies pass as they come.
 */
struct http_stream {
	int state;
	uint64_t left;			/* body bytes still to pass */
	struct http_chunked chunked;
	bool after_switch;		/* the last request may have left HTTP */
	size_t scanned;			/* of the pending head, known incomplete */
	char host[SNIFF_HOST_MAX];	/* of the last request head */
};

/* @host ("" for none) may go on: 0, or a negative errno to refuse it. */
typedef int http_check_fn(void *arg, const char *host);

/*
 * http_stream_scan - @p, @len: the bytes after the ones passed so far.
 * Returns how many of them may be passed now (>= 0), -EMSGSIZE if a head
 * is longer than @max, -EBADMSG for a malformed or ambiguous request, or
 * what @check returned.  After a CONNECT or Upgrade request, bytes that
 * do not look like a request end the checks: the stream passes as is.
 */
ssize_t http_stream_scan(struct http_stream *s, const unsigned char *p,
			 size_t len, size_t max, http_check_fn *check, void *arg);

#endif
