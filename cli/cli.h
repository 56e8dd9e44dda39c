/* cli.h - the sockredir command: one file per object. */
#ifndef SOCKREDIR_CLI_H
#define SOCKREDIR_CLI_H

#include <stdio.h>
#include "sockredir.h"
#include "json.h"

/* Exit statuses: 0 done, 1 failed, 2 misused. */
enum { EXIT_OK = 0, EXIT_FAIL = 1, EXIT_USAGE = 2 };

extern int json_output;	/* -j: print listings as JSON */

int up_main(int argc, char **argv);
int down_main(int argc, char **argv);
int status_main(int argc, char **argv);
int service_main(int argc, char **argv);
int rule_main(int argc, char **argv);
int apply_main(int argc, char **argv);
int show_main(int argc, char **argv);
int metrics_main(int argc, char **argv);
int upgrade_main(int argc, char **argv);
int service_list(int argc, char **argv);	/* servicelist.c */
void status_services(void);
int flow_main(int argc, char **argv);
int monitor_main(int argc, char **argv);

/* Print "sockredir: what: strerror" to stderr; returns EXIT_FAIL. */
int fail(int err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Print "sockredir: ..." and a hint to stderr; returns EXIT_USAGE. */
int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* JSON strings: common/json.h, shared with the relay. */
void print_addr(FILE *f, const struct sockaddr_storage *ss);
/* A service owned by a uid or by no one: the option hooks go on the whole
 * attached cgroup, with the proxies' sockops program (lib/scope.c); say so. */
void print_scope_note(const char *service, int64_t owner_uid,
		      const char *owner_cgroup);

/* Service names by id (names.c): load them once; "#ID" for one gone. */
struct names_table {
	char name[SOCKREDIR_MAX_SERVICES][SOCKREDIR_NAME_MAX];
};
int names_load(struct names_table *t);
const char *names_get(const struct names_table *t, unsigned int id,
		      char *buf, size_t len);

#endif
