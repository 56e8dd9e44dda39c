// SPDX-License-Identifier: MIT
/*
 * dgram.c - WFP's datagram redirect over the plain UDP interface of
 * <sockredir.h>: the IP(V6)_WFP_REDIRECT_* options, WSARecvMsg delivering a
 * flow's records and context on its first datagram, WSASendMsg passing the
 * records on.  The rules are in <sockredir/winsock.h>, "Datagram redirects".
 */
#define SOCKREDIR_WINSOCK_NO_SOCKOPT_MACROS
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <netinet/in.h>

#include "sockredir/winsock.h"
#include "internal.h"

#ifndef SO_COOKIE
#define SO_COOKIE 57
#endif
#ifndef IPV6_FREEBIND
#define IPV6_FREEBIND 78
#endif

/* The options, per family; delivered-bits per flow use REC and CTX. */
#define OPT_REC4	1u
#define OPT_CTX4	2u
#define OPT_REC6	4u
#define OPT_CTX6	8u
#define GOT_REC		1u
#define GOT_CTX		2u

/* One flow endpoint seen on a socket, and what its flow was given. */
struct seen {
	uint8_t addr[16];	/* IPv4 as IPv4-mapped */
	uint16_t port;		/* network order; 0: free slot */
	uint8_t got;		/* GOT_* delivered for flow_id */
	uint64_t flow_id;
};

/* What this library keeps for one socket (see "The options belong ..."). */
struct dsock {
	pthread_mutex_t lock;	/* also serialises the flow selection */
	uint64_t cookie;	/* the socket this is about */
	unsigned int opts;	/* OPT_* */
	struct seen *seen;	/* open addressing, nseen_cap a power of 2 */
	size_t nseen, nseen_cap;
	uint8_t given[SOCKREDIR_RECORDS_MAX]; /* records given to it */
	size_t given_len;
};

static pthread_mutex_t tab_lock = PTHREAD_MUTEX_INITIALIZER;
static struct dsock **tab;	/* by descriptor */
static size_t tab_len;

static int sock_cookie(int fd, uint64_t *cookie)
{
	socklen_t len = sizeof(*cookie);

	return getsockopt(fd, SOL_SOCKET, SO_COOKIE, cookie, &len) < 0 ? -errno : 0;
}

static void dsock_reset(struct dsock *d, uint64_t cookie)
{
	free(d->seen);
	d->seen = NULL;
	d->nseen = d->nseen_cap = 0;
	d->opts = 0;
	d->given_len = 0;
	d->cookie = cookie;
}

/*
 * The state of socket @fd, locked, or NULL: none yet and !@make, or out
 * of memory (-ENOMEM in *@err), or not a socket.  A state left by an earlier
 * socket on the same descriptor is reset first.
 */
static struct dsock *dsock_get(int fd, int make, int *err)
{
	struct dsock *d = NULL;
	uint64_t cookie;

	*err = sock_cookie(fd, &cookie);
	if (*err || fd < 0)
		return NULL;
	pthread_mutex_lock(&tab_lock);
	if ((size_t)fd >= tab_len && make) {
		size_t n = tab_len ? tab_len : 64;
		struct dsock **t;

		while (n <= (size_t)fd)
			n *= 2;
		t = realloc(tab, n * sizeof(*t));
		if (t) {
			memset(t + tab_len, 0, (n - tab_len) * sizeof(*t));
			tab = t;
			tab_len = n;
		}
	}
	if ((size_t)fd < tab_len) {
		d = tab[fd];
		if (!d && make) {
			d = calloc(1, sizeof(*d));
			if (d) {
				pthread_mutex_init(&d->lock, NULL);
				d->cookie = cookie;
				tab[fd] = d;
			}
		}
	}
	pthread_mutex_unlock(&tab_lock);
	if (!d) {
		*err = make ? -ENOMEM : 0;
		return NULL;
	}
	pthread_mutex_lock(&d->lock);
	if (d->cookie != cookie)
		dsock_reset(d, cookie);
	return d;
}

static void dsock_put(struct dsock *d)
{
	if (d)
		pthread_mutex_unlock(&d->lock);
}

