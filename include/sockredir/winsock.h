/* SPDX-License-Identifier: MIT */
/*
 * <sockredir/winsock.h> - the Winsock face of sockredir.
 *
 * Lets a Windows WFP redirect service (an inspecting proxy written against
 * WSAIoctl and the three SIO_*_WFP_CONNECTION_REDIRECT_* control codes)
 * compile and run on Linux with few changes:
 *
 *	SOCKADDR_STORAGE ctx[2];
 *	BYTE rec[8192];
 *	DWORD n, m, unused;
 *
 *	WSAIoctl(accepted, SIO_QUERY_WFP_CONNECTION_REDIRECT_RECORDS,
 *		 NULL, 0, rec, sizeof rec, &n, NULL, NULL);
 *	WSAIoctl(accepted, SIO_QUERY_WFP_CONNECTION_REDIRECT_CONTEXT,
 *		 NULL, 0, ctx, sizeof ctx, &m, NULL, NULL);
 *	up = socket(ctx[0].ss_family, SOCK_STREAM, IPPROTO_TCP);
 *	WSAIoctl(up, SIO_SET_WFP_CONNECTION_REDIRECT_RECORDS,
 *		 rec, n, NULL, 0, &unused, NULL, NULL);
 *	connect(up, (struct sockaddr *)&ctx[0], sizeof ctx[0]);
 *
 * It lives in its own library, libsockredir-winsock, on top of libsockredir:
 *
 *	cc proxy.c $(pkg-config --cflags --libs sockredir-winsock)
 *
 * SOCKET is a file descriptor: the usual socket(), accept(), connect(),
 * close() calls work on it.  The control codes are carried over the
 * socket options of <sockredir.h> (SOL_SOCKREDIR); see there for the model.
 *
 * ---- Decisions where Microsoft's documentation is silent or contradicts
 * ---- itself (see reference/wfp-connection-redirect.md sections 2 and 11)
 *
 * Buffer too small (both queries).  The call fails with
 * ERROR_INSUFFICIENT_BUFFER (122) and *lpcbBytesReturned holds the size
 * needed.  A size probe is the same case: cbOutBuffer 0 or lpvOutBuffer NULL.
 *   Why: this is what the Win32 Remarks and error table of the query pages
 *   say, and what the only size-probing caller we know (a rama-based proxy)
 *   expects.  The fixed-buffer callers never hit it: Envoy's 2048 bytes and
 *   Microsoft's sample's 8192 bytes exceed SOCKREDIR_RECORDS_MAX, and the
 *   sample's 2 x SOCKADDR_STORAGE context buffer is accepted (see below).
 *   The boilerplate alternative (WSAEINVAL with a size of 0) would break the
 *   size probe and buys no caller anything.
 *
 * Socket not redirected.  SIO_QUERY_WFP_CONNECTION_REDIRECT_CONTEXT fails
 * with FWP_E_NOT_FOUND; SIO_QUERY_WFP_CONNECTION_REDIRECT_RECORDS fails with
 * WSAEINVAL.  Neither is fatal to the socket.
 *   Why: each code is what the one known caller that tells "nothing here"
 *   apart from a real failure expects of that IOCTL.  Microsoft's sample
 *   helper tolerates exactly FWP_E_NOT_FOUND from the context query (so
 *   Windows evidently returns it there).  For the records query the only
 *   such caller (rama) tolerates WSAEINVAL, WSAEFAULT, WSAENOPROTOOPT and
 *   WSAEOPNOTSUPP; WSAEINVAL is also what Wine's NT-status translation makes
 *   of the kernel's STATUS_NOT_FOUND.  Microsoft's sample and Envoy treat
 *   every records failure as fatal, so they behave the same either way.
 *   A caller that must tell "not redirected" from a bad argument asks for
 *   the context, or calls sockredir_query_records() (-ENOENT).
 *
 * Redirect layer absent (not loaded, or this socket's cgroup is outside the
 * one it is attached to; the kernel then answers ENOPROTOOPT, or EOPNOTSUPP
 * for getsockopt on IPv4): all three codes fail with
 * WSAEOPNOTSUPP, the documented "not supported by the transport provider"
 * (and Wine's answer).  rama-like callers read it as "no records".
 *
 * Other control codes: WSAEINVAL ("not a valid command"), so that
 * WSAEOPNOTSUPP always means "no redirect layer here".
 *
 * Overlapped calls.  Every socket counts as overlapped (as socket() makes
 * them on Windows).  No operation here ever pends: a call with lpOverlapped
 * completes before it returns, and then, as Winsock does for an overlapped
 * operation that completes at once:
 *   - it returns 0 (never WSA_IO_PENDING), stores the byte count in
 *     *lpcbBytesReturned when that is not NULL, and records the result in
 *     lpOverlapped: Internal = 0 (the Winsock error code on failure; never
 *     an NTSTATUS, except STATUS_PENDING which is never left there),
 *     InternalHigh = byte count;
 *   - with no completion routine, it signals lpOverlapped->hEvent if that
 *     is not NULL (the low bit of hEvent is ignored, as on Windows);
 *   - with a completion routine, hEvent is left alone (Winsock ignores it
 *     then) and the routine is queued to the calling thread.  It runs the
 *     next time that thread makes an alertable wait: WSAWaitForMultipleEvents
 *     with fAlertable TRUE, SleepEx(.., TRUE) or WaitForSingleObjectEx(..,
 *     TRUE) from below; that wait runs every queued routine in order and
 *     returns WSA_WAIT_IO_COMPLETION.  Never from inside WSAIoctl itself, so
 *     code that sets up state for the routine after WSAIoctl returns keeps
 *     working.  A thread that exits drops its queue, as Windows does.
 *     (If the queue entry cannot be allocated, the call fails first with
 *     WSAENOBUFS and does nothing.)
 *   A call that fails fails at once: SOCKET_ERROR with the error, the event
 *   is not signalled, no routine is queued (lpOverlapped->Internal still
 *   receives the error).  WSA_IO_PENDING, WSA_OPERATION_ABORTED and
 *   WSAEINPROGRESS are therefore never returned: nothing pends, so nothing
 *   can be aborted, and no call of this layer blocks.
 *
 * Pointers.  A NULL pointer where data is needed gives WSAEFAULT (but a
 * NULL lpvOutBuffer in a query is the size probe).  Other invalid pointers
 * cannot be detected in user space on Linux: they crash the caller, as any
 * libc call would, instead of giving WSAEFAULT.  lpcbBytesReturned may be
 * NULL only in an overlapped call, as ReactOS and the Winsock docs have it
 * (Wine always wants it); a caller that passes NULL to a plain SET (the
 * rama-based proxy does) gets WSAEFAULT.
 *
 * ---- SO_ORIGINAL_DST
 *
 * Windows defines SO_ORIGINAL_DST as 0x300F at level SOL_IP = 0xFFFB.  This
 * header keeps Linux's pair instead: SOL_IP (0, from <netinet/in.h>) and
 * SO_ORIGINAL_DST 80 (as <linux/netfilter_ipv4.h>; IP6T_SO_ORIGINAL_DST 80
 * at SOL_IPV6).  Windows code written as getsockopt(s, SOL_IP,
 * SO_ORIGINAL_DST, ...) (Envoy) then compiles to the call the redirect
 * layer answers for redirected sockets, and that unmodified Linux
 * transparent proxies already make.  Windows' numbers would reach nothing.
 */
