// protobuf_reflect.cc - Protobuf schemas and messages through libprotobuf's
// reflection (descriptors built at run time, DynamicMessage), behind the C
// interface of protobuf_int.h: the one C++ file of sluice.
//
// Field rules (docs/protobuf.md): a field is a column by its declared name;
// proto3 scalars without presence always have a value (the default when the
// writer left it out), fields with presence (messages, `optional`, oneof
// members, wrappers) are NULL when unset; repeated scalars are arrays,
// repeated messages and maps jsonb; Timestamp is timestamptz, Duration an
// ISO-8601 interval, wrappers their inner type, Struct/Value/ListValue the
// JSON they hold; other messages a JSON object of their fields.
#include "protobuf_int.h"

#include <cinttypes>
#include <cmath>
#include <cstring>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include <google/protobuf/compiler/parser.h>
#include <google/protobuf/descriptor.h>
#include <google/protobuf/descriptor.pb.h>
#include <google/protobuf/descriptor_database.h>
#include <google/protobuf/dynamic_message.h>
#include <google/protobuf/io/tokenizer.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>
#include <google/protobuf/stubs/logging.h>
#include <google/protobuf/stubs/strutil.h>

namespace pb = google::protobuf;

namespace {

// The first error a parser or the descriptor pool reports, as a sentence.
struct Collector : public pb::DescriptorPool::ErrorCollector, public pb::io::ErrorCollector {
    std::string first;
    std::string file;
    void AddError(const std::string &filename, const std::string &element, const pb::Message *,
                  ErrorLocation, const std::string &message) override
    {
        if (first.empty())
            first = filename + (element.empty() ? "" : ": " + element) + ": " + message;
    }
    void AddError(int line, int column, const std::string &message) override
    {
        if (first.empty())
            first = file + ":" + std::to_string(line + 1) + ":" + std::to_string(column + 1) + ": " + message;
    }
};

// libprotobuf logs what it refuses to stderr; sluice reports it itself.
void quiet_once()
{
    static const bool done = (pb::SetLogHandler(nullptr), true);
    (void)done;
}

bool is_wkt(const pb::Descriptor *d, const char *name)
{
    return d->full_name() == name;
}

// The wrapper types' one field, or nullptr for other messages.
const pb::FieldDescriptor *wrapped(const pb::Descriptor *d)
{
    static const char *const wrappers[] = {
        "google.protobuf.DoubleValue", "google.protobuf.FloatValue",  "google.protobuf.Int64Value",
        "google.protobuf.UInt64Value", "google.protobuf.Int32Value",  "google.protobuf.UInt32Value",
        "google.protobuf.BoolValue",   "google.protobuf.StringValue", "google.protobuf.BytesValue",
    };
    for (const char *w : wrappers)
        if (d->full_name() == w)
            return d->FindFieldByNumber(1);
    return nullptr;
}

const char *scalar_type(const pb::FieldDescriptor *f)
{
    switch (f->type()) {
    case pb::FieldDescriptor::TYPE_INT32:
    case pb::FieldDescriptor::TYPE_SINT32:
    case pb::FieldDescriptor::TYPE_SFIXED32: return "integer";
    case pb::FieldDescriptor::TYPE_INT64:
    case pb::FieldDescriptor::TYPE_SINT64:
    case pb::FieldDescriptor::TYPE_SFIXED64:
    case pb::FieldDescriptor::TYPE_UINT32:
    case pb::FieldDescriptor::TYPE_FIXED32: return "bigint";
    case pb::FieldDescriptor::TYPE_UINT64:
    case pb::FieldDescriptor::TYPE_FIXED64: return "numeric";
    case pb::FieldDescriptor::TYPE_FLOAT: return "real";
    case pb::FieldDescriptor::TYPE_DOUBLE: return "double precision";
    case pb::FieldDescriptor::TYPE_BOOL: return "boolean";
    case pb::FieldDescriptor::TYPE_BYTES: return "bytea";
    case pb::FieldDescriptor::TYPE_STRING:
    case pb::FieldDescriptor::TYPE_ENUM: return "text";
    case pb::FieldDescriptor::TYPE_MESSAGE:
    case pb::FieldDescriptor::TYPE_GROUP: break;
    }
    const pb::Descriptor *m = f->message_type();
    if (const pb::FieldDescriptor *w = wrapped(m))
        return scalar_type(w);
    if (is_wkt(m, "google.protobuf.Timestamp"))
        return "timestamptz";
    if (is_wkt(m, "google.protobuf.Duration"))
        return "text";
    return "jsonb";
}

std::string source_type(const pb::FieldDescriptor *f)
{
    auto one = [](const pb::FieldDescriptor *g) -> std::string {
        if (g->message_type())
            return g->message_type()->full_name();
        if (g->enum_type())
            return g->enum_type()->full_name();
        return g->type_name();
    };
    if (f->is_map())
        return "map<" + one(f->message_type()->map_key()) + ", " + one(f->message_type()->map_value()) + ">";
    return (f->is_repeated() ? "repeated " : "") + one(f);
}

void set_why(sl_strbuf *why, const std::string &s)
{
    if (why) {
        sl_strbuf_reset(why);
        sl_strbuf_append(why, s.data(), s.size());
    }
}

json_t *real_json(double x)
{
    if (std::isfinite(x))
        return json_real(x);
    // JSON has no NaN or infinities; PostgreSQL reads these spellings
    return json_string(std::isnan(x) ? "NaN" : x > 0 ? "Infinity" : "-Infinity");
}

json_t *u64_json(uint64_t x)
{
    if (x <= (uint64_t)INT64_MAX)
        return json_integer((json_int_t)x);
    char buf[24];
    snprintf(buf, sizeof(buf), "%" PRIu64, x);
    return json_string(buf);
}

struct Walker {
    std::string error; // the first failure, with the field path before it

