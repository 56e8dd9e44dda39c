// SPDX-License-Identifier: MIT
/*
 * wsa_proxy.c - a redirect service written the Windows way, over
 * <sockredir/winsock.h>.
 *
 * Each accepted connection is handled as Microsoft's WFPSampler helper
 * (HlprWinSockAssociateConnectionRedirectRecordsAndContextWithProxySocket)
 * does it: WSAIoctl QUERY_RECORDS into an 8192-byte buffer (any failure is
 * fatal), QUERY_CONTEXT into SOCKADDR_STORAGE[2] (FWP_E_NOT_FOUND means no
 * context), a new socket, SET_RECORDS on it before connect, connect to
 * context[0], then relay both ways until both sides close.
 *
 *   wsa_proxy [--name NAME] [--log FILE] ADDR:PORT...
 *	serve for ever; one log line per flow, when it ends
 *   wsa_proxy --conformance [--expect-dst ADDR:PORT] [--expect-hop N]
 *	     [--dump-records FILE] ... ADDR:PORT...
 *	accept one connection, check the IOCTL rules on it for real
 *	("ok - NAME" / "not ok - NAME" lines on stdout), then serve it, exit
 *   wsa_proxy --try-set FILE
 *	SET the records in FILE on a new socket; print the Winsock error
 *	(0 on success).  Used to check WSAEACCES as an unprivileged user.
 */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <arpa/inet.h>
#include <sys/socket.h>
#include <netinet/in.h>

#include <sockredir/winsock.h>
#include "wsa_tap.h"

#define RECORDS SIO_QUERY_WFP_CONNECTION_REDIRECT_RECORDS
#define CONTEXT SIO_QUERY_WFP_CONNECTION_REDIRECT_CONTEXT
#define SET	SIO_SET_WFP_CONNECTION_REDIRECT_RECORDS

static const char *name = "wsa";

/* ---- Relay --------------------------------------------------------------- */

struct pump {
	SOCKET from, to;
	unsigned long long bytes;
};

static void *pump(void *arg)
{
	struct pump *p = arg;
	char buf[16384];
	ssize_t n, w, off;

	while ((n = recv(p->from, buf, sizeof(buf), 0)) > 0) {
		for (off = 0; off < n; off += w) {
			w = send(p->to, buf + off, n - off, MSG_NOSIGNAL);
			if (w <= 0)
				goto out;
		}
		p->bytes += n;
	}
out:
	shutdown(p->to, SHUT_WR);
	if (n != 0)
		shutdown(p->from, SHUT_RD);
	return NULL;
}

/* Both directions until both sides close; returns bytes up and down. */
static void relay(SOCKET client, SOCKET server, unsigned long long *up,
		  unsigned long long *down)
{
	struct pump a = { client, server, 0 }, b = { server, client, 0 };
	pthread_t t;

	if (pthread_create(&t, NULL, pump, &b) != 0) {
		*up = *down = 0;
		return;
	}
	pump(&a);
	pthread_join(t, NULL);
	*up = a.bytes;
	*down = b.bytes;
}

/* ---- One connection, the Microsoft sample's way ------------------------ */

