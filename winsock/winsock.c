// SPDX-License-Identifier: MIT
/*
 * winsock.c - WSAIoctl/WSPIoctl for the three WFP connection-redirect
 * control codes, over the SOL_SOCKREDIR socket options.  The rules are
 * written once, in <sockredir/winsock.h>; this file follows them in order.
 */
#define SOCKREDIR_WINSOCK_NO_SOCKOPT_MACROS
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include "sockredir/winsock.h"
#include "internal.h"

#define ADDRS_ONLY ((DWORD)(2 * sizeof(SOCKADDR_STORAGE)))

static __thread int last_error;

SOCKREDIR_API int WSAGetLastError(void)
{
	return last_error;
}

SOCKREDIR_API void WSASetLastError(int iError)
{
	last_error = iError;
}

SOCKREDIR_API int sockredir_wsa_error(DWORD code, int err)
{
	switch (err) {
	case 0:			return 0;
	case ENOENT:
		return code == SIO_QUERY_WFP_CONNECTION_REDIRECT_CONTEXT ?
		       FWP_E_NOT_FOUND : WSAEINVAL;
	case ENOPROTOOPT:	return WSAEOPNOTSUPP;
	case ERANGE:		return ERROR_INSUFFICIENT_BUFFER;
	case EPERM:
	case EACCES:		return WSAEACCES;
	case EBADF:
	case ENOTSOCK:		return WSAENOTSOCK;
	case EAGAIN:
	case EINPROGRESS:	return WSAEWOULDBLOCK;
	case EINTR:		return WSAEINTR;
	case EFAULT:		return WSAEFAULT;
	case EINVAL:		return WSAEINVAL;
	case EMFILE:		return WSAEMFILE;
	case EALREADY:		return WSAEALREADY;
	case EDESTADDRREQ:	return WSAEDESTADDRREQ;
	case EMSGSIZE:		return WSAEMSGSIZE;
	case EPROTOTYPE:	return WSAEPROTOTYPE;
	case EPROTONOSUPPORT:	return WSAEPROTONOSUPPORT;
	case ESOCKTNOSUPPORT:	return WSAESOCKTNOSUPPORT;
	case EOPNOTSUPP:	return WSAEOPNOTSUPP;
	case EPFNOSUPPORT:	return WSAEPFNOSUPPORT;
	case EAFNOSUPPORT:	return WSAEAFNOSUPPORT;
	case EADDRINUSE:	return WSAEADDRINUSE;
	case EADDRNOTAVAIL:	return WSAEADDRNOTAVAIL;
	case ENETDOWN:		return WSAENETDOWN;
	case ENETUNREACH:	return WSAENETUNREACH;
	case ENETRESET:		return WSAENETRESET;
	case ECONNABORTED:	return WSAECONNABORTED;
	case ECONNRESET:
	case EPIPE:		return WSAECONNRESET;
	case ENOMEM:
	case ENOBUFS:		return WSAENOBUFS;
	case EISCONN:		return WSAEISCONN;
	case ENOTCONN:		return WSAENOTCONN;
	case ESHUTDOWN:		return WSAESHUTDOWN;
	case ETOOMANYREFS:	return WSAETOOMANYREFS;
	case ETIMEDOUT:		return WSAETIMEDOUT;
	case ECONNREFUSED:	return WSAECONNREFUSED;
	case ELOOP:		return WSAELOOP;
	case ENAMETOOLONG:	return WSAENAMETOOLONG;
	case EHOSTDOWN:		return WSAEHOSTDOWN;
	case EHOSTUNREACH:	return WSAEHOSTUNREACH;
	default:		return WSAEINVAL;
	}
}

static int sockopt_int(int fd, int name, int *val)
{
	socklen_t len = sizeof(*val);

	return getsockopt(fd, SOL_SOCKET, name, val, &len) < 0 ? -errno : 0;
}

/* Step 1: a socket at all (EBADF too: Winsock has no "bad fd" here). */
static int socket_protocol(int fd, int *proto)
{
	int err = sockopt_int(fd, SO_PROTOCOL, proto);

	return err ? sockredir_wsa_error(0, -err) : 0;
}

/* Step 5: TCP over IPv4 or IPv6. */
static int check_is_tcp(int fd, int proto)
{
	int domain, err = sockopt_int(fd, SO_DOMAIN, &domain);

	if (err)
		return sockredir_wsa_error(0, -err);
	if (proto != IPPROTO_TCP || (domain != AF_INET && domain != AF_INET6))
		return WSAEINVAL;
	return 0;
}

