"""avrobin.py - the two pieces of Avro's binary encoding that sluice's test
scripts write by hand (the Avro specification, "Binary Encoding"): int and
long as zig-zag varints, and string (or bytes) as a long length and the
bytes.  Imported by tests/soak/feed.py, tests/fuzz/make_seeds.py and
tests/debezium/cdc/keys_in_topic.py (each puts tests/support on sys.path)."""


def zigzag(n):
    """An int or long: zig-zag, then a little-endian base-128 varint."""
    u = ((n << 1) ^ (n >> 63)) & ((1 << 64) - 1)
    out = bytearray()
    while True:
        b = u & 0x7F
        u >>= 7
        if u:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def string(s):
    """A string (str, as UTF-8) or bytes: its length, then the bytes."""
    b = s.encode() if isinstance(s, str) else s
    return zigzag(len(b)) + b
