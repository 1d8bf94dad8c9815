// The backend-independent part of the store interface.
#include "skiff/store/store.hpp"

#include "key_range.hpp"

namespace skiff::store {

std::string prefix_end(const std::string& prefix) {
    std::string end = prefix;
    while (!end.empty()) {
        auto c = static_cast<unsigned char>(end.back());
        if (c < 0xff) {
            end.back() = static_cast<char>(c + 1);
            return end;
        }
        end.pop_back();
    }
    return end;
}

Watch::~Watch() = default;
Store::~Store() = default;

}  // namespace skiff::store
