/*
 * test_classify - the connect hook's decisions, compiled for user space
 * from bpf/classify.h itself: redirect states along a chain, weight order,
 * permit and block, skip-inspected, the hop limit, fail open and closed,
 * claimed listeners, owners' own connects, and which application a rule
 * sees.  The kernel's bookkeeping (maps, the current task, the listener
 * lookup) comes from bpf_shim.h; the decisions are the real code.
 */
#include <stdlib.h>

#include "tap.h"
#include "bpf_shim.h"
/* The modules bring helpers for other hooks (claiming) this test leaves. */
#pragma GCC diagnostic ignored "-Wunused-function"
#include "classify.h"

enum { A = 1, B = 2, C = 3 };

static struct sr_config cfg;
static struct sr_service services[SR_MAX_SERVICES];
static struct sr_rule rules[64];
static struct sr_counters counters[SR_MAX_SERVICES];
static struct sr_claimer claimers[SR_MAX_SERVICES];
static struct bpf_sock_addr ctx;

static void reset(void)
{
	memset(&cfg, 0, sizeof(cfg));
	memset(services, 0, sizeof(services));
	memset(rules, 0, sizeof(rules));
	memset(counters, 0, sizeof(counters));
	memset(claimers, 0, sizeof(claimers));
	memset(shim_listeners, 0, sizeof(shim_listeners));
	memset(&shim_task, 0, sizeof(shim_task));
	shim_bind(&sr_config, &cfg, sizeof(cfg), 1);
	shim_bind(&sr_services, services, sizeof(services[0]), SR_MAX_SERVICES);
	shim_bind(&sr_rules, rules, sizeof(rules[0]), 64);
	shim_bind(&sr_stats, counters, sizeof(counters[0]), SR_MAX_SERVICES);
	shim_bind(&sr_claimers, claimers, sizeof(claimers[0]), SR_MAX_SERVICES);
	cfg.max_hops = 8;
	/* The application: uid 1000 in /test(100)/app(200)/deep(300). */
	shim_task.uid = 1000;
	shim_task.depth = 3;
	shim_task.cgroup_up[0] = 1;
	shim_task.cgroup_up[1] = 100;
	shim_task.cgroup_up[2] = 200;
	shim_task.cgroup_up[3] = 300;
}

/* Service @id on 127.0.0.1:(8000 + id), its claimed listener up. */
static void service(int id, int flags)
{
	struct sr_service *s = &services[id];
	struct shim_listener *l = &shim_listeners[id];

	s->id = id;
	s->gen = 10 + id;
	s->flags = flags;
	s->addr4 = htonl(INADDR_LOOPBACK);
	s->port4 = htons(8000 + id);
	l->port = s->port4;
	l->up = 1;
	l->claim.service_id = id;
	l->claim.gen = s->gen;
}

/* Rule @slot (its id too): @action, to @svc for a redirect. */
static struct sr_rule *rule(__u32 slot, int action, int svc)
{
	struct sr_rule *r = &rules[slot];

	r->id = slot;
	r->action = action;
	r->service = svc;
	r->uid = SR_ANY_UID;
	return r;
}

static struct sr_ruleset set_of(int n, const __u32 *slots)
{
	struct sr_ruleset set = { .n = n };

	memcpy(set.slot, slots, n * sizeof(*slots));
	return set;
}
#define SET(...) set_of(sizeof((__u32[]){ __VA_ARGS__ }) / sizeof(__u32), \
			(__u32[]){ __VA_ARGS__ })

/* Records given to a proxy's onward socket: the app is uid 0 in 999. */
static struct sr_records *chain(int n, const int *hops)
{
	static struct sr_records r;
	int i;

	memset(&r, 0, sizeof(r));
	r.nhops = n;
	for (i = 0; i < n; i++)
		r.hops[i] = hops[i];
	r.app_uid = 0;
	r.app_cgroup = 999;
	return &r;
}
#define CHAIN(...) chain(sizeof((int[]){ __VA_ARGS__ }) / sizeof(int), \
			 (int[]){ __VA_ARGS__ })

