#!/usr/bin/env python3
"""One HTTP/1.0 GET on one socket, to see what the client's socket shows.

  peerget.py HOST:PORT PATH   print "PEER STATUS BODY": getpeername() of the
                              connected socket, as HOST:PORT, then the reply
                              (or "PEER ERRNO-NAME" if the exchange failed)
"""
import errno, socket, sys


def main():
    host, port = sys.argv[1].rsplit(":", 1)
    host = host.strip("[]")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    s = socket.socket(family, socket.SOCK_STREAM)
    s.settimeout(5)
    try:
        s.connect((host, int(port)))
    except OSError as e:
        print("- %s" % errno.errorcode.get(e.errno, e))
        return
    peer = "%s:%d" % s.getpeername()[:2]
    try:
        name = host if family == socket.AF_INET else "[%s]" % host
        s.sendall(b"GET %s HTTP/1.0\r\nHost: %s:%s\r\n\r\n"
                  % (sys.argv[2].encode(), name.encode(), port.encode()))
        reply = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            reply += chunk
    except OSError as e:
        print(peer, errno.errorcode.get(e.errno, e))
        return
    head, _, body = reply.partition(b"\r\n\r\n")
    status = head.split(b" ")[1].decode() if head.startswith(b"HTTP/") else "none"
    print(peer, status, body.decode(errors="replace").strip())


if __name__ == "__main__":
    main()
