/* SPDX-License-Identifier: MIT */
/*
 * sockredir.h - the public interface of sockredir.
 *
 * Two halves:
 *
 *  1. The socket-option ABI a redirect service (an inspecting proxy) uses.
 *     It needs no library: any language that can call getsockopt() and
 *     setsockopt() can use it.
 *
 *       accepted = accept(listener, ...);
 *       getsockopt(accepted, SOL_SOCKREDIR, SOCKREDIR_RECORDS, rec, &reclen);
 *       getsockopt(accepted, SOL_SOCKREDIR, SOCKREDIR_CONTEXT, &ctx, &ctxlen);
 *       upstream = socket(ctx.remote.ss_family, SOCK_STREAM, 0);
 *       setsockopt(upstream, SOL_SOCKREDIR, SOCKREDIR_RECORDS, rec, reclen);
 *       connect(upstream, (struct sockaddr *)&ctx.remote, ...);
 *
 *  2. libsockredir: thin wrappers over those options, a context parser, and
 *     the control plane (load/attach, services, rules) the sockredir
 *     command is built on.
 *
 * Library convention (as libbpf): functions returning int return 0 or a
 * positive count on success and a negative errno on failure, and also set
 * errno.  Nothing is half-applied on failure.
 */
#ifndef SOCKREDIR_H
#define SOCKREDIR_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <netinet/in.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SOCKREDIR_API __attribute__((visibility("default")))

/* ---- Socket options ------------------------------------------------------ */

/* Option level ("SR"), and the options at that level. */
#define SOL_SOCKREDIR		0x5352
/*
 * getsockopt on an accepted socket: the opaque records of the flow (the
 * chain of services that handled it).  setsockopt on a new, unconnected
 * socket: attach records, so that its connect() is classified as the next
 * hop of the same flow.
 */
#define SOCKREDIR_RECORDS	1
/* getsockopt on an accepted socket: struct sockredir_context. */
#define SOCKREDIR_CONTEXT	2
/*
 * getsockopt on an accepted socket (or a UDP socket with a flow selected):
 * the context and the records in one call, into a struct sockredir_query.
 * The context comes first, exactly as SOCKREDIR_CONTEXT answers it; the
 * records follow right after its block (at offsetof(struct
 * sockredir_context, sr) + sr.size) and run to the length returned.  Like
 * SOCKREDIR_RECORDS, it counts as the records being read.  ERANGE if the
 * buffer cannot take both (sizeof(struct sockredir_query) always can).
 * sockredir_query() makes the call and checks the answer.
 */
#define SOCKREDIR_QUERY		5
/*
 * setsockopt on a listening socket, with a service's name as the value:
 * claim it as that service's listener.  The connect hook sends a service's
 * traffic only to the socket that claimed it: never to another process on
 * its port.  Root or the service's owner only; the socket must listen on
 * the service's address and port (or the wildcard address).
 */
#define SOCKREDIR_CLAIM		3

/*
 * Errors from those options:
 *   ENOPROTOOPT  the redirect layer is not loaded (or this socket's cgroup is
 *                outside the cgroup it is attached to): the kernel's own
 *                answer.  Raw getsockopt() on an IPv4 socket says
 *                EOPNOTSUPP instead (the kernel's IPv4 code differs from
 *                IPv6 there); libsockredir reports both as ENOPROTOOPT.
 *   ENOENT       getsockopt: the socket was not redirected.
 *   ERANGE       getsockopt: the buffer is smaller than the answer.  Records
 *                never exceed SOCKREDIR_RECORDS_MAX; the context is always
 *                sizeof(struct sockredir_context).
 *   EINVAL       setsockopt: records the layer did not issue (edited,
 *                truncated, made up, or from an earlier load of the layer).
 *   EACCES       setsockopt: the caller is neither root nor an owner of a
 *                registered service.
 *   EISCONN      setsockopt: the socket is already connected or connecting.
 *   ENOENT       SOCKREDIR_CLAIM: no service of that name.
 *   EINVAL       SOCKREDIR_CLAIM: not a TCP socket listening on the
 *                service's address and port, nor a UDP socket bound to
 *                the wildcard address and the service's port.
 * And from connect() on a socket the layer classifies:
 *   ELOOP        the flow's chain of services reached the hop limit.
 *   EPERM        a block rule matched (the application, directly or
 *                through a proxy acting for it), or the socket was given
 *                records and connects to a destination a rule covers other
 *                than their flow's.  A connect to a destination no rule
 *                covers is not checked against the records it carries: it
 *                is not classified, so there is nothing to bypass (setting
 *                them still needs records the layer issued, for a live hop).
 *   ESTALE       the socket was given records, and their hop ended before
 *                a connect to a destination a rule covers.
 *   ECONNREFUSED the service chosen fails closed and no listener claims it,
 *                or its claimed listener's accept queue is full (the proxy
 *                is stopped, hung or saturated).
 */

