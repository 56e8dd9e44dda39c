"""What the test helpers share (attack.py, redteam.py, mptcp.py, peerget.py).

Each helper prints what it got and decides nothing; these are the pieces
more than one of them does the same way: the layer's socket options, errno
names, a service's claimed listener and its flows, one HTTP/1.0 GET.
"""
import errno
import socket
import sys

SOL_SOCKREDIR, RECORDS, CONTEXT, CLAIM, QUERY = 0x5352, 1, 2, 3, 5


def err(e):
    """An OSError's errno name (its text if it has none, as a timeout)."""
    return errno.errorcode.get(e.errno, str(e))


def family(addr):
    return socket.AF_INET6 if ":" in addr else socket.AF_INET


def peer(s):
    """getpeername() as ADDR:PORT, [ADDR]:PORT for IPv6."""
    p = s.getpeername()
    return ("[%s]:%d" if ":" in p[0] else "%s:%d") % p[:2]


def claimed_listener(name, port, backlog=64):
    """A listener on 127.0.0.1:PORT that claims service NAME."""
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", int(port)))
    s.listen(backlog)
    s.setsockopt(SOL_SOCKREDIR, CLAIM, name.encode())
    return s


def take_flows(name, port, n, wait, answer=None, show=None):
    """Be service NAME's proxy on 127.0.0.1:PORT for N flows, each within
    WAIT seconds: print "flow CONTEXT FIRST-LINE" for each (CONTEXT: OK or
    the errno name of a CONTEXT query; FIRST-LINE: the first line the
    client sent, or the errno name of reading it), answer with ANSWER if
    given, close.  With SHOW, "flow CONTEXT SHOWN FIRST-LINE": SHOWN is
    SHOW(the context's bytes), "-" without one.  An accept that fails (no
    flow came) prints "accept ERRNO" and ends it."""
    s = claimed_listener(name, port)
    s.settimeout(wait)      # a flow that never came: the test says so
    for _ in range(int(n)):
        try:
            c, _ = s.accept()
        except OSError as e:
            print("accept %s" % err(e), flush=True)
            break
        shown = ""
        try:
            ctx = c.getsockopt(SOL_SOCKREDIR, CONTEXT, 1024)
            got = "OK"
            if show:
                shown = show(ctx) + " "
        except OSError as e:
            got = err(e)
            if show:
                shown = "- "
        c.settimeout(3)
        try:
            data = c.recv(64).split(b"\n")[0].decode(errors="replace")
            if answer:
                c.sendall(answer)
        except OSError as e:
            data = err(e)
        print("flow %s %s%s" % (got, shown, data), flush=True)
        c.close()
    return "done"


def run(cmds, doc):
    """A helper script's main: argv[1] names one of CMDS, called with the
    rest; print what it returns.  Anything else: DOC, and exit 1."""
    if len(sys.argv) < 2 or sys.argv[1] not in cmds:
        sys.exit(doc)
    print(cmds[sys.argv[1]](*sys.argv[2:]), flush=True)


def http_get(s, host, port, path, peer_of=peer):
    """Connect S to HOST PORT and GET PATH over HTTP/1.0 on it; print
    "PEER STATUS BODY" (PEER: peer_of(S)), or "- ERRNO" if the connect
    failed, "PEER ERRNO" if the exchange did."""
    try:
        s.connect((host, int(port)))
    except OSError as e:
        print("- %s" % err(e))
        return
    p = peer_of(s)
    try:
        name = host if s.family == socket.AF_INET else "[%s]" % host
        s.sendall(b"GET %s HTTP/1.0\r\nHost: %s:%s\r\n\r\n"
                  % (path.encode(), name.encode(), str(port).encode()))
        reply = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            reply += chunk
    except OSError as e:
        print(p, err(e))
        return
    head, _, body = reply.partition(b"\r\n\r\n")
    status = head.split(b" ")[1].decode() if head.startswith(b"HTTP/") else "none"
    # No trailing blank for an empty body: "PEER none" is a reply that never came.
    print(("%s %s %s" % (p, status, body.decode(errors="replace").strip())).rstrip())


def socket_unspec(s):
    """connect(AF_UNSPEC) through ctypes: Python's connect wants an
    address of the socket's family."""
    import ctypes
    libc = ctypes.CDLL(None, use_errno=True)
    sa = (ctypes.c_ubyte * 16)()        # sa_family 0 = AF_UNSPEC
    if libc.connect(s.fileno(), sa, 16) != 0:
        e = ctypes.get_errno()
        raise OSError(e, errno.errorcode.get(e, str(e)))