    json_t *fail(const pb::FieldDescriptor *f, const std::string &what)
    {
        error = f->name() + ": " + what;
        return nullptr;
    }

    // One value of @f (an element when @f is repeated: @index >= 0).
    json_t *value(const pb::Message &m, const pb::FieldDescriptor *f, int index)
    {
        const pb::Reflection *r = m.GetReflection();
        bool rep = index >= 0;
        switch (f->cpp_type()) {
        case pb::FieldDescriptor::CPPTYPE_INT32:
            return json_integer(rep ? r->GetRepeatedInt32(m, f, index) : r->GetInt32(m, f));
        case pb::FieldDescriptor::CPPTYPE_INT64:
            return json_integer(rep ? r->GetRepeatedInt64(m, f, index) : r->GetInt64(m, f));
        case pb::FieldDescriptor::CPPTYPE_UINT32:
            return json_integer(rep ? r->GetRepeatedUInt32(m, f, index) : r->GetUInt32(m, f));
        case pb::FieldDescriptor::CPPTYPE_UINT64:
            return u64_json(rep ? r->GetRepeatedUInt64(m, f, index) : r->GetUInt64(m, f));
        case pb::FieldDescriptor::CPPTYPE_FLOAT:
            return real_json(rep ? r->GetRepeatedFloat(m, f, index) : r->GetFloat(m, f));
        case pb::FieldDescriptor::CPPTYPE_DOUBLE:
            return real_json(rep ? r->GetRepeatedDouble(m, f, index) : r->GetDouble(m, f));
        case pb::FieldDescriptor::CPPTYPE_BOOL:
            return json_boolean(rep ? r->GetRepeatedBool(m, f, index) : r->GetBool(m, f));
        case pb::FieldDescriptor::CPPTYPE_ENUM: {
            int n = rep ? r->GetRepeatedEnumValue(m, f, index) : r->GetEnumValue(m, f);
            const pb::EnumValueDescriptor *e = f->enum_type()->FindValueByNumber(n);
            if (e)
                return json_string(e->name().c_str());
            // an open enum keeps numbers it has no name for
            return json_string(std::to_string(n).c_str());
        }
        case pb::FieldDescriptor::CPPTYPE_STRING: {
            std::string scratch;
            const std::string &s = rep ? r->GetRepeatedStringReference(m, f, index, &scratch)
                                       : r->GetStringReference(m, f, &scratch);
            if (f->type() == pb::FieldDescriptor::TYPE_BYTES)
                return sl_pb_bytes_json(s.data(), s.size());
            json_t *j = json_stringn(s.data(), s.size());
            return j ? j : fail(f, "string is not valid UTF-8");
        }
        case pb::FieldDescriptor::CPPTYPE_MESSAGE: {
            const pb::Message &sub = rep ? r->GetRepeatedMessage(m, f, index) : r->GetMessage(m, f);
            json_t *j = message(sub, false);
            if (!j)
                error = f->name() + (rep ? "[" + std::to_string(index) + "]" : "") + "." + error;
            return j;
        }
        }
        return fail(f, "unsupported field type");
    }

