#!/usr/bin/env python3
"""A UDP redirect service in Python, using only plain socket calls.

What include/sockredir.h describes for datagram flows, in order:

  s = socket(AF_INET6, SOCK_DGRAM); IPV6_FREEBIND (reply from an endpoint
  of the IPv6 pool); bind [::]:PORT (the wildcard: each flow has its own
  endpoint address); SOCKREDIR_CLAIM; IPV6_RECVPKTINFO.
  recvmsg: the application's address, and (pktinfo) the flow's endpoint.
  A new (application, endpoint): SOCKREDIR_FLOW selects it on s, then
  SOCKREDIR_CONTEXT and SOCKREDIR_RECORDS answer for it.  An upstream
  socket gets the records (SOCKREDIR_RECORDS) before its connect() to the
  original destination; its replies go back with sendmsg() from the
  endpoint (IPV6_PKTINFO) to the application.

One JSON line per flow goes to --log when the flow is first seen, with its
context; --sink only logs (each datagram of an unknown flow asks again);
--no-records forgets to pass the records on (a careless proxy);
--onward-to HOST:PORT sends every flow there with the flow's records, not to
its destination (records misused: the connect must fail, logged as error).
Flows the proxy has not heard from for --idle seconds are forgotten.
--v4 is the IPv4-only proxy: AF_INET on 0.0.0.0:PORT, IP_PKTINFO (ipi_addr
received: the endpoint; ipi_spec_dst to answer from it).
"""
import argparse, errno, json, select, socket, struct, time

SOL_SOCKREDIR = 0x5352
SOCKREDIR_RECORDS, SOCKREDIR_CONTEXT, SOCKREDIR_CLAIM, SOCKREDIR_FLOW = 1, 2, 3, 4
IPV6_RECVPKTINFO, IPV6_PKTINFO, IPV6_FREEBIND = 49, 50, 78
IP_PKTINFO = 8
CTX_BLOCK = struct.Struct("<IIQQIIIIHBBI16s16H")
CTX_SIZE = 256 + CTX_BLOCK.size


def sockaddr(raw):
    """A sockaddr_in or sockaddr_in6 from the kernel: (host, port)."""
    family = struct.unpack_from("<H", raw)[0]
    port = struct.unpack_from(">H", raw, 2)[0]
    if family == socket.AF_INET:
        return family, (socket.inet_ntop(family, raw[4:8]), port)
    return family, (socket.inet_ntop(family, raw[8:24]), port)


def pack_sockaddr(host, port):
    """struct sockaddr_storage for (host, port): IPv4-mapped stays IPv6."""
    if ":" in host:
        raw = struct.pack("<H", socket.AF_INET6) + struct.pack(">H", port) + \
            b"\0" * 4 + socket.inet_pton(socket.AF_INET6, host)
    else:
        raw = struct.pack("<H", socket.AF_INET) + struct.pack(">H", port) + \
            socket.inet_pton(socket.AF_INET, host)
    return raw.ljust(128, b"\0")


def context(raw):
    (ver, size, flow, cg, pid, uid, gid, rule, svc, hop, proto, _, comm,
     *chain) = CTX_BLOCK.unpack_from(raw, 256)
    return {"remote": sockaddr(raw[:128]), "local": sockaddr(raw[128:256]),
            "flow_id": flow, "cgroup_id": cg, "pid": pid, "uid": uid,
            "gid": gid, "comm": comm.split(b"\0")[0].decode(), "rule": rule,
            "service": svc, "hop": hop, "protocol": proto,
            "chain": list(chain[:hop])}


