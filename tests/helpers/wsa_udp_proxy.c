// SPDX-License-Identifier: MIT
/*
 * wsa_udp_proxy.c - a UDP redirect service written the Windows way, over
 * <sockredir/winsock.h>: WFP's datagram model (reference section 3).
 *
 * One dual-stack socket on the service's port with IP_WFP_REDIRECT_RECORDS,
 * IP_WFP_REDIRECT_CONTEXT and their IPv6 pair turned on; WSARecvMsg and
 * WSASendMsg reached through SIO_GET_EXTENSION_FUNCTION_POINTER.  A
 * datagram whose control data carries records and a context starts a flow:
 * a new upstream socket sends it on to the original destination (context
 * [0]) with WSASendMsg and the records as control data; later datagrams of
 * the flow (the same application address and pktinfo address) follow
 * without.  Each answer from upstream goes back with WSASendMsg from the
 * flow's pktinfo address.  A flow idle for --idle seconds is forgotten.
 *
 *   wsa_udp_proxy --name NAME --port PORT [--log FILE] [--idle S]
 *	serve for ever; one log line per flow, when it starts
 *   wsa_udp_proxy --conformance [--expect-dst ADDR:PORT] [--expect-hop N]
 *	     [--expect-comm COMM] --name NAME --port PORT [--log FILE]
 *	check the option, WSARecvMsg and WSASendMsg rules ("ok - NAME" /
 *	"not ok - NAME" on stdout), then on the first redirected flow, which
 *	must send three datagrams; serve it until its three answers went
 *	back, then exit (status 1 if a check failed); --dump-records FILE
 *	writes that flow's records to FILE
 *   wsa_udp_proxy --try-send FILE
 *	WSASendMsg one datagram to a socket of its own on 127.0.0.1, with
 *	the records in FILE as control data; print the Winsock error (0 on
 *	success) and how many datagrams arrived.  Used to check WSAEACCES as
 *	an unprivileged user.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <arpa/inet.h>
#include <sys/socket.h>
#include <netinet/in.h>

#include <sockredir/winsock.h>
#include "wsa_tap.h"

static const char *name = "wsa-udp";
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static LPFN_WSARECVMSG recv_fn;
static LPFN_WSASENDMSG send_fn;
static SOCKET service = INVALID_SOCKET;
static int idle_s = 30;
static int replies_left = -1;	/* conformance: exit after this many */
static const char *dump_path;

/* ---- One received datagram, its control data read ------------------------ */

struct dgram {
	char data[65536];
	DWORD len;
	SOCKADDR_STORAGE app;
	int namelen;
	ULONG flags;
	int have4, have6;
	IN_PKTINFO pi4;
	IN6_PKTINFO pi6;
	int have_rec, rec_level;
	BYTE rec[SOCKREDIR_RECORDS_MAX];
	size_t rec_len;
	int have_ctx;
	struct sockredir_context ctx;
	size_t ctx_len;
};

/* Read @d's control data out of @msg. */
static void parse(struct dgram *d, WSAMSG *msg)
{
	WSACMSGHDR *c;

	d->have4 = d->have6 = d->have_rec = d->have_ctx = 0;
	for (c = WSA_CMSG_FIRSTHDR(msg); c; c = WSA_CMSG_NXTHDR(msg, c)) {
		size_t n = c->cmsg_len - WSA_CMSG_LEN(0);

		if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO &&
		    n == sizeof(d->pi4)) {
			memcpy(&d->pi4, WSA_CMSG_DATA(c), n);
			d->have4 = 1;
		} else if (c->cmsg_level == IPPROTO_IPV6 &&
			   c->cmsg_type == IPV6_PKTINFO && n == sizeof(d->pi6)) {
			memcpy(&d->pi6, WSA_CMSG_DATA(c), n);
			d->have6 = 1;
		} else if ((c->cmsg_level == IPPROTO_IP &&
			    c->cmsg_type == IP_WFP_REDIRECT_RECORDS) ||
			   (c->cmsg_level == IPPROTO_IPV6 &&
			    c->cmsg_type == IPV6_WFP_REDIRECT_RECORDS)) {
			if (n <= sizeof(d->rec)) {
				memcpy(d->rec, WSA_CMSG_DATA(c), n);
				d->rec_len = n;
				d->rec_level = c->cmsg_level;
				d->have_rec = 1;
			}
		} else if ((c->cmsg_level == IPPROTO_IP &&
			    c->cmsg_type == IP_WFP_REDIRECT_CONTEXT) ||
			   (c->cmsg_level == IPPROTO_IPV6 &&
			    c->cmsg_type == IPV6_WFP_REDIRECT_CONTEXT)) {
			d->ctx_len = n < sizeof(d->ctx) ? n : sizeof(d->ctx);
			memset(&d->ctx, 0, sizeof(d->ctx));
			memcpy(&d->ctx, WSA_CMSG_DATA(c), d->ctx_len);
			d->have_ctx = 1;
		}
	}
}

/* WSARecvMsg into @d with @control bytes of room; the Winsock result. */
static int receive(SOCKET s, struct dgram *d, size_t control, ULONG flags)
{
	union {
		char buf[4096];
		WSACMSGHDR align;
	} cbuf;
	WSABUF b = { sizeof(d->data), d->data };
	WSAMSG msg = { .name = (LPSOCKADDR)&d->app, .namelen = sizeof(d->app),
		       .lpBuffers = &b, .dwBufferCount = 1,
		       .Control = { (ULONG)control, cbuf.buf }, .dwFlags = flags };
	int rc;

	d->len = 0;
	rc = recv_fn(s, &msg, &d->len, NULL, NULL);
	if (rc == SOCKET_ERROR) {
		rc = WSAGetLastError();
		if (rc != WSAEWOULDBLOCK)
			log_line("%s error WSARecvMsg %d", name, rc);
		return rc;
	}
	d->namelen = msg.namelen;
	d->flags = msg.dwFlags;
	parse(d, &msg);
	return 0;
}

/* The address a datagram of @d was sent to: IPv4 flows' from IN_PKTINFO. */
static int v4_app(const SOCKADDR_STORAGE *app)
{
	const SOCKADDR_IN6 *a = (const SOCKADDR_IN6 *)app;

	return app->ss_family == AF_INET || IN6_IS_ADDR_V4MAPPED(&a->sin6_addr);
}

/* ---- Flows ------------------------------------------------------------------- */

