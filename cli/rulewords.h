/* rulewords.h - a rule as the command line and rule files write it. */
#ifndef SOCKREDIR_CLI_RULEWORDS_H
#define SOCKREDIR_CLI_RULEWORDS_H

#include <stddef.h>
#include "sockredir.h"

/* The library's rule, and the names the words gave for what it refers to. */
struct rule_spec {
	struct sockredir_rule r;	/* r.service_id: set by rule_spec_resolve */
	char service[SOCKREDIR_NAME_MAX]; /* --service NAME; "" for permit/block */
	int actions;			/* how many of service, permit, block */
};

/*
 * One option at a time, for the command line and configuration files
 * alike: @key is the option without its dashes ("dst"), @val the word
 * after it (NULL if none).  rule_option returns 1 if it used @val, 0 for a
 * flag (permit, block), or -EINVAL/-ENOENT with a reason in @err;
 * rule_spec_check says whether the rule is whole (one action).
 */
void rule_spec_init(struct rule_spec *s);
int rule_option(struct rule_spec *s, const char *key, const char *val,
		char *err, size_t errlen);
int rule_spec_check(const struct rule_spec *s, char *err, size_t errlen);

/*
 * rule_words_parse - fill @out from words such as "--service NAME --dst
 * 10.0.0.0/8 --dport 80-90 --weight 5 --name web" (or --permit, --block in
 * place of --service).  Cgroup paths are looked up here; service names are kept for
 * rule_spec_resolve.  Writes a one-line reason to @err on failure.
 * Returns 0, -EINVAL (bad words) or -ENOENT (no such cgroup).
 */
int rule_words_parse(int argc, char **argv, struct rule_spec *out, char *err,
		     size_t errlen);

/*
 * rule_spec_resolve - set the service id of a redirect rule from @svcs.
 * Returns 0, or -ENOENT with a reason in @err.
 */
int rule_spec_resolve(struct rule_spec *spec,
		      const struct sockredir_service *svcs, int n, char *err,
		      size_t errlen);

int word_name_ok(const char *name);

#endif
