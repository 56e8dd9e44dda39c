// SPDX-License-Identifier: GPL-2.0
/*
 * sockredir.bpf.c - the redirect layer's entry points.  Each is a few
 * lines: the work is in the modules (one per concern, each map beside the
 * helpers that own it), which return -errno; only these turn that into a
 * verdict.
 *
 *   connect4/6      classify, rewrite to a service's listener, extend the
 *                   records (redirect.h, classify.h, records.h); on a UDP
 *                   socket a connected datagram flow (udp.h)
 *   sendmsg4/6      a UDP datagram with an address: its flow, through a
 *                   per-flow endpoint (udp.h, udpflow.h, endpoint.h)
 *   sr_cc_*         the redirected socket's congestion control (cc.h):
 *                   publish the flow by 4-tuple once connected, end it
 *                   when the socket goes (handoff.h)
 *   proxy_ops       (sockops, on the services' owner cgroups: lib/scope.c)
 *                   the accepted socket adopts its flow; the close of a
 *                   socket with the layer's state ends its part
 *   sock_state      (tracepoint inet_sock_set_state) the same for the
 *                   flows of an earlier build, only after an upgrade from
 *                   one (lib/upgrade.c)
 *   getpeername4/6  the application still sees its original peer
 *   post_bind4/6    a service's listen address is its owner's, and its
 *                   owner's socket there is its listener (claim.h)
 *   getsockopt      SOCKREDIR_RECORDS, SOCKREDIR_CONTEXT, SO_ORIGINAL_DST
 *   setsockopt      SOCKREDIR_RECORDS, SOCKREDIR_CLAIM, SOCKREDIR_FLOW
 *                   (sockopt.h, claim.h, udpsel.h); these two and
 *                   proxy_ops only on the cgroups where proxies run
 *                   (lib/scope.c)
 *   recvmsg4/6, sock_release: the rest of a datagram flow
 *   syscall         sr_make_key, run once at up (records.h)
 */
#include <linux/bpf.h>
#include <linux/in.h>
#include <linux/in6.h>
#include <linux/socket.h>
#include <linux/errno.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_tracing.h>

#ifndef AF_INET
#define AF_INET 2
#define AF_INET6 10
#endif
#define SOCK_STREAM 1
#define SOCK_DGRAM 2
#define SOL_IP 0
#define SOL_IPV6 41
#define PAGE_SIZE 4096

#include "cc.h"
#include "handoff.h"
#include "redirect.h"
#include "sockopt.h"
#include "udp.h"

char LICENSE[] SEC("license") = "GPL";

/*
 * SR_BUILD_TAG: the upgrade test builds the layer a second time with other
 * code and the same maps; this store is all that differs.
 */
#ifdef SR_BUILD_TAG
#define SR_BUILD_MARK() do { volatile __u32 b = SR_BUILD_TAG; (void)b; } while (0)
#else
#define SR_BUILD_MARK() do { } while (0)
#endif

/* A failed connect: the caller's connect() returns @err. */
static __always_inline int sr_refuse(int err)
{
	bpf_set_retval(err);
	return 0;
}

SEC("cgroup/connect4")
int sr_connect4(struct bpf_sock_addr *ctx)
{
	int err = ctx->type == SOCK_DGRAM ? sr_udp_connect(ctx, AF_INET) :
					    sr_connect(ctx, AF_INET);

	SR_BUILD_MARK();
	return err ? sr_refuse(err) : 1;
}

SEC("cgroup/connect6")
int sr_connect6(struct bpf_sock_addr *ctx)
{
	int err = ctx->type == SOCK_DGRAM ? sr_udp_connect(ctx, AF_INET6) :
					    sr_connect(ctx, AF_INET6);

	SR_BUILD_MARK();
	return err ? sr_refuse(err) : 1;
}

/*
 * UDP datagrams with an address (udp.h).  An IPv6 socket's datagram to an
 * IPv4-mapped address comes to sendmsg4: the kernel sends it as IPv4.
 */
