/* SPDX-License-Identifier: MIT */
/*
 * <sockredir/winsock.h> - the Winsock face of sockredir.
 *
 * Lets a Windows WFP redirect service (an inspecting proxy written against
 * WSAIoctl and the three SIO_*_WFP_CONNECTION_REDIRECT_* control codes, or,
 * for UDP, the IP_WFP_REDIRECT_* options with WSARecvMsg and WSASendMsg:
 * see "Datagram redirects") compile and run on Linux with few changes:
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
 *   can be aborted, and no call of this layer blocks, except WSARecvMsg and
 *   WSASendMsg on a blocking socket, which wait as recvmsg() and sendmsg()
 *   do before they complete.
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
 * ws2ipdef.h: the datagram variant's options and control-message types
 * (Windows SDK ws2ipdef.h: IP_WFP_REDIRECT_RECORDS 60 and
 * IP_WFP_REDIRECT_CONTEXT 70 at IPPROTO_IP, IPV6_WFP_REDIRECT_RECORDS 60 and
 * IPV6_WFP_REDIRECT_CONTEXT 70 at IPPROTO_IPV6).  See "Datagram redirects"
 * below.
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
 * Supports the three WFP connection-redirect codes, and
 * SIO_GET_EXTENSION_FUNCTION_POINTER for WSARecvMsg and WSASendMsg (see
 * "Datagram redirects").  Returns 0, or
 * SOCKET_ERROR with the error for WSAGetLastError().  Checks run in this
 * order; the first that fails decides the error:
 *
 *   1. s is not a socket (a pipe, a file, a closed fd)      -> WSAENOTSOCK
 *   2. dwIoControlCode is none of the three, nor
 *      SIO_GET_EXTENSION_FUNCTION_POINTER (see "Datagram
 *      redirects" below)                                    -> WSAEINVAL
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

/* ---- Datagram redirects (UDP) ---------------------------------------------
 *
 * As WFP does it for non-TCP traffic (reference section 3): the service
 * turns the options on for its UDP socket, receives each flow's records and
 * context as control data with the flow's first datagram (WSARecvMsg), and
 * passes the records on with its first upstream datagram (WSASendMsg).
 * tests/helpers/wsa_udp_proxy.c is such a service:
 *
 *	DWORD on = TRUE;
 *	s = socket(AF_INET6, SOCK_DGRAM, 0);	// dual-stack: both pairs
 *	bind(s, [::]:port);			// the service's port
 *	setsockopt(s, IPPROTO_IP, IP_WFP_REDIRECT_RECORDS, &on, sizeof on);
 *	setsockopt(s, IPPROTO_IP, IP_WFP_REDIRECT_CONTEXT, &on, sizeof on);
 *	setsockopt(s, IPPROTO_IPV6, IPV6_WFP_REDIRECT_RECORDS, &on, sizeof on);
 *	setsockopt(s, IPPROTO_IPV6, IPV6_WFP_REDIRECT_CONTEXT, &on, sizeof on);
 *	WSAIoctl(s, SIO_GET_EXTENSION_FUNCTION_POINTER, &(GUID)WSAID_WSARECVMSG,
 *		 sizeof(GUID), &recvmsg_fn, sizeof recvmsg_fn, &n, NULL, NULL);
 *	recvmsg_fn(s, &msg, &n, NULL, NULL);
 *	  // control data: IN_PKTINFO / IN6_PKTINFO (the flow: reply from it),
 *	  // and on a flow's first datagram IP(V6)_WFP_REDIRECT_RECORDS (the
 *	  // records) and IP(V6)_WFP_REDIRECT_CONTEXT (struct sockredir_context)
 *	up = socket(ctx.remote.ss_family, SOCK_DGRAM, 0);
 *	WSASendMsg(up, { name = &ctx.remote, the datagram,
 *			 control = { IPPROTO_IP, IP_WFP_REDIRECT_RECORDS, records } },
 *		   0, &n, NULL, NULL);
 *	// later datagrams: no control data.  Answers go back on s:
 *	WSASendMsg(s, { name = the application, the answer,
 *			control = { IPPROTO_IP(V6), IP(V6)_PKTINFO, the flow's
 *				    address } }, 0, &n, NULL, NULL);
 *
 * A flow is what <sockredir.h> calls one: an application socket and one
 * destination.  Each has its own endpoint address on the service's port,
 * which the proxy learns from the pktinfo of every datagram and must reply
 * from (two flows can share the application's address and port).
 *
 * setsockopt / getsockopt.  This header makes setsockopt() and getsockopt()
 * macros for sockredir_wsa_setsockopt() / sockredir_wsa_getsockopt()
 * (define SOCKREDIR_WINSOCK_NO_SOCKOPT_MACROS before including it to keep
 * libc's; (setsockopt)(...) reaches libc's too).  They answer the four
 * options above and pass every other call to the kernel unchanged (on
 * failure WSAGetLastError() gives the Winsock code of errno, which is also
 * set).  At IPPROTO_IPV6, 60 and 70 are Linux's IPV6_RECVPATHMTU and
 * IPV6_AUTOFLOWLABEL as well: through the macros those two are out of
 * reach.  The four options:
 *   set: optval points to a DWORD, TRUE (any non-zero) or FALSE; get:
 *     *optval = TRUE or FALSE (FALSE on a new socket), *optlen = 4.
 *   s not a socket                                        -> WSAENOTSOCK
 *   optval or optlen NULL, optlen (*optlen) below 4        -> WSAEFAULT
 *   s not an IPv4/IPv6 datagram socket, or an IPV6_ option
 *   on an AF_INET socket                                   -> WSAENOPROTOOPT
 * IPPROTO_IP's pair covers IPv4 datagrams (on an AF_INET6 socket too, as
 * IPv4-mapped ones), IPPROTO_IPV6's pair IPv6 ones: a dual-stack service
 * turns on both.  Turning one on also turns on the kernel's pktinfo for that
 * family (IP_PKTINFO, IPV6_RECVPKTINFO) and, for IPv6, IPV6_FREEBIND, so that
 * the service can reply from IPv6 flow endpoints; those stay on.
 *
 * The options belong to the socket, kept by this library per process (a
 * closed socket's descriptor reused for another socket starts afresh: the
 * layer checks the kernel's socket cookie).  So do which flows' records and
 * context it delivered: one entry per flow endpoint seen, at most the
 * layer's pool sizes (`sockredir up --udp-pool4/6`).
 *
 * SIO_GET_EXTENSION_FUNCTION_POINTER (WSAIoctl) on any socket, with
 * lpvInBuffer a GUID: WSAID_WSARECVMSG or WSAID_WSASENDMSG puts the function
 * in *lpvOutBuffer, *lpcbBytesReturned = the size of a pointer.
 *   lpvInBuffer NULL or cbInBuffer below sizeof(GUID), lpvOutBuffer NULL
 *   or cbOutBuffer below the size of a pointer               -> WSAEFAULT
 *   another GUID                                             -> WSAEINVAL
 * WSARecvMsg and WSASendMsg are also exported under their names.
 *
 * Control data is a WSAMSG's Control buffer of WSACMSGHDRs, walked with the
 * WSA_CMSG_* macros below; their layout is Linux's struct cmsghdr, aligned
 * to sizeof(size_t), as Windows' on x64.  The names of types and flags are
 * Linux's (IP_PKTINFO 8, IPV6_PKTINFO 50, MSG_TRUNC, MSG_CTRUNC, MSG_PEEK),
 * as for SO_ORIGINAL_DST: code that uses the names compiles to the values
 * the kernel understands.  The IPv4 pktinfo is Windows' IN_PKTINFO (address,
 * then interface), not Linux's struct in_pktinfo.
 */