/*
 * ---- Datagram (UDP) flows ----
 *
 * A UDP flow is an application socket and one remote endpoint: connect()
 * then send(), or sendto()/sendmsg() with an address, IPv4, IPv6 and
 * IPv4-mapped.  The application is unchanged: getpeername() on a connected
 * socket shows the original peer, and every datagram it receives from the
 * flow (recvfrom()/recvmsg()) comes from the original destination, also
 * when one unconnected socket talks to several redirected destinations
 * through the same service at once.
 *
 * Each live flow through a service has its own *flow endpoint*: an address
 * from the layer's pool and the service's port.  The application's
 * datagrams for the flow arrive at the endpoint, and what the proxy sends
 * from the endpoint reaches the application as from the original
 * destination.  So a proxy tells flows apart by the endpoint a datagram
 * was sent to, even when two flows share the application's address and
 * port.  The pools:
 *   IPv4  127.83.0.0/16 unless `sockredir up --udp-pool4` says otherwise:
 *         inside 127/8, local in every network namespace.  An unbound
 *         application socket's datagrams leave from 127.0.0.1 (IPv6: ::1),
 *         the address the route to an endpoint would pick anyway, so the
 *         flow knows its application's address from the first one.
 *   IPv6  only with `sockredir up --udp-pool6 PREFIX/LEN`; the operator
 *         makes the prefix local where the proxy runs
 *         (`ip -6 route add local PREFIX/LEN dev lo`).  Without it IPv6
 *         UDP is never redirected: a redirect rule's service is taken as
 *         unclaimed for it (fail closed: ECONNREFUSED; open: the next
 *         service, or the destination), and counted so.
 *
 * The proxy, in order (any language; tests/helpers/udp_proxy.py does it):
 *
 *   s = socket(AF_INET6, SOCK_DGRAM, 0);    // dual-stack: both pools
 *   setsockopt(s, IPPROTO_IPV6, IPV6_FREEBIND, &one, sizeof one);
 *                                           // to send from IPv6 endpoints
 *   bind(s, [::]:port);                     // the wildcard address and the
 *                                           // service's port, no SO_REUSEADDR
 *   setsockopt(s, SOL_SOCKREDIR, SOCKREDIR_CLAIM, name, strlen(name));
 *   setsockopt(s, IPPROTO_IPV6, IPV6_RECVPKTINFO, &one, sizeof one);
 *   recvmsg(s, ...);         // msg_name: the application's address; the
 *                            // IPV6_PKTINFO address: the flow's endpoint
 *   // A new (application, endpoint) pair: select it, then ask.
 *   struct sockredir_flow_sel sel = { app, endpoint };
 *   setsockopt(s, SOL_SOCKREDIR, SOCKREDIR_FLOW, &sel, sizeof sel);
 *   getsockopt(s, SOL_SOCKREDIR, SOCKREDIR_CONTEXT, &ctx, &len);
 *   getsockopt(s, SOL_SOCKREDIR, SOCKREDIR_RECORDS, rec, &reclen);
 *   up = socket(ctx.remote.ss_family, SOCK_DGRAM, 0);
 *   setsockopt(up, SOL_SOCKREDIR, SOCKREDIR_RECORDS, rec, reclen);
 *   connect(up, &ctx.remote, ...);          // or sendto() on up
 *   send(up, datagram, ...);
 *   // Each answer from upstream goes back from the endpoint:
 *   sendmsg(s, { msg_name = app, IPV6_PKTINFO { ipi6_addr = endpoint } });
 *
 * An IPv4-only proxy uses AF_INET, binds 0.0.0.0:port, and IP_PKTINFO
 * (ipi_addr received, ipi_spec_dst to send) in place of IPV6_PKTINFO.
 *
 * The selection belongs to the socket (one thread at a time); it names one
 * flow, so an expired flow whose endpoint was given to a new one answers
 * ENOENT rather than the new flow's context.  The upstream socket's records
 * make its datagrams the flow's next hop, classified like a TCP proxy's
 * onward connect: redirect states, weights, skip-inspected, owner egress,
 * the hop limit, and block rules by the original application.  As there,
 * the records are checked where rules decide: to a destination some rule
 * covers, they serve only the flow's original destination, while the flow
 * lives (another such destination: EPERM; the flow ended: ESTALE, and
 * SOCKREDIR_RECORDS says ESTALE too).  To a destination no rule covers the
 * datagram goes as any other would: no rule has anything to decide there,
 * so there is nothing the records could get past.
 *
 * A flow is classified at its first datagram (or its connect); like a TCP
 * connection, it keeps that decision, and later rule changes apply to new
 * flows.  A flow whose service is deleted ends at its next datagram.
 *
 * Lifetime.  A connected flow lasts while its socket stays connected to
 * it (its datagrams pass no hook that could see it idle).  An unconnected
 * flow ends when it has been idle (no datagram either way, as far as
 * sendmsg and recvfrom see) for its service's idle timeout
 * (SOCKREDIR_UDP_IDLE_DEFAULT unless `service add --udp-idle SECONDS`),
 * within a quarter of a second; the application's next datagram starts a
 * new flow, with a new endpoint; a proxy should forget the flow by then
 * too (sockredir-relay: --udp-idle).  Flows are bounded: one uid holds at most a share of the pool
 * (`sockredir up --udp-uid-max`, a quarter of it by default); past that its
 * new flows fail with ENOBUFS and are counted, whatever the service's fail
 * mode: no flow is ever evicted, and none goes by uninspected.
 *
 * Errors, in addition to those above:
 *   SOCKREDIR_FLOW (setsockopt on the proxy's socket):
 *     EINVAL    not a struct sockredir_flow_sel of AF_INET/AF_INET6
 *               addresses (IPv4-mapped ones are taken as IPv4)
 *     ENOENT    no live flow has that endpoint and application address
 *     EACCES    the caller is not an owner of the flow's service (root
 *               may, unless it owns another service: one service's flows
 *               are never shown to another's proxy)
 *   getsockopt SOCKREDIR_CONTEXT / RECORDS on a UDP socket: ENOENT if no
 *     flow is selected or the selected one has ended.
 *   sendmsg()/connect() by an application:
 *     ENOBUFS   its uid's share of flow endpoints (or the pool) is used up
 *     EPERM     a block rule, or a datagram sent straight to a flow
 *               endpoint (only the flow's own socket reaches it)
 */
