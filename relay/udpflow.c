/* SPDX-License-Identifier: MIT */
/*
 * udpflow.c - redirected UDP flows, as include/sockredir.h describes them:
 * recvmsg on the claimed socket gives the application's address and (from
 * IPV6_PKTINFO) the flow's endpoint; SOCKREDIR_FLOW selects the flow for
 * the context and records; an upstream socket set with the records is
 * connected to the original destination; answers go back from the
 * endpoint.  Each datagram finds its flow in a hash table keyed by what
 * tells flows apart (the env, the application's address and port, the
 * endpoint): a few key comparisons however many flows are live.  The
 * env's list of flows is for the idle sweep and the drain.
 *
 * With --udp-upstream, a datagram the layer does not know (netfilter
 * sent it here) is a flow too, to that fixed upstream: no context, no
 * records.  Its answers leave from the address it was sent to; if that is
 * not this socket's (TPROXY keeps the original destination), from a
 * transparent socket of the flow's own, bound there.
 */
#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/random.h>
#include <unistd.h>

#include "../bpf/siphash.h"

#include "diag.h"
#include "flowlog.h"
#include "policy.h"
#include "quic.h"
#include "udpflow.h"

#ifndef IPV6_FREEBIND
#define IPV6_FREEBIND 78
#endif
#ifndef IPV6_TRANSPARENT
#define IPV6_TRANSPARENT 75
#endif
#define DNS_PORT 53

struct uflow {
	struct link link;		/* on env->flows */
	struct link hlink;		/* on its flowtab bucket */
	struct udp_env *env;
	struct sockaddr_in6 app;	/* the application, as recvmsg said */
	struct in6_addr endpoint;	/* the flow's endpoint (pktinfo) */
	int up;				/* -1: denied, nothing goes upstream */
	int reply;			/* netfilter's TPROXY: answers leave here */
	struct sockredir_context ctx;
	char host[256];			/* the DNS name or QUIC SNI, if any */
	bool dns;			/* denied: answer each query REFUSED */
	uint64_t start, last;
	uint64_t dgrams_up, dgrams_down, bytes_up, bytes_down;
	enum flow_end why;
};

/*
 * Every env's flows by key, chained.  It doubles when it holds more flows
 * than buckets (64 at first), so chains stay about one long; if it cannot
 * grow it stays correct, only slower.  The hash is SipHash with a random
 * key, so an application choosing its ports cannot aim them at one chain.
 */
static struct {
	struct link *b;
	size_t nb;			/* buckets: 0 or a power of two */
	size_t n;			/* flows in the table */
	uint64_t key[2];		/* SipHash's, drawn at the first flow */
	unsigned long probes;		/* key comparisons (tests/unit) */
} flowtab;

static size_t uflow_hash(const struct udp_env *env,
			 const struct sockaddr_in6 *app,
			 const struct in6_addr *endpoint)
{
	__u64 w[6];

	w[0] = (uintptr_t)env;
	memcpy(&w[1], &app->sin6_addr, 16);
	memcpy(&w[3], endpoint, 16);
	w[5] = app->sin6_port;
	return (size_t)sr_siphash(w, 6, flowtab.key[0], flowtab.key[1]) & (flowtab.nb - 1);
}

static int flowtab_resize(size_t nb)
{
	struct link *b = malloc(nb * sizeof(*b)), *old = flowtab.b;
	size_t i, onb = flowtab.nb;

	if (!b)
		return -ENOMEM;
	if (!old && getrandom(flowtab.key, sizeof(flowtab.key), 0) !=
			    sizeof(flowtab.key)) {
		flowtab.key[0] = (uintptr_t)b;	/* no entropy yet: weaker, */
		flowtab.key[1] = loop_now();	/* still unknown to apps */
	}
	for (i = 0; i < nb; i++)
		link_init(&b[i]);
	flowtab.b = b;
	flowtab.nb = nb;
	for (i = 0; i < onb; i++)
		while (!link_empty(&old[i])) {
			struct uflow *f = container_of(old[i].next, struct uflow, hlink);

			link_del(&f->hlink);
			link_add(&b[uflow_hash(f->env, &f->app, &f->endpoint)],
				 &f->hlink);
		}
	free(old);
	return 0;
}

/* Enter @f (its env, app and endpoint set).  -ENOMEM: no table at all. */
static int uflow_index(struct uflow *f)
{
	if (flowtab.n >= flowtab.nb &&
	    flowtab_resize(flowtab.nb ? flowtab.nb * 2 : 64) < 0 && !flowtab.nb)
		return -ENOMEM;
	link_add(&flowtab.b[uflow_hash(f->env, &f->app, &f->endpoint)], &f->hlink);
	flowtab.n++;
	return 0;
}

