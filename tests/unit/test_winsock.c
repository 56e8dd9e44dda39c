// SPDX-License-Identifier: MIT
/*
 * test_winsock.c - conformance of <sockredir/winsock.h>: one case per
 * parameter rule and error code of the three WFP redirect control codes,
 * named after the rule, plus events, overlapped completion and WSPIoctl.
 *
 * Needs no privilege and no redirect layer.  getsockopt()/setsockopt() at
 * SOL_SOCKREDIR are answered by a fake layer defined here (the executable's
 * definitions win over libc's for libsockredir.a), which follows the kernel
 * ABI of <sockredir.h>: records/context on one chosen fd, ENOENT on other
 * sockets, ERANGE for a short buffer, injected errnos.  With the fake off,
 * calls reach the real kernel.  tests/integration/winsock.sh runs the same
 * rules against the real layer.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/syscall.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include "tap.h"
/* This file defines libc's getsockopt/setsockopt itself (the fake). */
#define SOCKREDIR_WINSOCK_NO_SOCKOPT_MACROS
#include <sockredir/winsock.h>

#define REC_LEN 48

static struct {
	int on;
	int fd;			/* the one "redirected" socket */
	int get_errno;		/* inject: getsockopt fails with this */
	int set_errno;		/* inject: setsockopt fails with this */
	uint8_t records[SOCKREDIR_RECORDS_MAX];
	socklen_t rec_len;
	struct sockredir_context ctx;
	socklen_t ctx_len;
	int set_calls;
	uint8_t set_buf[512];
	socklen_t set_len;
} fake;

int getsockopt(int fd, int level, int name, void *val, socklen_t *len)
{
	const void *src;
	socklen_t n;

	if (!fake.on || level != SOL_SOCKREDIR)
		return syscall(SYS_getsockopt, fd, level, name, val, len);
	if (fake.get_errno) {
		errno = fake.get_errno;
		return -1;
	}
	if (fd != fake.fd) {
		errno = ENOENT;
		return -1;
	}
	src = name == SOCKREDIR_RECORDS ? (void *)fake.records : (void *)&fake.ctx;
	n = name == SOCKREDIR_RECORDS ? fake.rec_len : fake.ctx_len;
	if (*len < n) {
		errno = ERANGE;
		return -1;
	}
	memcpy(val, src, n);
	*len = n;
	return 0;
}

int setsockopt(int fd, int level, int name, const void *val, socklen_t len)
{
	if (!fake.on || level != SOL_SOCKREDIR)
		return syscall(SYS_setsockopt, fd, level, name, val, len);
	fake.set_calls++;
	fake.set_len = len < sizeof(fake.set_buf) ? len : sizeof(fake.set_buf);
	memcpy(fake.set_buf, val, fake.set_len);
	if (fake.set_errno) {
		errno = fake.set_errno;
		return -1;
	}
	if (len != fake.rec_len || memcmp(val, fake.records, len)) {
		errno = EINVAL;
		return -1;
	}
	return 0;
}

static void fake_layer(int fd)
{
	struct sockaddr_in *r = (struct sockaddr_in *)&fake.ctx.remote;
	struct sockaddr_in *l = (struct sockaddr_in *)&fake.ctx.local;
	int i;

	memset(&fake, 0, sizeof(fake));
	fake.on = 1;
	fake.fd = fd;
	for (i = 0; i < REC_LEN; i++)
		fake.records[i] = (uint8_t)(0xA0 + i);
	fake.rec_len = REC_LEN;
	r->sin_family = AF_INET;
	r->sin_port = htons(8080);
	r->sin_addr.s_addr = htonl(0x7f000002);
	l->sin_family = AF_INET;
	l->sin_port = htons(40000);
	l->sin_addr.s_addr = htonl(0x7f000001);
	fake.ctx.sr.version = SOCKREDIR_CONTEXT_VERSION;
	fake.ctx.sr.size = sizeof(fake.ctx.sr);
	fake.ctx.sr.hop = 1;
	fake.ctx_len = sizeof(fake.ctx);
}

static void fake_off(void)
{
	fake.on = 0;
}

/* ---- Sockets --------------------------------------------------------------- */

static int listener(int family)
{
	struct sockaddr_storage ss = { .ss_family = family };
	int fd = socket(family, SOCK_STREAM, 0);

	if (family == AF_INET)
		((struct sockaddr_in *)&ss)->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	else
		((struct sockaddr_in6 *)&ss)->sin6_addr = in6addr_loopback;
	if (fd < 0 || bind(fd, (struct sockaddr *)&ss, sizeof(ss)) < 0 ||
	    listen(fd, 8) < 0) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

/* A connected loopback pair: *cli connected, *acc accepted.  0 or -1. */
static int tcp_pair(int family, int *cli, int *acc)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	int l = listener(family);

	*cli = *acc = -1;
	if (l < 0)
		return -1;
	getsockname(l, (struct sockaddr *)&ss, &len);
	*cli = socket(family, SOCK_STREAM, 0);
	if (connect(*cli, (struct sockaddr *)&ss, len) == 0)
		*acc = accept(l, NULL, NULL);
	close(l);
	return *acc < 0 ? -1 : 0;
}

static int tcp_socket(void)
{
	return socket(AF_INET, SOCK_STREAM, 0);
}

/* ---- Short forms ---------------------------------------------------------- */

static const DWORD codes[3] = {
	SIO_QUERY_WFP_CONNECTION_REDIRECT_RECORDS,
	SIO_QUERY_WFP_CONNECTION_REDIRECT_CONTEXT,
	SIO_SET_WFP_CONNECTION_REDIRECT_RECORDS,
};
static const char *const names[3] = { "QUERY_RECORDS", "QUERY_CONTEXT", "SET" };

static uint8_t junk[16] = { 1, 2, 3, 4 };

/* Each code with arguments that are valid apart from the socket. */
static int call(SOCKET s, int i, DWORD *ret)
{
	static uint8_t out[8192];

	if (codes[i] == SIO_SET_WFP_CONNECTION_REDIRECT_RECORDS)
		return WSAIoctl(s, codes[i], junk, sizeof(junk), NULL, 0, ret,
				NULL, NULL);
	return WSAIoctl(s, codes[i], NULL, 0, out, sizeof(out), ret, NULL, NULL);
}

/* Did the call fail with SOCKET_ERROR and error @want? */
static int fails(int rc, int want)
{
	int got = WSAGetLastError();

	if (rc == SOCKET_ERROR && got == want)
		return 1;
	printf("# rc %d, WSAGetLastError() %d (0x%x), wanted %d (0x%x)\n",
	       rc, got, got, want, want);
	return 0;
}

static int query(SOCKET s, DWORD code, void *out, DWORD cb, DWORD *ret)
{
	return WSAIoctl(s, code, NULL, 0, out, cb, ret, NULL, NULL);
}

#define RECORDS SIO_QUERY_WFP_CONNECTION_REDIRECT_RECORDS
#define CONTEXT SIO_QUERY_WFP_CONNECTION_REDIRECT_CONTEXT
#define SET	SIO_SET_WFP_CONNECTION_REDIRECT_RECORDS

/* ---- Constants ------------------------------------------------------------ */

