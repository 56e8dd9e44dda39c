/* test_sniff.c - the relay's HTTP Host / TLS SNI sniffers and host patterns. */
#include <stdlib.h>
#include <string.h>

#include "tap.h"
#include "../../relay/sniff.c"
#include "../../relay/policy.c"
#include "../../relay/http.c"
#include "clienthello.h"

static enum sniff_result run(const char *s, char *host)
{
	return sniff(s, strlen(s), host);
}

static int is(const char *s, enum sniff_result want, const char *host)
{
	char h[SNIFF_HOST_MAX];
	enum sniff_result r = run(s, h);

	return r == want && !strcmp(h, host);
}

static void http(void)
{
	char h[SNIFF_HOST_MAX];
	const char *req = "GET /x HTTP/1.1\r\nUser-Agent: t\r\nHost: Example.COM:8080\r\n\r\n";
	size_t i;
	int ok_prefix = 1;

	ok(is(req, SNIFF_DONE, "example.com"), "http: Host, port dropped, lower-cased");
	ok(is("GET / HTTP/1.0\nhOsT:\t a.b. \n\n", SNIFF_DONE, "a.b"),
	   "http: LF only, any case, trimmed, trailing dot");
	ok(is("GET / HTTP/1.1\r\nHost: [::1]:80\r\n\r\n", SNIFF_DONE, "::1"),
	   "http: IPv6 literal");
	ok(is("GET / HTTP/1.1\r\nX: y\r\n\r\n", SNIFF_DONE, ""),
	   "http: end of headers without Host");
	ok(is("GET http://u@Proxy.Example:81/p HTTP/1.1\r\nHost: other\r\n\r\n",
	      SNIFF_DONE, "proxy.example"), "http: absolute-form wins over Host");
	ok(is("CONNECT secure.example:443 HTTP/1.1\r\n\r\n", SNIFF_DONE,
	      "secure.example"), "http: CONNECT authority");
	ok(is("GET", SNIFF_MORE, ""), "http: method only: more");
	ok(is("GET / HTTP/1.1\r\nHost: exa", SNIFF_MORE, ""), "http: header cut: more");
	ok(is("GET / HTTP/1.1\r\nHost: \r\n\r\n", SNIFF_DONE, ""), "http: empty Host");
	ok(is("GET / HTTP/1.1\r\nHost: a\x01" "b\r\n\r\n", SNIFF_DONE, ""),
	   "http: control byte in Host: none");
	ok(is("SSH-2.0-OpenSSH_9.2p1\r\n", SNIFF_DONE, ""), "ssh banner: done");
	ok(is("EHLO x\r\n", SNIFF_DONE, ""), "smtp: done");
	ok(is("\x01\x02\x03", SNIFF_DONE, ""), "binary: done");
	ok(is("GET / FTP/1.1\r\n", SNIFF_DONE, ""), "bad version: done");
	ok(is("AVERYVERYVERYLONGMETHODNAMEX / HTTP/1.1\r\n", SNIFF_DONE, ""),
	   "method too long: done");
	for (i = 0; i <= (size_t)(strstr(req, "8080\r\n") - req) + 5; i++) {
		char *cut = strndup(req, i);

		if (sniff(cut, i, h) != SNIFF_MORE || h[0])
			ok_prefix = 0;
		free(cut);
	}
	ok(ok_prefix, "http: every prefix before the Host line ends is 'more'");
}

static void tls(void)
{
	unsigned char m[2048];
	char h[SNIFF_HOST_MAX];
	size_t n, i;
	int prefix_ok = 1;

	n = make_hello(m, "WWW.Example.org", 4096);
	ok(sniff(m, n, h) == SNIFF_DONE && !strcmp(h, "www.example.org"), "tls: SNI");
	for (i = 0; i < n; i++) {
		enum sniff_result r = sniff(m, i, h);

		/* The SNI ends 8 bytes (the last extension) before the end. */
		if (i < n - 8 ? r != SNIFF_MORE || h[0] :
		    r != SNIFF_DONE || strcmp(h, "www.example.org"))
			prefix_ok = 0;
	}
	ok(prefix_ok, "tls: every prefix: more until the SNI is in, then done");

	n = make_hello(m, "split.example", 50);
	ok(sniff(m, n, h) == SNIFF_DONE && !strcmp(h, "split.example"),
	   "tls: ClientHello split over records");
	n = make_hello(m, NULL, 4096);
	ok(sniff(m, n, h) == SNIFF_DONE && !h[0], "tls: no server_name");

	n = make_hello(m, "x.example", 4096);
	m[5] = 2;	/* ServerHello */
	ok(sniff(m, n, h) == SNIFF_DONE && !h[0], "tls: not a ClientHello");
	n = make_hello(m, "x.example", 4096);
	m[1] = 2;
	ok(sniff(m, n, h) == SNIFF_DONE && !h[0], "tls: bad record version");
	n = make_hello(m, "x.example", 4096);
	m[3] = 0; m[4] = 0;
	ok(sniff(m, n, h) == SNIFF_DONE && !h[0], "tls: empty record");
	n = make_hello(m, "x.example", 4096);
	m[5 + 4 + 34] = 200;	/* session id length */
	ok(sniff(m, n, h) == SNIFF_DONE && !h[0], "tls: session id too long");
	n = make_hello(m, "x.example", 4096);
	m[n - 8 - 9 - 1] = 0xff;	/* name length past its list */
	ok(sniff(m, n, h) == SNIFF_DONE && !h[0], "tls: SNI name overruns");
	n = make_hello(m, "x.example", 50);
	ok(sniff(m, 60, h) == SNIFF_MORE, "tls: short hello waits");
	memcpy(m + 55, "\x17\x03\x03\x00\x05", 5);
	ok(sniff(m, 60, h) == SNIFF_DONE && !h[0],
	   "tls: other record after a cut hello: done");
}

