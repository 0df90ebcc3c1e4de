#!/usr/bin/python3
"""make_protobuf_seeds.py - write the seed inputs of tests/fuzz/corpus/protobuf
for the schemas of tests/fuzz/schemas/protobuf: the byte that picks the
schema, the message-index path, then the Protobuf encoding (varints,
length-delimited fields, little-endian fixed-width), written here by the
encoding rules.  The seeds are committed; run this again after changing a
schema."""
import hashlib
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))


def varint(u):
    u &= (1 << 64) - 1
    out = bytearray()
    while True:
        b = u & 0x7F
        u >>= 7
        out.append(b | 0x80 if u else b)
        if not u:
            return bytes(out)


def zz(n):
    return (n << 1) ^ (n >> 63)


def key(n, wt):
    return varint(n << 3 | wt)


def vi(n, x):
    return key(n, 0) + varint(x)


def ld(n, b):
    return key(n, 2) + varint(len(b)) + b


def f64(n, x, fmt="<d"):
    return key(n, 1) + struct.pack(fmt, x)


def f32(n, x, fmt="<f"):
    return key(n, 5) + struct.pack(fmt, x)


def ts(n, s, ns=0):
    return ld(n, (vi(1, s) if s else b"") + (vi(2, ns) if ns else b""))


FLAT = [  # schema 1 (byte 0), index path [0]
    vi(1, 7) + ld(2, b"seven") + vi(3, zz(-3)) + vi(4, 42) + f64(5, 12.5) + vi(6, 2**63 + 5) + f32(7, 1.5) +
    f64(8, -0.25) + vi(9, 1) + ts(10, 1714564800, 123456000) + ld(11, b"2024-05-01T12:00:00") +
    ld(12, b"2024-05-01") + f32(13, 3600, "<I") + ld(14, b"0b0f1c2e-3a4b-4c5d-8e9f-a0b1c2d3e4f5") +
    f64(15, -9, "<q") + f64(16, 9, "<Q") + ld(17, b"\x00\xff") + vi(20, 1) + vi(21, zz(-1)),
    vi(1, 1),
    vi(1, 2) + ld(2, "\u00e9t\u00e9".encode()) + vi(20, 9) + vi(4, 2**64 - 1),
    vi(1, 3) + ld(2, b"\xc3"),
    vi(1, 4) + vi(1, 5),
    vi(1, 5) + ts(10, 253402300800),
    vi(1, 6) + vi(99, 1),
]
NESTED = [  # schema 2 (byte 1)
    vi(1, 1) + ld(2, ld(1, b"x")) + ld(3, ld(1, ld(1, b"k") + ld(2, vi(2 << 0, 0) + f64(2, 1.0)))) +
    ld(4, f64(1, 5, "<Q") + ld(2, f64(1, 6, "<Q"))) + ld(5, b"a") + ld(5, b"b") + ld(6, varint(zz(-2)) + varint(3)) +
    ld(7, ld(1, b"m") + vi(2, 4)) + ld(8, vi(1, 3600) + vi(2, 500000000)) + ld(10, vi(1, 8)),
    vi(1, 2) + ts(9, 0, 1),
]


def main():
    out = os.path.join(HERE, "corpus", "protobuf")
    os.makedirs(out, exist_ok=True)
    seeds = [b"\x00" + b"\x00" + m for m in FLAT] + [b"\x01" + b"\x00" + m for m in NESTED]
    seeds += [b"\x00\x04\x00\x00", b"\x00\x01", b"\x01\x02\x02"]  # index paths: [0, 0], -1, [1]
    for s in seeds:
        with open(os.path.join(out, "seed-" + hashlib.sha1(s).hexdigest()[:12]), "wb") as f:
            f.write(s)


if __name__ == "__main__":
    main()
