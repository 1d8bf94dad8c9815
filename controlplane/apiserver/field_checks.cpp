// Field paths, error lists and format checks worded as Kubernetes' apimachinery words them, and the
// metadata validation every kind shares.
#include <arpa/inet.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstring>
#include <set>

#include "strategy_internal.hpp"

namespace skiff::apiserver::strategy_detail {

Path Path::child(std::string_view name) const {
    std::string text;  // one allocation at most: paths are built for every checked field
    text.reserve(text_.size() + 1 + name.size());
    if (!text_.empty()) text.append(text_).push_back('.');
    text.append(name);
    return Path(std::move(text));
}

namespace {

// Go's strconv.Quote, close enough: control bytes escaped, the rest (UTF-8 included) as is.
std::string go_quote(const std::string& s) {
    std::string out = "\"";
    for (unsigned char c : s) {
        switch (c) {
            case '"':
                out += "\\\"";
                break;
            case '\\':
                out += "\\\\";
                break;
            case '\a':
                out += "\\a";
                break;
            case '\b':
                out += "\\b";
                break;
            case '\f':
                out += "\\f";
                break;
            case '\n':
                out += "\\n";
                break;
            case '\r':
                out += "\\r";
                break;
            case '\t':
                out += "\\t";
                break;
            case '\v':
                out += "\\v";
                break;
            default:
                if (c < 0x20 || c == 0x7f) {
                    static const char* hex = "0123456789abcdef";
                    out += "\\x";
                    out.push_back(hex[c >> 4]);
                    out.push_back(hex[c & 15]);
                } else {
                    out.push_back(static_cast<char>(c));
                }
        }
    }
    return out + "\"";
}

std::string dump(const json& v) {
    return v.dump(-1, ' ', false, json::error_handler_t::replace);
}

const char* type_name(const json& v) {
    switch (v.type()) {
        case json::value_t::string:
            return "string";
        case json::value_t::boolean:
            return "boolean";
        case json::value_t::number_integer:
        case json::value_t::number_unsigned:
            return "integer";
        case json::value_t::number_float:
            return "number";
        case json::value_t::object:
            return "object";
        case json::value_t::array:
            return "array";
        default:
            return "null";
    }
}

std::string regex_error(const std::string& msg, const std::string& fmt, std::initializer_list<const char*> examples) {
    // apimachinery's RegexError, double space after each example's comma included.
    std::string out = msg + " (e.g. ";
    bool first = true;
    for (const char* ex : examples) {
        if (!first) out += " or ";
        first = false;
        out += std::string("'") + ex + "', ";
    }
    return out + "regex used for validation is '" + fmt + "')";
}

std::string max_len_error(int n) {
    return "must be no more than " + std::to_string(n) + " characters";
}

bool is_lower_alnum(char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}
bool is_alnum(char c) {
    return std::isalnum(static_cast<unsigned char>(c)) != 0;
}

// [a-z0-9]([-a-z0-9]*[a-z0-9])?
bool matches_dns_label(const std::string& s) {
    if (s.empty() || !is_lower_alnum(s.front()) || !is_lower_alnum(s.back())) return false;
    return std::all_of(s.begin(), s.end(), [](char c) { return is_lower_alnum(c) || c == '-'; });
}

bool matches_dns_subdomain(const std::string& s) {
    size_t start = 0;
    for (;;) {
        size_t dot = s.find('.', start);
        if (!matches_dns_label(s.substr(start, dot == std::string::npos ? std::string::npos : dot - start)))
            return false;
        if (dot == std::string::npos) return true;
        start = dot + 1;
    }
}

// ([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]
bool matches_qualified_name_part(const std::string& s) {
    if (s.empty() || !is_alnum(s.front()) || !is_alnum(s.back())) return false;
    return std::all_of(s.begin(), s.end(), [](char c) { return is_alnum(c) || c == '-' || c == '_' || c == '.'; });
}

const char* const qualified_name_fmt = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]";
const char* const qualified_name_msg =
    "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character";

}  // namespace

std::string bad_value(const json& value) {
    if (value.is_string()) return go_quote(value.get<std::string>());
    if (value.is_null()) return "null";
    return dump(value);
}

void Errors::required(const Path& p, const std::string& detail) {
    list.push_back({"FieldValueRequired", p.str(), detail.empty() ? "Required value" : "Required value: " + detail});
}

