/* SPDX-License-Identifier: MIT */
/* internal.h - what winsock.c and event.c share. */
#ifndef SOCKREDIR_WINSOCK_INTERNAL_H
#define SOCKREDIR_WINSOCK_INTERNAL_H

#include "sockredir/winsock.h"

/*
 * SIO_GET_EXTENSION_FUNCTION_POINTER (dgram.c): the function for the GUID
 * in @in into @out; 0 or the Winsock error, *@bytes the size put there.
 */
int wsa_extension(const void *in, DWORD cb_in, void *out, DWORD cb_out,
		  DWORD *bytes);

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