static void test_constants(void)
{
	ok(SIO_QUERY_WFP_CONNECTION_REDIRECT_RECORDS == 0x980000DCu &&
	   SIO_QUERY_WFP_CONNECTION_REDIRECT_CONTEXT == 0x980000DDu &&
	   SIO_SET_WFP_CONNECTION_REDIRECT_RECORDS == 0x980000DEu,
	   "constants: the three control codes are 0x980000DC/DD/DE");
	ok(_WSAIOW(IOC_VENDOR, 220) == 0x980000DCu && IOC_IN == 0x80000000u &&
	   IOC_VENDOR == 0x18000000u, "constants: _WSAIOW(IOC_VENDOR, n) = IOC_IN | IOC_VENDOR | n");
	ok(IP_WFP_REDIRECT_RECORDS == 60 && IP_WFP_REDIRECT_CONTEXT == 70 &&
	   IPV6_WFP_REDIRECT_RECORDS == 60 && IPV6_WFP_REDIRECT_CONTEXT == 70,
	   "constants: IP(V6)_WFP_REDIRECT_RECORDS 60, _CONTEXT 70");
	ok((uint32_t)FWP_E_NOT_FOUND == 0x80320008u && FWP_E_NOT_FOUND < 0,
	   "constants: FWP_E_NOT_FOUND is the HRESULT 0x80320008");
	ok(SO_ORIGINAL_DST == 80 && SOL_IP == 0 && IP6T_SO_ORIGINAL_DST == 80,
	   "constants: SO_ORIGINAL_DST is Linux's 80 at SOL_IP");
	ok(WSAEINTR == 10004 && WSAEACCES == 10013 && WSAEFAULT == 10014 &&
	   WSAEINVAL == 10022 && WSAEINPROGRESS == 10036 &&
	   WSAENOTSOCK == 10038 && WSAENOPROTOOPT == 10042 &&
	   WSAEOPNOTSUPP == 10045 && WSAENETDOWN == 10050 &&
	   WSAEISCONN == 10056 && WSAENOTCONN == 10057 &&
	   WSAECONNREFUSED == 10061 && WSAELOOP == 10062 &&
	   WSA_IO_PENDING == 997 && WSA_IO_INCOMPLETE == 996 &&
	   WSA_OPERATION_ABORTED == 995 && WSA_INVALID_HANDLE == 6 &&
	   WSA_INVALID_PARAMETER == 87 && ERROR_INSUFFICIENT_BUFFER == 122,
	   "constants: Winsock error codes have their Windows values");
	ok(SOCKET_ERROR == -1 && INVALID_SOCKET == -1 && sizeof(DWORD) == 4 &&
	   sizeof(ULONG) == 4 && sizeof(SOCKADDR_STORAGE) == 128,
	   "constants: SOCKET_ERROR, INVALID_SOCKET, 32-bit DWORD/ULONG");
	ok(offsetof(struct sockredir_context, sr) == 2 * sizeof(SOCKADDR_STORAGE),
	   "constants: the context begins with SOCKADDR_STORAGE[2]");
}

/* ---- Rules that need no layer ----------------------------------------- */

static void *other_thread_error(void *arg)
{
	*(int *)arg = WSAGetLastError();
	WSASetLastError(WSAEINTR);
	return NULL;
}

static void test_last_error(void)
{
	pthread_t t;
	int seen = -1;

	WSASetLastError(WSAEACCES);
	ok(WSAGetLastError() == WSAEACCES, "WSASetLastError/WSAGetLastError round trip");
	pthread_create(&t, NULL, other_thread_error, &seen);
	pthread_join(t, NULL);
	ok(seen == 0 && WSAGetLastError() == WSAEACCES,
	   "WSAGetLastError is per thread (0 in a new thread, untouched here)");
}

static void test_not_socket(void)
{
	char path[] = "/tmp/test_winsock.XXXXXX";
	int p[2], file, closed, i;
	DWORD ret;

	if (pipe(p) < 0)
		return;
	file = mkstemp(path);
	unlink(path);
	closed = dup(p[0]);
	close(closed);
	for (i = 0; i < 3; i++) {
		ok(fails(call(p[0], i, &ret), WSAENOTSOCK),
		   "%s: s is a pipe -> WSAENOTSOCK", names[i]);
		ok(fails(call(file, i, &ret), WSAENOTSOCK),
		   "%s: s is a regular file -> WSAENOTSOCK", names[i]);
		ok(fails(call(closed, i, &ret), WSAENOTSOCK),
		   "%s: s is a closed descriptor -> WSAENOTSOCK", names[i]);
		ok(fails(call(INVALID_SOCKET, i, &ret), WSAENOTSOCK),
		   "%s: s is INVALID_SOCKET -> WSAENOTSOCK", names[i]);
	}
	ok(fails(WSAIoctl(p[0], 0x12345678, NULL, 0, NULL, 0, NULL, NULL, NULL),
		 WSAENOTSOCK),
	   "order: not a socket is reported before a bad code or NULL pointer");
	close(p[0]);
	close(p[1]);
	close(file);
}

static void test_bad_code(void)
{
	int cli, acc, s = tcp_socket();
	DWORD ret, bad[] = {
		0, 0x12345678,
		_WSAIOR(IOC_VENDOR, 205),	/* SIO_QUERY_WFP_ALE_ENDPOINT_HANDLE */
		_WSAIOW(IOC_VENDOR, 223),
		_WSAIOW(IOC_VENDOR, 4),		/* SIO_KEEPALIVE_VALS */
		0x980000DC & ~IOC_IN,		/* right number, wrong direction */
	};
	uint8_t out[64];
	size_t i;
	int all = 1;

	tcp_pair(AF_INET, &cli, &acc);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		all &= fails(WSAIoctl(s, bad[i], junk, sizeof(junk), out,
				      sizeof(out), &ret, NULL, NULL), WSAEINVAL);
		all &= fails(WSAIoctl(acc, bad[i], NULL, 0, out, sizeof(out),
				      &ret, NULL, NULL), WSAEINVAL);
	}
	ok(all, "any code: dwIoControlCode not one of the three -> WSAEINVAL");
	ok(fails(WSAIoctl(s, 0x12345678, NULL, 0, NULL, 0, NULL, NULL, NULL),
		 WSAEINVAL),
	   "order: a bad code is reported before a NULL lpcbBytesReturned");
	close(s);
	close(cli);
	close(acc);
}

static void test_null_bytes_returned(void)
{
	int cli, acc, s = tcp_socket(), i;
	uint8_t out[8192];

	tcp_pair(AF_INET, &cli, &acc);
	for (i = 0; i < 3; i++) {
		int fd = i == 2 ? s : acc;
		int rc = i == 2 ?
			WSAIoctl(fd, codes[i], junk, sizeof(junk), NULL, 0,
				 NULL, NULL, NULL) :
			WSAIoctl(fd, codes[i], NULL, 0, out, sizeof(out),
				 NULL, NULL, NULL);

		ok(fails(rc, WSAEFAULT),
		   "%s: lpcbBytesReturned NULL, not overlapped -> WSAEFAULT",
		   names[i]);
	}
	close(s);
	close(cli);
	close(acc);
}

static void test_not_tcp(void)
{
	int udp = socket(AF_INET, SOCK_DGRAM, 0);
	int udp6 = socket(AF_INET6, SOCK_DGRAM, 0);
	int sp[2], i;
	DWORD ret;

	socketpair(AF_UNIX, SOCK_STREAM, 0, sp);
	for (i = 0; i < 3; i++) {
		ok(fails(call(udp, i, &ret), WSAEINVAL),
		   "%s: s is a UDP socket -> WSAEINVAL", names[i]);
		ok(fails(call(sp[0], i, &ret), WSAEINVAL),
		   "%s: s is an AF_UNIX stream socket -> WSAEINVAL", names[i]);
	}
	if (udp6 >= 0) {
		ok(fails(call(udp6, 2, &ret), WSAEINVAL),
		   "SET: s is a UDP6 socket -> WSAEINVAL");
		close(udp6);
	}
	/* The connected-UDP case: still a datagram socket. */
	{
		struct sockaddr_in sin = { .sin_family = AF_INET,
					   .sin_port = htons(9),
					   .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };

		connect(udp, (struct sockaddr *)&sin, sizeof(sin));
		ok(fails(call(udp, 0, &ret), WSAEINVAL),
		   "QUERY_RECORDS: s is a connected UDP socket -> WSAEINVAL");
	}
	ok(fails(WSAIoctl(udp, SET, junk, sizeof(junk), NULL, 0, NULL, NULL,
			  NULL), WSAEFAULT),
	   "order: NULL lpcbBytesReturned is reported before the socket type");
	ok(fails(WSAIoctl(udp, SET, NULL, 4, NULL, 0, &ret, NULL, NULL),
		 WSAEFAULT),
	   "order: SET's argument checks run before the socket type");
	close(udp);
	close(sp[0]);
	close(sp[1]);
}

