/* SPDX-License-Identifier: MIT */
/*
 * diag.h - the relay's diagnostics on stderr ("sockredir-relay: ...").
 */
#ifndef RELAY_DIAG_H
#define RELAY_DIAG_H

#include <stdbool.h>

/* Set by --quiet: diag_say() prints nothing, diag_error() still does. */
extern bool diag_quiet;

void diag_say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void diag_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
