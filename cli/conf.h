/* conf.h - the configuration file, sockredir.conf(5). */
#ifndef SOCKREDIR_CLI_CONF_H
#define SOCKREDIR_CLI_CONF_H

#include <stdio.h>
#include "rulewords.h"
#include "servicewords.h"

#define CONF_DEFAULT_PATH "/etc/sockredir/sockredir.conf"

/* A file, read and checked on its own; every part knows its line. */
struct conf {
	char *cgroup;			/* layer { cgroup PATH }, or NULL */
	int cgroup_line;
	unsigned int max_hops;		/* layer { max-hops N }, or 0 */
	struct service_spec *svcs;
	int *svc_line;
	size_t nsvcs;
	struct rule_spec *rules;
	int *rule_line;			/* its 'rule' line */
	int *rule_svc_line;		/* its 'service NAME' line, or 0 */
	size_t nrules;
};

/*
 * conf_read - parse @f (named @fname in messages) into @c.
 * Returns 0, or -EINVAL/-ENOENT with "FILE:LINE: reason" in @err (and @c
 * freed); -EIO for a read error.
 */
int conf_read(FILE *f, const char *fname, struct conf *c, char *err,
	      size_t errlen);
void conf_free(struct conf *c);

/* Write a value as the parser reads it back: quoted if it needs to be. */
void conf_put_value(FILE *f, const char *v);

#endif