void Errors::invalid(const Path& p, const json& value, const std::string& detail) {
    std::string m = "Invalid value: " + bad_value(value);
    if (!detail.empty()) m += ": " + detail;
    list.push_back({"FieldValueInvalid", p.str(), m});
}

void Errors::not_supported(const Path& p, const json& value, const std::vector<std::string>& supported) {
    std::string m = "Unsupported value: " + bad_value(value);
    if (!supported.empty()) {
        m += ": supported values: ";
        for (size_t i = 0; i < supported.size(); ++i) m += (i ? ", " : "") + go_quote(supported[i]);
    }
    list.push_back({"FieldValueNotSupported", p.str(), m});
}

void Errors::duplicate(const Path& p, const json& value) {
    list.push_back({"FieldValueDuplicate", p.str(), "Duplicate value: " + bad_value(value)});
}

void Errors::forbidden(const Path& p, const std::string& detail) {
    list.push_back({"FieldValueForbidden", p.str(), detail.empty() ? "Forbidden" : "Forbidden: " + detail});
}

void Errors::too_long(const Path& p, size_t max_bytes) {
    list.push_back(
        {"FieldValueTooLong", p.str(), "Too long: may not be more than " + std::to_string(max_bytes) + " bytes"});
}

void Errors::not_found(const Path& p, const json& value) {
    list.push_back({"FieldValueNotFound", p.str(), "Not found: " + bad_value(value)});
}

void Errors::type_invalid(const Path& p, const json& value, const char* expected) {
    std::string got = type_name(value);
    list.push_back({"FieldValueTypeInvalid", p.str(),
                    "Invalid value: " + go_quote(got) + ": " + p.str() + " in body must be of type " + expected + ": " +
                        go_quote(got)});
}

const json* member(const json& object, std::string_view key) {
    if (!object.is_object()) return nullptr;
    auto it = object.find(key);
    if (it == object.end() || it->is_null()) return nullptr;
    return &*it;
}

bool is_integer(const json& v) {
    if (v.is_number_integer()) return v.is_number_unsigned() ? v.get<uint64_t>() <= INT64_MAX : true;
    if (v.is_number_float()) {
        double d = v.get<double>();
        return std::isfinite(d) && std::floor(d) == d && std::fabs(d) < 9.2e18;
    }
    return false;
}

int64_t integer_value(const json& v) {
    if (v.is_number_float()) return static_cast<int64_t>(v.get<double>());
    return v.get<int64_t>();
}

namespace {
template <typename Check>
const json* typed_at(const json& object, std::string_view key, const Path& p, Errors& e, const char* expected,
                     Check ok) {
    const json* v = member(object, key);
    if (!v) return nullptr;
    if (!ok(*v)) {
        e.type_invalid(p, *v, expected);
        return nullptr;
    }
    return v;
}
}  // namespace

const json* string_at(const json& o, std::string_view k, const Path& p, Errors& e) {
    return typed_at(o, k, p, e, "string", [](const json& v) { return v.is_string(); });
}
const json* integer_at(const json& o, std::string_view k, const Path& p, Errors& e) {
    return typed_at(o, k, p, e, "integer", [](const json& v) { return is_integer(v); });
}
const json* bool_at(const json& o, std::string_view k, const Path& p, Errors& e) {
    return typed_at(o, k, p, e, "boolean", [](const json& v) { return v.is_boolean(); });
}
const json* object_at(const json& o, std::string_view k, const Path& p, Errors& e) {
    return typed_at(o, k, p, e, "object", [](const json& v) { return v.is_object(); });
}
const json* array_at(const json& o, std::string_view k, const Path& p, Errors& e) {
    return typed_at(o, k, p, e, "array", [](const json& v) { return v.is_array(); });
}

const json* string_map_at(const json& o, std::string_view k, const Path& p, Errors& e) {
    const json* m = object_at(o, k, p, e);
    if (!m) return nullptr;
    for (const auto& [key, value] : m->items())
        if (!value.is_string()) e.type_invalid(p.key(key), value, "string");
    return m;
}

std::string string_or(const json& object, std::string_view key, const std::string& fallback) {
    const json* v = member(object, key);
    return v && v->is_string() ? v->get<std::string>() : fallback;
}

std::optional<int64_t> integer_member(const json& object, std::string_view key) {
    const json* v = member(object, key);
    if (!v || !is_integer(*v)) return std::nullopt;
    return integer_value(*v);
}

