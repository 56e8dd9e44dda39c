/* monitor.c - sockredir monitor [--service NAME] [--time]: the decisions, live. */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "sockredir/observe.h"

static volatile sig_atomic_t stopping;

static void on_signal(int sig)
{
	stopping = 1;
}

struct watch {
	struct names_table names;
	time_t names_at;		/* when they were loaded */
	int service;			/* --service: its id; -1: all */
	int times;			/* --time */
	int64_t boot_to_real;		/* CLOCK_REALTIME - CLOCK_BOOTTIME, ns */
};

static int64_t clock_ns(clockid_t c)
{
	struct timespec ts;

	clock_gettime(c, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* A service added after the start: look the names up again, once a second. */
static const char *service_name(struct watch *w, unsigned int id, char *buf,
				size_t len)
{
	time_t now = time(NULL);

	if (id < SOCKREDIR_MAX_SERVICES && !w->names.name[id][0] &&
	    now != w->names_at) {
		w->names_at = now;
		names_load(&w->names);
	}
	return names_get(&w->names, id, buf, len);
}

/* "2026-12-01T09:40:01.123456Z" for an event's boot-time stamp. */
static void format_time(const struct watch *w, uint64_t boot_ns, char *buf,
			size_t len)
{
	int64_t real = (int64_t)boot_ns + w->boot_to_real;
	time_t s = real / 1000000000;
	struct tm tm;

	gmtime_r(&s, &tm);
	snprintf(buf, len, "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ",
		 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
		 tm.tm_min, tm.tm_sec, (int)((uint64_t)real % 1000000000 / 1000));
}

static void print_json(struct watch *w, const struct sockredir_event *e)
{
	const char *kind = sockredir_event_name(e->kind);
	char when[64], tmp[16];

	format_time(w, e->time_ns, when, sizeof(when));
	printf("{\"time\":\"%s\",\"event\":", when);
	if (kind)
		json_string(stdout, kind);
	else
		printf("\"unknown-%d\"", e->kind);
	printf(",\"service\":");
	if (e->service_id)
		json_string(stdout, service_name(w, e->service_id, tmp, sizeof(tmp)));
	else
		printf("null");
	printf(",\"service_id\":%u,\"hop\":%u,\"rule_id\":%u,\"flow_id\":%llu,"
	       "\"pid\":%u,\"comm\":", e->service_id, e->hop, e->rule_id,
	       (unsigned long long)e->flow_id, e->pid);
	json_string(stdout, e->comm);
	printf(",\"uid\":%u,\"app\":{\"pid\":%u,\"comm\":", e->uid, e->app_pid);
	json_string(stdout, e->app_comm);
	printf(",\"uid\":%u},\"dst\":", e->app_uid);
	print_addr(stdout, &e->dst);
	printf("}\n");
}

/*
 *   redirected A hop 1 rule 1 flow 4097 curl[812] uid 0 -> 127.0.0.2:8080
 *   skip-self A rule 1 flow 4097 python3[805] uid 0 for curl[812] uid 0 -> ...
 */
static void print_text(struct watch *w, const struct sockredir_event *e)
{
	const char *kind = sockredir_event_name(e->kind);
	char dst[SOCKREDIR_ADDRSTRLEN], when[40], tmp[16];

	if (w->times) {
		format_time(w, e->time_ns, when, sizeof(when));
		printf("[%s] ", when);
	}
	if (kind)
		printf("%s", kind);
	else
		printf("unknown-%d", e->kind);
	if (e->service_id)
		printf(" %s", service_name(w, e->service_id, tmp, sizeof(tmp)));
	if (e->kind == SOCKREDIR_EV_REDIRECTED)
		printf(" hop %u", e->hop);
	if (e->rule_id)
		printf(" rule %u", e->rule_id);
	if (e->flow_id)
		printf(" flow %llu", (unsigned long long)e->flow_id);
	printf(" %s[%u] uid %u", e->comm, e->pid, e->uid);
	if (e->app_pid != e->pid)
		printf(" for %s[%u] uid %u", e->app_comm, e->app_pid, e->app_uid);
	sockredir_format_addr(&e->dst, dst, sizeof(dst));
	printf(" -> %s\n", dst);
}

static int on_event(const struct sockredir_event *e, void *arg)
{
	struct watch *w = arg;

	if (w->service >= 0 && e->service_id != w->service)
		return 0;
	if (json_output)
		print_json(w, e);
	else
		print_text(w, e);
	return 0;
}

static void print_lost(uint64_t n)
{
	if (json_output)
		printf("{\"event\":\"lost\",\"count\":%llu}\n", (unsigned long long)n);
	else
		printf("lost %llu events (the ring buffer was full)\n",
		       (unsigned long long)n);
}

int monitor_main(int argc, char **argv)
{
	struct sockredir_monitor *m = NULL;
	struct sigaction sa = { .sa_handler = on_signal };
	struct watch w = { .service = -1 };
	const char *only = NULL;
	uint64_t lost, seen;
	int i, err, ret = EXIT_OK;

	for (i = 0; i < argc; i++) {
		if (!strcmp(argv[i], "--service") && i + 1 < argc)
			only = argv[++i];
		else if (!strcmp(argv[i], "--service"))
			return usage_error("--service needs a NAME");
		else if (!strcmp(argv[i], "-t") || !strcmp(argv[i], "--time"))
			w.times = 1;
		else
			return usage_error("monitor: unexpected word '%s'", argv[i]);
	}
	err = names_load(&w.names);
	w.names_at = time(NULL);
	if (err == -ENOENT)
		return fail(0, "sockredir is not up");
	if (err < 0)
		return fail(err, "cannot list services");
	if (only) {
		for (i = 1; i < SOCKREDIR_MAX_SERVICES; i++)
			if (!strcmp(w.names.name[i], only))
				w.service = i;
		if (w.service < 0)
			return usage_error("no service named '%s'", only);
	}
	w.boot_to_real = clock_ns(CLOCK_REALTIME) - clock_ns(CLOCK_BOOTTIME);

	/* No SA_RESTART: a signal ends the wait in poll, and we clean up. */
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);	/* `monitor | head`: EPIPE, then out */
	setvbuf(stdout, NULL, _IOLBF, 0);

	err = sockredir_monitor_open(&m);
	if (err == -ENOENT)
		return fail(0, "sockredir is not up");
	if (err == -EBUSY)
		return fail(0, "too many monitors running");
	if (err < 0)
		return fail(err, "cannot watch the layer");
	seen = sockredir_monitor_lost(m);
	while (!stopping) {
		err = sockredir_monitor_poll(m, 500, on_event, &w);
		if (err == -EINTR)
			continue;
		if (err == -ENOENT) {
			ret = fail(0, "the layer went down");
			break;
		}
		if (err < 0) {
			ret = fail(err, "cannot read events");
			break;
		}
		lost = sockredir_monitor_lost(m);
		if (lost != seen) {
			print_lost(lost - seen);
			seen = lost;
		}
		if (fflush(stdout) || ferror(stdout))
			break;		/* the reader went away */
	}
	sockredir_monitor_close(m);
	return ret;
}
