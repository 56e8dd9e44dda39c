/*
 * conf.c - read sockredir.conf(5):
 *
 *	# comment
 *	layer {
 *		cgroup /sys/fs/cgroup/apps
 *		max-hops 8
 *	}
 *	service acme {
 *		listen 127.0.0.1:7001
 *		owner-cgroup /sys/fs/cgroup/apps/acme
 *	}
 *	rule web {
 *		service acme
 *		dport 80
 *	}
 *
 * One statement a line.  Inside a block, each line is one option of
 * 'service add' or 'rule add', without its dashes.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"

#define MAX_WORDS 8

enum block { TOP, LAYER, SERVICE, RULE };

struct reader {
	const char *fname;
	int line;
	char *err;
	size_t errlen;
};

static int bad(struct reader *rd, int line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int bad(struct reader *rd, int line, const char *fmt, ...)
{
	va_list ap;
	int n = snprintf(rd->err, rd->errlen, "%s:%d: ", rd->fname, line);

	if (n < 0 || (size_t)n >= rd->errlen)
		return -EINVAL;
	va_start(ap, fmt);
	vsnprintf(rd->err + n, rd->errlen - n, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

/*
 * Split @line into words in place: blanks separate, '#' starts a comment,
 * "double quotes" keep blanks and '#' inside a word.  Returns the count or
 * -EINVAL with a reason.
 */
static int split(struct reader *rd, char *line, char **w)
{
	char *p = line, *out, c;
	int n = 0;

	for (;;) {
		while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')
			p++;
		if (!*p || *p == '#')
			return n;
		if (n == MAX_WORDS)
			return bad(rd, rd->line, "too many words");
		w[n++] = out = p;
		while (*p && !strchr(" \t\r\n#", *p)) {
			if (*p == '"') {
				char *close = strchr(p + 1, '"');

				if (!close)
					return bad(rd, rd->line, "unterminated quote");
				memmove(out, p + 1, close - p - 1);
				out += close - p - 1;
				p = close + 1;
				continue;
			}
			*out++ = *p++;
		}
		c = *p;		/* out may be p: keep the separator first */
		*out = '\0';
		if (c != ' ' && c != '\t' && c != '\r' && c != '\n')
			return n;	/* the end, or a comment */
		p++;
	}
}

/* Room for element @n of *@arr: capacity doubles at each power of two. */
static int grow(void **arr, size_t elem, size_t n)
{
	void *p;

	if (n > 16 && (n & (n - 1)))
		return 0;
	p = realloc(*arr, (n < 16 ? 16 : 2 * n) * elem);
	if (!p)
		return -ENOMEM;
	*arr = p;
	return 0;
}

static int open_block(struct reader *rd, struct conf *c, char **w, int n,
		      enum block *in, int *have_layer)
{
	size_t i;