static void test_query_state(void)
{
	int s = tcp_socket(), l = listener(AF_INET), i;
	DWORD ret;

	for (i = 0; i < 2; i++) {
		ok(fails(call(s, i, &ret), WSAENOTCONN),
		   "%s: s not connected -> WSAENOTCONN", names[i]);
		ok(fails(call(l, i, &ret), WSAENOTCONN),
		   "%s: s is the listening socket -> WSAENOTCONN", names[i]);
	}
	close(s);
	close(l);
}

static void test_set_args(void)
{
	int s = tcp_socket(), l = listener(AF_INET), cli, acc;
	uint8_t big[SOCKREDIR_RECORDS_MAX + 1] = { 0 }, out[16];
	DWORD ret;

	tcp_pair(AF_INET, &cli, &acc);
	ok(fails(WSAIoctl(s, SET, junk, sizeof(junk), out, sizeof(out), &ret,
			  NULL, NULL), WSAEINVAL),
	   "SET: cbOutBuffer != 0 -> WSAEINVAL");
	ok(fails(WSAIoctl(s, SET, junk, sizeof(junk), NULL, 1, &ret, NULL,
			  NULL), WSAEINVAL),
	   "SET: cbOutBuffer != 0 with lpvOutBuffer NULL -> WSAEINVAL");
	ok(fails(WSAIoctl(s, SET, NULL, 16, NULL, 0, &ret, NULL, NULL),
		 WSAEFAULT),
	   "SET: lpvInBuffer NULL with cbInBuffer != 0 -> WSAEFAULT");
	ok(fails(WSAIoctl(s, SET, NULL, 0, NULL, 0, &ret, NULL, NULL),
		 WSAEINVAL),
	   "SET: no records (lpvInBuffer NULL, cbInBuffer 0) -> WSAEINVAL");
	ok(fails(WSAIoctl(s, SET, junk, 0, NULL, 0, &ret, NULL, NULL),
		 WSAEINVAL),
	   "SET: cbInBuffer 0 -> WSAEINVAL");
	ok(fails(WSAIoctl(s, SET, big, sizeof(big), NULL, 0, &ret, NULL, NULL),
		 WSAEINVAL),
	   "SET: cbInBuffer above SOCKREDIR_RECORDS_MAX -> WSAEINVAL");
	ok(fails(WSAIoctl(cli, SET, junk, sizeof(junk), NULL, 0, &ret, NULL,
			  NULL), WSAEISCONN),
	   "SET: s already connected -> WSAEISCONN");
	ok(fails(WSAIoctl(acc, SET, junk, sizeof(junk), NULL, 0, &ret, NULL,
			  NULL), WSAEISCONN),
	   "SET: s is an accepted socket -> WSAEISCONN");
	ok(fails(WSAIoctl(l, SET, junk, sizeof(junk), NULL, 0, &ret, NULL,
			  NULL), WSAEINVAL),
	   "SET: s is listening -> WSAEINVAL");
	close(s);
	close(l);
	close(cli);
	close(acc);
}

/* The real kernel, no layer here: ENOPROTOOPT -> WSAEOPNOTSUPP. */
static void test_layer_absent(void)
{
	int s = tcp_socket(), cli, acc, i, probe, layer;
	socklen_t len = sizeof(probe);
	DWORD ret = 77;

	fake_off();
	tcp_pair(AF_INET, &cli, &acc);
	/* Linux answers an unknown level with ENOPROTOOPT, or EOPNOTSUPP
	 * from IPv4's getsockopt. */
	layer = getsockopt(acc, SOL_SOCKREDIR, SOCKREDIR_RECORDS, &probe,
			   &len) == 0 ||
		(errno != ENOPROTOOPT && errno != EOPNOTSUPP);
	for (i = 0; i < 3; i++) {
		if (layer) {
			ok(1, "%s: layer absent -> WSAEOPNOTSUPP # SKIP the "
			   "layer covers this process's cgroup", names[i]);
			continue;
		}
		ok(fails(call(i == 2 ? s : acc, i, &ret), WSAEOPNOTSUPP),
		   "%s: layer absent (kernel's own answer) -> WSAEOPNOTSUPP",
		   names[i]);
	}
	ret = 77;
	WSAIoctl(acc, RECORDS, NULL, 0, junk, sizeof(junk), &ret, NULL, NULL);
	ok(ret == 0, "any code: on failure *lpcbBytesReturned is 0");
	close(s);
	close(cli);
	close(acc);
}

/* ---- Queries against the fake layer ------------------------------------- */

static void test_query_records(void)
{
	int cli, acc, cli2, acc2;
	uint8_t out[8192], *heap;
	DWORD ret, need;
	int rc;

	tcp_pair(AF_INET, &cli, &acc);
	tcp_pair(AF_INET, &cli2, &acc2);
	fake_layer(acc);

	memset(out, 0, sizeof(out));
	ret = 0;
	rc = query(acc, RECORDS, out, sizeof(out), &ret);
	ok(rc == 0 && ret == REC_LEN && !memcmp(out, fake.records, REC_LEN),
	   "QUERY_RECORDS: large buffer (8192, Microsoft's sample) -> 0, the "
	   "records, exact size in *lpcbBytesReturned");
	rc = query(acc, RECORDS, out, 2048, &ret);
	ok(rc == 0 && ret == REC_LEN, "QUERY_RECORDS: 2048-byte buffer (Envoy) -> 0");

	ret = 0;
	ok(fails(query(acc, RECORDS, out, 0, &ret), ERROR_INSUFFICIENT_BUFFER) &&
	   ret == REC_LEN,
	   "QUERY_RECORDS: size probe, cbOutBuffer 0 -> ERROR_INSUFFICIENT_BUFFER "
	   "and the size needed");
	ret = 0;
	ok(fails(query(acc, RECORDS, NULL, 0, &ret), ERROR_INSUFFICIENT_BUFFER) &&
	   ret == REC_LEN,
	   "QUERY_RECORDS: size probe, lpvOutBuffer NULL and 0 -> "
	   "ERROR_INSUFFICIENT_BUFFER and the size needed");
	ret = 0;
	ok(fails(query(acc, RECORDS, NULL, 4096, &ret), ERROR_INSUFFICIENT_BUFFER) &&
	   ret == REC_LEN,
	   "QUERY_RECORDS: lpvOutBuffer NULL with cbOutBuffer != 0 is a size "
	   "probe -> ERROR_INSUFFICIENT_BUFFER and the size needed");
	memset(out, 0x55, sizeof(out));
	ret = 0;
	ok(fails(query(acc, RECORDS, out, REC_LEN - 1, &ret),
		 ERROR_INSUFFICIENT_BUFFER) && ret == REC_LEN && out[0] == 0x55,
	   "QUERY_RECORDS: buffer one byte short -> ERROR_INSUFFICIENT_BUFFER, "
	   "size needed, buffer untouched");
	ok(fails(query(acc, RECORDS, out, sizeof(ULONG), &ret),
		 ERROR_INSUFFICIENT_BUFFER) && ret == REC_LEN,
	   "QUERY_RECORDS: buffer smaller than a ULONG -> "
	   "ERROR_INSUFFICIENT_BUFFER (not WSAEINVAL), size needed");

	/* rama: probe, then a pointer-aligned buffer of that size */
	need = 0;
	query(acc, RECORDS, NULL, 0, &need);
	heap = aligned_alloc(sizeof(void *), (need + 7) & ~7u);
	ret = 0;
	rc = query(acc, RECORDS, heap, need, &ret);
	ok(rc == 0 && ret == need && !memcmp(heap, fake.records, need),
	   "QUERY_RECORDS: buffer of exactly the probed size -> 0, same records");
	free(heap);

	ret = 0;
	rc = WSAIoctl(acc, RECORDS, junk, sizeof(junk), out, sizeof(out), &ret,
		      NULL, NULL);
	ok(rc == 0 && ret == REC_LEN,
	   "QUERY_RECORDS: lpvInBuffer/cbInBuffer are ignored");

	ret = 77;
	ok(fails(query(acc2, RECORDS, out, sizeof(out), &ret), WSAEINVAL) &&
	   ret == 0,
	   "QUERY_RECORDS: socket not redirected (ENOENT) -> WSAEINVAL, "
	   "*lpcbBytesReturned 0");
	ok(fails(query(acc2, RECORDS, NULL, 0, &ret), WSAEINVAL),
	   "QUERY_RECORDS: size probe on a socket not redirected -> WSAEINVAL, "
	   "not ERROR_INSUFFICIENT_BUFFER");

	fake.rec_len = 0;
	ok(fails(query(acc, RECORDS, out, sizeof(out), &ret), WSAEINVAL),
	   "QUERY_RECORDS: never succeeds with 0 bytes (empty answer = not "
	   "redirected)");
	fake.rec_len = REC_LEN;

	fake.get_errno = EINTR;
	ok(fails(query(acc, RECORDS, out, sizeof(out), &ret), WSAEINTR),
	   "QUERY_RECORDS: interrupted (EINTR) -> WSAEINTR");
	fake.get_errno = ENETDOWN;
	ok(fails(query(acc, RECORDS, out, sizeof(out), &ret), WSAENETDOWN),
	   "QUERY_RECORDS: network down (ENETDOWN) -> WSAENETDOWN");
	fake.get_errno = ENOPROTOOPT;
	ok(fails(query(acc, RECORDS, out, sizeof(out), &ret), WSAEOPNOTSUPP),
	   "QUERY_RECORDS: layer absent (ENOPROTOOPT) -> WSAEOPNOTSUPP");
	fake.get_errno = EOPNOTSUPP;
	ok(fails(query(acc, RECORDS, out, sizeof(out), &ret), WSAEOPNOTSUPP),
	   "QUERY_RECORDS: layer absent, IPv4's answer (EOPNOTSUPP) -> "
	   "WSAEOPNOTSUPP");
	fake.get_errno = 0;

	fake_off();
	close(cli);
	close(acc);
	close(cli2);
	close(acc2);
}