/* Step 6 for SET: a fresh socket, neither listening nor connecting. */
static int check_set_state(int fd)
{
	struct tcp_info ti;
	socklen_t len = sizeof(ti);

	if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) < 0)
		return sockredir_wsa_error(0, errno);
	if (ti.tcpi_state == TCP_LISTEN)
		return WSAEINVAL;
	if (ti.tcpi_state != TCP_CLOSE)
		return WSAEISCONN;
	return 0;
}

/* Step 6 for the queries: connected. */
static int check_connected(int fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	if (getpeername(fd, (struct sockaddr *)&ss, &len) < 0)
		return sockredir_wsa_error(0, errno);
	return 0;
}

/*
 * The kernel cannot say how much it needed when a buffer is too small
 * (ERANGE), so always read the largest answer and apply Winsock's buffer
 * protocol here.  @partial, if not 0, is a shorter prefix a buffer of at
 * least that size may receive instead (the context's two addresses).
 */
static int query(int fd, DWORD code, int optname, void *out, DWORD cb_out,
		 DWORD partial, DWORD *bytes)
{
	union {
		uint8_t records[SOCKREDIR_RECORDS_MAX];
		struct sockredir_context ctx;
	} buf;
	socklen_t len = optname == SOCKREDIR_RECORDS ?
			sizeof(buf.records) : sizeof(buf.ctx);

	if (getsockopt(fd, SOL_SOCKREDIR, optname, &buf, &len) < 0)
		return errno == ERANGE ? WSAEINVAL : sockredir_wsa_error(code, errno);
	if (len == 0)	/* no answer is no redirect, never an empty success */
		return sockredir_wsa_error(code, ENOENT);
	if (out && cb_out >= len) {
		memcpy(out, &buf, len);
		*bytes = len;
		return 0;
	}
	if (out && partial && cb_out >= partial && len > partial) {
		memcpy(out, &buf, partial);
		*bytes = partial;
		return 0;
	}
	*bytes = len;
	return ERROR_INSUFFICIENT_BUFFER;
}

static int set_records(int fd, const void *in, DWORD cb_in)
{
	if (setsockopt(fd, SOL_SOCKREDIR, SOCKREDIR_RECORDS, in, cb_in) < 0)
		return sockredir_wsa_error(SIO_SET_WFP_CONNECTION_REDIRECT_RECORDS,
					   errno);
	return 0;
}

struct ioctl_call {
	SOCKET s;
	DWORD code;
	const void *in;
	DWORD cb_in;
	void *out;
	DWORD cb_out;
	LPDWORD ret;
	LPWSAOVERLAPPED ov;
	LPWSAOVERLAPPED_COMPLETION_ROUTINE routine;
	const WSATHREADID *tid;
	int need_tid;		/* WSPIoctl */
};

/* Steps 1 to 7; returns the Winsock error, *@bytes the size out or needed. */
static int ioctl_steps(const struct ioctl_call *c, DWORD *bytes)
{
	int query_code, proto, err;

	err = socket_protocol(c->s, &proto);
	if (err)
		return err;
	query_code = c->code == SIO_QUERY_WFP_CONNECTION_REDIRECT_RECORDS ||
		     c->code == SIO_QUERY_WFP_CONNECTION_REDIRECT_CONTEXT;
	if (!query_code && c->code != SIO_SET_WFP_CONNECTION_REDIRECT_RECORDS &&
	    c->code != SIO_GET_EXTENSION_FUNCTION_POINTER)
		return WSAEINVAL;
	if (!c->ret && !c->ov)
		return WSAEFAULT;
	if (c->need_tid && c->ov && c->routine && !c->tid)
		return WSAEFAULT;
	/* Any socket, TCP or not: WSARecvMsg and WSASendMsg are for UDP. */
	if (c->code == SIO_GET_EXTENSION_FUNCTION_POINTER)
		return wsa_extension(c->in, c->cb_in, c->out, c->cb_out, bytes);
	if (!query_code) {
		if (c->cb_out)
			return WSAEINVAL;
		if (!c->in && c->cb_in)
			return WSAEFAULT;
		if (!c->cb_in || c->cb_in > SOCKREDIR_RECORDS_MAX)
			return WSAEINVAL;
	}
	err = check_is_tcp(c->s, proto);
	if (err)
		return err;
	err = query_code ? check_connected(c->s) : check_set_state(c->s);
	if (err)
		return err;

	switch (c->code) {
	case SIO_QUERY_WFP_CONNECTION_REDIRECT_RECORDS:
		return query(c->s, c->code, SOCKREDIR_RECORDS, c->out, c->cb_out,
			     0, bytes);
	case SIO_QUERY_WFP_CONNECTION_REDIRECT_CONTEXT:
		return query(c->s, c->code, SOCKREDIR_CONTEXT, c->out, c->cb_out,
			     ADDRS_ONLY, bytes);
	default:
		return set_records(c->s, c->in, c->cb_in);
	}
}

