#!/usr/bin/env python3
"""Load for the upgrade test: live flows held across an upgrade, and a
continuous stream of new connects during it.

The server (mode "server") greets each connection with the address it sees
as its peer, then echoes.  A client that reached it directly sees its own
address in the greeting; one that went through the proxy sees the proxy's
onward socket.  So every connect tells whether it was inspected.

  server PORT
  live ADDR PORT N READY GO       open N flows, one round trip each, touch
                                  READY; when GO exists, one more round trip
                                  each and a getpeername check; print JSON
  stream ADDR PORT CLOSED STOP    until STOP exists: connect to ADDR (must
                                  go through the proxy) and to CLOSED (a
                                  fail-closed service with no listener: must
                                  be refused); print JSON counts
"""
import errno, json, os, selectors, socket, sys, time


def server(port):
    sel = selectors.DefaultSelector()
    ls = socket.socket(socket.AF_INET6)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("::", port))
    ls.listen(4096)
    ls.setblocking(False)
    sel.register(ls, selectors.EVENT_READ)
    while True:
        for key, _ in sel.select():
            s = key.fileobj
            if s is ls:
                try:
                    c, peer = ls.accept()
                except OSError:
                    continue
                host = peer[0].removeprefix("::ffff:")
                c.sendall(("%s %d\n" % (host, peer[1])).encode())
                c.setblocking(False)
                sel.register(c, selectors.EVENT_READ)
                continue
            try:
                data = s.recv(65536)
            except OSError:
                data = b""
            if data:
                s.sendall(data)
            else:
                sel.unregister(s)
                s.close()


def greeting(c):
    buf = b""
    while not buf.endswith(b"\n"):
        d = c.recv(1)	# byte by byte: the echo may follow at once
        if not d:
            raise ConnectionError("closed before the greeting")
        buf += d
    host, port = buf.decode().split()
    return host, int(port)


def opened(addr, port):
    """Connect and say hello first (the relay waits for a client's first
    bytes before it connects on), then read the server's greeting."""
    # From an address of its own: the relay's onward socket (from 127.0.0.1)
    # may get the same port as this one, and must never look like it.
    src = ("127.0.0.9", 0) if ":" not in addr else None
    c = socket.create_connection((addr, port), timeout=10, source_address=src)
    c.sendall(b"hello\n")
    seen = greeting(c)
    got = b""
    while len(got) < 6:
        d = c.recv(6 - len(got))
        if not d:
            raise ConnectionError("closed before the echo")
        got += d
    return c, seen


def roundtrip(c, msg):
    c.sendall(msg)
    got = b""
    while len(got) < len(msg):
        d = c.recv(65536)
        if not d:
            raise ConnectionError("closed mid-echo")
        got += d
    return got == msg


def inspected(c, seen):
    """Through the proxy: the server's peer is not this socket."""
    me = c.getsockname()
    return (seen[0], seen[1]) != (me[0].removeprefix("::ffff:"), me[1])


def live(addr, port, n, ready, go):
    flows, res = [], {"opened": 0, "uninspected": 0, "before_ok": 0,
                      "after_ok": 0, "dropped": 0, "peer_ok": 0, "errors": []}
    for i in range(n):
        c, seen = opened(addr, port)
        res["opened"] += 1
        if not inspected(c, seen):
            res["uninspected"] += 1
        if roundtrip(c, b"before %d\n" % i):
            res["before_ok"] += 1
        flows.append(c)
    open(ready, "w").close()
    while not os.path.exists(go):
        time.sleep(0.02)
    for i, c in enumerate(flows):
        try:
            if roundtrip(c, b"after %d\n" % i):
                res["after_ok"] += 1
            if c.getpeername()[:2] == (addr, port):
                res["peer_ok"] += 1
        except OSError as e:
            res["dropped"] += 1
            if len(res["errors"]) < 5:
                res["errors"].append(str(e))
    for c in flows:
        c.close()
    print(json.dumps(res))


def stream(addr, port, closed, stop):
    res = {"connects": 0, "inspected": 0, "uninspected": 0, "failed": 0,
           "closed_tries": 0, "closed_refused": 0, "closed_opened": 0,
           "closed_other": 0, "errors": [], "seconds": 0}
    t0 = time.time()
    while not os.path.exists(stop):
        res["connects"] += 1
        try:
            c, seen = opened(addr, port)
            res["inspected" if inspected(c, seen) else "uninspected"] += 1
            if not roundtrip(c, b"x"):
                res["failed"] += 1
            c.close()
        except OSError as e:
            res["failed"] += 1
            if len(res["errors"]) < 5:
                res["errors"].append(errno.errorcode.get(e.errno, str(e)))
        res["closed_tries"] += 1
        try:
            socket.create_connection((closed, port), timeout=3).close()
            res["closed_opened"] += 1
        except ConnectionRefusedError:
            res["closed_refused"] += 1
        except OSError as e:
            res["closed_other"] += 1
            if len(res["errors"]) < 5:
                res["errors"].append("closed: " + str(e))
    res["seconds"] = round(time.time() - t0, 2)
    print(json.dumps(res))


if __name__ == "__main__":
    mode, args = sys.argv[1], sys.argv[2:]
    if mode == "server":
        server(int(args[0]))
    elif mode == "live":
        live(args[0], int(args[1]), int(args[2]), args[3], args[4])
    elif mode == "stream":
        stream(args[0], int(args[1]), args[2], args[3])
    else:
        sys.exit("usage: see the docstring")