static size_t seen_hash(const uint8_t *addr, uint16_t port)
{
	uint64_t h = 1469598103934665603ull;
	int i;

	for (i = 0; i < 16; i++)
		h = (h ^ addr[i]) * 1099511628211ull;
	h = (h ^ port) * 1099511628211ull;
	return (size_t)(h ^ (h >> 29));
}

static struct seen *seen_slot(struct seen *t, size_t cap, const uint8_t *addr,
			      uint16_t port)
{
	size_t i = seen_hash(addr, port) & (cap - 1);

	while (t[i].port && (t[i].port != port || memcmp(t[i].addr, addr, 16)))
		i = (i + 1) & (cap - 1);
	return &t[i];
}

/* The entry for endpoint (@addr, @port), made if new; NULL: no memory. */
static struct seen *seen_find(struct dsock *d, const uint8_t *addr, uint16_t port)
{
	struct seen *e;

	if ((d->nseen + 1) * 2 > d->nseen_cap) {
		size_t cap = d->nseen_cap ? d->nseen_cap * 2 : 64, i;
		struct seen *t = calloc(cap, sizeof(*t));

		if (!t)
			return NULL;
		for (i = 0; i < d->nseen_cap; i++)
			if (d->seen[i].port)
				*seen_slot(t, cap, d->seen[i].addr,
					   d->seen[i].port) = d->seen[i];
		free(d->seen);
		d->seen = t;
		d->nseen_cap = cap;
	}
	e = seen_slot(d->seen, d->nseen_cap, addr, port);
	if (!e->port) {
		memcpy(e->addr, addr, 16);
		e->port = port;
		e->got = 0;
		e->flow_id = 0;
		d->nseen++;
	}
	return e;
}

static int fail(int err)
{
	WSASetLastError(err);
	return SOCKET_ERROR;
}

static int sock_int(int fd, int level, int name, int *val)
{
	socklen_t len = sizeof(*val);

	return getsockopt(fd, level, name, val, &len) < 0 ? errno : 0;
}

/* ---- The options ---------------------------------------------------------- */

/* OPT_* for (@level, @name), or 0 if not one of the four. */
static unsigned int wfp_opt(int level, int name)
{
	if (level == IPPROTO_IP && name == IP_WFP_REDIRECT_RECORDS)
		return OPT_REC4;
	if (level == IPPROTO_IP && name == IP_WFP_REDIRECT_CONTEXT)
		return OPT_CTX4;
	if (level == IPPROTO_IPV6 && name == IPV6_WFP_REDIRECT_RECORDS)
		return OPT_REC6;
	if (level == IPPROTO_IPV6 && name == IPV6_WFP_REDIRECT_CONTEXT)
		return OPT_CTX6;
	return 0;
}

/* May @fd carry option @opt?  0 or the Winsock error. */
static int wfp_opt_check(int fd, unsigned int opt)
{
	int type, domain, err;

	err = sock_int(fd, SOL_SOCKET, SO_TYPE, &type);
	if (!err)
		err = sock_int(fd, SOL_SOCKET, SO_DOMAIN, &domain);
	if (err)
		return sockredir_wsa_error(0, err);
	if (type != SOCK_DGRAM || (domain != AF_INET && domain != AF_INET6))
		return WSAENOPROTOOPT;
	if ((opt & (OPT_REC6 | OPT_CTX6)) && domain != AF_INET6)
		return WSAENOPROTOOPT;
	return 0;
}

static int errno_of(int wsa)
{
	switch (wsa) {
	case WSAENOTSOCK:	return ENOTSOCK;
	case WSAEFAULT:		return EFAULT;
	case WSAENOPROTOOPT:	return ENOPROTOOPT;
	case WSAENOBUFS:	return ENOBUFS;
	default:		return EINVAL;
	}
}

static int opt_fail(int wsa)
{
	errno = errno_of(wsa);
	return fail(wsa);
}