struct flow {
	struct flow *next;
	SOCKADDR_STORAGE app;
	int v4;
	IN_PKTINFO pi4;
	IN6_PKTINFO pi6;
	SOCKADDR_STORAGE dst;
	SOCKET up;
	int dead;
	unsigned long long up_n, down_n;
};

static struct flow *flows;

static int same_flow(const struct flow *f, const struct dgram *d)
{
	if (memcmp(&f->app, &d->app, addr_len(&d->app)))
		return 0;
	if (f->v4)
		return d->have4 && f->pi4.ipi_addr.s_addr == d->pi4.ipi_addr.s_addr;
	return d->have6 && !memcmp(&f->pi6.ipi6_addr, &d->pi6.ipi6_addr, 16);
}

static struct flow *find_flow(const struct dgram *d)
{
	struct flow *f;

	pthread_mutex_lock(&lock);
	for (f = flows; f && (f->dead || !same_flow(f, d)); f = f->next)
		;
	pthread_mutex_unlock(&lock);
	return f;
}

/* Send @data back to the application, from the flow's address. */
static int reply(struct flow *f, char *data, DWORD n)
{
	union {
		char buf[WSA_CMSG_SPACE(sizeof(IN6_PKTINFO))];
		WSACMSGHDR align;
	} cbuf;
	WSACMSGHDR *c = &cbuf.align;
	WSABUF b = { n, data };
	WSAMSG msg = { .name = (LPSOCKADDR)&f->app, .namelen = addr_len(&f->app),
		       .lpBuffers = &b, .dwBufferCount = 1 };
	DWORD sent;

	memset(&cbuf, 0, sizeof(cbuf));
	if (f->v4) {
		c->cmsg_level = IPPROTO_IP;
		c->cmsg_type = IP_PKTINFO;
		c->cmsg_len = WSA_CMSG_LEN(sizeof(f->pi4));
		memcpy(WSA_CMSG_DATA(c), &f->pi4, sizeof(f->pi4));
		msg.Control = (WSABUF){ (ULONG)WSA_CMSG_SPACE(sizeof(f->pi4)), cbuf.buf };
	} else {
		c->cmsg_level = IPPROTO_IPV6;
		c->cmsg_type = IPV6_PKTINFO;
		c->cmsg_len = WSA_CMSG_LEN(sizeof(f->pi6));
		memcpy(WSA_CMSG_DATA(c), &f->pi6, sizeof(f->pi6));
		msg.Control = (WSABUF){ (ULONG)WSA_CMSG_SPACE(sizeof(f->pi6)), cbuf.buf };
	}
	return send_fn(service, &msg, 0, &sent, NULL, NULL);
}

/* Answers from upstream, until the flow idles out. */
static void *downstream(void *arg)
{
	struct flow *f = arg;
	char buf[65536];
	ssize_t n;

	while ((n = recv(f->up, buf, sizeof(buf), 0)) >= 0) {
		if (reply(f, buf, (DWORD)n) == SOCKET_ERROR) {
			log_line("%s error reply %d", name, WSAGetLastError());
			continue;
		}
		pthread_mutex_lock(&lock);
		f->down_n++;
		if (replies_left > 0 && --replies_left == 0) {
			pthread_mutex_unlock(&lock);
			exit(0);	/* conformance: its flow is served */
		}
		pthread_mutex_unlock(&lock);
	}
	pthread_mutex_lock(&lock);
	f->dead = 1;		/* idle: the next datagram is a new flow's */
	pthread_mutex_unlock(&lock);
	closesocket(f->up);
	return NULL;
}

/* Send @d on @up to @dst, with the records as control data if @with_rec. */
static int upstream(SOCKET up, const SOCKADDR_STORAGE *dst, struct dgram *d,
		    const BYTE *rec, size_t rec_len, int level)
{
	union {
		char buf[WSA_CMSG_SPACE(SOCKREDIR_RECORDS_MAX)];
		WSACMSGHDR align;
	} cbuf;
	WSACMSGHDR *c = &cbuf.align;
	WSABUF b = { d->len, d->data };
	WSAMSG msg = { .name = (LPSOCKADDR)dst, .namelen = addr_len(dst),
		       .lpBuffers = &b, .dwBufferCount = 1 };
	DWORD sent;

	if (rec) {
		c->cmsg_level = level;
		c->cmsg_type = level == IPPROTO_IPV6 ? IPV6_WFP_REDIRECT_RECORDS :
						       IP_WFP_REDIRECT_RECORDS;
		c->cmsg_len = WSA_CMSG_LEN(rec_len);
		memcpy(WSA_CMSG_DATA(c), rec, rec_len);
		msg.Control = (WSABUF){ (ULONG)WSA_CMSG_SPACE(rec_len), cbuf.buf };
	}
	return send_fn(up, &msg, 0, &sent, NULL, NULL);
}

static void log_flow(const struct dgram *d, const char *what)
{
	const struct sockredir_context_block *sr = &d->ctx.sr;
	char dst[SOCKREDIR_ADDRSTRLEN], app[SOCKREDIR_ADDRSTRLEN];
	char ep[INET6_ADDRSTRLEN], chain[16 * 6] = "";
	unsigned int i;
	size_t off = 0;

	if (d->have4 && v4_app(&d->app))
		inet_ntop(AF_INET, &d->pi4.ipi_addr, ep, sizeof(ep));
	else
		inet_ntop(AF_INET6, &d->pi6.ipi6_addr, ep, sizeof(ep));
	for (i = 0; i < sr->hop && i < SOCKREDIR_MAX_HOPS; i++)
		off += snprintf(chain + off, sizeof(chain) - off, "%s%u",
				i ? "," : "", sr->chain[i]);
	log_line("%s %s hop=%u flow_id=%llu service=%u dst=%s app=%s endpoint=%s "
		 "pid=%u uid=%u gid=%u comm=%s protocol=%u chain=%s records=%zu "
		 "context=%zu", name, what, sr->hop,
		 (unsigned long long)sr->flow_id, sr->service_id,
		 sockredir_format_addr(&d->ctx.remote, dst, sizeof(dst)),
		 sockredir_format_addr(&d->app, app, sizeof(app)), ep,
		 sr->app_pid, sr->app_uid, sr->app_gid, sr->app_comm,
		 sr->protocol, chain, d->rec_len, d->ctx_len);
}

/* A new flow for @d (which carries records and context), on socket @up. */
static struct flow *start_flow(const struct dgram *d, SOCKET up)
{
	struct flow *f = calloc(1, sizeof(*f));
	struct timeval tv = { .tv_sec = idle_s };
	pthread_t t;

