/* monitor.c - the layer's decisions, from its ring buffer (bpf/events.h). */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "internal.h"
#include "observe_abi.h"
#include "sockredir/observe.h"

#define PIN(name) SOCKREDIR_PIN_DIR "/" name

_Static_assert((int)SOCKREDIR_EV_REDIRECTED == SR_EV_REDIRECTED &&
	       (int)SOCKREDIR_EV_OVERLOADED == SR_EV_OVERLOADED &&
	       (int)SOCKREDIR_EV_UNRECORDED_EGRESS == SR_EV_UNRECORDED_EGRESS &&
	       (int)SOCKREDIR_EV_UNRECORDED_EGRESS + 1 == SR_EV_MAX,
	       "event kinds differ between the ABI and the header");

static const char *const names[SR_EV_MAX] = {
	[SR_EV_REDIRECTED] = "redirected",
	[SR_EV_SKIP_SELF] = "skip-self",
	[SR_EV_SKIP_PREV_SELF] = "skip-previously-self",
	[SR_EV_SKIP_INSPECTED] = "skip-inspected",
	[SR_EV_LISTENER_GONE] = "listener-gone",
	[SR_EV_OVERLOADED] = "overloaded",
	[SR_EV_PERMITTED] = "permitted",
	[SR_EV_BLOCKED] = "blocked",
	[SR_EV_HOP_LIMIT] = "hop-limit",
	[SR_EV_REFUSED] = "refused",
	[SR_EV_UNRECORDED_EGRESS] = "unrecorded-egress",
};

const char *sockredir_event_name(int kind)
{
	return kind > 0 && kind < SR_EV_MAX ? names[kind] : NULL;
}

struct sockredir_monitor {
	int events;			/* sr_events: a ring buffer per slot */
	uint32_t events_id;		/* its id: is the pin still this map? */
	int ring;			/* ours, in slot `slot` of sr_events */
	struct ring_buffer *rb;
	struct sr_watch *watch;		/* sr_watch, mapped */
	size_t watch_len;
	int slot;			/* ours in watch->pid, or -1 */
	struct timespec checked;	/* last look at the pin */
	sockredir_event_fn fn;		/* during poll */
	void *arg;
	int stop;			/* fn's non-zero return */
	int n;
};

static int map_id(int fd, uint32_t *id)
{
	struct bpf_map_info info = {};
	uint32_t len = sizeof(info);

	if (bpf_obj_get_info_by_fd(fd, &info, &len))
		return -errno;
	*id = info.id;
	return 0;
}

static int open_pin(const char *path)
{
	int fd = bpf_obj_get(path);

	return fd < 0 ? -errno : fd;
}

/* sr_watch of the running layer, mapped shared, or NULL with *@err. */
static struct sr_watch *map_watch(size_t *len, int *err)
{
	long page = sysconf(_SC_PAGESIZE);
	int fd = open_pin(PIN("sr_watch"));
	void *p;