SEC("cgroup/sendmsg4")
int sr_sendmsg4(struct bpf_sock_addr *ctx)
{
	int err = sr_udp_sendmsg(ctx, AF_INET);

	return err ? sr_refuse(err) : 1;
}

SEC("cgroup/sendmsg6")
int sr_sendmsg6(struct bpf_sock_addr *ctx)
{
	int err = sr_udp_sendmsg(ctx, AF_INET6);

	return err ? sr_refuse(err) : 1;
}

SEC("cgroup/getpeername4")
int sr_getpeername4(struct bpf_sock_addr *ctx)
{
	sr_getpeername(ctx, AF_INET);
	return 1;
}

SEC("cgroup/getpeername6")
int sr_getpeername6(struct bpf_sock_addr *ctx)
{
	sr_getpeername(ctx, AF_INET6);
	return 1;
}

/* Answers from a flow's endpoint show its original destination (udp.h). */
SEC("cgroup/recvmsg4")
int sr_recvmsg4(struct bpf_sock_addr *ctx)
{
	sr_udp_recvmsg(ctx, AF_INET);
	return 1;
}

SEC("cgroup/recvmsg6")
int sr_recvmsg6(struct bpf_sock_addr *ctx)
{
	sr_udp_recvmsg(ctx, AF_INET6);
	return 1;
}

/*
 * A connected UDP flow ends with its socket.  Attached only while a rule
 * can make UDP flows, or flows made before live (lib/release.c); then
 * every socket of the cgroup comes here: a TCP one returns before anything
 * else (its cookie would be made for nothing).
 */
SEC("cgroup/sock_release")
int sr_sock_release(struct bpf_sock *sk)
{
	if (sk->type == SOCK_DGRAM)
		sr_udp_release(sk, bpf_get_socket_cookie(sk));
	return 1;
}

/*
 * Binding a service's listen address: root and its owner only; the
 * owner's socket there is the service's listener (claim by owner).
 */
SEC("cgroup/post_bind4")
int sr_post_bind4(struct bpf_sock *sk)
{
	int err = sr_bind_check(sk, AF_INET);

	if (err)
		return sr_refuse(err);
	sr_holder_bound(sk, sr_claim_bound(sk, AF_INET), AF_INET);
	return 1;
}

SEC("cgroup/post_bind6")
int sr_post_bind6(struct bpf_sock *sk)
{
	int err = sr_bind_check(sk, AF_INET6);

	if (err)
		return sr_refuse(err);
	sr_holder_bound(sk, sr_claim_bound(sk, AF_INET6), AF_INET6);
	return 1;
}

/*
 * The redirected socket's congestion control (cc.h): Reno's arithmetic,
 * and the flow's publish and end (handoff.h).
 */
SEC("struct_ops")
void BPF_PROG(sr_cc_init, struct sock *sk)
{
	SR_BUILD_MARK();
	sr_publish(sk);
}

SEC("struct_ops")
void BPF_PROG(sr_cc_release, struct sock *sk)
{
	/* Released closed: destroyed or disconnected.  Released open: the
	 * application set another congestion control; it stays the
	 * redirected socket getpeername answers for. */
	sr_forget(sk, sk->__sk_common.skc_state == BPF_TCP_CLOSE);
}

SEC("struct_ops")
void BPF_PROG(sr_cc_cong_avoid, struct sock *sk, __u32 ack, __u32 acked)
{
	tcp_reno_cong_avoid(sk, ack, acked);
}

SEC("struct_ops")
__u32 BPF_PROG(sr_cc_ssthresh, struct sock *sk)
{
	return tcp_reno_ssthresh(sk);
}

SEC("struct_ops")
__u32 BPF_PROG(sr_cc_undo_cwnd, struct sock *sk)
{
	return tcp_reno_undo_cwnd(sk);
}

/* Not ".struct_ops.link", which libbpf 1.1 does not know: the loader
 * makes the map a link's itself (lib/loader.c sr_cc_prepare). */