#ifndef SOCKREDIR_WINSOCK_H
#define SOCKREDIR_WINSOCK_H

#include <errno.h>
#include <stdint.h>
#include <unistd.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <sockredir.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Types --------------------------------------------------------------- */

typedef int SOCKET;			/* a file descriptor */
typedef uint8_t BYTE;
typedef uint16_t WORD;
typedef uint32_t DWORD;			/* 32 bits, as on Windows */
typedef DWORD *LPDWORD;
typedef int INT;
typedef int *LPINT;
typedef int BOOL;
typedef uint32_t ULONG;			/* 32 bits, as on Windows */
typedef int32_t HRESULT;
typedef void *LPVOID;
typedef void *HANDLE;
typedef uintptr_t ULONG_PTR;
typedef uintptr_t DWORD_PTR;
typedef struct sockaddr SOCKADDR;
typedef struct sockaddr_in SOCKADDR_IN;
typedef struct sockaddr_in6 SOCKADDR_IN6;
typedef struct sockaddr_storage SOCKADDR_STORAGE;
typedef SOCKADDR_STORAGE *PSOCKADDR_STORAGE;

#ifndef TRUE
#define TRUE	1
#endif
#ifndef FALSE
#define FALSE	0
#endif

#define INVALID_SOCKET	(-1)
#define SOCKET_ERROR	(-1)