std::vector<std::string> dns1123_label(const std::string& value) {
    std::vector<std::string> errs;
    if (value.size() > 63) errs.push_back(max_len_error(63));
    if (!matches_dns_label(value)) {
        if (matches_dns_subdomain(value)) {
            errs.push_back("must not contain dots");
        } else {
            errs.push_back(
                regex_error("a lowercase RFC 1123 label must consist of lower case alphanumeric characters "
                            "or '-', and must start and end with an alphanumeric character",
                            "[a-z0-9]([-a-z0-9]*[a-z0-9])?", {"my-name", "123-abc"}));
        }
    }
    return errs;
}

std::vector<std::string> dns1123_subdomain(const std::string& value) {
    std::vector<std::string> errs;
    if (value.size() > 253) errs.push_back(max_len_error(253));
    if (!matches_dns_subdomain(value))
        errs.push_back(
            regex_error("a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, "
                        "'-' or '.', and must start and end with an alphanumeric character",
                        "[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*", {"example.com"}));
    return errs;
}

std::vector<std::string> dns1035_label(const std::string& value) {
    std::vector<std::string> errs;
    if (value.size() > 63) errs.push_back(max_len_error(63));
    if (!matches_dns_label(value) || !(value.front() >= 'a' && value.front() <= 'z'))
        errs.push_back(
            regex_error("a DNS-1035 label must consist of lower case alphanumeric characters or '-', start "
                        "with an alphabetic character, and end with an alphanumeric character",
                        "[a-z]([-a-z0-9]*[a-z0-9])?", {"my-name", "abc-123"}));
    return errs;
}

std::vector<std::string> qualified_name(const std::string& value) {
    std::vector<std::string> errs;
    std::string name = value;
    size_t slashes = std::count(value.begin(), value.end(), '/');
    if (slashes > 1)
        return {"a qualified name " +
                regex_error(qualified_name_msg, qualified_name_fmt, {"MyName", "my.name", "123-abc"}) +
                " with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"};
    if (slashes == 1) {
        std::string prefix = value.substr(0, value.find('/'));
        name = value.substr(value.find('/') + 1);
        if (prefix.empty()) {
            errs.push_back("prefix part must be non-empty");
        } else {
            for (auto& m : dns1123_subdomain(prefix)) errs.push_back("prefix part " + m);
        }
    }
    if (name.empty()) {
        errs.push_back("name part must be non-empty");
    } else if (name.size() > 63) {
        errs.push_back("name part " + max_len_error(63));
    }
    if (!matches_qualified_name_part(name))
        errs.push_back("name part " +
                       regex_error(qualified_name_msg, qualified_name_fmt, {"MyName", "my.name", "123-abc"}));
    return errs;
}

std::vector<std::string> label_value(const std::string& value) {
    std::vector<std::string> errs;
    if (value.size() > 63) errs.push_back(max_len_error(63));
    if (!value.empty() && !matches_qualified_name_part(value))
        errs.push_back(
            regex_error("a valid label must be an empty string or consist of alphanumeric characters, '-', '_' "
                        "or '.', and must start and end with an alphanumeric character",
                        "(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?", {"MyValue", "my_value", "12345"}));
    return errs;
}

std::vector<std::string> config_map_key(const std::string& value) {
    std::vector<std::string> errs;
    if (value.size() > 253) errs.push_back(max_len_error(253));
    bool ok = !value.empty() && std::all_of(value.begin(), value.end(),
                                            [](char c) { return is_alnum(c) || c == '-' || c == '_' || c == '.'; });
    if (!ok)
        errs.push_back(regex_error("a valid config key must consist of alphanumeric characters, '-', '_' or '.'",
                                   "[-._a-zA-Z0-9]+", {"key.name", "KEY_NAME", "key-name"}));
    if (value == ".") {
        errs.push_back("must not be '.'");
    } else if (value == "..") {
        errs.push_back("must not be '..'");
    } else if (value.rfind("..", 0) == 0) {
        errs.push_back("must not start with '..'");
    }
    return errs;
}