static void *serve(void *arg)
{
	SOCKET in = (SOCKET)(intptr_t)arg, out = INVALID_SOCKET;
	BYTE records[8192];
	SOCKADDR_STORAGE ctx[2];
	struct sockredir_context full;
	DWORD rec_size = 0, ctx_size = 0, full_size = 0, unused = 0;
	char dst[SOCKREDIR_ADDRSTRLEN], app[SOCKREDIR_ADDRSTRLEN];
	unsigned long long up, down;
	int err;

	if (WSAIoctl(in, RECORDS, NULL, 0, records, sizeof(records), &rec_size,
		     NULL, NULL) == SOCKET_ERROR) {
		log_line("%s error query-records %d", name, WSAGetLastError());
		goto cleanup;
	}
	if (WSAIoctl(in, CONTEXT, NULL, 0, ctx, sizeof(ctx), &ctx_size, NULL,
		     NULL) == SOCKET_ERROR) {
		err = WSAGetLastError();
		log_line("%s error query-context %s", name,
			 err == FWP_E_NOT_FOUND ? "no-context" : "failed");
		goto cleanup;
	}
	/* Not in the sample: the whole context, for the log. */
	memset(&full, 0, sizeof(full));
	WSAIoctl(in, CONTEXT, NULL, 0, &full, sizeof(full), &full_size, NULL,
		 NULL);

	out = socket(ctx[0].ss_family, SOCK_STREAM, IPPROTO_TCP);
	if (out == INVALID_SOCKET) {
		log_line("%s error socket %d", name, sockredir_wsa_error(0, errno));
		goto cleanup;
	}
	if (WSAIoctl(out, SET, records, rec_size, NULL, 0, &unused, NULL,
		     NULL) == SOCKET_ERROR) {
		log_line("%s error set-records %d", name, WSAGetLastError());
		goto cleanup;
	}
	if (connect(out, (SOCKADDR *)&ctx[0], addr_len(&ctx[0])) == SOCKET_ERROR) {
		log_line("%s error connect %d", name, sockredir_wsa_error(0, errno));
		goto cleanup;
	}
	relay(in, out, &up, &down);
	log_line("%s flow hop=%u flow_id=%llu service=%u dst=%s app=%s "
		 "records=%u context=%u up=%llu down=%llu", name,
		 full.sr.hop, (unsigned long long)full.sr.flow_id,
		 full.sr.service_id,
		 sockredir_format_addr(&ctx[0], dst, sizeof(dst)),
		 sockredir_format_addr(&ctx[1], app, sizeof(app)),
		 rec_size, full_size, up, down);
cleanup:
	if (out != INVALID_SOCKET)
		closesocket(out);
	closesocket(in);
	return NULL;
}

/* ---- Conformance, on a really redirected accepted socket ----------------- */


static int same_addr(const SOCKADDR_STORAGE *a, const SOCKADDR_STORAGE *b)
{
	char x[SOCKREDIR_ADDRSTRLEN], y[SOCKREDIR_ADDRSTRLEN];

	sockredir_format_addr(a, x, sizeof(x));
	sockredir_format_addr(b, y, sizeof(y));
	if (!strcmp(x, y))
		return 1;
	printf("# %s != %s\n", x, y);
	return 0;
}

static struct {
	int calls;
	DWORD err, bytes;
	LPWSAOVERLAPPED ov;
} cr;

static void routine(DWORD err, DWORD bytes, LPWSAOVERLAPPED ov, DWORD flags)
{
	cr.calls++;
	cr.err = err;
	cr.bytes = bytes;
	cr.ov = ov;
}

