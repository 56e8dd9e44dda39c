/* SPDX-License-Identifier: (GPL-2.0 OR MIT) */
/*
 * redirect.h - the connect hook's work (WFP's connect-redirect layer):
 * classify the connect, rewrite it to the chosen service's listener, and
 * extend the flow's records; and its mirror at getpeername, where the
 * application still sees its original peer.
 */
#ifndef SOCKREDIR_REDIRECT_H
#define SOCKREDIR_REDIRECT_H

#include "addr.h"
#include "cc.h"
#include "classify.h"
#include "events.h"
#include "forward.h"
#include "handoff.h"
#include "maps.h"
#include "mptcp.h"
#include "records.h"
#include "service.h"
#include "sock.h"

/*
 * Records a proxy gave the connecting socket: bound to their flow, they
 * serve only a connect to the destination signed in, while the hop they
 * were issued for is open.  Anything else is refused rather than taken as
 * unrecorded, so a failure shows.  Checked here, where they are used: the
 * check at setsockopt could race with another thread's blob.  Returns 0,
 * -EINVAL (not the layer's), -EPERM (another destination), -ESTALE.
 *
 * Verifier: a global function, checked once (its SipHash is long), with a
 * frame of its own off the connect hook's stack.
 */
__noinline int sr_given_check(struct bpf_sock_addr *ctx,
			      const struct sr_addr *dst)
{
	const struct sr_key *key = sr_get_key();
	const struct sr_records *given = sr_given_get(ctx->sk);
	int err;

	if (!dst || !key || !given)
		return -EINVAL;
	err = sr_records_check(given, key);
	if (!err)
		err = sr_records_bound(given, dst);
	if (!err)
		err = sr_hop_live(given);
	return err;
}

/* Point @ctx at @svc's listener; remember where it was going in @c. */
static __always_inline void sr_rewrite(struct bpf_sock_addr *ctx, int family,
				       int mapped, struct sr_conn *c,
				       const struct sr_service *svc)
{
	struct sr_addr *dst = &c->orig_dst, *to = &c->target;

	__builtin_memset(dst, 0, sizeof(*dst));
	__builtin_memset(to, 0, sizeof(*to));
	dst->family = family;
	dst->port = (__u16)ctx->user_port;
	if (family == AF_INET || mapped) {
		/* A mapped destination stays mapped for getpeername. */
		if (mapped) {
			dst->addr[2] = bpf_htonl(0xffff);
			dst->addr[3] = ctx->user_ip6[3];
			ctx->user_ip6[3] = svc->addr4;
		} else {
			dst->addr[0] = ctx->user_ip4;
			ctx->user_ip4 = svc->addr4;
		}
		ctx->user_port = svc->port4;
		to->family = AF_INET;
		to->addr[0] = svc->addr4;
		to->port = svc->port4;
	} else {
		dst->addr[0] = ctx->user_ip6[0];
		dst->addr[1] = ctx->user_ip6[1];
		dst->addr[2] = ctx->user_ip6[2];
		dst->addr[3] = ctx->user_ip6[3];
		ctx->user_ip6[0] = svc->addr6[0];
		ctx->user_ip6[1] = svc->addr6[1];
		ctx->user_ip6[2] = svc->addr6[2];
		ctx->user_ip6[3] = svc->addr6[3];
		ctx->user_port = svc->port6;
		to->family = AF_INET6;
		__builtin_memcpy(to->addr, svc->addr6, 16);
		to->port = svc->port6;
	}
}

/*
 * Redirect the connect on @ctx as @m decided: start the flow (or continue
 * the one whose records the proxy gave), add the hop, rewrite the address.
 * The socket keeps a small sr_conn; the flow's body waits for the publish
 * in sr_connect_flows (handoff.h).  Returns 0 or -errno.
 *
 * Verifier: the given records are looked up again here rather than passed
 * down: a pointer that may be into either of two maps (sock.h, legacy.h)
 * kept live through the classification doubled the states it explores.
 */
