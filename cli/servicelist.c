/*
 * servicelist.c - sockredir service list, and the listener lines of
 * status: per service, who holds its listeners (claimed or not, how, by
 * which pid), what the last connect found there (ok, gone, squatted,
 * overloaded), and its owner cgroup by path.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "counters.h"

static const char *state_word(unsigned int state)
{
	static const char *words[] = { "unseen", "ok", "gone", "squatted",
				       "overloaded" };

	return state < sizeof(words) / sizeof(words[0]) ? words[state] : "unknown";
}

static const char *how_word(const struct sockredir_listener *l)
{
	if (!l->claimed)
		return NULL;
	return l->how == SOCKREDIR_CLAIM_BY_OWNER ? "owner" : "explicit";
}

static const char *owner_word(unsigned int state)
{
	return state == SOCKREDIR_OWNER_REMOVED ? "removed" :
	       state == SOCKREDIR_OWNER_STALE	? "stale" : "ok";
}

/* Does @l need looking at?  Claimed and fine, or never used, does not. */
static int listener_bad(const struct sockredir_listener *l)
{
	return l->state == SOCKREDIR_LISTENER_GONE ||
	       l->state == SOCKREDIR_LISTENER_SQUATTED ||
	       l->state == SOCKREDIR_LISTENER_OVERLOADED ||
	       (l->state == SOCKREDIR_LISTENER_OK && !l->claimed);
}