std::vector<std::string> port_name(const std::string& value) {
    std::vector<std::string> errs;
    if (value.size() > 15) errs.push_back(max_len_error(15));
    if (value.empty() || !std::all_of(value.begin(), value.end(), [](char c) { return is_lower_alnum(c) || c == '-'; }))
        errs.push_back("must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)");
    if (std::none_of(value.begin(), value.end(), [](char c) { return c >= 'a' && c <= 'z'; }))
        errs.push_back("must contain at least one letter (a-z)");
    if (value.find("--") != std::string::npos) errs.push_back("must not contain consecutive hyphens");
    if (!value.empty() && (value.front() == '-' || value.back() == '-'))
        errs.push_back("must not begin or end with a hyphen");
    return errs;
}

std::vector<std::string> port_number(int64_t value) {
    if (value >= 1 && value <= 65535) return {};
    return {"must be between 1 and 65535, inclusive"};
}

std::vector<std::string> ipv4_address(const std::string& value) {
    in_addr a{};
    if (inet_pton(AF_INET, value.c_str(), &a) == 1) return {};
    return {"must be a valid IPv4 address"};
}

std::vector<std::string> ipv6_address(const std::string& value) {
    in6_addr a{};
    if (inet_pton(AF_INET6, value.c_str(), &a) == 1) return {};
    return {"must be a valid IPv6 address"};
}

std::vector<std::string> ip_address(const std::string& value) {
    if (ipv4_address(value).empty() || ipv6_address(value).empty()) return {};
    return {"must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)"};
}

std::vector<std::string> cidr(const std::string& value) {
    auto slash = value.find('/');
    bool ok = false;
    if (slash != std::string::npos && slash + 1 < value.size()) {
        std::string addr = value.substr(0, slash), bits = value.substr(slash + 1);
        bool digits =
            bits.size() <= 3 && std::all_of(bits.begin(), bits.end(), [](char c) { return c >= '0' && c <= '9'; });
        int n = digits ? std::stoi(bits) : -1;
        if (ipv4_address(addr).empty())
            ok = n >= 0 && n <= 32;
        else if (ipv6_address(addr).empty())
            ok = n >= 0 && n <= 128;
    }
    if (ok) return {};
    return {"must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)"};
}

std::optional<long double> parse_quantity(const json& value) {
    if (value.is_number()) return value.get<long double>();
    if (!value.is_string()) return std::nullopt;
    const std::string s = value.get<std::string>();
    size_t i = 0;
    bool negative = false;
    if (i < s.size() && (s[i] == '+' || s[i] == '-')) negative = s[i++] == '-';
    size_t digits_start = i;
    int dots = 0, digits = 0;
    while (i < s.size() && (std::isdigit(static_cast<unsigned char>(s[i])) || s[i] == '.')) {
        if (s[i] == '.')
            ++dots;
        else
            ++digits;
        ++i;
    }
    if (digits == 0 || dots > 1) return std::nullopt;
    long double number = std::strtold(s.substr(digits_start, i - digits_start).c_str(), nullptr);
    std::string suffix = s.substr(i);
    long double scale = 1;
    static const std::pair<const char*, long double> suffixes[] = {{"", 1},
                                                                   {"n", 1e-9L},
                                                                   {"u", 1e-6L},
                                                                   {"m", 1e-3L},
                                                                   {"k", 1e3L},
                                                                   {"M", 1e6L},
                                                                   {"G", 1e9L},
                                                                   {"T", 1e12L},
                                                                   {"P", 1e15L},
                                                                   {"E", 1e18L},
                                                                   {"Ki", 1024.0L},
                                                                   {"Mi", 1048576.0L},
                                                                   {"Gi", 1073741824.0L},
                                                                   {"Ti", 1099511627776.0L},
                                                                   {"Pi", 1125899906842624.0L},
                                                                   {"Ei", 1152921504606846976.0L}};
    bool known = false;
    for (const auto& [name, factor] : suffixes)
        if (suffix == name) {
            scale = factor;
            known = true;
        }
    if (!known) {
        // A decimal exponent: e3, E-2.
        if (suffix.size() < 2 || (suffix[0] != 'e' && suffix[0] != 'E')) return std::nullopt;
        size_t j = 1;
        if (suffix[j] == '+' || suffix[j] == '-') ++j;
        if (j >= suffix.size() || suffix.size() - j > 4) return std::nullopt;
        for (size_t k = j; k < suffix.size(); ++k)
            if (!std::isdigit(static_cast<unsigned char>(suffix[k]))) return std::nullopt;
        scale = std::pow(10.0L, std::stold(suffix.substr(1)));
    }
    long double result = number * scale;
    return negative ? -result : result;
}