/* An event object; WSA_INVALID_EVENT is NULL.  See WSACreateEvent(). */
typedef struct sockredir_wsa_event *WSAEVENT;
#define WSA_INVALID_EVENT	((WSAEVENT)NULL)

/* Winsock's WSAOVERLAPPED (the same layout as OVERLAPPED). */
typedef struct _WSAOVERLAPPED {
	ULONG_PTR Internal;	/* Winsock error code, 0 when it succeeded */
	ULONG_PTR InternalHigh;	/* bytes transferred (needed, if too small) */
	DWORD Offset;		/* unused */
	DWORD OffsetHigh;	/* unused */
	WSAEVENT hEvent;
} WSAOVERLAPPED, *LPWSAOVERLAPPED;

/* Internal while an operation is in progress (never, in this layer). */
#define STATUS_PENDING		0x00000103
#define HasOverlappedIoCompleted(ov) ((ov)->Internal != STATUS_PENDING)

typedef void (*LPWSAOVERLAPPED_COMPLETION_ROUTINE)(DWORD dwError,
						   DWORD cbTransferred,
						   LPWSAOVERLAPPED lpOverlapped,
						   DWORD dwFlags);

/* ws2spi.h: the thread a WSPIoctl completion routine is queued to. */
typedef struct _WSATHREADID {
	HANDLE ThreadHandle;
	DWORD_PTR Reserved;
} WSATHREADID, *LPWSATHREADID;

/* ---- Error codes (Windows values) ---------------------------------------- */

#define WSA_INVALID_HANDLE		6
#define WSA_NOT_ENOUGH_MEMORY		8
#define WSA_INVALID_PARAMETER		87
#define ERROR_INSUFFICIENT_BUFFER	122
#define WSA_OPERATION_ABORTED		995
#define WSA_IO_INCOMPLETE		996
#define WSA_IO_PENDING			997

#define WSABASEERR		10000
#define WSAEINTR		10004
#define WSAEBADF		10009
#define WSAEACCES		10013
#define WSAEFAULT		10014
#define WSAEINVAL		10022
#define WSAEMFILE		10024
#define WSAEWOULDBLOCK		10035
#define WSAEINPROGRESS		10036
#define WSAEALREADY		10037
#define WSAENOTSOCK		10038
#define WSAEDESTADDRREQ		10039
#define WSAEMSGSIZE		10040
#define WSAEPROTOTYPE		10041
#define WSAENOPROTOOPT		10042
#define WSAEPROTONOSUPPORT	10043
#define WSAESOCKTNOSUPPORT	10044
#define WSAEOPNOTSUPP		10045
#define WSAEPFNOSUPPORT		10046
#define WSAEAFNOSUPPORT		10047
#define WSAEADDRINUSE		10048
#define WSAEADDRNOTAVAIL	10049
#define WSAENETDOWN		10050
#define WSAENETUNREACH		10051
#define WSAENETRESET		10052
#define WSAECONNABORTED		10053
#define WSAECONNRESET		10054
#define WSAENOBUFS		10055
#define WSAEISCONN		10056
#define WSAENOTCONN		10057
#define WSAESHUTDOWN		10058
#define WSAETOOMANYREFS		10059
#define WSAETIMEDOUT		10060
#define WSAECONNREFUSED		10061
#define WSAELOOP		10062
#define WSAENAMETOOLONG		10063
#define WSAEHOSTDOWN		10064
#define WSAEHOSTUNREACH		10065
#define WSANOTINITIALISED	10093

/*
 * fwptypes.h: "not found", an HRESULT (0x80320008, negative as an int).
 * Written so that it needs no implementation-defined conversion; compare
 * WSAGetLastError() with it directly.
 */
#define FWP_E_NOT_FOUND		((HRESULT)(-0x7FCDFFF7 - 1))

/* ---- Control codes (mstcpip.h) ------------------------------------------ */