static void ago(char *buf, size_t len, uint64_t then_ns)
{
	struct timespec ts;
	uint64_t now;

	clock_gettime(CLOCK_BOOTTIME, &ts);
	now = (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec;
	if (!then_ns)
		snprintf(buf, len, "never");
	else
		snprintf(buf, len, "%.1fs ago",
			 now > then_ns ? (now - then_ns) / 1e9 : 0.0);
}

/* One listener: a JSON object, or a text line "  IPv4 ADDR: ...". */
static void print_listener(const struct sockaddr_storage *addr,
			   const struct sockredir_listener *l)
{
	char seen[32];

	if (json_output) {
		printf("{\"family\":\"%s\",\"addr\":",
		       addr->ss_family == AF_INET ? "ipv4" : "ipv6");
		print_addr(stdout, addr);
		printf(",\"claimed\":%s,\"how\":", l->claimed ? "true" : "false");
		json_string(stdout, how_word(l));
		if (l->pid)
			printf(",\"pid\":%u,\"uid\":%u", l->pid, l->uid);
		else
			printf(",\"pid\":null,\"uid\":null");
		printf(",\"state\":\"%s\",\"backlog\":%u,\"max_backlog\":%u,"
		       "\"claimed_at_ns\":%llu,\"seen_at_ns\":%llu}",
		       state_word(l->state), l->backlog, l->max_backlog,
		       (unsigned long long)l->claimed_ns,
		       (unsigned long long)l->seen_ns);
		return;
	}
	printf("    listener ");
	print_addr(stdout, addr);
	if (l->claimed)
		printf(": claimed by pid %u (uid %u, %s)", l->pid, l->uid,
		       how_word(l));
	else if (l->pid)
		printf(": not claimed (last claimed by pid %u)", l->pid);
	else
		printf(": not claimed");
	ago(seen, sizeof(seen), l->seen_ns);
	if (l->state == SOCKREDIR_LISTENER_OVERLOADED)
		printf(", overloaded: accept queue %u of %u (%s)", l->backlog,
		       l->max_backlog, seen);
	else if (l->state != SOCKREDIR_LISTENER_UNSEEN)
		printf(", %s (%s)", state_word(l->state), seen);
	printf("\n");
}

/* Call @fn for each listen address @s has, with its listener. */
#define EACH_LISTENER(s, addr, l, body)						\
	do {									\
		for (int __f = 0; __f < 2; __f++) {				\
			struct sockaddr_storage addr = {};			\
			const struct sockredir_listener *l =			\
				__f ? &(s)->listener6 : &(s)->listener4;	\
			if (__f ? !(s)->listen6.sin6_port : !(s)->listen4.sin_port) \
				continue;					\
			if (__f)						\
				memcpy(&addr, &(s)->listen6, sizeof((s)->listen6)); \
			else							\
				memcpy(&addr, &(s)->listen4, sizeof((s)->listen4)); \
			body							\
		}								\
	} while (0)

static void print_owner(const struct sockredir_service *s, char *own,
			size_t len)
{
	char cg[600];

	snprintf(own, len, "-");
	if (!s->owner_cgroup_id && s->owner_uid < 0)
		return;
	if (s->owner_cgroup_state == SOCKREDIR_OWNER_STALE)
		snprintf(cg, sizeof(cg), "%s (stale: removed; the cgroup there now "
			 "is another, id %llu)", s->owner_cgroup,
			 (unsigned long long)s->owner_cgroup_now);
	else if (s->owner_cgroup_state == SOCKREDIR_OWNER_REMOVED)
		snprintf(cg, sizeof(cg), "%s (removed)",
			 s->owner_cgroup[0] ? s->owner_cgroup : "?");
	else
		snprintf(cg, sizeof(cg), "%s", s->owner_cgroup);
	if (s->owner_uid >= 0 && s->owner_cgroup_id)
		snprintf(own, len, "uid %lld,%s", (long long)s->owner_uid, cg);
	else if (s->owner_uid >= 0)
		snprintf(own, len, "uid %lld", (long long)s->owner_uid);
	else
		snprintf(own, len, "%s", cg);
}

static void print_json(const struct sockredir_service *s, int first)
{
	const struct sockredir_counters *c = &s->stats;
	size_t i;
	int n = 0;

	printf("%s{\"id\":%u,\"name\":", first ? "" : ",", s->id);
	json_string(stdout, s->name);
	printf(",\"listen\":[");
	if (s->listen4.sin_port)
		print_addr(stdout, (void *)&s->listen4);
	if (s->listen6.sin6_port) {
		printf(s->listen4.sin_port ? "," : "");
		print_addr(stdout, (void *)&s->listen6);
	}
	printf("],\"owner_cgroup\":");
	json_string(stdout, s->owner_cgroup_id ? s->owner_cgroup : NULL);
	printf(",\"owner_cgroup_state\":");
	json_string(stdout, s->owner_cgroup_id ?
				    owner_word(s->owner_cgroup_state) : NULL);
	printf(",\"owner_uid\":%lld,\"owner_cgroup_id\":%llu,"
	       "\"fail\":\"%s\",\"skip_inspected\":%s",
	       (long long)s->owner_uid, (unsigned long long)s->owner_cgroup_id,
	       s->flags & SOCKREDIR_FAIL_CLOSED ? "closed" : "open",
	       s->flags & SOCKREDIR_SKIP_INSPECTED ? "true" : "false");
	for (i = 0; i < ncounter_descs; i++)
		printf(",\"%s\":%llu", counter_descs[i].key,
		       (unsigned long long)counter_value(c, &counter_descs[i]));
	/* udp_flows is a gauge (signed: per-CPU parts may be negative). */
	printf(",\"udp_idle\":%u,\"udp_flows\":%lld,\"live_flows\":%lld,\"listeners\":[",
	       s->udp_idle ? s->udp_idle : SOCKREDIR_UDP_IDLE_DEFAULT,
	       (long long)c->udp_flows, (long long)s->live_flows);
	EACH_LISTENER(s, addr, l, {
		printf(n++ ? "," : "");
		print_listener(&addr, l);
	});
	printf("]}");
}

/* One service's line of the text table, before the widths are known. */
struct text_row {
	char a4[SOCKREDIR_ADDRSTRLEN], a6[SOCKREDIR_ADDRSTRLEN], own[700];
	const char *fail;
};

/* Column widths: each the widest of its header and its cells. */
struct text_widths {
	int name, a4, a6, own, fail;
};

static void text_row_of(const struct sockredir_service *s, struct text_row *r)
{
	snprintf(r->a4, sizeof(r->a4), "-");
	snprintf(r->a6, sizeof(r->a6), "-");
	if (s->listen4.sin_port)
		sockredir_format_addr((void *)&s->listen4, r->a4, sizeof(r->a4));
	if (s->listen6.sin6_port)
		sockredir_format_addr((void *)&s->listen6, r->a6, sizeof(r->a6));
	print_owner(s, r->own, sizeof(r->own));
	r->fail = s->flags & SOCKREDIR_SKIP_INSPECTED ?
			  (s->flags & SOCKREDIR_FAIL_CLOSED ? "closed,skip" : "open,skip") :
			  (s->flags & SOCKREDIR_FAIL_CLOSED ? "closed" : "open");
}

static void widen(int *w, const char *cell)
{
	int n = (int)strlen(cell);

	if (n > *w)
		*w = n;
}

static void print_text(const struct sockredir_service *s,
		       const struct text_row *r, const struct text_widths *w)
{
	size_t i;
	const struct sockredir_counters *c = &s->stats;

	printf("%-3u %-*s %-*s %-*s %-*s %-*s %lld\n", s->id, w->name, s->name,
	       w->a4, r->a4, w->a6, r->a6, w->own, r->own, w->fail, r->fail,
	       (long long)s->live_flows);
	EACH_LISTENER(s, addr, l, { print_listener(&addr, l); });
	for (i = 0; i < ncounter_descs; i++)
		printf("%s%s %llu", i == 0 ? "    " : i % 6 ? ", " : ",\n    ",
		       counter_descs[i].label,
		       (unsigned long long)counter_value(c, &counter_descs[i]));
	printf("\n    udp-flows %lld\n", (long long)c->udp_flows);
}

/* The text table: every column as wide as its widest cell (owner paths can
 * be long), each service's listeners and counters below its line. */
static int print_table(const struct sockredir_service *list, int n)
{
	struct text_widths w = { 4, 7, 7, 5, 4 };	/* the headers' */
	struct text_row *rows;
	int i;

	if (!n)
		return 0;
	rows = calloc(n, sizeof(*rows));
	if (!rows)
		return -ENOMEM;
	for (i = 0; i < n; i++) {
		text_row_of(&list[i], &rows[i]);
		widen(&w.name, list[i].name);
		widen(&w.a4, rows[i].a4);
		widen(&w.a6, rows[i].a6);
		widen(&w.own, rows[i].own);
		widen(&w.fail, rows[i].fail);
	}
	printf("%-3s %-*s %-*s %-*s %-*s %-*s %s\n", "ID", w.name, "NAME",
	       w.a4, "LISTEN4", w.a6, "LISTEN6", w.own, "OWNER", w.fail, "FAIL",
	       "LIVE");
	for (i = 0; i < n; i++)
		print_text(&list[i], &rows[i], &w);
	free(rows);
	return 0;
}

int service_list(int argc, char **argv)
{
	struct sockredir_service *list;
	int n, i, err = 0;

	if (argc)
		return usage_error("unexpected word '%s'", argv[0]);
	n = sockredir_service_list(&list);
	if (n == -ENOENT)
		return fail(0, "sockredir is not up");
	if (n < 0)
		return fail(n, "cannot list services");
	if (json_output) {
		printf("[");
		for (i = 0; i < n; i++)
			print_json(&list[i], i == 0);
		printf("]\n");
	} else {
		err = print_table(list, n);
	}
	free(list);
	return err ? fail(err, "cannot list services") : EXIT_OK;
}

/*
 * status: the services whose listener is not fine (gone, squatted,
 * overloaded, or used unclaimed) or whose owner cgroup is gone, one line
 * each; in JSON, the "attention" array.  Prints nothing if all is well.
 */
void status_services(void)
{
	struct sockredir_service *list;
	int n, i, k = 0;

	n = sockredir_service_list(&list);
	if (n < 0)
		return;
	if (json_output)
		printf(",\"attention\":[");
	for (i = 0; i < n; i++) {
		const struct sockredir_service *s = &list[i];

		EACH_LISTENER(s, addr, l, {
			if (!listener_bad(l))
				continue;
			if (json_output) {
				printf("%s{\"service\":", k++ ? "," : "");
				json_string(stdout, s->name);
				printf(",\"listener\":");
				print_listener(&addr, l);
				printf("}");
			} else {
				printf("service %s:\n", s->name);
				print_listener(&addr, l);
			}
		});
		if (s->owner_cgroup_id &&
		    s->owner_cgroup_state != SOCKREDIR_OWNER_OK) {
			if (json_output) {
				printf("%s{\"service\":", k++ ? "," : "");
				json_string(stdout, s->name);
				printf(",\"owner_cgroup\":");
				json_string(stdout, s->owner_cgroup);
				printf(",\"owner_cgroup_state\":\"%s\"}",
				       owner_word(s->owner_cgroup_state));
			} else {
				char own[700];

				print_owner(s, own, sizeof(own));
				printf("service %s: owner cgroup %s\n", s->name, own);
			}
		}
	}
	if (json_output)
		printf("]");
	free(list);
}
