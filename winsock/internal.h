/* SPDX-License-Identifier: MIT */
/* internal.h - what winsock.c and event.c share. */
#ifndef SOCKREDIR_WINSOCK_INTERNAL_H
#define SOCKREDIR_WINSOCK_INTERNAL_H

#include "sockredir/winsock.h"

/* A completion routine waiting for its thread's next alertable wait. */
struct wsa_apc;

/* Allocate one before the operation, so that nothing fails after it. */
struct wsa_apc *wsa_apc_new(void);
void wsa_apc_free(struct wsa_apc *apc);

/*
 * wsa_complete - report an overlapped operation that completed at once:
 * queue @apc (consumed) for @routine to the calling thread, or, with no
 * routine, signal @ov->hEvent.  @tid, if not NULL, is copied.
 */
void wsa_complete(LPWSAOVERLAPPED ov, LPWSAOVERLAPPED_COMPLETION_ROUTINE routine,
		  struct wsa_apc *apc, DWORD bytes, const WSATHREADID *tid);

#endif