/* Runs the call and reports it; returns the Winsock error (0: success). */
static int ioctl_call(const struct ioctl_call *c)
{
	LPWSAOVERLAPPED_COMPLETION_ROUTINE routine = c->ov ? c->routine : NULL;
	struct wsa_apc *apc = NULL;
	DWORD bytes = 0;
	int err;

	if (routine) {
		apc = wsa_apc_new();
		if (!apc)
			return WSAENOBUFS;
	}
	err = ioctl_steps(c, &bytes);
	if (err && err != ERROR_INSUFFICIENT_BUFFER)
		bytes = 0;
	if (c->ret)
		*c->ret = bytes;
	if (c->ov) {
		c->ov->Internal = (ULONG_PTR)(DWORD)err;
		c->ov->InternalHigh = bytes;
	}
	if (err) {
		wsa_apc_free(apc);
		return err;
	}
	if (c->ov)
		wsa_complete(c->ov, routine, apc, bytes, c->tid);
	return 0;
}

SOCKREDIR_API int WSAIoctl(SOCKET s, DWORD dwIoControlCode,
			   LPVOID lpvInBuffer, DWORD cbInBuffer,
			   LPVOID lpvOutBuffer, DWORD cbOutBuffer,
			   LPDWORD lpcbBytesReturned,
			   LPWSAOVERLAPPED lpOverlapped,
			   LPWSAOVERLAPPED_COMPLETION_ROUTINE lpCompletionRoutine)
{
	struct ioctl_call c = {
		.s = s, .code = dwIoControlCode,
		.in = lpvInBuffer, .cb_in = cbInBuffer,
		.out = lpvOutBuffer, .cb_out = cbOutBuffer,
		.ret = lpcbBytesReturned, .ov = lpOverlapped,
		.routine = lpCompletionRoutine,
	};
	int err = ioctl_call(&c);

	if (!err)
		return 0;
	WSASetLastError(err);
	return SOCKET_ERROR;
}

SOCKREDIR_API int WSPIoctl(SOCKET s, DWORD dwIoControlCode,
			   LPVOID lpvInBuffer, DWORD cbInBuffer,
			   LPVOID lpvOutBuffer, DWORD cbOutBuffer,
			   LPDWORD lpcbBytesReturned,
			   LPWSAOVERLAPPED lpOverlapped,
			   LPWSAOVERLAPPED_COMPLETION_ROUTINE lpCompletionRoutine,
			   LPWSATHREADID lpThreadId, LPINT lpErrno)
{
	struct ioctl_call c = {
		.s = s, .code = dwIoControlCode,
		.in = lpvInBuffer, .cb_in = cbInBuffer,
		.out = lpvOutBuffer, .cb_out = cbOutBuffer,
		.ret = lpcbBytesReturned, .ov = lpOverlapped,
		.routine = lpCompletionRoutine,
		.tid = lpThreadId, .need_tid = 1,
	};
	int err;

	if (!lpErrno) {
		WSASetLastError(WSAEFAULT);
		return SOCKET_ERROR;
	}
	err = ioctl_call(&c);
	if (!err)
		return 0;
	*lpErrno = err;
	WSASetLastError(err);
	return SOCKET_ERROR;
}

SOCKREDIR_API int WSAStartup(WORD wVersionRequested, LPWSADATA lpWSAData)
{
	if (!lpWSAData)
		return WSAEFAULT;
	memset(lpWSAData, 0, sizeof(*lpWSAData));
	lpWSAData->wVersion = MAKEWORD(2, 2);
	lpWSAData->wHighVersion = MAKEWORD(2, 2);
	strcpy(lpWSAData->szDescription, "sockredir Winsock layer");
	strcpy(lpWSAData->szSystemStatus, "Running");
	return 0;
}

SOCKREDIR_API int WSACleanup(void)
{
	return 0;
}
