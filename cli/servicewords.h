/* servicewords.h - a service as the command line and configuration files write it. */
#ifndef SOCKREDIR_CLI_SERVICEWORDS_H
#define SOCKREDIR_CLI_SERVICEWORDS_H

#include <stddef.h>
#include "sockredir.h"

struct service_spec {
	struct sockredir_service s;
	char *owner_cgroup;		/* malloc'ed path, or NULL */
	char *owner_unit;		/* conf files: a systemd unit's cgroup */
	int root_owner;			/* trust-every-root-process given */
};

/* Start a spec for service @name; -EINVAL (reason in @err) if the name is bad. */
int service_spec_init(struct service_spec *sp, const char *name, char *err,
		      size_t errlen);
/*
 * One option: @key without its dashes ("listen"), @val the word after it
 * (NULL if none).  Returns 1 if it used @val, 0 for a flag
 * (skip-inspected), or -errno with a reason in @err.
 */
int service_option(struct service_spec *sp, const char *key, const char *val,
		   char *err, size_t errlen);
/* Is the spec whole (a listen address)? */
int service_spec_check(const struct service_spec *sp, char *err, size_t errlen);
void service_spec_free(struct service_spec *sp);
/*
 * For owner-unit: find the unit's cgroup (a directory of that name) at or
 * below @top, and make it the owner cgroup.  Returns 1 if found, 0 if not
 * (the unit is not running), or -errno.
 */
int service_spec_find_unit(struct service_spec *sp, const char *top);

#endif
