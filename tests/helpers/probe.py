#!/usr/bin/env python3
"""Socket-option edge cases, checked on real sockets.

  probe.py accept HOST:PORT RECFILE   accept one redirected connection, save
                                      its records, and check what setsockopt
                                      and getsockopt must refuse
  probe.py set RECFILE [UID]          set saved records on a new socket, as
                                      UID if given; print the errno name
  probe.py peer HOST:PORT             connect, print getpeername()
  probe.py query [OPT]                query a plain socket (CONTEXT, or option
                                      number OPT); print errno name
Each check prints one line "ok NAME" or "not ok NAME: detail".
"""
import errno, os, socket, sys

SOL, RECORDS, CONTEXT, QUERY = 0x5352, 1, 2, 5
CONTEXT_SIZE = 352     # two sockaddr_storage + the version 1 block


def addr(spec):
    host, port = spec.rsplit(":", 1)
    host = host.strip("[]")
    return (socket.AF_INET6 if ":" in host else socket.AF_INET), (host, int(port))


def set_err(records, sock=None):
    s = sock or socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.setsockopt(SOL, RECORDS, records)
        return "OK"
    except OSError as e:
        return errno.errorcode[e.errno]
    finally:
        if not sock:
            s.close()


def expect(name, got, want):
    print(("ok %s" % name) if got == want else
          ("not ok %s: got %s, want %s" % (name, got, want)), flush=True)


def get_err(sock, opt, size):
    try:
        v = sock.getsockopt(SOL, opt, size) if size else sock.getsockopt(SOL, opt)
        return "OK" if isinstance(v, int) else "OK %d" % len(v)
    except OSError as e:
        return errno.errorcode[e.errno]


def check_query(conn, rec):
    """SOCKREDIR_QUERY: the context, then the records, in one answer."""
    ctx = conn.getsockopt(SOL, CONTEXT, 1024)
    expect("context is %d bytes" % CONTEXT_SIZE, len(ctx), CONTEXT_SIZE)
    want = CONTEXT_SIZE + len(rec)
    q = conn.getsockopt(SOL, QUERY, want)
    expect("query into exactly context + records: both", len(q), want)
    expect("query: the context as SOCKREDIR_CONTEXT gives it",
           q[:CONTEXT_SIZE] == ctx, True)
    expect("query: then the records as SOCKREDIR_RECORDS gives them",
           q[CONTEXT_SIZE:] == rec, True)
    block = int.from_bytes(q[260:264], sys.byteorder)   # sr.size
    expect("query: the records start where the context's block ends",
           256 + block, CONTEXT_SIZE)
    expect("query into 1024 bytes (Python's most): the same %d bytes" % want,
           get_err(conn, QUERY, 1024), "OK %d" % want)
    for size in (want - 1, CONTEXT_SIZE, CONTEXT_SIZE - 1, 16, 1, 0):
        expect("query into %d bytes gives ERANGE" % (size or 4), get_err(conn, QUERY, size),
               "ERANGE")
    expect("query after the short tries: still answered",
           get_err(conn, QUERY, want), "OK %d" % want)
    expect("option 6 (none) at SOL_SOCKREDIR: the kernel's EOPNOTSUPP",
           get_err(conn, 6, 1024), "ENOTSUP")


def accept(spec, recfile):
    family, a = addr(spec)
    ls = socket.socket(family, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(a)
    ls.listen(1)
    ls.setsockopt(SOL, 3, b"P")
    open(recfile + ".ready", "w").close()
    conn, _ = ls.accept()
    rec = conn.getsockopt(SOL, RECORDS, 256)
    open(recfile, "wb").write(rec)
    expect("records are 248 bytes", len(rec), 248)
    try:
        conn.getsockopt(SOL, RECORDS, 16)
        got = "OK"
    except OSError as e:
        got = errno.errorcode[e.errno]
    expect("small buffer gives ERANGE", got, "ERANGE")
    check_query(conn, rec)
    od = conn.getsockopt(socket.SOL_IP, 80, 16)   # SO_ORIGINAL_DST, iptables-style
    expect("SO_ORIGINAL_DST into a 16-byte sockaddr_in",
           "%s:%d" % (socket.inet_ntoa(od[4:8]), int.from_bytes(od[2:4], "big")),
           sys.argv[4] if len(sys.argv) > 4 else "127.0.0.9:9000")
    expect("issued records are accepted", set_err(rec), "OK")
    expect("truncated records give EINVAL", set_err(rec[:-1]), "EINVAL")
    expect("records with a tail give EINVAL", set_err(rec + b"\0"), "EINVAL")
    for i in (0, 8, 20, 40, 70, 100, 130, 159, 216, 222, 247):
        bad = bytearray(rec)
        bad[i] ^= 0x01
        expect("records with byte %d edited give EINVAL" % i,
               set_err(bytes(bad)), "EINVAL")
    expect("random records give EINVAL", set_err(os.urandom(len(rec))), "EINVAL")
    expect("empty records give EINVAL", set_err(b""), "EINVAL")
    try:
        ls.getsockopt(SOL, RECORDS, 256)
        got = "OK"
    except OSError as e:
        got = errno.errorcode[e.errno]
    expect("listener has no records: ENOENT", got, "ENOENT")
    expect("listener, query: ENOENT", get_err(ls, QUERY, 1024), "ENOENT")
    try:
        conn.setsockopt(SOL, RECORDS, rec)
        got = "OK"
    except OSError as e:
        got = errno.errorcode[e.errno]
    expect("records on a connected socket give EISCONN", got, "EISCONN")
    conn.close()


def main():
    cmd = sys.argv[1]
    if cmd == "accept":
        accept(sys.argv[2], sys.argv[3])
    elif cmd == "set":
        rec = open(sys.argv[2], "rb").read()
        if len(sys.argv) > 3:
            os.setgid(int(sys.argv[3]))
            os.setuid(int(sys.argv[3]))
        print(set_err(rec))
    elif cmd == "peer":
        family, a = addr(sys.argv[2])
        s = socket.create_connection(a)
        print("%s:%d" % s.getpeername()[:2])
    elif cmd == "query":
        s = socket.socket()
        opt = int(sys.argv[2]) if len(sys.argv) > 2 else CONTEXT
        try:
            s.getsockopt(SOL, opt, 1024)
            print("OK")
        except OSError as e:
            print(errno.errorcode[e.errno])


if __name__ == "__main__":
    main()
