// Unit tests of the watch cache over a real SQLite store: fan-out by prefix, replay from the ring, 410 for
// revisions older than the ring, slow subscribers expired, wake-ups.
#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <thread>

#include "skiff/apiserver/watch_cache.hpp"

namespace skiff::apiserver {
namespace {

class WatchCacheTest : public ::testing::Test {
protected:
    void SetUp() override {
        char tmpl[] = "/tmp/skiff-watch-cache-XXXXXX";
        ASSERT_NE(mkdtemp(tmpl), nullptr);
        dir_ = tmpl;
        store::SqliteOptions options;
        options.sync = store::SqliteOptions::Sync::normal;
        auto s = store::open_sqlite(dir_ + "/state.db", options);
        ASSERT_TRUE(s) << s.error().what();
        store_ = std::move(*s);
    }
    void TearDown() override {
        cache_.reset();
        store_.reset();
        std::filesystem::remove_all(dir_);
    }
    void start(size_t capacity, size_t subscriber_limit = 20000) {
        auto c = WatchCache::start(*store_, {capacity, subscriber_limit});
        ASSERT_TRUE(c) << c.error().what();
        cache_ = *c;
    }
    int64_t put(const std::string& key, const std::string& name) {
        auto kv = store_->create(key, "{\"metadata\":{\"name\":\"" + name + "\"}}");
        EXPECT_TRUE(kv) << kv.error().what();
        return kv ? kv->mod_revision : 0;
    }
    // Waits until the subscription has n events (or 5 s pass) and returns them.
    std::vector<std::shared_ptr<const CachedEvent>> collect(Subscription& sub, size_t n) {
        std::vector<std::shared_ptr<const CachedEvent>> got;
        auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
        while (got.size() < n && std::chrono::steady_clock::now() < deadline) {
            for (auto& e : sub.take()) got.push_back(e);
            std::this_thread::sleep_for(std::chrono::milliseconds(5));
        }
        return got;
    }

    std::string dir_;
    std::unique_ptr<store::Store> store_;
    std::shared_ptr<WatchCache> cache_;
};

TEST_F(WatchCacheTest, FansOutByPrefixAndWakes) {
    start(100);
    std::atomic<int> wakes{0};
    auto pods = cache_->subscribe("/registry/core/pods/", 0, [&] { ++wakes; });
    auto cms = cache_->subscribe("/registry/core/configmaps/", 0, [] {});
    ASSERT_TRUE(pods && cms);
    put("/registry/core/pods/default/a", "a");
    put("/registry/core/configmaps/default/c", "c");
    put("/registry/core/pods/default/b", "b");
    auto got = collect(**pods, 2);
    ASSERT_EQ(got.size(), 2u);
    EXPECT_EQ(got[0]->object()["metadata"]["name"], "a");
    EXPECT_EQ(got[1]->object()["metadata"]["name"], "b");
    EXPECT_EQ(got[0]->type, CachedEvent::Type::added);
    EXPECT_EQ(got[1]->object()["metadata"]["resourceVersion"], std::to_string(got[1]->revision));
    EXPECT_GE(wakes.load(), 1);
    auto c = collect(**cms, 1);
    ASSERT_EQ(c.size(), 1u);
    EXPECT_EQ(c[0]->key, "/registry/core/configmaps/default/c");
}

TEST_F(WatchCacheTest, ReplaysFromTheRingAndCarriesPreviousObjects) {
    start(100);
    int64_t first = put("/registry/core/pods/default/a", "a");
    ASSERT_TRUE(store_->update("/registry/core/pods/default/a", "{\"metadata\":{\"name\":\"a2\"}}", 0));
    ASSERT_TRUE(store_->remove("/registry/core/pods/default/a"));
    // Wait for the cache to see the delete.
    for (int i = 0; i < 500 && cache_->revision() < first + 2; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(5));
    ASSERT_EQ(cache_->revision(), first + 2);
    auto sub = cache_->subscribe("/registry/core/pods/", first, [] {});
    ASSERT_TRUE(sub);
    auto got = (*sub)->take();
    ASSERT_EQ(got.size(), 2u);
    EXPECT_EQ(got[0]->type, CachedEvent::Type::modified);
    EXPECT_EQ(got[0]->prev()["metadata"]["name"], "a");
    EXPECT_EQ(got[1]->type, CachedEvent::Type::deleted);
    EXPECT_EQ(got[1]->object()["metadata"]["name"], "a2");
}

TEST_F(WatchCacheTest, RevisionsOlderThanTheRingAreExpired) {
    start(4);
    int64_t first = put("/registry/core/pods/default/p0", "p0");
    for (int i = 1; i < 10; ++i) put("/registry/core/pods/default/p" + std::to_string(i), "p");
    for (int i = 0; i < 500 && cache_->revision() < first + 9; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(5));
    auto old = cache_->subscribe("/registry/", first, [] {});
    ASSERT_FALSE(old);
    EXPECT_EQ(old.error().code(), store::errc::compacted);
    auto recent = cache_->subscribe("/registry/", first + 6, [] {});
    ASSERT_TRUE(recent) << recent.error().what();
    EXPECT_EQ((*recent)->take().size(), 3u);
}

TEST_F(WatchCacheTest, ASubscriberThatFallsBehindIsExpired) {
    start(100, 3);
    std::atomic<bool> woke{false};
    auto sub = cache_->subscribe("/registry/", 0, [&] { woke = true; });
    ASSERT_TRUE(sub);
    for (int i = 0; i < 10; ++i) put("/registry/core/pods/default/p" + std::to_string(i), "p");
    for (int i = 0; i < 500 && !(*sub)->expired(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(5));
    EXPECT_TRUE((*sub)->expired());
    EXPECT_TRUE(woke.load());
    EXPECT_TRUE((*sub)->take().empty());
}

}  // namespace
}  // namespace skiff::apiserver
