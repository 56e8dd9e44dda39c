// SPDX-License-Identifier: GPL-2.0
/*
 * sockredir.bpf.c - the redirect layer's entry points.  Each is a few
 * lines: the work is in the modules (one per concern, each map beside the
 * helpers that own it), which return -errno; only these turn that into a
 * verdict.
 *
 *   connect4/6      classify, rewrite to a service's listener, extend the
 *                   records (redirect.h, classify.h, records.h)
 *   sockops         publish the flow by 4-tuple; hand it to the proxy's
 *                   accepted socket (handoff.h)
 *   getpeername4/6  the application still sees its original peer
 *   getsockopt      SOCKREDIR_RECORDS, SOCKREDIR_CONTEXT, SO_ORIGINAL_DST
 *   setsockopt      SOCKREDIR_RECORDS, SOCKREDIR_CLAIM (sockopt.h, claim.h)
 */
#include <linux/bpf.h>
#include <linux/in.h>
#include <linux/in6.h>
#include <linux/socket.h>
#include <linux/errno.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#ifndef AF_INET
#define AF_INET 2
#define AF_INET6 10
#endif
#define SOCK_STREAM 1
#define SOL_IP 0
#define SOL_IPV6 41
#define PAGE_SIZE 4096

#include "handoff.h"
#include "redirect.h"
#include "sockopt.h"

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
	int err = sr_connect(ctx, AF_INET);

	SR_BUILD_MARK();
	return err ? sr_refuse(err) : 1;
}

SEC("cgroup/connect6")
int sr_connect6(struct bpf_sock_addr *ctx)
{
	int err = sr_connect(ctx, AF_INET6);

	SR_BUILD_MARK();
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

/* Sockops never refuse: a flow not handed off is counted where it fails. */
SEC("sockops")
int sr_sockops(struct bpf_sock_ops *skops)
{
	SR_BUILD_MARK();
	switch (skops->op) {
	case BPF_SOCK_OPS_TCP_CONNECT_CB:
		sr_publish(skops);
		break;
	case BPF_SOCK_OPS_PASSIVE_ESTABLISHED_CB:
		sr_adopt(skops);
		break;
	case BPF_SOCK_OPS_TCP_LISTEN_CB:
		sr_holder_listen(skops);
		break;
	case BPF_SOCK_OPS_STATE_CB:
		sr_holder_closed(skops);
		sr_forget(skops);
		break;
	}
	return 1;
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
	int err = sr_sockopt_set(ctx);

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
