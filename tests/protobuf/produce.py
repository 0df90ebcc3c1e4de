"""produce.py - records for sluice's Protobuf and JSON Schema tests, written
by confluent-kafka's own serializers (ProtobufSerializer, JSONSerializer)
against the schema registry the tests run.

    produce.py BOOTSTRAP REGISTRY_URL TOPIC SPEC.json

SPEC: {"format": "protobuf", "descriptors": "x.desc" (a FileDescriptorSet
from protoc --include_imports), "value": "pkg.Msg", "key": "pkg.Key" or
absent, "records": [{"key": {...}, "value": {...} or null}, ...]}
or {"format": "json-schema", "value_schema": {...}, "key_schema": {...}
or absent, "value_references": [{"name", "subject", "schema"}] or absent
(each schema registered under its subject first, the value schema then
registered with references to them), "records": [...]}.  Protobuf values are given in the JSON
mapping (google.protobuf.json_format).  Prints one line per record
written: partition and offset."""
import json
import sys

from confluent_kafka import Producer
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.serialization import MessageField, SerializationContext


def protobuf_serializers(spec, registry):
    from google.protobuf import descriptor_pb2, descriptor_pool, json_format, message_factory
    from confluent_kafka.schema_registry.protobuf import ProtobufSerializer

    fds = descriptor_pb2.FileDescriptorSet()
    with open(spec["descriptors"], "rb") as f:
        fds.ParseFromString(f.read())
    pool = descriptor_pool.DescriptorPool()
    for fd in fds.file:
        pool.Add(fd)

    def make(name):
        if not name:
            return None
        cls = message_factory.GetMessageClass(pool.FindMessageTypeByName(name))
        ser = ProtobufSerializer(cls, registry, {"use.deprecated.format": False,
                                                 "skip.known.types": spec.get("skip_known_types", True)})
        return lambda obj, ctx: ser(json_format.ParseDict(obj, cls()), ctx)

    return make(spec["value"]), make(spec.get("key"))


def json_schema_serializers(spec, registry):
    from confluent_kafka.schema_registry import Schema, SchemaReference
    from confluent_kafka.schema_registry.json_schema import JSONSerializer

    refs = []
    for ref in spec.get("value_references", []):
        registry.register_schema(ref["subject"], Schema(json.dumps(ref["schema"]), "JSON"))
        version = registry.get_latest_version(ref["subject"]).version
        refs.append(SchemaReference(ref["name"], ref["subject"], version))

    def make(schema, references):
        if schema is None:
            return None
        ser = JSONSerializer(Schema(json.dumps(schema), "JSON", references), registry)
        return lambda obj, ctx: ser(obj, ctx)

    return make(spec["value_schema"], refs), make(spec.get("key_schema"), [])


def main():
    bootstrap, url, topic, spec_file = sys.argv[1:5]
    with open(spec_file) as f:
        spec = json.load(f)
    registry = SchemaRegistryClient({"url": url})
    if spec["format"] == "protobuf":
        value_ser, key_ser = protobuf_serializers(spec, registry)
    else:
        value_ser, key_ser = json_schema_serializers(spec, registry)
    producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True})
    failures = []

    def delivered(err, msg):
        if err:
            failures.append(str(err))
        else:
            print(f"{msg.partition()} {msg.offset()}")

    for rec in spec["records"]:
        key = value = None
        if rec.get("key") is not None and key_ser:
            key = key_ser(rec["key"], SerializationContext(topic, MessageField.KEY))
        if rec.get("value") is not None:
            value = value_ser(rec["value"], SerializationContext(topic, MessageField.VALUE))
        producer.produce(topic, key=key, value=value, partition=rec.get("partition", 0), on_delivery=delivered)
    if producer.flush(60) != 0 or failures:
        sys.exit(f"produce.py: not all records were delivered: {failures}")


if __name__ == "__main__":
    main()