/* WSAID_WSARECVMSG / WSAID_WSASENDMSG, as in mswsock.h. */
typedef struct _GUID {
	uint32_t Data1;
	uint16_t Data2;
	uint16_t Data3;
	uint8_t Data4[8];
} GUID;

#define SIO_GET_EXTENSION_FUNCTION_POINTER _WSAIORW(IOC_WS2, 6)	/* 0xC8000006 */
#define WSAID_WSARECVMSG \
	{ 0xf689d7c8, 0x6f1f, 0x436b, { 0x8a, 0x53, 0xe5, 0x4f, 0xe3, 0x51, 0xc3, 0x22 } }
#define WSAID_WSASENDMSG \
	{ 0xa441e712, 0x754f, 0x43ca, { 0x84, 0xa7, 0x0d, 0xee, 0x44, 0xcf, 0x60, 0x6d } }

typedef SOCKADDR *LPSOCKADDR;

typedef struct _WSABUF {
	ULONG len;
	char *buf;
} WSABUF, *LPWSABUF;

typedef struct _WSAMSG {
	LPSOCKADDR name;	/* the peer: filled in, or where to send */
	INT namelen;		/* in: its size; out: the address's */
	LPWSABUF lpBuffers;
	ULONG dwBufferCount;
	WSABUF Control;		/* out: Control.len = the bytes filled in */
	ULONG dwFlags;		/* out: MSG_TRUNC, MSG_CTRUNC */
} WSAMSG, *LPWSAMSG;

