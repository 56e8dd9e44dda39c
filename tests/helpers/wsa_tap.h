/* wsa_tap.h - TAP lines for the Winsock-style test services. */
#ifndef WSA_TAP_H
#define WSA_TAP_H

#include <stdarg.h>
#include <stdio.h>

static int tap_failed;

static void check(int cond, const char *fmt, ...)
{
	va_list ap;

	printf("%sok - ", cond ? "" : "not ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
	tap_failed += !cond;
}

/* Did the call fail (@rc SOCKET_ERROR) with WSA error @want? */
static int fails(int rc, int want)
{
	int got = WSAGetLastError();

	if (rc == SOCKET_ERROR && got == want)
		return 1;
	printf("# rc %d, error %d (0x%x), wanted %d (0x%x)\n", rc, got, got,
	       want, want);
	return 0;
}

#endif
