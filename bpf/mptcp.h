/* SPDX-License-Identifier: (GPL-2.0 OR MIT) */
/*
 * mptcp.h - sockets made with IPPROTO_MPTCP.  The connect hooks never see
 * the application's MPTCP socket: the kernel connects its TCP subflows
 * and runs the hooks on each, in the MPTCP socket's cgroup, with
 * ctx->protocol IPPROTO_TCP (net/mptcp/protocol.c mptcp_connect,
 * subflow.c __mptcp_subflow_connect).
 *
 *   - The first subflow is connected by the application's own connect()
 *     (or sendto with MSG_FASTOPEN), in its task: the connect hook
 *     classifies and redirects it like TCP.  A proxy's listener is plain
 *     TCP, so the connection falls back to TCP and the proxy accepts it
 *     as any other.  getpeername() runs on the MPTCP socket, not the
 *     subflow, so a redirect's original destination is kept there too.
 *     The hook's ctx->sk is that subflow, a TCP socket, so the layer's
 *     congestion control (cc.h) goes onto it and its callbacks publish
 *     and end the flow as for TCP.
 *   - Later subflows (MP_JOIN) are opened by the path manager, for
 *     addresses the peer announces or local endpoints the host has, from
 *     a kernel worker: the task is not the application, so rules naming
 *     a uid or a cgroup would not see it.  A join to a destination any
 *     rule covers is refused (EPERM, counted mptcp_join_refused); the
 *     connection goes on over the subflows it has.
 *   - Records a proxy sets on an MPTCP socket stay on it, unused: a
 *     proxy's onward socket is plain TCP.
 */
#ifndef SOCKREDIR_MPTCP_H
#define SOCKREDIR_MPTCP_H

#include "listener.h"	/* SR_CORE */
#include "maps.h"
#include "sock.h"

/* Enough of the kernel's struct mptcp_sock for CO-RE. */
struct mptcp_sock {
	void *first;	/* the first subflow, while it exists */
} SR_CORE;

/* The MPTCP socket @sk is a subflow of, or NULL (a plain TCP socket). */
static __always_inline struct mptcp_sock *sr_mptcp_of(struct bpf_sock *sk)
{
	return sk ? bpf_skc_to_mptcp_sock(sk) : 0;
}

/*
 * Is subflow @sk of @msk one the path manager added (not the first)?  The
 * first subflow of a connection the application opens is msk->first from
 * the connect on; a join never is.
 *
 * Verifier: msk->first is a kernel pointer read through BTF, compared with
 * ctx->sk, never dereferenced; both need the loader's CAP_PERFMON, which
 * `up` has.
 */
static __always_inline int sr_mptcp_is_join(struct mptcp_sock *msk,
					    struct bpf_sock *sk)
{
	return msk && msk->first != (void *)sk;
}

/*
 * The connect of @msk's first subflow was redirected (@c, the subflow's
 * state): keep what getpeername needs on @msk, whose state @m was made
 * before the redirect (sr_conn_make).
 */
static __always_inline void sr_mptcp_redirected(struct sr_conn *m,
						const struct sr_conn *c)
{
	if (!m || !c)
		return;
	m->role = SR_ROLE_REDIRECTED;
	m->target = c->target;
	m->orig_dst = c->orig_dst;
}

#endif