	if ((n < 2 || strcmp(w[n - 1], "{")) &&
	    (!strcmp(w[0], "layer") || !strcmp(w[0], "service") || !strcmp(w[0], "rule")))
		return bad(rd, rd->line, "end the %s block's first line with '{', and "
			   "put each option on a line of its own", w[0]);
	if (n < 2 || strcmp(w[n - 1], "{"))
		return bad(rd, rd->line, "expected 'layer {', 'service NAME {' "
			   "or 'rule [NAME] {', not '%s'", w[0]);
	if (!strcmp(w[0], "layer") && n == 2) {
		if ((*have_layer)++)
			return bad(rd, rd->line, "a second layer block");
		*in = LAYER;
		return 0;
	}
	if (!strcmp(w[0], "service") && n == 3) {
		if (grow((void **)&c->svcs, sizeof(*c->svcs), c->nsvcs) ||
		    grow((void **)&c->svc_line, sizeof(*c->svc_line), c->nsvcs))
			return -ENOMEM;
		if (service_spec_init(&c->svcs[c->nsvcs], w[1], rd->err, rd->errlen) < 0)
			return bad(rd, rd->line, "bad service name '%s' (a letter, "
				   "then letters, digits, -_.)", w[1]);
		for (i = 0; i < c->nsvcs; i++)
			if (!strcmp(c->svcs[i].s.name, w[1]))
				return bad(rd, rd->line, "service '%s' again (first "
					   "on line %d)", w[1], c->svc_line[i]);
		c->svc_line[c->nsvcs++] = rd->line;
		*in = SERVICE;
		return 0;
	}
	if (!strcmp(w[0], "rule") && (n == 2 || n == 3)) {
		struct rule_spec *r;

		if (grow((void **)&c->rules, sizeof(*c->rules), c->nrules) ||
		    grow((void **)&c->rule_line, sizeof(*c->rule_line), c->nrules) ||
		    grow((void **)&c->rule_svc_line, sizeof(*c->rule_svc_line),
			 c->nrules))
			return -ENOMEM;
		r = &c->rules[c->nrules];
		rule_spec_init(r);
		if (n == 3) {
			if (rule_option(r, "name", w[1], rd->err, rd->errlen) < 0)
				return bad(rd, rd->line, "bad rule name '%s' (a "
					   "letter, then letters, digits, -_.)", w[1]);
			for (i = 0; i < c->nrules; i++)
				if (!strcmp(c->rules[i].r.name, w[1]))
					return bad(rd, rd->line, "rule '%s' again "
						   "(first on line %d)", w[1],
						   c->rule_line[i]);
		}
		c->rule_svc_line[c->nrules] = 0;
		c->rule_line[c->nrules++] = rd->line;
		*in = RULE;
		return 0;
	}
	return bad(rd, rd->line, "expected 'layer {', 'service NAME {' or "
		   "'rule [NAME] {'");
}

static int layer_option(struct reader *rd, struct conf *c, char **w, int n)
{
	char *end;
	long v;

	if (n != 2)
		return bad(rd, rd->line, n < 2 ? "%s needs a value" :
			   "one value after %s", w[0]);
	if (!strcmp(w[0], "cgroup")) {
		if (c->cgroup)
			return bad(rd, rd->line, "cgroup again (first on line %d)",
				   c->cgroup_line);
		c->cgroup = strdup(w[1]);
		if (!c->cgroup)
			return -ENOMEM;
		c->cgroup_line = rd->line;
		return 0;
	}
	if (!strcmp(w[0], "max-hops")) {
		v = strtol(w[1], &end, 10);
		if (*end || end == w[1] || v < 1 || v > SOCKREDIR_MAX_HOPS)
			return bad(rd, rd->line, "max-hops takes 1 to %d, not '%s'",
				   SOCKREDIR_MAX_HOPS, w[1]);
		c->max_hops = v;
		return 0;
	}
	return bad(rd, rd->line, "unknown layer option '%s' (cgroup, max-hops)",
		   w[0]);
}

/* One option line inside a service or rule block. */
static int block_option(struct reader *rd, struct conf *c, enum block in,
			char **w, int n)
{
	char why[256];
	int used;

	if (in == SERVICE)
		used = service_option(&c->svcs[c->nsvcs - 1], w[0],
				      n > 1 ? w[1] : NULL, why, sizeof(why));
	else
		used = rule_option(&c->rules[c->nrules - 1], w[0],
				   n > 1 ? w[1] : NULL, why, sizeof(why));
	if (used == -ENOMEM)
		return -ENOMEM;
	if (used >= 0 && !strcmp(w[0], "name"))
		used = -1, snprintf(why, sizeof(why), "a rule's name goes after "
				    "'rule', before '{'");
	if (used < 0)
		return bad(rd, rd->line, "%s", why);
	if (in == RULE && !strcmp(w[0], "service"))
		c->rule_svc_line[c->nrules - 1] = rd->line;
	if (n > 1 + used)
		return bad(rd, rd->line, "unexpected word '%s' after %s", w[1 + used],
			   w[0]);
	return 0;
}