static void test_query_context(void)
{
	int cli, acc, cli2, acc2;
	SOCKADDR_STORAGE pair[2];
	struct sockredir_context ctx;
	uint8_t out[8192];
	DWORD ret, full = sizeof(struct sockredir_context);
	int rc;

	tcp_pair(AF_INET, &cli, &acc);
	tcp_pair(AF_INET, &cli2, &acc2);
	fake_layer(acc);

	ret = 0;
	rc = query(acc, CONTEXT, &ctx, sizeof(ctx), &ret);
	ok(rc == 0 && ret == full && !memcmp(&ctx, &fake.ctx, full),
	   "QUERY_CONTEXT: buffer of the whole context -> 0, struct "
	   "sockredir_context, exact size");
	ret = 0;
	rc = query(acc, CONTEXT, out, sizeof(out), &ret);
	ok(rc == 0 && ret == full, "QUERY_CONTEXT: large buffer -> 0, exact size");

	memset(pair, 0, sizeof(pair));
	ret = 0;
	rc = query(acc, CONTEXT, pair, sizeof(pair), &ret);
	ok(rc == 0 && ret == sizeof(pair) &&
	   !memcmp(&pair[0], &fake.ctx.remote, sizeof(pair[0])) &&
	   !memcmp(&pair[1], &fake.ctx.local, sizeof(pair[1])),
	   "QUERY_CONTEXT: SOCKADDR_STORAGE[2] buffer (Microsoft's sample) -> 0, "
	   "original remote and local, 256 bytes");
	ret = 0;
	rc = query(acc, CONTEXT, out, full - 1, &ret);
	ok(rc == 0 && ret == 2 * sizeof(SOCKADDR_STORAGE),
	   "QUERY_CONTEXT: buffer between 256 bytes and the whole context -> "
	   "just the two addresses");

	memset(out, 0x55, sizeof(out));
	ret = 0;
	ok(fails(query(acc, CONTEXT, out, sizeof(pair) - 1, &ret),
		 ERROR_INSUFFICIENT_BUFFER) && ret == full && out[0] == 0x55,
	   "QUERY_CONTEXT: buffer below 256 bytes -> ERROR_INSUFFICIENT_BUFFER, "
	   "size of the whole context");
	ret = 0;
	ok(fails(query(acc, CONTEXT, NULL, 0, &ret), ERROR_INSUFFICIENT_BUFFER) &&
	   ret == full,
	   "QUERY_CONTEXT: size probe (NULL, 0) -> ERROR_INSUFFICIENT_BUFFER, "
	   "size of the whole context");
	ret = 0;
	ok(fails(query(acc, CONTEXT, out, 0, &ret), ERROR_INSUFFICIENT_BUFFER) &&
	   ret == full,
	   "QUERY_CONTEXT: size probe (cbOutBuffer 0) -> "
	   "ERROR_INSUFFICIENT_BUFFER, size of the whole context");

	ret = 77;
	ok(fails(query(acc2, CONTEXT, pair, sizeof(pair), &ret),
		 FWP_E_NOT_FOUND) && ret == 0,
	   "QUERY_CONTEXT: socket not redirected (ENOENT) -> FWP_E_NOT_FOUND");

	fake.ctx_len = sizeof(pair);	/* an answer with no sockredir block */
	ret = 0;
	rc = query(acc, CONTEXT, pair, sizeof(pair), &ret);
	ok(rc == 0 && ret == sizeof(pair),
	   "QUERY_CONTEXT: a 256-byte answer fits SOCKADDR_STORAGE[2] exactly");
	fake.ctx_len = full;

	fake.get_errno = EINTR;
	ok(fails(query(acc, CONTEXT, out, sizeof(out), &ret), WSAEINTR),
	   "QUERY_CONTEXT: interrupted (EINTR) -> WSAEINTR");
	fake.get_errno = ENETDOWN;
	ok(fails(query(acc, CONTEXT, out, sizeof(out), &ret), WSAENETDOWN),
	   "QUERY_CONTEXT: network down (ENETDOWN) -> WSAENETDOWN");
	fake.get_errno = ENOPROTOOPT;
	ok(fails(query(acc, CONTEXT, out, sizeof(out), &ret), WSAEOPNOTSUPP),
	   "QUERY_CONTEXT: layer absent (ENOPROTOOPT) -> WSAEOPNOTSUPP");
	fake.get_errno = 0;

	fake_off();
	close(cli);
	close(acc);
	close(cli2);
	close(acc2);
}