#define SOCKREDIR_FLOW		4
#define SOCKREDIR_UDP_IDLE_DEFAULT 60	/* seconds */

struct sockredir_flow_sel {
	struct sockaddr_storage app;	 /* where the datagram came from */
	struct sockaddr_storage endpoint; /* where it was sent: the pktinfo
					  * address and the service's port */
};

/* Records are opaque; this bounds their size. */
#define SOCKREDIR_RECORDS_MAX	256

/* Longest chain the records can carry (the hop limit is at most this). */
#define SOCKREDIR_MAX_HOPS	16
/* Rules may name cgroups down to this level (the records carry the
 * application's ancestors that far, so such rules hold through proxies). */
#define SOCKREDIR_CGROUP_LEVELS	16

/*
 * WFP's FWPS_CONNECTION_REDIRECT_STATE, as the connect hook computes it for
 * each candidate service from a socket's records.
 */
enum sockredir_state {
	SOCKREDIR_NOT_REDIRECTED = 0,
	SOCKREDIR_REDIRECTED_BY_SELF = 1,	 /* last hop is this service */
	SOCKREDIR_REDIRECTED_BY_OTHER = 2,	 /* others only */
	SOCKREDIR_PREVIOUSLY_REDIRECTED_BY_SELF = 3, /* earlier hop is this one */
};

#define SOCKREDIR_CONTEXT_VERSION 1