static struct sr_match m;

/* The rules' decision on a TCP connect to port 80, given @rec or none. */
static int decide(struct sr_ruleset set, const struct sr_records *rec)
{
	static struct sr_records given;	/* the socket's sr_given */

	memset(&given, 0, sizeof(given));
	if (rec)
		given = *rec;
	ctx.sk = &shim_conn;
	shim_conn_state = rec ? &given : NULL;
	sr_match_init(&m, rec ? &given : NULL, IPPROTO_TCP, 80, AF_INET);
	sr_event_dst(&m.dst, &ctx, AF_INET);
	return sr_classify(&ctx, &set, &m);
}

static void test_redirect_and_weights(void)
{
	reset();
	service(A, 0);
	service(B, 0);
	rule(1, SR_ACT_REDIRECT, A);
	rule(2, SR_ACT_REDIRECT, B);
	rule(3, SR_ACT_PERMIT, 0)->dport_lo = 81;
	rules[3].dport_hi = 90;

	ok(decide(SET(3), NULL) == SR_PASS && m.service_id == 0,
	   "no rule decides (port 80 outside 81-90): the connect goes on");
	ok(decide(SET(1, 2), NULL) == SR_REDIRECT && m.service_id == A &&
		   m.rule_id == 1, "the first rule by weight redirects: A");
	ok(decide(SET(2, 1), NULL) == SR_REDIRECT && m.service_id == B &&
		   m.rule_id == 2, "weight order decides: B before A");
	rules[1].protocol = IPPROTO_UDP;
	ok(decide(SET(1, 2), NULL) == SR_REDIRECT && m.service_id == B,
	   "a UDP rule does not match a TCP connect");
	rules[1].protocol = 0;
	rules[5] = rules[1];
	rules[5].id = 0;
	ok(decide(SET(5, 2), NULL) == SR_REDIRECT && m.service_id == B,
	   "a free rule slot (id 0) is passed over");
	services[A].port4 = 0;
	ok(decide(SET(1, 2), NULL) == SR_REDIRECT && m.service_id == B,
	   "a service without a listener in the family is passed over");
}

static void test_states(void)
{
	reset();
	service(A, 0);
	service(B, 0);
	rule(1, SR_ACT_REDIRECT, A);
	rule(2, SR_ACT_REDIRECT, B);

	ok(decide(SET(1, 2), CHAIN(A)) == SR_REDIRECT && m.service_id == B,
	   "state: A is REDIRECTED_BY_SELF, B (BY_OTHER) takes hop 2");
	ok(decide(SET(1, 2), CHAIN(A, B)) == SR_PASS && m.service_id == 0,
	   "state: after A and B nobody redirects: the flow reaches D");
	ok(decide(SET(1, 2), CHAIN(B)) == SR_REDIRECT && m.service_id == A,
	   "state: B first, then A (BY_OTHER) still inspects it");
	ok(decide(SET(1, 2), CHAIN(A, B, A)) == SR_PASS,
	   "state: A, B, A: A by self, B previously: no loop");
	ok(decide(SET(1), CHAIN(B, A)) == SR_PASS,
	   "state: B then A: A, the last hop, is BY_SELF: passes");
	ok(decide(SET(2), CHAIN(B, A)) == SR_PASS,
	   "state: B is PREVIOUSLY_REDIRECTED_BY_SELF: passes");
}

