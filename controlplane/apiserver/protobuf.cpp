// Decoding of Kubernetes' protobuf envelope and of the API objects in it, driven by the type table.
#include "skiff/apiserver/protobuf.hpp"

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <string>

#include "skiff/apiserver/k8s_types.hpp"

namespace skiff::apiserver {

namespace {

using json = nlohmann::json;

enum WireType : uint32_t { varint_wire = 0, fixed64_wire = 1, length_wire = 2, fixed32_wire = 5 };

const char* wire_name(uint32_t w) {
    switch (w) {
        case varint_wire: return "varint";
        case fixed64_wire: return "64-bit";
        case length_wire: return "length-delimited";
        case 3: return "start-group";
        case 4: return "end-group";
        case fixed32_wire: return "32-bit";
        default: return "invalid";
    }
}

// A cursor over one message's bytes; every read checks the bounds.
class Reader {
public:
    explicit Reader(std::string_view buf) : buf_(buf) {}
    bool done() const { return pos_ >= buf_.size(); }

    Result<uint64_t> varint() {
        uint64_t v = 0;
        for (int shift = 0; shift < 64; shift += 7) {
            if (pos_ >= buf_.size()) return Error("truncated varint");
            auto byte = static_cast<uint8_t>(buf_[pos_++]);
            if (shift == 63 && byte > 1) return Error("varint overflows 64 bits");
            v |= static_cast<uint64_t>(byte & 0x7f) << shift;
            if (byte < 0x80) return v;
        }
        return Error("varint longer than 10 bytes");
    }
    Result<std::string_view> bytes() {
        auto n = varint();
        if (!n) return std::move(n).error();
        if (*n > buf_.size() - pos_)
            return Error("length " + std::to_string(*n) + " runs past the end (" + std::to_string(buf_.size() - pos_) +
                         " bytes left)");
        std::string_view out = buf_.substr(pos_, *n);
        pos_ += *n;
        return out;
    }
    Result<uint64_t> fixed64() {
        if (buf_.size() - pos_ < 8) return Error("truncated 64-bit value");
        uint64_t v = 0;
        for (int i = 7; i >= 0; --i) v = (v << 8) | static_cast<uint8_t>(buf_[pos_ + i]);
        pos_ += 8;
        return v;
    }

private:
    std::string_view buf_;
    size_t pos_ = 0;
};

struct Tag {
    int number;
    uint32_t wire;
};

Result<Tag> read_tag(Reader& r) {
    auto key = r.varint();
    if (!key) return std::move(key).error();
    uint64_t number = *key >> 3;
    if (number == 0 || number > 536870911) return Error("invalid field number " + std::to_string(number));
    return Tag{static_cast<int>(number), static_cast<uint32_t>(*key & 7)};
}

bool valid_utf8(std::string_view s) {
    size_t i = 0;
    while (i < s.size()) {
        auto c = static_cast<uint8_t>(s[i]);
        if (c < 0x80) {
            ++i;
            continue;
        }
        size_t n;
        uint32_t cp;
        if ((c >> 5) == 6) {
            n = 1;
            cp = c & 0x1f;
        } else if ((c >> 4) == 14) {
            n = 2;
            cp = c & 0x0f;
        } else if ((c >> 3) == 30) {
            n = 3;
            cp = c & 0x07;
        } else {
            return false;
        }
        if (s.size() - i <= n) return false;
        for (size_t k = 1; k <= n; ++k) {
            auto cc = static_cast<uint8_t>(s[i + k]);
            if ((cc >> 6) != 2) return false;
            cp = (cp << 6) | (cc & 0x3f);
        }
        // Overlong forms, surrogates and values past U+10FFFF are not UTF-8.
        if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) || cp > 0x10ffff ||
            (cp >= 0xd800 && cp <= 0xdfff))
            return false;
        i += n + 1;
    }
    return true;
}

std::string base64(std::string_view in) {
    static const char* alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string out;
    out.reserve((in.size() + 2) / 3 * 4);
    size_t i = 0;
    for (; i + 2 < in.size(); i += 3) {
        uint32_t v = (static_cast<uint8_t>(in[i]) << 16) | (static_cast<uint8_t>(in[i + 1]) << 8) | static_cast<uint8_t>(in[i + 2]);
        for (int s = 18; s >= 0; s -= 6) out.push_back(alphabet[(v >> s) & 63]);
    }
    if (i + 1 == in.size()) {
        uint32_t v = static_cast<uint8_t>(in[i]) << 16;
        out += {alphabet[(v >> 18) & 63], alphabet[(v >> 12) & 63], '=', '='};
    } else if (i + 2 == in.size()) {
        uint32_t v = (static_cast<uint8_t>(in[i]) << 16) | (static_cast<uint8_t>(in[i + 1]) << 8);
        out += {alphabet[(v >> 18) & 63], alphabet[(v >> 12) & 63], alphabet[(v >> 6) & 63], '='};
    }
    return out;
}