static void test_set(void)
{
	int s = tcp_socket(), s6 = socket(AF_INET6, SOCK_STREAM, 0);
	uint8_t edited[REC_LEN], dummy[4];
	DWORD ret;
	int rc;

	fake_layer(-1);
	ret = 77;
	rc = WSAIoctl(s, SET, fake.records, REC_LEN, NULL, 0, &ret, NULL, NULL);
	ok(rc == 0 && ret == 0 && fake.set_calls == 1 &&
	   fake.set_len == REC_LEN && !memcmp(fake.set_buf, fake.records, REC_LEN),
	   "SET: records from QUERY_RECORDS -> 0, passed unchanged, "
	   "*lpcbBytesReturned 0");
	rc = WSAIoctl(s, SET, fake.records, REC_LEN, dummy, 0, &ret, NULL, NULL);
	ok(rc == 0, "SET: lpvOutBuffer is unused (non-NULL with cbOutBuffer 0 is fine)");
	if (s6 >= 0) {
		rc = WSAIoctl(s6, SET, fake.records, REC_LEN, NULL, 0, &ret,
			      NULL, NULL);
		ok(rc == 0, "SET: an IPv6 TCP socket is accepted");
	}

	memcpy(edited, fake.records, REC_LEN);
	edited[5] ^= 1;
	ok(fails(WSAIoctl(s, SET, edited, REC_LEN, NULL, 0, &ret, NULL, NULL),
		 WSAEINVAL),
	   "SET: records the layer did not issue (EINVAL) -> WSAEINVAL");
	ok(fails(WSAIoctl(s, SET, fake.records, REC_LEN - 1, NULL, 0, &ret,
			  NULL, NULL), WSAEINVAL),
	   "SET: truncated records (EINVAL) -> WSAEINVAL");
	fake.set_errno = EACCES;
	ok(fails(WSAIoctl(s, SET, fake.records, REC_LEN, NULL, 0, &ret, NULL,
			  NULL), WSAEACCES),
	   "SET: caller not privileged (EACCES) -> WSAEACCES");
	fake.set_errno = EPERM;
	ok(fails(WSAIoctl(s, SET, fake.records, REC_LEN, NULL, 0, &ret, NULL,
			  NULL), WSAEACCES),
	   "SET: caller not privileged (EPERM) -> WSAEACCES");
	fake.set_errno = EISCONN;
	ok(fails(WSAIoctl(s, SET, fake.records, REC_LEN, NULL, 0, &ret, NULL,
			  NULL), WSAEISCONN),
	   "SET: the layer says connected (EISCONN) -> WSAEISCONN");
	fake.set_errno = EINTR;
	ok(fails(WSAIoctl(s, SET, fake.records, REC_LEN, NULL, 0, &ret, NULL,
			  NULL), WSAEINTR),
	   "SET: interrupted (EINTR) -> WSAEINTR");
	fake.set_errno = ENETDOWN;
	ok(fails(WSAIoctl(s, SET, fake.records, REC_LEN, NULL, 0, &ret, NULL,
			  NULL), WSAENETDOWN),
	   "SET: network down (ENETDOWN) -> WSAENETDOWN");
	fake.set_errno = ENOPROTOOPT;
	ok(fails(WSAIoctl(s, SET, fake.records, REC_LEN, NULL, 0, &ret, NULL,
			  NULL), WSAEOPNOTSUPP),
	   "SET: layer absent (ENOPROTOOPT) -> WSAEOPNOTSUPP");
	fake.set_errno = 0;
	fake.set_calls = 0;
	WSAIoctl(s, SET, fake.records, REC_LEN, junk, 4, &ret, NULL, NULL);
	ok(fake.set_calls == 0,
	   "SET: a call that fails its argument checks never reaches the layer");
	fake_off();
	close(s);
	if (s6 >= 0)
		close(s6);
}

static void test_ipv6_query(void)
{
	int cli, acc;
	uint8_t out[256];
	DWORD ret = 0;

	if (tcp_pair(AF_INET6, &cli, &acc) < 0) {
		ok(1, "QUERY_RECORDS: an IPv6 accepted socket is accepted # SKIP no ::1");
		return;
	}
	fake_layer(acc);
	ok(query(acc, RECORDS, out, sizeof(out), &ret) == 0 && ret == REC_LEN,
	   "QUERY_RECORDS: an IPv6 accepted socket is accepted");
	fake_off();
	close(cli);
	close(acc);
}

/* ---- Overlapped calls --------------------------------------------------- */

static struct {
	int calls;
	DWORD err, bytes, flags;
	LPWSAOVERLAPPED ov;
	int order[4];
} cr;

static void routine(DWORD dwError, DWORD cbTransferred, LPWSAOVERLAPPED ov,
		    DWORD dwFlags)
{
	if (cr.calls < 4)
		cr.order[cr.calls] = (int)(intptr_t)ov->hEvent;
	cr.calls++;
	cr.err = dwError;
	cr.bytes = cbTransferred;
	cr.ov = ov;
	cr.flags = dwFlags;
}

static void *alertable_elsewhere(void *arg)
{
	*(DWORD *)arg = SleepEx(0, TRUE);
	return NULL;
}

static void test_overlapped_event(int acc, int s)
{
	WSAOVERLAPPED ov;
	WSAEVENT ev = WSACreateEvent();
	uint8_t out[256];
	DWORD ret, flags, n;
	int rc;

	memset(&ov, 0, sizeof(ov));
	ov.hEvent = ev;
	ret = 0;
	rc = WSAIoctl(acc, RECORDS, NULL, 0, out, sizeof(out), &ret, &ov, NULL);
	ok(rc == 0 && ret == REC_LEN,
	   "overlapped: completes at once -> 0 (never WSA_IO_PENDING), "
	   "*lpcbBytesReturned set");
	ok(ov.Internal == 0 && ov.InternalHigh == REC_LEN &&
	   HasOverlappedIoCompleted(&ov),
	   "overlapped: Internal 0, InternalHigh = bytes");
	ok(WSAWaitForMultipleEvents(1, &ev, TRUE, 0, FALSE) == WSA_WAIT_EVENT_0,
	   "overlapped: hEvent signalled when there is no completion routine");
	n = 0;
	flags = 77;
	ok(WSAGetOverlappedResult(acc, &ov, &n, FALSE, &flags) == TRUE &&
	   n == REC_LEN && flags == 0,
	   "WSAGetOverlappedResult: success -> TRUE, bytes, flags 0");
	ok(WSAGetOverlappedResult(acc, &ov, &n, TRUE, &flags) == TRUE,
	   "WSAGetOverlappedResult: fWait TRUE on a completed call -> TRUE");

	WSAResetEvent(ev);
	memset(&ov, 0, sizeof(ov));
	ov.hEvent = (WSAEVENT)((uintptr_t)ev | 1);
	rc = WSAIoctl(acc, RECORDS, NULL, 0, out, sizeof(out), NULL, &ov, NULL);
	ok(rc == 0 && ov.InternalHigh == REC_LEN,
	   "overlapped: lpcbBytesReturned may be NULL");
	ok(WSAWaitForMultipleEvents(1, &ev, TRUE, 0, FALSE) == WSA_WAIT_EVENT_0,
	   "overlapped: hEvent with its low bit set is still signalled");

	WSAResetEvent(ev);
	memset(&ov, 0, sizeof(ov));
	ov.hEvent = ev;
	ret = 0;
	ok(fails(WSAIoctl(acc, RECORDS, NULL, 0, out, 1, &ret, &ov, NULL),
		 ERROR_INSUFFICIENT_BUFFER) && ret == REC_LEN &&
	   ov.Internal == ERROR_INSUFFICIENT_BUFFER && ov.InternalHigh == REC_LEN,
	   "overlapped: buffer too small fails at once, size needed in "
	   "*lpcbBytesReturned and InternalHigh");
	ok(WSAWaitForMultipleEvents(1, &ev, TRUE, 0, FALSE) == WSA_WAIT_TIMEOUT,
	   "overlapped: a call that fails does not signal hEvent");
	ok(WSAGetOverlappedResult(acc, &ov, &n, FALSE, &flags) == FALSE &&
	   WSAGetLastError() == ERROR_INSUFFICIENT_BUFFER,
	   "WSAGetOverlappedResult: failed call -> FALSE and its error");

	memset(&ov, 0, sizeof(ov));
	ov.hEvent = ev;
	rc = WSAIoctl(s, SET, fake.records, REC_LEN, NULL, 0, &ret, &ov, NULL);
	ok(rc == 0 && ov.InternalHigh == 0 &&
	   WSAWaitForMultipleEvents(1, &ev, TRUE, 0, FALSE) == WSA_WAIT_EVENT_0,
	   "overlapped SET: -> 0, 0 bytes, hEvent signalled");

	memset(&ov, 0, sizeof(ov));
	rc = WSAIoctl(acc, CONTEXT, NULL, 0, out, sizeof(out), &ret, &ov, NULL);
	ok(rc == 0 && ret == 256,
	   "overlapped: hEvent NULL and no routine -> completes, nothing signalled");
	WSACloseEvent(ev);
}

