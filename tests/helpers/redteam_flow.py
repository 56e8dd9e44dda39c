#!/usr/bin/env python3
"""The red team's moves against the smaller flow (per-socket state by role:
sr_conns on the redirected socket, the flow's body in sr_connect_flows by
socket cookie until its publish), for tests/integration/redteam.sh, one per
subcommand.  Beside redteam.py's moves, on their own so that each file can
change without the other.

Each prints what it got ("OK" or the errno name, and what the peer looked
like); nothing here decides whether an attack worked.

  again TAG A P A2 P2          connect to A P, send hi-TAG, read the reply
                               (the proxy adopted the flow), connect() the
                               connected socket again to A2 P2; print
                               "first PEER", "again RESULT PEER"
  racing TAG A P A2 P2 [READY] non-blocking connect to A P, at once
                               connect() again to A2 P2 (the first still in
                               flight), touch READY; then send hi-TAG, read;
                               print "again RESULT", "sent RESULT PEER"
  mpunspec TAG A P A2 P2       MPTCP: connect to A P, send hi-TAG, read,
                               connect(AF_UNSPEC), connect to A2 P2, send
                               hi-TAG-again, read; print each step and peer
  closing HOW A P N            N non-blocking connects to A P (their SYNs
                               lost), each closed while connecting (HOW:
                               close, or shutdown then close); print
                               "started N" and how many were refused
  ctxproxy NAME PORT N         claim NAME on 127.0.0.1:PORT, take N flows;
                               print "flow RESULT DST line" each (DST:
                               the original remote its CONTEXT gave)
"""
import select
import signal
import socket

from srtest import err, family, peer, run, socket_unspec, take_flows

IPPROTO_MPTCP = 262
SO_PROTOCOL = 38


def again(tag, addr, port, addr2, port2):
    """connect() on a connected redirected socket runs the connect hook
    again (the kernel's pre_connect comes before its EISCONN)."""
    signal.alarm(10)
    s = socket.socket(family(addr))
    out = []
    try:
        s.connect((addr, int(port)))
        s.sendall(b"hi-%s\n" % tag.encode())
        s.recv(16)
        out.append("first " + peer(s))
    except OSError as e:
        return "first " + err(e)
    try:
        s.connect((addr2, int(port2)))
        out.append("again OK " + peer(s))
    except OSError as e:
        out.append("again %s %s" % (err(e), peer(s)))
    s.close()
    return "\n".join(out)


def racing(tag, addr, port, addr2, port2, ready=None):
    signal.alarm(10)
    s = socket.socket(family(addr))
    s.setblocking(False)
    out = []
    try:
        s.connect((addr, int(port)))
    except BlockingIOError:
        pass
    except OSError as e:
        return "first " + err(e)
    try:
        s.connect((addr2, int(port2)))
        out.append("again OK")
    except OSError as e:
        out.append("again " + err(e))
    if ready:
        open(ready, "w").close()
    select.select([], [s], [], 5)
    s.setblocking(True)
    s.settimeout(3)
    try:
        s.sendall(b"hi-%s\n" % tag.encode())
        s.recv(16)
        out.append("sent OK " + peer(s))
    except OSError as e:
        out.append("sent " + err(e))
    s.close()
    return "\n".join(out)


def mpunspec(tag, addr, port, addr2, port2):
    signal.alarm(10)
    s = socket.socket(family(addr), socket.SOCK_STREAM, IPPROTO_MPTCP)
    if s.getsockopt(socket.SOL_SOCKET, SO_PROTOCOL) != IPPROTO_MPTCP:
        return "not-mptcp"
    s.settimeout(3)
    out = []
    for n, (a, p, line) in enumerate(((addr, port, tag), (addr2, port2, tag + "-again"))):
        name = "second" if n else "first"
        try:
            s.connect((a, int(p)))
            s.sendall(b"hi-%s\n" % line.encode())
            s.recv(16)
            out.append("%s OK %s" % (name, peer(s)))
        except OSError as e:
            out.append("%s %s" % (name, err(e)))
        if not n:
            try:
                socket_unspec(s)
            except OSError as e:
                out.append("unspec " + err(e))
    s.close()
    return "\n".join(out)


def closing(how, addr, port, n):
    socks, refused = [], 0
    for _ in range(int(n)):
        s = socket.socket(family(addr))
        s.setblocking(False)
        try:
            s.connect((addr, int(port)))
        except BlockingIOError:
            pass
        except OSError:
            refused += 1
            s.close()
            continue
        socks.append(s)
    for s in socks:
        if how == "shutdown":
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        s.close()
    return "started %d refused %d" % (len(socks), refused)


def context_dst(b):
    """The original remote, the CONTEXT's first struct sockaddr_storage."""
    fam = int.from_bytes(b[0:2], "little")
    port = int.from_bytes(b[2:4], "big")
    if fam == socket.AF_INET:
        return "%s:%d" % (socket.inet_ntop(fam, b[4:8]), port)
    if fam == socket.AF_INET6:
        return "[%s]:%d" % (socket.inet_ntop(fam, b[8:24]), port)
    return "family-%d" % fam


def ctxproxy(name, port, n):
    return take_flows(name, port, n, 30, b"bye\n", show=context_dst)


def main():
    run({"again": again, "racing": racing, "mpunspec": mpunspec,
         "closing": closing, "ctxproxy": ctxproxy}, __doc__)

if __name__ == "__main__":
    main()