static void test_permit_block(void)
{
	reset();
	service(A, 0);
	rule(1, SR_ACT_REDIRECT, A);
	rule(2, SR_ACT_PERMIT, 0);
	rule(3, SR_ACT_BLOCK, 0);

	ok(decide(SET(2, 1), NULL) == SR_PASS && m.service_id == 0,
	   "a permit rule above a redirect: the connect goes straight on");
	ok(decide(SET(3, 1), NULL) == -EPERM, "a block rule above a redirect: EPERM");
	ok(decide(SET(1, 3), NULL) == SR_REDIRECT && m.service_id == A,
	   "a block rule below a redirect does not decide the first hop");
	ok(decide(SET(1, 3), CHAIN(A)) == -EPERM,
	   "... but stops the flow when A forwards it");
	rules[3].uid = 1000;
	ok(decide(SET(3), NULL) == -EPERM, "a uid block rule matches the task");
	ok(decide(SET(3), CHAIN(A)) == SR_PASS,
	   "a uid rule sees the records' application (uid 0), not the proxy");
	rules[3].uid = SR_ANY_UID;
	rules[3].cgroup_id = 200;
	rules[3].cgroup_level = 2;
	ok(decide(SET(3), NULL) == -EPERM, "a cgroup block rule matches an ancestor");
	rules[3].cgroup_id = 300;
	rules[3].cgroup_level = 3;
	ok(decide(SET(3), NULL) == -EPERM, "... and the task's own cgroup");
	rules[3].cgroup_id = 201;
	ok(decide(SET(3), NULL) == SR_PASS, "... not another cgroup");
	struct sr_records *r = CHAIN(A);

	r->app_cgroup_up[1] = 200;
	rules[3].cgroup_id = 200;
	rules[3].cgroup_level = 2;
	ok(decide(SET(1, 3), r) == -EPERM,
	   "a cgroup rule follows the recorded application through a proxy");
	r->app_cgroup_up[1] = 201;
	ok(decide(SET(1, 3), r) == SR_PASS, "... and not another application");
}

static void test_skip_inspected(void)
{
	reset();
	service(A, 0);
	service(B, SR_SVC_SKIP_INSPECTED);
	rule(1, SR_ACT_REDIRECT, A);
	rule(2, SR_ACT_REDIRECT, B);

	ok(decide(SET(2), NULL) == SR_REDIRECT && m.service_id == B,
	   "skip-inspected: a fresh flow is still inspected");
	ok(decide(SET(1, 2), CHAIN(A)) == SR_PASS,
	   "skip-inspected: a flow A inspected is left alone");
	services[B].flags = 0;
	ok(decide(SET(1, 2), CHAIN(A)) == SR_REDIRECT && m.service_id == B,
	   "without it B takes the flow A inspected");
}

static void test_hop_limit(void)
{
	reset();
	service(A, 0);
	service(B, 0);
	service(C, 0);
	rule(1, SR_ACT_REDIRECT, A);
	rule(2, SR_ACT_REDIRECT, B);
	rule(3, SR_ACT_REDIRECT, C);

	cfg.max_hops = 2;
	ok(decide(SET(1, 2, 3), CHAIN(A, B)) == -ELOOP,
	   "hop limit 2: a third hop fails with ELOOP");
	ok(decide(SET(1, 2, 3), CHAIN(A)) == SR_REDIRECT && m.service_id == B,
	   "hop limit 2: a second hop is allowed");
	cfg.max_hops = 3;
	ok(decide(SET(1, 2, 3), CHAIN(A, B)) == SR_REDIRECT && m.service_id == C,
	   "hop limit 3: the third hop is allowed");
	ok(decide(SET(1, 2), CHAIN(A, B)) == SR_PASS,
	   "at the limit but nobody left to redirect: no error");
}

