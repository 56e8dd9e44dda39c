#!/usr/bin/env python3
"""The attacker's moves for tests/integration/attack.sh, one per subcommand.

Each prints what it got: "OK" or the errno name (and for the longer ones,
one "name result" line per attempt).  The test runs them as uid 65534 in
the cgroup it chooses; nothing here decides whether an attack worked.

  connect ADDR PORT              TCP connect
  udp sendto|connect ADDR PORT   a datagram, and wait for its echo
  md5 ADDR PORT                  fill the socket's option memory, then connect
  bind ADDR PORT [reuseport]     bind and listen
  listen NAME ADDR PORT FILE [N] listen on N sockets with SO_REUSEPORT, claim
                                 NAME (- for none), accept until FILE appears;
                                 print how many flows came and how many gave
                                 a context
  connects ADDR PORT N           N TCP connects, one after another
  group NAME PORT DIR            a proxy growing a SO_REUSEPORT group: bind
                                 one socket; claim it once DIR/claim appears;
                                 one more claimed socket each time DIR/more
                                 appears (it is removed); accept until
                                 DIR/stop
  capture NAME PORT DIR ADDR...  be service NAME's proxy for one flow; try its
                                 records towards each ADDR while the flow is
                                 open, then again once it has ended
  records BLOBFILE ADDR PORT     give a new socket records, connect
  forge NAME PORT KEYHEX         be NAME's proxy for one flow; re-sign its
                                 records with KEYHEX as another user's; try
  hold NAME PORT FILE            claim NAME's listener, a deep backlog, and never
                                 accept (a stopped proxy) until FILE appears
  flood ADDR PORT N FILE         start N connects at once; print how many
                                 started and how each other one failed; keep
                                 them open until FILE appears
  ccswitch ADDR PORT             three connects that set another congestion
                                 control: once connected, while connecting
                                 (non-blocking), and the layer's own; print
                                 "name result peer" for each (peer: what
                                 getpeername shows, or -)
  ccproxy NAME PORT N            be NAME's proxy for N flows: print, for each,
                                 what a CONTEXT query gave (OK or the errno)
                                 and the first bytes the client sent
"""
import errno
import os
import select
import socket
import struct
import sys
import time

from srtest import (CLAIM, CONTEXT, RECORDS, SOL_SOCKREDIR, claimed_listener, err, family,
                    take_flows)

TCP_MD5SIG = 14


def tcp_connect(addr, port, rec=None):
    s = socket.socket(family(addr))
    try:
        if rec is not None:
            try:
                s.setsockopt(SOL_SOCKREDIR, RECORDS, rec)
            except OSError as e:
                return "set:" + err(e)
        s.settimeout(3)
        s.connect((addr, int(port)))
        return "OK"
    except OSError as e:
        return err(e)
    finally:
        s.close()


def udp(how, addr, port):
    s = socket.socket(family(addr), socket.SOCK_DGRAM)
    s.settimeout(2)
    try:
        if how == "connect":
            s.connect((addr, int(port)))
            s.send(b"ping")
        else:
            s.sendto(b"ping", (addr, int(port)))
        return "OK" if s.recv(64) == b"ping" else "garbled"
    except OSError as e:
        return err(e)


def md5(addr, port):
    s, n = socket.socket(), 0
    try:
        while n < 100000:
            sa = struct.pack("=H", socket.AF_INET) + b"\0\0" + \
                bytes([10, n >> 16 & 255, n >> 8 & 255, n & 255])
            s.setsockopt(socket.IPPROTO_TCP, TCP_MD5SIG, sa.ljust(128, b"\0") +
                         struct.pack("=BBHi", 0, 0, 16, 0) + b"k" * 80)
            n += 1
    except OSError as e:
        if e.errno != errno.ENOMEM:
            return "setup:" + err(e)
    s.settimeout(5)
    try:
        s.connect((addr, int(port)))
        s.sendall(b"GET /hello.txt HTTP/1.0\r\n\r\n")
        return "OK" if s.recv(4096) else "EOF"
    except OSError as e:
        return err(e)


def listener(addr, port, reuseport=False):
    s = socket.socket(family(addr))
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if reuseport:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    s.bind((addr, int(port)))
    s.listen(64)
    return s