static int close_block(struct reader *rd, struct conf *c, enum block in,
		       int opened)
{
	char why[256];

	if (in == SERVICE &&
	    service_spec_check(&c->svcs[c->nsvcs - 1], why, sizeof(why)) < 0)
		return bad(rd, opened, "%s", why);
	if (in == RULE && rule_spec_check(&c->rules[c->nrules - 1], why,
					  sizeof(why)) < 0)
		return bad(rd, opened, "rule: %s", why);
	return 0;
}

/* Every rule's service must be in the file. */
static int check_refs(struct reader *rd, const struct conf *c)
{
	size_t i, j;

	for (i = 0; i < c->nrules; i++) {
		const struct rule_spec *r = &c->rules[i];

		if (r->r.action != SOCKREDIR_ACTION_REDIRECT)
			continue;
		for (j = 0; j < c->nsvcs; j++)
			if (!strcmp(c->svcs[j].s.name, r->service))
				break;
		if (j == c->nsvcs)
			return bad(rd, c->rule_svc_line[i], "rule redirects to service "
				   "'%s', which this file does not define", r->service);
	}
	return 0;
}

int conf_read(FILE *f, const char *fname, struct conf *c, char *err,
	      size_t errlen)
{
	struct reader rd = { .fname = fname, .err = err, .errlen = errlen };
	char *line = NULL, *w[MAX_WORDS];
	size_t cap = 0;
	ssize_t len;
	enum block in = TOP;
	int opened = 0, have_layer = 0, n, ret = 0;

	memset(c, 0, sizeof(*c));
	while ((len = getline(&line, &cap, f)) >= 0) {
		rd.line++;
		if (memchr(line, '\0', len)) {
			ret = bad(&rd, rd.line, "a NUL byte");
			goto out;
		}
		n = split(&rd, line, w);
		if (n < 0) {
			ret = n;
			goto out;
		}
		if (n == 0)
			continue;
		if (in == TOP) {
			ret = open_block(&rd, c, w, n, &in, &have_layer);
			opened = rd.line;
		} else if (!strcmp(w[0], "}")) {
			ret = n > 1 ? bad(&rd, rd.line, "'}' stands alone") :
				      close_block(&rd, c, in, opened);
			in = TOP;
		} else if (!strcmp(w[n - 1], "{")) {
			ret = bad(&rd, rd.line, "blocks do not nest: close the one "
				  "on line %d first", opened);
		} else if (in == LAYER) {
			ret = layer_option(&rd, c, w, n);
		} else {
			ret = block_option(&rd, c, in, w, n);
		}
		if (ret)
			goto out;
	}
	if (ferror(f)) {
		snprintf(err, errlen, "%s: %s", fname, strerror(errno));
		ret = -EIO;
		goto out;
	}
	if (in != TOP) {
		ret = bad(&rd, opened, "block not closed: '}' missing before the "
			  "end of the file");
		goto out;
	}
	ret = check_refs(&rd, c);
out:
	if (ret == -ENOMEM)
		snprintf(err, errlen, "%s: out of memory", fname);
	free(line);
	if (ret)
		conf_free(c);
	return ret;
}

void conf_free(struct conf *c)
{
	size_t i;

	for (i = 0; i < c->nsvcs; i++)
		service_spec_free(&c->svcs[i]);
	free(c->svcs);
	free(c->svc_line);
	free(c->rules);
	free(c->rule_line);
	free(c->rule_svc_line);
	free(c->cgroup);
	memset(c, 0, sizeof(*c));
}

void conf_put_value(FILE *f, const char *v)
{
	if (*v && !strpbrk(v, " \t#\"{}"))
		fputs(v, f);
	else
		fprintf(f, "\"%s\"", v);	/* a '"' in a path cannot be written */
}
