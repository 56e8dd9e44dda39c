/* SPDX-License-Identifier: MIT */
/*
 * relay.h - sockredir-relay: the configuration and the running relay.
 */
#ifndef RELAY_RELAY_H
#define RELAY_RELAY_H

#include <stdbool.h>
#include <sys/socket.h>

#include "loop.h"

#define RELAY_MAX_LISTEN 8

struct relay_config {
	const char *service;
	struct sockaddr_storage listen[RELAY_MAX_LISTEN];
	int n_listen;
	unsigned int connect_timeout_ms;
	unsigned int sniff_timeout_ms;
	unsigned int drain_timeout_ms;
	char **deny;		/* normalized host patterns */
	int n_deny;
	const char *log_path;	/* NULL or "-": stdout */
	bool quiet;
};

struct relay {
	const struct relay_config *cfg;
	struct loop *loop;
	struct flowlog *log;
	int listen_fd[RELAY_MAX_LISTEN];
	int sig_fd;
	int spare_fd;		/* given up to accept-and-reset at EMFILE */
	struct link flows;
	unsigned long n_flows;
	bool draining;
	struct timer drain_timer;
};

/*
 * relay_new - listen, open the log, set up signals.  Prints what it
 * listens on and why it failed to stderr.  NULL on failure.
 */
struct relay *relay_new(const struct relay_config *cfg);
/* Serve until a signal has stopped and drained it.  Returns the exit code. */
int relay_run(struct relay *r);
void relay_free(struct relay *r);

/* A flow has ended (called by the flow, after it is unlinked). */
void relay_flow_ended(struct relay *r);

/* Diagnostics on stderr, unless --quiet; relay_error() always. */
void relay_say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void relay_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
extern bool relay_quiet;

#endif
