/* maps.c - pinned maps, the control-plane lock, config and counters. */
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "internal.h"

static int open_pin(const char *name)
{
	char path[PATH_MAX];
	int fd;

	snprintf(path, sizeof(path), SOCKREDIR_PIN_DIR "/%s", name);
	fd = bpf_obj_get(path);
	return fd < 0 ? -errno : fd;
}

/*
 * Is pinned map @fd laid out as this build reads it?  A layer loaded by
 * another build (the package was upgraded, `sockredir upgrade` not run
 * yet) may not be: then -EPROTO, rather than misreading it.
 */
static int sizes_ok(int fd, uint32_t ksz, uint32_t vsz)
{
	struct bpf_map_info info;
	uint32_t len = sizeof(info);

	memset(&info, 0, sizeof(info));
	if (bpf_obj_get_info_by_fd(fd, &info, &len))
		return -errno;
	return info.key_size == ksz && info.value_size == vsz ? 0 : -EPROTO;
}

int sr_maps_open(struct sr_maps *m)
{
#define P(fd, name, k, v, opt) { &m->fd, name, sizeof(k), sizeof(v), opt }
	/* Optional: maps a layer loaded by an earlier build may lack (until
	 * `sockredir upgrade` adds them); what they hold is then not shown. */
	struct { int *fd; const char *name; uint32_t ksz, vsz; int optional; } pins[] = {
		P(config, "sr_config", uint32_t, struct sr_config, 0),
		P(services, "sr_services", uint32_t, struct sr_service, 0),
		P(rules, "sr_rules", uint32_t, struct sr_rule, 0),
		P(rule_index, "sr_rule_index", struct sr_lpm_key, struct sr_ruleset, 0),
		P(counters, "sr_stats", uint32_t, struct sr_counters, 0),
		P(service_names, "sr_service_names", char[SR_NAME_MAX], uint32_t, 0),
		P(holders, "sr_holders", uint32_t, struct sr_holder, 1),
		P(owner_paths, "sr_owner_paths", uint32_t, struct sr_owner_path, 1),
	};
#undef P
	size_t i;
	int err;

	for (i = 0; i < sizeof(pins) / sizeof(pins[0]); i++) {
		*pins[i].fd = open_pin(pins[i].name);
		err = *pins[i].fd;
		if (err == -ENOENT && pins[i].optional) {
			*pins[i].fd = -1;
			continue;
		}
		if (err < 0) {
			sr_maps_close(m);
			return err == -EPERM || err == -EACCES ? err : -ENOENT;
		}
		err = sizes_ok(*pins[i].fd, pins[i].ksz, pins[i].vsz);
		if (err) {
			sr_maps_close(m);
			return err;
		}
	}
	m->rule_names = open_pin(SR_RULE_NAMES_PIN);	/* optional */
	if (m->rule_names < 0)
		m->rule_names = -1;
	return 0;
}

void sr_maps_close(struct sr_maps *m)
{
	int *fds[] = { &m->config, &m->services, &m->rules, &m->rule_index,
		       &m->counters, &m->service_names, &m->rule_names,
		       &m->holders, &m->owner_paths };
	size_t i;

	for (i = 0; i < sizeof(fds) / sizeof(fds[0]); i++) {
		if (*fds[i] >= 0)
			close(*fds[i]);
		*fds[i] = -1;
	}
}