def bind(addr, port, reuseport=""):
    try:
        listener(addr, port, reuseport == "reuseport").close()
        return "OK"
    except OSError as e:
        return err(e)


def listen(name, addr, port, stop, n=1):
    import select
    socks = [listener(addr, port, True) for _ in range(int(n))]
    for s in socks:
        if name != "-":
            s.setsockopt(SOL_SOCKREDIR, CLAIM, name.encode())
        s.setblocking(False)
    flows = contexts = 0
    while not os.path.exists(stop):
        for s in select.select(socks, [], [], 0.05)[0]:
            try:
                c, _ = s.accept()
            except BlockingIOError:
                continue
            flows += 1
            try:
                c.getsockopt(SOL_SOCKREDIR, CONTEXT, 512)
                contexts += 1
            except OSError:
                pass
            c.close()
    return "flows %d contexts %d" % (flows, contexts)


def group(name, port, d):
    import select
    socks = [listener("127.0.0.1", port, True)]
    while not os.path.exists(d + "/claim"):
        time.sleep(0.02)
    socks[0].setsockopt(SOL_SOCKREDIR, CLAIM, name.encode())
    open(d + "/n", "w").write("1\n")
    while not os.path.exists(d + "/stop"):
        if os.path.exists(d + "/more"):
            os.unlink(d + "/more")
            s = listener("127.0.0.1", port, True)
            s.setsockopt(SOL_SOCKREDIR, CLAIM, name.encode())
            socks.append(s)
            open(d + "/n", "w").write("%d\n" % len(socks))
        for s in select.select(socks, [], [], 0.02)[0]:
            s.accept()[0].close()
    return "sockets %d" % len(socks)


def connects(addr, port, n):
    got = {}
    for _ in range(int(n)):
        r = tcp_connect(addr, port)
        got[r] = got.get(r, 0) + 1
    return " ".join("%s %d" % kv for kv in sorted(got.items()))


def accept_one(name, port):
    s = claimed_listener(name, port)
    c, _ = s.accept()
    s.close()
    return c


def finish(c):
    """Answer the client and wait until it has gone."""
    c.sendall(b"HTTP/1.0 200 OK\r\n\r\nproxied\n")
    c.shutdown(socket.SHUT_WR)
    c.settimeout(5)
    while c.recv(4096):
        pass
    c.close()


def capture(name, port, pub, *addrs):
    c = accept_one(name, port)
    rec = c.getsockopt(SOL_SOCKREDIR, RECORDS, 256)
    with open(pub + "/blob", "w") as f:
        f.write(rec.hex())
    out = ["live %s %s" % (a, tcp_connect(a, 8080, rec)) for a in addrs]
    open(pub + "/live", "w").close()
    for _ in range(200):		# the test tries the blob as someone else
        if os.path.exists(pub + "/go"):
            break
        time.sleep(0.05)
    finish(c)
    for a in addrs:
        for _ in range(100):		# the hop ends once its socket is gone
            r = tcp_connect(a, 8080, rec)
            if r != "OK":
                break
            time.sleep(0.05)
        out.append("ended %s %s" % (a, r))
    return "\n".join(out)


def siphash(words, k0, k1):
    mask = (1 << 64) - 1
    v = [0x736f6d6570736575 ^ k0, 0x646f72616e646f6d ^ k1,
         0x6c7967656e657261 ^ k0, 0x7465646279746573 ^ k1]

    def rotl(x, b):
        return ((x << b) | (x >> (64 - b))) & mask

    def rnd():
        v[0] = (v[0] + v[1]) & mask; v[1] = rotl(v[1], 13) ^ v[0]
        v[0] = rotl(v[0], 32)
        v[2] = (v[2] + v[3]) & mask; v[3] = rotl(v[3], 16) ^ v[2]
        v[0] = (v[0] + v[3]) & mask; v[3] = rotl(v[3], 21) ^ v[0]
        v[2] = (v[2] + v[1]) & mask; v[1] = rotl(v[1], 17) ^ v[2]
        v[2] = rotl(v[2], 32)
    for w in words:
        v[3] ^= w; rnd(); rnd(); v[0] ^= w
    b = (len(words) * 8) << 56 & mask
    v[3] ^= b; rnd(); rnd(); v[0] ^= b
    v[2] ^= 0xff
    for _ in range(4):
        rnd()
    return v[0] ^ v[1] ^ v[2] ^ v[3]