typedef struct _WSACMSGHDR {
	size_t cmsg_len;	/* WSA_CMSG_LEN(data length) */
	INT cmsg_level;
	INT cmsg_type;
} WSACMSGHDR, *LPWSACMSGHDR;

#define SOCKREDIR_WSA_CMSG_ALIGN(n) \
	(((size_t)(n) + sizeof(size_t) - 1) & ~(sizeof(size_t) - 1))
#define WSA_CMSG_DATA(c) \
	((unsigned char *)(c) + SOCKREDIR_WSA_CMSG_ALIGN(sizeof(WSACMSGHDR)))
#define WSA_CMSG_SPACE(n) \
	(SOCKREDIR_WSA_CMSG_ALIGN(sizeof(WSACMSGHDR)) + SOCKREDIR_WSA_CMSG_ALIGN(n))
#define WSA_CMSG_LEN(n) (SOCKREDIR_WSA_CMSG_ALIGN(sizeof(WSACMSGHDR)) + (n))
#define WSA_CMSG_FIRSTHDR(msg) \
	((msg)->Control.buf && (msg)->Control.len >= sizeof(WSACMSGHDR) ? \
	 (LPWSACMSGHDR)(void *)(msg)->Control.buf : (LPWSACMSGHDR)NULL)
/* The header after @c (the first if @c is NULL), or NULL past the end. */
static inline LPWSACMSGHDR sockredir_wsa_cmsg_next(const WSAMSG *msg,
						   const WSACMSGHDR *c)
{
	size_t off;

	if (!c)
		return WSA_CMSG_FIRSTHDR(msg);
	if (c->cmsg_len < sizeof(WSACMSGHDR))
		return NULL;
	off = (size_t)((const char *)c - msg->Control.buf) +
	      SOCKREDIR_WSA_CMSG_ALIGN(c->cmsg_len);
	if (off + sizeof(WSACMSGHDR) > msg->Control.len)
		return NULL;
	return (LPWSACMSGHDR)(void *)(msg->Control.buf + off);
}
#define WSA_CMSG_NXTHDR(msg, c) sockredir_wsa_cmsg_next((msg), (c))

/* Windows' pktinfo layouts (ws2ipdef.h). */
typedef struct sockredir_in_pktinfo {
	struct in_addr ipi_addr;	/* received: where the datagram was
					 * sent; sending: the source address */
	ULONG ipi_ifindex;
} IN_PKTINFO;
typedef struct sockredir_in6_pktinfo {
	struct in6_addr ipi6_addr;
	ULONG ipi6_ifindex;
} IN6_PKTINFO;

/*
 * The control buffer that holds everything WSARecvMsg may add: an IPv4 and
 * an IPv6 pktinfo, the records and the context.  Options the service turned
 * on itself (IP_TOS ...) need their own room on top.
 */
#define SOCKREDIR_WSA_RECV_CONTROL \
	(WSA_CMSG_SPACE(sizeof(IN_PKTINFO)) + WSA_CMSG_SPACE(sizeof(IN6_PKTINFO)) + \
	 WSA_CMSG_SPACE(SOCKREDIR_RECORDS_MAX) + \
	 WSA_CMSG_SPACE(sizeof(struct sockredir_context)))
