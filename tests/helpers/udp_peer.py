#!/usr/bin/env python3
"""The two ends of a UDP flow, for the integration tests.

  udp_peer.py echo HOST:PORT...     a server: answers each datagram with
                                    "HOST:PORT|payload" (its own address)
  udp_peer.py ask DST...            one unconnected socket sends to every
                                    DST at once, then reads the answers:
                                    prints "DST SOURCE BODY" per answer
  udp_peer.py connected DST         connect(), send(), recv(): prints
                                    "PEER BODY" (getpeername, the answer)
  udp_peer.py send DST              one datagram; prints the errno name or OK
  udp_peer.py flood N PREFIX PORT   one socket makes N one-datagram flows,
                                    each to its own PREFIX.x.y:PORT+z; a
                                    datagram refused for the uid's share
                                    (ENOBUFS) goes again 20 ms later, 60 s
                                    in all; prints "made N first_refused K
                                    refused R errors {errno: count}"
  udp_peer.py hold DIR DST...       ask, write DIR/ready; when DIR/go
                                    appears, ask again on the same socket
                                    and write DIR/again; exit at DIR/stop
Every answer is waited for 3 s at most.
"""
import errno, os, socket, sys, time


def addr(spec):
    host, port = spec.rsplit(":", 1)
    host = host.strip("[]")
    return (socket.AF_INET6 if ":" in host else socket.AF_INET), (host, int(port))


def show(a):
    return "%s:%d" % a[:2] if ":" not in a[0] else "[%s]:%d" % a[:2]


def echo(specs):
    socks = []
    for spec in specs:
        family, a = addr(spec)
        s = socket.socket(family, socket.SOCK_DGRAM)
        s.bind(a)
        socks.append((s, spec))
    import select
    while True:
        ready, _, _ = select.select([s for s, _ in socks], [], [])
        for s, spec in socks:
            if s in ready:
                data, peer = s.recvfrom(65535)
                s.sendto(spec.encode() + b"|" + data, peer)


def ask(sock, dsts, out):
    for i, d in enumerate(dsts):
        sock.sendto(b"q%d" % i, addr(d)[1])
    sock.settimeout(3)
    for _ in dsts:
        try:
            data, src = sock.recvfrom(65535)
        except socket.timeout:
            out.write("timeout\n")
            break
        body = data.decode(errors="replace")
        i = int(body.rsplit("|q", 1)[1]) if "|q" in body else -1
        out.write("%s %s %s\n" % (dsts[i] if i >= 0 else "?", show(src), body))
    out.flush()


def family_of(dsts):
    return socket.AF_INET6 if any(":" in d.rsplit(":", 1)[0] for d in dsts) \
        else socket.AF_INET


def main():
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "echo":
        echo(args)
    elif cmd == "ask":
        ask(socket.socket(family_of(args), socket.SOCK_DGRAM), args, sys.stdout)
    elif cmd == "connected":
        family, a = addr(args[0])
        s = socket.socket(family, socket.SOCK_DGRAM)
        s.connect(a)
        s.send(b"c")
        s.settimeout(3)
        try:
            body = s.recv(65535).decode()
        except socket.timeout:
            body = "timeout"
        except OSError as e:
            body = errno.errorcode[e.errno]
        print(show(s.getpeername()), body)
    elif cmd == "send":
        family, a = addr(args[0])
        s = socket.socket(family, socket.SOCK_DGRAM)
        try:
            if len(args) > 1 and args[1] == "connect":
                s.connect(a)
                s.send(b"x")
            else:
                s.sendto(b"x", a)
            print("OK")
        except OSError as e:
            print(errno.errorcode[e.errno])
    elif cmd == "flood":
        n, prefix, port = int(args[0]), args[1], int(args[2])
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        made, first, refused, errs = 0, None, 0, {}
        end = time.monotonic() + 60
        for i in range(n):
            dst = ("%s.%d.%d" % (prefix, i >> 16 & 255, i >> 8 & 255), port + (i & 255))
            while time.monotonic() < end:
                try:
                    s.sendto(b"f", dst)
                    made += 1
                    break
                except OSError as e:
                    if e.errno != errno.ENOBUFS:
                        name = errno.errorcode[e.errno]
                        errs[name] = errs.get(name, 0) + 1
                        break
                    first = made if first is None else first
                    refused += 1
                    time.sleep(0.02)
        print("made", made, "first_refused", first, "refused", refused, "errors", errs)
    elif cmd == "hold":
        d, dsts = args[0], args[1:]
        s = socket.socket(family_of(dsts), socket.SOCK_DGRAM)
        with open(d + "/first", "w") as out:
            ask(s, dsts, out)
        open(d + "/ready", "w").close()
        while not os.path.exists(d + "/go"):
            time.sleep(0.05)
        with open(d + "/again", "w") as out:
            ask(s, dsts, out)
        open(d + "/done", "w").close()
        while not os.path.exists(d + "/stop"):
            time.sleep(0.05)
    else:
        sys.exit("usage: udp_peer.py echo|ask|connected|send|flood|hold ...")


if __name__ == "__main__":
    main()