SOCKREDIR_API int sockredir_wsa_setsockopt(SOCKET s, int level, int optname,
					   const void *optval, socklen_t optlen)
{
	unsigned int opt = wfp_opt(level, optname);
	struct dsock *d;
	DWORD on;
	int err, one = 1;

	if (!opt) {
		if (setsockopt(s, level, optname, optval, optlen) < 0)
			return fail(sockredir_wsa_error(0, errno));
		/* Records given through here: WSASendMsg compares with them. */
		if (level == SOL_SOCKREDIR && optname == SOCKREDIR_RECORDS &&
		    optlen <= SOCKREDIR_RECORDS_MAX) {
			d = dsock_get(s, 1, &err);
			if (d) {
				memcpy(d->given, optval, optlen);
				d->given_len = optlen;
			}
			dsock_put(d);
		}
		return 0;
	}
	err = wfp_opt_check(s, opt);
	if (err)
		return opt_fail(err);
	if (!optval || optlen < sizeof(DWORD))
		return opt_fail(WSAEFAULT);
	memcpy(&on, optval, sizeof(on));
	if (on) {
		/* The flow is the pktinfo address: the kernel must give it. */
		if (opt & (OPT_REC4 | OPT_CTX4))
			err = setsockopt(s, IPPROTO_IP, IP_PKTINFO, &one, sizeof(one));
		else
			err = setsockopt(s, IPPROTO_IPV6, IPV6_RECVPKTINFO, &one,
					 sizeof(one)) ||
			      setsockopt(s, IPPROTO_IPV6, IPV6_FREEBIND, &one,
					 sizeof(one));
		if (err)
			return opt_fail(sockredir_wsa_error(0, errno));
	}
	d = dsock_get(s, 1, &err);
	if (!d)
		return opt_fail(err == -ENOMEM ? WSAENOBUFS : WSAENOTSOCK);
	d->opts = on ? d->opts | opt : d->opts & ~opt;
	dsock_put(d);
	return 0;
}

SOCKREDIR_API int sockredir_wsa_getsockopt(SOCKET s, int level, int optname,
					   void *optval, socklen_t *optlen)
{
	unsigned int opt = wfp_opt(level, optname);
	struct dsock *d;
	DWORD on;
	int err;

	if (!opt) {
		if (getsockopt(s, level, optname, optval, optlen) < 0)
			return fail(sockredir_wsa_error(0, errno));
		return 0;
	}
	err = wfp_opt_check(s, opt);
	if (err)
		return opt_fail(err);
	if (!optval || !optlen || *optlen < sizeof(DWORD))
		return opt_fail(WSAEFAULT);
	d = dsock_get(s, 0, &err);
	on = d && (d->opts & opt) ? TRUE : FALSE;
	dsock_put(d);
	memcpy(optval, &on, sizeof(on));
	*optlen = sizeof(on);
	return 0;
}

/* ---- Control data ------------------------------------------------------------ */

/* The control buffer being filled in for the caller. */
struct cbuf {
	char *buf;
	size_t cap, len;
	int truncated;
};

/* Append one message; 0, or -1 (no room: MSG_CTRUNC, nothing written). */
static int cbuf_add(struct cbuf *c, int level, int type, const void *data,
		    size_t n)
{
	WSACMSGHDR h = { .cmsg_len = WSA_CMSG_LEN(n), .cmsg_level = level,
			 .cmsg_type = type };
	size_t need = WSA_CMSG_SPACE(n);

	/* The last message needs no padding after it. */
	if (c->len + WSA_CMSG_LEN(n) > c->cap) {
		c->truncated = 1;
		return -1;
	}
	memcpy(c->buf + c->len, &h, sizeof(h));
	memcpy(c->buf + c->len + WSA_CMSG_LEN(0), data, n);
	if (c->len + need <= c->cap) {
		memset(c->buf + c->len + WSA_CMSG_LEN(n), 0,
		       need - WSA_CMSG_LEN(n));
		c->len += need;
	} else {
		c->len = c->cap;
	}
	return 0;
}

static void mapped(uint8_t out[16], const struct in_addr *a)
{
	memset(out, 0, 10);
	out[10] = out[11] = 0xff;
	memcpy(out + 12, a, 4);
}