Result<std::string> utf8_string(std::string_view s) {
    if (!valid_utf8(s)) return Error("string is not valid UTF-8");
    return std::string(s);
}

// A small message of scalar fields (Time, IntOrString, Quantity, ...): its varint and bytes fields by number.
struct Scalars {
    uint64_t ints[4] = {0, 0, 0, 0};
    std::string_view strings[4];
};

Result<Scalars> read_scalars(std::string_view buf, const char* what, int max_number) {
    Scalars out;
    Reader r(buf);
    while (!r.done()) {
        auto tag = read_tag(r);
        if (!tag) return std::move(tag).error().context(what);
        if (tag->number > max_number) return Error(std::string(what) + ": unknown field number " + std::to_string(tag->number));
        if (tag->wire == varint_wire) {
            auto v = r.varint();
            if (!v) return std::move(v).error().context(what);
            out.ints[tag->number] = *v;
        } else if (tag->wire == length_wire) {
            auto v = r.bytes();
            if (!v) return std::move(v).error().context(what);
            out.strings[tag->number] = *v;
        } else {
            return Error(std::string(what) + ": field " + std::to_string(tag->number) + " has wire type " +
                         wire_name(tag->wire));
        }
    }
    return out;
}

// meta/v1 Time and MicroTime: {seconds, nanos}; an empty message is the zero time, which Go writes as null.
Result<json> time_json(std::string_view buf, bool micro) {
    auto s = read_scalars(buf, micro ? "MicroTime" : "Time", 2);
    if (!s) return std::move(s).error();
    if (buf.empty()) return json(nullptr);
    auto seconds = static_cast<int64_t>(s->ints[1]);
    auto nanos = static_cast<int32_t>(s->ints[2]);
    // Years 1 to 9999: what RFC 3339 can write.
    if (seconds < -62135596800LL || seconds > 253402300799LL || nanos < 0 || nanos > 999999999)
        return Error("time out of range: " + std::to_string(seconds) + "s " + std::to_string(nanos) + "ns");
    std::time_t t = static_cast<std::time_t>(seconds);
    std::tm tm{};
    gmtime_r(&t, &tm);
    char buf_out[40];
    std::strftime(buf_out, sizeof buf_out, "%Y-%m-%dT%H:%M:%S", &tm);
    std::string out = buf_out;
    if (micro) {
        char frac[16];
        std::snprintf(frac, sizeof frac, ".%06d", nanos / 1000);
        out += frac;
    }
    return json(out + "Z");
}

Result<json> special_json(FieldType type, std::string_view buf) {
    switch (type) {
        case FieldType::time: return time_json(buf, false);
        case FieldType::micro_time: return time_json(buf, true);
        case FieldType::quantity: {
            auto s = read_scalars(buf, "Quantity", 1);
            if (!s) return std::move(s).error();
            auto str = utf8_string(s->strings[1]);
            if (!str) return std::move(str).error().context("Quantity");
            return json(str->empty() ? std::string("0") : *str);
        }
        case FieldType::int_or_string: {
            auto s = read_scalars(buf, "IntOrString", 3);
            if (!s) return std::move(s).error();
            if (s->ints[1] == 1) {
                auto str = utf8_string(s->strings[3]);
                if (!str) return std::move(str).error().context("IntOrString");
                return json(*str);
            }
            return json(static_cast<int32_t>(s->ints[2]));
        }
        case FieldType::fields_v1:
        case FieldType::raw_extension: {
            // {raw bytes = 1}: the JSON itself.
            auto s = read_scalars(buf, type == FieldType::fields_v1 ? "FieldsV1" : "RawExtension", 1);
            if (!s) return std::move(s).error();
            if (s->strings[1].empty()) return json(nullptr);
            json j = json::parse(s->strings[1], nullptr, false);
            if (j.is_discarded()) return Error("the raw value is not JSON");
            return j;
        }
        case FieldType::duration:
            return Error("meta/v1 Duration is not decoded (no served kind has one)");
        default:
            return Error("not a special type");
    }
}

Result<json> decode_message(std::string_view buf, const MessageDef& m, int depth);

uint32_t wire_of(FieldType t) {
    switch (t) {
        case FieldType::boolean:
        case FieldType::int32:
        case FieldType::int64: return varint_wire;
        case FieldType::double_: return fixed64_wire;
        default: return length_wire;
    }
}

json varint_json(FieldType t, uint64_t v) {
    if (t == FieldType::boolean) return json(v != 0);
    if (t == FieldType::int32) return json(static_cast<int32_t>(v));
    return json(static_cast<int64_t>(v));
}