static __always_inline int sr_redirect(struct bpf_sock_addr *ctx, int family,
				       const struct sr_addr *dst,
				       const struct sr_match *m)
{
	const struct sr_records *given = 0;
	int mapped = family == AF_INET6 && sr_mapped(ctx->user_ip6);
	const struct sr_service *svc = sr_service_get(m->service_id);
	__u32 uid = (__u32)bpf_get_current_uid_gid();
	struct sr_flow *f;
	struct sr_conn *c;
	__u64 cookie;
	int err;

	if (!svc)
		return -ECONNREFUSED;
	err = sr_pending_admit(uid);
	if (err) {
		SR_COUNT(svc->id, pending_full, 1);
		return err;
	}
	c = sr_conn_make(ctx->sk);
	f = sr_flow_room();
	if (!c || !f) {
		/*
		 * A flow the layer must redirect but cannot track is refused
		 * in either fail mode: its state is charged to the socket's
		 * option memory, which the application can fill on purpose.
		 */
		SR_COUNT(svc->id, untracked, 1);
		return -ENOMEM;
	}
	/* From here on the flow counts against @uid's pending flows, until a
	 * proxy adopts it or it closes, or its connect fails (handoff.h); a
	 * socket connecting again after a failed connect that left it charged
	 * is charged once. */
	cookie = bpf_get_socket_cookie(ctx);
	sr_connect_uncharge(c, cookie);
	sr_legacy_retire(ctx, cookie);
	if (m->recorded)
		given = sr_given_get(ctx->sk);
	if (given)
		__builtin_memcpy(&f->rec, given, sizeof(f->rec));
	else
		sr_records_start(ctx, dst, &f->rec);
	err = sr_records_add_hop(&f->rec, svc->id);
	if (err)
		return err;
	/* Its connection made and ended are seen through this (cc.h); a flow
	 * whose socket cannot have it is not redirected. */
	if (sr_cc_put(ctx)) {
		SR_COUNT(svc->id, untracked, 1);
		return -ENOMEM;
	}
	sr_pending_charge(uid, 1);
	err = sr_connecting_start(cookie, uid);
	if (err) {
		sr_pending_charge(uid, -1);
		SR_COUNT(svc->id, pending_full, 1);
		return -ENOBUFS;
	}
	sr_rewrite(ctx, family, mapped, c, svc);
	f->orig_dst = c->orig_dst;
	__builtin_memset(&f->orig_src, 0, sizeof(f->orig_src));
	f->rule_id = m->rule_id;
	f->service_id = svc->id;
	f->pad = 0;
	f->quota_uid = uid;
	f->pad2 = 0;
	if (bpf_map_update_elem(&sr_connect_flows, &cookie, f, BPF_ANY)) {
		sr_connecting_drop(cookie, uid);
		SR_COUNT(svc->id, untracked, 1);
		return -ENOMEM;
	}
	c->service_id = svc->id;
	c->quota_uid = uid;
	c->flow_id = f->rec.flow_id;
	c->started = bpf_ktime_get_boot_ns();
	__builtin_memset(&c->orig_src, 0, sizeof(c->orig_src));
	c->role = SR_ROLE_REDIRECTED;
	c->published = SR_PUB_CONNECTING;
	SR_COUNT(svc->id, redirected, 1);
	SR_EMIT(ctx, m, SR_EV_REDIRECTED, svc->id, m->rule_id);
	return 0;
}

/*
 * A TCP connect in @family: 0 (go on, maybe rewritten) or -errno.  A
 * datagram socket's connect is udp.h's.
 */
