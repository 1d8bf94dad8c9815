// Image reference parsing and formatting, following docker/distribution's reference grammar.
#include "skiff/images/reference.hpp"

#include <cerrno>

namespace skiff::images {
namespace {

// distribution's NameTotalLengthMax: the whole name, domain included.
constexpr size_t kMaxNameLength = 255;
constexpr size_t kMaxTagLength = 128;

bool is_lower_alnum(char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}
bool is_alnum(char c) {
    return is_lower_alnum(c) || (c >= 'A' && c <= 'Z');
}
bool is_digit(char c) {
    return c >= '0' && c <= '9';
}
bool is_hex(char c) {
    return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

// The rule Docker uses to tell "quay.io/x" (a registry) from "team/x" (a Hub user).
bool looks_like_domain(std::string_view component) {
    return component.find_first_of(".:") != std::string_view::npos || component == "localhost";
}

// [a-zA-Z0-9] | [a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]
bool valid_domain_label(std::string_view label) {
    if (label.empty() || !is_alnum(label.front()) || !is_alnum(label.back())) return false;
    for (char c : label)
        if (!is_alnum(c) && c != '-') return false;
    return true;
}

// host[:port], where host is dot-separated labels or a bracketed IPv6 address.
std::string domain_problem(std::string_view domain) {
    std::string_view host = domain;
    std::string_view port;
    bool bracketed = !domain.empty() && domain.front() == '[';
    if (bracketed) {
        size_t close = domain.find(']');
        if (close == std::string_view::npos) return "unterminated IPv6 address in the domain";
        std::string_view addr = domain.substr(1, close - 1);
        if (addr.empty()) return "empty IPv6 address in the domain";
        for (char c : addr)
            if (!is_hex(c) && c != ':') return "invalid IPv6 address in the domain";
        std::string_view rest = domain.substr(close + 1);
        if (!rest.empty()) {
            if (rest.front() != ':') return "unexpected text after the IPv6 address";
            port = rest.substr(1);
            if (port.empty()) return "empty port in the domain";
        }
        host = {};
    } else if (size_t colon = domain.find(':'); colon != std::string_view::npos) {
        host = domain.substr(0, colon);
        port = domain.substr(colon + 1);
        if (port.empty()) return "empty port in the domain";
    }
    for (char c : port)
        if (!is_digit(c)) return "port must be a number";
    if (!bracketed) {
        size_t start = 0;
        for (;;) {
            size_t dot = host.find('.', start);
            std::string_view label = host.substr(start, dot - start);
            if (!valid_domain_label(label)) return "invalid domain \"" + std::string(domain) + "\"";
            if (dot == std::string_view::npos) break;
            start = dot + 1;
        }
    }
    return {};
}

// [a-z0-9]+ ((. | _ | __ | -+) [a-z0-9]+)*
std::string path_component_problem(std::string_view comp) {
    if (comp.empty()) return "empty path component";
    for (char c : comp)
        if (c >= 'A' && c <= 'Z') return "repository name must be lowercase";
    if (!is_lower_alnum(comp.front()) || !is_lower_alnum(comp.back()))
        return "path component \"" + std::string(comp) + "\" must start and end with [a-z0-9]";
    size_t i = 0;
    while (i < comp.size()) {
        if (is_lower_alnum(comp[i])) {
            ++i;
            continue;
        }
        size_t j = i;
        while (j < comp.size() && !is_lower_alnum(comp[j])) ++j;
        std::string_view sep = comp.substr(i, j - i);
        bool dashes = sep.find_first_not_of('-') == std::string_view::npos;
        if (!(sep == "." || sep == "_" || sep == "__" || dashes)) {
            for (char c : sep)
                if (c != '.' && c != '_' && c != '-')
                    return "invalid character '" + std::string(1, c) + "' in path component \"" +
                           std::string(comp) + "\"";
            return "invalid separator \"" + std::string(sep) + "\" in path component \"" +
                   std::string(comp) + "\"";
        }
        i = j;
    }
    return {};
}

// [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}
std::string tag_problem(std::string_view tag) {
    if (tag.empty()) return "empty tag";
    if (tag.size() > kMaxTagLength)
        return "tag is longer than " + std::to_string(kMaxTagLength) + " characters";
    auto word = [](char c) { return is_alnum(c) || c == '_'; };
    if (!word(tag.front())) return "tag must start with [A-Za-z0-9_]";
    for (char c : tag)
        if (!word(c) && c != '.' && c != '-')
            return "invalid character '" + std::string(1, c) + "' in tag";
    return {};
}

}  // namespace

Result<Reference> Reference::parse(std::string_view text) {
    auto bad = [&](const std::string& why) {
        return Error(EINVAL, "invalid image reference \"" + std::string(text) + "\": " + why);
    };
    if (text.empty()) return bad("empty reference");
    // A bare image ID is refused, as Docker does: it would otherwise name a repository.
    if (text.size() == 64 && text.find_first_not_of("0123456789abcdef") == std::string_view::npos)
        return bad("a 64-character hexadecimal string is an image ID, not a reference");

    Reference ref;
    std::string_view rest = text;
    if (size_t at = rest.find('@'); at != std::string_view::npos) {
        auto digest = Digest::parse(rest.substr(at + 1));
        if (!digest) return bad(digest.error().message());
        ref.digest = std::move(*digest);
        rest = rest.substr(0, at);
    }
    // A ':' after the last '/' starts the tag; one before it belongs to the domain's port.
    size_t colon = rest.rfind(':');
    size_t slash = rest.rfind('/');
    if (colon != std::string_view::npos && (slash == std::string_view::npos || colon > slash)) {
        std::string_view tag = rest.substr(colon + 1);
        if (auto why = tag_problem(tag); !why.empty()) return bad(why);
        ref.tag = std::string(tag);
        rest = rest.substr(0, colon);
    }
    if (rest.empty()) return bad("empty repository name");

    size_t first_slash = rest.find('/');
    if (first_slash != std::string_view::npos && looks_like_domain(rest.substr(0, first_slash))) {
        ref.domain = std::string(rest.substr(0, first_slash));
        rest = rest.substr(first_slash + 1);
        if (auto why = domain_problem(ref.domain); !why.empty()) return bad(why);
        // The legacy Hub name is the same registry.
        if (ref.domain == "index.docker.io") ref.domain = kDockerHubDomain;
    } else {
        ref.domain = kDockerHubDomain;
    }
    ref.repository = std::string(rest);
    if (ref.domain == kDockerHubDomain && rest.find('/') == std::string_view::npos)
        ref.repository = "library/" + ref.repository;

    size_t start = 0;
    for (;;) {
        size_t end = rest.find('/', start);
        if (auto why = path_component_problem(rest.substr(start, end - start)); !why.empty())
            return bad(why);
        if (end == std::string_view::npos) break;
        start = end + 1;
    }
    if (ref.name().size() > kMaxNameLength)
        return bad("repository name is longer than " + std::to_string(kMaxNameLength) +
                   " characters");
    if (ref.tag.empty() && !ref.digest) ref.tag = "latest";
    return ref;
}

namespace {
std::string with_tag_and_digest(std::string name, const Reference& ref) {
    if (!ref.tag.empty()) name += ":" + ref.tag;
    if (ref.digest) name += "@" + ref.digest->str();
    return name;
}
}  // namespace

std::string Reference::str() const {
    return with_tag_and_digest(name(), *this);
}

std::string Reference::familiar() const {
    if (domain != kDockerHubDomain) return str();
    std::string_view path = repository;
    constexpr std::string_view kLibrary = "library/";
    if (path.substr(0, kLibrary.size()) == kLibrary &&
        path.find('/', kLibrary.size()) == std::string_view::npos)
        path.remove_prefix(kLibrary.size());
    // "docker.io/foo.bar/x" must keep its domain, or "foo.bar" would read back as the registry.
    size_t slash = path.find('/');
    if (slash != std::string_view::npos && looks_like_domain(path.substr(0, slash))) return str();
    return with_tag_and_digest(std::string(path), *this);
}

std::string Reference::registry_host() const {
    if (domain == kDockerHubDomain) return std::string(kDockerHubRegistryHost);
    return domain;
}

}  // namespace skiff::images
