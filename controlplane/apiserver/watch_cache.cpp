// The watch fan-out: one thread reads the store's watch of /registry/, decodes each event once, keeps the
// recent ones in a ring and hands them to the subscribers whose prefix they fall under.
#include "skiff/apiserver/watch_cache.hpp"

#include <algorithm>

#include "registry_internal.hpp"
#include "skiff/apiserver/json_parse.hpp"
#include "skiff/base/process.hpp"

namespace skiff::apiserver {

using json = nlohmann::json;

namespace {

std::string with_revision(const store::KeyValue& kv) { return with_version_text(kv.value, kv.mod_revision); }

bool under(const std::string& key, const std::string& prefix) { return key.compare(0, prefix.size(), prefix) == 0; }

}  // namespace

CachedEvent::CachedEvent(const store::Event& e)
    : key(e.kv.key), revision(e.revision()), object_json(with_revision(e.kv)) {
    if (e.prev) prev_json = with_revision(*e.prev);
    if (e.type == store::Event::Type::del) type = Type::deleted;
    else type = e.prev ? Type::modified : Type::added;
}

void CachedEvent::parse() const {
    std::call_once(parsed_, [this] {
        object_ = parse_json_or_discarded(object_json);
        if (!prev_json.empty()) prev_ = parse_json_or_discarded(prev_json);
    });
}

const json& CachedEvent::object() const {
    parse();
    return object_;
}

const json& CachedEvent::prev() const {
    parse();
    return prev_;
}

Subscription::~Subscription() {
    std::lock_guard lock(cache_->mu_);
    std::erase(cache_->subscribers_, this);
}

std::vector<std::shared_ptr<const CachedEvent>> Subscription::take() {
    std::lock_guard lock(cache_->mu_);
    std::vector<std::shared_ptr<const CachedEvent>> out(queue_.begin(), queue_.end());
    queue_.clear();
    return out;
}

bool Subscription::expired() const {
    std::lock_guard lock(cache_->mu_);
    return expired_;
}

Result<std::shared_ptr<WatchCache>> WatchCache::start(store::Store& store, WatchCacheOptions options) {
    auto cache = std::shared_ptr<WatchCache>(new WatchCache(store, options));
    auto rev = store.current_revision();
    if (!rev) return std::move(rev).error().context("watch cache");
    auto watch = store.watch("/registry/", *rev);
    if (!watch) return std::move(watch).error().context("watch cache");
    cache->oldest_ = cache->revision_ = *rev;
    cache->watch_ = std::move(*watch);
    cache->thread_ = std::thread([c = cache.get()] { c->run(); });
    name_thread(cache->thread_, "watch-cache");
    return cache;
}

WatchCache::~WatchCache() { stop(); }

void WatchCache::stop() {
    {
        std::lock_guard lock(mu_);
        stopping_ = true;
        if (watch_) watch_->close();
    }
    if (thread_.joinable()) thread_.join();
}

int64_t WatchCache::revision() const {
    std::lock_guard lock(mu_);
    return revision_;
}

Result<std::unique_ptr<Subscription>> WatchCache::subscribe(const std::string& prefix, int64_t from,
                                                            std::function<void()> wake) {
    std::lock_guard lock(mu_);
    if (from <= 0) from = revision_;
    if (from < oldest_)
        return Error(store::errc::compacted, "too old resource version: " + std::to_string(from) + " (" +
                                                 std::to_string(oldest_) + ")");
    std::unique_ptr<Subscription> sub(new Subscription(shared_from_this(), prefix, from, std::move(wake)));
    // The ring is in revision order: find the first event after `from`.
    auto first = std::upper_bound(ring_.begin(), ring_.end(), from,
                                  [](int64_t rev, const auto& e) { return rev < e->revision; });
    for (auto it = first; it != ring_.end(); ++it)
        if (under((*it)->key, prefix)) sub->queue_.push_back(*it);
    subscribers_.push_back(sub.get());
    return sub;
}

void WatchCache::run() {
    for (;;) {
        auto events = watch_->next(std::chrono::seconds(5));
        if (events) {
            if (!events->empty()) publish(*events);
            continue;
        }
        if (events.error().code() != store::errc::compacted) return;  // closed: the server is stopping
        // The store compacted history this thread had not read yet (it fell far behind): start over from
        // now; every subscriber has lost events and must relist.
        auto rev = store_.current_revision();
        auto watch = rev ? store_.watch("/registry/", *rev) : Result<std::unique_ptr<store::Watch>>(rev.error());
        if (!watch) return;
        std::vector<std::function<void()>> wakes;
        {
            std::lock_guard lock(mu_);
            if (stopping_) return;
            watch_ = std::move(*watch);
            ring_.clear();
            oldest_ = revision_ = *rev;
            for (auto* s : subscribers_) {
                s->expired_ = true;
                wakes.push_back(s->wake_);
            }
        }
        for (auto& w : wakes) w();
    }
}

void WatchCache::publish(std::vector<store::Event>& events) {
    std::vector<std::shared_ptr<const CachedEvent>> decoded;
    decoded.reserve(events.size());
    for (const auto& e : events) decoded.push_back(std::make_shared<const CachedEvent>(e));
    // Wakes are called after the lock is released: one may drop the last reference to a connection, whose
    // subscription then takes the lock to leave.
    std::vector<std::function<void()>> wakes;
    {
        std::lock_guard lock(mu_);
        for (auto& e : decoded) {
            ring_.push_back(e);
            revision_ = e->revision;
        }
        while (ring_.size() > options_.capacity) {
            oldest_ = ring_.front()->revision;
            ring_.pop_front();
        }
        for (auto* s : subscribers_) {
            if (s->expired_) continue;
            bool added = false;
            for (auto& e : decoded) {
                if (e->revision <= s->from_ || !under(e->key, s->prefix_)) continue;
                s->queue_.push_back(e);
                added = true;
            }
            if (s->queue_.size() > options_.subscriber_limit) {
                s->queue_.clear();
                s->expired_ = true;
            }
            if (added || s->expired_) wakes.push_back(s->wake_);
        }
    }
    for (auto& w : wakes) w();
}

}  // namespace skiff::apiserver
