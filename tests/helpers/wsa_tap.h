/* wsa_tap.h - what the Winsock-style test services share: their log line,
 * address lengths and TAP checks. */
#ifndef WSA_TAP_H
#define WSA_TAP_H

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>

static FILE *log_file;
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;

static void log_line(const char *fmt, ...)
{
	va_list ap;

	pthread_mutex_lock(&log_lock);
	va_start(ap, fmt);
	vfprintf(log_file, fmt, ap);
	va_end(ap);
	fputc('\n', log_file);
	fflush(log_file);
	pthread_mutex_unlock(&log_lock);
}

static socklen_t addr_len(const SOCKADDR_STORAGE *ss)
{
	return ss->ss_family == AF_INET6 ? sizeof(SOCKADDR_IN6) : sizeof(SOCKADDR_IN);
}

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
