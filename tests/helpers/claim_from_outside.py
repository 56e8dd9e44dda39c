#!/usr/bin/env python3
"""Claim an unmodified proxy's listeners for it, from outside (diagnostic).

  claim_from_outside.py NAME PORT   for every socket listening on PORT in
                                    this network namespace, take a copy of
                                    the proxy's descriptor (pidfd_getfd, as
                                    root) and claim it for service NAME;
                                    print one "claimed PID FD" line each

This stands in for "claim by owner" until the kernel side does it, so that
tests/integration/proxies.sh can be run against what is built today
(SOCKREDIR_TEST_PROXIES=outside-claim).  It is not how to run a proxy.
"""
import ctypes, os, re, socket, subprocess, sys

SOL_SOCKREDIR, SOCKREDIR_CLAIM = 0x5352, 3
SYS_pidfd_getfd = 438
libc = ctypes.CDLL(None, use_errno=True)


def main():
    name, port = sys.argv[1], sys.argv[2]
    out = subprocess.run(["ss", "-Hltnp", "sport = :%s" % port],
                         capture_output=True, text=True, check=True).stdout
    n = 0
    for pid, fd in sorted(set(re.findall(r"pid=(\d+),fd=(\d+)", out))):
        pidfd = os.pidfd_open(int(pid))
        dup = libc.syscall(SYS_pidfd_getfd, pidfd, int(fd), 0)
        os.close(pidfd)
        if dup < 0:
            sys.exit("pidfd_getfd %s/%s: %s" % (pid, fd, os.strerror(ctypes.get_errno())))
        s = socket.socket(fileno=dup)
        s.setsockopt(SOL_SOCKREDIR, SOCKREDIR_CLAIM, name.encode())
        s.detach()
        os.close(dup)
        print("claimed", pid, fd)
        n += 1
    if not n:
        sys.exit("nothing listens on port %s" % port)


if __name__ == "__main__":
    main()