static void uflow_unindex(struct uflow *f)
{
	link_del(&f->hlink);
	if (--flowtab.n == 0) {		/* the last flow: give the table back */
		free(flowtab.b);
		flowtab.b = NULL;
		flowtab.nb = 0;
	}
}

static struct uflow *uflow_find(struct udp_env *env,
				const struct sockaddr_in6 *app,
				const struct in6_addr *endpoint)
{
	struct link *head, *l;

	if (!flowtab.nb)
		return NULL;
	head = &flowtab.b[uflow_hash(env, app, endpoint)];
	for (l = head->next; l != head; l = l->next) {
		struct uflow *f = container_of(l, struct uflow, hlink);

		flowtab.probes++;
		if (f->env == env && f->app.sin6_port == app->sin6_port &&
		    !memcmp(&f->app.sin6_addr, &app->sin6_addr, 16) &&
		    !memcmp(&f->endpoint, endpoint, 16))
			return f;
	}
	return NULL;
}

static void uflow_end(struct uflow *f)
{
	struct udp_env *env = f->env;
	struct flow_summary s = {
		.service = env->cfg->service,
		.ctx = &f->ctx,
		.host = f->host,
		.bytes_up = f->bytes_up,
		.bytes_down = f->bytes_down,
		.duration_ms = loop_now() - f->start,
		.end = f->why,
		.udp = true,
		.datagrams_up = f->dgrams_up,
		.datagrams_down = f->dgrams_down,
	};

	if (flowlog_write(env->log, &s) < 0)
		diag_error("cannot write the flow log");
	if (f->up >= 0) {
		loop_del(env->loop, f->up);
		close(f->up);
	}
	if (f->reply >= 0)
		close(f->reply);
	uflow_unindex(f);
	link_del(&f->link);
	env->n_flows--;
	free(f);
}

/* Send @len bytes to the flow's application, from its endpoint. */
static int to_app(struct uflow *f, const void *buf, size_t len)
{
	char cbuf[CMSG_SPACE(sizeof(struct in6_pktinfo))] = {};
	struct iovec iov = { .iov_base = (void *)buf, .iov_len = len };
	struct msghdr mh = {
		.msg_name = &f->app, .msg_namelen = sizeof(f->app),
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = cbuf, .msg_controllen = sizeof(cbuf),
	};
	struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
	struct in6_pktinfo pi = { .ipi6_addr = f->endpoint };

	if (f->reply >= 0) {	/* an IPv4 application: --udp-upstream's */
		struct sockaddr_in a = { .sin_family = AF_INET,
					 .sin_port = f->app.sin6_port };

		memcpy(&a.sin_addr, &f->app.sin6_addr.s6_addr[12], 4);
		return sendto(f->reply, buf, len, 0, (struct sockaddr *)&a,
			      sizeof(a)) < 0 ? -errno : 0;
	}
	c->cmsg_level = IPPROTO_IPV6;
	c->cmsg_type = IPV6_PKTINFO;
	c->cmsg_len = CMSG_LEN(sizeof(pi));
	memcpy(CMSG_DATA(c), &pi, sizeof(pi));
	return sendmsg(f->env->fd, &mh, 0) < 0 ? -errno : 0;
}

static void on_upstream(void *arg, int fd, uint32_t events)
{
	struct uflow *f = arg;
	unsigned char buf[65536];
	ssize_t n;

	while ((n = recv(fd, buf, sizeof(buf), 0)) >= 0) {
		f->last = loop_now();
		if (to_app(f, buf, n) == 0) {
			f->dgrams_down++;
			f->bytes_down += n;
		}
	}
	if (errno == ECONNREFUSED)	/* the destination said "no one here" */
		f->why = END_UPSTREAM_REFUSED;
}

int dns_qname(const unsigned char *p, size_t len, char *out, size_t outlen)
{
	size_t i = 12, o = 0;

	/* A query (QR 0) with at least one question. */
	if (len < 12 || (p[2] & 0x80) || !(p[4] | p[5]))
		return -EINVAL;
	while (i < len && p[i]) {
		size_t n = p[i++], k;

		if (n > 63 || i + n > len || o + n + 2 > outlen)
			return -EINVAL;	/* no compression in a question */
		if (o)
			out[o++] = '.';
		for (k = 0; k < n; k++) {
			unsigned char ch = p[i + k];

			if (ch <= ' ' || ch >= 127 || ch == '.')
				return -EINVAL;
			out[o++] = ch >= 'A' && ch <= 'Z' ? ch + 32 : ch;
		}
		i += n;
	}
	if (i >= len || !o)
		return -EINVAL;
	out[o] = '\0';
	return 0;
}