static int is_mapped(const struct in6_addr *a)
{
	static const uint8_t pre[12] = { [10] = 0xff, [11] = 0xff };

	return !memcmp(a, pre, 12);
}

static int wsabufs(const WSABUF *b, ULONG n, struct iovec *iov)
{
	ULONG i;

	if (n > IOV_MAX)
		return WSAEINVAL;
	for (i = 0; i < n; i++) {
		if (!b[i].buf && b[i].len)
			return WSAEFAULT;
		iov[i].iov_base = b[i].buf;
		iov[i].iov_len = b[i].len;
	}
	return 0;
}

static void complete(LPWSAOVERLAPPED ov, LPWSAOVERLAPPED_COMPLETION_ROUTINE routine,
		     struct wsa_apc *apc, int err, DWORD bytes, LPDWORD ret)
{
	if (ret)
		*ret = err ? 0 : bytes;
	if (ov) {
		ov->Internal = (ULONG_PTR)(DWORD)err;
		ov->InternalHigh = err ? 0 : bytes;
	}
	if (err || !ov) {
		wsa_apc_free(apc);
		return;
	}
	wsa_complete(ov, routine, apc, bytes, NULL);
}

/* ---- WSARecvMsg ------------------------------------------------------------- */

struct dgram {
	int v6;			/* an IPv6 (not IPv4-mapped) datagram */
	int have_ep;
	uint8_t ep[16];		/* where it was sent (IPv4 as mapped) */
	struct sockaddr_storage from;
	socklen_t fromlen;
};

/* Copy the kernel's control data into @c, noting the endpoint in @g. */
static void kernel_cmsgs(struct msghdr *m, struct cbuf *c, struct dgram *g)
{
	struct cmsghdr *k;

	for (k = CMSG_FIRSTHDR(m); k; k = CMSG_NXTHDR(m, k)) {
		size_t n = k->cmsg_len - CMSG_LEN(0);

		if (k->cmsg_level == IPPROTO_IP && k->cmsg_type == IP_PKTINFO &&
		    n >= sizeof(struct in_pktinfo)) {
			struct in_pktinfo li;
			IN_PKTINFO wi;

			memcpy(&li, CMSG_DATA(k), sizeof(li));
			wi.ipi_addr = li.ipi_addr;
			wi.ipi_ifindex = (ULONG)li.ipi_ifindex;
			cbuf_add(c, IPPROTO_IP, IP_PKTINFO, &wi, sizeof(wi));
			if (!g->v6) {
				mapped(g->ep, &li.ipi_addr);
				g->have_ep = 1;
			}
			continue;
		}
		if (k->cmsg_level == IPPROTO_IPV6 && k->cmsg_type == IPV6_PKTINFO &&
		    n >= sizeof(struct in6_pktinfo) && !g->have_ep) {
			struct in6_pktinfo li;

			memcpy(&li, CMSG_DATA(k), sizeof(li));
			if (g->v6 || is_mapped(&li.ipi6_addr)) {
				memcpy(g->ep, &li.ipi6_addr, 16);
				g->have_ep = 1;
			}
		}
		cbuf_add(c, k->cmsg_level, k->cmsg_type, CMSG_DATA(k), n);
	}
}

static void endpoint_sockaddr(const struct dgram *g, uint16_t port,
			      struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	if (!g->v6) {
		struct sockaddr_in *a = (struct sockaddr_in *)ss;

		a->sin_family = AF_INET;
		a->sin_port = port;
		memcpy(&a->sin_addr, g->ep + 12, 4);
	} else {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;

		a->sin6_family = AF_INET6;
		a->sin6_port = port;
		memcpy(&a->sin6_addr, g->ep, 16);
	}
}

/*
 * A redirected flow's records and context, if this is its first datagram
 * (or what an earlier one could not carry).  0, or the Winsock error.
 */