static void patterns(void)
{
	char p1[] = "*.Example.COM.", p2[] = "exact.org", bad1[] = "a*.b",
	     bad2[] = "*.", bad3[] = "", bad4[] = "a b", bad5[] = "*.*.x";

	ok(!host_pattern_norm(p1) && !strcmp(p1, "*.example.com"),
	   "pattern: normalized");
	ok(!host_pattern_norm(p2), "pattern: exact name");
	ok(host_pattern_norm(bad1) && host_pattern_norm(bad2) &&
	   host_pattern_norm(bad3) && host_pattern_norm(bad4) &&
	   host_pattern_norm(bad5), "pattern: bad ones refused");
	ok(host_match(p1, "www.example.com") && host_match(p1, "a.b.EXAMPLE.com"),
	   "wildcard matches names below, any case");
	ok(!host_match(p1, "example.com") && !host_match(p1, "badexample.com") &&
	   !host_match(p1, ""), "wildcard: not the apex, not a suffix of a label");
	ok(host_match(p2, "EXACT.org") && !host_match(p2, "www.exact.org"),
	   "exact: only the name");
}

static int parse(const char *s, struct http_request *r)
{
	return http_request_parse((const unsigned char *)s, strlen(s), r);
}

static void framing(void)
{
	struct http_request r;

	ok(parse("POST /x HTTP/1.1\r\nHost: A.test\r\nContent-Length: 12\r\n\r\nbody", &r) == 1 &&
	   r.head == 54 && r.length == 12 && !r.chunked && !strcmp(r.host, "a.test"),
	   "http head: length, host, where the head ends");
	ok(parse("POST / HTTP/1.1\nHost: b\ntransfer-encoding:  Chunked \n\n", &r) == 1 &&
	   r.chunked && r.head == 54, "http head: LF lines, chunked in any case");
	ok(parse("GET / HTTP/1.1\r\nHost: a\r\n", &r) == 0, "http head: incomplete: more");
	ok(parse("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", &r) == -EBADMSG,
	   "http head: two Hosts refused");
	ok(parse("POST / HTTP/1.1\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n", &r) == -EBADMSG &&
	   parse("POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\n", &r) == -EBADMSG &&
	   parse("POST / HTTP/1.1\r\nContent-Length: 1, 1\r\n\r\n", &r) == -EBADMSG &&
	   parse("POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", &r) == -EBADMSG &&
	   parse("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", &r) == -EBADMSG,
	   "http head: lengths a server could read two ways refused");
	ok(parse("GET / HTTP/1.1\r\nX: a\r\n b\r\n\r\n", &r) == -EBADMSG &&
	   parse("GET / HTTP/1.1\r\nHost : a\r\n\r\n", &r) == -EBADMSG &&
	   parse("GET / HTTP/1.1\r\nX: a\rb\r\n\r\n", &r) == -EBADMSG &&
	   parse("GET  / HTTP/1.1\r\n\r\n", &r) == -EBADMSG &&
	   parse("GET / HTTP/2.0\r\n\r\n", &r) == -EBADMSG,
	   "http head: folded line, space before colon, bare CR, two spaces, HTTP/2 refused");
	ok(parse("CONNECT a.test:443 HTTP/1.1\r\n\r\n", &r) == 1 && r.leaves_http &&
	   !strcmp(r.host, "a.test") &&
	   parse("GET / HTTP/1.1\r\nUpgrade: websocket\r\n\r\n", &r) == 1 && r.leaves_http,
	   "http head: CONNECT and Upgrade may leave HTTP");
	ok(http_looks_like_request((const unsigned char *)"GET", 3) == -EAGAIN &&
	   http_looks_like_request((const unsigned char *)"get x", 5) == 1 &&
	   http_looks_like_request((const unsigned char *)"\x81\x85", 2) == 0 &&
	   http_looks_like_request((const unsigned char *)"*1\r\n", 4) == 0,
	   "http: what looks like a request line");
}

