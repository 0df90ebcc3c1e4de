#!/usr/bin/python3
"""keys_in_topic.py - how many records of a topic carry each of some keys.

    keys_in_topic.py BOOTSTRAP TOPIC FORMAT KEYCOLS KEYS

FORMAT is the feed's key format: json (JsonConverter, with or without
schemas) or avro (Confluent's wire format: magic byte, 4-byte schema id,
the Avro datum).  KEYCOLS names the key's columns with their PostgreSQL
types, in key order ("region:text,id:bigint"); KEYS is a JSON list of key
tuples ([["us", 308053035]]).  Reads every partition from its start to
its high watermark and prints one line per key: its count, then the key.

tests/debezium/cdc.sh asks it about rows missing from a target: a row
whose key has no record in the topic never reached Kafka (the source
connector did not send it), which no sink can write.  Avro keys are
compared as bytes: Debezium's key schema is a record of the key columns
in key order, none of them optional, so the datum is each column's
encoding one after the other (the Avro specification's binary encoding:
int and long as zig-zag varints, string as a long length and UTF-8).
Key columns of other types are reported as unknown (-1).
"""
import json
import os
import sys

from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "support"))
from avrobin import string as avro_string, zigzag  # noqa: E402


def avro_key(cols, values):
    out = b""
    for (_, typ), v in zip(cols, values):
        if typ in ("integer", "bigint", "smallint"):
            out += zigzag(int(v))
        elif typ in ("text", "character varying"):
            out += avro_string(str(v))
        else:
            return None
    return out


def json_key(raw):
    try:
        j = json.loads(raw)
    except ValueError:
        return None
    if isinstance(j, dict) and "payload" in j and set(j) <= {"schema", "payload"}:
        j = j["payload"]
    return j if isinstance(j, dict) else None


def main():
    bootstrap, topic, fmt, keycols, keys = sys.argv[1:6]
    cols = [tuple(c.split(":", 1)) for c in keycols.split(",")]
    keys = json.loads(keys)
    counts = [0] * len(keys)
    wanted = []
    for k in keys:
        wanted.append(avro_key(cols, k) if fmt == "avro" else [str(v) for v in k])
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "keys-in-topic", "enable.auto.commit": False})
    md = c.list_topics(topic, timeout=30)
    parts = md.topics[topic].partitions
    todo = {}
    for p in parts:
        lo, hi = c.get_watermark_offsets(TopicPartition(topic, p), timeout=30)
        if hi > lo:
            todo[p] = hi
    c.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in todo])
    while todo:
        m = c.poll(10)
        if m is None:
            break
        if m.error():
            continue
        if m.offset() + 1 >= todo.get(m.partition(), 0):
            todo.pop(m.partition(), None)
        key = m.key()
        if key is None:
            continue
        if fmt == "avro":
            datum = key[5:] if len(key) > 5 and key[0] == 0 else None
            for i, w in enumerate(wanted):
                if w is not None and datum == w:
                    counts[i] += 1
        else:
            j = json_key(key)
            if j is None:
                continue
            got = [str(j.get(name)) for name, _ in cols]
            for i, w in enumerate(wanted):
                if got == w:
                    counts[i] += 1
    c.close()
    if todo:
        print("keys_in_topic: %s not read to its end" % topic, file=sys.stderr)
        return 1
    for i, k in enumerate(keys):
        print(-1 if wanted[i] is None else counts[i], json.dumps(k))
    return 0


if __name__ == "__main__":
    sys.exit(main())