int sr_lock(void)
{
	int fd;

	mkdir("/run/sockredir", 0700);
	fd = open("/run/sockredir/lock", O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	if (flock(fd, LOCK_EX) < 0) {
		int err = -errno;

		close(fd);
		return err;
	}
	return fd;
}

void sr_unlock(int fd)
{
	if (fd >= 0)
		close(fd);
}

int sr_config_read(const struct sr_maps *m, struct sr_config *cfg)
{
	uint32_t zero = 0;

	return bpf_map_lookup_elem(m->config, &zero, cfg) ? -errno : 0;
}

int sr_config_write(const struct sr_maps *m, const struct sr_config *cfg)
{
	uint32_t zero = 0;

	return bpf_map_update_elem(m->config, &zero, cfg, BPF_ANY) ? -errno : 0;
}

/* @out holds SR_MAX_SERVICES entries, indexed by id. */
int sr_services_read(const struct sr_maps *m, struct sr_service *out)
{
	uint32_t i;

	for (i = 0; i < SR_MAX_SERVICES; i++)
		if (bpf_map_lookup_elem(m->services, &i, &out[i]))
			return -errno;
	return 0;
}

int sr_service_find(const struct sr_maps *m, const char *name,
		    struct sr_service *out)
{
	struct sr_service all[SR_MAX_SERVICES];
	int i, err = sr_services_read(m, all);

	if (err)
		return err;
	for (i = 1; i < SR_MAX_SERVICES; i++) {
		if (all[i].id && !strncmp(all[i].name, name, sizeof(all[i].name))) {
			if (out)
				*out = all[i];
			return i;
		}
	}
	return -ENOENT;
}

/*
 * Put service @id's owner (or none, for a deleted service) in its fixed
 * slot of @cfg.  The config is written whole, and other slots are written
 * back unchanged, so a hook reading it meanwhile never sees them torn.
 */
void sr_owner_fill(struct sr_config *cfg, uint32_t id,
		   const struct sr_service *svc)
{
	struct sr_owner *o = &cfg->owners[id];

	memset(o, 0, sizeof(*o));
	o->uid = SR_ANY_UID;
	cfg->owners_mask &= ~(1ULL << id);
	if (svc && (svc->owner_uid != SR_ANY_UID || svc->owner_cgroup_id)) {
		o->uid = svc->owner_uid;
		o->cgroup_id = svc->owner_cgroup_id;
		o->cgroup_level = svc->owner_cgroup_level;
		cfg->owners_mask |= 1ULL << id;
	}
}

int sr_counters_read(const struct sr_maps *m, uint32_t service,
		     struct sockredir_counters *out, int64_t *live)
{
	int ncpu = libbpf_num_possible_cpus(), i;
	struct sr_counters *pc;

	if (ncpu < 0)
		return ncpu;
	pc = calloc(ncpu, sizeof(*pc));
	if (!pc)
		return -ENOMEM;
	if (bpf_map_lookup_elem(m->counters, &service, pc)) {
		int err = -errno;

		free(pc);
		return err;
	}
	for (i = 0; i < ncpu; i++) {
		out->redirected += pc[i].redirected;
		out->unrecorded_egress += pc[i].unrecorded_egress;
		out->hop_limit += pc[i].hop_limit;
		out->bad_records += pc[i].bad_records;
		out->denied += pc[i].denied;
		out->pending_lost += pc[i].pending_lost;
		out->blocked += pc[i].blocked;
		out->listener_gone += pc[i].listener_gone;
		out->refused += pc[i].refused;
		out->pending_busy += pc[i].pending_busy;
		out->overloaded += pc[i].overloaded;
		out->untracked += pc[i].untracked;
		out->pending_full += pc[i].pending_full;
		out->onward_recorded += pc[i].onward_recorded;
		out->onward_ambiguous += pc[i].onward_ambiguous;
		out->udp_expired += pc[i].udp_expired;
		out->udp_no_endpoint += pc[i].udp_no_endpoint;
		out->udp_flows += pc[i].udp_flows;
		out->mptcp_join_refused += pc[i].mptcp_join_refused;
		if (live)
			*live += pc[i].live;
	}
	free(pc);
	return 0;
}

/* An address as the hooks keep it, as a socket address. */
void sr_addr_to_sockaddr(const struct sr_addr *a, struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	if (a->family == AF_INET) {
		struct sockaddr_in *in = (void *)ss;

		in->sin_family = AF_INET;
		in->sin_port = a->port;
		in->sin_addr.s_addr = a->addr[0];
	} else if (a->family == AF_INET6) {
		struct sockaddr_in6 *in6 = (void *)ss;

		in6->sin6_family = AF_INET6;
		in6->sin6_port = a->port;
		memcpy(&in6->sin6_addr, a->addr, 16);
	}
}
