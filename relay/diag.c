/* SPDX-License-Identifier: MIT */
/*
 * diag.c - diagnostics on stderr.
 */
#include <stdarg.h>
#include <stdio.h>

#include "diag.h"

bool diag_quiet;

static void vsay(const char *fmt, va_list ap)
{
	fputs("sockredir-relay: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
}

void diag_say(const char *fmt, ...)
{
	va_list ap;

	if (diag_quiet)
		return;
	va_start(ap, fmt);
	vsay(fmt, ap);
	va_end(ap);
}

void diag_error(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsay(fmt, ap);
	va_end(ap);
}