def forge(name, port, keyhex):
    c = accept_one(name, port)
    rec = bytearray(c.getsockopt(SOL_SOCKREDIR, RECORDS, 256))
    dst = c.getsockopt(socket.SOL_IP, 80, 16)	# SO_ORIGINAL_DST
    addr, dport = socket.inet_ntoa(dst[4:8]), struct.unpack(">H", dst[2:4])[0]
    k0, k1 = struct.unpack("<QQ", bytes.fromhex(keyhex))
    as_given = tcp_connect(addr, dport, bytes(rec))
    struct.pack_into("<I", rec, 20, 4242)	# app_uid: someone else
    n = (len(rec) - 8) // 8
    struct.pack_into("<Q", rec, len(rec) - 8,
                     siphash(struct.unpack("<%dQ" % n, rec[:n * 8]), k0, k1))
    forged = tcp_connect(addr, dport, bytes(rec))
    finish(c)
    return "given %s\nforged %s" % (as_given, forged)


def hold(name, port, stop):
    s = claimed_listener(name, port, 4096)     # open while s is, never accepted
    while not os.path.exists(stop):
        time.sleep(0.05)
    return "held"


def flood(addr, port, n, stop):
    socks, fails = [], {}
    for _ in range(int(n)):
        s = socket.socket()
        s.setblocking(False)
        r = s.connect_ex((addr, int(port)))
        if r in (0, errno.EINPROGRESS):
            socks.append(s)
        else:
            fails[errno.errorcode.get(r, str(r))] = fails.get(errno.errorcode.get(r, str(r)), 0) + 1
            s.close()
    print("started %d %s" % (len(socks), " ".join(
        "%s %d" % kv for kv in sorted(fails.items()))), flush=True)
    while not os.path.exists(stop):
        time.sleep(0.05)
    return "done"


TCP_CONGESTION = 13


def ccswitch(addr, port):
    out = []
    for how in ("connected", "connecting", "own"):
        s = socket.socket(family(addr))
        try:
            if how == "own":
                # The layer's congestion control: not an application's.
                s.setsockopt(socket.IPPROTO_TCP, TCP_CONGESTION, b"sockredir")
            if how == "connecting":
                s.setblocking(False)
                s.connect_ex((addr, int(port)))
                s.setsockopt(socket.IPPROTO_TCP, TCP_CONGESTION, b"reno")
                select.select([], [s], [], 3)
                e = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                if e:
                    raise OSError(e, os.strerror(e))
                s.setblocking(True)
            else:
                s.settimeout(3)
                s.connect((addr, int(port)))
                s.setsockopt(socket.IPPROTO_TCP, TCP_CONGESTION, b"reno")
            s.sendall(b"hi-" + how.encode() + b"\n")
            cc = s.getsockopt(socket.IPPROTO_TCP, TCP_CONGESTION, 16)
            peer = "%s:%d" % s.getpeername()[:2]
            s.settimeout(3)
            s.recv(16)      # the proxy's close
            out.append("%s OK %s %s" % (how, peer, cc.rstrip(b"\0").decode()))
        except OSError as e:
            out.append("%s %s -" % (how, err(e)))
        finally:
            s.close()
    return "\n".join(out)


def ccproxy(name, port, n):
    return take_flows(name, port, n, 10)


def main():
    cmds = {"connect": tcp_connect, "udp": udp, "md5": md5, "bind": bind,
            "listen": listen, "capture": capture, "forge": forge,
            "hold": hold, "flood": flood, "connects": connects, "group": group,
            "ccswitch": ccswitch, "ccproxy": ccproxy,
            "records": lambda f, a, p: tcp_connect(
                a, p, bytes.fromhex(open(f).read()))}
    if len(sys.argv) < 2 or sys.argv[1] not in cmds:
        sys.exit(__doc__)
    print(cmds[sys.argv[1]](*sys.argv[2:]), flush=True)


if __name__ == "__main__":
    main()
