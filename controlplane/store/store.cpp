// The backend-independent part of the store interface.
#include "skiff/store/store.hpp"

namespace skiff::store {

Watch::~Watch() = default;
Store::~Store() = default;

}  // namespace skiff::store
