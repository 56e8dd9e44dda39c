// SPDX-License-Identifier: MIT
/*
 * event.c - WSAEVENTs, alertable waits and the per-thread queue of
 * completion routines, as <sockredir/winsock.h> describes them.
 *
 * All events share one mutex and one condition variable: a wait on several
 * events is then a plain loop, and SetEvent wakes every waiter, which
 * re-checks its own events.  Proxies wait on few events; this is enough.
 */
#define SOCKREDIR_WINSOCK_NO_SOCKOPT_MACROS
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#include "sockredir/winsock.h"
#include "internal.h"

#define EVENT_MAGIC	0x57534145u	/* "WSAE" */

struct sockredir_wsa_event {
	uint32_t magic;
	int signalled;
};

static pthread_mutex_t ev_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t ev_cond;
static pthread_once_t ev_once = PTHREAD_ONCE_INIT;

static void ev_init(void)
{
	pthread_condattr_t attr;

	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&ev_cond, &attr);
	pthread_condattr_destroy(&attr);
}

/* Windows lets callers set the low bit of an overlapped hEvent. */
static WSAEVENT ev_strip(WSAEVENT ev)
{
	return (WSAEVENT)((uintptr_t)ev & ~(uintptr_t)1);
}

static int ev_valid(WSAEVENT ev)
{
	return ev && ev->magic == EVENT_MAGIC;
}

SOCKREDIR_API WSAEVENT WSACreateEvent(void)
{
	WSAEVENT ev = calloc(1, sizeof(*ev));

	if (!ev) {
		WSASetLastError(WSA_NOT_ENOUGH_MEMORY);
		return WSA_INVALID_EVENT;
	}
	ev->magic = EVENT_MAGIC;
	return ev;
}

static BOOL ev_set(WSAEVENT ev, int signalled)
{
	pthread_once(&ev_once, ev_init);
	pthread_mutex_lock(&ev_lock);
	if (!ev_valid(ev)) {
		pthread_mutex_unlock(&ev_lock);
		WSASetLastError(WSA_INVALID_HANDLE);
		return FALSE;
	}
	ev->signalled = signalled;
	if (signalled)
		pthread_cond_broadcast(&ev_cond);
	pthread_mutex_unlock(&ev_lock);
	return TRUE;
}

SOCKREDIR_API BOOL WSASetEvent(WSAEVENT hEvent)
{
	return ev_set(hEvent, 1);
}

SOCKREDIR_API BOOL WSAResetEvent(WSAEVENT hEvent)
{
	return ev_set(hEvent, 0);
}

SOCKREDIR_API BOOL WSACloseEvent(WSAEVENT hEvent)
{
	pthread_mutex_lock(&ev_lock);
	if (!ev_valid(hEvent)) {
		pthread_mutex_unlock(&ev_lock);
		WSASetLastError(WSA_INVALID_HANDLE);
		return FALSE;
	}
	hEvent->magic = 0;
	pthread_mutex_unlock(&ev_lock);
	free(hEvent);
	return TRUE;
}

/* ---- Completion routines ------------------------------------------------- */

struct wsa_apc {
	struct wsa_apc *next;
	LPWSAOVERLAPPED_COMPLETION_ROUTINE routine;
	LPWSAOVERLAPPED ov;
	DWORD bytes;
	WSATHREADID tid;	/* a copy, as the SPI asks; not interpreted */
};

static __thread struct wsa_apc *apc_head, *apc_tail;
static pthread_key_t apc_key;
static pthread_once_t apc_once = PTHREAD_ONCE_INIT;

/* A thread that exits drops the routines still queued to it. */
static void apc_drop(void *unused)
{
	struct wsa_apc *a;

	while ((a = apc_head)) {
		apc_head = a->next;
		free(a);
	}
	apc_tail = NULL;
}

static void apc_init(void)
{
	pthread_key_create(&apc_key, apc_drop);
}

struct wsa_apc *wsa_apc_new(void)
{
	pthread_once(&apc_once, apc_init);
	return calloc(1, sizeof(struct wsa_apc));
}

void wsa_apc_free(struct wsa_apc *apc)
{
	free(apc);
}

void wsa_complete(LPWSAOVERLAPPED ov, LPWSAOVERLAPPED_COMPLETION_ROUTINE routine,
		  struct wsa_apc *apc, DWORD bytes, const WSATHREADID *tid)
{
	if (!routine) {
		WSAEVENT ev = ev_strip(ov->hEvent);

		if (ev)
			ev_set(ev, 1);
		return;
	}
	apc->routine = routine;
	apc->ov = ov;
	apc->bytes = bytes;
	if (tid)
		apc->tid = *tid;
	apc->next = NULL;
	if (apc_tail)
		apc_tail->next = apc;
	else
		apc_head = apc;
	apc_tail = apc;
	pthread_setspecific(apc_key, apc);	/* arms apc_drop at exit */
}

