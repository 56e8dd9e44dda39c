/*
 * metrics.c - sockredir metrics [--listen ADDR:PORT]: every counter in the
 * Prometheus text format (version 0.0.4), layer-wide and per service; with
 * --listen, served on GET /metrics, read fresh for every scrape.
 */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "cli.h"
#include "counters.h"

/* A label value: backslash, quote and newline escaped. */
static void label(FILE *f, const char *v)
{
	fputc('"', f);
	for (; *v; v++) {
		if (*v == '\\' || *v == '"')
			fprintf(f, "\\%c", *v);
		else if (*v == '\n')
			fputs("\\n", f);
		else
			fputc(*v, f);
	}
	fputc('"', f);
}

static void family(FILE *f, const char *name, const char *type,
		   const char *help)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* All metrics into @f.  Returns 0 or -errno (the layer is unreadable). */
static int write_metrics(FILE *f)
{
	struct sockredir_service *svcs = NULL;
	struct sockredir_status st;
	size_t i;
	int n = 0, j, err;

	err = sockredir_status_get(&st);
	if (err < 0)
		return err;
	if (st.up) {
		n = sockredir_service_list(&svcs);
		if (n < 0)
			return n;
	}
	family(f, "sockredir_up", "gauge",
	       "1 if the redirect layer is loaded and attached, else 0.");
	fprintf(f, "sockredir_up %d\n", st.up);
	if (!st.up)
		return 0;
	family(f, "sockredir_services", "gauge", "Registered services.");
	fprintf(f, "sockredir_services %u\n", st.services);
	family(f, "sockredir_rules", "gauge", "Rules in the layer.");
	fprintf(f, "sockredir_rules %u\n", st.rules);
	family(f, "sockredir_max_hops", "gauge", "The hop limit of a flow's chain.");
	fprintf(f, "sockredir_max_hops %u\n", st.max_hops);
	family(f, "sockredir_live_flows", "gauge", "Redirected connections open now.");
	fprintf(f, "sockredir_live_flows %lld\n", (long long)st.live_flows);
	for (i = 0; i < ncounter_descs; i++) {
		const struct counter_desc *d = &counter_descs[i];
		char name[96];

		snprintf(name, sizeof(name), "sockredir_%s_total", d->key);
		family(f, name, "counter", d->help);
		fprintf(f, "%s %llu\n", name,
			(unsigned long long)counter_value(&st.total, d));
	}
	family(f, "sockredir_service_live_flows", "gauge",
	       "Redirected connections open now, by the service they went to.");
	for (j = 0; j < n; j++) {
		fputs("sockredir_service_live_flows{service=", f);
		label(f, svcs[j].name);
		fprintf(f, ",id=\"%u\"} %lld\n", svcs[j].id,
			(long long)svcs[j].live_flows);
	}
	for (i = 0; i < ncounter_descs; i++) {
		const struct counter_desc *d = &counter_descs[i];
		char name[96], help[256];

		snprintf(name, sizeof(name), "sockredir_service_%s_total", d->key);
		snprintf(help, sizeof(help), "%s By service.", d->help);
		family(f, name, "counter", help);
		for (j = 0; j < n; j++) {
			fprintf(f, "%s{service=", name);
			label(f, svcs[j].name);
			fprintf(f, ",id=\"%u\"} %llu\n", svcs[j].id,
				(unsigned long long)counter_value(&svcs[j].stats, d));
		}
	}
	free(svcs);
	return 0;
}

static volatile sig_atomic_t stopping;

static void on_signal(int sig)
{
	stopping = 1;
}

/* Answer one HTTP request on @c.  A client has 5 s to send its request. */
static void answer(int c)
{
	struct timeval tv = { .tv_sec = 5 };
	char req[4096], *body = NULL;
	size_t len = 0, blen = 0;
	const char *status = "200 OK";
	FILE *out;
	ssize_t r;

	req[0] = '\0';
	setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(c, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	while (len < sizeof(req) - 1 && !strstr(req, "\r\n\r\n")) {
		r = read(c, req + len, sizeof(req) - 1 - len);
		if (r <= 0)
			return;
		len += r;
		req[len] = '\0';
	}
	out = open_memstream(&body, &blen);
	if (!out)
		return;
	if (strncmp(req, "GET ", 4) && strncmp(req, "HEAD ", 5)) {
		status = "405 Method Not Allowed";
		fputs("only GET /metrics\n", out);
	} else if (strncmp(strchr(req, ' ') + 1, "/metrics ", 9) &&
		   strncmp(strchr(req, ' ') + 1, "/metrics?", 9)) {
		status = "404 Not Found";
		fputs("see /metrics\n", out);
	} else if (write_metrics(out) < 0) {
		status = "503 Service Unavailable";
		fprintf(out, "cannot read the redirect layer: %s\n", strerror(errno));
	}
	fclose(out);
	dprintf(c, "HTTP/1.0 %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
		"Connection: close\r\n\r\n", status,
		status[0] == '2' ? "text/plain; version=0.0.4; charset=utf-8" :
				   "text/plain; charset=utf-8", blen);
	if (strncmp(req, "HEAD ", 5) && blen)
		(void)!write(c, body, blen);
	free(body);
}

static int serve(const char *addr)
{
	struct sockaddr_storage ss;
	struct sigaction sa = { .sa_handler = on_signal };
	int s, one = 1;

	if (sockredir_parse_addr(addr, &ss) < 0)
		return usage_error("bad address '%s' (want ADDR:PORT or [ADDR6]:PORT)",
				   addr);
	s = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s < 0)
		return fail(errno, "socket");
	setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(s, (struct sockaddr *)&ss, ss.ss_family == AF_INET ?
		 sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6)) < 0 ||
	    listen(s, 16) < 0) {
		close(s);
		return fail(errno, "cannot listen on %s", addr);
	}
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);	/* no SA_RESTART: accept returns */
	signal(SIGPIPE, SIG_IGN);
	fprintf(stderr, "sockredir: serving metrics on http://%s/metrics\n", addr);
	while (!stopping) {
		int c = accept4(s, NULL, NULL, SOCK_CLOEXEC);

		if (c < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			close(s);
			return fail(errno, "accept");
		}
		answer(c);
		close(c);
	}
	close(s);
	return EXIT_OK;
}

int metrics_main(int argc, char **argv)
{
	int err;

	if (argc == 2 && !strcmp(argv[0], "--listen"))
		return serve(argv[1]);
	if (argc)
		return usage_error("metrics takes nothing or --listen ADDR:PORT");
	err = write_metrics(stdout);
	if (err == -EPERM || err == -EACCES)
		return fail(0, "reading the redirect layer needs root (CAP_BPF and "
			    "CAP_SYS_ADMIN)");
	if (err < 0)
		return fail(err, "cannot read the redirect layer");
	return EXIT_OK;
}