/*
 * Winsock's IOC_* bits.  Linux's <asm-generic/ioctl.h> also defines IOC_IN,
 * IOC_OUT and IOC_INOUT, with other values; this header replaces them with
 * Winsock's.  _WSAIO* use private copies, so the codes stay right whichever
 * header comes last.
 */
#define SOCKREDIR_WSA_IOC_VOID	0x20000000u
#define SOCKREDIR_WSA_IOC_OUT	0x40000000u
#define SOCKREDIR_WSA_IOC_IN	0x80000000u
#undef IOC_VOID
#undef IOC_OUT
#undef IOC_IN
#undef IOC_INOUT
#define IOC_VOID	SOCKREDIR_WSA_IOC_VOID
#define IOC_OUT		SOCKREDIR_WSA_IOC_OUT
#define IOC_IN		SOCKREDIR_WSA_IOC_IN
#define IOC_INOUT	(SOCKREDIR_WSA_IOC_IN | SOCKREDIR_WSA_IOC_OUT)
#define IOC_UNIX	0x00000000u
#define IOC_WS2		0x08000000u
#define IOC_PROTOCOL	0x10000000u
#define IOC_VENDOR	0x18000000u
#define _WSAIO(x, y)	(SOCKREDIR_WSA_IOC_VOID | (x) | (y))
#define _WSAIOR(x, y)	(SOCKREDIR_WSA_IOC_OUT | (x) | (y))
#define _WSAIOW(x, y)	(SOCKREDIR_WSA_IOC_IN | (x) | (y))
#define _WSAIORW(x, y)	(SOCKREDIR_WSA_IOC_IN | SOCKREDIR_WSA_IOC_OUT | (x) | (y))

/* 0x980000DC, 0x980000DD, 0x980000DE.  Both queries really are _WSAIOW. */
#define SIO_QUERY_WFP_CONNECTION_REDIRECT_RECORDS _WSAIOW(IOC_VENDOR, 220)
#define SIO_QUERY_WFP_CONNECTION_REDIRECT_CONTEXT _WSAIOW(IOC_VENDOR, 221)
#define SIO_SET_WFP_CONNECTION_REDIRECT_RECORDS   _WSAIOW(IOC_VENDOR, 222)

/*
 * ws2ipdef.h: the datagram variant's options and cmsg types.  Defined so
 * that code naming them compiles; sockredir carries UDP redirects through
 * its own connected-UDP path, not through these cmsgs.
 */
#define IP_WFP_REDIRECT_RECORDS		60
#define IP_WFP_REDIRECT_CONTEXT		70
#define IPV6_WFP_REDIRECT_RECORDS	60
#define IPV6_WFP_REDIRECT_CONTEXT	70

/* Linux's values, not Windows' 0x300F: see the top of this file. */
#ifndef SO_ORIGINAL_DST
#define SO_ORIGINAL_DST		80
#endif
#ifndef IP6T_SO_ORIGINAL_DST
#define IP6T_SO_ORIGINAL_DST	SO_ORIGINAL_DST
#endif

/* ---- Waits --------------------------------------------------------------- */

#define WSA_MAXIMUM_WAIT_EVENTS	64
#define WSA_INFINITE		0xFFFFFFFFu
#define WSA_WAIT_EVENT_0	0u
#define WSA_WAIT_IO_COMPLETION	0xC0u
#define WSA_WAIT_TIMEOUT	0x102u
#define WSA_WAIT_FAILED		0xFFFFFFFFu

/* ---- Functions ----------------------------------------------------------- */

