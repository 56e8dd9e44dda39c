#!/usr/bin/env python3
"""One HTTP/1.0 GET on one socket, to see what the client's socket shows.

  peerget.py HOST:PORT PATH   print "PEER STATUS BODY": getpeername() of the
                              connected socket, as HOST:PORT, then the reply
                              (or "PEER ERRNO-NAME" if the exchange failed)
"""
import socket, sys

from srtest import family, http_get


def main():
    host, port = sys.argv[1].rsplit(":", 1)
    host = host.strip("[]")
    s = socket.socket(family(host))
    s.settimeout(5)
    http_get(s, host, port, sys.argv[2], lambda s: "%s:%d" % s.getpeername()[:2])


if __name__ == "__main__":
    main()