static void test_fail_modes(void)
{
	reset();
	service(A, 0);
	service(B, 0);
	service(C, SR_SVC_FAIL_CLOSED);
	rule(1, SR_ACT_REDIRECT, A);
	rule(2, SR_ACT_REDIRECT, B);
	rule(3, SR_ACT_REDIRECT, C);

	shim_listeners[A].up = 0;
	ok(decide(SET(1, 2), NULL) == SR_REDIRECT && m.service_id == B,
	   "fail open: A's listener gone, B takes the flow");
	ok(counters[A].listener_gone == 1, "fail open: counted as listener_gone");
	ok(decide(SET(1), NULL) == SR_PASS && m.service_id == 0,
	   "fail open: nobody left, the flow goes to its destination");
	shim_listeners[C].up = 0;
	ok(decide(SET(3, 2), NULL) == -ECONNREFUSED && m.service_id == C,
	   "fail closed: C's listener gone, ECONNREFUSED for C");
	shim_listeners[A].up = 1;
	shim_listeners[A].claim.gen = 1;
	ok(decide(SET(1, 2), NULL) == SR_REDIRECT && m.service_id == B,
	   "a listener claimed for an earlier A (old generation) is not A's");
	shim_listeners[A].claim.service_id = 0;
	ok(decide(SET(1, 2), NULL) == SR_REDIRECT && m.service_id == B,
	   "an unclaimed socket on A's port (an impostor) is not A's");
	shim_listeners[C].up = 1;
	shim_listeners[C].claim.service_id = B;
	ok(decide(SET(3), NULL) == -ECONNREFUSED,
	   "fail closed: B's claim on C's port does not count for C");
}

/* A claimed listener whose accept queue is full is as good as gone. */
static void test_overloaded(void)
{
	reset();
	service(A, 0);
	service(B, 0);
	service(C, SR_SVC_FAIL_CLOSED);
	rule(1, SR_ACT_REDIRECT, A);
	rule(2, SR_ACT_REDIRECT, B);
	rule(3, SR_ACT_REDIRECT, C);

	shim_listeners[A].queue.max_ack_backlog = 16;
	shim_listeners[A].queue.ack_backlog = 16;
	ok(decide(SET(1, 2), NULL) == SR_REDIRECT && m.service_id == A,
	   "A's queue at its limit: the kernel still takes one more, so A does");
	shim_listeners[A].queue.ack_backlog = 17;
	ok(decide(SET(1, 2), NULL) == SR_REDIRECT && m.service_id == B,
	   "fail open: A's queue full, B takes the flow");
	ok(counters[A].overloaded == 1 && counters[A].listener_gone == 0,
	   "fail open: counted as overloaded, not listener_gone");
	ok(decide(SET(1), NULL) == SR_PASS && m.service_id == 0,
	   "fail open: A full and nobody left, the flow goes to its destination");
	shim_listeners[C].queue.max_ack_backlog = 0;
	shim_listeners[C].queue.ack_backlog = 1;
	ok(decide(SET(3, 2), NULL) == -ECONNREFUSED && m.service_id == C &&
		   m.listener == SR_LSN_OVERLOADED,
	   "fail closed: C's queue full, ECONNREFUSED for C, said overloaded");
	shim_listeners[C].claim.service_id = 0;
	ok(decide(SET(3), NULL) == -ECONNREFUSED && m.listener == SR_LSN_SQUATTED,
	   "an unclaimed socket's full queue is squatting, not overload");
}

static void test_owners(void)
{
	reset();
	service(A, 0);
	service(B, 0);
	rule(1, SR_ACT_REDIRECT, A);
	rule(2, SR_ACT_REDIRECT, B);
	rule(3, SR_ACT_BLOCK, 0);
	cfg.owners[A].uid = 1000;
	cfg.owners_mask = 1ULL << A;

	ok(decide(SET(1, 2), NULL) == SR_PASS && m.egress_of == A &&
		   m.service_id == 0,
	   "an owner's connect without records is never redirected (egress of A)");
	ok(decide(SET(1, 3), NULL) == -EPERM,
	   "an owner's unrecorded connect still meets block rules");
	ok(decide(SET(1, 2), CHAIN(A)) == SR_REDIRECT && m.service_id == B &&
		   m.egress_of == 0,
	   "an owner's connect with records goes on along the chain");
	cfg.owners[A].uid = SR_ANY_UID;
	cfg.owners[A].cgroup_id = 200;
	cfg.owners[A].cgroup_level = 2;
	ok(decide(SET(1, 2), NULL) == SR_PASS && m.egress_of == A,
	   "an owner by cgroup: a task below it is the proxy");
	cfg.owners[A].cgroup_id = 201;
	ok(decide(SET(1, 2), NULL) == SR_REDIRECT && m.service_id == A,
	   "a task outside the owner cgroup is an application");

	/* A service configured without an owner: its claimer's cgroup is. */
	cfg.owners_mask = 0;
	claimers[A].cgroup_id = 300;
	claimers[A].gen = services[A].gen;
	ok(decide(SET(1, 2), NULL) == SR_PASS && m.egress_of == A,
	   "no owner configured: a task in the claimer's cgroup is the proxy");
	claimers[A].gen = services[A].gen - 1;
	ok(decide(SET(1, 2), NULL) == SR_REDIRECT && m.service_id == A,
	   "... not the claimer of an earlier service of that id");
	claimers[A].gen = services[A].gen;
	claimers[A].cgroup_id = 200;
	ok(decide(SET(1, 2), NULL) == SR_REDIRECT && m.service_id == A,
	   "... and only the claimer's own cgroup, not what is below it");
}

