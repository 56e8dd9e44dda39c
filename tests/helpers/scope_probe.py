#!/usr/bin/env python3
"""Socket options and where the layer's option hooks run, for
tests/integration/sockopt_scope.sh.  Each command prints what it got;
nothing here decides what should have happened.

  loop N                      N times each: setsockopt SO_LINGER and
                              TCP_NODELAY, getsockopt SO_LINGER (an
                              application's ordinary options); prints "done"
  proxy ADDR PORT NAME DIR    service NAME's proxy for one flow: listen,
                              claim, touch DIR/ready, accept; query RECORDS,
                              CONTEXT and SO_ORIGINAL_DST and print them;
                              save the records to DIR/rec; pass the accepted
                              socket to whoever listens on DIR/pass; hold the
                              flow until DIR/done appears
  attack ADDR PORT NAME DIR   (run as nobody) every SOL_SOCKREDIR option and
                              SO_ORIGINAL_DST on its own sockets and on its
                              connection to ADDR:PORT (redirected to NAME);
                              touch DIR/own and wait for DIR/counted; then
                              the same on the proxy's accepted socket passed
                              to it; one "WHAT SOCKET RESULT" line each,
                              RESULT an errno name or "OK:" and what it got
"""
import array
import errno
import os
import socket
import struct
import sys
import time

SOL, RECORDS, CONTEXT, CLAIM, FLOW, QUERY = 0x5352, 1, 2, 3, 4, 5
SO_ORIGINAL_DST = 80


def err(e):
    return errno.errorcode.get(e.errno, str(e.errno))


def wait_file(path, secs=20):
    end = time.time() + secs
    while not os.path.exists(path):
        if time.time() > end:
            sys.exit("no " + path)
        time.sleep(0.02)


def loop(n):
    s = socket.socket()
    linger = struct.pack("ii", 1, 0)
    for _ in range(n):
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, linger)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        s.getsockopt(socket.SOL_SOCKET, socket.SO_LINGER, 8)
    print("done")


def proxy(addr, port, name, d):
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind((addr, port))
    ls.listen(4)
    ls.setsockopt(SOL, CLAIM, name.encode())
    ls.settimeout(20)       # never hold the test (and its lock) forever
    open(os.path.join(d, "ready"), "w").close()
    c, _ = ls.accept()
    rec = c.getsockopt(SOL, RECORDS, 256)
    ctx = c.getsockopt(SOL, CONTEXT, 512)
    od = c.getsockopt(socket.SOL_IP, SO_ORIGINAL_DST, 16)
    fam, dport = struct.unpack_from("=HH", ctx, 0)
    print("records %d context %s:%d odst %s:%d" % (
        len(rec), socket.inet_ntoa(ctx[4:8]), socket.ntohs(dport),
        socket.inet_ntoa(od[4:8]), struct.unpack(">H", od[2:4])[0]), flush=True)
    with open(os.path.join(d, "rec"), "wb") as f:
        f.write(rec)
    os.chmod(os.path.join(d, "rec"), 0o644)
    u = socket.socket(socket.AF_UNIX)
    u.connect(os.path.join(d, "pass"))
    u.sendmsg([b"x"], [(socket.SOL_SOCKET, socket.SCM_RIGHTS,
                        array.array("i", [c.fileno()]))])
    u.close()
    wait_file(os.path.join(d, "done"))
    c.close()


def tries(what, s, rec, name, out):
    """Every option of the layer's on socket @s, labelled @what."""
    def got(label, f):
        try:
            v = f()
            if isinstance(v, bytes):    # enough to see what it was
                v = "%d bytes %s..." % (len(v), v[:8].hex())
            out.append("%s %s OK:%s" % (label, what, v))
        except OSError as e:
            out.append("%s %s %s" % (label, what, err(e)))
    got("get-records", lambda: s.getsockopt(SOL, RECORDS, 256))
    got("get-context", lambda: s.getsockopt(SOL, CONTEXT, 512))
    got("get-query", lambda: s.getsockopt(SOL, QUERY, 1024))
    got("original-dst", lambda: s.getsockopt(socket.SOL_IP, SO_ORIGINAL_DST, 16))
    got("set-records", lambda: s.setsockopt(SOL, RECORDS, rec))
    got("set-claim", lambda: s.setsockopt(SOL, CLAIM, name.encode()))
    sel = bytes(256)
    got("set-flow", lambda: s.setsockopt(SOL, FLOW, sel))


def attack(addr, port, name, d):
    out = []
    u = socket.socket(socket.AF_UNIX)
    u.bind(os.path.join(d, "pass"))
    u.listen(1)
    u.settimeout(20)
    conn = socket.create_connection((addr, port), timeout=20)   # to NAME
    pc, _ = u.accept()
    _, anc, _, _ = pc.recvmsg(1, socket.CMSG_LEN(4))
    fd = array.array("i", anc[0][2][:4])[0]
    rec = open(os.path.join(d, "rec"), "rb").read()   # live records of NAME
    own = socket.socket()
    lst = socket.socket()
    lst.bind(("127.0.0.1", 0))
    lst.listen(1)
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind(("0.0.0.0", 0))
    for what, s in (("own", own), ("listener", lst), ("udp", udp),
                    ("redirected", conn)):
        tries(what, s, rec, name, out)
    # Records given to a new socket, then connected: it must not pass as
    # NAME's onward hop (it would reach the destination uninspected).
    n = socket.socket()
    try:
        n.setsockopt(SOL, RECORDS, rec)
        out.append("records-then-connect new OK")
    except OSError as e:
        out.append("records-then-connect new %s" % err(e))
    n.close()
    # The sockets made here are done: the test reads the hooks' run counts
    # now, then the proxy's accepted socket that it passed here is tried.
    open(os.path.join(d, "own"), "w").close()
    wait_file(os.path.join(d, "counted"))
    tries("passed", socket.socket(fileno=fd), rec, name, out)
    print("\n".join(out), flush=True)
    open(os.path.join(d, "done"), "w").close()


def main():
    cmd = sys.argv[1]
    if cmd == "loop":
        loop(int(sys.argv[2]))
    elif cmd == "proxy":
        proxy(sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5])
    elif cmd == "attack":
        attack(sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5])
    else:
        sys.exit("usage: scope_probe.py loop|proxy|attack ...")


if __name__ == "__main__":
    main()