void validate_nonnegative(const json& object, std::string_view key, const Path& p, Errors& e) {
    if (const json* v = integer_at(object, key, p, e); v && integer_value(*v) < 0) e.invalid(p, *v, negative_error);
}

void validate_labels(const json& owner, std::string_view key, const Path& p, Errors& e) {
    const json* labels = string_map_at(owner, key, p, e);
    if (!labels) return;
    for (const auto& [k, v] : labels->items()) {
        for (const auto& msg : qualified_name(k)) e.invalid(p, k, msg);
        if (v.is_string())
            for (const auto& msg : label_value(v.get<std::string>())) e.invalid(p, v, msg);
    }
}

void validate_label_selector(const json& selector, const Path& p, Errors& e) {
    validate_labels(selector, "matchLabels", p.child("matchLabels"), e);
    const json* exprs = array_at(selector, "matchExpressions", p.child("matchExpressions"), e);
    if (!exprs) return;
    for (size_t i = 0; i < exprs->size(); ++i) {
        Path ip = p.child("matchExpressions").index(i);
        const json& r = (*exprs)[i];
        if (!r.is_object()) {
            e.type_invalid(ip, r, "object");
            continue;
        }
        const json* op = string_at(r, "operator", ip.child("operator"), e);
        const json* values = array_at(r, "values", ip.child("values"), e);
        size_t n = values ? values->size() : 0;
        std::string o = op ? op->get<std::string>() : "";
        if (o == "In" || o == "NotIn") {
            if (n == 0) e.required(ip.child("values"), "must be specified when `operator` is 'In' or 'NotIn'");
        } else if (o == "Exists" || o == "DoesNotExist") {
            if (n > 0)
                e.forbidden(ip.child("values"), "may not be specified when `operator` is 'Exists' or 'DoesNotExist'");
        } else if (op) {
            e.invalid(ip.child("operator"), *op, "not a valid selector operator");
        }
        if (const json* k = string_at(r, "key", ip.child("key"), e))
            for (const auto& msg : qualified_name(k->get<std::string>())) e.invalid(ip.child("key"), *k, msg);
        if (values)
            for (size_t j = 0; j < values->size(); ++j)
                if (!(*values)[j].is_string()) e.type_invalid(ip.child("values").index(j), (*values)[j], "string");
    }
}

bool selector_is_empty(const json& selector) {
    const json* labels = member(selector, "matchLabels");
    const json* exprs = member(selector, "matchExpressions");
    return (!labels || !labels->is_object() || labels->empty()) && (!exprs || !exprs->is_array() || exprs->empty());
}

bool selector_matches(const json& selector, const json& labels) {
    auto label = [&](const std::string& k) -> const json* {
        const json* v = member(labels, k);
        return v && v->is_string() ? v : nullptr;
    };
    if (const json* ml = member(selector, "matchLabels"); ml && ml->is_object())
        for (const auto& [k, v] : ml->items()) {
            const json* have = label(k);
            if (!have || *have != v) return false;
        }
    if (const json* exprs = member(selector, "matchExpressions"); exprs && exprs->is_array())
        for (const auto& r : *exprs) {
            std::string key = string_or(r, "key"), op = string_or(r, "operator");
            const json* have = label(key);
            bool in_values = false;
            if (const json* values = member(r, "values"); have && values && values->is_array())
                in_values = std::find(values->begin(), values->end(), *have) != values->end();
            if ((op == "In" && !in_values) || (op == "NotIn" && in_values) || (op == "Exists" && !have) ||
                (op == "DoesNotExist" && have))
                return false;
        }
    return true;
}

