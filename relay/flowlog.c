/* SPDX-License-Identifier: MIT */
/*
 * flowlog.c - the JSON-lines flow log.
 *
 * Buffered, and written out once per turn of the relay's loop (before it
 * waits), not once per line: what is written is what flows ended before the
 * relay went to sleep.  SIGTERM, SIGINT and SIGHUP come through the loop
 * (a signalfd), so the drain and a reopen write everything first; every
 * exit of the relay goes through flowlog_close().  Only a kill the process
 * cannot see (SIGKILL, a crash) loses lines, those of flows that ended in
 * the turn it interrupted.
 */
#include <errno.h>
#include <stdbool.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "flowlog.h"

#define LOG_BUF		(64 * 1024)

struct flowlog {
	char *path;		/* NULL: stdout */
	FILE *f;
	bool dirty;		/* lines not yet flushed */
};

static const char *const end_names[] = {
	[END_CLOSED] = "closed",
	[END_RESET_BY_CLIENT] = "reset_by_client",
	[END_RESET_BY_SERVER] = "reset_by_server",
	[END_DENIED] = "denied",
	[END_UPSTREAM_REFUSED] = "upstream_refused",
	[END_UPSTREAM_TIMEOUT] = "upstream_timeout",
	[END_NOT_REDIRECTED] = "not_redirected",
	[END_DRAINED] = "drained",
	[END_ERROR] = "error",
	[END_SILENT] = "silent",
	[END_IDLE] = "idle",
	[END_APP_LIMIT] = "app_limit",
};

const char *flow_end_name(enum flow_end end)
{
	return (unsigned int)end < sizeof(end_names) / sizeof(end_names[0]) ?
	       end_names[end] : "error";
}

struct flowlog *flowlog_open(const char *path)
{
	struct flowlog *log = calloc(1, sizeof(*log));

	if (!log)
		return NULL;
	if (!path || !strcmp(path, "-")) {
		log->f = stdout;
		setvbuf(log->f, NULL, _IOFBF, LOG_BUF);
		return log;
	}
	log->path = strdup(path);
	if (log->path)
		log->f = fopen(path, "ae");
	if (!log->f) {
		int err = errno;

		free(log->path);
		free(log);
		errno = err;
		return NULL;
	}
	setvbuf(log->f, NULL, _IOFBF, LOG_BUF);
	return log;
}

int flowlog_reopen(struct flowlog *log)
{
	FILE *f;

	if (!log->path)
		return 0;
	f = fopen(log->path, "ae");
	if (!f)
		return -errno;
	setvbuf(f, NULL, _IOFBF, LOG_BUF);
	fclose(log->f);		/* the buffered lines go to the old file */
	log->f = f;
	log->dirty = false;
	return 0;
}

void flowlog_close(struct flowlog *log)
{
	if (!log)
		return;
	if (log->path)
		fclose(log->f);
	else
		fflush(log->f);
	free(log->path);
	free(log);
}

static void write_context(FILE *f, const struct sockredir_context *ctx)
{
	char addr[SOCKREDIR_ADDRSTRLEN], comm[sizeof(ctx->sr.app_comm) + 1];
	unsigned int i, hops = ctx->sr.hop;

	fputs(",\"chain\":[", f);
	if (hops > SOCKREDIR_MAX_HOPS)
		hops = SOCKREDIR_MAX_HOPS;
	for (i = 0; i < hops; i++)
		fprintf(f, "%s%u", i ? "," : "", ctx->sr.chain[i]);
	memcpy(comm, ctx->sr.app_comm, sizeof(ctx->sr.app_comm));
	comm[sizeof(ctx->sr.app_comm)] = '\0';
	fprintf(f, "],\"app\":{\"pid\":%u,\"uid\":%u,\"comm\":",
		ctx->sr.app_pid, ctx->sr.app_uid);
	json_string(f, comm);
	fputs("},\"dst\":", f);
	json_string(f, sockredir_format_addr(&ctx->remote, addr, sizeof(addr)));
}

int flowlog_write(struct flowlog *log, const struct flow_summary *s)
{
	FILE *f = log->f;

	if (s->ctx)
		fprintf(f, "{\"flow_id\":%" PRIu64, s->ctx->sr.flow_id);
	else
		fputs("{\"flow_id\":null", f);
	fputs(",\"service\":", f);
	json_string(f, s->service);
	if (s->ctx)
		write_context(f, s->ctx);
	else
		fputs(",\"chain\":[],\"app\":null,\"dst\":null", f);
	fputs(",\"host\":", f);
	json_string(f, s->host && *s->host ? s->host : NULL);
	if (s->udp)
		fprintf(f, ",\"proto\":\"udp\",\"datagrams_up\":%" PRIu64
			",\"datagrams_down\":%" PRIu64,
			s->datagrams_up, s->datagrams_down);
	fprintf(f, ",\"bytes_up\":%" PRIu64 ",\"bytes_down\":%" PRIu64
		",\"duration_ms\":%" PRIu64 ",\"end\":\"%s\"}\n",
		s->bytes_up, s->bytes_down, s->duration_ms,
		flow_end_name(s->end));
	log->dirty = true;
	if (ferror(f)) {	/* a full buffer went out, and failed */
		clearerr(f);
		return -EIO;
	}
	return 0;
}

int flowlog_flush(struct flowlog *log)
{
	if (!log->dirty)
		return 0;
	log->dirty = false;
	if (fflush(log->f) == EOF || ferror(log->f)) {
		clearerr(log->f);
		return -EIO;
	}
	return 0;
}
