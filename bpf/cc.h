/* SPDX-License-Identifier: (GPL-2.0 OR MIT) */
/*
 * cc.h - the layer's TCP congestion control, "sockredir": how a redirected
 * socket's connection made and ended is seen without a program for every
 * other socket (handoff.h).  The connect hook puts it on the sockets it
 * redirects, and only on them; the kernel calls its init when the socket
 * is connected and its release when it is destroyed (or when the
 * application sets another congestion control).  Its arithmetic is Reno's,
 * the kernel's own (its exported kfuncs): the leg it runs on is the
 * loopback one to a local proxy, which never sees loss worth a smarter
 * algorithm.
 *
 * It is registered under its name for the whole host.  bpf_setsockopt
 * needs no privilege for it; an application's setsockopt needs
 * CAP_NET_ADMIN in the socket's network namespace (it is not in
 * net.ipv4.tcp_allowed_congestion_control), which an unprivileged user has
 * in a user and network namespace of its own.  That gains nothing: on a
 * socket that is no redirected flow's its callbacks find no state and
 * return, and the layer's state is found only on sockets its hooks
 * redirected.
 */
#ifndef SOCKREDIR_CC_H
#define SOCKREDIR_CC_H

#include "handoff.h"
#include "ksock.h"

#define SR_CC_NAME	"sockredir"
#define SR_TCP_CONGESTION	13
#define SR_TCP_SYNCNT		7
#ifndef SOL_TCP
#define SOL_TCP 6
#endif

/* Enough of the kernel's struct for libbpf to fill it by member name. */
struct tcp_congestion_ops {
	__u32 (*ssthresh)(struct sock *sk);
	void (*cong_avoid)(struct sock *sk, __u32 ack, __u32 acked);
	__u32 (*undo_cwnd)(struct sock *sk);
	void (*init)(struct sock *sk);
	void (*release)(struct sock *sk);
	char name[16];
};

extern void tcp_reno_cong_avoid(struct sock *sk, __u32 ack, __u32 acked) __ksym;
extern __u32 tcp_reno_ssthresh(struct sock *sk) __ksym;
extern __u32 tcp_reno_undo_cwnd(struct sock *sk) __ksym;

/* What the connect hook sets (read-only data: none of its stack). */
static const char sr_cc_name[] = SR_CC_NAME;
static const int sr_cc_syncnt = SR_CONNECT_SYNCNT;

/*
 * Put the layer's congestion control, and a SYN count that bounds how long
 * the connect may take, on the socket the connect hook redirects.
 * Returns 0 or -errno (the congestion control is not registered: the
 * connect must be refused, its flow could not be seen).
 */
static __always_inline int sr_cc_put(struct bpf_sock_addr *ctx)
{
	int err = bpf_setsockopt(ctx, SOL_TCP, SR_TCP_CONGESTION,
				 (void *)sr_cc_name, sizeof(sr_cc_name));

	if (err)
		return err;
	return bpf_setsockopt(ctx, SOL_TCP, SR_TCP_SYNCNT, (void *)&sr_cc_syncnt,
			      sizeof(sr_cc_syncnt));
}

#endif