/*
 * WSAIoctl - issue a control code on a socket.
 *
 * Supports the three WFP connection-redirect codes.  Returns 0, or
 * SOCKET_ERROR with the error for WSAGetLastError().  Checks run in this
 * order; the first that fails decides the error:
 *
 *   1. s is not a socket (a pipe, a file, a closed fd)      -> WSAENOTSOCK
 *   2. dwIoControlCode is none of the three                 -> WSAEINVAL
 *   3. lpcbBytesReturned and lpOverlapped both NULL         -> WSAEFAULT
 *   4. the arguments of the code (below)
 *   5. s is not TCP (UDP, raw, AF_UNIX ...)                 -> WSAEINVAL
 *      (Windows carries datagram redirects in IP_WFP_* cmsgs instead)
 *   6. the state of s (below)
 *   7. the redirect layer's answer:
 *      layer absent (ENOPROTOOPT, EOPNOTSUPP)               -> WSAEOPNOTSUPP
 *      and the code's own errors (below).
 * A completion routine given with a NULL lpOverlapped is ignored, as
 * Winsock ignores it for non-overlapped calls.
 *
 * SIO_QUERY_WFP_CONNECTION_REDIRECT_RECORDS, on an accepted socket
 *   4. none: lpvInBuffer and cbInBuffer are ignored.
 *   6. s not connected (e.g. the listener)                  -> WSAENOTCONN
 *   7. s not redirected                                     -> WSAEINVAL
 *      lpvOutBuffer NULL or cbOutBuffer smaller than the records (a size
 *      probe passes 0)  -> ERROR_INSUFFICIENT_BUFFER, *lpcbBytesReturned =
 *      the size needed
 *   Success: the opaque records in lpvOutBuffer, their exact size (never 0,
 *   at most SOCKREDIR_RECORDS_MAX) in *lpcbBytesReturned.
 *
 * SIO_QUERY_WFP_CONNECTION_REDIRECT_CONTEXT, on an accepted socket
 *   The same, except: s not redirected                      -> FWP_E_NOT_FOUND
 *   The context is struct sockredir_context, whose first 256 bytes are
 *   SOCKADDR_STORAGE[2] = { original remote, original local } (what
 *   Microsoft's sample reads).  A buffer of at least those 256 bytes but
 *   smaller than the whole context receives just the two addresses, with
 *   *lpcbBytesReturned = 2 * sizeof(SOCKADDR_STORAGE).  A smaller buffer or
 *   a size probe fails with ERROR_INSUFFICIENT_BUFFER and the size of the
 *   whole context.
 *
 * SIO_SET_WFP_CONNECTION_REDIRECT_RECORDS, on a new socket before
 * connect() (and before bind(), as Windows asks)
 *   4. cbOutBuffer not 0                                    -> WSAEINVAL
 *      (lpvOutBuffer is unused and never looked at)
 *      lpvInBuffer NULL while cbInBuffer is not 0           -> WSAEFAULT
 *      cbInBuffer 0 or above SOCKREDIR_RECORDS_MAX          -> WSAEINVAL
 *   6. s listening                                          -> WSAEINVAL
 *      s connected or connecting                            -> WSAEISCONN
 *      (Windows documents no error for this; Linux's is the natural one)
 *   7. caller neither root nor a registered service's owner -> WSAEACCES
 *      records the layer did not issue (edited, truncated) -> WSAEINVAL
 *   Success: *lpcbBytesReturned = 0.  SET has no output; do not rely on
 *   the value (nor on Windows).
 *
 * Any other errno from the kernel is translated by sockredir_wsa_error():
 * EINTR -> WSAEINTR, ENETDOWN -> WSAENETDOWN, and so on.  On failure
 * *lpcbBytesReturned (when not NULL) is 0, except with
 * ERROR_INSUFFICIENT_BUFFER.  Overlapped calls: see the top of this file.
 */
SOCKREDIR_API int WSAIoctl(SOCKET s, DWORD dwIoControlCode,
			   LPVOID lpvInBuffer, DWORD cbInBuffer,
			   LPVOID lpvOutBuffer, DWORD cbOutBuffer,
			   LPDWORD lpcbBytesReturned,
			   LPWSAOVERLAPPED lpOverlapped,
			   LPWSAOVERLAPPED_COMPLETION_ROUTINE lpCompletionRoutine);

/*
 * WSPIoctl - the service-provider (LSP) form of WSAIoctl.
 *
 * Same rules as WSAIoctl, plus:
 *   lpErrno receives the error code on failure (and WSAGetLastError()
 *     returns it too).  lpErrno NULL: nothing is done, SOCKET_ERROR is
 *     returned and WSAGetLastError() gives WSAEFAULT.
 *   lpThreadId is required only for an overlapped call with a completion
 *     routine (WSAEFAULT if NULL, checked with lpcbBytesReturned, step 3).  As the SPI asks, the WSATHREADID itself
 *     (not the pointer) is stored with the queued routine; the routine runs
 *     in the calling thread's next alertable wait (ws2_32 always passes the
 *     caller's thread; ThreadHandle is not interpreted).
 */