SEC(".struct_ops")
struct tcp_congestion_ops sr_cc = {
	.init		= (void *)sr_cc_init,
	.release	= (void *)sr_cc_release,
	.cong_avoid	= (void *)sr_cc_cong_avoid,
	.ssthresh	= (void *)sr_cc_ssthresh,
	.undo_cwnd	= (void *)sr_cc_undo_cwnd,
	.name		= SR_CC_NAME,
};

/*
 * The proxies' TCP sockets, on their owner cgroups only (lib/scope.c): an
 * accepted socket adopts its flow; it and every listener ask for state
 * callbacks (a listener may be claimed after listen()) so that their close
 * is seen; any other accepted socket asks for none (handoff.h).
 */
SEC("sockops")
int sr_proxy_ops(struct bpf_sock_ops *ctx)
{
	int op = ctx->op, flags, want;
	struct sock *sk;

	if (op != BPF_SOCK_OPS_PASSIVE_ESTABLISHED_CB &&
	    op != BPF_SOCK_OPS_TCP_LISTEN_CB && op != BPF_SOCK_OPS_STATE_CB)
		return 1;
	if (!ctx->sk)
		return 1;
	sk = (struct sock *)bpf_skc_to_tcp_sock(ctx->sk);
	if (!sk)
		return 1;
	if (op == BPF_SOCK_OPS_STATE_CB) {
		if (ctx->args[1] == BPF_TCP_CLOSE)
			sr_sock_closed(sk, ctx->args[0]);
		return 1;
	}
	flags = ctx->bpf_sock_ops_cb_flags;
	want = flags | BPF_SOCK_OPS_STATE_CB_FLAG;
	if (op == BPF_SOCK_OPS_PASSIVE_ESTABLISHED_CB) {
		SR_BUILD_MARK();
		sr_adopt(sk, bpf_get_socket_cookie(ctx));
		if (!sr_sock_get(sk))	/* (a listener's flag is inherited) */
			want = flags & ~BPF_SOCK_OPS_STATE_CB_FLAG;
	}
	if (want != flags)
		bpf_sock_ops_cb_flags_set(ctx, want);
	return 1;
}

/*
 * Every TCP state change on the host (a tracepoint is not the cgroup's),
 * attached only after an upgrade from a build that used it (handoff.h):
 * returns at once unless the socket is a redirected flow's.  It never
 * refuses: a flow not handed off is counted where it fails.
 */
SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(sr_sock_state, const struct sock *sk, int oldstate, int newstate)
{
	SR_BUILD_MARK();
	sr_sock_state_change((struct sock *)sk, oldstate, newstate);
	return 0;
}

/* Run once by the loader at up, never attached: draws the records' key. */
SEC("syscall")
int sr_make_key(void *ctx)
{
	return sr_key_make() ? 1 : 0;
}

SEC("cgroup/getsockopt")
int sr_getsockopt(struct bpf_sockopt *ctx)
{
	int err = sr_sockopt_get(ctx);

	if (err == SR_NOT_OURS) {
		/* Leave the kernel's answer exactly as it was. */
		if (ctx->optlen > PAGE_SIZE)
			ctx->optlen = 0;
		return 1;
	}
	if (err) {
		ctx->optlen = 0;
		bpf_set_retval(err);
		return 1;
	}
	ctx->retval = 0;
	return 1;
}

SEC("cgroup/setsockopt")
int sr_setsockopt(struct bpf_sockopt *ctx)
{
	int err;

	/*
	 * Consumed already, by this program attached to another cgroup on the
	 * socket's path: for a moment while the control plane moves the hooks
	 * from one cgroup to another (lib/scope.c), both can be there.  Once
	 * is enough (a second claim or records would see no option and refuse
	 * it).
	 */
	if (ctx->optlen == -1)
		return 1;
	err = sr_sockopt_set(ctx);
	if (err == SR_NOT_OURS) {
		if (ctx->optlen > PAGE_SIZE)
			ctx->optlen = 0;
		return 1;
	}
	if (err) {
		bpf_set_retval(err);
		return 0;
	}
	ctx->optlen = -1;	/* consumed: the kernel never sees this level */
	return 1;
}