/* A connection the layer did not redirect: a loopback pair of our own. */
static SOCKET plain_accepted(SOCKET *cli)
{
	SOCKADDR_IN sin = { .sin_family = AF_INET,
			    .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(sin);
	SOCKET l = socket(AF_INET, SOCK_STREAM, 0), a = INVALID_SOCKET;

	*cli = socket(AF_INET, SOCK_STREAM, 0);
	if (bind(l, (SOCKADDR *)&sin, sizeof(sin)) == 0 && listen(l, 1) == 0 &&
	    getsockname(l, (SOCKADDR *)&sin, &len) == 0 &&
	    connect(*cli, (SOCKADDR *)&sin, len) == 0)
		a = accept(l, NULL, NULL);
	closesocket(l);
	return a;
}

static void conform_records(SOCKET acc, SOCKET listener, BYTE *rec, DWORD *n)
{
	BYTE buf[8192], buf2[2048];
	size_t native_len = sizeof(buf2);
	SOCKET cli, plain;
	DWORD ret, need;
	int rc;

	memset(rec, 0, 8192);
	*n = 0;
	rc = WSAIoctl(acc, RECORDS, NULL, 0, rec, 8192, n, NULL, NULL);
	check(rc == 0 && *n > 0 && *n <= SOCKREDIR_RECORDS_MAX,
	      "QUERY_RECORDS: 8192-byte buffer -> 0, 0 < size (%u) <= "
	      "SOCKREDIR_RECORDS_MAX", *n);
	rc = sockredir_query_records(acc, buf2, &native_len);
	check(rc == 0 && native_len == *n && !memcmp(buf2, rec, *n),
	      "QUERY_RECORDS: the same records as sockredir_query_records()");

	need = 0;
	check(fails(WSAIoctl(acc, RECORDS, NULL, 0, NULL, 0, &need, NULL, NULL),
		    ERROR_INSUFFICIENT_BUFFER) && need == *n,
	      "QUERY_RECORDS: size probe (NULL, 0) -> ERROR_INSUFFICIENT_BUFFER, "
	      "size needed");
	need = 0;
	check(fails(WSAIoctl(acc, RECORDS, NULL, 0, buf, 0, &need, NULL, NULL),
		    ERROR_INSUFFICIENT_BUFFER) && need == *n,
	      "QUERY_RECORDS: cbOutBuffer 0 -> ERROR_INSUFFICIENT_BUFFER, size needed");
	memset(buf, 0x55, sizeof(buf));
	need = 0;
	check(fails(WSAIoctl(acc, RECORDS, NULL, 0, buf, *n - 1, &need, NULL,
			     NULL), ERROR_INSUFFICIENT_BUFFER) &&
	      need == *n && buf[0] == 0x55,
	      "QUERY_RECORDS: buffer one byte short -> ERROR_INSUFFICIENT_BUFFER, "
	      "size needed, buffer untouched");
	ret = 0;
	rc = WSAIoctl(acc, RECORDS, NULL, 0, buf, *n, &ret, NULL, NULL);
	check(rc == 0 && ret == *n && !memcmp(buf, rec, *n),
	      "QUERY_RECORDS: buffer of exactly the size -> 0, same records");
	rc = WSAIoctl(acc, RECORDS, NULL, 0, buf2, sizeof(buf2), &ret, NULL, NULL);
	check(rc == 0 && ret == *n && !memcmp(buf2, rec, *n),
	      "QUERY_RECORDS: 2048-byte buffer (Envoy) -> 0, same records");
	rc = WSAIoctl(acc, RECORDS, buf2, 7, buf, sizeof(buf), &ret, NULL, NULL);
	check(rc == 0 && ret == *n, "QUERY_RECORDS: lpvInBuffer/cbInBuffer ignored");
	check(fails(WSAIoctl(acc, RECORDS, NULL, 0, buf, sizeof(buf), NULL, NULL,
			     NULL), WSAEFAULT),
	      "QUERY_RECORDS: lpcbBytesReturned NULL, not overlapped -> WSAEFAULT");
	check(fails(WSAIoctl(listener, RECORDS, NULL, 0, buf, sizeof(buf), &ret,
			     NULL, NULL), WSAENOTCONN),
	      "QUERY_RECORDS: on the listening socket -> WSAENOTCONN");

	plain = plain_accepted(&cli);
	ret = 77;
	check(fails(WSAIoctl(plain, RECORDS, NULL, 0, buf, sizeof(buf), &ret,
			     NULL, NULL), WSAEINVAL) && ret == 0,
	      "QUERY_RECORDS: connection not redirected -> WSAEINVAL, 0 bytes");
	check(fails(WSAIoctl(plain, RECORDS, NULL, 0, NULL, 0, &ret, NULL, NULL),
		    WSAEINVAL),
	      "QUERY_RECORDS: size probe on a connection not redirected -> WSAEINVAL");
	check(fails(WSAIoctl(plain, CONTEXT, NULL, 0, buf, sizeof(buf), &ret,
			     NULL, NULL), FWP_E_NOT_FOUND),
	      "QUERY_CONTEXT: connection not redirected -> FWP_E_NOT_FOUND");
	closesocket(plain);
	closesocket(cli);
}

static void conform_context(SOCKET acc, const SOCKADDR_STORAGE *expect_dst,
			    unsigned int expect_hop)
{
	struct sockredir_context full, parsed;
	SOCKADDR_STORAGE pair[2], peer, odst;
	BYTE buf[8192];
	socklen_t len = sizeof(peer);
	DWORD ret, need, full_size = 0;
	int rc;

	memset(&full, 0, sizeof(full));
	rc = WSAIoctl(acc, CONTEXT, NULL, 0, &full, sizeof(full), &full_size,
		      NULL, NULL);
	check(rc == 0 && full_size == sizeof(full),
	      "QUERY_CONTEXT: buffer of struct sockredir_context -> 0, its size");
	memset(&parsed, 0, sizeof(parsed));
	rc = sockredir_parse_context(&full, full_size, &parsed);
	check(rc == 0 && parsed.sr.hop == expect_hop,
	      "QUERY_CONTEXT: the sockredir block parses, hop %u (want %u)",
	      parsed.sr.hop, expect_hop);
	if (expect_dst->ss_family)
		check(same_addr(&full.remote, expect_dst),
		      "QUERY_CONTEXT: context[0] is the original destination");
	getpeername(acc, (SOCKADDR *)&peer, &len);
	check(expect_hop != 1 || same_addr(&full.local, &peer),
	      "QUERY_CONTEXT: context[1] is the application's end (the peer)");

	memset(pair, 0, sizeof(pair));
	ret = 0;
	rc = WSAIoctl(acc, CONTEXT, NULL, 0, pair, sizeof(pair), &ret, NULL, NULL);
	check(rc == 0 && ret == sizeof(pair) && same_addr(&pair[0], &full.remote) &&
	      same_addr(&pair[1], &full.local),
	      "QUERY_CONTEXT: SOCKADDR_STORAGE[2] (Microsoft's sample) -> 0, "
	      "256 bytes, both addresses");
	need = 0;
	check(fails(WSAIoctl(acc, CONTEXT, NULL, 0, NULL, 0, &need, NULL, NULL),
		    ERROR_INSUFFICIENT_BUFFER) && need == full_size,
	      "QUERY_CONTEXT: size probe -> ERROR_INSUFFICIENT_BUFFER, whole size");
	need = 0;
	check(fails(WSAIoctl(acc, CONTEXT, NULL, 0, buf, sizeof(pair) - 1, &need,
			     NULL, NULL), ERROR_INSUFFICIENT_BUFFER) &&
	      need == full_size,
	      "QUERY_CONTEXT: buffer below 256 bytes -> ERROR_INSUFFICIENT_BUFFER, "
	      "whole size");
	rc = WSAIoctl(acc, CONTEXT, NULL, 0, buf, sizeof(buf), &ret, NULL, NULL);
	check(rc == 0 && ret == full_size && !memcmp(buf, &full, full_size),
	      "QUERY_CONTEXT: large buffer -> 0, exact size, same bytes");

	if (full.remote.ss_family == AF_INET) {
		len = sizeof(odst);
		rc = getsockopt(acc, SOL_IP, SO_ORIGINAL_DST, &odst, &len);
		check(rc == 0 && same_addr(&odst, &full.remote),
		      "SO_ORIGINAL_DST at SOL_IP: the original destination");
	} else {
		len = sizeof(odst);
		rc = getsockopt(acc, SOL_IPV6, IP6T_SO_ORIGINAL_DST, &odst, &len);
		check(rc == 0 && same_addr(&odst, &full.remote),
		      "IP6T_SO_ORIGINAL_DST at SOL_IPV6: the original destination");
	}
}

static void conform_overlapped(SOCKET acc, DWORD n)
{
	WSAOVERLAPPED ov;
	WSAEVENT ev = WSACreateEvent();
	BYTE buf[8192];
	DWORD ret = 0, got = 0, flags = 1;
	int rc, err = 0;

	memset(&ov, 0, sizeof(ov));
	ov.hEvent = ev;
	rc = WSAIoctl(acc, RECORDS, NULL, 0, buf, sizeof(buf), &ret, &ov, NULL);
	check(rc == 0 && ret == n && ov.Internal == 0 && ov.InternalHigh == n &&
	      WaitForSingleObject(ev, 0) == WAIT_OBJECT_0,
	      "overlapped QUERY_RECORDS with hEvent -> 0 at once, event signalled");
	check(WSAGetOverlappedResult(acc, &ov, &got, FALSE, &flags) && got == n &&
	      flags == 0, "WSAGetOverlappedResult -> TRUE and the size");

	memset(&ov, 0, sizeof(ov));
	memset(&cr, 0, sizeof(cr));
	rc = WSAIoctl(acc, CONTEXT, NULL, 0, buf, sizeof(buf), NULL, &ov, routine);
	check(rc == 0 && cr.calls == 0,
	      "overlapped QUERY_CONTEXT with a routine -> 0, routine not yet run");
	check(SleepEx(0, TRUE) == WAIT_IO_COMPLETION && cr.calls == 1 &&
	      cr.err == 0 && cr.bytes == sizeof(struct sockredir_context) &&
	      cr.ov == &ov,
	      "completion routine runs in the next alertable wait, with the size");

	rc = WSPIoctl(acc, RECORDS, NULL, 0, buf, 1, &ret, NULL, NULL, NULL, &err);
	check(rc == SOCKET_ERROR && err == ERROR_INSUFFICIENT_BUFFER && ret == n,
	      "WSPIoctl QUERY_RECORDS, small buffer -> *lpErrno "
	      "ERROR_INSUFFICIENT_BUFFER, size needed");
	WSACloseEvent(ev);
}

static void conform_set(SOCKET acc, const BYTE *rec, DWORD n, int family)
{
	BYTE bad[SOCKREDIR_RECORDS_MAX];
	WSAOVERLAPPED ov;
	WSAEVENT ev = WSACreateEvent();
	SOCKET s;
	DWORD ret;
	int rc;

	s = socket(family, SOCK_STREAM, IPPROTO_TCP);
	ret = 77;
	rc = WSAIoctl(s, SET, (LPVOID)rec, n, NULL, 0, &ret, NULL, NULL);
	check(rc == 0 && ret == 0,
	      "SET: the queried records on a new socket -> 0, 0 bytes returned");
	closesocket(s);

	s = socket(family, SOCK_STREAM, IPPROTO_TCP);
	check(fails(WSAIoctl(s, SET, (LPVOID)rec, n - 1, NULL, 0, &ret, NULL,
			     NULL), WSAEINVAL),
	      "SET: truncated records -> WSAEINVAL");
	memcpy(bad, rec, n);
	bad[n / 2] ^= 0x01;
	check(fails(WSAIoctl(s, SET, bad, n, NULL, 0, &ret, NULL, NULL),
		    WSAEINVAL), "SET: records edited in the middle -> WSAEINVAL");
	memcpy(bad, rec, n);
	bad[n - 1] ^= 0x80;
	check(fails(WSAIoctl(s, SET, bad, n, NULL, 0, &ret, NULL, NULL),
		    WSAEINVAL), "SET: records edited at the end -> WSAEINVAL");
	memset(bad, 0, sizeof(bad));
	check(fails(WSAIoctl(s, SET, bad, n, NULL, 0, &ret, NULL, NULL),
		    WSAEINVAL), "SET: made-up records (zeros) -> WSAEINVAL");
	check(fails(WSAIoctl(s, SET, (LPVOID)rec, n, bad, 4, &ret, NULL, NULL),
		    WSAEINVAL), "SET: cbOutBuffer != 0 -> WSAEINVAL");
	check(fails(WSAIoctl(s, SET, (LPVOID)rec, n, NULL, 0, NULL, NULL, NULL),
		    WSAEFAULT),
	      "SET: lpcbBytesReturned NULL, not overlapped -> WSAEFAULT");
	check(fails(WSAIoctl(s, SET, NULL, n, NULL, 0, &ret, NULL, NULL),
		    WSAEFAULT), "SET: lpvInBuffer NULL, cbInBuffer != 0 -> WSAEFAULT");
	memset(&ov, 0, sizeof(ov));
	ov.hEvent = ev;
	rc = WSAIoctl(s, SET, (LPVOID)rec, n, NULL, 0, NULL, &ov, NULL);
	check(rc == 0 && ov.Internal == 0 && WaitForSingleObject(ev, 0) == WAIT_OBJECT_0,
	      "SET overlapped, after refused attempts on the same socket -> 0, "
	      "event signalled");
	closesocket(s);

	check(fails(WSAIoctl(acc, SET, (LPVOID)rec, n, NULL, 0, &ret, NULL, NULL),
		    WSAEISCONN), "SET: on a connected (the accepted) socket -> WSAEISCONN");
	s = socket(family, SOCK_DGRAM, 0);
	check(fails(WSAIoctl(s, SET, (LPVOID)rec, n, NULL, 0, &ret, NULL, NULL),
		    WSAEINVAL), "SET: on a UDP socket -> WSAEINVAL");
	closesocket(s);
	WSACloseEvent(ev);
}

#define MAX_LISTEN 4

/* The next connection on any of the listeners; *@which is its listener. */
static SOCKET accept_any(const SOCKET *l, int n, SOCKET *which)
{
	struct pollfd p[MAX_LISTEN];
	int i;

	for (i = 0; i < n; i++)
		p[i] = (struct pollfd){ .fd = l[i], .events = POLLIN };
	for (;;) {
		if (poll(p, n, -1) < 0)
			continue;
		for (i = 0; i < n; i++) {
			if (p[i].revents & POLLIN) {
				*which = l[i];
				return accept(l[i], NULL, NULL);
			}
		}
	}
}

static int conformance(const SOCKET *l, int nl, const SOCKADDR_STORAGE *expect_dst,
		       unsigned int expect_hop, const char *dump)
{
	BYTE rec[8192];
	DWORD n;
	SOCKET listener, acc = accept_any(l, nl, &listener);
	SOCKADDR_STORAGE self;
	socklen_t len = sizeof(self);
	FILE *f;

	if (acc == INVALID_SOCKET) {
		perror("accept");
		return 1;
	}
	getsockname(acc, (SOCKADDR *)&self, &len);
	conform_records(acc, listener, rec, &n);
	conform_context(acc, expect_dst, expect_hop);
	conform_overlapped(acc, n);
	if (n > 1)
		conform_set(acc, rec, n, self.ss_family);
	if (dump && (f = fopen(dump, "w"))) {
		fwrite(rec, 1, n, f);
		fclose(f);
	}
	serve((void *)(intptr_t)acc);
	return tap_failed ? 1 : 0;
}

/* ---- The unprivileged SET -------------------------------------------------- */

static int try_set(const char *path)
{
	BYTE rec[8192];
	DWORD ret;
	size_t n = 0;
	FILE *f = fopen(path, "r");
	SOCKET s = socket(AF_INET, SOCK_STREAM, IPPROTO_TCP);

	if (!f) {
		perror(path);
		return 1;
	}
	n = fread(rec, 1, sizeof(rec), f);
	fclose(f);
	if (WSAIoctl(s, SET, rec, (DWORD)n, NULL, 0, &ret, NULL, NULL) == 0)
		printf("0\n");
	else
		printf("%d\n", WSAGetLastError());
	closesocket(s);
	return 0;
}

/* ---- Main ---------------------------------------------------------------- */

static void usage(FILE *f)
{
	fprintf(f, "usage: wsa_proxy [--name NAME] [--log FILE] [--conformance "
		"[--expect-dst ADDR:PORT] [--expect-hop N] [--dump-records FILE]] "
		"ADDR:PORT...\n       wsa_proxy --try-set FILE\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "name", required_argument, NULL, 'n' },
		{ "log", required_argument, NULL, 'l' },
		{ "conformance", no_argument, NULL, 'c' },
		{ "expect-dst", required_argument, NULL, 'd' },
		{ "expect-hop", required_argument, NULL, 'H' },
		{ "dump-records", required_argument, NULL, 'D' },
		{ "try-set", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	SOCKADDR_STORAGE addr, expect_dst;
	const char *dump = NULL;
	unsigned int expect_hop = 1;
	int c, nl, conform = 0, one = 1;
	WSADATA wsa;
	SOCKET l[MAX_LISTEN];

	memset(&expect_dst, 0, sizeof(expect_dst));
	log_file = stderr;
	while ((c = getopt_long(argc, argv, "n:l:h", opts, NULL)) != -1) {
		switch (c) {
		case 'n': name = optarg; break;
		case 'l':
			log_file = fopen(optarg, "a");
			if (!log_file) {
				perror(optarg);
				return 1;
			}
			break;
		case 'c': conform = 1; break;
		case 'd':
			if (sockredir_parse_addr(optarg, &expect_dst) < 0) {
				usage(stderr);
				return 2;
			}
			break;
		case 'H': expect_hop = (unsigned int)atoi(optarg); break;
		case 'D': dump = optarg; break;
		case 't': return try_set(optarg);
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind == argc || argc - optind > MAX_LISTEN) {
		usage(stderr);
		return 2;
	}
	WSAStartup(MAKEWORD(2, 2), &wsa);
	for (nl = 0; optind < argc; optind++, nl++) {
		if (sockredir_parse_addr(argv[optind], &addr) < 0) {
			usage(stderr);
			return 2;
		}
		l[nl] = socket(addr.ss_family, SOCK_STREAM, IPPROTO_TCP);
		setsockopt(l[nl], SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (l[nl] == INVALID_SOCKET ||
		    bind(l[nl], (SOCKADDR *)&addr, addr_len(&addr)) ||
		    listen(l[nl], 64)) {
			perror(argv[optind]);
			return 1;
		}
		/* The one call a Windows service adds on Linux: WFP names the
		 * target process in the driver, sockredir claims the listener. */
		if (name && sockredir_claim(l[nl], name) < 0 && errno != ENOPROTOOPT) {
			perror("sockredir_claim");
			return 1;
		}
	}
	if (conform)
		return conformance(l, nl, &expect_dst, expect_hop, dump);
	for (;;) {
		SOCKET which, s = accept_any(l, nl, &which);
		pthread_t t;

		if (s == INVALID_SOCKET)
			continue;
		if (pthread_create(&t, NULL, serve, (void *)(intptr_t)s) != 0)
			closesocket(s);
		else
			pthread_detach(t);
	}
}