/* Runs every routine queued to this thread, in order; returns how many. */
static int apc_run(void)
{
	struct wsa_apc *a;
	int n = 0;

	while ((a = apc_head)) {
		LPWSAOVERLAPPED_COMPLETION_ROUTINE routine = a->routine;
		LPWSAOVERLAPPED ov = a->ov;
		DWORD bytes = a->bytes;

		apc_head = a->next;
		if (!apc_head)
			apc_tail = NULL;
		free(a);
		routine(0, bytes, ov, 0);	/* only successes are queued */
		n++;
	}
	return n;
}

/* ---- Waits --------------------------------------------------------------- */

static void deadline_after(struct timespec *ts, DWORD ms)
{
	clock_gettime(CLOCK_MONOTONIC, ts);
	ts->tv_sec += ms / 1000;
	ts->tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts->tv_nsec >= 1000000000L) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000L;
	}
}

/* Under ev_lock: the index that satisfies the wait, or -1. */
static int ev_ready(DWORD n, const WSAEVENT *evs, BOOL all)
{
	DWORD i;

	for (i = 0; i < n; i++) {
		if (!all && evs[i]->signalled)
			return (int)i;
		if (all && !evs[i]->signalled)
			return -1;
	}
	return all ? 0 : -1;
}

static DWORD wait_failed(int err)
{
	WSASetLastError(err);
	return WSA_WAIT_FAILED;
}

SOCKREDIR_API DWORD WSAWaitForMultipleEvents(DWORD cEvents,
					     const WSAEVENT *lphEvents,
					     BOOL fWaitAll, DWORD dwTimeout,
					     BOOL fAlertable)
{
	struct timespec deadline;
	DWORD i, ret = WSA_WAIT_TIMEOUT;
	int idx;

	if (fAlertable && apc_run())
		return WSA_WAIT_IO_COMPLETION;
	if (cEvents == 0 || cEvents > WSA_MAXIMUM_WAIT_EVENTS)
		return wait_failed(WSA_INVALID_PARAMETER);
	if (!lphEvents)
		return wait_failed(WSAEFAULT);
	if (dwTimeout != WSA_INFINITE)
		deadline_after(&deadline, dwTimeout);

	pthread_once(&ev_once, ev_init);
	pthread_mutex_lock(&ev_lock);
	for (i = 0; i < cEvents; i++) {
		if (!ev_valid(lphEvents[i])) {
			pthread_mutex_unlock(&ev_lock);
			return wait_failed(WSA_INVALID_HANDLE);
		}
	}
	for (;;) {
		idx = ev_ready(cEvents, lphEvents, fWaitAll);
		if (idx >= 0) {
			ret = WSA_WAIT_EVENT_0 + (DWORD)idx;
			break;
		}
		if (dwTimeout == 0)
			break;
		if (dwTimeout == WSA_INFINITE)
			pthread_cond_wait(&ev_cond, &ev_lock);
		else if (pthread_cond_timedwait(&ev_cond, &ev_lock,
						&deadline) == ETIMEDOUT)
			dwTimeout = 0;	/* one last look, then time out */
	}
	pthread_mutex_unlock(&ev_lock);
	return ret;
}

SOCKREDIR_API DWORD sockredir_wsa_sleep(DWORD dwMilliseconds, BOOL bAlertable)
{
	struct timespec ts;

	if (bAlertable && apc_run())
		return WSA_WAIT_IO_COMPLETION;
	/* Nothing can be queued to a sleeping thread: no other thread queues. */
	if (dwMilliseconds == WSA_INFINITE) {
		for (;;)
			pause();
	}
	ts.tv_sec = dwMilliseconds / 1000;
	ts.tv_nsec = (long)(dwMilliseconds % 1000) * 1000000L;
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
	return 0;
}

SOCKREDIR_API BOOL WSAGetOverlappedResult(SOCKET s,
					  LPWSAOVERLAPPED lpOverlapped,
					  LPDWORD lpcbTransfer, BOOL fWait,
					  LPDWORD lpdwFlags)
{
	int type;
	socklen_t len = sizeof(type);
	WSAEVENT ev;

	if (getsockopt(s, SOL_SOCKET, SO_TYPE, &type, &len) < 0) {
		WSASetLastError(sockredir_wsa_error(0, errno));
		return FALSE;
	}
	if (!lpOverlapped || !lpcbTransfer || !lpdwFlags) {
		WSASetLastError(WSAEFAULT);
		return FALSE;
	}
	if (lpOverlapped->Internal == STATUS_PENDING) {
		if (!fWait) {
			WSASetLastError(WSA_IO_INCOMPLETE);
			return FALSE;
		}
		ev = ev_strip(lpOverlapped->hEvent);
		if (WSAWaitForMultipleEvents(1, &ev, TRUE, WSA_INFINITE,
					     FALSE) == WSA_WAIT_FAILED) {
			WSASetLastError(WSA_INVALID_HANDLE);
			return FALSE;
		}
		if (lpOverlapped->Internal == STATUS_PENDING) {
			WSASetLastError(WSA_IO_INCOMPLETE);
			return FALSE;
		}
	}
	*lpcbTransfer = (DWORD)lpOverlapped->InternalHigh;
	*lpdwFlags = 0;
	if (lpOverlapped->Internal != 0) {
		WSASetLastError((int)(DWORD)lpOverlapped->Internal);
		return FALSE;
	}
	return TRUE;
}