/*
 * The sockredir block of the context, version 1.  Fields are only ever
 * appended, and the version grows with them; a reader checks version and
 * size and reads what it knows.  A buffer of this version's size will keep
 * working: the layer fills a smaller buffer than its newest context with a
 * shorter block (size says how long) rather than failing.
 *
 * The application fields name the process that opened the flow's first
 * connection, carried along the whole chain (WFP's original app id), not
 * the proxy that made this hop.
 */
struct sockredir_context_block {
	uint32_t version;	/* SOCKREDIR_CONTEXT_VERSION */
	uint32_t size;		/* sizeof this block as filled in */
	uint64_t flow_id;	/* same on every hop of one flow */
	uint64_t app_cgroup_id;	/* cgroup v2 id of the application */
	uint32_t app_pid;	/* tgid */
	uint32_t app_uid;
	uint32_t app_gid;
	uint32_t rule_id;	/* the rule that redirected this hop */
	uint16_t service_id;	/* the service this hop was redirected to */
	uint8_t hop;		/* 1 for the first service, 2 for the next ... */
	uint8_t protocol;	/* IPPROTO_TCP or IPPROTO_UDP */
	uint32_t reserved;
	char app_comm[16];	/* NUL-terminated */
	uint16_t chain[SOCKREDIR_MAX_HOPS]; /* service ids, chain[0 .. hop-1] */
};

/*
 * SOCKREDIR_CONTEXT.  It begins with the layout Microsoft's redirect samples
 * read: the original remote address (where the connection was going), then
 * the original local address (the application's end).
 */
struct sockredir_context {
	struct sockaddr_storage remote;
	struct sockaddr_storage local;
	struct sockredir_context_block sr;
};

/* SOCKREDIR_QUERY: a buffer that takes any answer of this version. */
struct sockredir_query {
	struct sockredir_context ctx;
	unsigned char records[SOCKREDIR_RECORDS_MAX];
};

/* ---- Proxy-side calls ---------------------------------------------------- */

/*
 * sockredir_query_records - read the records of an accepted socket.
 * @fd:  the accepted, redirected socket.
 * @buf: receives the opaque records.
 * @len: in, the size of @buf; out, the size of the records.
 * Returns 0, or -ENOENT (not redirected), -ERANGE (@buf too small),
 * -ENOPROTOOPT (layer absent), or another -errno from getsockopt().
 */
SOCKREDIR_API int sockredir_query_records(int fd, void *buf, size_t *len);

/*
 * sockredir_query_context - read and check the context of an accepted socket.
 * Returns 0 with @ctx filled in, or the errors of sockredir_query_records(),
 * or -EPROTO if the kernel's answer does not parse.
 */
SOCKREDIR_API int sockredir_query_context(int fd, struct sockredir_context *ctx);

/*
 * sockredir_query - read the context and the records of an accepted socket
 * in one getsockopt (SOCKREDIR_QUERY).
 * @ctx: filled in and checked as by sockredir_query_context().
 * @rec, @reclen: as for sockredir_query_records().
 * Returns 0, or the errors of sockredir_query_records(), or -EPROTO if the
 * answer does not parse.  Against a layer older than the option (which
 * answers it as the kernel does, ENOPROTOOPT) it asks the two old options.
 */
SOCKREDIR_API int sockredir_query(int fd, struct sockredir_context *ctx,
				  void *rec, size_t *reclen);

/*
 * sockredir_set_records - attach records to a new socket before connect().
 * Returns 0, or -EINVAL, -EACCES, -EISCONN, -ENOPROTOOPT (see above).
 */
SOCKREDIR_API int sockredir_set_records(int fd, const void *buf, size_t len);

/*
 * sockredir_claim - claim listening socket @fd as service @name's listener.
 * Returns 0, or -ENOENT, -EACCES, -EINVAL, -ENOPROTOOPT (see above).
 */
SOCKREDIR_API int sockredir_claim(int fd, const char *name);

/*
 * sockredir_parse_context - check a context blob read by other means.
 * @buf, @len: what getsockopt(SOCKREDIR_CONTEXT) returned.
 * Copies it into @out, zero-filling fields a shorter (older) block lacks.
 * Returns 0, or -EINVAL if @len is too short, the address families are not
 * AF_INET/AF_INET6, or the block's version or size is wrong.
 */
SOCKREDIR_API int sockredir_parse_context(const void *buf, size_t len,
					  struct sockredir_context *out);