    json_t *field(const pb::Message &m, const pb::FieldDescriptor *f)
    {
        const pb::Reflection *r = m.GetReflection();
        if (f->is_map()) {
            json_t *o = json_object();
            const pb::FieldDescriptor *kf = f->message_type()->map_key();
            const pb::FieldDescriptor *vf = f->message_type()->map_value();
            int n = r->FieldSize(m, f);
            for (int i = 0; i < n; i++) {
                const pb::Message &entry = r->GetRepeatedMessage(m, f, i);
                json_t *k = value(entry, kf, -1);
                json_t *v = k ? value(entry, vf, -1) : nullptr;
                if (!v) {
                    json_decref(k);
                    json_decref(o);
                    return nullptr;
                }
                std::string key;
                if (json_is_string(k))
                    key.assign(json_string_value(k), json_string_length(k));
                else if (json_is_boolean(k))
                    key = json_is_true(k) ? "true" : "false";
                else
                    key = std::to_string(json_integer_value(k));
                json_decref(k);
                json_object_setn_new(o, key.data(), key.size(), v);
            }
            return o;
        }
        if (f->is_repeated()) {
            json_t *a = json_array();
            int n = r->FieldSize(m, f);
            for (int i = 0; i < n; i++) {
                json_t *v = value(m, f, i);
                if (!v) {
                    json_decref(a);
                    return nullptr;
                }
                json_array_append_new(a, v);
            }
            return a;
        }
        if (f->has_presence() && !r->HasField(m, f))
            return json_null();
        return value(m, f, -1);
    }

    // A message: a well-known type as what it stands for, else an object of
    // its fields (@top: the record's own message, always an object).
    json_t *message(const pb::Message &m, bool top)
    {
        const pb::Descriptor *d = m.GetDescriptor();
        const pb::Reflection *r = m.GetReflection();
        if (!top) {
            if (const pb::FieldDescriptor *w = wrapped(d))
                return value(m, w, -1);
            if (is_wkt(d, "google.protobuf.Timestamp") || is_wkt(d, "google.protobuf.Duration")) {
                int64_t s = r->GetInt64(m, d->FindFieldByNumber(1));
                int32_t ns = r->GetInt32(m, d->FindFieldByNumber(2));
                bool ts = is_wkt(d, "google.protobuf.Timestamp");
                json_t *j = ts ? sl_pb_timestamp_json(s, ns) : sl_pb_duration_json(s, ns);
                if (!j)
                    error = std::string(ts ? "Timestamp" : "Duration") + " out of range (seconds " +
                            std::to_string(s) + ", nanos " + std::to_string(ns) + ")";
                return j;
            }
            if (is_wkt(d, "google.protobuf.Struct")) {
                // fields: map<string, Value>
                return field(m, d->FindFieldByNumber(1));
            }
            if (is_wkt(d, "google.protobuf.ListValue"))
                return field(m, d->FindFieldByNumber(1));
            if (is_wkt(d, "google.protobuf.Value")) {
                const pb::OneofDescriptor *kind = d->oneof_decl(0);
                const pb::FieldDescriptor *set = r->GetOneofFieldDescriptor(m, kind);
                if (!set || set->name() == "null_value")
                    return json_null();
                if (set->name() == "number_value") {
                    // a whole number as the JSON integer it was (2^53: where doubles stop being exact)
                    double x = r->GetDouble(m, set);
                    if (std::trunc(x) == x && std::fabs(x) <= 9007199254740992.0)
                        return json_integer((json_int_t)x);
                }
                return value(m, set, -1);
            }
        }
        json_t *o = json_object();
        for (int i = 0; i < d->field_count(); i++) {
            const pb::FieldDescriptor *f = d->field(i);
            json_t *v = field(m, f);
            if (!v) {
                json_decref(o);
                return nullptr;
            }
            json_object_set_new_nocheck(o, f->name().c_str(), v);
        }
        return o;
    }
};

} // namespace