namespace {

std::vector<std::string> name_errors(const ResourceInfo& info, const std::string& name) {
    if (info.resource == "namespaces") return dns1123_label(name);
    if (info.resource == "services") return dns1035_label(name);
    return dns1123_subdomain(name);
}

void validate_owner_references(const json& meta, const Path& p, Errors& e) {
    const json* refs = array_at(meta, "ownerReferences", p, e);
    if (!refs) return;
    std::string first_controller;
    for (size_t i = 0; i < refs->size(); ++i) {
        const json& ref = (*refs)[i];
        if (!ref.is_object()) {
            e.type_invalid(p.index(i), ref, "object");
            continue;
        }
        // Kubernetes reports these at the list's path, without the index.
        const json* api_version = string_at(ref, "apiVersion", p.index(i).child("apiVersion"), e);
        const json* kind = string_at(ref, "kind", p.index(i).child("kind"), e);
        const json* name = string_at(ref, "name", p.index(i).child("name"), e);
        const json* uid = string_at(ref, "uid", p.index(i).child("uid"), e);
        const json* controller = bool_at(ref, "controller", p.index(i).child("controller"), e);
        bool_at(ref, "blockOwnerDeletion", p.index(i).child("blockOwnerDeletion"), e);
        std::string av = api_version ? api_version->get<std::string>() : "";
        std::string version = av.substr(av.find('/') == std::string::npos ? 0 : av.find('/') + 1);
        if (version.empty()) e.invalid(p.child("apiVersion"), av, "version must not be empty");
        std::string k = kind ? kind->get<std::string>() : "";
        if (k.empty()) e.invalid(p.child("kind"), k, "must not be empty");
        if (!name || name->get<std::string>().empty())
            e.invalid(p.child("name"), name ? *name : json(""), "must not be empty");
        if (!uid || uid->get<std::string>().empty())
            e.invalid(p.child("uid"), uid ? *uid : json(""), "must not be empty");
        if (av == "v1" && k == "Event") e.invalid(p, ref, "/v1, Kind=Event is disallowed from being an owner");
        if (controller && controller->get<bool>()) {
            std::string current = k + "/" + (name ? name->get<std::string>() : "");
            if (!first_controller.empty())
                e.invalid(p, *refs,
                          "Only one reference can have Controller set to true. Found \"true\" in references for " +
                              first_controller + " and " + current);
            else
                first_controller = current;
        }
    }
}

void validate_finalizers(const json& meta, const Path& p, Errors& e) {
    const json* finalizers = array_at(meta, "finalizers", p, e);
    if (!finalizers) return;
    bool orphan = false, foreground = false;
    for (size_t i = 0; i < finalizers->size(); ++i) {
        const json& f = (*finalizers)[i];
        if (!f.is_string()) {
            e.type_invalid(p.index(i), f, "string");
            continue;
        }
        for (const auto& msg : qualified_name(f.get<std::string>())) e.invalid(p, f, msg);
        orphan |= f == "orphan";
        foreground |= f == "foregroundDeletion";
    }
    if (orphan && foreground) e.invalid(p, *finalizers, "finalizer orphan and foregroundDeletion cannot be both set");
}

}  // namespace

void validate_object_meta(const ResourceInfo& info, const json& object, bool creating, Errors& e) {
    Path p("metadata");
    const json* meta = object_at(object, "metadata", p, e);
    static const json empty = json::object();
    if (!meta) meta = &empty;
    for (const char* key : {"name", "generateName", "namespace", "uid", "resourceVersion", "creationTimestamp"})
        string_at(*meta, key, p.child(key), e);
    if (creating) {
        std::string name = string_or(*meta, "name");
        if (name.empty()) {
            e.required(p.child("name"), "name or generateName is required");
        } else {
            for (const auto& msg : name_errors(info, name)) e.invalid(p.child("name"), name, msg);
        }
        std::string ns = string_or(*meta, "namespace");
        if (info.namespaced) {
            if (ns.empty()) {
                e.required(p.child("namespace"));
            } else {
                for (const auto& msg : dns1123_label(ns)) e.invalid(p.child("namespace"), ns, msg);
            }
        } else if (!ns.empty()) {
            e.forbidden(p.child("namespace"), "not allowed on this type");
        }
    }
    validate_nonnegative(*meta, "generation", p.child("generation"), e);
    validate_labels(*meta, "labels", p.child("labels"), e);
    if (const json* annotations = string_map_at(*meta, "annotations", p.child("annotations"), e)) {
        size_t total = 0;
        for (const auto& [k, v] : annotations->items()) {
            std::string lower = k;
            for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
            for (const auto& msg : qualified_name(lower)) e.invalid(p.child("annotations"), k, msg);
            total += k.size() + (v.is_string() ? v.get_ref<const std::string&>().size() : 0);
        }
        if (total > 256 * 1024) e.too_long(p.child("annotations"), 256 * 1024);
    }
    validate_owner_references(*meta, p.child("ownerReferences"), e);
    validate_finalizers(*meta, p.child("finalizers"), e);
}

}  // namespace skiff::apiserver::strategy_detail
