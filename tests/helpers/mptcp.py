#!/usr/bin/env python3
"""An MPTCP client: socket(AF_INET or AF_INET6, SOCK_STREAM, IPPROTO_MPTCP).

  mptcp.py get HOST PORT PATH   one HTTP/1.0 GET; print "PEER STATUS BODY":
                                getpeername() of the connected socket, as
                                HOST:PORT, then the reply (or "- ERRNO-NAME"
                                if the connect failed, "PEER ERRNO-NAME" if
                                the exchange did)
  mptcp.py connect HOST PORT    print "OK" or the connect's errno name
  mptcp.py hold HOST PORT FILE  connect, send a line and read its echo, print
                                "OK" (or the errno name), keep the connection
                                open until FILE exists (30 s at most), then
                                once more
  mptcp.py echo PORT            an MPTCP server on 0.0.0.0:PORT that echoes

Each first checks that the kernel made an MPTCP socket (SO_PROTOCOL 262):
otherwise it prints "not-mptcp" and exits 1, so a test cannot pass on
plain TCP.
"""
import os, socket, sys, threading, time

from srtest import err, family, http_get

IPPROTO_MPTCP = 262


def open_mptcp(host):
    s = socket.socket(family(host), socket.SOCK_STREAM, IPPROTO_MPTCP)
    if s.getsockopt(socket.SOL_SOCKET, socket.SO_PROTOCOL) != IPPROTO_MPTCP:
        print("not-mptcp")
        sys.exit(1)
    s.settimeout(5)
    return s


def get(host, port, path):
    http_get(open_mptcp(host), host, port, path)


def connect(host, port):
    s = open_mptcp(host)
    try:
        s.connect((host, int(port)))
        print("OK")
    except OSError as e:
        print(err(e))
    finally:
        s.close()


def hold(host, port, stop):
    s = open_mptcp(host)
    try:
        s.connect((host, int(port)))
        s.sendall(b"ping\n")
        if s.recv(64) != b"ping\n":
            print("garbled", flush=True)
            return
        print("OK", flush=True)
    except OSError as e:
        print(err(e), flush=True)
        return
    for _ in range(600):
        if os.path.exists(stop):
            break
        time.sleep(0.05)
    try:
        s.sendall(b"pong\n")
        print("OK" if s.recv(64) == b"pong\n" else "garbled")
    except OSError as e:
        print(err(e))
    s.close()


def echo(port):
    ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM, IPPROTO_MPTCP)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("0.0.0.0", int(port)))
    ls.listen(64)

    def serve(c):
        with c:
            while True:
                data = c.recv(65536)
                if not data:
                    return
                c.sendall(data)
    while True:
        c, _ = ls.accept()
        threading.Thread(target=serve, args=(c,), daemon=True).start()


def main():
    what, args = sys.argv[1], sys.argv[2:]
    if what == "get" and len(args) == 3:
        get(*args)
    elif what == "connect" and len(args) == 2:
        connect(*args)
    elif what == "hold" and len(args) == 3:
        hold(*args)
    elif what == "echo" and len(args) == 1:
        echo(*args)
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