static void test_overlapped_routine(int acc)
{
	WSAOVERLAPPED ov, ov2;
	WSAEVENT ev = WSACreateEvent();
	uint8_t out[256];
	DWORD ret, w;
	pthread_t t;
	int rc;

	memset(&cr, 0, sizeof(cr));
	memset(&ov, 0, sizeof(ov));
	ov.hEvent = ev;
	rc = WSAIoctl(acc, RECORDS, NULL, 0, out, sizeof(out), &ret, &ov, routine);
	ok(rc == 0 && ret == REC_LEN && cr.calls == 0,
	   "completion routine: WSAIoctl returns 0 without calling it");
	ok(WSAWaitForMultipleEvents(1, &ev, TRUE, 0, FALSE) == WSA_WAIT_TIMEOUT,
	   "completion routine: hEvent is ignored (not signalled)");
	ok(cr.calls == 0, "completion routine: a non-alertable wait does not run it");
	w = 77;
	pthread_create(&t, NULL, alertable_elsewhere, &w);
	pthread_join(t, NULL);
	ok(cr.calls == 0 && w == 0,
	   "completion routine: another thread's alertable wait does not run it");
	w = WSAWaitForMultipleEvents(1, &ev, FALSE, WSA_INFINITE, TRUE);
	ok(w == WSA_WAIT_IO_COMPLETION && cr.calls == 1,
	   "completion routine: runs in this thread's alertable "
	   "WSAWaitForMultipleEvents, which returns WSA_WAIT_IO_COMPLETION");
	ok(cr.err == 0 && cr.bytes == REC_LEN && cr.ov == &ov && cr.flags == 0,
	   "completion routine: called with (0, bytes, lpOverlapped, 0)");
	ok(WSAWaitForMultipleEvents(1, &ev, FALSE, 10, TRUE) == WSA_WAIT_TIMEOUT &&
	   cr.calls == 1, "completion routine: runs once only");

	memset(&cr, 0, sizeof(cr));
	memset(&ov, 0, sizeof(ov));
	memset(&ov2, 0, sizeof(ov2));
	ov.hEvent = (WSAEVENT)(intptr_t)1;	/* context for the routine */
	ov2.hEvent = (WSAEVENT)(intptr_t)2;
	WSAIoctl(acc, RECORDS, NULL, 0, out, sizeof(out), &ret, &ov, routine);
	WSAIoctl(acc, CONTEXT, NULL, 0, out, sizeof(out), &ret, &ov2, routine);
	w = SleepEx(WSA_INFINITE, TRUE);
	ok(w == WAIT_IO_COMPLETION && cr.calls == 2 && cr.order[0] == 1 &&
	   cr.order[1] == 2 && cr.bytes == 256,
	   "completion routine: SleepEx(.., TRUE) runs all queued routines in "
	   "order; hEvent is free for the caller's context");

	memset(&cr, 0, sizeof(cr));
	memset(&ov, 0, sizeof(ov));
	ok(fails(WSAIoctl(acc, RECORDS, NULL, 0, out, 1, &ret, &ov, routine),
		 ERROR_INSUFFICIENT_BUFFER) && SleepEx(0, TRUE) == 0 &&
	   cr.calls == 0,
	   "completion routine: not queued for a call that fails");
	rc = WSAIoctl(acc, RECORDS, NULL, 0, out, sizeof(out), &ret, NULL, routine);
	ok(rc == 0 && SleepEx(0, TRUE) == 0 && cr.calls == 0,
	   "completion routine: ignored when lpOverlapped is NULL");

	memset(&ov, 0, sizeof(ov));
	rc = WSAIoctl(acc, RECORDS, NULL, 0, out, sizeof(out), &ret, &ov, routine);
	ok(rc == 0 && WaitForSingleObjectEx(ev, 0, TRUE) == WAIT_IO_COMPLETION &&
	   cr.calls == 1,
	   "completion routine: WaitForSingleObjectEx(.., TRUE) runs it");
	WSACloseEvent(ev);
}

static void test_wsp(int acc)
{
	WSAOVERLAPPED ov;
	uint8_t out[256];
	DWORD ret;
	int err, rc, p[2];

	err = 12345;
	rc = WSPIoctl(acc, RECORDS, NULL, 0, out, sizeof(out), &ret, NULL, NULL,
		      NULL, &err);
	ok(rc == 0 && ret == REC_LEN && err == 12345,
	   "WSPIoctl: success -> 0, lpErrno untouched, lpThreadId may be NULL "
	   "when not overlapped");
	WSASetLastError(0);
	rc = WSPIoctl(acc, RECORDS, NULL, 0, out, 1, &ret, NULL, NULL, NULL, &err);
	ok(rc == SOCKET_ERROR && err == ERROR_INSUFFICIENT_BUFFER &&
	   WSAGetLastError() == ERROR_INSUFFICIENT_BUFFER && ret == REC_LEN,
	   "WSPIoctl: failure -> SOCKET_ERROR, error in *lpErrno (and "
	   "WSAGetLastError)");
	if (pipe(p) == 0) {
		rc = WSPIoctl(p[0], RECORDS, NULL, 0, out, sizeof(out), &ret,
			      NULL, NULL, NULL, &err);
		ok(rc == SOCKET_ERROR && err == WSAENOTSOCK,
		   "WSPIoctl: s not a socket -> *lpErrno WSAENOTSOCK");
		close(p[0]);
		close(p[1]);
	}
	WSASetLastError(0);
	rc = WSPIoctl(acc, RECORDS, NULL, 0, out, sizeof(out), &ret, NULL, NULL,
		      NULL, NULL);
	ok(rc == SOCKET_ERROR && WSAGetLastError() == WSAEFAULT,
	   "WSPIoctl: lpErrno NULL -> SOCKET_ERROR, WSAEFAULT");

	memset(&ov, 0, sizeof(ov));
	memset(&cr, 0, sizeof(cr));
	rc = WSPIoctl(acc, RECORDS, NULL, 0, out, sizeof(out), &ret, &ov, routine,
		      NULL, &err);
	ok(rc == SOCKET_ERROR && err == WSAEFAULT && SleepEx(0, TRUE) == 0 &&
	   cr.calls == 0,
	   "WSPIoctl: completion routine without lpThreadId -> WSAEFAULT");
	{
		WSATHREADID tid = { (HANDLE)&tid, 42 };

		rc = WSPIoctl(acc, RECORDS, NULL, 0, out, sizeof(out), &ret, &ov,
			      routine, &tid, &err);
		memset(&tid, 0xff, sizeof(tid));	/* the copy must be kept */
	}
	ok(rc == 0 && cr.calls == 0 && SleepEx(0, TRUE) == WAIT_IO_COMPLETION &&
	   cr.calls == 1 && cr.bytes == REC_LEN,
	   "WSPIoctl: completion routine with lpThreadId (copied) runs in the "
	   "next alertable wait");
}

static void test_overlapped(void)
{
	int cli, acc, s = tcp_socket();

	tcp_pair(AF_INET, &cli, &acc);
	fake_layer(acc);
	test_overlapped_event(acc, s);
	test_overlapped_routine(acc);
	test_wsp(acc);
	fake_off();
	close(cli);
	close(acc);
	close(s);
}

