#!/usr/bin/env python3
"""Both ends of a TCP flow, for testing sockredir-relay.

  relay_peer.py serve ADDR:PORT MODE [ARG]   one mode per port; each
      connection ends with one line on stdout: what the server saw.
    sink            read to EOF, answer "<bytes> <sha256>", close
    source FILE     send FILE, close; read and count meanwhile
    both FILE       send FILE while reading to EOF; log what was read
    banner          say "220 banner" and half-close, then read to EOF
    rst             read one chunk, then reset the connection
    slow FILE BPS   send FILE at BPS bytes a second

  relay_peer.py client ADDR:PORT [--send FILE] [--hello SNI] [--text S]
      [--slow-write BPS] [--slow-read BPS] [--recv FILE] [--rst-after SEC]
      [--no-shut] [--after-eof]
    Prints "eof <bytes> <sha256>" or "reset <bytes>" for what it read.
"""
import argparse, hashlib, os, socket, struct, sys, threading, time

CHUNK = 65536


def parse_addr(s):
    host, port = s.rsplit(":", 1)
    host = host.strip("[]")
    return (socket.AF_INET6 if ":" in host else socket.AF_INET), (host, int(port))


def client_hello(sni):
    """A TLS 1.3-style ClientHello carrying @sni, in one record."""
    name = sni.encode()
    sni_ext = struct.pack(">HHHBH", 0, len(name) + 5, len(name) + 3, 0, len(name)) + name
    exts = (struct.pack(">HHB2s", 0x2b, 3, 2, b"\x03\x04") + sni_ext +
            struct.pack(">HHHH", 0x0a, 4, 2, 0x1d))
    body = (b"\x03\x03" + os.urandom(32) + b"\x20" + os.urandom(32) +
            struct.pack(">H", 4) + b"\x13\x01\x13\x02" + b"\x01\x00" +
            struct.pack(">H", len(exts)) + exts)
    hs = b"\x01" + len(body).to_bytes(3, "big") + body
    return b"\x16\x03\x01" + struct.pack(">H", len(hs)) + hs


def read_all(sock, limit_bps=0, sink=None):
    """Read to EOF; returns (nbytes, sha256, 'eof'|'reset')."""
    h, n, start = hashlib.sha256(), 0, time.monotonic()
    while True:
        try:
            data = sock.recv(4096 if limit_bps else CHUNK)
        except ConnectionResetError:
            return n, h.hexdigest(), "reset"
        if not data:
            return n, h.hexdigest(), "eof"
        h.update(data)
        n += len(data)
        if sink:
            sink.write(data)
        if limit_bps:
            ahead = n / limit_bps - (time.monotonic() - start)
            if ahead > 0:
                time.sleep(ahead)


def send_file(sock, path, bps=0):
    start, sent = time.monotonic(), 0
    with open(path, "rb") as f:
        while True:
            data = f.read(16384 if bps else CHUNK)
            if not data:
                return
            sock.sendall(data)
            sent += len(data)
            if bps:
                ahead = sent / bps - (time.monotonic() - start)
                if ahead > 0:
                    time.sleep(ahead)


def say(*words):
    print(*words, flush=True)


def handle(conn, mode, args):
    try:
        if mode == "sink":
            n, sha, how = read_all(conn)
            if how == "eof":
                conn.sendall(b"%d %s\n" % (n, sha.encode()))
            say(how, n, sha)
        elif mode in ("source", "slow"):
            bps = int(args[1]) if mode == "slow" else 0
            send_file(conn, args[0], bps)
            conn.shutdown(socket.SHUT_WR)
            n, sha, how = read_all(conn)
            say(how, n, sha)
        elif mode == "both":
            t = threading.Thread(target=send_file, args=(conn, args[0]))
            t.start()
            n, sha, how = read_all(conn)
            t.join()
            conn.shutdown(socket.SHUT_WR)
            say(how, n, sha)
        elif mode == "banner":
            conn.sendall(b"220 banner\r\n")
            conn.shutdown(socket.SHUT_WR)
            n, sha, how = read_all(conn)
            say(how, n, sha)
        elif mode == "rst":
            conn.recv(CHUNK)
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            say("rst")
    except (ConnectionResetError, BrokenPipeError):
        say("reset")
    finally:
        conn.close()


def serve(a):
    family, addr = parse_addr(a.addr)
    ls = socket.socket(family, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(addr)
    ls.listen(1024)
    while True:
        conn, _ = ls.accept()
        threading.Thread(target=handle, args=(conn, a.mode, a.args), daemon=True).start()


def client(a):
    family, addr = parse_addr(a.addr)
    s = socket.socket(family, socket.SOCK_STREAM)
    s.settimeout(30)
    try:
        s.connect(addr)
    except ConnectionResetError:
        # A fast reset can beat connect()'s own completion check.
        say("reset", 0, hashlib.sha256().hexdigest())
        return 0
    except OSError as e:
        say("connect", e.strerror)
        return 1
    out = open(a.recv, "wb") if a.recv else None
    eof = threading.Event()
    reset_seen = threading.Event()

    def writer():
        try:
            if a.after_eof:
                eof.wait(30)
            if a.text:
                s.sendall(a.text.encode().decode("unicode_escape").encode("latin-1"))
            if a.hello:
                s.sendall(client_hello(a.hello))
            if a.send:
                send_file(s, a.send, a.slow_write)
            if a.rst_after is not None:
                time.sleep(a.rst_after)
                s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                s.close()
                return
            if not a.no_shut:
                s.shutdown(socket.SHUT_WR)
        except (ConnectionResetError, BrokenPipeError):
            # The reset reached the writer first: the socket reports it
            # once, so the reader would see a plain end of stream.
            reset_seen.set()
        except OSError:
            pass

    t = threading.Thread(target=writer)
    t.start()
    if a.rst_after is not None:
        t.join()
        say("rst")
        return 0
    try:
        n, sha, how = read_all(s, a.slow_read, out)
    except OSError as e:
        say("error", e.strerror)
        return 1
    eof.set()
    t.join()
    if how == "eof" and reset_seen.is_set():
        how = "reset"
    say(how, n, sha)
    return 0


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    sv = sub.add_parser("serve")
    sv.add_argument("addr")
    sv.add_argument("mode")
    sv.add_argument("args", nargs="*")
    cl = sub.add_parser("client")
    cl.add_argument("addr")
    cl.add_argument("--send")
    cl.add_argument("--text")
    cl.add_argument("--hello")
    cl.add_argument("--recv")
    cl.add_argument("--slow-write", type=int, default=0)
    cl.add_argument("--slow-read", type=int, default=0)
    cl.add_argument("--rst-after", type=float)
    cl.add_argument("--no-shut", action="store_true")
    cl.add_argument("--after-eof", action="store_true",
                    help="send only after reading EOF")
    a = p.parse_args()
    if a.cmd == "serve":
        serve(a)
        return 0
    return client(a)


if __name__ == "__main__":
    sys.exit(main())
