// Label and field selectors: Kubernetes' selector grammar read by a small lexer (set-based terms carry
// commas inside their parentheses), and matching against an object's labels and fields.
#include "skiff/apiserver/selectors.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>

namespace skiff::apiserver {

using json = nlohmann::json;

namespace {

bool name_char(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.'; }

// A label value: empty, or up to 63 of [A-Za-z0-9-_.] starting and ending alphanumeric.
std::string label_value_error(const std::string& v) {
    if (v.empty()) return "";
    if (v.size() > 63) return "must be no more than 63 characters";
    if (!std::all_of(v.begin(), v.end(), name_char) || !std::isalnum(static_cast<unsigned char>(v.front())) ||
        !std::isalnum(static_cast<unsigned char>(v.back())))
        return "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and "
               "must start and end with an alphanumeric character";
    return "";
}

// A label key: [prefix/]name, the prefix a DNS subdomain, the name a non-empty label value.
std::string label_key_error(const std::string& key) {
    auto slash = key.find('/');
    if (slash != std::string::npos) {
        std::string prefix = key.substr(0, slash);
        bool ok = !prefix.empty() && prefix.size() <= 253 &&
                  std::all_of(prefix.begin(), prefix.end(), [](char c) {
                      return std::islower(static_cast<unsigned char>(c)) || std::isdigit(static_cast<unsigned char>(c)) ||
                             c == '-' || c == '.';
                  });
        if (!ok) return "the prefix must be a lowercase DNS subdomain";
    }
    std::string name = slash == std::string::npos ? key : key.substr(slash + 1);
    if (name.empty()) return "the name part must not be empty";
    return label_value_error(name);
}

class Lexer {
public:
    explicit Lexer(const std::string& text) : s_(text) {}
    bool done() {
        skip_space();
        return i_ >= s_.size();
    }
    bool eat(std::string_view token) {
        skip_space();
        if (s_.compare(i_, token.size(), token) != 0) return false;
        i_ += token.size();
        return true;
    }
    // An operator word ("in", "notin") that is not the start of a longer name.
    bool keyword(std::string_view kw) {
        skip_space();
        if (s_.compare(i_, kw.size(), kw) != 0) return false;
        if (i_ + kw.size() < s_.size() && name_char(s_[i_ + kw.size()])) return false;
        i_ += kw.size();
        return true;
    }
    // A key or a value: the characters qualified names and label values are made of.
    std::string word() {
        skip_space();
        size_t start = i_;
        while (i_ < s_.size() && (name_char(s_[i_]) || s_[i_] == '/')) ++i_;
        return s_.substr(start, i_ - start);
    }
    size_t position() const { return i_; }

private:
    void skip_space() {
        while (i_ < s_.size() && s_[i_] == ' ') ++i_;
    }
    const std::string& s_;
    size_t i_ = 0;
};

bool parse_value(Lexer& lex, std::vector<std::string>& values, std::string& error) {
    std::string v = lex.word();
    if (auto why = label_value_error(v); !why.empty()) {
        error = "invalid label value \"" + v + "\": " + why;
        return false;
    }
    values.push_back(std::move(v));
    return true;
}

bool parse_set(Lexer& lex, std::vector<std::string>& values, std::string& error) {
    if (!lex.eat("(")) {
        error = "expected '(' at position " + std::to_string(lex.position());
        return false;
    }
    do {
        if (!parse_value(lex, values, error)) return false;
    } while (lex.eat(","));
    if (!lex.eat(")")) {
        error = "expected ',' or ')' at position " + std::to_string(lex.position());
        return false;
    }
    if (values.size() == 1 && values[0].empty()) {
        error = "for 'in', 'notin' operators, values set can't be empty";
        return false;
    }
    return true;
}

bool parse_requirement(Lexer& lex, LabelRequirement& r, std::string& error) {
    using Op = LabelRequirement::Op;
    bool negated = lex.eat("!");
    r.key = lex.word();
    if (r.key.empty()) {
        error = "expected a label key at position " + std::to_string(lex.position());
        return false;
    }
    if (auto why = label_key_error(r.key); !why.empty()) {
        error = "invalid label key \"" + r.key + "\": " + why;
        return false;
    }
    if (negated) {
        r.op = Op::not_exists;
        return true;
    }
    if (lex.eat("!=")) r.op = Op::not_equals;
    else if (lex.eat("==") || lex.eat("=")) r.op = Op::equals;
    else if (lex.eat(">")) r.op = Op::greater;
    else if (lex.eat("<")) r.op = Op::less;
    else if (lex.keyword("notin")) r.op = Op::not_in;
    else if (lex.keyword("in")) r.op = Op::in;
    else {
        r.op = Op::exists;
        return true;
    }
    if (r.op == Op::in || r.op == Op::not_in) return parse_set(lex, r.values, error);
    if (!parse_value(lex, r.values, error)) return false;
    if (r.op == Op::greater || r.op == Op::less) {
        long long n = 0;
        const std::string& v = r.values[0];
        if (v.empty() || std::from_chars(v.data(), v.data() + v.size(), n).ec != std::errc()) {
            error = "for 'Gt', 'Lt' operators, the value must be an integer";
            return false;
        }
    }
    return true;
}

}  // namespace

bool parse_label_selector(const std::string& text, std::vector<LabelRequirement>& out, std::string& error) {
    out.clear();
    Lexer lex(text);
    if (lex.done()) return true;
    for (;;) {
        LabelRequirement r;
        if (!parse_requirement(lex, r, error)) return false;
        out.push_back(std::move(r));
        if (lex.done()) return true;
        if (!lex.eat(",")) {
            error = "unexpected character at position " + std::to_string(lex.position()) + " of \"" + text + "\"";
            return false;
        }
    }
}

bool labels_match(const json& labels, const std::vector<LabelRequirement>& selector) {
    using Op = LabelRequirement::Op;
    for (const auto& r : selector) {
        bool has = labels.is_object() && labels.contains(r.key) && labels[r.key].is_string();
        std::string value = has ? labels[r.key].get<std::string>() : "";
        bool listed = std::find(r.values.begin(), r.values.end(), value) != r.values.end();
        bool ok = true;
        switch (r.op) {
            case Op::equals: ok = has && listed; break;
            case Op::in: ok = has && listed; break;
            case Op::not_equals: ok = !has || !listed; break;
            case Op::not_in: ok = !has || !listed; break;
            case Op::exists: ok = has; break;
            case Op::not_exists: ok = !has; break;
            case Op::greater:
            case Op::less: {
                long long have = 0, want = std::stoll(r.values[0]);
                ok = has && std::from_chars(value.data(), value.data() + value.size(), have).ec == std::errc() &&
                     (r.op == Op::greater ? have > want : have < want);
                break;
            }
        }
        if (!ok) return false;
    }
    return true;
}

bool parse_field_selector(const std::string& text, const ResourceInfo& info, std::vector<FieldRequirement>& out,
                          std::string& error) {
    out.clear();
    std::vector<std::string> allowed = {"metadata.name", "metadata.namespace"};
    if (info.resource == "pods") allowed.insert(allowed.end(), {"spec.nodeName", "status.phase"});
    if (info.resource == "events")
        allowed.insert(allowed.end(), {"involvedObject.kind", "involvedObject.name", "involvedObject.namespace",
                                       "involvedObject.uid", "reason", "type"});
    if (info.resource == "secrets") allowed.push_back("type");
    size_t start = 0;
    while (start <= text.size()) {
        size_t comma = text.find(',', start);
        std::string term = text.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
        if (!term.empty()) {
            FieldRequirement r;
            size_t op = term.find("!=");
            if (op != std::string::npos) {
                r = {term.substr(0, op), false, term.substr(op + 2)};
            } else if ((op = term.find("==")) != std::string::npos) {
                r = {term.substr(0, op), true, term.substr(op + 2)};
            } else if ((op = term.find('=')) != std::string::npos) {
                r = {term.substr(0, op), true, term.substr(op + 1)};
            } else {
                error = "invalid term \"" + term + "\" (field=value or field!=value)";
                return false;
            }
            if (std::find(allowed.begin(), allowed.end(), r.field) == allowed.end()) {
                error = "field label not supported: " + r.field;
                return false;
            }
            out.push_back(std::move(r));
        }
        if (comma == std::string::npos) break;
        start = comma + 1;
    }
    return true;
}

bool fields_match(const json& obj, const std::vector<FieldRequirement>& selector) {
    for (const auto& r : selector) {
        const json* at = &obj;
        size_t start = 0;
        while (at && start <= r.field.size()) {
            size_t dot = r.field.find('.', start);
            std::string part = r.field.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
            at = at->is_object() && at->contains(part) ? &(*at)[part] : nullptr;
            if (dot == std::string::npos) break;
            start = dot + 1;
        }
        std::string value = at && at->is_string() ? at->get<std::string>() : "";
        if ((value == r.value) != r.equals) return false;
    }
    return true;
}

}  // namespace skiff::apiserver
