#!/usr/bin/env python3
"""A small redirect service in Python, using only socket options.

It is what the README's Python example grows into: accept a redirected
connection, read its records and context, connect onward with the records
set, relay both ways.  Tests use it as a proxy; --no-records makes it a
careless proxy that forgets to pass the records on.
"""
import argparse, json, socket, struct, threading

SOL_SOCKREDIR, SOCKREDIR_RECORDS, SOCKREDIR_CONTEXT, SOCKREDIR_CLAIM = 0x5352, 1, 2, 3
CTX_BLOCK = struct.Struct("<IIQQIIIIHBBI16s16H")
CTX_SIZE = 256 + CTX_BLOCK.size


def sockaddr(raw):
    family = struct.unpack_from("<H", raw)[0]
    port = struct.unpack_from(">H", raw, 2)[0]
    if family == socket.AF_INET:
        return family, (socket.inet_ntop(family, raw[4:8]), port)
    return family, (socket.inet_ntop(family, raw[8:24]), port)


def context(sock):
    raw = sock.getsockopt(SOL_SOCKREDIR, SOCKREDIR_CONTEXT, CTX_SIZE)
    (ver, size, flow, cg, pid, uid, gid, rule, svc, hop, proto, _, comm,
     *chain) = CTX_BLOCK.unpack_from(raw, 256)
    return {"remote": sockaddr(raw[:128]), "local": sockaddr(raw[128:256]),
            "flow_id": flow, "cgroup_id": cg, "pid": pid, "uid": uid,
            "comm": comm.split(b"\0")[0].decode(), "rule": rule,
            "service": svc, "hop": hop, "chain": list(chain[:hop])}


def pipe(src, dst):
    try:
        while True:
            data = src.recv(65536)
            if not data:
                break
            dst.sendall(data)
        dst.shutdown(socket.SHUT_WR)
    except OSError:
        pass


def handle(conn, args, log):
    try:
        records = conn.getsockopt(SOL_SOCKREDIR, SOCKREDIR_RECORDS, 256)
        ctx = context(conn)
    except OSError as e:
        log({"name": args.name, "error": e.strerror, "errno": e.errno})
        conn.close()
        return
    family, dst = ctx["remote"]
    up = socket.socket(family, socket.SOCK_STREAM)
    entry = dict(ctx, name=args.name, remote="%s:%d" % dst[:2],
                 local="%s:%d" % ctx["local"][1][:2],
                 peer=conn.getpeername()[1])
    try:
        if not args.no_records:
            up.setsockopt(SOL_SOCKREDIR, SOCKREDIR_RECORDS, records)
        up.connect(dst)
    except OSError as e:
        entry["error"], entry["errno"] = e.strerror, e.errno
        log(entry)
        conn.close()
        up.close()
        return
    log(entry)
    t = threading.Thread(target=pipe, args=(up, conn), daemon=True)
    t.start()
    pipe(conn, up)
    t.join()
    conn.close()
    up.close()


def serve(ls, args, log):
    while True:
        conn, _ = ls.accept()
        threading.Thread(target=handle, args=(conn, args, log),
                         daemon=True).start()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--name", required=True)
    ap.add_argument("--listen", action="append", required=True)
    ap.add_argument("--log", required=True)
    ap.add_argument("--no-records", action="store_true")
    ap.add_argument("--no-claim", action="store_true",
                    help="listen without claiming: an impostor on the port")
    ap.add_argument("--mptcp", action="store_true",
                    help="listen with IPPROTO_MPTCP (as Go 1.24 does)")
    args = ap.parse_args()
    lock = threading.Lock()

    def log(entry):
        with lock, open(args.log, "a") as f:
            f.write(json.dumps(entry) + "\n")

    for spec in args.listen:
        host, port = spec.rsplit(":", 1)
        host = host.strip("[]")
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        ls = socket.socket(family, socket.SOCK_STREAM,
                           262 if args.mptcp else 0)
        ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        ls.bind((host, int(port)))
        ls.listen(512)
        if not args.no_claim:
            ls.setsockopt(SOL_SOCKREDIR, SOCKREDIR_CLAIM, args.name.encode())
        threading.Thread(target=serve, args=(ls, args, log),
                         daemon=True).start()
    threading.Event().wait()


if __name__ == "__main__":
    main()
