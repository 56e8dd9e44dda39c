/* SPDX-License-Identifier: (GPL-2.0 OR MIT) */
/*
 * sockredir_abi.h - what the BPF programs and libsockredir share: map
 * layouts and the records' wire format.  Private to the project; the
 * public interface is include/sockredir.h.
 */
#ifndef SOCKREDIR_ABI_H
#define SOCKREDIR_ABI_H

#include <linux/types.h>

#define SR_MAX_RULES		131072	/* rule slots */
#define SR_RULES_PER_ADDR	32	/* rules that may cover one address */
#define SR_MAX_SERVICES		64	/* = SOCKREDIR_MAX_SERVICES */
#define SR_MAX_HOPS		16	/* = SOCKREDIR_MAX_HOPS */
#define SR_PENDING_MAX		65536	/* connects not yet accepted */
#define SR_PENDING_PER_UID	4096	/* of those, one uid's */
#define SR_ANY_UID		0xffffffffu
#define SR_UDP_FLOWS_MAX	65536	/* UDP flow endpoints: the pool at most */
#define SR_UDP_UIDS_MAX		4096	/* uids holding UDP flows at once */
#define SR_UDP_IDLE_DEFAULT	60	/* s; = SOCKREDIR_UDP_IDLE_DEFAULT */

#define SR_REC_MAGIC		0x31525253u	/* "SRR1" */
#define SR_REC_VERSION		2

/* Mirrors of include/sockredir.h, which BPF code cannot include. */
#define SR_SOL			0x5352	/* SOL_SOCKREDIR */
#define SR_OPT_RECORDS		1
#define SR_OPT_CONTEXT		2
#define SR_OPT_CLAIM		3
#define SR_OPT_FLOW		4	/* SOCKREDIR_FLOW */
#define SR_OPT_QUERY		5	/* SOCKREDIR_QUERY */
#define SR_SO_ORIGINAL_DST	80	/* SO_ORIGINAL_DST, IP6T_SO_ORIGINAL_DST */
enum { SR_NOT_REDIRECTED, SR_BY_SELF, SR_BY_OTHER, SR_PREVIOUSLY_BY_SELF };

enum { SR_ACT_REDIRECT = 1, SR_ACT_PERMIT = 2, SR_ACT_BLOCK = 3 };
enum {
	SR_ROLE_REDIRECTED = 2,	/* a socket whose connect this layer redirected:
				 * an application's, or a proxy's onward one */
	SR_ROLE_ACCEPTED = 3,	/* a proxy's end of such a connection */
};
/* sr_service.flags */
#define SR_SVC_FAIL_CLOSED	1	/* no listener: refuse, don't skip */
#define SR_SVC_SKIP_INSPECTED	2	/* leave flows others handled */
#define SR_CG_LEVELS		16	/* app cgroup ancestors carried: rules may
					 * name cgroups down to this level */
#define SR_NAME_MAX		32	/* = SOCKREDIR_NAME_MAX */

struct sr_addr {
	__u16 family;
	__u16 port;		/* network order */
	__u32 addr[4];		/* network order; IPv4 in addr[0] */
};

/*
 * The records: the flow's chain of services, its original application and
 * the destination it connected to, signed with a key that lives only in
 * the kernel (SipHash-2-4), so that they cannot be made up or edited by
 * user space.  A new key is drawn at each `sockredir up`, which also voids
 * records from an earlier load.
 *
 * They are bound to the flow and hop they were issued for: only root or
 * the owner of the last hop's service may give them to a socket, only
 * while that hop's accepted socket is open, and a socket given them may
 * connect only to the destination signed in (see bpf/handoff.h and
 * bpf/redirect.h).
 */
struct sr_records {
	__u32 magic;
	__u8 version;
	__u8 nhops;
	__u16 size;		/* sizeof(struct sr_records) */
	__u64 flow_id;
	__u32 app_pid;
	__u32 app_uid;
	__u32 app_gid;
	__u32 protocol;
	__u64 app_cgroup;
	__u64 app_cgroup_up[SR_CG_LEVELS]; /* its ancestors at levels 1..16 */
	char app_comm[16];
	__u16 hops[SR_MAX_HOPS];
	struct sr_addr dst;	/* where the application connected, as rules
				 * see it: IPv4-mapped as IPv4, 0.0.0.0 as
				 * 127.0.0.1 */
	__u32 pad;
	__u64 mac;		/* over everything above */
};
#define SR_REC_WORDS ((sizeof(struct sr_records) - 8) / 8)