SOCKREDIR_API int WSPIoctl(SOCKET s, DWORD dwIoControlCode,
			   LPVOID lpvInBuffer, DWORD cbInBuffer,
			   LPVOID lpvOutBuffer, DWORD cbOutBuffer,
			   LPDWORD lpcbBytesReturned,
			   LPWSAOVERLAPPED lpOverlapped,
			   LPWSAOVERLAPPED_COMPLETION_ROUTINE lpCompletionRoutine,
			   LPWSATHREADID lpThreadId, LPINT lpErrno);

/* WSAGetLastError - this thread's last Winsock error (0 at thread start). */
SOCKREDIR_API int WSAGetLastError(void);

/* WSASetLastError - set this thread's last Winsock error. */
SOCKREDIR_API void WSASetLastError(int iError);

/*
 * WSAGetOverlappedResult - the result of an overlapped WSAIoctl/WSPIoctl.
 * Returns TRUE with *lpcbTransfer = bytes transferred and *lpdwFlags = 0 if
 * the operation succeeded; FALSE with WSAGetLastError() set otherwise:
 *   s not a socket                              -> WSAENOTSOCK
 *   lpOverlapped, lpcbTransfer or lpdwFlags NULL -> WSAEFAULT
 *   still pending (Internal == STATUS_PENDING; never after this layer's
 *     calls), fWait FALSE                       -> WSA_IO_INCOMPLETE
 *   still pending, fWait TRUE: waits for hEvent, then reports; with no
 *     valid hEvent                              -> WSA_INVALID_HANDLE
 *   the operation failed -> its error, *lpcbTransfer = InternalHigh.
 */
SOCKREDIR_API BOOL WSAGetOverlappedResult(SOCKET s,
					  LPWSAOVERLAPPED lpOverlapped,
					  LPDWORD lpcbTransfer, BOOL fWait,
					  LPDWORD lpdwFlags);

/*
 * WSACreateEvent - a manual-reset event, initially not signalled.
 * Returns WSA_INVALID_EVENT (error WSA_NOT_ENOUGH_MEMORY) if out of memory.
 * The event is process-local (not an fd); close it with WSACloseEvent().
 */
SOCKREDIR_API WSAEVENT WSACreateEvent(void);

/*
 * WSACloseEvent, WSASetEvent, WSAResetEvent - close, signal, unsignal.
 * Return TRUE, or FALSE with WSA_INVALID_HANDLE for WSA_INVALID_EVENT or a
 * closed event (the latter detected on a best-effort basis only).  Closing
 * an event another thread is waiting on is undefined, as on Windows.
 */
SOCKREDIR_API BOOL WSACloseEvent(WSAEVENT hEvent);
SOCKREDIR_API BOOL WSASetEvent(WSAEVENT hEvent);
SOCKREDIR_API BOOL WSAResetEvent(WSAEVENT hEvent);

/*
 * WSAWaitForMultipleEvents - wait until one (fWaitAll FALSE) or all
 * (TRUE) of cEvents events are signalled, or dwTimeout ms (WSA_INFINITE)
 * pass.  dwTimeout 0 tests the events without waiting.
 * Returns WSA_WAIT_EVENT_0 + i (for fWaitAll FALSE, i is the lowest index
 * of a signalled event), WSA_WAIT_TIMEOUT, or WSA_WAIT_IO_COMPLETION when
 * fAlertable is TRUE and completion routines queued to this thread ran (it
 * runs them all, first thing, then returns).  WSA_WAIT_FAILED with:
 *   cEvents 0 or above WSA_MAXIMUM_WAIT_EVENTS -> WSA_INVALID_PARAMETER
 *   lphEvents NULL                              -> WSAEFAULT
 *   an invalid event                            -> WSA_INVALID_HANDLE
 * Waiting does not reset the events (they are manual-reset).
 */
SOCKREDIR_API DWORD WSAWaitForMultipleEvents(DWORD cEvents,
					     const WSAEVENT *lphEvents,
					     BOOL fWaitAll, DWORD dwTimeout,
					     BOOL fAlertable);

