// The API server's watch fan-out (kube-apiserver's "cacher"): one store watch for all of /registry/, the
// recent events in a ring, and any number of subscribers that each get the events under their prefix.
// A thousand `kubectl get -w` cost a thousand small queues here, not a thousand store watches.
#pragma once

#include <nlohmann/json.hpp>

#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "skiff/base/result.hpp"
#include "skiff/store/store.hpp"

namespace skiff::apiserver {

// An event as every subscriber sends it: the object serialized once (a thousand watchers copy bytes, they
// don't each serialize), parsed again only for subscribers that filter or print tables.
class CachedEvent {
public:
    enum class Type { added, modified, deleted };
    CachedEvent(const store::Event& e);
    Type type = Type::added;
    std::string key;
    int64_t revision = 0;
    std::string object_json;  // the new object (deleted: the last one), metadata.resourceVersion = revision
    std::string prev_json;    // the object before this event; "" for added
    const nlohmann::json& object() const;
    const nlohmann::json& prev() const;  // null for added

private:
    void parse() const;
    mutable std::once_flag parsed_;
    mutable nlohmann::json object_, prev_;
};

class WatchCache;

class Subscription {
public:
    ~Subscription();
    // The events that arrived since the last take(), in revision order.
    std::vector<std::shared_ptr<const CachedEvent>> take();
    // The subscriber fell too far behind and lost events: its watch must end with 410 Expired.
    bool expired() const;

private:
    friend class WatchCache;
    Subscription(std::shared_ptr<WatchCache> cache, std::string prefix, int64_t from, std::function<void()> wake)
        : cache_(std::move(cache)), prefix_(std::move(prefix)), from_(from), wake_(std::move(wake)) {}
    std::shared_ptr<WatchCache> cache_;
    const std::string prefix_;
    const int64_t from_;
    const std::function<void()> wake_;
    // Guarded by the cache's mutex.
    std::deque<std::shared_ptr<const CachedEvent>> queue_;
    bool expired_ = false;
};

struct WatchCacheOptions {
    size_t capacity = 512;           // recent events kept for watches that start in the past
    size_t subscriber_limit = 20000;  // events a subscriber may have waiting before it is expired
};

class WatchCache : public std::enable_shared_from_this<WatchCache> {
public:
    // Starts watching the store's "/registry/" from its current revision.
    [[nodiscard]] static Result<std::shared_ptr<WatchCache>> start(store::Store& store, WatchCacheOptions options = {});
    ~WatchCache();
    void stop();

    // Events with revision > from under prefix, the ones still in the ring first. from older than the ring:
    // errc::compacted (the client relists, as with kube-apiserver's "too old resource version").
    // wake is called (from the cache's thread) whenever take() has something new or the subscription expired.
    [[nodiscard]] Result<std::unique_ptr<Subscription>> subscribe(const std::string& prefix, int64_t from,
                                                                  std::function<void()> wake);
    // The newest revision the cache has seen (for bookmarks).
    int64_t revision() const;

private:
    friend class Subscription;
    WatchCache(store::Store& store, WatchCacheOptions options) : store_(store), options_(options) {}
    void run();
    void publish(std::vector<store::Event>& events);

    store::Store& store_;
    const WatchCacheOptions options_;
    mutable std::mutex mu_;
    std::deque<std::shared_ptr<const CachedEvent>> ring_;
    int64_t oldest_ = 0;    // the ring holds every event with revision > oldest_
    int64_t revision_ = 0;  // newest seen
    std::vector<Subscription*> subscribers_;
    std::unique_ptr<store::Watch> watch_;  // replaced (under mu_) only by the cache's thread
    bool stopping_ = false;
    std::thread thread_;
};

}  // namespace skiff::apiserver
