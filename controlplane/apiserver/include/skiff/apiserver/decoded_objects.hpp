// The decoded objects of the last writes: an update starts from the stored object it read, and takes that
// object's parsed form from here instead of parsing the text again when the revisions match.
#pragma once

#include <nlohmann/json.hpp>

#include <atomic>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

namespace skiff::apiserver {

// kube-apiserver's updates start from its watch cache's decoded copy and check it against etcd; here the
// store is still read on every update (its revision decides), only the parse is saved. An entry is good for
// exactly one (key, mod revision): a write by another server on the same etcd makes it miss, never wrong.
// Bounded by the size of the objects' stored text (the oldest entry goes first; decoded, an object takes
// about 7 times its text) and emptied when the server goes idle, so an idle server stays small.
class DecodedObjects {
public:
    // 2 MiB of text: about 1,400 pods of 1.5 KB, some 15 MB decoded.
    explicit DecodedObjects(size_t capacity_bytes = 2 << 20) : capacity_(capacity_bytes) {}

    // The object stored at key with this mod revision (metadata.resourceVersion set), or null.
    std::shared_ptr<const nlohmann::json> find(const std::string& key, int64_t mod_revision) const;
    // text_size: the length of the object's stored text, what it counts against the capacity.
    void remember(const std::string& key, int64_t mod_revision, size_t text_size,
                  std::shared_ptr<const nlohmann::json> object);
    void forget(const std::string& key);
    // Empties the cache unless it was used since the last call (the server calls it every few seconds).
    void release_if_idle();
    size_t size() const;  // entries

private:
    struct Entry {
        int64_t mod_revision = 0;
        uint64_t serial = 0;  // which insertion this is, to match the eviction queue
        size_t bytes = 0;
        std::shared_ptr<const nlohmann::json> object;
    };
    const size_t capacity_;
    mutable std::mutex mu_;
    std::unordered_map<std::string, Entry> entries_;
    std::deque<std::pair<std::string, uint64_t>> order_;  // insertions, oldest first (stale ones skipped)
    uint64_t next_serial_ = 0;
    size_t bytes_ = 0;  // of the entries
    mutable std::atomic<bool> used_{false};
};

}  // namespace skiff::apiserver