/*
 * sockredir_wsa_sleep - SleepEx: sleep dwMilliseconds (WSA_INFINITE: for
 * ever, unless alertable).  With bAlertable TRUE, runs this thread's queued
 * completion routines and returns WSA_WAIT_IO_COMPLETION at once if there
 * were any; otherwise returns 0 after the sleep.
 */
SOCKREDIR_API DWORD sockredir_wsa_sleep(DWORD dwMilliseconds, BOOL bAlertable);

/*
 * sockredir_wsa_error - the Winsock error WSAIoctl reports for an errno
 * from the sockredir socket options (see <sockredir.h>) under a control
 * code: ENOENT -> WSAEINVAL (records) or FWP_E_NOT_FOUND (context),
 * ENOPROTOOPT and EOPNOTSUPP -> WSAEOPNOTSUPP, ERANGE -> ERROR_INSUFFICIENT_BUFFER,
 * EPERM/EACCES -> WSAEACCES, and otherwise the WSAE* code of the same name
 * (EINTR -> WSAEINTR, ELOOP -> WSAELOOP, ECONNREFUSED -> WSAECONNREFUSED,
 * EBADF -> WSAENOTSOCK, EAGAIN and EINPROGRESS -> WSAEWOULDBLOCK as Winsock's
 * non-blocking connect() reports it ...).  dwIoControlCode 0 translates a
 * plain socket call's errno (ENOENT -> WSAEINVAL).  Unknown errnos give
 * WSAEINVAL; 0 gives 0.
 */
SOCKREDIR_API int sockredir_wsa_error(DWORD dwIoControlCode, int err);

/* ---- Start-up, for code that calls it ------------------------------------ */

#define MAKEWORD(lo, hi) ((WORD)(((BYTE)(lo)) | ((WORD)((BYTE)(hi))) << 8))
#define WSADESCRIPTION_LEN	256
#define WSASYS_STATUS_LEN	128

typedef struct WSAData {
	WORD wVersion;
	WORD wHighVersion;
	unsigned short iMaxSockets;
	unsigned short iMaxUdpDg;
	char *lpVendorInfo;
	char szDescription[WSADESCRIPTION_LEN + 1];
	char szSystemStatus[WSASYS_STATUS_LEN + 1];
} WSADATA, *LPWSADATA;

/*
 * WSAStartup - nothing to start on Linux.  Fills *lpWSAData (version 2.2)
 * and returns 0; WSAEFAULT if lpWSAData is NULL (returned, as Winsock does,
 * not set as the last error).
 */
SOCKREDIR_API int WSAStartup(WORD wVersionRequested, LPWSADATA lpWSAData);

/* WSACleanup - nothing to clean up; returns 0. */
SOCKREDIR_API int WSACleanup(void);

/* ---- kernel32 look-alikes ------------------------------------------------
 * For ported code; define SOCKREDIR_WINSOCK_NO_KERNEL32 to leave them out
 * if the program brings its own.
 */
#ifndef SOCKREDIR_WINSOCK_NO_KERNEL32
#define INFINITE		WSA_INFINITE
#define WAIT_OBJECT_0		WSA_WAIT_EVENT_0
#define WAIT_IO_COMPLETION	WSA_WAIT_IO_COMPLETION
#define WAIT_TIMEOUT		WSA_WAIT_TIMEOUT
#define WAIT_FAILED		WSA_WAIT_FAILED

/* WaitForSingleObjectEx on an event made by WSACreateEvent(). */
static inline DWORD WaitForSingleObjectEx(WSAEVENT h, DWORD ms, BOOL alertable)
{
	return WSAWaitForMultipleEvents(1, &h, TRUE, ms, alertable);
}

static inline DWORD WaitForSingleObject(WSAEVENT h, DWORD ms)
{
	return WSAWaitForMultipleEvents(1, &h, TRUE, ms, FALSE);
}

static inline DWORD SleepEx(DWORD ms, BOOL alertable)
{
	return sockredir_wsa_sleep(ms, alertable);
}

/* closesocket - close(); 0 or SOCKET_ERROR (WSAENOTSOCK for a bad fd). */
static inline int closesocket(SOCKET s)
{
	if (close(s) == 0)
		return 0;
	WSASetLastError(sockredir_wsa_error(0, errno));
	return SOCKET_ERROR;
}
#endif

#ifdef __cplusplus
}
#endif

#endif /* SOCKREDIR_WINSOCK_H */
