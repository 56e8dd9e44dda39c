/* SPDX-License-Identifier: MIT */
/*
 * <sockredir/observe.h> - watch the redirect layer: its live flows, and a
 * stream of its decisions.  Part of libsockredir; needs the privilege the
 * control plane needs (root: the pinned maps are 0700, and listing flows
 * loads a BPF iterator).
 *
 *	struct sockredir_flow *f;
 *	int n = sockredir_flow_list(&f);	   ... free(f);
 *
 *	struct sockredir_monitor *m;
 *	sockredir_monitor_open(&m);
 *	while (sockredir_monitor_poll(m, 1000, print_event, NULL) >= 0)
 *		;
 *	sockredir_monitor_close(m);
 *
 * Same conventions as <sockredir.h>: 0 or a count on success, -errno on
 * failure (errno set too).
 */
#ifndef SOCKREDIR_OBSERVE_H
#define SOCKREDIR_OBSERVE_H

#include <sockredir.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Flows --------------------------------------------------------------- */

/*
 * One live redirected flow: the application's connection and every socket
 * that carries it on this host (the proxies' accepted and onward ones).
 */
struct sockredir_flow {
	uint64_t flow_id;		/* as in the context */
	uint32_t app_pid;		/* the application that opened it */
	uint32_t app_uid;
	uint32_t app_gid;
	char app_comm[16];
	uint64_t app_cgroup_id;
	char app_cgroup[512];		/* below the cgroup v2 mount ("/a/b");
					 * "" if it is gone or too long */
	struct sockaddr_storage dst;	/* the original destination */
	unsigned int hops;		/* services it has been sent to ... */
	uint16_t chain[SOCKREDIR_MAX_HOPS]; /* ... their ids, in order */
	uint16_t service_id;		/* the service holding it now: the last
					 * one that accepted it; 0: none yet */
	int at_destination;		/* the last proxy's onward connection
					 * (to the destination) is open */
	uint64_t age_ns;		/* since the application's connect */
	unsigned int sockets;		/* its sockets on this host */
};

/*
 * sockredir_flow_list - every live redirected flow, read from the kernel's
 * socket state by a BPF iterator (loaded for the call, then dropped), oldest
 * first.  *@out is malloc'ed (free it; NULL when there are none).
 * Returns the count, or -ENOENT (the layer is not up), -EPROTO (the loaded
 * layer is from a build whose socket state differs: upgrade it), -errno.
 */
SOCKREDIR_API int sockredir_flow_list(struct sockredir_flow **out);

/* ---- Decisions ----------------------------------------------------------- */

enum sockredir_event_kind {
	SOCKREDIR_EV_REDIRECTED = 1,	 /* to service_id, as hop `hop` */
	SOCKREDIR_EV_SKIP_SELF,		 /* service_id was the last hop */
	SOCKREDIR_EV_SKIP_PREVIOUSLY_SELF, /* service_id handled it before */
	SOCKREDIR_EV_SKIP_INSPECTED,	 /* --skip-inspected, others had it */
	SOCKREDIR_EV_LISTENER_GONE,	 /* fail open: no claimed listener */
	SOCKREDIR_EV_OVERLOADED,	 /* fail open: its proxy is saturated */
	SOCKREDIR_EV_PERMITTED,		 /* a permit rule (rule_id) */
	SOCKREDIR_EV_BLOCKED,		 /* a block rule: EPERM */
	SOCKREDIR_EV_HOP_LIMIT,		 /* ELOOP */
	SOCKREDIR_EV_REFUSED,		 /* fail closed: ECONNREFUSED */
	SOCKREDIR_EV_UNRECORDED_EGRESS,	 /* service_id's owner connected
					  * without records */
};

/* "redirected", "skip-self", ..., or NULL for an unknown kind. */
SOCKREDIR_API const char *sockredir_event_name(int kind);

struct sockredir_event {
	uint64_t time_ns;		/* CLOCK_BOOTTIME */
	int kind;			/* enum sockredir_event_kind */
	uint64_t flow_id;		/* 0: not a flow yet */
	uint32_t pid;			/* the task that connected */
	uint32_t uid;
	char comm[16];
	uint32_t app_pid;		/* the flow's application (the task */
	uint32_t app_uid;		/* itself, or the one a proxy's */
	char app_comm[16];		/* records name) */
	uint32_t rule_id;		/* 0: none */
	uint16_t service_id;		/* 0: none */
	uint8_t hop;			/* REDIRECTED: the new hop; else the
					 * hops the flow had */
	uint8_t protocol;		/* IPPROTO_TCP */
	struct sockaddr_storage dst;	/* where the connect was going */
};

struct sockredir_monitor;

/*
 * sockredir_monitor_open - start receiving the layer's decisions.  The
 * layer emits events only while at least one monitor is open; a monitor
 * that died without closing is counted out by the next one that opens.
 * Returns 0, or -ENOENT (not up), -EBUSY (too many monitors), -errno.
 */
SOCKREDIR_API int sockredir_monitor_open(struct sockredir_monitor **out);

typedef int (*sockredir_event_fn)(const struct sockredir_event *e, void *arg);

/*
 * sockredir_monitor_poll - wait up to @timeout_ms (-1: for ever) and hand
 * each event to @fn, in the order the decisions were made.  A non-zero
 * return from @fn stops and is returned.  Returns the number of events,
 * or -EINTR (a signal), -ENOENT (the layer went down), -errno.
 */
SOCKREDIR_API int sockredir_monitor_poll(struct sockredir_monitor *m,
					 int timeout_ms, sockredir_event_fn fn,
					 void *arg);

/* Events dropped so far because the ring buffer was full (all monitors). */
SOCKREDIR_API uint64_t sockredir_monitor_lost(struct sockredir_monitor *m);

/* sockredir_monitor_watchers - monitors open now (0 if the layer is down). */
SOCKREDIR_API int sockredir_monitor_watchers(void);

/* Stop: the layer stops emitting when the last monitor closes.  NULL-safe. */
SOCKREDIR_API void sockredir_monitor_close(struct sockredir_monitor *m);

#ifdef __cplusplus
}
#endif

#endif