static __always_inline int sr_connect(struct bpf_sock_addr *ctx, int family)
{
	const struct sr_ruleset *set;
	struct mptcp_sock *msk;
	const struct sr_records *given = 0;
	struct sr_conn *ms = 0;
	struct sr_config *cfg;
	struct sr_addr dst;
	struct sr_match m;
	int ret, tcp = ctx->type == SOCK_STREAM;

	if (!tcp)
		return 0;
	sr_dst_of(ctx, family, &dst);
	set = sr_rules_for(&dst);
	if (!set)
		return 0;	/* the path almost every connect takes */
	cfg = sr_get_config();
	if (!cfg || !ctx->sk)
		return 0;

	/* An MPTCP subflow (mptcp.h): the first is the application's connect,
	 * a join the path manager's. */
	msk = sr_mptcp_of(ctx->sk);
	if (sr_mptcp_is_join(msk, ctx->sk)) {
		SR_COUNT(0, mptcp_join_refused, 1);
		return -EPERM;
	}
	given = sr_given_get(ctx->sk);
	if (!given) {
		/* A proxy's onward connect without records: maybe ours to
		 * give (forward.h). */
		ret = sr_onward_attach(ctx, sr_onward_begin(&dst));
		if (ret < 0)
			return ret;
		if (ret)
			given = sr_given_get(ctx->sk);
	}
	if (given) {
		ret = sr_given_check(ctx, &dst);
		if (ret) {
			SR_COUNT(0, bad_records, 1);
			return ret;
		}
	}
	sr_match_init(&m, given, IPPROTO_TCP, bpf_ntohs(dst.port), dst.family);
	sr_event_dst(&m.dst, ctx, family);
	ret = sr_classify(ctx, set, &m);
	if (ret == SR_REDIRECT && msk) {
		/* Made before the rewrite: if it cannot be, the connect is
		 * refused, never redirected with getpeername showing the
		 * proxy. */
		ms = sr_conn_make(msk);
		if (!ms) {
			SR_COUNT(m.service_id, untracked, 1);
			return -ENOMEM;
		}
	}
	if (ret == SR_REDIRECT) {
		ret = sr_redirect(ctx, family, &dst, &m);
		if (!ret && ms)
			sr_mptcp_redirected(ms, sr_conn_get(ctx->sk));
	}
	if (ret >= 0) {
		if (m.egress_of && !m.service_id) {
			SR_COUNT(m.egress_of, unrecorded_egress, 1);
			SR_EMIT(ctx, &m, SR_EV_UNRECORDED_EGRESS, m.egress_of, 0);
		}
		return 0;
	}
	if (ret == -ELOOP)
		SR_COUNT(0, hop_limit, 1);
	else if (ret == -EPERM)
		SR_COUNT(0, blocked, 1);
	else if (ret == -ECONNREFUSED && m.service_id &&
		 m.listener == SR_LSN_OVERLOADED)
		SR_COUNT(m.service_id, overloaded, 1);
	else if (ret == -ECONNREFUSED && m.service_id)
		SR_COUNT(m.service_id, refused, 1);
	if (ret == -ECONNREFUSED)
		SR_EMIT(ctx, &m, SR_EV_REFUSED, m.service_id, m.rule_id);
	return ret;
}

/* Is @ctx's address the listener @to that the connect was sent to? */
static __always_inline int sr_sent_to(struct bpf_sock_addr *ctx, int family,
				      const struct sr_addr *to)
{
	if (to->port != (__u16)ctx->user_port)
		return 0;
	if (family == AF_INET)
		return to->family == AF_INET && to->addr[0] == ctx->user_ip4;
	if (sr_mapped(ctx->user_ip6))
		return to->family == AF_INET && to->addr[0] == ctx->user_ip6[3];
	return to->family == AF_INET6 && to->addr[0] == ctx->user_ip6[0] &&
	       to->addr[1] == ctx->user_ip6[1] && to->addr[2] == ctx->user_ip6[2] &&
	       to->addr[3] == ctx->user_ip6[3];
}

/* getpeername on a redirected socket: its original destination. */
static __always_inline void sr_getpeername(struct bpf_sock_addr *ctx,
					   int family)
{
	const struct sr_conn *c = sr_conn_get(ctx->sk);
	const struct sr_addr *dst, *to = 0;

	if (c) {
		if (c->role != SR_ROLE_REDIRECTED)
			return;
		dst = &c->orig_dst;
		to = &c->target;
	} else {
		dst = sr_legacy_peer(ctx->sk, &to);
	}
	if (!dst || !to || dst->family != family || !sr_sent_to(ctx, family, to))
		return;
	ctx->user_port = dst->port;
	if (family == AF_INET) {
		ctx->user_ip4 = dst->addr[0];
	} else {
		ctx->user_ip6[0] = dst->addr[0];
		ctx->user_ip6[1] = dst->addr[1];
		ctx->user_ip6[2] = dst->addr[2];
		ctx->user_ip6[3] = dst->addr[3];
	}
}

#endif