/* Control data WSASendMsg takes at most. */
#define SOCKREDIR_WSA_SEND_CONTROL_MAX	4096

typedef INT (*LPFN_WSARECVMSG)(SOCKET s, LPWSAMSG lpMsg,
			       LPDWORD lpdwNumberOfBytesRecvd,
			       LPWSAOVERLAPPED lpOverlapped,
			       LPWSAOVERLAPPED_COMPLETION_ROUTINE lpCompletionRoutine);
typedef INT (*LPFN_WSASENDMSG)(SOCKET s, LPWSAMSG lpMsg, DWORD dwFlags,
			       LPDWORD lpNumberOfBytesSent,
			       LPWSAOVERLAPPED lpOverlapped,
			       LPWSAOVERLAPPED_COMPLETION_ROUTINE lpCompletionRoutine);

/*
 * WSARecvMsg - receive one datagram, with its control data.
 *
 * Returns 0 with the datagram in lpBuffers (*lpdwNumberOfBytesRecvd, when
 * not NULL, its length), the sender in name/namelen, and Control.len the
 * control data filled in; or SOCKET_ERROR with WSAGetLastError():
 *   s not a socket                                      -> WSAENOTSOCK
 *   lpMsg NULL; lpBuffers NULL with dwBufferCount not 0; Control.buf
 *   NULL with Control.len not 0; name given with namelen too small for
 *   the socket's addresses; a WSABUF with buf NULL and len not 0
 *   (checked last)                                      -> WSAEFAULT
 *   lpMsg->dwFlags other than 0 or MSG_PEEK             -> WSAEOPNOTSUPP
 *   s not a datagram socket, or not bound               -> WSAEINVAL
 *   nothing to read on a non-blocking socket            -> WSAEWOULDBLOCK
 *   the redirect layer refused the flow's query (e.g. the caller is not
 *   the owner of its service: WSAEACCES); the datagram is then gone, as
 *   UDP may lose one.
 * Checks run in that order, before anything is received.  lpMsg->dwFlags
 * comes back with MSG_TRUNC (the datagram did not fit) and MSG_CTRUNC (the
 * control data did not).
 *
 * The control data, in this order: the kernel's (the pktinfo, the IPv4 one
 * as IN_PKTINFO, and whatever else the socket asked for), then, on a
 * redirected flow's first datagram and for each option turned on for the
 * datagram's family, the records (IP(V6)_WFP_REDIRECT_RECORDS, the opaque
 * blob, at most SOCKREDIR_RECORDS_MAX bytes) and the context
 * (IP(V6)_WFP_REDIRECT_CONTEXT, a whole struct sockredir_context, whose
 * first 256 bytes are SOCKADDR_STORAGE[2] = { original destination, the
 * application's address }).  Level IPPROTO_IP for IPv4 datagrams,
 * IPPROTO_IPV6 for IPv6.  Datagrams that no redirect brought (sent
 * straight to the service's port, or with the layer absent) carry only
 * the kernel's control data.
 *
 * First datagram.  Only a flow's first datagram carries the records and the
 * context, as on Windows ("only the flow-creating packet").  A flow is
 * told by its endpoint and its flow id: a new flow on an endpoint an ended
 * one had is a new flow.  A control buffer too small for them (Windows
 * would truncate and the records would be lost): what fits is delivered,
 * MSG_CTRUNC is set, and what did not fit is kept: it comes with that
 * flow's next datagram instead, until delivered.  SOCKREDIR_WSA_RECV_CONTROL
 * bytes are always enough.  MSG_PEEK delivers them and keeps them for the
 * next receive as well.
 *
 * lpOverlapped: the call completes before it returns, as WSAIoctl's (see
 * the top of this file): on a blocking socket it waits for a datagram
 * first, so an overlapped receive wants a non-blocking socket.
 */
SOCKREDIR_API INT WSARecvMsg(SOCKET s, LPWSAMSG lpMsg,
			     LPDWORD lpdwNumberOfBytesRecvd,
			     LPWSAOVERLAPPED lpOverlapped,
			     LPWSAOVERLAPPED_COMPLETION_ROUTINE lpCompletionRoutine);

