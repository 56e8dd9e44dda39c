/*
 * test_core - the pure parts of libsockredir and the BPF headers, without
 * privilege: the records' MAC and state, addresses, contexts, and the rule
 * index compiler.  (The CLI's rule words are in test_cli.)
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "tap.h"
#include "internal.h"
#include "bpf_shim.h"
#include "records.h"

static void test_siphash(void)
{
	/* The reference implementation's vectors: key 00..0f, input 00..n-1. */
	uint64_t k0 = 0x0706050403020100ULL, k1 = 0x0f0e0d0c0b0a0908ULL;
	__u64 w[2] = { 0x0706050403020100ULL, 0x0f0e0d0c0b0a0908ULL };

	ok(sr_siphash(w, 0, k0, k1) == 0x726fdb47dd0e0e31ULL, "siphash: empty input");
	ok(sr_siphash(w, 1, k0, k1) == 0x93f5f5799a932462ULL, "siphash: 8 bytes");
	ok(sr_siphash(w, 2, k0, k1) == 0x3f2acc7f57c29bdbULL, "siphash: 16 bytes");
}

static void test_records(void)
{
	struct sr_key key = { .k = { 1, 2 } };
	struct sr_records r = {
		.magic = SR_REC_MAGIC, .version = SR_REC_VERSION,
		.size = sizeof(r), .nhops = 2, .hops = { 5, 7 },
	};

	sr_records_sign(&r, &key);
	ok(sr_records_check(&r, &key) == 0, "records: signed records check");
	r.hops[0] = 6;
	ok(sr_records_check(&r, &key) == -EINVAL, "records: an edited hop fails");
	r.hops[0] = 5;
	key.k[1] = 3;
	ok(sr_records_check(&r, &key) == -EINVAL, "records: another key fails");
	key.k[1] = 2;
	r.nhops = 17;
	ok(sr_records_check(&r, &key) == -EINVAL, "records: 17 hops fail");
	r.nhops = 2;
	r.dst.family = AF_INET;
	r.dst.port = htons(80);
	r.dst.addr[0] = htonl(0x0a000001);
	sr_records_sign(&r, &key);
	ok(sr_records_check(&r, &key) == 0 && sr_records_last(&r) == 7,
	   "records: the hop they are for is the last service's (7)");
	struct sr_addr d = r.dst;

	ok(sr_records_bound(&r, &d) == 0, "records: good for their destination");
	d.port = htons(81);
	ok(sr_records_bound(&r, &d) == -EPERM, "records: not for another port");
	d = r.dst;
	d.addr[0] = htonl(0x0a000002);
	ok(sr_records_bound(&r, &d) == -EPERM, "records: not for another address");
	r.dst.addr[0] = htonl(0x0a000002);
	ok(sr_records_check(&r, &key) == -EINVAL,
	   "records: the destination is signed in (edited: refused)");
	r.dst.addr[0] = htonl(0x0a000001);
	struct sr_chain none = sr_records_chain(NULL), c = sr_records_chain(&r);

	ok(sr_chain_state(&none, 5) == SR_NOT_REDIRECTED, "state: no records");
	ok(sr_chain_state(&c, 7) == SR_BY_SELF, "state: last hop is self");
	ok(sr_chain_state(&c, 5) == SR_PREVIOUSLY_BY_SELF, "state: earlier hop");
	ok(sr_chain_state(&c, 9) == SR_BY_OTHER, "state: others only");
	r.hops[2] = 5;
	r.nhops = 3;
	c = sr_records_chain(&r);
	ok(sr_chain_state(&c, 5) == SR_BY_SELF, "state: self again at the end (A, B, A)");
	ok(sr_chain_state(&c, 7) == SR_PREVIOUSLY_BY_SELF, "state: B before that");
}

static void test_addr(void)
{
	struct sockaddr_storage ss;
	char buf[SOCKREDIR_ADDRSTRLEN];
	const char *bad[] = { "", "1.2.3.4", "1.2.3.4:", "1.2.3.4:0",
			      "1.2.3.4:65536", "1.2.3:80", "::1:80", "[::1]80",
			      "[::1]:", "[]:80", "[1.2.3.4]:80", "1.2.3.4:8x",
			      "1.2.3.4:-1", "host:80" };
	size_t i;

	ok(sockredir_parse_addr("10.1.2.3:8080", &ss) == 0 &&
		   !strcmp(sockredir_format_addr(&ss, buf, sizeof(buf)),
			   "10.1.2.3:8080"), "addr: IPv4 round trip");
	ok(sockredir_parse_addr("[fe80::1]:443", &ss) == 0 &&
		   !strcmp(sockredir_format_addr(&ss, buf, sizeof(buf)),
			   "[fe80::1]:443"), "addr: IPv6 round trip");
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ok(sockredir_parse_addr(bad[i], &ss) == -EINVAL,
		   "addr: '%s' is refused", bad[i]);
}

