// Key ranges shared by the store backends.
#pragma once

#include <string>

namespace skiff::store {

// The smallest string greater than every string starting with prefix; "" when there is none (no bound).
std::string prefix_end(const std::string& prefix);

}  // namespace skiff::store