struct sl_pb_msg {
    const pb::Descriptor *desc;
    std::unique_ptr<pb::Message> scratch; // reused for every record of this type
    json_t *fields = nullptr;
    const sl_pb_msg *key = nullptr;       // with_key was made with this key message
    json_t *with_key = nullptr;
    std::vector<int> path;
    ~sl_pb_msg()
    {
        json_decref(fields);
        json_decref(with_key);
    }
};

extern "C" json_t *sl_fields_with_key(const json_t *value_fields, const json_t *key_fields); // decoder.h

struct sl_pb_schema {
    Collector errors;
    pb::SimpleDescriptorDatabase files;
    pb::DescriptorPoolDatabase generated{*pb::DescriptorPool::generated_pool()};
    pb::MergedDescriptorDatabase merged{&files, &generated};
    std::unique_ptr<pb::DescriptorPool> pool;
    std::unique_ptr<pb::DynamicMessageFactory> factory;
    const pb::FileDescriptor *file = nullptr;
    std::vector<std::unique_ptr<sl_pb_msg>> msgs;
};

// One registry file into a FileDescriptorProto: base64 of a serialized one,
// else .proto text read by libprotobuf's parser.
static bool file_proto(const sl_pb_file &in, pb::FileDescriptorProto *out, Collector *errors)
{
    std::string text(in.text ? in.text : "");
    std::string raw;
    if (!text.empty() && text.find_first_of(" \t\r\n;{") == std::string::npos &&
        pb::Base64Unescape(text, &raw) && out->ParseFromString(raw)) {
        out->set_name(in.name);
        return true;
    }
    out->Clear();
    pb::io::ArrayInputStream stream(text.data(), (int)text.size());
    errors->file = in.name;
    pb::io::Tokenizer tokens(&stream, errors);
    pb::compiler::Parser parser;
    parser.RecordErrorsTo(errors);
    if (!parser.Parse(&tokens, out)) {
        if (errors->first.empty())
            errors->first = std::string(in.name) + ": neither a serialized FileDescriptorProto nor .proto text";
        return false;
    }
    out->set_name(in.name);
    return true;
}

extern "C" sl_pb_schema *sl_pb_schema_new(const sl_pb_file *files, size_t n, sl_strbuf *why)
{
    quiet_once();
    if (n == 0) {
        set_why(why, "no schema");
        return nullptr;
    }
    std::unique_ptr<sl_pb_schema> s(new sl_pb_schema);
    for (size_t i = 0; i < n; i++) {
        // the well-known types are libprotobuf's own
        if (i + 1 < n && pb::DescriptorPool::generated_pool()->FindFileByName(files[i].name))
            continue;
        pb::FileDescriptorProto fdp;
        if (!file_proto(files[i], &fdp, &s->errors)) {
            set_why(why, s->errors.first);
            return nullptr;
        }
        if (!s->files.Add(fdp)) {
            set_why(why, std::string(files[i].name) + ": two files of this name among the schema's references");
            return nullptr;
        }
    }
    s->pool.reset(new pb::DescriptorPool(&s->merged, &s->errors));
    s->file = s->pool->FindFileByName(files[n - 1].name);
    if (!s->file) {
        set_why(why, s->errors.first.empty() ? std::string(files[n - 1].name) + ": does not build"
                                             : s->errors.first);
        return nullptr;
    }
    s->factory.reset(new pb::DynamicMessageFactory(s->pool.get()));
    return s.release();
}

extern "C" void sl_pb_schema_free(sl_pb_schema *s)
{
    delete s;
}