static int flow_cmsgs(int fd, struct dsock *d, const struct dgram *g,
		      uint16_t port, int peek, struct cbuf *c)
{
	unsigned int want = g->v6 ? ((d->opts & OPT_REC6) ? GOT_REC : 0) |
				    ((d->opts & OPT_CTX6) ? GOT_CTX : 0)
				  : ((d->opts & OPT_REC4) ? GOT_REC : 0) |
				    ((d->opts & OPT_CTX4) ? GOT_CTX : 0);
	int level = g->v6 ? IPPROTO_IPV6 : IPPROTO_IP;
	struct sockredir_flow_sel sel;
	struct sockredir_context ctx;
	uint8_t rec[SOCKREDIR_RECORDS_MAX];
	socklen_t len;
	struct seen *e;

	if (!want || !g->have_ep)
		return 0;
	memset(&sel, 0, sizeof(sel));
	memcpy(&sel.app, &g->from, g->fromlen);
	endpoint_sockaddr(g, port, &sel.endpoint);
	if (setsockopt(fd, SOL_SOCKREDIR, SOCKREDIR_FLOW, &sel, sizeof(sel)) < 0) {
		/* Not a redirected flow, or no layer: nothing to add. */
		if (errno == ENOENT || errno == ENOPROTOOPT || errno == EOPNOTSUPP)
			return 0;
		return sockredir_wsa_error(0, errno);
	}
	len = sizeof(ctx);
	if (getsockopt(fd, SOL_SOCKREDIR, SOCKREDIR_CONTEXT, &ctx, &len) < 0)
		return errno == ENOENT ? 0 : sockredir_wsa_error(0, errno);
	e = seen_find(d, g->ep, port);
	if (!e)
		return WSAENOBUFS;
	if (e->flow_id != ctx.sr.flow_id) {
		e->flow_id = ctx.sr.flow_id;
		e->got = 0;
	}
	want &= ~e->got;
	if (want & GOT_REC) {
		len = sizeof(rec);
		if (getsockopt(fd, SOL_SOCKREDIR, SOCKREDIR_RECORDS, rec, &len) < 0)
			return errno == ENOENT ? 0 : sockredir_wsa_error(0, errno);
		if (!cbuf_add(c, level, g->v6 ? IPV6_WFP_REDIRECT_RECORDS :
					  IP_WFP_REDIRECT_RECORDS, rec, len) && !peek)
			e->got |= GOT_REC;
	}
	if ((want & GOT_CTX) &&
	    !cbuf_add(c, level, g->v6 ? IPV6_WFP_REDIRECT_CONTEXT :
				  IP_WFP_REDIRECT_CONTEXT, &ctx, sizeof(ctx)) &&
	    !peek)
		e->got |= GOT_CTX;
	return 0;
}

/* Steps before anything is received: 0 or the Winsock error. */
static int recv_checks(SOCKET s, const WSAMSG *m, int *domain, uint16_t *port)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	int type, err;

	err = sock_int(s, SOL_SOCKET, SO_TYPE, &type);
	if (!err)
		err = sock_int(s, SOL_SOCKET, SO_DOMAIN, domain);
	if (err)
		return sockredir_wsa_error(0, err);
	if (!m || (!m->lpBuffers && m->dwBufferCount) ||
	    (!m->Control.buf && m->Control.len) || m->namelen < 0)
		return WSAEFAULT;
	if (m->name && (size_t)m->namelen < (*domain == AF_INET6 ?
			sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in)))
		return WSAEFAULT;
	if (m->dwFlags & ~(ULONG)MSG_PEEK)
		return WSAEOPNOTSUPP;
	if (type != SOCK_DGRAM)
		return WSAEINVAL;
	if (getsockname(s, (struct sockaddr *)&ss, &len) < 0)
		return sockredir_wsa_error(0, errno);
	*port = ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port :
					   ((struct sockaddr_in *)&ss)->sin_port;
	return *port ? 0 : WSAEINVAL;
}