static void test_overlapped_result_args(void)
{
	int s = tcp_socket(), p[2];
	WSAOVERLAPPED ov;
	WSAEVENT ev = WSACreateEvent();
	DWORD n, flags;

	memset(&ov, 0, sizeof(ov));
	ok(WSAGetOverlappedResult(s, NULL, &n, FALSE, &flags) == FALSE &&
	   WSAGetLastError() == WSAEFAULT,
	   "WSAGetOverlappedResult: lpOverlapped NULL -> WSAEFAULT");
	ok(WSAGetOverlappedResult(s, &ov, NULL, FALSE, &flags) == FALSE &&
	   WSAGetLastError() == WSAEFAULT,
	   "WSAGetOverlappedResult: lpcbTransfer NULL -> WSAEFAULT");
	ok(WSAGetOverlappedResult(s, &ov, &n, FALSE, NULL) == FALSE &&
	   WSAGetLastError() == WSAEFAULT,
	   "WSAGetOverlappedResult: lpdwFlags NULL -> WSAEFAULT");
	if (pipe(p) == 0) {
		ok(WSAGetOverlappedResult(p[0], &ov, &n, FALSE, &flags) == FALSE &&
		   WSAGetLastError() == WSAENOTSOCK,
		   "WSAGetOverlappedResult: s not a socket -> WSAENOTSOCK");
		close(p[0]);
		close(p[1]);
	}
	ov.Internal = STATUS_PENDING;
	ok(!HasOverlappedIoCompleted(&ov) &&
	   WSAGetOverlappedResult(s, &ov, &n, FALSE, &flags) == FALSE &&
	   WSAGetLastError() == WSA_IO_INCOMPLETE,
	   "WSAGetOverlappedResult: pending, fWait FALSE -> WSA_IO_INCOMPLETE");
	ov.hEvent = NULL;
	ok(WSAGetOverlappedResult(s, &ov, &n, TRUE, &flags) == FALSE &&
	   WSAGetLastError() == WSA_INVALID_HANDLE,
	   "WSAGetOverlappedResult: pending, fWait TRUE, no hEvent -> "
	   "WSA_INVALID_HANDLE");
	ov.hEvent = ev;
	WSASetEvent(ev);
	ov.Internal = 0;
	ov.InternalHigh = 9;
	ok(WSAGetOverlappedResult(s, &ov, &n, TRUE, &flags) == TRUE && n == 9,
	   "WSAGetOverlappedResult: completed -> TRUE with InternalHigh bytes");
	ov.Internal = (ULONG_PTR)(DWORD)FWP_E_NOT_FOUND;
	ok(WSAGetOverlappedResult(s, &ov, &n, FALSE, &flags) == FALSE &&
	   WSAGetLastError() == FWP_E_NOT_FOUND,
	   "WSAGetOverlappedResult: an HRESULT error comes back intact");
	WSACloseEvent(ev);
	close(s);
}

/* ---- Events ---------------------------------------------------------------- */

static void *set_later(void *arg)
{
	usleep(50 * 1000);
	WSASetEvent(arg);
	return NULL;
}

static void test_events(void)
{
	WSAEVENT ev[3] = { WSACreateEvent(), WSACreateEvent(), WSACreateEvent() };
	WSAEVENT none = WSA_INVALID_EVENT;
	struct timespec a, b;
	pthread_t t;
	DWORD w;
	long ms;

	ok(ev[0] && ev[1] && ev[2], "WSACreateEvent: returns an event");
	ok(WSAWaitForMultipleEvents(1, ev, TRUE, 0, FALSE) == WSA_WAIT_TIMEOUT,
	   "WSACreateEvent: not signalled at first (wait 0 -> WSA_WAIT_TIMEOUT)");
	ok(WSASetEvent(ev[0]) &&
	   WSAWaitForMultipleEvents(1, ev, TRUE, 0, FALSE) == WSA_WAIT_EVENT_0,
	   "WSASetEvent: signals (-> WSA_WAIT_EVENT_0)");
	ok(WaitForSingleObject(ev[0], 0) == WAIT_OBJECT_0,
	   "WSACreateEvent: manual reset, waiting does not reset it");
	ok(WSAResetEvent(ev[0]) && WaitForSingleObject(ev[0], 0) == WAIT_TIMEOUT,
	   "WSAResetEvent: unsignals");
	WSASetEvent(ev[2]);
	ok(WSAWaitForMultipleEvents(3, ev, FALSE, 0, FALSE) == WSA_WAIT_EVENT_0 + 2,
	   "WSAWaitForMultipleEvents: fWaitAll FALSE -> index of the signalled one");
	WSASetEvent(ev[1]);
	ok(WSAWaitForMultipleEvents(3, ev, FALSE, 0, FALSE) == WSA_WAIT_EVENT_0 + 1,
	   "WSAWaitForMultipleEvents: several signalled -> the lowest index");
	ok(WSAWaitForMultipleEvents(3, ev, TRUE, 0, FALSE) == WSA_WAIT_TIMEOUT,
	   "WSAWaitForMultipleEvents: fWaitAll TRUE, not all signalled -> timeout");
	WSASetEvent(ev[0]);
	ok(WSAWaitForMultipleEvents(3, ev, TRUE, 0, FALSE) == WSA_WAIT_EVENT_0,
	   "WSAWaitForMultipleEvents: fWaitAll TRUE, all signalled -> WSA_WAIT_EVENT_0");
	WSAResetEvent(ev[0]);

	clock_gettime(CLOCK_MONOTONIC, &a);
	w = WSAWaitForMultipleEvents(1, ev, TRUE, 60, FALSE);
	clock_gettime(CLOCK_MONOTONIC, &b);
	ms = (b.tv_sec - a.tv_sec) * 1000 + (b.tv_nsec - a.tv_nsec) / 1000000;
	ok(w == WSA_WAIT_TIMEOUT && ms >= 55 && ms < 2000,
	   "WSAWaitForMultipleEvents: times out after dwTimeout ms (%ld)", ms);
	pthread_create(&t, NULL, set_later, ev[0]);
	w = WSAWaitForMultipleEvents(1, ev, TRUE, WSA_INFINITE, FALSE);
	pthread_join(t, NULL);
	ok(w == WSA_WAIT_EVENT_0,
	   "WSAWaitForMultipleEvents: WSA_INFINITE wakes when another thread sets");

	ok(WSAWaitForMultipleEvents(0, ev, TRUE, 0, FALSE) == WSA_WAIT_FAILED &&
	   WSAGetLastError() == WSA_INVALID_PARAMETER,
	   "WSAWaitForMultipleEvents: cEvents 0 -> WSA_INVALID_PARAMETER");
	ok(WSAWaitForMultipleEvents(WSA_MAXIMUM_WAIT_EVENTS + 1, ev, TRUE, 0,
				    FALSE) == WSA_WAIT_FAILED &&
	   WSAGetLastError() == WSA_INVALID_PARAMETER,
	   "WSAWaitForMultipleEvents: cEvents above WSA_MAXIMUM_WAIT_EVENTS -> "
	   "WSA_INVALID_PARAMETER");
	ok(WSAWaitForMultipleEvents(1, NULL, TRUE, 0, FALSE) == WSA_WAIT_FAILED &&
	   WSAGetLastError() == WSAEFAULT,
	   "WSAWaitForMultipleEvents: lphEvents NULL -> WSAEFAULT");
	ok(WSAWaitForMultipleEvents(1, &none, TRUE, 0, FALSE) == WSA_WAIT_FAILED &&
	   WSAGetLastError() == WSA_INVALID_HANDLE,
	   "WSAWaitForMultipleEvents: WSA_INVALID_EVENT -> WSA_INVALID_HANDLE");
	ok(!WSASetEvent(none) && WSAGetLastError() == WSA_INVALID_HANDLE &&
	   !WSAResetEvent(none) && !WSACloseEvent(none),
	   "WSASetEvent/WSAResetEvent/WSACloseEvent: WSA_INVALID_EVENT -> FALSE, "
	   "WSA_INVALID_HANDLE");
	ok(WSAWaitForMultipleEvents(1, ev, TRUE, 0, TRUE) == WSA_WAIT_EVENT_0,
	   "WSAWaitForMultipleEvents: alertable with nothing queued waits as usual");
	ok(WSACloseEvent(ev[0]) && WSACloseEvent(ev[1]) && WSACloseEvent(ev[2]),
	   "WSACloseEvent: closes");
}

/* ---- Errno translation and start-up --------------------------------------- */