json double_json(uint64_t bits) {
    double d;
    static_assert(sizeof d == sizeof bits);
    std::memcpy(&d, &bits, sizeof d);
    return json(d);
}

// One value of a field's type from a length-delimited payload (strings, bytes, messages, special types).
Result<json> length_value(const FieldDef& f, std::string_view payload, int depth) {
    switch (f.type) {
        case FieldType::string: {
            auto s = utf8_string(payload);
            if (!s) return std::move(s).error();
            return json(*s);
        }
        case FieldType::bytes: return json(base64(payload));
        case FieldType::message: return decode_message(payload, *f.message, depth - 1);
        default: return special_json(f.type, payload);
    }
}

// The zero value of a map entry whose value is missing (Go's zero value, as JSON).
json zero_json(const FieldDef& f) {
    switch (f.type) {
        case FieldType::string:
        case FieldType::bytes: return json("");
        case FieldType::boolean: return json(false);
        case FieldType::int32:
        case FieldType::int64: return json(0);
        case FieldType::double_: return json(0.0);
        case FieldType::quantity: return json("0");
        case FieldType::int_or_string: return json(0);
        case FieldType::message: return json::object();
        default: return json(nullptr);
    }
}

Result<std::pair<std::string, json>> map_entry(const FieldDef& f, std::string_view payload, int depth) {
    Reader r(payload);
    std::string key;
    json value = zero_json(f);
    while (!r.done()) {
        auto tag = read_tag(r);
        if (!tag) return std::move(tag).error();
        if (tag->number == 1 && tag->wire == length_wire) {
            auto k = r.bytes();
            if (!k) return std::move(k).error().context("key");
            auto s = utf8_string(*k);
            if (!s) return std::move(s).error().context("key");
            key = *s;
        } else if (tag->number == 2 && tag->wire == wire_of(f.type)) {
            if (tag->wire == varint_wire) {
                auto v = r.varint();
                if (!v) return std::move(v).error().context("value");
                value = varint_json(f.type, *v);
            } else if (tag->wire == fixed64_wire) {
                auto v = r.fixed64();
                if (!v) return std::move(v).error().context("value");
                value = double_json(*v);
            } else {
                auto v = r.bytes();
                if (!v) return std::move(v).error().context("value");
                auto j = length_value(f, *v, depth);
                if (!j) return std::move(j).error().context("value of \"" + key + "\"");
                value = std::move(*j);
            }
        } else {
            return Error("map entry field " + std::to_string(tag->number) + " with wire type " + wire_name(tag->wire));
        }
    }
    return std::make_pair(std::move(key), std::move(value));
}

bool zero_scalar(const json& v) {
    return (v.is_string() && v.get_ref<const std::string&>().empty()) || (v.is_boolean() && !v.get<bool>()) ||
           (v.is_number_integer() && v.get<int64_t>() == 0) || (v.is_number_float() && v.get<double>() == 0.0);
}

Status decode_field(Reader& r, const Tag& tag, const FieldDef& f, json& out, int depth) {
    const std::string& name = f.json_name;
    uint32_t want = wire_of(f.type);
    bool packed = f.container == FieldDef::Container::list && want != length_wire && tag.wire == length_wire;
    if (tag.wire != want && !packed)
        return Error(std::string("wire type ") + wire_name(tag.wire) + ", expected " + wire_name(want));
    if (packed) {
        auto payload = r.bytes();
        if (!payload) return std::move(payload).error();
        Reader items(*payload);
        json& list = out[name];
        if (!list.is_array()) list = json::array();
        while (!items.done()) {
            auto v = want == varint_wire ? items.varint() : items.fixed64();
            if (!v) return std::move(v).error();
            list.push_back(want == varint_wire ? varint_json(f.type, *v) : double_json(*v));
        }
        return {};
    }
    json value;
    if (tag.wire == varint_wire) {
        auto v = r.varint();
        if (!v) return std::move(v).error();
        value = varint_json(f.type, *v);
    } else if (tag.wire == fixed64_wire) {
        auto v = r.fixed64();
        if (!v) return std::move(v).error();
        value = double_json(*v);
    } else {
        auto payload = r.bytes();
        if (!payload) return std::move(payload).error();
        if (f.container == FieldDef::Container::map) {
            auto entry = map_entry(f, *payload, depth);
            if (!entry) return std::move(entry).error();
            json& map = out[name];
            if (!map.is_object()) map = json::object();
            map[entry->first] = std::move(entry->second);
            return {};
        }
        auto v = length_value(f, *payload, depth);
        if (!v) return std::move(v).error();
        value = std::move(*v);
    }
    if (f.is_inline()) {
        // An inline member's fields are the enclosing object's in JSON.
        if (value.is_object())
            for (auto& [k, v] : value.items()) out[k] = std::move(v);
        return {};
    }
    if (f.container == FieldDef::Container::list) {
        json& list = out[name];
        if (!list.is_array()) list = json::array();
        list.push_back(std::move(value));
    } else if (f.type == FieldType::message && out.contains(name) && out[name].is_object() && value.is_object()) {
        out[name].update(value);  // protobuf merges a message that occurs twice
    } else {
        out[name] = std::move(value);
    }
    return {};
}