static int recv_msg(SOCKET s, LPWSAMSG lpMsg, DWORD *bytes)
{
	union {
		char buf[2048];
		struct cmsghdr align;
	} kc;
	struct iovec iov[64], *iovp = iov;
	struct msghdr m = { 0 };
	struct cbuf c;
	struct dgram g = { 0 };
	struct dsock *d;
	uint16_t port = 0;
	int domain, peek, err;
	ssize_t n;

	err = recv_checks(s, lpMsg, &domain, &port);
	if (err)
		return err;
	if (lpMsg->dwBufferCount > 64) {
		iovp = calloc(lpMsg->dwBufferCount, sizeof(*iovp));
		if (!iovp)
			return WSAENOBUFS;
	}
	err = wsabufs(lpMsg->lpBuffers, lpMsg->dwBufferCount, iovp);
	if (err)
		goto out;
	peek = !!(lpMsg->dwFlags & MSG_PEEK);
	m.msg_name = &g.from;
	m.msg_namelen = sizeof(g.from);
	m.msg_iov = iovp;
	m.msg_iovlen = lpMsg->dwBufferCount;
	m.msg_control = kc.buf;
	m.msg_controllen = sizeof(kc.buf);
	n = recvmsg(s, &m, peek ? MSG_PEEK : 0);
	if (n < 0) {
		err = sockredir_wsa_error(0, errno);
		goto out;
	}
	g.fromlen = m.msg_namelen;
	g.v6 = g.from.ss_family == AF_INET6 &&
	       !is_mapped(&((struct sockaddr_in6 *)&g.from)->sin6_addr);
	c = (struct cbuf){ .buf = lpMsg->Control.buf, .cap = lpMsg->Control.len,
			   .truncated = !!(m.msg_flags & MSG_CTRUNC) };
	kernel_cmsgs(&m, &c, &g);
	d = dsock_get(s, 0, &err);
	err = d ? flow_cmsgs(s, d, &g, port, peek, &c) : 0;
	dsock_put(d);
	if (err)
		goto out;
	if (lpMsg->name) {
		memcpy(lpMsg->name, &g.from, g.fromlen);
		lpMsg->namelen = (INT)g.fromlen;
	}
	lpMsg->Control.len = (ULONG)c.len;
	lpMsg->dwFlags = ((m.msg_flags & MSG_TRUNC) ? MSG_TRUNC : 0) |
			 (c.truncated ? MSG_CTRUNC : 0);
	*bytes = (DWORD)n;
out:
	if (iovp != iov)
		free(iovp);
	return err;
}

SOCKREDIR_API INT WSARecvMsg(SOCKET s, LPWSAMSG lpMsg,
			     LPDWORD lpdwNumberOfBytesRecvd,
			     LPWSAOVERLAPPED lpOverlapped,
			     LPWSAOVERLAPPED_COMPLETION_ROUTINE lpCompletionRoutine)
{
	LPWSAOVERLAPPED_COMPLETION_ROUTINE routine =
		lpOverlapped ? lpCompletionRoutine : NULL;
	struct wsa_apc *apc = NULL;
	DWORD bytes = 0;
	int err;

	if (routine && !(apc = wsa_apc_new()))
		return fail(WSAENOBUFS);
	err = recv_msg(s, lpMsg, &bytes);
	complete(lpOverlapped, routine, apc, err, bytes, lpdwNumberOfBytesRecvd);
	return err ? fail(err) : 0;
}

/* ---- WSASendMsg --------------------------------------------------------------- */

struct sendctl {
	const uint8_t *rec;
	size_t rec_len;
	int have4, have6;
	struct in_pktinfo pi4;
	struct in6_pktinfo pi6;
};