static void test_context(void)
{
	struct sockredir_context c, out;
	struct sockaddr_in *r4 = (void *)&c.remote;

	memset(&c, 0, sizeof(c));
	r4->sin_family = AF_INET;
	r4->sin_port = htons(80);
	c.local.ss_family = AF_INET;
	c.sr.version = SOCKREDIR_CONTEXT_VERSION;
	c.sr.size = sizeof(c.sr);
	c.sr.hop = 2;
	memcpy(c.sr.app_comm, "curl", 5);
	ok(sockredir_parse_context(&c, sizeof(c), &out) == 0 && out.sr.hop == 2,
	   "context: a whole one parses");
	ok(sockredir_parse_context(&c, sizeof(c) - 1, &out) == -EINVAL,
	   "context: one byte short is refused");
	ok(sockredir_parse_context(&c, 100, &out) == -EINVAL,
	   "context: addresses only is refused");
	c.sr.size = 8 + 8;	/* an older, shorter block */
	ok(sockredir_parse_context(&c, sizeof(c), &out) == 0 && out.sr.hop == 0,
	   "context: a shorter block leaves newer fields zero");
	c.sr.size = sizeof(c.sr);
	c.sr.version = 2;
	ok(sockredir_parse_context(&c, sizeof(c), &out) == 0 && out.sr.hop == 2,
	   "context: a newer version is read as far as this one knows");
	c.sr.version = 0;
	ok(sockredir_parse_context(&c, sizeof(c), &out) == -EINVAL,
	   "context: version 0 is refused");
	c.sr.version = 1;
	c.remote.ss_family = AF_UNIX;
	ok(sockredir_parse_context(&c, sizeof(c), &out) == -EINVAL,
	   "context: a non-IP remote is refused");
	c.remote.ss_family = AF_INET;
	c.sr.hop = 40;
	ok(sockredir_parse_context(&c, sizeof(c), &out) == -EINVAL,
	   "context: hop beyond the records' limit is refused");
}

/* SOCKREDIR_QUERY's answer: the context, then the records after its block. */
static void test_query(void)
{
	struct sockredir_query q;
	struct sockredir_context out;
	const size_t head = offsetof(struct sockredir_context, sr);
	unsigned char rec[SOCKREDIR_RECORDS_MAX];
	size_t reclen, full = sizeof(q.ctx) + 248;
	int fd;

	memset(&q, 0, sizeof(q));
	q.ctx.remote.ss_family = AF_INET;
	q.ctx.local.ss_family = AF_INET;
	q.ctx.sr.version = SOCKREDIR_CONTEXT_VERSION;
	q.ctx.sr.size = sizeof(q.ctx.sr);
	q.ctx.sr.hop = 1;
	memset(q.records, 0xab, 248);
	reclen = sizeof(rec);
	ok(sr_query_parse(&q, full, &out, rec, &reclen) == 0 && reclen == 248 &&
	   rec[0] == 0xab && rec[247] == 0xab && out.sr.hop == 1,
	   "query: context and 248 bytes of records");
	reclen = 247;
	ok(sr_query_parse(&q, full, &out, rec, &reclen) == -ERANGE && reclen == 247,
	   "query: records longer than the caller's buffer: ERANGE");
	reclen = sizeof(rec);
	ok(sr_query_parse(&q, sizeof(q.ctx), &out, rec, &reclen) == -EPROTO,
	   "query: a context and no records is refused");
	ok(sr_query_parse(&q, 100, &out, rec, &reclen) == -EPROTO,
	   "query: cut inside the context is refused");
	q.ctx.sr.size = 16;	/* an older, shorter block: the records follow it */
	memset((char *)&q + head + 16, 0xcd, 248);
	reclen = sizeof(rec);
	ok(sr_query_parse(&q, head + 16 + 248, &out, rec, &reclen) == 0 &&
	   reclen == 248 && rec[0] == 0xcd && out.sr.hop == 0,
	   "query: after a shorter block, the records start where it ends");
	q.ctx.sr.size = sizeof(q.ctx.sr);
	q.ctx.remote.ss_family = AF_UNIX;
	reclen = sizeof(rec);
	ok(sr_query_parse(&q, full, &out, rec, &reclen) == -EPROTO,
	   "query: a bad context is refused (EPROTO)");
	ok(sockredir_query(0, NULL, rec, &reclen) == -EINVAL &&
	   sockredir_query(0, &out, NULL, &reclen) == -EINVAL &&
	   sockredir_query(0, &out, rec, NULL) == -EINVAL,
	   "query: NULL arguments: EINVAL");
	fd = socket(AF_INET, SOCK_STREAM, 0);
	reclen = sizeof(rec);
	ok(fd >= 0 && sockredir_query(fd, &out, rec, &reclen) == -ENOPROTOOPT,
	   "query: no layer here: ENOPROTOOPT (after trying the two old options)");
	if (fd >= 0)
		close(fd);
}