static void test_deep_cgroups(void)
{
	struct sr_records *r;

	reset();
	service(A, 0);
	rule(1, SR_ACT_REDIRECT, A);
	rule(2, SR_ACT_BLOCK, 0);
	rules[2].cgroup_id = 1200;
	rules[2].cgroup_level = 12;
	r = CHAIN(A);
	r->app_cgroup_up[11] = 1200;	/* level 12 */
	ok(decide(SET(1, 2), r) == -EPERM,
	   "a block rule on a level-12 cgroup holds through a proxy");
	rules[2].cgroup_level = SR_CG_LEVELS;
	rules[2].cgroup_id = 1600;
	r = CHAIN(A);
	r->app_cgroup_up[SR_CG_LEVELS - 1] = 1600;
	ok(decide(SET(1, 2), r) == -EPERM,
	   "... and on one at level %d, the deepest rules may name", SR_CG_LEVELS);
}

static void test_udp(void)
{
	struct sr_ruleset set;

	reset();
	service(A, 0);
	rule(1, SR_ACT_REDIRECT, A);
	rule(2, SR_ACT_BLOCK, 0);
	rule(3, SR_ACT_BLOCK, 0)->protocol = IPPROTO_TCP;
	set = SET(1, 2);
	sr_match_init(&m, NULL, IPPROTO_UDP, 53, AF_INET);
	ok(sr_classify(&ctx, &set, &m) == -EPERM && m.service_id == 0,
	   "UDP: a redirect rule with no UDP listener passes it over (fail open), a block rule (any) stops it");
	set = SET(1, 3);
	sr_match_init(&m, NULL, IPPROTO_UDP, 53, AF_INET);
	ok(sr_classify(&ctx, &set, &m) == SR_PASS,
	   "UDP: a TCP block rule does not cover it");
	rules[3].protocol = IPPROTO_UDP;
	sr_match_init(&m, NULL, IPPROTO_UDP, 53, AF_INET);
	ok(sr_classify(&ctx, &set, &m) == -EPERM, "UDP: a UDP block rule stops it");
}

/* sr_dst_of on an IPv4 (@v4) or IPv6 connect to @a: "family addr". */
static int dst_is(int v4, const char *a, int family, const char *want)
{
	struct bpf_sock_addr c = { .user_port = htons(80) };
	struct sr_addr d, w = { .family = family, .port = htons(80) };

	if (v4)
		inet_pton(AF_INET, a, &c.user_ip4);
	else
		inet_pton(AF_INET6, a, c.user_ip6);
	inet_pton(family, want, w.addr);
	sr_dst_of(&c, v4 ? AF_INET : AF_INET6, &d);
	return sr_addr_eq(&d, &w);
}

static void test_dst(void)
{
	ok(dst_is(1, "0.0.0.0", AF_INET, "127.0.0.1"), "dst: 0.0.0.0 is 127.0.0.1");
	ok(dst_is(0, "::ffff:0.0.0.0", AF_INET, "127.0.0.1"),
	   "dst: ::ffff:0.0.0.0 is 127.0.0.1");
	ok(dst_is(0, "::", AF_INET6, "::1"), "dst: :: is ::1");
	ok(dst_is(0, "::ffff:10.1.2.3", AF_INET, "10.1.2.3"), "dst: mapped is IPv4");
	ok(dst_is(1, "10.1.2.3", AF_INET, "10.1.2.3") &&
		   dst_is(0, "2001:db8::1", AF_INET6, "2001:db8::1"),
	   "dst: other addresses stay as they are");
}

