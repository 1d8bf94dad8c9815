// The decoded-object cache: one revision per key, the oldest entry out first, emptied when idle.
#include "skiff/apiserver/decoded_objects.hpp"

#include <gtest/gtest.h>

namespace skiff::apiserver {
namespace {

std::shared_ptr<const nlohmann::json> object(int n) { return std::make_shared<const nlohmann::json>(nlohmann::json{{"n", n}}); }

TEST(DecodedObjects, AnEntryIsGoodForItsRevisionOnly) {
    DecodedObjects cache;
    cache.remember("/a", 5, 1, object(5));
    ASSERT_NE(cache.find("/a", 5), nullptr);
    EXPECT_EQ((*cache.find("/a", 5))["n"], 5);
    EXPECT_EQ(cache.find("/a", 6), nullptr);
    EXPECT_EQ(cache.find("/b", 5), nullptr);
    cache.remember("/a", 7, 1, object(7));
    EXPECT_EQ(cache.find("/a", 5), nullptr);
    EXPECT_EQ((*cache.find("/a", 7))["n"], 7);
    // A slower writer's older revision does not replace a newer one.
    cache.remember("/a", 6, 1, object(6));
    EXPECT_EQ(cache.find("/a", 6), nullptr);
    EXPECT_NE(cache.find("/a", 7), nullptr);
    cache.forget("/a");
    EXPECT_EQ(cache.find("/a", 7), nullptr);
}

TEST(DecodedObjects, BoundedOldestFirst) {
    DecodedObjects cache(3);  // three objects of one byte each
    for (int i = 1; i <= 3; ++i) cache.remember("/k" + std::to_string(i), i, 1, object(i));
    cache.remember("/k1", 10, 1, object(10));  // written again: now the newest
    cache.remember("/k4", 4, 1, object(4));    // over capacity: /k2 is the oldest
    EXPECT_EQ(cache.size(), 3u);
    EXPECT_EQ(cache.find("/k2", 2), nullptr);
    EXPECT_NE(cache.find("/k1", 10), nullptr);
    EXPECT_NE(cache.find("/k3", 3), nullptr);
    EXPECT_NE(cache.find("/k4", 4), nullptr);
    // Rewriting one key many times keeps the others (the queue's stale items are dropped, not entries).
    for (int i = 0; i < 100; ++i) cache.remember("/k4", 100 + i, 1, object(i));
    EXPECT_EQ(cache.size(), 3u);
    EXPECT_NE(cache.find("/k1", 10), nullptr);
    EXPECT_NE(cache.find("/k3", 3), nullptr);
    // The size counts: a large object pushes out as many as it takes.
    cache.remember("/big", 1, 2, object(0));
    EXPECT_EQ(cache.size(), 2u);
    EXPECT_EQ(cache.find("/k1", 10), nullptr);
    EXPECT_EQ(cache.find("/k3", 3), nullptr);
    EXPECT_NE(cache.find("/big", 1), nullptr);
    cache.forget("/big");
    cache.remember("/k5", 5, 1, object(5));
    cache.remember("/k6", 6, 1, object(6));
    EXPECT_EQ(cache.size(), 3u) << "forget gave its bytes back";
}

TEST(DecodedObjects, EmptiedWhenUnusedBetweenTwoCalls) {
    DecodedObjects cache;
    cache.remember("/a", 1, 1, object(1));
    cache.release_if_idle();  // used since the last call: kept
    EXPECT_EQ(cache.size(), 1u);
    cache.release_if_idle();  // unused since: emptied
    EXPECT_EQ(cache.size(), 0u);
    auto held = object(2);
    cache.remember("/b", 2, 1, held);
    cache.release_if_idle();
    cache.release_if_idle();
    EXPECT_EQ(cache.size(), 0u);
    EXPECT_EQ((*held)["n"], 2) << "a caller's reference outlives the cache's";
}

}  // namespace
}  // namespace skiff::apiserver