/* Check and read the caller's control data; 0 or WSAEINVAL. */
static int parse_control(const WSAMSG *m, int domain, struct sendctl *sc)
{
	size_t off = 0, len = m->Control.len, n;
	WSACMSGHDR h;

	if (len > SOCKREDIR_WSA_SEND_CONTROL_MAX)
		return WSAEINVAL;
	while (off < len) {
		const char *p = m->Control.buf + off;

		if (len - off < sizeof(h))
			return WSAEINVAL;
		memcpy(&h, p, sizeof(h));
		if (h.cmsg_len < WSA_CMSG_LEN(0) || h.cmsg_len > len - off)
			return WSAEINVAL;
		n = h.cmsg_len - WSA_CMSG_LEN(0);
		p += WSA_CMSG_LEN(0);
		if ((h.cmsg_level == IPPROTO_IP &&
		     h.cmsg_type == IP_WFP_REDIRECT_RECORDS) ||
		    (h.cmsg_level == IPPROTO_IPV6 && domain == AF_INET6 &&
		     h.cmsg_type == IPV6_WFP_REDIRECT_RECORDS)) {
			if (sc->rec || !n || n > SOCKREDIR_RECORDS_MAX)
				return WSAEINVAL;
			sc->rec = (const uint8_t *)p;
			sc->rec_len = n;
		} else if (h.cmsg_level == IPPROTO_IP && h.cmsg_type == IP_PKTINFO) {
			IN_PKTINFO wi;

			if (sc->have4 || n != sizeof(wi))
				return WSAEINVAL;
			memcpy(&wi, p, sizeof(wi));
			memset(&sc->pi4, 0, sizeof(sc->pi4));
			sc->pi4.ipi_spec_dst = wi.ipi_addr;	/* Windows: the source */
			sc->pi4.ipi_ifindex = (int)wi.ipi_ifindex;
			sc->have4 = 1;
		} else if (h.cmsg_level == IPPROTO_IPV6 && domain == AF_INET6 &&
			   h.cmsg_type == IPV6_PKTINFO) {
			if (sc->have6 || n != sizeof(sc->pi6))
				return WSAEINVAL;
			memcpy(&sc->pi6, p, sizeof(sc->pi6));
			sc->have6 = 1;
		} else {
			return WSAEINVAL;
		}
		off += SOCKREDIR_WSA_CMSG_ALIGN(h.cmsg_len);
	}
	return 0;
}

/* Has @s an address of its own already (bound, connected, has sent)? */
static int has_address(int s)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	if (getpeername(s, (struct sockaddr *)&ss, &len) == 0)
		return 1;
	len = sizeof(ss);
	if (getsockname(s, (struct sockaddr *)&ss, &len) < 0)
		return 1;
	return ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port != 0 :
	       ((struct sockaddr_in *)&ss)->sin_port != 0;
}

/* Give @sc's records to @s, once.  0 or the Winsock error. */
static int give_records(SOCKET s, struct dsock *d, const struct sendctl *sc)
{
	if (has_address(s))
		return WSAEISCONN;
	if (d->given_len) {
		if (d->given_len == sc->rec_len && !memcmp(d->given, sc->rec, sc->rec_len))
			return 0;
		return WSAEALREADY;
	}
	if (setsockopt(s, SOL_SOCKREDIR, SOCKREDIR_RECORDS, sc->rec, sc->rec_len) < 0)
		return sockredir_wsa_error(SIO_SET_WFP_CONNECTION_REDIRECT_RECORDS, errno);
	memcpy(d->given, sc->rec, sc->rec_len);
	d->given_len = sc->rec_len;
	return 0;
}