static struct sr_rule_slot rule(uint32_t id, uint32_t weight, int family,
				const char *dst, int plen)
{
	struct sr_rule_slot s = { .slot = id };

	s.rule.id = id;
	s.rule.weight = weight;
	s.rule.action = SR_ACT_PERMIT;
	s.rule.family = family;
	s.rule.prefix_len = plen;
	if (dst)
		inet_pton(family, dst, s.rule.dst);
	return s;
}

static const struct sr_index_entry *find(const struct sr_index_entry *e,
					 int n, int family, const char *a,
					 int plen)
{
	struct sr_lpm_key k = { .prefixlen = 8 + plen, .family = family };
	int i;

	inet_pton(family, a, k.addr);
	for (i = 0; i < n; i++)
		if (!memcmp(&e[i].key, &k, sizeof(k)))
			return &e[i];
	return NULL;
}

static void test_index(void)
{
	struct sr_rule_slot rules[40];
	struct sr_index_entry *e;
	const struct sr_index_entry *x;
	struct sr_lpm_key bad;
	int n, i;

	rules[0] = rule(1, 10, 0, NULL, 0);		/* any, both families */
	rules[1] = rule(2, 50, AF_INET, "10.0.0.0", 8);
	rules[2] = rule(3, 20, AF_INET, "10.1.0.0", 16);
	rules[3] = rule(4, 20, AF_INET, "192.168.0.0", 16);
	rules[4] = rule(5, 99, AF_INET6, "2001:db8::", 32);
	n = sr_index_build(rules, 5, &e, NULL);
	ok(n == 6, "index: 6 prefixes (any/v4, any/v6, 3 v4, 1 v6), got %d", n);
	x = find(e, n, AF_INET, "10.1.0.0", 16);
	ok(x && x->set.n == 3 && x->set.slot[0] == 2 && x->set.slot[1] == 3 &&
		   x->set.slot[2] == 1,
	   "index: 10.1/16 holds its rule and its ancestors', by weight");
	x = find(e, n, AF_INET, "0.0.0.0", 0);
	ok(x && x->set.n == 1 && x->set.slot[0] == 1, "index: v4 /0 holds the any rule");
	x = find(e, n, AF_INET6, "2001:db8::", 32);
	ok(x && x->set.n == 2 && x->set.slot[0] == 5 && x->set.slot[1] == 1,
	   "index: v6 prefix holds the any rule too");
	x = find(e, n, AF_INET, "192.168.0.0", 16);
	ok(x && x->set.n == 2, "index: 192.168/16 does not hold 10/8's rule");
	free(e);

	for (i = 0; i < 33; i++)
		rules[i] = rule(i + 1, i, AF_INET, "10.0.0.1", 32);
	ok(sr_index_build(rules, 32, &e, NULL) == 1, "index: 32 rules on one address fit");
	free(e);
	ok(sr_index_build(rules, 33, &e, &bad) == -E2BIG && e == NULL,
	   "index: 33 rules on one address are refused");
	ok(sr_index_build(rules, 0, &e, NULL) == 0, "index: no rules, empty index");
	free(e);
}

int main(void)
{
	test_siphash();
	test_records();
	test_addr();
	test_context();
	test_query();
	test_index();
	return done();
}
