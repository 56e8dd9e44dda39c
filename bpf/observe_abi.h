/* SPDX-License-Identifier: (GPL-2.0 OR MIT) */
/*
 * observe_abi.h - what the layer's observers (the decision events and the
 * flow iterator) share with libsockredir.  Private to the project; the
 * public interface is include/sockredir/observe.h.
 */
#ifndef SOCKREDIR_OBSERVE_ABI_H
#define SOCKREDIR_OBSERVE_ABI_H

#include "sockredir_abi.h"

/* Decisions (sr_event.kind); = enum sockredir_event_kind. */
enum {
	SR_EV_REDIRECTED = 1,	/* sent to service_id, as hop `hop` */
	SR_EV_SKIP_SELF,	/* service_id is the flow's last hop */
	SR_EV_SKIP_PREV_SELF,	/* service_id handled it earlier */
	SR_EV_SKIP_INSPECTED,	/* --skip-inspected: others handled it */
	SR_EV_LISTENER_GONE,	/* fail open: no claimed listener */
	SR_EV_OVERLOADED,	/* fail open: its proxy is saturated */
	SR_EV_PERMITTED,	/* a permit rule */
	SR_EV_BLOCKED,		/* a block rule: EPERM */
	SR_EV_HOP_LIMIT,	/* ELOOP */
	SR_EV_REFUSED,		/* fail closed: ECONNREFUSED */
	SR_EV_UNRECORDED_EGRESS, /* an owner's connect without records
				  * passed over service_id's rule */
	SR_EV_MAX
};

/* One decision, as the ring buffer carries it (sr_events). */
struct sr_event {
	__u64 time_ns;		/* CLOCK_BOOTTIME */
	__u64 flow_id;		/* 0: the connect carries no flow yet */
	__u32 kind;		/* SR_EV_* */
	__u32 pid;		/* the connecting task (tgid) */
	__u32 uid;
	__u32 app_pid;		/* the flow's application: the task itself, */
	__u32 app_uid;		/* or on a proxy's onward connect the one */
	__u32 rule_id;		/* its records name; 0: no rule */
	__u16 service_id;	/* 0: none */
	__u8 hop;		/* REDIRECTED: the new hop; else hops so far */
	__u8 protocol;
	__u32 pad;
	struct sr_addr dst;	/* where the connect was going */
	char comm[16];
	char app_comm[16];
};

/*
 * Who watches (sr_watch, one mmap-able entry).  A monitor takes a slot
 * with its pid and adds one to count; the hooks emit only while count is
 * not 0, so nobody watching costs one load.  The slots let a monitor
 * give back those of monitors that died without clearing them.
 */
#define SR_MAX_WATCHERS 30
struct sr_watch {
	__u32 count;		/* monitors running */
	__u32 lost;		/* events dropped: the ring buffer was full */
	__u32 pid[SR_MAX_WATCHERS];
};

#define SR_EVENTS_SIZE (256 * 1024)	/* ring buffer bytes */

/* One socket of a live flow, as the flow iterator writes it. */
struct sr_flow_row {
	__u8 role;		/* SR_ROLE_*, or 0: a proxy's onward socket
				 * that was not redirected (to the destination) */
	__u8 state;		/* TCP state */
	__u16 pad;
	__u32 pad2;
	__u64 started;		/* REDIRECTED: when (sr_conn.started) */
	struct sr_flow flow;
};

#endif