Result<json> decode_message(std::string_view buf, const MessageDef& m, int depth) {
    // depth: how many more levels of messages may nest below this one.
    if (depth < 0) return Error(m.name + ": messages nested deeper than the limit");
    json out = json::object();
    Reader r(buf);
    while (!r.done()) {
        auto tag = read_tag(r);
        if (!tag) return std::move(tag).error().context(m.name);
        const FieldDef* f = m.field_by_number(tag->number);
        if (!f) return Error(m.name + ": unknown field number " + std::to_string(tag->number));
        std::string where = m.name + " field " + (f->is_inline() ? f->message_name : f->json_name) + " (" +
                            std::to_string(tag->number) + ")";
        if (auto s = decode_field(r, *tag, *f, out, depth); !s) {
            // Nested failures already name their message: keep one layer per level of the path.
            return std::move(s).error().context(where);
        }
    }
    // Go's encoding/json leaves out the zero scalars and empty lists and maps of omitempty fields;
    // pointers (set explicitly) and structs stay.
    for (const auto& f : m.fields) {
        if (f.is_inline() || !f.omitempty || !out.contains(f.json_name)) continue;
        const json& v = out[f.json_name];
        bool empty = f.container != FieldDef::Container::single ? v.empty()
                     : f.pointer                                 ? false
                     : f.type == FieldType::message || f.type == FieldType::time || f.type == FieldType::micro_time ||
                             f.type == FieldType::int_or_string || f.type == FieldType::quantity
                         ? false
                         : zero_scalar(v);
        if (empty) out.erase(f.json_name);
    }
    return out;
}

}  // namespace

Result<json> decode_protobuf_object(std::string_view body, int max_depth) {
    static constexpr std::string_view magic("k8s\0", 4);
    if (body.substr(0, 4) != magic) return Error("protobuf body: the k8s\\0 prefix is missing");
    Reader r(body.substr(4));
    std::string api_version, kind, content_encoding, content_type;
    std::string_view raw;
    bool has_raw = false;
    while (!r.done()) {
        auto tag = read_tag(r);
        if (!tag) return std::move(tag).error().context("protobuf body: runtime.Unknown");
        if (tag->wire != length_wire || tag->number > 4)
            return Error("protobuf body: runtime.Unknown: unexpected field " + std::to_string(tag->number) +
                         " with wire type " + wire_name(tag->wire));
        auto v = r.bytes();
        if (!v) return std::move(v).error().context("protobuf body: runtime.Unknown");
        if (tag->number == 1) {
            auto tm = read_scalars(*v, "runtime.TypeMeta", 2);
            if (!tm) return std::move(tm).error().context("protobuf body: runtime.Unknown");
            auto a = utf8_string(tm->strings[1]);
            auto k = utf8_string(tm->strings[2]);
            if (!a || !k) return Error("protobuf body: runtime.TypeMeta: apiVersion or kind is not valid UTF-8");
            api_version = *a;
            kind = *k;
        } else if (tag->number == 2) {
            raw = *v;
            has_raw = true;
        } else if (tag->number == 3) {
            content_encoding = std::string(*v);
        } else {
            content_type = std::string(*v);
        }
    }
    if (!content_encoding.empty())
        return Error("protobuf body: content encoding \"" + content_encoding + "\" is not supported");
    if (!content_type.empty() && content_type != protobuf_content_type)
        return Error("protobuf body: the object's content type \"" + content_type + "\" is not supported");
    if (!has_raw || kind.empty() || api_version.empty())
        return Error("protobuf body: runtime.Unknown has no " + std::string(kind.empty() || api_version.empty() ? "apiVersion and kind" : "object"));
    auto slash = api_version.find('/');
    std::string group = slash == std::string::npos ? "" : api_version.substr(0, slash);
    std::string version = slash == std::string::npos ? api_version : api_version.substr(slash + 1);
    const MessageDef* m = message_for_kind(group, version, kind);
    if (!m) return Error("protobuf body: kind " + kind + " of " + api_version + " is not known to this server");
    auto obj = decode_message(raw, *m, max_depth);
    if (!obj) return std::move(obj).error().context("protobuf body: " + api_version + " " + kind);
    (*obj)["apiVersion"] = api_version;
    (*obj)["kind"] = kind;
    return obj;
}

}  // namespace skiff::apiserver