	if (fd < 0) {
		*err = fd;
		return NULL;
	}
	*len = (sizeof(struct sr_watch) + page - 1) / page * page;
	p = mmap(NULL, *len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	*err = p == MAP_FAILED ? -errno : 0;
	close(fd);
	return p == MAP_FAILED ? NULL : p;
}

/* Count out monitors that died holding a slot (SIGKILL, a crash). */
static void reclaim(struct sockredir_monitor *m)
{
	struct sr_watch *w = m->watch;
	uint32_t i;

	for (i = 0; i < SR_MAX_WATCHERS; i++) {
		uint32_t pid = __atomic_load_n(&w->pid[i], __ATOMIC_SEQ_CST);

		if (!pid || kill((pid_t)pid, 0) == 0 || errno != ESRCH)
			continue;
		bpf_map_delete_elem(m->events, &i);
		if (__atomic_compare_exchange_n(&w->pid[i], &pid, 0, 0,
						__ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST))
			__atomic_fetch_sub(&w->count, 1, __ATOMIC_SEQ_CST);
	}
}

/*
 * Take a slot (our pid in it), put our ring buffer in it, then count
 * ourselves in; out in the reverse order.  A monitor dying in between
 * leaves its slot to be reclaimed: the count is one too high only until
 * then (events for nobody cost time, never correctness).
 */
static int watch_start(struct sockredir_monitor *m)
{
	uint32_t me = (uint32_t)getpid(), i;

	reclaim(m);
	for (i = 0; i < SR_MAX_WATCHERS; i++) {
		uint32_t free_slot = 0;

		if (__atomic_compare_exchange_n(&m->watch->pid[i], &free_slot, me,
						0, __ATOMIC_SEQ_CST,
						__ATOMIC_SEQ_CST))
			break;
	}
	if (i == SR_MAX_WATCHERS)
		return -EBUSY;
	m->slot = (int)i;
	if (bpf_map_update_elem(m->events, &i, &m->ring, BPF_ANY)) {
		int err = -errno;

		__atomic_store_n(&m->watch->pid[i], 0, __ATOMIC_SEQ_CST);
		m->slot = -1;
		return err;
	}
	__atomic_fetch_add(&m->watch->count, 1, __ATOMIC_SEQ_CST);
	return 0;
}

static void watch_stop(struct sockredir_monitor *m)
{
	uint32_t me = (uint32_t)getpid(), slot = (uint32_t)m->slot;

	if (!m->watch || m->slot < 0)
		return;
	bpf_map_delete_elem(m->events, &slot);
	if (__atomic_compare_exchange_n(&m->watch->pid[slot], &me, 0, 0,
					__ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST))
		__atomic_fetch_sub(&m->watch->count, 1, __ATOMIC_SEQ_CST);
	m->slot = -1;
}

static int on_event(void *arg, void *data, size_t size)
{
	struct sockredir_monitor *m = arg;
	const struct sr_event *r = data;
	struct sockredir_event e = {};

	if (size < sizeof(*r) || m->stop)
		return 0;
	e.time_ns = r->time_ns;
	e.kind = (int)r->kind;
	e.flow_id = r->flow_id;
	e.pid = r->pid;
	e.uid = r->uid;
	memcpy(e.comm, r->comm, sizeof(e.comm) - 1);
	e.app_pid = r->app_pid;
	e.app_uid = r->app_uid;
	memcpy(e.app_comm, r->app_comm, sizeof(e.app_comm) - 1);
	e.rule_id = r->rule_id;
	e.service_id = r->service_id;
	e.hop = r->hop;
	e.protocol = r->protocol;
	sr_addr_to_sockaddr(&r->dst, &e.dst);
	m->n++;
	m->stop = m->fn ? m->fn(&e, m->arg) : 0;
	return 0;
}

int sockredir_monitor_open(struct sockredir_monitor **out)
{
	struct sockredir_monitor *m;
	int err;

	if (!out)
		return sr_err(-EINVAL);
	*out = NULL;
	m = calloc(1, sizeof(*m));
	if (!m)
		return sr_err(-ENOMEM);
	m->slot = -1;
	m->ring = -1;
	m->events = open_pin(PIN("sr_events"));
	if (m->events < 0) {
		err = m->events == -ENOENT ? -ENOENT : m->events;
		goto fail;
	}
	err = map_id(m->events, &m->events_id);
	if (err)
		goto fail;
	m->ring = bpf_map_create(BPF_MAP_TYPE_RINGBUF, "sr_monitor", 0, 0,
				 SR_EVENTS_SIZE, NULL);
	if (m->ring < 0) {
		err = -errno;
		goto fail;
	}
	m->rb = ring_buffer__new(m->ring, on_event, m, NULL);
	if (!m->rb) {
		err = -errno;
		goto fail;
	}
	m->watch = map_watch(&m->watch_len, &err);
	if (!m->watch)
		goto fail;
	err = watch_start(m);
	if (err)
		goto fail;
	clock_gettime(CLOCK_MONOTONIC, &m->checked);
	*out = m;
	return 0;
fail:
	sockredir_monitor_close(m);
	return sr_err(err);
}

/* Is the pinned ring buffer still ours (the layer not gone, or replaced)? */
static int still_up(struct sockredir_monitor *m)
{
	struct timespec now;
	uint32_t id = 0;
	int fd;

	clock_gettime(CLOCK_MONOTONIC, &now);
	if (now.tv_sec - m->checked.tv_sec < 1)
		return 1;
	m->checked = now;
	fd = open_pin(PIN("sr_events"));
	if (fd < 0)
		return 0;
	map_id(fd, &id);
	close(fd);
	return id == m->events_id;
}

int sockredir_monitor_poll(struct sockredir_monitor *m, int timeout_ms,
			   sockredir_event_fn fn, void *arg)
{
	int err;

	if (!m)
		return sr_err(-EINVAL);
	m->fn = fn;
	m->arg = arg;
	m->stop = 0;
	m->n = 0;
	err = ring_buffer__poll(m->rb, timeout_ms);
	if (err < 0)
		return sr_err(err == -EINTR ? -EINTR : err);
	if (m->stop)
		return m->stop;
	if (!m->n && !still_up(m))
		return sr_err(-ENOENT);
	return m->n;
}

uint64_t sockredir_monitor_lost(struct sockredir_monitor *m)
{
	return m && m->watch ? __atomic_load_n(&m->watch->lost, __ATOMIC_SEQ_CST) : 0;
}

int sockredir_monitor_watchers(void)
{
	size_t len;
	int err, n;
	struct sr_watch *w = map_watch(&len, &err);

	if (!w)
		return err == -ENOENT ? 0 : sr_err(err);
	n = (int)__atomic_load_n(&w->count, __ATOMIC_SEQ_CST);
	munmap(w, len);
	return n;
}

void sockredir_monitor_close(struct sockredir_monitor *m)
{
	if (!m)
		return;
	watch_stop(m);
	if (m->watch)
		munmap(m->watch, m->watch_len);
	ring_buffer__free(m->rb);
	if (m->ring >= 0)
		close(m->ring);
	if (m->events >= 0)
		close(m->events);
	free(m);
}