/*
 * sockredir_format_addr - "1.2.3.4:80" or "[::1]:80" for a sockaddr.
 * Returns @out, which holds at least SOCKREDIR_ADDRSTRLEN bytes.
 */
#define SOCKREDIR_ADDRSTRLEN 64
SOCKREDIR_API char *sockredir_format_addr(const struct sockaddr_storage *ss,
					  char *out, size_t outlen);

/*
 * sockredir_parse_addr - parse "ADDR:PORT" or "[ADDR6]:PORT".
 * Returns 0, or -EINVAL.
 */
SOCKREDIR_API int sockredir_parse_addr(const char *s,
				       struct sockaddr_storage *out);

/* ---- Control plane ------------------------------------------------------- */

#define SOCKREDIR_PIN_DIR	"/sys/fs/bpf/sockredir"
#define SOCKREDIR_NAME_MAX	32	/* service names, with the NUL */
#define SOCKREDIR_MAX_SERVICES	64	/* service ids 1 .. 63 */
#define SOCKREDIR_DEFAULT_HOPS	8

/*
 * sockredir_cgroup_lookup - the cgroup v2 id (and depth below the mount) of
 * @path: absolute, or relative to the cgroup v2 mount ("/" or
 * "/system.slice").  Rules and owners name cgroups by these ids.
 * Returns 0, or -ENOENT (no such cgroup), -ENAMETOOLONG.
 */
SOCKREDIR_API int sockredir_cgroup_lookup(const char *path, uint64_t *id,
					  unsigned int *level);

/*
 * sockredir_cgroup_path - the absolute path of the cgroup whose id is @id.
 * Returns 0, or -ENOENT (no such cgroup now), -ENAMETOOLONG.
 */
SOCKREDIR_API int sockredir_cgroup_path(uint64_t id, char *buf, size_t len);

struct sockredir_up_opts {
	size_t sz;		/* sizeof(struct sockredir_up_opts) */
	const char *cgroup;	/* NULL: the root of the cgroup v2 mount */
	unsigned int max_hops;	/* 0: SOCKREDIR_DEFAULT_HOPS */
	/*
	 * UDP flow endpoints, set when the layer is loaded (an up that finds
	 * it loaded with other ones fails with -EBUSY).  "ADDR/LEN": IPv4
	 * inside 127.0.0.0/8, /8 to /30 (NULL: SOCKREDIR_UDP_POOL4); IPv6
	 * /96 to /126 (NULL: none, and no IPv6 UDP redirects).  A pool holds
	 * at most 65,536 endpoints; with both, the smaller sets the number.
	 * Older callers' smaller sz leaves these at their defaults.
	 */
	const char *udp_pool4;
	const char *udp_pool6;
	unsigned int udp_uid_max; /* live UDP flows per uid; 0: a quarter of
				   * the pool */
};
#define SOCKREDIR_UDP_POOL4	"127.83.0.0/16"

/*
 * sockredir_up - load the redirect layer and attach it to a cgroup.
 * Mounts bpffs if needed, pins everything under SOCKREDIR_PIN_DIR.
 * Already up on the same cgroup: updates max_hops and returns 1.
 * Up on another cgroup: -EBUSY.  Attached but its maps unreadable (an
 * earlier run that failed): -EIO, and nothing is touched; run down first.
 */
SOCKREDIR_API int sockredir_up(const struct sockredir_up_opts *opts);

/*
 * sockredir_down - detach and remove everything sockredir_up() made.
 * @cgroup: NULL for wherever it is attached; otherwise it must match.
 * Returns 0, 1 if nothing was up, or -errno.
 */
SOCKREDIR_API int sockredir_down(const char *cgroup);

struct sockredir_upgrade_opts {
	size_t sz;		/* sizeof(struct sockredir_upgrade_opts) */
	const char *object;	/* NULL: this build's programs; else a BPF
				 * object file of another build */
	int check;		/* 1: only say whether it would work */
};

struct sockredir_upgrade_result {
	size_t sz;
	unsigned int maps_kept;		/* pinned maps the new programs use */
	unsigned int maps_new;		/* maps new in this build, made empty */
	unsigned int programs_replaced;	/* links now running the new build */
	unsigned int programs_added;	/* programs new in this build */
	char why[256];			/* on failure, what stood in the way */
};

