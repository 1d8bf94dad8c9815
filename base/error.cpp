// Error text: the context chain followed by the errno description.
#include <cstring>

#include "skiff/base/result.hpp"

namespace skiff {

std::string Error::what() const {
    if (code_ == 0) return message_;
    return message_ + ": " + std::strerror(code_);
}

}  // namespace skiff
