/* servicewords.c - the words of 'service add' and of configuration files. */
#include <ctype.h>
#include <dirent.h>
#include <limits.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rulewords.h"
#include "servicewords.h"

#define FAIL(code, ...)							\
	do {								\
		if (err)						\
			snprintf(err, errlen, __VA_ARGS__);		\
		return code;						\
	} while (0)

int service_spec_init(struct service_spec *sp, const char *name, char *err,
		      size_t errlen)
{
	memset(sp, 0, sizeof(*sp));
	sp->s.owner_uid = -1;
	if (word_name_ok(name)) {
		strcpy(sp->s.name, name);
		return 0;
	}
	FAIL(-EINVAL, "bad service name '%s' (a letter, then up to %d letters, "
	     "digits, -_.)", name, SOCKREDIR_NAME_MAX - 2);
}

int service_option(struct service_spec *sp, const char *key, const char *val,
		   char *err, size_t errlen)
{
	struct sockredir_service *s = &sp->s;
	struct sockaddr_storage ss;

	if (!strcmp(key, "skip-inspected")) {
		s->flags |= SOCKREDIR_SKIP_INSPECTED;
		return 0;
	}
	if (!strcmp(key, "trust-every-root-process")) {
		sp->root_owner = 1;
		return 0;
	}
	if (strcmp(key, "listen") && strcmp(key, "owner-uid") &&
	    strcmp(key, "owner-cgroup") && strcmp(key, "owner-unit") &&
	    strcmp(key, "fail") && strcmp(key, "udp-idle"))
		FAIL(-EINVAL, "unknown option '%s'", key);
	if (!val)
		FAIL(-EINVAL, "%s needs a value", key);
	if (!strcmp(key, "listen")) {
		if (sockredir_parse_addr(val, &ss) < 0)
			FAIL(-EINVAL, "bad address '%s' (want ADDR:PORT or [ADDR6]:PORT)", val);
		if (ss.ss_family == AF_INET) {
			if (s->listen4.sin_port)
				FAIL(-EINVAL, "one IPv4 listen per service");
			memcpy(&s->listen4, &ss, sizeof(s->listen4));
		} else {
			if (s->listen6.sin6_port)
				FAIL(-EINVAL, "one IPv6 listen per service");
			memcpy(&s->listen6, &ss, sizeof(s->listen6));
		}
	} else if (!strcmp(key, "owner-uid")) {
		char *end;
		unsigned long v;

		errno = 0;
		v = strtoul(val, &end, 10);
		if (errno || *end || end == val || !isdigit((unsigned char)val[0]) ||
		    v >= 0xffffffffUL)
			FAIL(-EINVAL, "bad uid '%s'", val);
		s->owner_uid = v;
	} else if (!strcmp(key, "udp-idle")) {
		char *end;
		unsigned long v;

		errno = 0;
		v = strtoul(val, &end, 10);
		if (errno || *end || end == val || !isdigit((unsigned char)val[0]) ||
		    v < 1 || v > 86400)
			FAIL(-EINVAL, "udp-idle takes 1 to 86400 seconds, not '%s'", val);
		s->udp_idle = v;
	} else if (!strcmp(key, "owner-cgroup") || !strcmp(key, "owner-unit")) {
		char **to = key[6] == 'c' ? &sp->owner_cgroup : &sp->owner_unit;

		if (!*val || (key[6] == 'u' && strchr(val, '/')))
			FAIL(-EINVAL, "bad %s '%s'", key, val);
		if (sp->owner_cgroup || sp->owner_unit)
			FAIL(-EINVAL, "one of owner-cgroup and owner-unit");
		*to = strdup(val);
		if (!*to)
			FAIL(-ENOMEM, "out of memory");
	} else {
		if (!strcmp(val, "closed"))
			s->flags |= SOCKREDIR_FAIL_CLOSED;
		else if (!strcmp(val, "open"))
			s->flags &= ~SOCKREDIR_FAIL_CLOSED;
		else
			FAIL(-EINVAL, "fail takes open or closed, not '%s'", val);
	}
	return 1;
}

int service_spec_check(const struct service_spec *sp, char *err, size_t errlen)
{
	if (!sp->s.listen4.sin_port && !sp->s.listen6.sin6_port)
		FAIL(-EINVAL, "service %s needs listen ADDR:PORT", sp->s.name);
	/* uid 0 as the owner makes every root process, in every application,
	 * this service's proxy: it skips the service and may set records. */
	if (sp->s.owner_uid == 0 && !sp->root_owner)
		FAIL(-EINVAL, "service %s: owner-uid 0 makes every process running "
		     "as root its proxy (add trust-every-root-process if that is "
		     "meant)", sp->s.name);
	if (sp->root_owner && sp->s.owner_uid != 0)
		FAIL(-EINVAL, "service %s: trust-every-root-process goes with "
		     "owner-uid 0", sp->s.name);
	return 0;
}

void service_spec_free(struct service_spec *sp)
{
	free(sp->owner_cgroup);
	free(sp->owner_unit);
	sp->owner_cgroup = sp->owner_unit = NULL;
}

/* Depth-first search below @path (length @n) for a directory named @name. */
static int find_dir(char *path, size_t n, const char *name, int depth)
{
	struct dirent *e;
	DIR *d;
	int found = 0;

	if (depth > 32 || !(d = opendir(path)))
		return 0;
	while (!found && (e = readdir(d))) {
		size_t l = strlen(e->d_name);

		if (e->d_type != DT_DIR || e->d_name[0] == '.' || n + 1 + l >= PATH_MAX)
			continue;
		path[n] = '/';
		memcpy(path + n + 1, e->d_name, l + 1);
		found = !strcmp(e->d_name, name) ||
			find_dir(path, n + 1 + l, name, depth + 1);
		if (!found)
			path[n] = '\0';
	}
	closedir(d);
	return found;
}

int service_spec_find_unit(struct service_spec *sp, const char *top)
{
	char path[PATH_MAX];
	uint64_t id;

	if (!sp->owner_unit)
		return 1;
	/* @top may be relative to the cgroup mount: make it absolute. */
	if (!top || sockredir_cgroup_lookup(top, &id, NULL) < 0 ||
	    sockredir_cgroup_path(id, path, sizeof(path)) < 0)
		return 0;
	if (!find_dir(path, strlen(path), sp->owner_unit, 0))
		return 0;
	free(sp->owner_cgroup);
	sp->owner_cgroup = strdup(path);
	return sp->owner_cgroup ? 1 : -ENOMEM;
}