/*
 * sockredir_upgrade - replace the attached programs with this build's (or
 * @opts->object's), keeping every map: services, rules, claims, live flows,
 * counters and the records key stay, and no hook is ever without a program
 * (each link's program is swapped in one step).  Maps new in the build are
 * made empty.  A pinned map whose type, sizes, flags or BTF layout differ
 * from the build's, or an attached program the build lacks, makes it
 * refuse with -EPROTO and change nothing (@res->why says what).  Returns
 * 0, -ENOENT (not up), -EPROTO, -ENOEXEC (@opts->object cannot be read as
 * a BPF object), or another -errno (then every link that was swapped is
 * put back).
 */
SOCKREDIR_API int sockredir_upgrade(const struct sockredir_upgrade_opts *opts,
				    struct sockredir_upgrade_result *res);

struct sockredir_counters {
	uint64_t redirected;	  /* connects sent to a service */
	uint64_t unrecorded_egress; /* owner connects without records */
	uint64_t hop_limit;	  /* connects failed with ELOOP */
	uint64_t bad_records;	  /* setsockopt refused with EINVAL */
	uint64_t denied;	  /* setsockopt refused with EACCES */
	uint64_t pending_lost;	  /* flows whose proxy never accepted */
	uint64_t blocked;	  /* connects refused by a block rule */
	uint64_t listener_gone;	  /* fail open: skipped, listener not claimed */
	uint64_t refused;	  /* fail closed: refused, listener not claimed */
	uint64_t pending_busy;	  /* 4-tuple already pending: not tracked */
	uint64_t overloaded;	  /* claimed listener's accept queue full:
				   * skipped (fail open) or refused (closed) */
	uint64_t untracked;	  /* refused: flow state could not be made */
	uint64_t pending_full;	  /* refused: too many flows pending */
	uint64_t onward_recorded; /* owner connects the layer gave records */
	uint64_t onward_ambiguous; /* ... refused: flows judged differently */
	uint64_t udp_expired;	  /* UDP flows ended idle */
	uint64_t udp_no_endpoint; /* new UDP flows refused (ENOBUFS): the
				   * uid's share or the pool used up */
	int64_t udp_flows;	  /* UDP flows live now (a gauge) */
	uint64_t mptcp_join_refused; /* MPTCP subflows the path manager added
				      * (joins) to a destination a rule
				      * covers: refused */
};

struct sockredir_status {
	int up;				/* 0: not loaded */
	char cgroup[4096];		/* where it is attached */
	uint64_t cgroup_id;
	unsigned int max_hops;
	unsigned int services;
	unsigned int rules;
	int64_t live_flows;		/* redirected connections open now */
	int64_t live_udp_flows;		/* UDP flows live now */
	unsigned int udp_pool_size;	/* UDP flow endpoints */
	unsigned int udp_uid_max;	/* of them, live per uid at most */
	struct sockredir_counters total;
};

SOCKREDIR_API int sockredir_status_get(struct sockredir_status *st);

/*
 * What a service's listener in one family is, as sockredir_service_list()
 * reports it.  The claim is recorded when it is made; the state is what the
 * last connect sent to the service found (a claimed listener that closes
 * is seen at once, the other states at the next connect).
 */
enum sockredir_listener_state {
	SOCKREDIR_LISTENER_UNSEEN = 0,	/* no connect has looked yet */
	SOCKREDIR_LISTENER_OK = 1,	/* its claimed listener, with room */
	SOCKREDIR_LISTENER_GONE = 2,	/* nothing listens there */
	SOCKREDIR_LISTENER_SQUATTED = 3,/* another, unclaimed socket gets it */
	SOCKREDIR_LISTENER_OVERLOADED = 4, /* the accept queue is full */
};
#define SOCKREDIR_CLAIM_EXPLICIT	1	/* by SOCKREDIR_CLAIM */
#define SOCKREDIR_CLAIM_BY_OWNER	2	/* a socket of the owner's */

struct sockredir_listener {
	uint8_t claimed;		/* 1: claimed for this service */
	uint8_t how;			/* SOCKREDIR_CLAIM_*, if claimed */
	uint8_t state;			/* enum sockredir_listener_state */
	uint8_t pad;
	uint32_t pid;			/* who claimed it (tgid), or last had it
					 * (not claimed now); 0: nobody */
	uint32_t uid;
	uint32_t backlog, max_backlog;	/* accept queue when last seen */
	uint64_t claimed_ns;		/* when, CLOCK_BOOTTIME; 0: never */
	uint64_t seen_ns;		/* when state was last set; 0: never */
};