	if (!f)
		return NULL;
	f->app = d->app;
	f->v4 = v4_app(&d->app);
	f->pi4 = d->pi4;
	f->pi6 = d->pi6;
	f->dst = d->ctx.remote;
	f->up = up;
	setsockopt(up, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	pthread_mutex_lock(&lock);
	f->next = flows;
	flows = f;
	pthread_mutex_unlock(&lock);
	if (pthread_create(&t, NULL, downstream, f) == 0)
		pthread_detach(t);
	return f;
}

static void serve_one(struct dgram *d)
{
	struct flow *f;
	SOCKET up;

	if (d->have_rec && d->have_ctx) {
		up = socket(d->ctx.remote.ss_family, SOCK_DGRAM, IPPROTO_UDP);
		if (up == INVALID_SOCKET)
			return;
		if (upstream(up, &d->ctx.remote, d, d->rec, d->rec_len,
			     d->rec_level) == SOCKET_ERROR) {
			log_line("%s error first-datagram %d", name, WSAGetLastError());
			closesocket(up);
			return;
		}
		log_flow(d, "flow");
		start_flow(d, up);
		return;
	}
	f = find_flow(d);
	if (!f) {
		log_line("%s drop: a datagram of no flow", name);
		return;
	}
	if (upstream(f->up, &f->dst, d, NULL, 0, 0) == SOCKET_ERROR)
		log_line("%s error datagram %d", name, WSAGetLastError());
}

static void serve(void)
{
	static struct dgram d;

	for (;;) {
		if (receive(service, &d, SOCKREDIR_WSA_RECV_CONTROL, 0))
			continue;
		serve_one(&d);
	}
}

/* ---- Set-up, the Windows way ------------------------------------------------- */

static int wfp_options(SOCKET s, int family)
{
	DWORD on = TRUE;

	if (setsockopt(s, IPPROTO_IP, IP_WFP_REDIRECT_RECORDS, (char *)&on, sizeof(on)) ||
	    setsockopt(s, IPPROTO_IP, IP_WFP_REDIRECT_CONTEXT, (char *)&on, sizeof(on)))
		return -1;
	if (family == AF_INET6 &&
	    (setsockopt(s, IPPROTO_IPV6, IPV6_WFP_REDIRECT_RECORDS, (char *)&on,
			sizeof(on)) ||
	     setsockopt(s, IPPROTO_IPV6, IPV6_WFP_REDIRECT_CONTEXT, (char *)&on,
			sizeof(on))))
		return -1;
	return 0;
}

static int get_functions(SOCKET s)
{
	GUID r = WSAID_WSARECVMSG, w = WSAID_WSASENDMSG;
	DWORD n;

	if (WSAIoctl(s, SIO_GET_EXTENSION_FUNCTION_POINTER, &r, sizeof(r),
		     &recv_fn, sizeof(recv_fn), &n, NULL, NULL) == SOCKET_ERROR ||
	    WSAIoctl(s, SIO_GET_EXTENSION_FUNCTION_POINTER, &w, sizeof(w),
		     &send_fn, sizeof(send_fn), &n, NULL, NULL) == SOCKET_ERROR)
		return -1;
	return 0;
}

/* A dual-stack UDP socket on [::]:@port, the four options on. */
static SOCKET open_service(unsigned short port)
{
	SOCKADDR_IN6 sin6 = { .sin6_family = AF_INET6, .sin6_port = htons(port),
			      .sin6_addr = IN6ADDR_ANY_INIT };
	SOCKET s = socket(AF_INET6, SOCK_DGRAM, IPPROTO_UDP);
	DWORD off = 0;

	if (s == INVALID_SOCKET ||
	    setsockopt(s, IPPROTO_IPV6, IPV6_V6ONLY, (char *)&off, sizeof(off)) ||
	    bind(s, (SOCKADDR *)&sin6, sizeof(sin6)) || wfp_options(s, AF_INET6))
		return INVALID_SOCKET;
	return s;
}

/* ---- Conformance --------------------------------------------------------------- */


/* IPv4-mapped addresses as IPv4. */
static void unmap(const SOCKADDR_STORAGE *in, SOCKADDR_STORAGE *out)
{
	const SOCKADDR_IN6 *a = (const SOCKADDR_IN6 *)in;
	SOCKADDR_IN *b = (SOCKADDR_IN *)out;

	*out = *in;
	if (in->ss_family != AF_INET6 || !IN6_IS_ADDR_V4MAPPED(&a->sin6_addr))
		return;
	memset(out, 0, sizeof(*out));
	b->sin_family = AF_INET;
	b->sin_port = a->sin6_port;
	memcpy(&b->sin_addr, &a->sin6_addr.s6_addr[12], 4);
}

static int same_addr(const SOCKADDR_STORAGE *a, const SOCKADDR_STORAGE *b)
{
	char x[SOCKREDIR_ADDRSTRLEN], y[SOCKREDIR_ADDRSTRLEN];
	SOCKADDR_STORAGE ua, ub;

	unmap(a, &ua);
	unmap(b, &ub);
	sockredir_format_addr(&ua, x, sizeof(x));
	sockredir_format_addr(&ub, y, sizeof(y));
	if (!strcmp(x, y))
		return 1;
	printf("# %s != %s\n", x, y);
	return 0;
}

static void conform_options(void)
{
	SOCKET s = socket(AF_INET, SOCK_DGRAM, 0), s6 = socket(AF_INET6, SOCK_DGRAM, 0);
	SOCKET t = socket(AF_INET, SOCK_STREAM, 0), again;
	DWORD on = TRUE, off = FALSE, v = 77;
	int len = sizeof(v), pipefd[2], rc, pk = 0, buf = 65536;

	rc = getsockopt(s, IPPROTO_IP, IP_WFP_REDIRECT_RECORDS, (char *)&v, &len);
	check(rc == 0 && v == FALSE && len == 4,
	      "getsockopt IP_WFP_REDIRECT_RECORDS: a new socket -> FALSE, 4 bytes");
	rc = setsockopt(s, IPPROTO_IP, IP_WFP_REDIRECT_RECORDS, (char *)&on, sizeof(on));
	v = 0; len = sizeof(v);
	check(rc == 0 && !getsockopt(s, IPPROTO_IP, IP_WFP_REDIRECT_RECORDS,
				     (char *)&v, &len) && v == TRUE,
	      "setsockopt IP_WFP_REDIRECT_RECORDS TRUE -> 0, getsockopt TRUE");
	len = sizeof(pk);
	check(!getsockopt(s, IPPROTO_IP, IP_PKTINFO, (char *)&pk, &len) && pk == 1,
	      "... and it turned the kernel's IP_PKTINFO on");
	v = 77; len = sizeof(v);
	check(!getsockopt(s, IPPROTO_IP, IP_WFP_REDIRECT_CONTEXT, (char *)&v, &len) &&
	      v == FALSE, "... IP_WFP_REDIRECT_CONTEXT still FALSE");
	v = 0; len = sizeof(v);
	check(!setsockopt(s, IPPROTO_IP, IP_WFP_REDIRECT_RECORDS, (char *)&off, 4) &&
	      !getsockopt(s, IPPROTO_IP, IP_WFP_REDIRECT_RECORDS, (char *)&v, &len) &&
	      v == FALSE, "setsockopt FALSE -> getsockopt FALSE");
	check(fails(setsockopt(s, IPPROTO_IP, IP_WFP_REDIRECT_CONTEXT, (char *)&on, 2),
		    WSAEFAULT) && errno == EFAULT,
	      "setsockopt optlen 2 -> WSAEFAULT (errno EFAULT)");
	check(fails(setsockopt(s, IPPROTO_IP, IP_WFP_REDIRECT_CONTEXT, NULL, 4),
		    WSAEFAULT), "setsockopt optval NULL -> WSAEFAULT");
	len = 2;
	check(fails(getsockopt(s, IPPROTO_IP, IP_WFP_REDIRECT_CONTEXT, (char *)&v,
			       &len), WSAEFAULT), "getsockopt optlen 2 -> WSAEFAULT");
	check(fails(setsockopt(s, IPPROTO_IPV6, IPV6_WFP_REDIRECT_CONTEXT,
			       (char *)&on, 4), WSAENOPROTOOPT),
	      "IPV6_WFP_REDIRECT_CONTEXT on an AF_INET socket -> WSAENOPROTOOPT");
	check(fails(setsockopt(t, IPPROTO_IP, IP_WFP_REDIRECT_RECORDS, (char *)&on, 4),
		    WSAENOPROTOOPT), "on a TCP socket -> WSAENOPROTOOPT");
	if (pipe(pipefd) == 0) {
		check(fails(setsockopt(pipefd[0], IPPROTO_IP, IP_WFP_REDIRECT_RECORDS,
				       (char *)&on, 4), WSAENOTSOCK),
		      "on a pipe -> WSAENOTSOCK");
		close(pipefd[0]);
		close(pipefd[1]);
	}
	v = 0; len = sizeof(v);
	check(!setsockopt(s6, IPPROTO_IPV6, IPV6_WFP_REDIRECT_RECORDS, (char *)&on, 4) &&
	      !getsockopt(s6, IPPROTO_IPV6, IPV6_WFP_REDIRECT_RECORDS, (char *)&v,
			  &len) && v == TRUE,
	      "IPV6_WFP_REDIRECT_RECORDS on an AF_INET6 socket -> TRUE");
	v = 77; len = sizeof(v);
	check(!getsockopt(s6, IPPROTO_IP, IP_WFP_REDIRECT_RECORDS, (char *)&v, &len) &&
	      v == FALSE, "... the IPv4 pair is apart: still FALSE");
	check(!setsockopt(s, SOL_SOCKET, SO_RCVBUF, (char *)&buf, sizeof(buf)),
	      "other options pass to the kernel: SO_RCVBUF -> 0");
	check(fails(setsockopt(s, SOL_SOCKET, SO_RCVBUF, (char *)&buf, 1), WSAEINVAL) &&
	      errno == EINVAL,
	      "... and their errors come back: SO_RCVBUF optlen 1 -> WSAEINVAL, EINVAL");
	/* A descriptor reused for another socket starts afresh. */
	setsockopt(s6, IPPROTO_IP, IP_WFP_REDIRECT_CONTEXT, (char *)&on, 4);
	closesocket(s6);
	again = socket(AF_INET6, SOCK_DGRAM, 0);
	v = 77; len = sizeof(v);
	check(again == s6 && !getsockopt(again, IPPROTO_IP, IP_WFP_REDIRECT_CONTEXT,
					 (char *)&v, &len) && v == FALSE,
	      "a new socket on a closed one's descriptor -> FALSE");
	closesocket(again);
	closesocket(s);
	closesocket(t);
}

static void conform_extensions(void)
{
	GUID r = WSAID_WSARECVMSG, w = WSAID_WSASENDMSG, other = { 1, 2, 3, { 4 } };
	SOCKET s = socket(AF_INET, SOCK_DGRAM, 0), t = socket(AF_INET, SOCK_STREAM, 0);
	LPFN_WSARECVMSG rf = NULL;
	LPFN_WSASENDMSG wf = NULL;
	DWORD n = 0;
	int rc;

	rc = WSAIoctl(s, SIO_GET_EXTENSION_FUNCTION_POINTER, &r, sizeof(r), &rf,
		      sizeof(rf), &n, NULL, NULL);
	check(rc == 0 && rf == WSARecvMsg && n == sizeof(rf),
	      "SIO_GET_EXTENSION_FUNCTION_POINTER WSAID_WSARECVMSG -> WSARecvMsg");
	rc = WSAIoctl(t, SIO_GET_EXTENSION_FUNCTION_POINTER, &w, sizeof(w), &wf,
		      sizeof(wf), &n, NULL, NULL);
	check(rc == 0 && wf == WSASendMsg,
	      "... WSAID_WSASENDMSG -> WSASendMsg (on a TCP socket too)");
	check(fails(WSAIoctl(s, SIO_GET_EXTENSION_FUNCTION_POINTER, &other,
			     sizeof(other), &rf, sizeof(rf), &n, NULL, NULL),
		    WSAEINVAL), "... another GUID -> WSAEINVAL");
	check(fails(WSAIoctl(s, SIO_GET_EXTENSION_FUNCTION_POINTER, &r, 8, &rf,
			     sizeof(rf), &n, NULL, NULL), WSAEFAULT),
	      "... cbInBuffer short of a GUID -> WSAEFAULT");
	check(fails(WSAIoctl(s, SIO_GET_EXTENSION_FUNCTION_POINTER, &r, sizeof(r),
			     &rf, 4, &n, NULL, NULL), WSAEFAULT),
	      "... cbOutBuffer short of a pointer -> WSAEFAULT");
	closesocket(s);
	closesocket(t);
}

/* A sink on 127.0.0.1: has it received anything?  How many datagrams? */
static int drain(SOCKET k)
{
	char b[64];
	int n = 0;

	while (recv(k, b, sizeof(b), MSG_DONTWAIT) >= 0)
		n++;
	return n;
}

static int port_of(SOCKET s)
{
	SOCKADDR_STORAGE ss;
	socklen_t len = sizeof(ss);

	if (getsockname(s, (SOCKADDR *)&ss, &len))
		return -1;
	return ntohs(ss.ss_family == AF_INET6 ? ((SOCKADDR_IN6 *)&ss)->sin6_port :
					       ((SOCKADDR_IN *)&ss)->sin_port);
}

/* WSASendMsg to @to with @control as the control data. */
static int send_ctl(SOCKET s, const SOCKADDR_IN *to, void *control, ULONG clen)
{
	WSABUF b = { 2, "hi" };
	WSAMSG msg = { .name = (LPSOCKADDR)to, .namelen = sizeof(*to),
		       .lpBuffers = &b, .dwBufferCount = 1,
		       .Control = { clen, control } };
	DWORD n;

	return WSASendMsg(s, &msg, 0, &n, NULL, NULL);
}

/* One control message at @buf; returns its space. */
static ULONG cmsg(void *buf, int level, int type, const void *data, size_t n)
{
	WSACMSGHDR *c = buf;

	memset(c, 0, WSA_CMSG_SPACE(n));
	c->cmsg_len = WSA_CMSG_LEN(n);
	c->cmsg_level = level;
	c->cmsg_type = type;
	if (data)
		memcpy(WSA_CMSG_DATA(c), data, n);
	return (ULONG)WSA_CMSG_SPACE(n);
}

static void conform_send(void)
{
	union {
		char buf[8192];
		WSACMSGHDR align;
	} cb;
	SOCKADDR_IN to = { .sin_family = AF_INET,
			   .sin_addr.s_addr = htonl(INADDR_LOOPBACK) }, from;
	socklen_t flen = sizeof(from);
	SOCKET k = socket(AF_INET, SOCK_DGRAM, 0), u = socket(AF_INET, SOCK_DGRAM, 0);
	SOCKET t = socket(AF_INET, SOCK_STREAM, 0), v;
	BYTE rec[SOCKREDIR_RECORDS_MAX + 64];
	socklen_t tlen = sizeof(to);
	IN_PKTINFO pi = { .ipi_addr.s_addr = htonl(0x7f000005) };
	WSABUF b = { 2, "hi" };
	WSAMSG msg = { .name = (LPSOCKADDR)&to, .namelen = sizeof(to),
		       .lpBuffers = &b, .dwBufferCount = 1 };
	DWORD n;
	ULONG l;
	char got[8];

	memset(rec, 0xa5, sizeof(rec));
	bind(k, (SOCKADDR *)&to, sizeof(to));
	getsockname(k, (SOCKADDR *)&to, &tlen);

	check(fails(WSASendMsg(u, NULL, 0, &n, NULL, NULL), WSAEFAULT),
	      "WSASendMsg: lpMsg NULL -> WSAEFAULT");
	msg.Control = (WSABUF){ 16, NULL };
	check(fails(WSASendMsg(u, &msg, 0, &n, NULL, NULL), WSAEFAULT),
	      "WSASendMsg: Control.buf NULL, Control.len 16 -> WSAEFAULT");
	msg.Control = (WSABUF){ 0, NULL };
	msg.lpBuffers = NULL;
	check(fails(WSASendMsg(u, &msg, 0, &n, NULL, NULL), WSAEFAULT),
	      "WSASendMsg: lpBuffers NULL, one buffer -> WSAEFAULT");
	msg.lpBuffers = &b;
	check(fails(WSASendMsg(u, &msg, MSG_OOB, &n, NULL, NULL), WSAEOPNOTSUPP),
	      "WSASendMsg: MSG_OOB -> WSAEOPNOTSUPP");
	check(fails(WSASendMsg(t, &msg, 0, &n, NULL, NULL), WSAEINVAL),
	      "WSASendMsg: a TCP socket -> WSAEINVAL");
	l = cmsg(cb.buf, IPPROTO_IP, IP_WFP_REDIRECT_RECORDS, rec, 48);
	check(fails(send_ctl(u, &to, cb.buf, 8), WSAEINVAL),
	      "control: a header cut short (8 bytes) -> WSAEINVAL");
	((WSACMSGHDR *)cb.buf)->cmsg_len = 8;
	check(fails(send_ctl(u, &to, cb.buf, l), WSAEINVAL),
	      "control: cmsg_len below WSA_CMSG_LEN(0) -> WSAEINVAL");
	((WSACMSGHDR *)cb.buf)->cmsg_len = l + 1;
	check(fails(send_ctl(u, &to, cb.buf, l), WSAEINVAL),
	      "control: cmsg_len past the buffer -> WSAEINVAL");
	l = cmsg(cb.buf, IPPROTO_IP, IP_WFP_REDIRECT_RECORDS, NULL, 0);
	check(fails(send_ctl(u, &to, cb.buf, l), WSAEINVAL),
	      "control: records of 0 bytes -> WSAEINVAL");
	l = cmsg(cb.buf, IPPROTO_IP, IP_WFP_REDIRECT_RECORDS, rec,
		 SOCKREDIR_RECORDS_MAX + 1);
	check(fails(send_ctl(u, &to, cb.buf, l), WSAEINVAL),
	      "control: records above SOCKREDIR_RECORDS_MAX -> WSAEINVAL");
	l = cmsg(cb.buf, IPPROTO_IP, IP_WFP_REDIRECT_CONTEXT, rec, 48);
	check(fails(send_ctl(u, &to, cb.buf, l), WSAEINVAL),
	      "control: a context (IP_WFP_REDIRECT_CONTEXT) -> WSAEINVAL");
	l = cmsg(cb.buf, SOL_SOCKET, IP_WFP_REDIRECT_RECORDS, rec, 48);
	check(fails(send_ctl(u, &to, cb.buf, l), WSAEINVAL),
	      "control: records at level SOL_SOCKET -> WSAEINVAL");
	l = cmsg(cb.buf, IPPROTO_IPV6, IPV6_WFP_REDIRECT_RECORDS, rec, 48);
	check(fails(send_ctl(u, &to, cb.buf, l), WSAEINVAL),
	      "control: IPV6_WFP_REDIRECT_RECORDS on an AF_INET socket -> WSAEINVAL");
	l = cmsg(cb.buf, IPPROTO_IP, IP_WFP_REDIRECT_RECORDS, rec, 48);
	l += cmsg(cb.buf + l, IPPROTO_IP, IP_WFP_REDIRECT_RECORDS, rec, 48);
	check(fails(send_ctl(u, &to, cb.buf, l), WSAEINVAL),
	      "control: records twice -> WSAEINVAL");
	l = cmsg(cb.buf, IPPROTO_IP, IP_PKTINFO, &pi, sizeof(pi) + 4);
	check(fails(send_ctl(u, &to, cb.buf, l), WSAEINVAL),
	      "control: a pktinfo of the wrong size -> WSAEINVAL");
	memset(cb.buf, 0, sizeof(cb.buf));
	cmsg(cb.buf, IPPROTO_IP, IP_PKTINFO, &pi, sizeof(pi));
	check(fails(send_ctl(u, &to, cb.buf, SOCKREDIR_WSA_SEND_CONTROL_MAX + 8),
		    WSAEINVAL), "control: above SOCKREDIR_WSA_SEND_CONTROL_MAX -> WSAEINVAL");
	l = cmsg(cb.buf, IPPROTO_IP, IP_WFP_REDIRECT_RECORDS, rec, 48);
	check(fails(send_ctl(u, &to, cb.buf, l), WSAEINVAL),
	      "records the layer did not issue -> WSAEINVAL");
	check(drain(k) == 0 && port_of(u) == 0,
	      "after all of these: nothing was sent, the socket is still unbound");

	l = cmsg(cb.buf, IPPROTO_IP, IP_PKTINFO, &pi, sizeof(pi));
	check(send_ctl(u, &to, cb.buf, l) == 0 &&
	      recvfrom(k, got, sizeof(got), 0, (SOCKADDR *)&from, &flen) == 2 &&
	      from.sin_addr.s_addr == pi.ipi_addr.s_addr,
	      "IN_PKTINFO: the datagram leaves from ipi_addr (127.0.0.5)");
	l = cmsg(cb.buf, IPPROTO_IP, IP_WFP_REDIRECT_RECORDS, rec, 48);
	check(fails(send_ctl(u, &to, cb.buf, l), WSAEISCONN) && drain(k) == 0,
	      "records on a later datagram -> WSAEISCONN, nothing sent");
	v = socket(AF_INET, SOCK_DGRAM, 0);
	from = (SOCKADDR_IN){ .sin_family = AF_INET,
			      .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	bind(v, (SOCKADDR *)&from, sizeof(from));
	check(fails(send_ctl(v, &to, cb.buf, l), WSAEISCONN) && drain(k) == 0,
	      "records on a bound socket -> WSAEISCONN, nothing sent");
	closesocket(v);
	v = socket(AF_INET, SOCK_DGRAM, 0);
	connect(v, (SOCKADDR *)&to, sizeof(to));
	check(fails(send_ctl(v, &to, cb.buf, l), WSAEISCONN) && drain(k) == 0,
	      "records on a connected socket -> WSAEISCONN, nothing sent");
	closesocket(v);
	n = 0;
	check(WSASendMsg(u, &msg, 0, &n, NULL, NULL) == 0 && n == 2 && drain(k) == 1,
	      "no control data: sent, 2 bytes");
	closesocket(u);
	closesocket(k);
	closesocket(t);
}

static void conform_recv_plain(void)
{
	SOCKET s = open_service(0), c = socket(AF_INET, SOCK_DGRAM, 0);
	SOCKET c6 = socket(AF_INET6, SOCK_DGRAM, 0), t = socket(AF_INET, SOCK_STREAM, 0);
	SOCKET un = socket(AF_INET, SOCK_DGRAM, 0);
	SOCKADDR_IN to = { .sin_family = AF_INET, .sin_port = htons(port_of(s)),
			   .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	SOCKADDR_IN6 to6 = { .sin6_family = AF_INET6, .sin6_port = htons(port_of(s)),
			     .sin6_addr = IN6ADDR_LOOPBACK_INIT };
	static struct dgram d;
	char buf[16];
	WSABUF b = { sizeof(buf), buf };
	SOCKADDR_IN small;
	WSAMSG msg = { .lpBuffers = &b, .dwBufferCount = 1 };
	WSAOVERLAPPED ov;
	WSAEVENT ev = WSACreateEvent();
	DWORD n;
	int fl;

	check(fails(WSARecvMsg(s, NULL, &n, NULL, NULL), WSAEFAULT),
	      "WSARecvMsg: lpMsg NULL -> WSAEFAULT");
	msg.Control = (WSABUF){ 64, NULL };
	check(fails(WSARecvMsg(s, &msg, &n, NULL, NULL), WSAEFAULT),
	      "WSARecvMsg: Control.buf NULL, Control.len 64 -> WSAEFAULT");
	msg.Control = (WSABUF){ 0, NULL };
	msg.name = (LPSOCKADDR)&small;
	msg.namelen = sizeof(small);
	check(fails(WSARecvMsg(s, &msg, &n, NULL, NULL), WSAEFAULT),
	      "WSARecvMsg: namelen too small for the AF_INET6 socket -> WSAEFAULT");
	msg.name = NULL;
	msg.namelen = 0;
	msg.dwFlags = MSG_OOB;
	check(fails(WSARecvMsg(s, &msg, &n, NULL, NULL), WSAEOPNOTSUPP),
	      "WSARecvMsg: MSG_OOB -> WSAEOPNOTSUPP");
	msg.dwFlags = 0;
	check(fails(WSARecvMsg(t, &msg, &n, NULL, NULL), WSAEINVAL),
	      "WSARecvMsg: a TCP socket -> WSAEINVAL");
	check(fails(WSARecvMsg(un, &msg, &n, NULL, NULL), WSAEINVAL),
	      "WSARecvMsg: an unbound UDP socket -> WSAEINVAL");
	fl = fcntl(s, F_GETFL);
	fcntl(s, F_SETFL, fl | O_NONBLOCK);
	check(fails(WSARecvMsg(s, &msg, &n, NULL, NULL), WSAEWOULDBLOCK),
	      "WSARecvMsg: nothing to read, non-blocking -> WSAEWOULDBLOCK");
	fcntl(s, F_SETFL, fl);

	sendto(c, "plain", 5, 0, (SOCKADDR *)&to, sizeof(to));
	check(receive(s, &d, SOCKREDIR_WSA_RECV_CONTROL, 0) == 0 && d.len == 5 &&
	      !memcmp(d.data, "plain", 5) && d.have4 &&
	      d.pi4.ipi_addr.s_addr == htonl(INADDR_LOOPBACK) && !d.have_rec &&
	      !d.have_ctx && !(d.flags & MSG_CTRUNC),
	      "a datagram no redirect brought: IN_PKTINFO 127.0.0.1, no records, "
	      "no context, no MSG_CTRUNC");
	sendto(c6, "six", 3, 0, (SOCKADDR *)&to6, sizeof(to6));
	check(receive(s, &d, SOCKREDIR_WSA_RECV_CONTROL, 0) == 0 && d.len == 3 &&
	      d.have6 && IN6_IS_ADDR_LOOPBACK(&d.pi6.ipi6_addr) && !d.have_rec &&
	      !d.have_ctx && d.app.ss_family == AF_INET6,
	      "... over IPv6: IN6_PKTINFO ::1, no records, no context");
	sendto(c, "plain", 5, 0, (SOCKADDR *)&to, sizeof(to));
	check(receive(s, &d, 0, 0) == 0 && d.len == 5 && (d.flags & MSG_CTRUNC),
	      "... with no control buffer: the datagram, MSG_CTRUNC");
	sendto(c, "overlapped", 10, 0, (SOCKADDR *)&to, sizeof(to));
	memset(&ov, 0, sizeof(ov));
	ov.hEvent = ev;
	n = 0;
	check(WSARecvMsg(s, &msg, &n, &ov, NULL) == 0 && n == 10 &&
	      ov.Internal == 0 && ov.InternalHigh == 10 &&
	      WSAWaitForMultipleEvents(1, &ev, TRUE, 0, FALSE) == WSA_WAIT_EVENT_0 &&
	      !(msg.dwFlags & MSG_TRUNC),
	      "overlapped: completes at once, 10 bytes, event signalled");
	sendto(c, "twenty bytes, > 16..", 20, 0, (SOCKADDR *)&to, sizeof(to));
	msg.dwFlags = 0;	/* it came back with MSG_CTRUNC */
	check(WSARecvMsg(s, &msg, &n, NULL, NULL) == 0 && n == 16 &&
	      (msg.dwFlags & MSG_TRUNC),
	      "a datagram longer than the buffer: 16 bytes, MSG_TRUNC");
	WSACloseEvent(ev);
	closesocket(s);
	closesocket(c);
	closesocket(c6);
	closesocket(t);
	closesocket(un);
}

/* On the first redirected flow: three datagrams q1, q2, q3. */
static void conform_flow(const SOCKADDR_STORAGE *expect_dst, unsigned int hop,
			 const char *comm)
{
	static struct dgram d1, d2, d3, peek;
	struct sockredir_flow_sel sel;
	BYTE rec[SOCKREDIR_RECORDS_MAX], bad[SOCKREDIR_RECORDS_MAX];
	socklen_t rlen = sizeof(rec);
	size_t small = WSA_CMSG_SPACE(sizeof(IN_PKTINFO)) +
		       WSA_CMSG_SPACE(sizeof(IN6_PKTINFO));
	struct sockredir_context parsed;
	SOCKET up;
	int v4, rc;

	check(receive(service, &peek, SOCKREDIR_WSA_RECV_CONTROL, MSG_PEEK) == 0 &&
	      peek.have_rec && peek.have_ctx,
	      "flow: MSG_PEEK on its first datagram -> records and context");
	check(receive(service, &d1, small, 0) == 0 && (d1.flags & MSG_CTRUNC) &&
	      !d1.have_rec && !d1.have_ctx && (d1.have4 || d1.have6) &&
	      d1.len == peek.len && !memcmp(d1.data, peek.data, d1.len),
	      "flow: first datagram, room for the pktinfo only -> MSG_CTRUNC, "
	      "the datagram, no records, no context");
	check(receive(service, &d2, SOCKREDIR_WSA_RECV_CONTROL, 0) == 0 &&
	      !(d2.flags & MSG_CTRUNC) && d2.have_rec && d2.have_ctx &&
	      d2.rec_len == peek.rec_len && !memcmp(d2.rec, peek.rec, d2.rec_len),
	      "flow: its second datagram carries the records kept (not lost)");
	v4 = v4_app(&d2.app);
	check(d2.rec_level == (v4 ? IPPROTO_IP : IPPROTO_IPV6) &&
	      d2.rec_len > 0 && d2.rec_len <= SOCKREDIR_RECORDS_MAX &&
	      d2.ctx_len == sizeof(struct sockredir_context),
	      "flow: records at level %s, %zu bytes; a whole context",
	      v4 ? "IPPROTO_IP" : "IPPROTO_IPV6", d2.rec_len);
	memset(&parsed, 0, sizeof(parsed));
	rc = sockredir_parse_context(&d2.ctx, d2.ctx_len, &parsed);
	check(rc == 0 && parsed.sr.hop == hop && parsed.sr.protocol == IPPROTO_UDP,
	      "flow: the context parses: hop %u (want %u), UDP", parsed.sr.hop, hop);
	if (expect_dst->ss_family)
		check(same_addr(&d2.ctx.remote, expect_dst),
		      "flow: context[0] is the original destination");
	if (comm)
		check(!strcmp(d2.ctx.sr.app_comm, comm),
		      "flow: the application is %s (%s)", comm, d2.ctx.sr.app_comm);
	check(hop != 1 || same_addr(&d2.ctx.local, &d2.app),
	      "flow: context[1] is the application's address (the sender)");
	check(receive(service, &d3, SOCKREDIR_WSA_RECV_CONTROL, 0) == 0 &&
	      !d3.have_rec && !d3.have_ctx && same_addr(&d3.app, &d2.app) &&
	      (v4 ? d3.pi4.ipi_addr.s_addr == d2.pi4.ipi_addr.s_addr :
		    !memcmp(&d3.pi6, &d2.pi6, 16)),
	      "flow: the third datagram: the same flow, no records, no context");
	memset(&sel, 0, sizeof(sel));
	memcpy(&sel.app, &d2.app, addr_len(&d2.app));
	if (v4) {
		SOCKADDR_IN *e = (SOCKADDR_IN *)&sel.endpoint;

		e->sin_family = AF_INET;
		e->sin_addr = d2.pi4.ipi_addr;
	} else {
		SOCKADDR_IN6 *e = (SOCKADDR_IN6 *)&sel.endpoint;

		e->sin6_family = AF_INET6;
		e->sin6_addr = d2.pi6.ipi6_addr;
	}
	((SOCKADDR_IN *)&sel.endpoint)->sin_port = htons(port_of(service));
	check(setsockopt(service, SOL_SOCKREDIR, SOCKREDIR_FLOW, &sel, sizeof(sel)) == 0 &&
	      getsockopt(service, SOL_SOCKREDIR, SOCKREDIR_RECORDS, rec, &rlen) == 0 &&
	      rlen == d2.rec_len && !memcmp(rec, d2.rec, rlen),
	      "flow: the same records as the plain interface (SOCKREDIR_FLOW)");

	/* On, to the original destination: records given twice must agree. */
	up = socket(d2.ctx.remote.ss_family, SOCK_DGRAM, IPPROTO_UDP);
	memcpy(bad, d2.rec, d2.rec_len);
	bad[d2.rec_len - 1] ^= 1;
	check(setsockopt(up, SOL_SOCKREDIR, SOCKREDIR_RECORDS, d2.rec, d2.rec_len) == 0,
	      "upstream: setsockopt SOCKREDIR_RECORDS through the header -> 0");
	check(fails(upstream(up, &d2.ctx.remote, &d1, bad, d2.rec_len, d2.rec_level),
		    WSAEALREADY) && port_of(up) == 0,
	      "upstream: other records than the socket has -> WSAEALREADY, "
	      "nothing sent");
	check(upstream(up, &d2.ctx.remote, &d1, d2.rec, d2.rec_len, d2.rec_level) == 0,
	      "upstream: the first datagram with the same records -> sent");
	check(fails(upstream(up, &d2.ctx.remote, &d2, d2.rec, d2.rec_len,
			     d2.rec_level), WSAEISCONN),
	      "upstream: records again on its second datagram -> WSAEISCONN");
	check(upstream(up, &d2.ctx.remote, &d2, NULL, 0, 0) == 0 &&
	      upstream(up, &d2.ctx.remote, &d3, NULL, 0, 0) == 0,
	      "upstream: the second and third datagrams, no control data -> sent");
	if (dump_path) {
		FILE *f = fopen(dump_path, "w");

		if (f) {
			fwrite(d2.rec, 1, d2.rec_len, f);
			fclose(f);
		}
	}
	log_flow(&d2, "flow");
	replies_left = 3;
	start_flow(&d2, up);
}

/* ---- The unprivileged WSASendMsg ------------------------------------------------- */

static int try_send(const char *path)
{
	union {
		char buf[WSA_CMSG_SPACE(SOCKREDIR_RECORDS_MAX)];
		WSACMSGHDR align;
	} cb;
	SOCKADDR_IN to = { .sin_family = AF_INET,
			   .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(to);
	SOCKET k = socket(AF_INET, SOCK_DGRAM, 0), u = socket(AF_INET, SOCK_DGRAM, 0);
	BYTE rec[SOCKREDIR_RECORDS_MAX];
	FILE *f = fopen(path, "r");
	size_t n;
	ULONG l;
	int err = 0;

	if (!f) {
		perror(path);
		return 1;
	}
	n = fread(rec, 1, sizeof(rec), f);
	fclose(f);
	bind(k, (SOCKADDR *)&to, sizeof(to));
	getsockname(k, (SOCKADDR *)&to, &len);
	l = cmsg(cb.buf, IPPROTO_IP, IP_WFP_REDIRECT_RECORDS, rec, n);
	if (send_ctl(u, &to, cb.buf, l) == SOCKET_ERROR)
		err = WSAGetLastError();
	printf("%d %d\n", err, drain(k));
	return 0;
}

/* ---- Main ------------------------------------------------------------------------ */

static void usage(FILE *f)
{
	fprintf(f, "usage: wsa_udp_proxy --name NAME --port PORT [--log FILE] "
		"[--idle S] [--conformance [--expect-dst ADDR:PORT] "
		"[--expect-hop N] [--expect-comm COMM] [--dump-records FILE]]\n"
		"       wsa_udp_proxy --try-send FILE\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "name", required_argument, NULL, 'n' },
		{ "port", required_argument, NULL, 'p' },
		{ "log", required_argument, NULL, 'l' },
		{ "idle", required_argument, NULL, 'i' },
		{ "conformance", no_argument, NULL, 'c' },
		{ "expect-dst", required_argument, NULL, 'd' },
		{ "expect-hop", required_argument, NULL, 'H' },
		{ "expect-comm", required_argument, NULL, 'C' },
		{ "dump-records", required_argument, NULL, 'D' },
		{ "try-send", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	SOCKADDR_STORAGE expect_dst;
	const char *comm = NULL;
	unsigned int hop = 1;
	int c, conform = 0, port = 0;
	WSADATA wsa;
	SOCKET probe;

	memset(&expect_dst, 0, sizeof(expect_dst));
	log_file = stderr;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'n': name = optarg; break;
		case 'p': port = atoi(optarg); break;
		case 'l':
			log_file = fopen(optarg, "a");
			if (!log_file) {
				perror(optarg);
				return 1;
			}
			break;
		case 'i': idle_s = atoi(optarg); break;
		case 'c': conform = 1; break;
		case 'd':
			if (sockredir_parse_addr(optarg, &expect_dst) < 0) {
				usage(stderr);
				return 2;
			}
			break;
		case 'H': hop = (unsigned int)atoi(optarg); break;
		case 'C': comm = optarg; break;
		case 'D': dump_path = optarg; break;
		case 't': return try_send(optarg);
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind != argc || port <= 0 || port > 65535 || idle_s <= 0) {
		usage(stderr);
		return 2;
	}
	WSAStartup(MAKEWORD(2, 2), &wsa);
	probe = socket(AF_INET6, SOCK_DGRAM, IPPROTO_UDP);
	if (get_functions(probe)) {
		fprintf(stderr, "SIO_GET_EXTENSION_FUNCTION_POINTER: %d\n",
			WSAGetLastError());
		return 1;
	}
	closesocket(probe);
	if (conform) {
		conform_options();
		conform_extensions();
		conform_send();
		conform_recv_plain();
	}
	service = open_service((unsigned short)port);
	if (service == INVALID_SOCKET) {
		fprintf(stderr, "service socket: %d\n", WSAGetLastError());
		return 1;
	}
	/* The one call a Windows service adds on Linux (see wsa_proxy.c). */
	if (sockredir_claim(service, name) < 0 && errno != ENOPROTOOPT) {
		perror("sockredir_claim");
		return 1;
	}
	if (conform) {
		conform_flow(&expect_dst, hop, comm);
		if (tap_failed)
			replies_left = -1;	/* then the test ends it */
	}
	serve();
	return 0;
}
