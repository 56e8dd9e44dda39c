#!/usr/bin/env python3
"""Flows in each role held across an upgrade (tests/integration/upgrade_design.sh).

The proxy accepts flows on the earlier build and asks nothing about them
until after the upgrade; the application holds its redirected sockets the
same way, and one connect is in flight across it (its SYNs dropped until
the test lets them through).

  proxy PORT N READY GO       (READY in DIR) accept N flows; on the first, read its records
                              and give them to a new onward socket, not yet
                              connected; touch READY; once GO exists, query
                              each flow (SOCKREDIR_QUERY, SO_ORIGINAL_DST),
                              connect the onward socket to the first flow's
                              destination, accept one more flow (the one in
                              flight) and query it; close all; print JSON
  app ADDR PORT N PORT2 DIR   open N flows (redirected to the proxy), touch
                              DIR/app-ready; once DIR/start exists, start a
                              non-blocking connect to ADDR:PORT2 from
                              127.0.0.10, touch DIR/started; once DIR/go
                              exists, check getpeername of each, wait for
                              the one in flight; close all once the proxy
                              asked about it (DIR/queried); print JSON
"""
import json, os, select, socket, struct, sys, time

SOL_SOCKREDIR, RECORDS, QUERY = 0x5352, 1, 5
SOL_IP, SO_ORIGINAL_DST = 0, 80
CONTEXT_SIZE = 352	# struct sockredir_context (two sockaddr_storage + block)


def wait_file(path, secs=60):
    """Wait for the test's signal; a test that died sends none."""
    end = time.time() + secs
    while not os.path.exists(path):
        if time.time() > end:
            sys.exit("no %s after %d s" % (path, secs))
        time.sleep(0.02)


def remote_of(ctx):
    fam, port = struct.unpack_from("<HH", ctx, 0)
    addr = socket.inet_ntop(socket.AF_INET, ctx[4:8]) if fam == socket.AF_INET else "?"
    return "%s:%d" % (addr, socket.ntohs(port))


def query(c):
    """The flow's original destination by SOCKREDIR_QUERY and by
    SO_ORIGINAL_DST, or the error."""
    try:
        q = c.getsockopt(SOL_SOCKREDIR, QUERY, CONTEXT_SIZE + 512)
        o = c.getsockopt(SOL_IP, SO_ORIGINAL_DST, 16)
    except OSError as e:
        return "E%d" % e.errno
    port = struct.unpack_from(">H", o, 2)[0]
    return "%s %s:%d" % (remote_of(q), socket.inet_ntoa(o[4:8]), port)


def proxy(port, n, ready, go):
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", port))
    ls.listen(64)
    ls.settimeout(20)
    flows = [ls.accept()[0] for _ in range(n)]
    rec = flows[0].getsockopt(SOL_SOCKREDIR, RECORDS, 512)
    onward = socket.socket()
    onward.setsockopt(SOL_SOCKREDIR, RECORDS, rec)
    open(ready, "w").close()
    wait_file(go)
    res = {"queries": [query(c) for c in flows]}
    dst = res["queries"][0].split()[0].rsplit(":", 1)
    try:
        onward.settimeout(5)
        onward.connect((dst[0], int(dst[1])))
        res["onward"] = "OK"
    except OSError as e:
        res["onward"] = "E%d" % e.errno
    ls.settimeout(15)
    try:
        c = ls.accept()[0]
        res["inflight"] = query(c)
        c.close()
    except OSError as e:
        res["inflight"] = "E%d" % (e.errno or 0)
    open(os.path.dirname(ready) + "/queried", "w").close()
    for c in flows + [onward, ls]:
        c.close()
    print(json.dumps(res))


def app(addr, port, n, port2, d):
    flows = [socket.create_connection((addr, port), timeout=10) for _ in range(n)]
    open(d + "/app-ready", "w").close()
    wait_file(d + "/start")
    # From its own source, whose SYNs the test drops until after the upgrade.
    late = socket.socket()
    late.bind(("127.0.0.10", 0))
    late.setblocking(False)
    late.connect_ex((addr, port2))
    open(d + "/started", "w").close()
    wait_file(d + "/go")
    res = {"peer_ok": sum(c.getpeername()[:2] == (addr, port) for c in flows)}
    _, w, _ = select.select([], [late], [], 15)
    err = late.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
    res["inflight"] = "E%d" % err if not w or err else \
        "OK %s:%d" % late.getpeername()[:2]
    wait_file(d + "/queried")	# the proxy asks about it first
    for c in flows + [late]:
        c.close()
    print(json.dumps(res))


if __name__ == "__main__":
    a = sys.argv[1:]
    if a[0] == "proxy":
        proxy(int(a[1]), int(a[2]), a[3], a[4])
    elif a[0] == "app":
        app(a[1], int(a[2]), int(a[3]), int(a[4]), a[5])
    else:
        sys.exit("usage: upgrade_roles.py proxy|app ...")