/*
 * WSASendMsg - send one datagram, with control data.
 *
 * The control data may hold, at most once each:
 *   IPPROTO_IP / IP_WFP_REDIRECT_RECORDS (on an AF_INET6 socket also
 *     IPPROTO_IPV6 / IPV6_WFP_REDIRECT_RECORDS): records, as WSARecvMsg
 *     gave them.  They are given to s (as setsockopt(SOL_SOCKREDIR,
 *     SOCKREDIR_RECORDS) would) before the datagram leaves, so that the
 *     datagram and every later one of s is the flow's next hop.  Only on
 *     s's first datagram: before s is bound or connected, as SET asks.
 *   IPPROTO_IP / IP_PKTINFO (IN_PKTINFO): send from ipi_addr (and through
 *     ipi_ifindex, if not 0): a reply from the flow's endpoint.
 *   IPPROTO_IPV6 / IPV6_PKTINFO (IN6_PKTINFO), on an AF_INET6 socket.
 * Returns 0 (*lpNumberOfBytesSent, when not NULL, the bytes sent), or
 * SOCKET_ERROR with WSAGetLastError(), checked in this order; on each of
 * these nothing is sent and s is unchanged:
 *   s not a socket                                      -> WSAENOTSOCK
 *   lpMsg NULL; lpBuffers NULL with dwBufferCount not 0; Control.buf
 *   NULL with Control.len not 0; name given with namelen not above 0;
 *   a WSABUF with buf NULL and len not 0 (checked after the control
 *   data)                                               -> WSAEFAULT
 *   dwFlags other than 0 or MSG_DONTROUTE               -> WSAEOPNOTSUPP
 *   s not a datagram socket                             -> WSAEINVAL
 *   bad control data                                    -> WSAEINVAL:
 *     Control.len above SOCKREDIR_WSA_SEND_CONTROL_MAX; a header cut
 *     short, a cmsg_len below WSA_CMSG_LEN(0) or past the buffer; any
 *     other level or type (the context included); records of 0 bytes or
 *     above SOCKREDIR_RECORDS_MAX; a pktinfo of the wrong size; the same
 *     kind twice
 *   records, and s is connected, bound or has sent      -> WSAEISCONN
 *   records, and s has other records already (given by an earlier call
 *   or by setsockopt through this header)               -> WSAEALREADY
 *     (the same records again, on a socket still unbound: accepted, given
 *     once)
 *   records the layer refuses: not a service owner (nor root) -> WSAEACCES
 *     on a socket made in another service's owner cgroup, WSAEOPNOTSUPP on
 *     one made where no proxy runs (the option hooks are not there);
 *     not issued by the layer, or their flow has ended   -> WSAEINVAL;
 *     layer absent                                      -> WSAEOPNOTSUPP
 * Then the kernel's errors for the send (WSAEACCES for a block rule: EPERM,
 * WSAECONNREFUSED, WSAENOBUFS ... by sockredir_wsa_error()); records given
 * stay on s even if the send then fails.  lpOverlapped: as WSARecvMsg.
 */
SOCKREDIR_API INT WSASendMsg(SOCKET s, LPWSAMSG lpMsg, DWORD dwFlags,
			     LPDWORD lpNumberOfBytesSent,
			     LPWSAOVERLAPPED lpOverlapped,
			     LPWSAOVERLAPPED_COMPLETION_ROUTINE lpCompletionRoutine);

/* setsockopt and getsockopt with the four options above (see there). */
SOCKREDIR_API int sockredir_wsa_setsockopt(SOCKET s, int level, int optname,
					   const void *optval, socklen_t optlen);
SOCKREDIR_API int sockredir_wsa_getsockopt(SOCKET s, int level, int optname,
					   void *optval, socklen_t *optlen);
#ifndef SOCKREDIR_WINSOCK_NO_SOCKOPT_MACROS
#define setsockopt(s, level, name, val, len) \
	sockredir_wsa_setsockopt((s), (level), (name), (val), (socklen_t)(len))
#define getsockopt(s, level, name, val, len) \
	sockredir_wsa_getsockopt((s), (level), (name), (val), (socklen_t *)(len))
#endif

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