/* Owner cgroup, as list finds it now. */
enum sockredir_owner_state {
	SOCKREDIR_OWNER_OK = 0,		/* none, or it exists */
	SOCKREDIR_OWNER_REMOVED = 1,	/* its cgroup no longer exists */
	SOCKREDIR_OWNER_STALE = 2,	/* removed, and another made at its
					 * path: that one is not the owner */
};

struct sockredir_service {
	char name[SOCKREDIR_NAME_MAX];
	uint16_t id;			/* set by sockredir_service_add() */
	struct sockaddr_in listen4;	/* sin_port 0: none */
	struct sockaddr_in6 listen6;	/* sin6_port 0: none */
	int64_t owner_uid;		/* -1: none */
	uint64_t owner_cgroup_id;	/* 0: none */
	uint32_t flags;			/* SOCKREDIR_FAIL_CLOSED, ... */
	uint32_t udp_idle;		/* seconds an unconnected UDP flow may
					 * idle; 0: SOCKREDIR_UDP_IDLE_DEFAULT */
	struct sockredir_counters stats; /* filled in by list */
	int64_t live_flows;		/* filled in by list: open now */
	/* Filled in by list, too. */
	struct sockredir_listener listener4, listener6;
	char owner_cgroup[512];		/* its path ("" none or unknown) */
	uint32_t owner_cgroup_state;	/* enum sockredir_owner_state */
	uint64_t owner_cgroup_now;	/* STALE: the id at the path now */
};

/*
 * Service flags.  Without a claimed listener a service fails open by
 * default: its traffic skips it, to the next eligible service or the
 * destination.  SOCKREDIR_FAIL_CLOSED refuses the connect instead.
 * SOCKREDIR_SKIP_INSPECTED leaves alone flows another service already
 * handled (WFP's REDIRECTED_BY_OTHER choice).
 */
#define SOCKREDIR_FAIL_CLOSED		1
#define SOCKREDIR_SKIP_INSPECTED	2

/*
 * sockredir_service_add - register a redirect service.
 * Needs a name (a letter, then letters, digits, '-', '_', '.'),
 * at least one listen address, at most one of each family.  The owner
 * cgroup is given as a path here and stored as its id; processes in it or
 * below it are owners.  It must lie inside the cgroup the layer is attached
 * to, or the proxy's sockets would not see the socket options (-EXDEV).
 * Ids are handed out round-robin, so a deleted service's id is not reused
 * soon.  Returns the new id (> 0), or -EEXIST, -ENOSPC, -EINVAL, -EXDEV,
 * -ENOENT (no such cgroup, or the layer is not up).
 */
SOCKREDIR_API int sockredir_service_add(const struct sockredir_service *svc,
					const char *owner_cgroup);

/*
 * sockredir_service_del - remove a service and the rules that redirect to
 * it.  Returns how many rules went with it, or -ENOENT (no such service).
 */
SOCKREDIR_API int sockredir_service_del(const char *name);

/*
 * sockredir_service_update - change the settings of the running service of
 * the same name in place (listen addresses, owner, flags): same id, its
 * rules and counters kept; its claims kept unless the listen addresses
 * change.  Returns 0, or -ENOENT (no such service or cgroup), -EINVAL,
 * -EXDEV (as sockredir_service_add).
 */
SOCKREDIR_API int sockredir_service_update(const struct sockredir_service *svc,
					   const char *owner_cgroup);

/*
 * sockredir_service_list - all services, by id.  *@out is malloc'ed (free
 * it); returns the count or -errno.
 */
SOCKREDIR_API int sockredir_service_list(struct sockredir_service **out);

enum sockredir_action {
	SOCKREDIR_ACTION_REDIRECT = 1,
	SOCKREDIR_ACTION_PERMIT = 2,
	SOCKREDIR_ACTION_BLOCK = 3,	/* the connect fails with EPERM */
};