static int chunks(const char *s, size_t *used)
{
	struct http_chunked c = { 0 };
	bool done = false;
	ssize_t n = http_chunked_scan(&c, (const unsigned char *)s, strlen(s), &done);

	*used = n < 0 ? 0 : (size_t)n;
	return n < 0 ? (int)n : done;
}

static void chunked(void)
{
	size_t n;

	ok(chunks("5;x=y\r\nhello\r\n0\r\nT: v\r\n\r\nGET", &n) == 1 && n == 25,
	   "chunked: extension, trailer, ends before the next request");
	ok(chunks("5\r\nhel", &n) == 0 && n == 6, "chunked: cut: all consumed, not done");
	ok(chunks("5 \r\nhello\r\n0\r\n\r\n", &n) == -EBADMSG &&
	   chunks("5\nhello\r\n0\r\n\r\n", &n) == -EBADMSG &&
	   chunks("5\r\nhelloX\r\n", &n) == -EBADMSG &&
	   chunks("10000000000000000\r\n", &n) == -EBADMSG,
	   "chunked: space, bare LF, data overrun, size overflow refused");
}

static int names[4], n_names;

static int record(void *arg, const char *host)
{
	n_names++;
	return strcmp(host, "no.test") ? 0 : -EACCES;
}

static ssize_t stream(struct http_stream *st, const char *s)
{
	return http_stream_scan(st, (const unsigned char *)s, strlen(s), 64, record, NULL);
}

static void streams(void)
{
	struct http_stream st = { 0 };
	const char *two = "\r\nGET / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc"
			  "GET / HTTP/1.1\r\nHost: b\r\n\r\nGET / HTTP/1.1\r\nHo";

	(void)names;
	n_names = 0;
	ok(stream(&st, two) == (ssize_t)strlen(two) - 18 && n_names == 2 && !strcmp(st.host, "b"),
	   "stream: two requests pass, a cut third waits");
	memset(&st, 0, sizeof(st));
	ok(stream(&st, "GET / HTTP/1.1\r\nHost: a\r\n\r\nGET / HTTP/1.1\r\nHost: no.test\r\n\r\n") == -EACCES,
	   "stream: a refused host in the second request stops it");
	memset(&st, 0, sizeof(st));
	ok(stream(&st, "GET / HTTP/1.1\r\nX: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa") == -EMSGSIZE,
	   "stream: a head longer than the limit");
	memset(&st, 0, sizeof(st));
	ok(stream(&st, "GET / HTTP/1.1\r\nUpgrade: websocket\r\n\r\n\x81\x85GET / HTTP/1.1\r\nHost: no.test\r\n\r\n") > 0,
	   "stream: after an Upgrade, bytes that are no request pass as they are");
	memset(&st, 0, sizeof(st));
	ok(stream(&st, "GET / HTTP/1.1\r\nUpgrade: x\r\n\r\nGET / HTTP/1.1\r\nHost: no.test\r\n\r\n") == -EACCES,
	   "stream: after an Upgrade the server ignored, a request is still checked");
	ok(policy_check_unknown(&(struct policy){ .n_deny = 1 }) == -EACCES &&
	   policy_check_unknown(&(struct policy){ .n_deny = 1, .allow_unknown = true }) == 0 &&
	   policy_check_unknown(&(struct policy){ 0 }) == 0,
	   "policy: unknown host denied with a deny list, unless allowed");
}

/* Random bytes and mutated hellos: no crash, host always printable. */
static void noise(void)
{
	unsigned char m[4096];
	char h[SNIFF_HOST_MAX];
	static const char alphabet[] = "GET / HTTP/1.1\r\nHost: \x16\x03:@[]";
	size_t n, i, k;
	int good = 1;

	srand(1);
	for (i = 0; i < 200000; i++) {
		n = make_hello(m, "fuzz.example", 1 + rand() % 300);
		for (k = rand() % 4; k > 0; k--)
			m[rand() % n] = rand();
		if (i & 1) {
			n = rand() % sizeof(m);
			for (k = 0; k < n; k++)
				m[k] = alphabet[rand() % (sizeof(alphabet) - 1)];
		}
		n = rand() % (n + 1);
		sniff(m, n, h);
		for (k = 0; h[k]; k++)
			if (h[k] <= ' ' || h[k] >= 0x7f)
				good = 0;
	}
	ok(good, "200000 mutated inputs: no crash, printable hosts");
}

int main(void)
{
	http();
	tls();
	patterns();
	framing();
	chunked();
	streams();
	noise();
	return done();
}
