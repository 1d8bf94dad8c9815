// The decoded objects of the last writes (see decoded_objects.hpp).
#include "skiff/apiserver/decoded_objects.hpp"

namespace skiff::apiserver {

std::shared_ptr<const nlohmann::json> DecodedObjects::find(const std::string& key, int64_t mod_revision) const {
    used_.store(true, std::memory_order_relaxed);
    std::lock_guard lock(mu_);
    auto it = entries_.find(key);
    if (it == entries_.end() || it->second.mod_revision != mod_revision) return nullptr;
    return it->second.object;
}

void DecodedObjects::remember(const std::string& key, int64_t mod_revision, size_t text_size,
                              std::shared_ptr<const nlohmann::json> object) {
    used_.store(true, std::memory_order_relaxed);
    std::shared_ptr<const nlohmann::json> dropped;  // freed after the lock is released
    std::lock_guard lock(mu_);
    auto [it, inserted] = entries_.try_emplace(key);
    if (!inserted && it->second.mod_revision > mod_revision) return;  // a later write got here first
    dropped = std::move(it->second.object);
    bytes_ = bytes_ - it->second.bytes + text_size;
    it->second = Entry{mod_revision, next_serial_, text_size, std::move(object)};
    order_.emplace_back(key, next_serial_++);
    // The queue holds every insertion; an entry written again has a newer serial, its old queue item is stale.
    while (bytes_ > capacity_ && !order_.empty()) {
        auto [old_key, serial] = std::move(order_.front());
        order_.pop_front();
        auto old = entries_.find(old_key);
        if (old == entries_.end() || old->second.serial != serial) continue;
        bytes_ -= old->second.bytes;
        entries_.erase(old);
    }
    if (order_.size() > 2 * entries_.size() + 16) {  // mostly stale items (a few keys written over and over)
        std::erase_if(order_, [&](const std::pair<std::string, uint64_t>& item) {
            auto e = entries_.find(item.first);
            return e == entries_.end() || e->second.serial != item.second;
        });
    }
}

void DecodedObjects::forget(const std::string& key) {
    std::lock_guard lock(mu_);
    auto it = entries_.find(key);
    if (it == entries_.end()) return;
    bytes_ -= it->second.bytes;
    entries_.erase(it);
}

void DecodedObjects::release_if_idle() {
    if (used_.exchange(false, std::memory_order_relaxed)) return;
    std::unordered_map<std::string, Entry> entries;
    {
        std::lock_guard lock(mu_);
        entries.swap(entries_);
        order_ = {};
        bytes_ = 0;
    }
}

size_t DecodedObjects::size() const {
    std::lock_guard lock(mu_);
    return entries_.size();
}

}  // namespace skiff::apiserver