struct sockredir_rule {
	uint32_t id;			/* set by sockredir_rule_add() */
	uint32_t weight;		/* higher is tried first */
	uint8_t action;			/* enum sockredir_action */
	uint8_t protocol;		/* 0: any, IPPROTO_TCP, IPPROTO_UDP */
	uint8_t family;			/* 0: both, AF_INET, AF_INET6 */
	uint8_t prefix_len;		/* of dst; 0 with family 0: any */
	uint8_t dst[16];		/* network order; v4 in the first 4 */
	uint16_t dport_lo, dport_hi;	/* host order; 0, 0: any */
	uint16_t service_id;		/* for REDIRECT */
	int64_t uid;			/* -1: any */
	uint64_t cgroup_id;		/* 0: any; the cgroup or below it */
	uint32_t cgroup_level;		/* depth of cgroup_id in the hierarchy */
	char name[SOCKREDIR_NAME_MAX];	/* "": none; else unique among rules */
};

/*
 * sockredir_rule_add - add rules, all or none.
 * @rules, @n: the rules; their ids are filled in.  A rule may carry a name
 * (as a service's), so that configuration files can refer to it; ids are
 * still what the kernel and the counters use.
 * Returns 0 or -errno (-E2BIG: more than 32 rules would cover one address;
 * -EEXIST: a rule of that name exists; -EINVAL: a bad name).
 */
SOCKREDIR_API int sockredir_rule_add(struct sockredir_rule *rules, size_t n);

/* Returns 0 or -ENOENT. */
SOCKREDIR_API int sockredir_rule_del(uint32_t id);

/* All rules in evaluation order; *@out is malloc'ed.  Returns the count. */
SOCKREDIR_API int sockredir_rule_list(struct sockredir_rule **out);

/* ---- Whole configurations ------------------------------------------------ */

/* A service as a configuration gives it. */
struct sockredir_conf_service {
	struct sockredir_service svc;	/* name, listen4/6, owner_uid, flags */
	const char *owner_cgroup;	/* NULL: no owner cgroup */
};

/* A rule as a configuration gives it: its service by name. */
struct sockredir_conf_rule {
	struct sockredir_rule rule;	/* rule.service_id is ignored */
	const char *service;		/* REDIRECT: a service of the same conf */
};

struct sockredir_conf {
	size_t sz;			/* sizeof(struct sockredir_conf) */
	unsigned int max_hops;		/* 0: leave as it is */
	const struct sockredir_conf_service *services;
	size_t nservices;
	const struct sockredir_conf_rule *rules;
	size_t nrules;
};

struct sockredir_apply_result {
	size_t sz;			/* sizeof(struct sockredir_apply_result) */
	unsigned int services_added, services_changed, services_removed,
		     services_kept;
	unsigned int rules_added, rules_removed, rules_kept;
	int max_hops_changed;
	/* On failure: the index in conf of the service or rule the error is
	 * about, or -1. */
	int bad_service, bad_rule;
};

/* Work out and check the difference, change nothing. */
#define SOCKREDIR_APPLY_CHECK	1

/*
 * sockredir_apply - make the running layer's services and rules equal
 * @conf, all or nothing, changing only the difference:
 *  - a service of the same name and the same settings is kept as it is:
 *    same id, its claims, counters and flows untouched; one whose settings
 *    differ is changed in place (same id; its claims are kept unless its
 *    listen addresses change); services not in @conf are removed;
 *  - a rule equal to a running one (same match, action, weight and name)
 *    is kept with its id; others are added with new ids, and rules not in
 *    @conf removed, in one change of the index, so that no rule is gone
 *    before its replacement is in.
 * With SOCKREDIR_APPLY_CHECK nothing is written; with the layer down, a
 * check compares against an empty layer.  @res (may be NULL) says what
 * changed or would change.
 * Returns 0, or -errno: -EINVAL (a bad service or rule, see bad_*),
 * -EEXIST (a name twice), -ENOENT (a rule's service is not in @conf, a
 * cgroup does not exist, or the layer is down), -EXDEV (an owner cgroup
 * outside the attached cgroup), -E2BIG (over 32 rules on one address),
 * -ENOSPC.
 */
SOCKREDIR_API int sockredir_apply(const struct sockredir_conf *conf,
				  unsigned int flags,
				  struct sockredir_apply_result *res);

#ifdef __cplusplus
}
#endif

#endif /* SOCKREDIR_H */
