#!/usr/bin/env python3
"""The red team's moves for tests/integration/redteam.sh, one per subcommand.

Each prints what it got ("OK" or the errno name; some add what the peer
looked like); nothing here decides whether an attack worked.

  tfo ADDR PORT                sendto(MSG_FASTOPEN) on a new socket, no
                               connect; then read the answer to a request
  tfoconnect ADDR PORT         TCP_FASTOPEN_CONNECT, then connect
  reconnect A1 P1 A2 P2 ...    one socket, connect to each in turn (after a
                               failed one); print each result
  unspec ADDR PORT ADDR2 PORT2 connect, send a line, connect(AF_UNSPEC),
                               then connect again to ADDR2 PORT2
  late TAG A P A2 P2 READY GO  one socket: connect to A P, touch READY,
                               wait for GO to exist (then connect(AF_UNSPEC)
                               if connected), connect to A2 P2 with line
                               hi-TAG, connect(AF_UNSPEC), connect to A2 P2
                               again with hi-TAG-again; print each peer
  usercc                       (as a user namespace's root) set the layer's
                               congestion control on a socket, connect it
                               to a listener of its own; print what it got
  ccfirst ADDR PORT            set reno before connect; print the peer and
                               the congestion control the socket has
  query ADDR PORT              connect; ask SOCKREDIR_QUERY on the own socket
  selfquery                    listen on 127.0.0.1, connect to it, ask
                               SOCKREDIR_QUERY and CONTEXT on both ends
  proxy NAME PORT N            claim NAME on 127.0.0.1:PORT, take N flows;
                               print "flow CONTEXT-RESULT first-line" each
"""
import os
import signal
import socket
import time

from srtest import (CONTEXT, QUERY, SOL_SOCKREDIR, err, family, peer,
                    run, socket_unspec, take_flows)

TCP_CONGESTION = 13
TCP_FASTOPEN_CONNECT = 30
MSG_FASTOPEN = 0x20000000


def tfo(addr, port, how="sendto"):
    s = socket.socket(family(addr))
    try:
        if how == "sendto":     # blocking: sendto waits for the SYN's answer
            s.sendto(b"hi-tfo\n", MSG_FASTOPEN, (addr, int(port)))
        else:
            s.settimeout(3)
            s.setsockopt(socket.IPPROTO_TCP, TCP_FASTOPEN_CONNECT, 1)
            s.connect((addr, int(port)))
            s.sendall(b"hi-tfoconnect\n")
        s.settimeout(3)
        s.recv(16)
        return "OK " + peer(s)
    except OSError as e:
        return err(e)
    finally:
        s.close()


def reconnect(*targets):
    # Blocking: with a timeout a failed connect leaves the socket
    # "connecting", and the next connect() only reports that (ECONNABORTED)
    # without a SYN.  The alarm bounds it.
    signal.alarm(10)
    s = socket.socket(family(targets[0]))
    out = []
    for a, p in zip(targets[::2], targets[1::2]):
        try:
            s.connect((a, int(p)))
            s.settimeout(3)
            s.sendall(b"hi-reconnect\n")
            s.recv(16)
            out.append("OK")
            break           # connected: nothing more to try on it
        except OSError as e:
            out.append(err(e))
    s.close()
    return " ".join(out)


def unspec(addr, port, addr2, port2):
    s = socket.socket(family(addr))
    s.settimeout(3)
    out = []
    try:
        s.connect((addr, int(port)))
        s.sendall(b"hi-unspec\n")
        s.recv(16)      # the proxy has the line (a disconnect resets)
        out.append("first OK " + peer(s))
    except OSError as e:
        return "first " + err(e)
    try:
        socket_unspec(s)
        out.append("unspec OK")
    except OSError as e:
        out.append("unspec " + err(e))
    try:
        s.connect((addr2, int(port2)))
        s.sendall(b"hi-unspec-again\n")
        s.recv(16)
        out.append("second OK " + peer(s))
    except OSError as e:
        out.append("second " + err(e))
    s.close()
    return "\n".join(out)


def late(tag, addr, port, addr2, port2, ready, go):
    signal.alarm(30)
    s = socket.socket(family(addr))     # blocking, as in reconnect
    out = []
    try:
        s.connect((addr, int(port)))
        out.append("first OK")
    except OSError as e:
        out.append("first " + err(e))
    open(ready, "w").close()
    while not os.path.exists(go):       # the test says when
        time.sleep(0.05)
    if out[0] == "first OK":
        socket_unspec(s)
    for n, line in (("second", tag), ("third", tag + "-again")):
        p = "-"
        try:
            s.connect((addr2, int(port2)))
            p = peer(s)
            s.sendall(b"hi-%s\n" % line.encode())
            out.append("%s %s %s" % (n, p, "OK" if s.recv(16) else "EOF"))
        except OSError as e:
            out.append("%s %s %s" % (n, p, err(e)))
        if n == "second":
            socket_unspec(s)
    s.close()
    return "\n".join(out)


def usercc():
    ls = socket.socket()
    ls.bind(("127.0.0.1", 0))
    ls.listen(1)
    c = socket.socket()
    c.settimeout(3)
    try:
        c.setsockopt(socket.IPPROTO_TCP, TCP_CONGESTION, b"sockredir")
        c.connect(ls.getsockname())
        a, _ = ls.accept()
        c.sendall(b"hi-usercc\n")
        got = a.recv(16)
        cc = c.getsockopt(socket.IPPROTO_TCP, TCP_CONGESTION, 16)
        a.close()
        return "OK %s %s" % (cc.rstrip(b"\0").decode(), got.strip().decode())
    except OSError as e:
        return err(e)
    finally:
        c.close()
        ls.close()


def ccfirst(addr, port):
    s = socket.socket(family(addr))
    s.settimeout(3)
    try:
        s.setsockopt(socket.IPPROTO_TCP, TCP_CONGESTION, b"reno")
        s.connect((addr, int(port)))
        s.sendall(b"hi-ccfirst\n")
        s.recv(16)
        cc = s.getsockopt(socket.IPPROTO_TCP, TCP_CONGESTION, 16)
        return "OK %s %s" % (peer(s), cc.rstrip(b"\0").decode())
    except OSError as e:
        return err(e)
    finally:
        s.close()


def ask(s, opt):
    try:
        s.getsockopt(SOL_SOCKREDIR, opt, 1024)
        return "OK"
    except OSError as e:
        return err(e)


def query(addr, port):
    s = socket.socket(family(addr))
    s.settimeout(3)
    try:
        s.connect((addr, int(port)))
        s.sendall(b"hi-query\n")
        s.recv(16)
        return "query " + ask(s, QUERY) + " context " + ask(s, CONTEXT)
    except OSError as e:
        return err(e)
    finally:
        s.close()


def selfquery():
    ls = socket.socket()
    ls.bind(("127.0.0.1", 0))
    ls.listen(1)
    c = socket.create_connection(ls.getsockname(), 3)
    a, _ = ls.accept()
    out = "accepted %s %s client %s %s" % (ask(a, QUERY), ask(a, CONTEXT),
                                          ask(c, QUERY), ask(c, CONTEXT))
    for x in (a, c, ls):
        x.close()
    return out


def proxy(name, port, n):
    return take_flows(name, port, n, 15, b"bye\n")


def main():
    run({"tfo": tfo, "tfoconnect": lambda a, p: tfo(a, p, "connect"),
         "reconnect": reconnect, "unspec": unspec, "late": late,
         "usercc": usercc, "ccfirst": ccfirst, "query": query,
         "selfquery": selfquery, "proxy": proxy}, __doc__)

if __name__ == "__main__":
    main()