static int send_msg(SOCKET s, const WSAMSG *lpMsg, DWORD flags, DWORD *bytes)
{
	union {
		char buf[CMSG_SPACE(sizeof(struct in_pktinfo)) +
			 CMSG_SPACE(sizeof(struct in6_pktinfo))];
		struct cmsghdr align;
	} kc;
	struct iovec iov[64], *iovp = iov;
	struct msghdr m = { 0 };
	struct sendctl sc = { 0 };
	struct cmsghdr *k;
	struct dsock *d = NULL;
	int type, domain, err;
	ssize_t n;

	err = sock_int(s, SOL_SOCKET, SO_TYPE, &type);
	if (!err)
		err = sock_int(s, SOL_SOCKET, SO_DOMAIN, &domain);
	if (err)
		return sockredir_wsa_error(0, err);
	if (!lpMsg || (!lpMsg->lpBuffers && lpMsg->dwBufferCount) ||
	    (!lpMsg->Control.buf && lpMsg->Control.len) ||
	    (lpMsg->name && lpMsg->namelen <= 0))
		return WSAEFAULT;
	if (flags & ~(DWORD)MSG_DONTROUTE)
		return WSAEOPNOTSUPP;
	if (type != SOCK_DGRAM)
		return WSAEINVAL;
	err = parse_control(lpMsg, domain, &sc);
	if (err)
		return err;
	if (lpMsg->dwBufferCount > 64) {
		iovp = calloc(lpMsg->dwBufferCount, sizeof(*iovp));
		if (!iovp)
			return WSAENOBUFS;
	}
	err = wsabufs(lpMsg->lpBuffers, lpMsg->dwBufferCount, iovp);
	if (err)
		goto out;
	/* With records: held until they and the datagram are out. */
	if (sc.rec) {
		d = dsock_get(s, 1, &err);
		err = d ? give_records(s, d, &sc) : WSAENOBUFS;
		if (err)
			goto out;
	}
	m.msg_name = lpMsg->name;
	m.msg_namelen = lpMsg->name ? (socklen_t)lpMsg->namelen : 0;
	m.msg_iov = iovp;
	m.msg_iovlen = lpMsg->dwBufferCount;
	if (sc.have4 || sc.have6) {
		m.msg_control = kc.buf;
		m.msg_controllen = sizeof(kc.buf);
		k = CMSG_FIRSTHDR(&m);
		if (sc.have4) {
			k->cmsg_level = IPPROTO_IP;
			k->cmsg_type = IP_PKTINFO;
			k->cmsg_len = CMSG_LEN(sizeof(sc.pi4));
			memcpy(CMSG_DATA(k), &sc.pi4, sizeof(sc.pi4));
			k = CMSG_NXTHDR(&m, k);
		}
		if (sc.have6) {
			k->cmsg_level = IPPROTO_IPV6;
			k->cmsg_type = IPV6_PKTINFO;
			k->cmsg_len = CMSG_LEN(sizeof(sc.pi6));
			memcpy(CMSG_DATA(k), &sc.pi6, sizeof(sc.pi6));
		}
		m.msg_controllen = (sc.have4 ? CMSG_SPACE(sizeof(sc.pi4)) : 0) +
				   (sc.have6 ? CMSG_SPACE(sizeof(sc.pi6)) : 0);
	}
	n = sendmsg(s, &m, flags | MSG_NOSIGNAL);
	if (n < 0) {
		err = sockredir_wsa_error(0, errno);
		goto out;
	}
	*bytes = (DWORD)n;
out:
	dsock_put(d);
	if (iovp != iov)
		free(iovp);
	return err;
}

SOCKREDIR_API INT WSASendMsg(SOCKET s, LPWSAMSG lpMsg, DWORD dwFlags,
			     LPDWORD lpNumberOfBytesSent,
			     LPWSAOVERLAPPED lpOverlapped,
			     LPWSAOVERLAPPED_COMPLETION_ROUTINE lpCompletionRoutine)
{
	LPWSAOVERLAPPED_COMPLETION_ROUTINE routine =
		lpOverlapped ? lpCompletionRoutine : NULL;
	struct wsa_apc *apc = NULL;
	DWORD bytes = 0;
	int err;

	if (routine && !(apc = wsa_apc_new()))
		return fail(WSAENOBUFS);
	err = send_msg(s, lpMsg, dwFlags, &bytes);
	complete(lpOverlapped, routine, apc, err, bytes, lpNumberOfBytesSent);
	return err ? fail(err) : 0;
}

/* ---- SIO_GET_EXTENSION_FUNCTION_POINTER ------------------------------------------ */

int wsa_extension(const void *in, DWORD cb_in, void *out, DWORD cb_out,
		  DWORD *bytes)
{
	static const GUID recv_id = WSAID_WSARECVMSG, send_id = WSAID_WSASENDMSG;
	LPFN_WSARECVMSG r = WSARecvMsg;
	LPFN_WSASENDMSG w = WSASendMsg;

	if (!in || cb_in < sizeof(GUID) || !out || cb_out < sizeof(void (*)(void)))
		return WSAEFAULT;
	if (!memcmp(in, &recv_id, sizeof(GUID)))
		memcpy(out, &r, sizeof(r));
	else if (!memcmp(in, &send_id, sizeof(GUID)))
		memcpy(out, &w, sizeof(w));
	else
		return WSAEINVAL;
	*bytes = sizeof(r);
	return 0;
}
