/* SPDX-License-Identifier: (GPL-2.0 OR MIT) */
/*
 * ksock.h - enough of the kernel's struct sock for CO-RE (the build has no
 * vmlinux.h): libbpf relocates each field to this kernel's offset.  Read by
 * the connect hook (a listener's accept queue, listener.h) and by the
 * programs that see a TCP socket's connection made or ended: the
 * congestion-control callbacks, the proxies' sockops program and an
 * earlier build's state tracepoint (the 4-tuple, namespace and cookie,
 * handoff.h).
 */
#ifndef SOCKREDIR_KSOCK_H
#define SOCKREDIR_KSOCK_H

#ifdef __bpf__
#define SR_CORE __attribute__((preserve_access_index))
#else
#define SR_CORE			/* the unit tests' shim */
#endif

struct net {
	__u64 net_cookie;	/* what bpf_get_netns_cookie() returns */
} SR_CORE;

struct sr_in6 {
	__u32 u6_addr32[4];
};

struct sock_common {
	__u32 skc_daddr;	/* network order */
	__u32 skc_rcv_saddr;
	__u16 skc_dport;	/* network order */
	__u16 skc_num;		/* host order; 0 once the port is put back */
	unsigned short skc_family;
	unsigned char skc_state;	/* TCP_CLOSE 7 once disconnected or closed */
	struct {
		struct net *net;
	} skc_net;
	struct {
		struct sr_in6 in6_u;
	} skc_v6_daddr, skc_v6_rcv_saddr;
	struct {
		__s64 counter;	/* 0 until a cookie is asked for */
	} skc_cookie;
} SR_CORE;

/* The order is not the kernel's (CO-RE finds each field by name): the
 * unit tests' shim lays out the two backlog fields first. */
struct sock {
	__u32 sk_ack_backlog;
	__u32 sk_max_ack_backlog;
	struct sock_common __sk_common;
	__u16 sk_protocol;
	void *sk_bpf_storage;	/* NULL: no BPF program keeps state on it */
} SR_CORE;

/* The namespace cookie of @sk (bpf_get_netns_cookie's, which a tracing
 * program may not call). */
static __always_inline __u64 sr_sk_netns(struct sock *sk)
{
	return sk->__sk_common.skc_net.net->net_cookie;
}

/* The cookie of @sk, as bpf_get_socket_cookie() made it (0: never asked;
 * a struct_ops program may not call that helper). */
static __always_inline __u64 sr_sk_cookie(struct sock *sk)
{
	return (__u64)sk->__sk_common.skc_cookie.counter;
}

#endif
