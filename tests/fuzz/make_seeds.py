#!/usr/bin/python3
"""make_seeds.py - write the Avro seed inputs of tests/fuzz/corpus/avro and
corpus/debezium_avro from the schemas of tests/fuzz/schemas: one datum per
value below, Avro binary encoding (specification 1.11.1, "Binary
Encoding"), behind the one byte that picks the schema in fuzz_decode.c.

Run it again after changing a schema (python3 tests/fuzz/make_seeds.py);
the seeds are committed so that CI needs no Python Avro library."""
import hashlib
import json
import os
import struct
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support"))
from avrobin import zigzag  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))


class Encoder:
    """Enough of Avro for the seed schemas: named types resolved by full name."""

    def __init__(self):
        self.named = {}

    def register(self, t, ns=""):
        """Every named type defined in t, by full name."""
        if isinstance(t, list):
            for b in t:
                self.register(b, ns)
        elif isinstance(t, dict):
            if isinstance(t.get("type"), (dict, list)):
                self.register(t["type"], ns)
            elif t.get("type") in ("record", "error", "enum", "fixed"):
                fn = self.fullname(t["name"], t.get("namespace", ns))
                inner = fn.rsplit(".", 1)[0] if "." in fn else ""
                self.named.setdefault(fn, (t, inner))
                for f in t.get("fields", []):
                    self.register(f["type"], inner)
            elif t.get("type") == "array":
                self.register(t["items"], ns)
            elif t.get("type") == "map":
                self.register(t["values"], ns)

    def fullname(self, name, ns):
        if "." in name or not ns:
            return name.lstrip(".")
        return ns + "." + name

    def resolve(self, t, ns):
        """The schema object t stands for, plus its namespace."""
        if isinstance(t, str):
            if t in ("null", "boolean", "int", "long", "float", "double", "bytes", "string"):
                return {"type": t}, ns
            fn = self.fullname(t, ns)
            return self.named[fn]
        if isinstance(t, list):
            return t, ns
        if isinstance(t.get("type"), (dict, list)):
            return self.resolve(t["type"], ns)
        if t["type"] in ("record", "error", "enum", "fixed"):
            fn = self.fullname(t["name"], t.get("namespace", ns))
            inner = fn.rsplit(".", 1)[0] if "." in fn else ""
            self.named.setdefault(fn, (t, inner))
            return t, inner
        if t["type"] not in ("array", "map") and t["type"] not in (
            "null", "boolean", "int", "long", "float", "double", "bytes", "string"):
            return self.named[self.fullname(t["type"], ns)]
        return t, ns

    def enc(self, t, v, ns=""):
        t, ns = self.resolve(t, ns)
        if isinstance(t, list):  # union: v is (branch index, value)
            i, inner = v
            return zigzag(i) + self.enc(t[i], inner, ns)
        ty = t["type"]
        if ty == "null":
            return b""
        if ty == "boolean":
            return b"\x01" if v else b"\x00"
        if ty in ("int", "long"):
            return zigzag(v)
        if ty == "float":
            return struct.pack("<f", v)
        if ty == "double":
            return struct.pack("<d", v)
        if ty in ("bytes", "string"):
            b = v.encode() if isinstance(v, str) else v
            return zigzag(len(b)) + b
        if ty == "fixed":
            assert len(v) == t["size"], (t["name"], v)
            return v
        if ty == "enum":
            return zigzag(t["symbols"].index(v))
        if ty == "record":
            return b"".join(self.enc(f["type"], v[f["name"]], ns) for f in t["fields"])
        if ty == "array":
            if not v:
                return b"\x00"
            return zigzag(len(v)) + b"".join(self.enc(t["items"], x, ns) for x in v) + b"\x00"
        if ty == "map":
            if not v:
                return b"\x00"
            body = b"".join(self.enc("string", k) + self.enc(t["values"], x, ns) for k, x in v.items())
            return zigzag(len(v)) + body + b"\x00"
        raise ValueError(ty)


