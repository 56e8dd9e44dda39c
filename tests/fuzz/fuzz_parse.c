/*
 * fuzz_parse.c - libFuzzer target for the parsers: libsockredir's
 * addresses, context blobs and SOCKREDIR_QUERY answers, the CLI's rule words (cli/rulewords.c, also
 * rule files'), and the rule index compiler.  make fuzz && build/fuzz/fuzz_parse -max_total_time=60
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "rulewords.h"

static void words(const uint8_t *data, size_t size)
{
	char buf[512], *w[32], err[256] = "";
	struct rule_spec spec;
	struct sockredir_rule r;
	size_t n = size < sizeof(buf) - 1 ? size : sizeof(buf) - 1;
	int nw = 0;

	memcpy(buf, data, n);
	buf[n] = '\0';
	for (char *p = strtok(buf, " \t\n"); p && nw < 32; p = strtok(NULL, " \t\n"))
		w[nw++] = p;
	if (rule_words_parse(nw, w, &spec, err, sizeof(err)) == 0) {
		struct sr_rule k;

		r = spec.r;
		if (r.action == SOCKREDIR_ACTION_REDIRECT) {
			if (!spec.service[0])
				abort();	/* a redirect names its service */
			r.service_id = 1;
		}
		/* What parses must convert, and stay within its own limits. */
		if (sr_rule_from_public(&r, &k) < 0)
			abort();
		if (r.dport_lo > r.dport_hi)
			abort();
	} else if (!err[0]) {
		abort();	/* every refusal says why */
	}
}

static void index_build(const uint8_t *data, size_t size)
{
	struct sr_rule_slot rules[64];
	struct sr_index_entry *e;
	size_t n = 0;
	int ne, i;

	for (; size >= 8 && n < 64; data += 8, size -= 8, n++) {
		struct sr_rule *r = &rules[n].rule;

		memset(&rules[n], 0, sizeof(rules[n]));
		rules[n].slot = n + 1;
		r->id = n + 1;
		r->weight = data[0];
		r->action = SR_ACT_PERMIT;
		r->family = (const uint8_t[]){ 0, AF_INET, AF_INET6, AF_INET }[data[1] & 3];
		r->prefix_len = r->family ? data[2] % (r->family == AF_INET ? 33 : 129) : 0;
		memcpy(r->dst, data + 3, 5);
	}
	ne = sr_index_build(rules, n, &e, NULL);
	if (ne == -E2BIG || ne == -ENOMEM)
		return;
	if (ne < 0)
		abort();
	for (i = 0; i < ne; i++)
		for (uint32_t j = 1; j < e[i].set.n; j++)
			if (rules[e[i].set.slot[j - 1] - 1].rule.weight <
			    rules[e[i].set.slot[j] - 1].rule.weight)
				abort();	/* sets are in weight order */
	free(e);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sockaddr_storage ss;
	struct sockredir_context c;
	char s[128];
	size_t n;

	if (size < 1)
		return 0;
	switch (data[0] % 5) {
	case 0:
		n = size - 1 < sizeof(s) - 1 ? size - 1 : sizeof(s) - 1;
		memcpy(s, data + 1, n);
		s[n] = '\0';
		if (sockredir_parse_addr(s, &ss) == 0) {
			char out[SOCKREDIR_ADDRSTRLEN];

			sockredir_format_addr(&ss, out, sizeof(out));
		}
		break;
	case 1:
		sockredir_parse_context(data + 1, size - 1, &c);
		break;
	case 2:
		words(data + 1, size - 1);
		break;
	case 3:
		index_build(data + 1, size - 1);
		break;
	case 4: {	/* a SOCKREDIR_QUERY answer */
		unsigned char rec[SOCKREDIR_RECORDS_MAX];
		size_t reclen = sizeof(rec);

		if (sr_query_parse(data + 1, size - 1, &c, rec, &reclen) == 0 &&
		    (reclen == 0 || reclen > sizeof(rec)))
			abort();
		break;
	}
	}
	return 0;
}