extern "C" sl_pb_msg *sl_pb_schema_message(sl_pb_schema *s, const int *path, size_t n, sl_strbuf *why)
{
    std::vector<int> want(path, path + n);
    for (auto &m : s->msgs)
        if (m->path == want)
            return m.get();
    const pb::Descriptor *d = nullptr;
    std::string where = s->file->name();
    for (size_t i = 0; i < n; i++) {
        int count = i == 0 ? s->file->message_type_count() : d->nested_type_count();
        if (path[i] < 0 || path[i] >= count) {
            set_why(why, "message index " + std::to_string(path[i]) + " out of range: " + where + " has " +
                             std::to_string(count) + (i == 0 ? " top-level" : " nested") + " messages");
            return nullptr;
        }
        d = i == 0 ? s->file->message_type(path[i]) : d->nested_type(path[i]);
        where = d->full_name();
    }
    if (!d) {
        set_why(why, "empty message-index path");
        return nullptr;
    }
    const pb::Message *proto = s->factory->GetPrototype(d);
    std::unique_ptr<sl_pb_msg> m(new sl_pb_msg);
    m->desc = d;
    m->scratch.reset(proto->New());
    m->path = want;
    s->msgs.push_back(std::move(m));
    return s->msgs.back().get();
}

extern "C" const char *sl_pb_msg_name(const sl_pb_msg *m)
{
    return m->desc->full_name().c_str();
}

extern "C" json_t *sl_pb_msg_fields(sl_pb_msg *m)
{
    if (m->fields)
        return m->fields;
    json_t *out = json_array();
    for (int i = 0; i < m->desc->field_count(); i++) {
        const pb::FieldDescriptor *f = m->desc->field(i);
        bool optional = !f->is_repeated() && f->has_presence();
        const char *type = f->is_map() ? "jsonb" : scalar_type(f);
        json_t *j = json_pack("{s:s, s:s, s:b, s:s}", "name", f->name().c_str(), "type", type, "optional",
                              optional, "source_type", source_type(f).c_str());
        if (f->is_repeated() && !f->is_map()) {
            if (strcmp(type, "jsonb"))
                json_object_set_new(j, "items", json_string(type));
            json_object_set_new(j, "type", json_string(strcmp(type, "jsonb") ? "array" : "jsonb"));
        }
        json_array_append_new(out, j);
    }
    m->fields = out;
    return out;
}

extern "C" json_t *sl_pb_msg_fields_with_key(sl_pb_msg *m, sl_pb_msg *key)
{
    if (!m->with_key || m->key != key) {
        json_decref(m->with_key);
        m->with_key = sl_fields_with_key(sl_pb_msg_fields(m), sl_pb_msg_fields(key));
        m->key = key;
    }
    return m->with_key;
}

extern "C" size_t sl_pb_msg_nfields(const sl_pb_msg *m)
{
    return (size_t)m->desc->field_count();
}

extern "C" void sl_pb_msg_field(const sl_pb_msg *m, size_t i, sl_pb_field *out)
{
    const pb::FieldDescriptor *f = m->desc->field((int)i);
    out->name = f->name().c_str();
    out->number = f->number();
    out->type = (int)f->type();
    out->repeated = f->is_repeated();
    out->presence = !f->is_repeated() && f->has_presence();
    out->timestamp = f->message_type() && is_wkt(f->message_type(), "google.protobuf.Timestamp");
}

extern "C" const char *sl_pb_msg_enum_name(const sl_pb_msg *m, size_t i, int number)
{
    const pb::FieldDescriptor *f = m->desc->field((int)i);
    const pb::EnumValueDescriptor *e = f->enum_type() ? f->enum_type()->FindValueByNumber(number) : nullptr;
    return e ? e->name().c_str() : nullptr;
}

extern "C" json_t *sl_pb_decode(sl_pb_msg *m, const void *buf, size_t len, sl_strbuf *why)
{
    if (len > (size_t)INT32_MAX || !m->scratch->ParseFromArray(buf, (int)len)) {
        set_why(why, "corrupt or truncated Protobuf data for " + m->desc->full_name());
        return nullptr;
    }
    Walker w;
    json_t *j = w.message(*m->scratch, true);
    m->scratch->Clear();
    if (!j)
        set_why(why, w.error);
    return j;
}