def decimal_bytes(unscaled, n=None):
    length = n or max(1, (unscaled.bit_length() + 8) // 8)
    return unscaled.to_bytes(length, "big", signed=True)


UUID = bytes(range(16))

ALLTYPES = [
    {"id": 1, "name": (1, "plain"), "small": -3, "n": 7, "amount": decimal_bytes(-1234),
     "big": decimal_bytes(10**30 + 5, 20), "f4": 1.5, "f": -0.25, "ok": True,
     "ts": 1714564800123456, "local": 1714564800123, "day": -1, "at": 3723004,
     "u": "6f1c1d2e-8a3b-4c5d-9e0f-112233445566", "doc": {"a": (1, 5), "b": (2, "x"), "c": (0, None)},
     "blob": b"\x00\xff\x10", "tags": ["x", "y"], "nums": [(1, 1), (0, None)], "color": "GREEN",
     "span": struct.pack("<III", 1, 2, 3004), "fid": UUID, "tm": 86400000000, "tsm": -62135596800000,
     "other": "10.0.0.1"},
    {"id": -9223372036854775808, "name": (0, None), "small": 70000, "n": -2147483648,
     "amount": decimal_bytes(10**12), "big": decimal_bytes(-1, 20), "f4": float("inf"), "f": float("nan"),
     "ok": False, "ts": -1, "local": 0, "day": 2932896, "at": 0, "u": "not-a-uuid", "doc": {},
     "blob": b"", "tags": [], "nums": [], "color": "RED", "span": b"\xff" * 12, "fid": b"\xff" * 16,
     "tm": -1, "tsm": 9223372036854775, "other": "\u00fc\u2713"},
]

NAMED = [
    {"id": 2, "u": UUID, "doc": {"x": b"\x01", "c": b"\x02", "e": "B", "again": (1, "C")},
     "blob": b"\x03", "name": "A"},
    {"id": 3, "u": UUID, "doc": {"x": b"\x01", "c": b"\x02", "e": "A",
                                 "again": (3, {"x": b"\x04", "c": b"\x05", "e": "C", "again": (2, b"\x07")})},
     "blob": b"\x06", "name": "C"},
]


def node(i, depth):
    return {"id": i, "name": "n%d" % i,
            "left": (1, node(2 * i, depth - 1)) if depth else (0, None),
            "right": (0, None), "doc": [node(3 * i, depth - 1)] if depth > 1 else [],
            "kids": {"k": (1, node(5 * i, 0))} if depth else {}}


RECURSIVE = [node(1, 2), node(4, 0)]

UNIONS = [
    {"id": (0, 5), "doc": (5, {}), "amount": (1, decimal_bytes(-5)), "ts": (2, 0), "day": (1, 0),
     "nums": (1, [1, 2, 3]), "js": (1, "{\"a\": [1, null]}")},
    {"id": (1, None), "doc": (6, [(1, {}), (0, None)]), "amount": (0, None), "ts": (1, "2024-02-29T12:00:00Z"),
     "day": (0, None), "nums": (0, None), "js": (0, None)},
    {"id": (0, 6), "doc": (7, {"z": [None, None]}), "amount": (1, decimal_bytes(10**40)), "ts": (0, None),
     "day": (1, -719163), "nums": (1, []), "js": (1, "null")},
]

NULLS = [{"id": 1, "doc": [[None] * 3, []], "kids": {"a": {}, "b": {}}}]

PRIMITIVE = ["just a string"]

FLAT = [
    {"id": 1, "name": (1, "plain"), "small": -3, "n": 7, "amount": decimal_bytes(-1234),
     "big": decimal_bytes(10**15 + 5, 9), "f4": 1.5, "f": (0, 21.7), "ok": True, "color": "GREEN",
     "ts": 1714564800123456, "local": 1714564800123, "day": -1, "at": 3723004,
     "extra": {"a": "x", "b": [1, 2], "m": {"k": "v"}, "t": 0},
     "u": "6f1c1d2e-8a3b-4c5d-9e0f-112233445566", "blob": b"\x00\xff\x10", "other": "10.0.0.1"},
    {"id": -5, "name": (0, None), "small": -32768, "n": -2147483648, "amount": decimal_bytes(0),
     "big": decimal_bytes(-1, 9), "f4": 0.1, "f": (1, None), "ok": False, "color": "RED",
     "ts": -62135596800000001, "local": 0, "day": -719528, "at": 86400000,
     "extra": {"a": "", "b": [], "m": {}, "t": -1}, "u": "6F1C1D2E-8A3B-4C5D-9E0F-112233445566", "blob": b"", "other": "\u00fc\u2713"},
]

CROSS = [
    {"id": 3, "name": 12, "small": 32767, "n": 4.0, "amount": 0.3, "big": -7, "f4": 2, "f": (1, 0.1),
     "ok": (0, 1), "ts": 1714564800123, "local": "2024-05-01 12:00", "day": 19000, "at": 3723004,
     "u": (0, "6F1C1D2E8A3B4C5D9E0F112233445566"), "blob": "\\x00ff", "other": True, "js": "{}", "tm": 1},
    {"id": 4, "name": -1, "small": -32768, "n": 4.5, "amount": 1e300, "big": 0, "f4": -2, "f": (0, None),
     "ok": (2, "yes"), "ts": -1, "local": "infinity", "day": -100000000, "at": 86400000,
     "u": (0, "{6f1c1d2e-8a3b-4c5d-9e0f-112233445566}"), "blob": "plain", "other": False, "js": "[]", "tm": 0},
]


def dbz_value(i, **kw):
    v = {"id": i, "name": (1, "row %d" % i), "small": (1, -3), "n": (1, 7), "amount": (1, decimal_bytes(-200)),
         "big": (1, {"scale": 3, "value": decimal_bytes(12345)}), "f4": (1, 0.5), "f": (1, 2.25),
         "ok": (1, True), "day": (1, -1), "local": (1, 1714564800123456), "at": (1, 3723004005),
         "ts": (1, "2024-05-01T12:00:00.5+02:00"), "doc": (1, "{\"k\": [1, 2]}"), "js": (1, 1714564800123456789),
         "other": (1, b"\x05"), "blob": (1, b"\x00\xff"), "tags": (1, [(1, "a"), (0, None)]),
         "nums": (1, [1, -1]), "u": (1, "6f1c1d2e-8a3b-4c5d-9e0f-112233445566")}
    v.update(kw)
    return v


SOURCE = {"connector": "postgresql", "ts_ms": 1714564800000, "db": "db1", "schema": "public", "table": "t",
          "lsn": (1, 12345)}

DBZ = [
    {"before": (0, None), "after": (1, dbz_value(1)), "source": SOURCE, "op": "c", "ts_ms": (1, 1)},
    {"before": (1, dbz_value(1)), "after": (1, dbz_value(1, name=(0, None), big=(1, {"scale": -2, "value": b"\x01"}))),
     "source": SOURCE, "op": "u", "ts_ms": (0, None)},
    {"before": (1, dbz_value(2)), "after": (0, None), "source": SOURCE, "op": "d", "ts_ms": (1, 2)},
    {"before": (0, None), "after": (1, dbz_value(3, ts=(1, "__debezium_unavailable_value"))), "source": SOURCE,
     "op": "r", "ts_ms": (1, 3)},
    {"before": (0, None), "after": (0, None), "source": SOURCE, "op": "t", "ts_ms": (1, 4)},
]


def tree(i, depth):
    return {"id": i, "name": "t%d" % i, "doc": (1, tree(i + 1, depth - 1)) if depth else (0, None),
            "tags": [tree(i * 10, 0)] if depth else []}


DBZ_RECURSIVE = [
    {"before": (0, None), "after": (1, tree(1, 3)), "op": "c", "ts_ms": (1, 1)},
    {"before": (1, tree(1, 0)), "after": (0, None), "op": "d", "ts_ms": (0, None)},
]

SEEDS = {
    "avro": [("01_alltypes", ALLTYPES), ("02_named", NAMED), ("03_recursive", RECURSIVE), ("04_unions", UNIONS),
             ("05_primitive", PRIMITIVE), ("06_nulls", NULLS), ("07_flat", FLAT), ("08_cross", CROSS)],
    "debezium_avro": [("01_envelope", DBZ), ("02_recursive", DBZ_RECURSIVE)],
}


def main():
    for target, per_schema in SEEDS.items():
        sdir = os.path.join(HERE, "schemas", target)
        names = sorted(f[:-5] for f in os.listdir(sdir) if f.endswith(".avsc"))
        cdir = os.path.join(HERE, "corpus", target)
        os.makedirs(cdir, exist_ok=True)
        for schema_name, values in per_schema:
            index = names.index(schema_name)
            with open(os.path.join(sdir, schema_name + ".avsc")) as f:
                schema = json.load(f)
            for v in values:
                enc = Encoder()
                enc.register(schema)
                data = bytes([index]) + enc.enc(schema, v)
                name = "seed-%s-%s" % (schema_name, hashlib.sha1(data).hexdigest()[:12])
                with open(os.path.join(cdir, name), "wb") as f:
                    f.write(data)


if __name__ == "__main__":
    main()