class Flow:
    def __init__(self, app, endpoint, up):
        self.app, self.endpoint, self.up = app, endpoint, up
        self.seen = time.monotonic()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--name", required=True)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--log", required=True)
    ap.add_argument("--idle", type=float, default=30.0)
    ap.add_argument("--no-records", action="store_true")
    ap.add_argument("--onward-to", metavar="HOST:PORT")
    ap.add_argument("--sink", action="store_true",
                    help="log each flow's context; forward nothing")
    ap.add_argument("--v4", action="store_true", help="IPv4 only, IP_PKTINFO")
    args = ap.parse_args()
    logf = open(args.log, "a", buffering=1)

    def log(entry):
        logf.write(json.dumps(dict(entry, name=args.name)) + "\n")

    if args.v4:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(("0.0.0.0", args.port))
        s.setsockopt(SOL_SOCKREDIR, SOCKREDIR_CLAIM, args.name.encode())
        s.setsockopt(socket.IPPROTO_IP, IP_PKTINFO, 1)
    else:
        s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        s.setsockopt(socket.IPPROTO_IPV6, IPV6_FREEBIND, 1)
        s.bind(("::", args.port))
        s.setsockopt(SOL_SOCKREDIR, SOCKREDIR_CLAIM, args.name.encode())
        s.setsockopt(socket.IPPROTO_IPV6, IPV6_RECVPKTINFO, 1)
    s.setblocking(False)
    flows = {}		# (app, endpoint) -> Flow
    by_up = {}		# upstream fd -> Flow
    poll = select.epoll()
    poll.register(s.fileno(), select.EPOLLIN)

    def new_flow(app, endpoint):
        sel = pack_sockaddr(*app[:2]) + pack_sockaddr(endpoint, args.port)
        try:
            s.setsockopt(SOL_SOCKREDIR, SOCKREDIR_FLOW, sel)
            ctx = context(s.getsockopt(SOL_SOCKREDIR, SOCKREDIR_CONTEXT, CTX_SIZE))
            records = s.getsockopt(SOL_SOCKREDIR, SOCKREDIR_RECORDS, 256)
        except OSError as e:
            log({"endpoint": endpoint, "app": "%s:%d" % app[:2],
                 "error": errno.errorcode.get(e.errno, e.errno)})
            return None
        family, dst = ctx["remote"]
        if args.onward_to:
            host, port = args.onward_to.rsplit(":", 1)
            host = host.strip("[]")
            family = socket.AF_INET6 if ":" in host else socket.AF_INET
            dst = (host, int(port))
        entry = dict(ctx, endpoint=endpoint, app="%s:%d" % app[:2],
                     remote="%s:%d" % ctx["remote"][1],
                     local="%s:%d" % ctx["local"][1])
        if args.sink:
            log(entry)
            return None
        up = socket.socket(family, socket.SOCK_DGRAM)
        try:
            if not args.no_records:
                up.setsockopt(SOL_SOCKREDIR, SOCKREDIR_RECORDS, records)
            up.connect(dst)
        except OSError as e:
            entry["error"] = errno.errorcode.get(e.errno, e.errno)
            log(entry)
            up.close()
            return None
        log(entry)
        up.setblocking(False)
        f = Flow(app, endpoint, up)
        flows[(app[:2], endpoint)] = f
        by_up[up.fileno()] = f
        poll.register(up.fileno(), select.EPOLLIN)
        return f

    def drop(f):
        poll.unregister(f.up.fileno())
        del by_up[f.up.fileno()]
        del flows[(f.app[:2], f.endpoint)]
        f.up.close()

    while True:
        for fd, _ in poll.poll(1.0):
            if fd == s.fileno():
                while True:
                    try:
                        data, anc, _, app = s.recvmsg(65535, 256)
                    except BlockingIOError:
                        break
                    endpoint = None
                    for level, kind, raw in anc:
                        if level == socket.IPPROTO_IPV6 and kind == IPV6_PKTINFO:
                            endpoint = socket.inet_ntop(socket.AF_INET6, raw[:16])
                        elif level == socket.IPPROTO_IP and kind == IP_PKTINFO:
                            # struct in_pktinfo: ifindex, spec_dst, addr
                            endpoint = socket.inet_ntop(socket.AF_INET, raw[8:12])
                    if endpoint is None:
                        continue
                    f = flows.get((app[:2], endpoint)) or new_flow(app, endpoint)
                    if not f:
                        continue
                    f.seen = time.monotonic()
                    try:
                        f.up.send(data)
                    except OSError:
                        pass
            elif fd in by_up:
                f = by_up[fd]
                try:
                    data = f.up.recv(65535)
                except OSError:
                    continue
                f.seen = time.monotonic()
                if args.v4:
                    info = (socket.IPPROTO_IP, IP_PKTINFO, struct.pack(
                        "<I4s4s", 0, socket.inet_aton(f.endpoint), b"\0" * 4))
                else:
                    info = (socket.IPPROTO_IPV6, IPV6_PKTINFO, struct.pack(
                        "<16sI", socket.inet_pton(socket.AF_INET6, f.endpoint), 0))
                try:
                    s.sendmsg([data], [info], 0, f.app)
                except OSError:
                    pass
        now = time.monotonic()
        for f in [f for f in flows.values() if now - f.seen > args.idle]:
            drop(f)


if __name__ == "__main__":
    main()