/* The records' signing key: drawn in the kernel at up, then its map is
 * frozen and unpinned (bpf/records.h). */
struct sr_key {
	__u64 k[2];
};

/* What travels from the application's socket to the proxy's. */
struct sr_flow {
	struct sr_records rec;
	struct sr_addr orig_dst;
	struct sr_addr orig_src;
	__u32 rule_id;
	__u16 service_id;
	__u16 pad;
	__u32 quota_uid;	/* whose pending-flow quota it counts against */
	__u32 pad2;
};

/* sr_conn.published (and sr_sock.published): where a redirected flow is
 * on its way to its proxy. */
#define SR_PUB_NONE	0	/* nowhere: not yet, or no longer */
#define SR_PUB_PENDING	1	/* in the pending map, under its 4-tuple */
#define SR_PUB_CHARGED	2	/* connecting: counted against its uid's
				 * pending flows, in the map once connected
				 * (an earlier build's connect hook) */
#define SR_PUB_CONNECTING 3	/* connecting, counted, the charge held by
				 * its sr_connecting entry (bpf/handoff.h) */

/*
 * The per-socket state, one map per role (bpf/sock.h), so that each socket
 * carries only what it needs and a flow's body (struct sr_flow) is kept
 * once: from the connect hook until the publish in sr_connect_flows (by
 * socket cookie), then in sr_pending (by 4-tuple), then on the accepted
 * socket.  Sizes: an sk_storage element is its value plus 72 bytes of the
 * kernel's, allocated from the kmalloc cache that fits; each socket with
 * any state has one 176-byte container besides (kmalloc-192).
 */

/* sr_conns: a socket whose connect this layer redirected (an
 * application's, a proxy's onward one, an MPTCP socket's first subflow's
 * parent for getpeername, a connected UDP socket).  At most 120 bytes: an
 * element of kmalloc-192. */
struct sr_conn {
	__u8 role;		/* SR_ROLE_REDIRECTED; 0: no longer */
	__u8 published;		/* SR_PUB_* */
	__u16 service_id;	/* its hop's service */
	__u32 quota_uid;	/* whose pending-flow quota it counts against */
	__u64 flow_id;		/* its records' (flow list) */
	__u64 started;		/* CLOCK_BOOTTIME ns of its redirect */
	struct sr_addr target;	/* the listener it was sent to */
	struct sr_addr orig_dst; /* what getpeername answers */
	struct sr_addr orig_src; /* the source its publish saw */
	__u32 pad;
};
#define SR_CONN_MAX_SIZE	120

/*
 * sr_accepted: a proxy's end of a redirected connection, with the flow.
 * Its first 28 bytes are laid out as those of an earlier build's struct
 * sr_sock, whose flow follows at the same offset, so that bpf/legacy.h can
 * read an accepted socket of that build through this struct.  An element
 * of kmalloc-512.
 */
struct sr_acc {
	__u8 role;		/* SR_ROLE_ACCEPTED */
	__u8 rsvd1[2];		/* (sr_sock.published, has_given) */
	__u8 live;		/* its hop is in the live-hops map */
	__u8 onward;		/* its slot + 1 in sr_onward, for its proxy's
				 * onward connect (forward.h) */
	__u8 pad[3];
	struct sr_addr rsvd2;	/* (sr_sock.target) */
	struct sr_flow flow;
};
#define SR_ACC_MAX_SIZE		(512 - 72)

/* sr_given: records a proxy gave its onward socket (struct sr_records as
 * set; a retried connect starts from them again). */

/*
 * sk_storage of a socket that was redirected, accepted, or given records,
 * in builds up to 3a26e43 (map sr_socks): only bpf/legacy.h reads it, for
 * the sockets of such a build's flows after an upgrade.  Its layout must
 * not change (the upgrade takes the map over only as it was).
 */
struct sr_sock {
	__u8 role;		/* SR_ROLE_*; 0: given records, not connected */
	__u8 published;		/* REDIRECTED: SR_PUB_* */
	__u8 has_given;		/* a proxy set records on it (given_rec) */
	__u8 live;		/* ACCEPTED: its hop is in the live-hops map */
	__u8 onward;		/* ACCEPTED: its slot + 1 in sr_onward */
	__u8 pad[3];
	struct sr_addr target;	/* REDIRECTED: the listener it was sent to */
	struct sr_flow flow;
	struct sr_records given_rec; /* as the proxy set them */
	__u64 started;		/* REDIRECTED: CLOCK_BOOTTIME ns of its
				 * redirect, for `flow list`'s age */
};

/* Regressions of the per-flow memory fail the build (bench/REPORT.md §2). */
_Static_assert(sizeof(struct sr_conn) <= SR_CONN_MAX_SIZE,
	       "sr_conn outgrows kmalloc-192");
_Static_assert(sizeof(struct sr_acc) <= SR_ACC_MAX_SIZE,
	       "sr_acc outgrows kmalloc-512");
_Static_assert(__builtin_offsetof(struct sr_acc, flow) ==
	       __builtin_offsetof(struct sr_sock, flow) &&
	       __builtin_offsetof(struct sr_acc, live) ==
	       __builtin_offsetof(struct sr_sock, live) &&
	       __builtin_offsetof(struct sr_acc, onward) ==
	       __builtin_offsetof(struct sr_sock, onward),
	       "sr_acc must read an earlier build's accepted sr_sock");

/* sk_storage of a service's claimed listener (a map of its own: small). */
struct sr_claim {
	__u16 service_id;
	__u8 how;		/* SR_CLAIM_* */
	__u8 pad;
	__u32 gen;		/* the service generation claimed */
};
/* How a listener came to be claimed (sr_claim.how, sr_holder.how). */
#define SR_CLAIM_EXPLICIT	1	/* SOCKREDIR_CLAIM */
#define SR_CLAIM_BY_OWNER	2	/* bound by the owner on the service's
					 * address (bpf/claim.h) */

/* What a connect found at a service's listener (sr_holder.state). */
enum {
	SR_LSN_NONE = 0,	/* nothing seen yet */
	SR_LSN_OK = 1,		/* the claimed listener, with room */
	SR_LSN_GONE = 2,	/* nothing listens there */
	SR_LSN_SQUATTED = 3,	/* a socket without the claim would get it */
	SR_LSN_OVERLOADED = 4,	/* the claimed listener's queue is full */
};
/* sr_holder.how: SR_CLAIM_* as in sr_claim.how. */

/* Service @id's listener in one family: slot id * 2 + (family is IPv6). */
struct sr_holder {
	__u32 gen;		/* service generation claimed; 0: none */
	__u32 pid;		/* tgid that claimed it */
	__u32 uid;
	__u8 how;		/* SR_CLAIM_*; 0: not claimed */
	__u8 state;		/* SR_LSN_*, as last seen */
	__u16 port;		/* host order, the claimed socket's */
	__u32 backlog;		/* accept queue at the last look ... */
	__u32 max_backlog;	/* ... and its limit */
	__u64 netns;		/* netns cookie of the claimer */
	__u64 claimed_ns;	/* CLOCK_BOOTTIME */
	__u64 seen_ns;		/* when state was last set */
};

/* Pending map key: netns and 4-tuple, client first, ports in host order. */
struct sr_tuple {
	__u64 netns;		/* two namespaces may reuse one 4-tuple */
	__u32 family;
	__u32 saddr[4];
	__u32 daddr[4];
	__u16 sport;
	__u16 dport;
};

/* Rule index: an LPM trie on (family, destination). */
struct sr_lpm_key {
	__u32 prefixlen;	/* 8 (family byte) + prefix length */
	__u8 family;
	__u8 addr[16];
};

/* Every rule that covers a prefix, ancestors' too, highest weight first. */
struct sr_ruleset {
	__u32 n;
	__u32 slot[SR_RULES_PER_ADDR];
};

struct sr_rule {
	__u32 id;		/* 0: free slot */
	__u32 weight;
	__u8 action;
	__u8 protocol;		/* 0: any */
	__u8 family;		/* 0: both */
	__u8 prefix_len;
	__u8 dst[16];
	__u16 dport_lo;		/* host order; 0-0: any */
	__u16 dport_hi;
	__u16 service;
	__u16 cgroup_level;
	__u32 uid;		/* SR_ANY_UID: any */
	__u64 cgroup_id;	/* 0: any */
};

struct sr_service {
	__u16 id;		/* 0: free slot */
	__u16 port4;		/* network order; 0: no IPv4 listener */
	__u16 port6;
	__u16 flags;		/* SR_SVC_* */
	__u32 gen;		/* tells a re-added service from the old one */
	__u32 addr4;
	__u32 addr6[4];
	__u32 owner_uid;	/* SR_ANY_UID: none */
	__u32 owner_cgroup_level;
	__u64 owner_cgroup_id;	/* 0: none */
	char name[32];
	__u32 udp_idle;		/* s an unconnected UDP flow may idle; 0: default */
	__u32 pad2;
};

/*
 * Service i's owner cgroup as a path, as it was when the service was added:
 * only the control plane reads it, to tell a removed (or removed and
 * recreated) owner cgroup from a live one.
 */
#define SR_PATH_MAX		512
struct sr_owner_path {
	char path[SR_PATH_MAX];	/* absolute; "" none (or too long) */
};

/* The processes that run service i's proxy: owners[i] in the config. */
struct sr_owner {
	__u32 uid;		/* SR_ANY_UID: not by uid */
	__u32 cgroup_level;
	__u64 cgroup_id;	/* 0: not by cgroup */
};

/*
 * Written whole by the control plane while the hooks read it.  Each
 * service's owner sits at its own index and only that entry changes when
 * the service comes or goes, so a reader never sees another's half-written.
 */
struct sr_config {
	__u32 max_hops;
	__u32 last_id;		/* ids are handed out round-robin */
	__u64 cgroup_id;	/* where the layer is attached */
	__u64 owners_mask;	/* bit i: service i has an owner */
	__u32 next_gen;
	__u32 next_rule_id;	/* rule ids are never reused until down */
	struct sr_owner owners[SR_MAX_SERVICES];
	char cgroup_path[512];
	/* UDP flow endpoints (udp.h): the pools, network order. */
	__u32 udp_pool4;
	__u32 udp_pool6[4];
	__u32 udp_pool6_on;
	__u32 udp_pool_mask;	/* pool size - 1 (a power of two) */
	__u32 udp_uid_max;	/* live flows one uid may hold */
};

/* Per-CPU, per service (index 0: not tied to a service). */
struct sr_counters {
#ifndef SR_TEST_BTF_CHANGE
	__u64 redirected;
	__u64 unrecorded_egress;
#else	/* the upgrade test's build whose maps differ in layout only */
	__u64 unrecorded_egress;
	__u64 redirected;
#endif
	__u64 hop_limit;
	__u64 bad_records;
	__u64 denied;
	__u64 pending_lost;
	__s64 live;
	__u64 blocked;		/* connects refused by a block rule */
	__u64 listener_gone;	/* fail-open: skipped, no claimed listener */
	__u64 refused;		/* fail-closed: refused, no claimed listener */
	__u64 pending_busy;	/* 4-tuple already pending: flow not tracked */
	__u64 overloaded;	/* claimed listener's accept queue full: skipped
				 * (fail open) or refused (fail closed) */
	__u64 untracked;	/* refused: its flow state could not be made */
	__u64 pending_full;	/* refused: too many flows pending (per uid) */
	__u64 onward_recorded;	/* owner connects given a flow's records by
				 * the layer (forward.h) */
	__u64 onward_ambiguous;	/* ... refused: flows judged differently */
	__s64 udp_flows;	/* UDP flows live now */
	__u64 udp_expired;	/* UDP flows ended idle */
	__u64 udp_no_endpoint;	/* new UDP flows refused: share or pool used up */
	__u64 mptcp_join_refused; /* MPTCP joins to a covered destination */
#ifdef SR_TEST_SIZE_CHANGE
	__u64 test_extra;	/* the upgrade test's build whose maps differ */
#endif
};

/* struct sockredir_context as the getsockopt program writes it. */
struct sr_sockaddr {
	__u16 family;
	__u16 port;
	__u32 flowinfo_or_addr4;	/* sin_addr for AF_INET */
	__u32 addr6[4];			/* sin6_addr for AF_INET6 */
	__u32 scope_id;
	__u8 pad[100];			/* to sizeof(struct sockaddr_storage) */
};

struct sr_context {
	struct sr_sockaddr remote;
	struct sr_sockaddr local;
	__u32 version;
	__u32 size;
	__u64 flow_id;
	__u64 app_cgroup_id;
	__u32 app_pid;
	__u32 app_uid;
	__u32 app_gid;
	__u32 rule_id;
	__u16 service_id;
	__u8 hop;
	__u8 protocol;
	__u32 reserved;
	char app_comm[16];
	__u16 chain[SR_MAX_HOPS];
};
#define SR_CONTEXT_BLOCK_SIZE (sizeof(struct sr_context) - 2 * sizeof(struct sr_sockaddr))

#endif