/* A denied DNS query gets REFUSED, at once: no answer looks like none. */
static void refuse_dns(struct uflow *f, const unsigned char *q, size_t len)
{
	unsigned char r[512];

	if (len > sizeof(r))
		return;
	memcpy(r, q, len);
	r[2] |= 0x80;			/* QR: a response */
	r[3] = (r[3] & 0xf0) | 5;	/* RCODE REFUSED */
	if (to_app(f, r, len) == 0) {
		f->dgrams_down++;
		f->bytes_down += len;
	}
}

/*
 * A new flow for the datagram from @app to @endpoint: select it, ask its
 * context and records, check the policy, open its upstream socket.
 * NULL if the layer does not know it (nothing to log: not a flow).
 */
/*
 * A flow netfilter sent here (@dst: where the application sent it) to
 * env->upstream, or NULL.
 */
static struct uflow *uflow_unknown(struct udp_env *env, struct uflow *f,
				   const struct sockaddr_in *dst)
{
	int one = 1;

	memcpy(&f->ctx.remote, env->upstream, sizeof(*env->upstream));
	if (dst && dst->sin_port != htons(env->port)) {
		f->reply = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
		if (f->reply < 0 ||
		    setsockopt(f->reply, SOL_IP, IP_TRANSPARENT, &one, sizeof(one)) ||
		    setsockopt(f->reply, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
		    bind(f->reply, (const struct sockaddr *)dst, sizeof(*dst)))
			return NULL;
	}
	f->up = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (f->up < 0 || connect(f->up, (const struct sockaddr *)env->upstream,
				 sizeof(*env->upstream)) < 0 ||
	    loop_add(env->loop, f->up, EPOLLIN, on_upstream, f) < 0)
		return NULL;
	return f;
}

static struct uflow *uflow_new(struct udp_env *env,
			       const struct sockaddr_in6 *app,
			       const struct in6_addr *endpoint,
			       const struct sockaddr_in *dst,
			       const unsigned char *data, size_t len)
{
	struct sockredir_flow_sel sel = {};
	struct sockaddr_in6 *a = (void *)&sel.app, *e = (void *)&sel.endpoint;
	unsigned char rec[SOCKREDIR_RECORDS_MAX];
	size_t reclen = sizeof(rec);
	struct uflow *f;
	socklen_t slen;
	bool known;
	int err;

	if (env->n_flows >= env->max_flows)
		return NULL;
	*a = *app;
	e->sin6_family = AF_INET6;
	e->sin6_port = htons(env->port);
	e->sin6_addr = *endpoint;
	known = !setsockopt(env->fd, SOL_SOCKREDIR, SOCKREDIR_FLOW, &sel, sizeof(sel));
	if (!known && (!env->upstream || !IN6_IS_ADDR_V4MAPPED(&app->sin6_addr)))
		return NULL;
	f = calloc(1, sizeof(*f));
	if (!f)
		return NULL;
	f->env = env;
	f->app = *app;
	f->endpoint = *endpoint;
	f->up = f->reply = -1;
	f->start = f->last = loop_now();
	f->why = END_IDLE;
	if ((!known && !uflow_unknown(env, f, dst)) || uflow_index(f) < 0) {
		if (f->up >= 0) {
			loop_del(env->loop, f->up);
			close(f->up);
		}
		if (f->reply >= 0)
			close(f->reply);
		free(f);
		return NULL;
	}
	link_add(&env->flows, &f->link);
	env->n_flows++;
	if (!known)
		return f;
	if (sockredir_query_context(env->fd, &f->ctx) < 0 ||
	    sockredir_query_records(env->fd, rec, &reclen) < 0) {
		f->why = END_ERROR;
		return f;	/* logged at its idle end, with what is known */
	}
	if (((struct sockaddr_in *)&f->ctx.remote)->sin_port == htons(DNS_PORT) &&
	    dns_qname(data, len, f->host, sizeof(f->host)) < 0)
		f->host[0] = '\0';	/* not a query: no half a name */
	if (f->host[0] && policy_check_host(env->policy, f->host) < 0) {
		f->dns = true;
		f->why = END_DENIED;
		return f;
	}
	/* A QUIC Initial that names a denied host, or names none while
	 * --unknown-host deny: dropped, as a TCP flow would be closed. */
	if (policy_wants_host(env->policy) && !f->host[0] &&
	    quic_initial_sni(data, len, f->host) &&
	    (f->host[0] ? policy_check_host(env->policy, f->host) :
			  policy_check_unknown(env->policy)) < 0) {
		f->why = END_DENIED;
		return f;
	}
	f->up = socket(f->ctx.remote.ss_family,
		       SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	slen = f->ctx.remote.ss_family == AF_INET6 ?
		       sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
	err = f->up < 0 ? -errno : sockredir_set_records(f->up, rec, reclen);
	if (!err && connect(f->up, (struct sockaddr *)&f->ctx.remote, slen) < 0)
		err = -errno;
	if (!err)
		err = loop_add(env->loop, f->up, EPOLLIN, on_upstream, f);
	if (err) {
		if (f->up >= 0)
			close(f->up);
		f->up = -1;
		f->why = err == -ELOOP || err == -EPERM ? END_DENIED : END_ERROR;
	}
	return f;
}

static void on_datagram(void *arg, int fd, uint32_t events)
{
	struct udp_env *env = arg;
	unsigned char buf[65536];
	char cbuf[256];
	int budget = 64;

	while (budget--) {
		struct sockaddr_in6 app;
		struct iovec iov = { .iov_base = buf, .iov_len = sizeof(buf) };
		struct msghdr mh = {
			.msg_name = &app, .msg_namelen = sizeof(app),
			.msg_iov = &iov, .msg_iovlen = 1,
			.msg_control = cbuf, .msg_controllen = sizeof(cbuf),
		};
		struct in6_addr *endpoint = NULL;
		struct sockaddr_in *dst = NULL;
		struct cmsghdr *c;
		struct uflow *f;
		ssize_t n = recvmsg(fd, &mh, 0);

		if (n < 0)
			return;
		for (c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c))
			if (c->cmsg_level == IPPROTO_IPV6 &&
			    c->cmsg_type == IPV6_PKTINFO)
				endpoint = &((struct in6_pktinfo *)CMSG_DATA(c))->ipi6_addr;
			else if (c->cmsg_level == SOL_IP &&
				 c->cmsg_type == IP_ORIGDSTADDR)
				dst = (struct sockaddr_in *)CMSG_DATA(c);
		if (!endpoint)
			continue;
		f = uflow_find(env, &app, endpoint);
		if (!f)
			f = uflow_new(env, &app, endpoint, dst, buf, n);
		if (!f)
			continue;
		f->last = loop_now();
		if (f->why == END_DENIED && f->dns)
			refuse_dns(f, buf, n);
		if (f->up < 0)
			continue;
		if (send(f->up, buf, n, 0) == n) {
			f->dgrams_up++;
			f->bytes_up += n;
		}
	}
}

static void on_sweep(struct timer *t)
{
	struct udp_env *env = container_of(t, struct udp_env, sweep);
	uint64_t now = loop_now();
	struct link *l, *next;

	for (l = env->flows.next; l != &env->flows; l = next) {
		struct uflow *f = container_of(l, struct uflow, link);

		next = l->next;
		if (now - f->last >= env->idle_ms)
			uflow_end(f);
	}
	timer_arm(env->loop, &env->sweep, env->idle_ms / 4 ? env->idle_ms / 4 : 1);
}

int udp_env_open(struct udp_env *env, uint16_t port)
{
	struct sockaddr_in6 any = { .sin6_family = AF_INET6,
				    .sin6_port = htons(port) };
	int zero = 0, one = 1, err;

	link_init(&env->flows);
	env->n_flows = 0;
	env->port = port;
	env->sweep.fn = on_sweep;
	env->fd = socket(AF_INET6, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (env->fd < 0)
		return -errno;
	/* Both pools on one socket; answers leave from IPv6 endpoints. */
	setsockopt(env->fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
	setsockopt(env->fd, IPPROTO_IPV6, IPV6_FREEBIND, &one, sizeof(one));
	if (bind(env->fd, (struct sockaddr *)&any, sizeof(any)) < 0 ||
	    setsockopt(env->fd, IPPROTO_IPV6, IPV6_RECVPKTINFO, &one, sizeof(one))) {
		err = -errno;
		goto fail;
	}
	/* --udp-upstream: TPROXY delivers only to transparent sockets, and
	 * the original destination (address and port) says where to answer
	 * from.  Transparent needs CAP_NET_ADMIN: without, REDIRECT only. */
	if (env->upstream) {
		setsockopt(env->fd, IPPROTO_IPV6, IPV6_TRANSPARENT, &one, sizeof(one));
		setsockopt(env->fd, SOL_IP, IP_RECVORIGDSTADDR, &one, sizeof(one));
	}
	err = sockredir_claim(env->fd, env->cfg->service);
	if (err < 0 && err != -ENOPROTOOPT)
		goto fail;
	err = loop_add(env->loop, env->fd, EPOLLIN, on_datagram, env);
	if (err < 0)
		goto fail;
	timer_arm(env->loop, &env->sweep, env->idle_ms / 4 ? env->idle_ms / 4 : 1);
	return 0;
fail:
	close(env->fd);
	env->fd = -1;
	return err;
}

void udp_env_close(struct udp_env *env)
{
	if (env->fd < 0)
		return;
	while (!link_empty(&env->flows)) {
		struct uflow *f = container_of(env->flows.next, struct uflow, link);

		f->why = END_DRAINED;
		uflow_end(f);
	}
	timer_cancel(&env->sweep);
	loop_del(env->loop, env->fd);
	close(env->fd);
	env->fd = -1;
}
