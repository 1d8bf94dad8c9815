// libFuzzer target, differential: write_json must give exactly the text nlohmann::json::dump()
// gives, or throw the same type_error (id and message) when dump() throws. Two kinds of values: the
// input parsed as JSON, and values built from the raw bytes (strings and keys with any bytes, so
// invalid UTF-8 reaches the writer; any int64, uint64 and double bit pattern; binary values).
// Seeds: tests/fuzz/json_write/.
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "skiff/apiserver/json_write.hpp"

namespace {

using json = nlohmann::json;

struct Outcome {
    bool threw = false;
    int id = 0;
    std::string text;
};

void check_same(const json& j) {
    Outcome want;
    try {
        want.text = j.dump();
    } catch (const json::type_error& e) {
        want = {true, e.id, e.what()};
    }
    // Into a string that holds something, which must survive a throw unchanged.
    const std::string prefix = "prefix:";
    std::string out = prefix;
    Outcome got;
    try {
        skiff::apiserver::write_json(j, out);
        if (out.compare(0, prefix.size(), prefix) != 0) abort();
        got.text = out.substr(prefix.size());
    } catch (const json::type_error& e) {
        if (out != prefix) abort();
        got = {true, e.id, e.what()};
    }
    if (got.threw != want.threw || got.id != want.id || got.text != want.text) abort();
    if (!want.threw && skiff::apiserver::write_json(j) != want.text) abort();
}

// Reads the fuzz input as a little program that builds a value on a stack: each opcode byte pushes
// a scalar made from the bytes after it or folds the top of the stack into an array or object.
class Builder {
  public:
    Builder(const uint8_t* data, size_t size) : p_(data), e_(data + size) {}

    json build() {
        while (p_ != e_ && stack_.size() < 10000) step();
        json all = json::array();
        for (auto& v : stack_) all.push_back(std::move(v));
        return all;
    }

  private:
    uint8_t byte() { return p_ == e_ ? 0 : *p_++; }

    std::string bytes(size_t n) {
        n = std::min(n, static_cast<size_t>(e_ - p_));
        std::string s(reinterpret_cast<const char*>(p_), n);
        p_ += n;
        return s;
    }

    uint64_t word() {
        uint64_t v = 0;
        std::string b = bytes(8);
        std::memcpy(&v, b.data(), b.size());
        return v;
    }

    json pop() {
        if (stack_.empty()) return nullptr;
        json v = std::move(stack_.back());
        stack_.pop_back();
        return v;
    }

    void step() {
        const uint8_t op = byte();
        switch (op % 10) {
            case 0:
            case 1:
                stack_.push_back(bytes(op / 10));  // a string of 0..25 raw bytes
                break;
            case 2:
                stack_.push_back(static_cast<int64_t>(word()));
                break;
            case 3:
                stack_.push_back(word());
                break;
            case 4: {
                double d;
                const uint64_t w = word();
                std::memcpy(&d, &w, sizeof d);
                stack_.push_back(d);
                break;
            }
            case 5: {  // an array of the top n values
                json a = json::array();
                for (size_t n = op / 10; n > 0 && !stack_.empty(); --n) a.push_back(pop());
                stack_.push_back(std::move(a));
                break;
            }
            case 6: {  // an object of the top n values, keys of raw bytes
                json o = json::object();
                for (size_t n = op / 10; n > 0 && !stack_.empty(); --n) {
                    std::string key = bytes(byte() % 12);
                    o[key] = pop();
                }
                stack_.push_back(std::move(o));
                break;
            }
            case 7:
                stack_.push_back(op & 0x10 ? json(op & 0x20 ? true : false) : json(nullptr));
                break;
            case 8: {
                std::string b = bytes(op / 10);
                json::binary_t::container_type v(b.begin(), b.end());
                if (op & 1)
                    stack_.push_back(json::binary(std::move(v), byte()));
                else
                    stack_.push_back(json::binary(std::move(v)));
                break;
            }
            default:
                stack_.push_back(json(json::value_t::discarded));
                break;
        }
    }

    const uint8_t* p_;
    const uint8_t* const e_;
    std::vector<json> stack_;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::string_view text(reinterpret_cast<const char*>(data), size);
    json parsed = json::parse(text.begin(), text.end(), nullptr, false);
    if (!parsed.is_discarded()) check_same(parsed);
    // The whole input as one string and as one key: invalid UTF-8 anywhere in a long string.
    std::string raw(text);
    check_same(json(raw));
    check_same(json{{raw, 1}});
    check_same(Builder(data, size).build());
    return 0;
}
