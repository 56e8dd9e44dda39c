#!/usr/bin/env python3
"""A QUIC v1 client Initial (RFC 9000 §17.2.2, protected as RFC 9001 §5
says) carrying a TLS ClientHello with a server name, for the relay's SNI
deny list.

  quic_initial.py send NAME DST [WAIT]   one Initial naming NAME to DST
                                         (HOST:PORT); prints its DCID (hex)
                                         and "reply" or, after WAIT s
                                         (default 3), "none"
  quic_initial.py serve HOST:PORT LOG    a server: appends each datagram's
                                         DCID (hex) to LOG, answers "ok"
"""
import os, socket, struct, sys

from cryptography.hazmat.primitives import hashes, hmac
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDFExpand

SALT = bytes.fromhex("38762cf7f55934b34d179ae6a4c80cadccbb7f0a")


def addr(spec):
    host, port = spec.rsplit(":", 1)
    host = host.strip("[]")
    return (socket.AF_INET6 if ":" in host else socket.AF_INET), (host, int(port))


def extract(salt, ikm):
    h = hmac.HMAC(salt, hashes.SHA256())
    h.update(ikm)
    return h.finalize()


def label(secret, name, n):
    full = b"tls13 " + name
    info = struct.pack("!HB", n, len(full)) + full + b"\0"
    return HKDFExpand(hashes.SHA256(), n, info).derive(secret)


def client_hello(name):
    n = name.encode()
    sni = struct.pack("!HBH", len(n) + 3, 0, len(n)) + n
    exts = struct.pack("!HH", 0, len(sni)) + sni
    exts += struct.pack("!HHB", 43, 3, 2) + b"\x03\x04"	# supported_versions
    body = b"\x03\x03" + os.urandom(32) + b"\x00" + b"\x00\x02\x13\x01" + \
        b"\x01\x00" + struct.pack("!H", len(exts)) + exts
    return b"\x01" + struct.pack("!I", len(body))[1:] + body


def initial(name, dcid):
    hello = client_hello(name)
    frames = b"\x06\x00" + struct.pack("!H", 0x4000 | len(hello)) + hello
    pn, pn_len = 0, 1
    length = 1200 - 1 - 4 - 1 - len(dcid) - 1 - 1 - 2	# header to length
    payload = frames + b"\0" * (length - pn_len - 16 - len(frames))
    header = b"\xc0" + struct.pack("!I", 1) + bytes([len(dcid)]) + dcid + \
        b"\x00\x00" + struct.pack("!H", 0x4000 | length) + bytes([pn])
    client = label(extract(SALT, dcid), b"client in", 32)
    key, iv, hp = (label(client, b"quic key", 16), label(client, b"quic iv", 12),
                   label(client, b"quic hp", 16))
    nonce = iv[:-1] + bytes([iv[-1] ^ pn])
    ct = AESGCM(key).encrypt(nonce, payload, header)
    pn_off = len(header) - pn_len
    sample = ct[4 - pn_len:4 - pn_len + 16]
    enc = Cipher(algorithms.AES(hp), modes.ECB()).encryptor()
    mask = enc.update(sample) + enc.finalize()
    h = bytearray(header)
    h[0] ^= mask[0] & 0x0f
    for i in range(pn_len):
        h[pn_off + i] ^= mask[1 + i]
    return bytes(h) + ct


def main():
    if sys.argv[1] == "send":
        fam, dst = addr(sys.argv[3])
        wait = float(sys.argv[4]) if len(sys.argv) > 4 else 3
        dcid = os.urandom(8)
        s = socket.socket(fam, socket.SOCK_DGRAM)
        s.settimeout(wait)
        s.sendto(initial(sys.argv[2], dcid), dst)
        try:
            s.recvfrom(2048)
            print(dcid.hex(), "reply")
        except socket.timeout:
            print(dcid.hex(), "none")
    elif sys.argv[1] == "serve":
        fam, me = addr(sys.argv[2])
        s = socket.socket(fam, socket.SOCK_DGRAM)
        s.bind(me)
        with open(sys.argv[3], "a") as log:
            while True:
                d, peer = s.recvfrom(65536)
                log.write(d[6:6 + d[5]].hex() + "\n" if len(d) > 6 else "?\n")
                log.flush()
                s.sendto(b"ok", peer)
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