/* The events the decisions emit (events.h), and none while unwatched. */
static void test_events(void)
{
	static struct sr_watch watch;
	static int ring = 1;	/* any non-NULL inner map */
	static void *rings[SR_MAX_WATCHERS] = { &ring };
	static struct sr_event scratch;

	reset();
	memset(&watch, 0, sizeof(watch));
	shim_bind(&sr_watch, &watch, sizeof(watch), 1);
	shim_bind(&sr_events, rings, sizeof(rings[0]), 1);
	shim_bind(&sr_event_scratch, &scratch, sizeof(scratch), 1);
	shim_nevents = 0;
	service(A, 0);
	service(B, 0);
	rule(1, SR_ACT_BLOCK, 0);
	rule(2, SR_ACT_REDIRECT, A);
	rule(3, SR_ACT_REDIRECT, B);
	rule(4, SR_ACT_PERMIT, 0);
	ctx.user_port = htons(80);

	decide(SET(1), NULL);
	decide(SET(2, 3), CHAIN(A));
	ok(shim_nevents == 0, "events: nobody watching, nothing emitted");

	watch.count = 1;
	shim_task.pid = 42;
	memcpy(shim_task.comm, "app", 4);
	decide(SET(1), NULL);
	ok(shim_nevents == 1 && shim_events[0].kind == SR_EV_BLOCKED &&
	   shim_events[0].rule_id == 1 && shim_events[0].pid == 42 &&
	   shim_events[0].app_pid == 42 && !strcmp(shim_events[0].comm, "app") &&
	   shim_events[0].dst.port == htons(80),
	   "events: a block rule emits blocked, with its rule, task and destination");
	decide(SET(4), NULL);
	ok(shim_nevents == 2 && shim_events[1].kind == SR_EV_PERMITTED &&
	   shim_events[1].rule_id == 4, "events: a permit rule emits permitted");
	decide(SET(2, 3), CHAIN(A));
	ok(shim_nevents == 3 && shim_events[2].kind == SR_EV_SKIP_SELF &&
	   shim_events[2].service_id == A && shim_events[2].rule_id == 2,
	   "events: the last hop's own rule emits skip-self, and the redirect "
	   "to B is left to the redirect (nothing more here)");
	decide(SET(2, 3), CHAIN(A, B));
	ok(shim_nevents == 5 && shim_events[3].kind == SR_EV_SKIP_PREV_SELF &&
	   shim_events[3].service_id == A && shim_events[4].kind == SR_EV_SKIP_SELF &&
	   shim_events[4].service_id == B,
	   "events: at the end of A>B: skip-previously-self A, skip-self B");
	shim_listeners[B].up = 0;
	decide(SET(3), NULL);
	ok(shim_nevents == 6 && shim_events[5].kind == SR_EV_LISTENER_GONE &&
	   shim_events[5].service_id == B, "events: fail open, no listener: listener-gone");
	cfg.max_hops = 1;
	decide(SET(2), CHAIN(B));
	ok(shim_nevents == 7 && shim_events[6].kind == SR_EV_HOP_LIMIT &&
	   shim_events[6].service_id == A, "events: the hop limit emits hop-limit");
	watch.count = 0;
	decide(SET(1), NULL);
	ok(shim_nevents == 7, "events: the last watcher gone, nothing more");
}

int main(void)
{
	test_redirect_and_weights();
	test_states();
	test_permit_block();
	test_skip_inspected();
	test_hop_limit();
	test_fail_modes();
	test_overloaded();
	test_owners();
	test_events();
	test_deep_cgroups();
	test_udp();
	test_dst();
	return done();
}