static void test_errno_map(void)
{
	ok(sockredir_wsa_error(RECORDS, ENOENT) == WSAEINVAL &&
	   sockredir_wsa_error(CONTEXT, ENOENT) == FWP_E_NOT_FOUND,
	   "sockredir_wsa_error: ENOENT -> WSAEINVAL (records), FWP_E_NOT_FOUND "
	   "(context)");
	ok(sockredir_wsa_error(SET, ENOPROTOOPT) == WSAEOPNOTSUPP &&
	   sockredir_wsa_error(SET, EACCES) == WSAEACCES &&
	   sockredir_wsa_error(SET, EINVAL) == WSAEINVAL &&
	   sockredir_wsa_error(SET, EISCONN) == WSAEISCONN &&
	   sockredir_wsa_error(RECORDS, ERANGE) == ERROR_INSUFFICIENT_BUFFER,
	   "sockredir_wsa_error: the sockredir option errnos");
	ok(sockredir_wsa_error(0, EINTR) == WSAEINTR &&
	   sockredir_wsa_error(0, ENETDOWN) == WSAENETDOWN &&
	   sockredir_wsa_error(0, ELOOP) == WSAELOOP &&
	   sockredir_wsa_error(0, ECONNREFUSED) == WSAECONNREFUSED &&
	   sockredir_wsa_error(0, EINPROGRESS) == WSAEWOULDBLOCK &&
	   sockredir_wsa_error(0, EBADF) == WSAENOTSOCK &&
	   sockredir_wsa_error(0, 0) == 0 &&
	   sockredir_wsa_error(0, 4095) == WSAEINVAL,
	   "sockredir_wsa_error: socket errnos (ELOOP -> WSAELOOP, ...)");
}

static void test_startup(void)
{
	WSADATA d;

	ok(WSAStartup(MAKEWORD(2, 2), &d) == 0 && d.wVersion == 0x0202 &&
	   WSACleanup() == 0, "WSAStartup: 0 and version 2.2; WSACleanup: 0");
	ok(WSAStartup(MAKEWORD(2, 2), NULL) == WSAEFAULT,
	   "WSAStartup: lpWSAData NULL -> WSAEFAULT");
}

/* ---- Datagram redirects: what needs no layer ----------------------------- */

static void test_dgram(void)
{
	union {
		char buf[256];
		WSACMSGHDR align;
	} cb;
	WSAMSG m = { .Control = { 0, cb.buf } };
	WSACMSGHDR *c;
	struct sockaddr_in a = { .sin_family = AF_INET,
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t alen = sizeof(a);
	char data[8], ctl[SOCKREDIR_WSA_RECV_CONTROL];
	WSABUF b = { sizeof(data), data };
	WSAMSG rm = { .lpBuffers = &b, .dwBufferCount = 1 };
	uint8_t rec[48] = { 1 };
	DWORD on = TRUE, n;
	int s, was = fake.on, count, pi4 = 0, wfp = 0;

	ok(SIO_GET_EXTENSION_FUNCTION_POINTER == 0xC8000006u &&
	   sizeof(GUID) == 16 && sizeof(IN_PKTINFO) == 8 &&
	   sizeof(IN6_PKTINFO) == 20,
	   "dgram constants: SIO_GET_EXTENSION_FUNCTION_POINTER 0xC8000006, "
	   "GUID 16 bytes, Windows' IN_PKTINFO (8) and IN6_PKTINFO (20)");
	ok(sizeof(WSACMSGHDR) == sizeof(struct cmsghdr) && WSA_CMSG_LEN(0) == CMSG_LEN(0) &&
	   WSA_CMSG_SPACE(5) == CMSG_SPACE(5) && WSA_CMSG_DATA((WSACMSGHDR *)cb.buf) ==
	   CMSG_DATA((struct cmsghdr *)cb.buf),
	   "dgram: WSA_CMSG_* lay control data out as Linux's CMSG_*");
	memset(cb.buf, 0, sizeof(cb.buf));
	for (count = 0; count < 3; count++) {
		c = (WSACMSGHDR *)(cb.buf + count * WSA_CMSG_SPACE(4));
		c->cmsg_len = WSA_CMSG_LEN(4);
		c->cmsg_type = count;
	}
	m.Control.len = (ULONG)(3 * WSA_CMSG_SPACE(4));
	for (count = 0, c = WSA_CMSG_FIRSTHDR(&m); c; c = WSA_CMSG_NXTHDR(&m, c))
		count++;
	ok(count == 3, "WSA_CMSG_NXTHDR: three messages, then NULL");
	((WSACMSGHDR *)(cb.buf + WSA_CMSG_SPACE(4)))->cmsg_len = 0;
	for (count = 0, c = WSA_CMSG_FIRSTHDR(&m); c && count < 10; c = WSA_CMSG_NXTHDR(&m, c))
		count++;
	ok(count == 2, "WSA_CMSG_NXTHDR: a cmsg_len of 0 ends the walk");
	m.Control.len = sizeof(WSACMSGHDR) - 1;
	ok(!WSA_CMSG_FIRSTHDR(&m), "WSA_CMSG_FIRSTHDR: a buffer short of a header -> NULL");

	/* Layer absent (this process is outside any attached cgroup). */
	fake.on = 0;
	s = socket(AF_INET, SOCK_DGRAM, 0);
	bind(s, (struct sockaddr *)&a, sizeof(a));
	getsockname(s, (struct sockaddr *)&a, &alen);
	ok(sockredir_wsa_setsockopt(s, IPPROTO_IP, IP_WFP_REDIRECT_RECORDS, &on, 4) == 0 &&
	   sockredir_wsa_setsockopt(s, IPPROTO_IP, IP_WFP_REDIRECT_CONTEXT, &on, 4) == 0,
	   "dgram: the options turn on without a layer");
	sendto(s, "x", 1, 0, (struct sockaddr *)&a, sizeof(a));
	rm.Control = (WSABUF){ sizeof(ctl), ctl };
	ok(WSARecvMsg(s, &rm, &n, NULL, NULL) == 0 && n == 1, "dgram: WSARecvMsg -> 0, 1 byte");
	for (c = WSA_CMSG_FIRSTHDR(&rm); c; c = WSA_CMSG_NXTHDR(&rm, c)) {
		pi4 += c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO &&
		       c->cmsg_len == WSA_CMSG_LEN(sizeof(IN_PKTINFO)) &&
		       ((IN_PKTINFO *)WSA_CMSG_DATA(c))->ipi_addr.s_addr == htonl(INADDR_LOOPBACK);
		wfp += c->cmsg_type == IP_WFP_REDIRECT_RECORDS ||
		       c->cmsg_type == IP_WFP_REDIRECT_CONTEXT;
	}
	ok(pi4 == 1 && wfp == 0 && !(rm.dwFlags & MSG_CTRUNC),
	   "dgram: layer absent -> the IN_PKTINFO (127.0.0.1) only, no records");
	close(s);
	s = socket(AF_INET, SOCK_DGRAM, 0);
	m.Control.len = (ULONG)WSA_CMSG_SPACE(sizeof(rec));
	c = WSA_CMSG_FIRSTHDR(&m);
	c->cmsg_len = WSA_CMSG_LEN(sizeof(rec));
	c->cmsg_level = IPPROTO_IP;
	c->cmsg_type = IP_WFP_REDIRECT_RECORDS;
	memcpy(WSA_CMSG_DATA(c), rec, sizeof(rec));
	m.name = (LPSOCKADDR)&a;
	m.namelen = sizeof(a);
	m.lpBuffers = &b;
	m.dwBufferCount = 1;
	b.len = 1;
	ok(fails(WSASendMsg(s, &m, 0, &n, NULL, NULL), WSAEOPNOTSUPP),
	   "dgram: WSASendMsg with records, layer absent -> WSAEOPNOTSUPP");
	close(s);
	fake.on = was;
}

int main(void)
{
	test_constants();
	test_last_error();
	test_not_socket();
	test_bad_code();
	test_null_bytes_returned();
	test_not_tcp();
	test_query_state();
	test_set_args();
	test_layer_absent();
	test_query_records();
	test_query_context();
	test_set();
	test_ipv6_query();
	test_overlapped();
	test_overlapped_result_args();
	test_events();
	test_errno_map();
	test_startup();
	test_dgram();
	return done();
}
