/*
 * bpf_shim.h - just enough of the BPF program environment to compile the
 * bpf/ modules as ordinary C and run their decisions in a unit test.
 *
 * The helpers read a "current task" the test sets (shim_task), array maps
 * read memory the test binds to them (shim_bind), and a socket lookup finds
 * one of the test's listeners (shim_listener) by port, whose claim is what
 * bpf_sk_storage_get returns for the claims map.  Include it before any
 * bpf/ header; it is not a mock of the decisions, only of the kernel's
 * bookkeeping around them.
 */
#ifndef SOCKREDIR_BPF_SHIM_H
#define SOCKREDIR_BPF_SHIM_H

#include <arpa/inet.h>
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <linux/bpf.h>

#include "sockredir_abi.h"
#include "observe_abi.h"

#define SHIM static __attribute__((unused))

#ifndef __always_inline
#define __always_inline inline __attribute__((always_inline))
#endif
#define __noinline __attribute__((noinline))
#define SEC(name)
#define __uint(name, val) int (*name)[val]
#define __type(name, val) __typeof__(val) *name
#define __array(name, val) __typeof__(val) *name[]
#define bpf_htonl htonl
#define bpf_htons htons
#define bpf_ntohl ntohl
#define bpf_ntohs ntohs

/* The task that makes the call. */
static struct {
	__u32 uid, gid, pid;
	__u64 cgroup_up[32];	/* ancestor ids by level; [depth] = its own */
	int depth;
	char comm[16];
	__u64 cookie;
} shim_task;

/* A listening socket a connect could reach, and the claim on it. */
struct shim_listener {
	struct bpf_sock sk;	/* first: the lookup hands out its address */
	__u16 port;		/* network order */
	int up;
	struct sr_claim claim;	/* service_id 0: not claimed */
	struct {		/* what bpf_skc_to_tcp_sock shows of it */
		__u32 ack_backlog, max_ack_backlog;
	} queue;
};
#define SHIM_LISTENERS 8
static struct shim_listener shim_listeners[SHIM_LISTENERS];

struct shim_map {
	const void *map;
	void *values;
	size_t size;
	__u32 n;
};
static struct shim_map shim_maps[16];

/* Array map @map reads @n values of @size bytes at @values. */
SHIM void shim_bind(const void *map, void *values, size_t size, __u32 n)
{
	int i;

	for (i = 0; i < 16; i++) {
		if (!shim_maps[i].map || shim_maps[i].map == map) {
			shim_maps[i] = (struct shim_map){ map, values, size, n };
			return;
		}
	}
}

SHIM void *bpf_map_lookup_elem(const void *map, const void *key)
{
	__u32 k = *(const __u32 *)key;
	int i;

	for (i = 0; i < 16 && shim_maps[i].map; i++)
		if (shim_maps[i].map == map)
			return k < shim_maps[i].n ?
				       (char *)shim_maps[i].values + k * shim_maps[i].size :
				       NULL;
	return NULL;
}

SHIM __u64 bpf_get_current_uid_gid(void)
{
	return (__u64)shim_task.gid << 32 | shim_task.uid;
}
SHIM __u64 bpf_get_current_pid_tgid(void)
{
	return (__u64)shim_task.pid << 32 | shim_task.pid;
}
SHIM __u64 bpf_get_current_cgroup_id(void)
{
	return shim_task.cgroup_up[shim_task.depth];
}
SHIM __u64 bpf_get_current_ancestor_cgroup_id(int level)
{
	return level >= 0 && level <= shim_task.depth ? shim_task.cgroup_up[level] : 0;
}
SHIM long bpf_get_current_comm(void *buf, __u32 size)
{
	memcpy(buf, shim_task.comm, size < 16 ? size : 16);
	return 0;
}
SHIM __u64 bpf_get_socket_cookie(void *ctx)
{
	return shim_task.cookie;
}

SHIM struct bpf_sock *bpf_sk_lookup_tcp(void *ctx, struct bpf_sock_tuple *t,
					  __u32 size, __u64 netns, __u64 flags)
{
	__u16 port = size == sizeof(t->ipv4) ? t->ipv4.dport : t->ipv6.dport;
	int i;

	for (i = 0; i < SHIM_LISTENERS; i++)
		if (shim_listeners[i].up && shim_listeners[i].port == port)
			return &shim_listeners[i].sk;
	return NULL;
}
/* The listener's queue, laid out as listener.h reads struct sock. */
SHIM struct tcp_sock *bpf_skc_to_tcp_sock(void *sk)
{
	return sk ? (struct tcp_sock *)&((struct shim_listener *)sk)->queue : NULL;
}
SHIM __u64 bpf_get_netns_cookie(void *ctx)
{
	return 1;
}
SHIM __u64 bpf_ktime_get_boot_ns(void)
{
	return 0;
}
SHIM long bpf_sock_ops_cb_flags_set(void *skops, int flags)
{
	return 0;
}
SHIM long bpf_sk_release(void *sk)
{
	return 0;
}

/* Only the claims map is looked up on a listener. */
SHIM void *bpf_sk_storage_get(const void *map, void *sk, void *value,
				__u64 flags)
{
	struct shim_listener *l = sk;

	return l && l->claim.service_id ? &l->claim : NULL;
}

/*
 * The ring buffers (events.h): output copies into shim_events; nothing is
 * emitted unless the test binds sr_watch and sr_events.
 */
#define SHIM_EVENTS 16
static struct sr_event shim_events[SHIM_EVENTS];
static int shim_nevents;
SHIM long bpf_ringbuf_output(void *rb, void *data, __u64 size, __u64 flags)
{
	if (shim_nevents >= SHIM_EVENTS || size != sizeof(struct sr_event))
		return -EAGAIN;
	memcpy(&shim_events[shim_nevents++], data, size);
	return 0;
}

#endif
