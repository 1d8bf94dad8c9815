// Conformance tests for skiff::store::Store, run against every backend (SQLite and a real etcd),
// plus the SQLite backend's own checks (row counts, automatic compaction) and a throughput bench.
#include <sqlite3.h>
#include <stdlib.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <functional>
#include <map>
#include <random>
#include <set>
#include <thread>

#include <gtest/gtest.h>

#include "etcd_test_cluster.hpp"
#include "skiff/base/fs.hpp"
#include "skiff/store/store.hpp"
#include "test_dir.hpp"

namespace skiff::store {
namespace {

using namespace std::chrono_literals;

struct Backend {
    std::string name;
    // Opens (or reopens) the store kept under dir.
    std::function<Result<std::unique_ptr<Store>>(const std::string& dir)> open;
    // How many revisions the backend holds (history rows), or nullptr if it can't tell.
    std::function<int64_t(const std::string& dir)> history_rows;
};

int64_t sqlite_rows(const std::string& dir) {
    sqlite3* db = nullptr;
    if (sqlite3_open_v2((dir + "/store.db").c_str(), &db, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK) {
        sqlite3_close(db);
        return -1;
    }
    sqlite3_stmt* stmt = nullptr;
    int64_t n = -1;
    if (sqlite3_prepare_v2(db, "SELECT COUNT(*) FROM kv", -1, &stmt, nullptr) == SQLITE_OK &&
        sqlite3_step(stmt) == SQLITE_ROW)
        n = sqlite3_column_int64(stmt, 0);
    sqlite3_finalize(stmt);
    sqlite3_close(db);
    return n;
}

Backend sqlite_backend() {
    return Backend{
        "sqlite",
        [](const std::string& dir) {
            SqliteOptions o;
            // The tests write one op at a time a lot; durability mode doesn't change semantics.
            o.sync = SqliteOptions::Sync::normal;
            o.compact_interval = 0ms;
            return open_sqlite(dir + "/store.db", o);
        },
        sqlite_rows,
    };
}

// One etcd for the whole run, started when a test first needs it and killed at the end; each test
// gets a key prefix of its own (its temp dir's name), so "reopen" finds the test's data again.
class EtcdEnvironment : public ::testing::Environment {
public:
    static Result<std::string> endpoint() {
        if (!cluster_) {
            auto c = testing::EtcdCluster::start(1);
            if (!c) return std::move(c).error();
            cluster_ = std::move(*c);
        }
        return cluster_->client_url(0);
    }
    void TearDown() override { cluster_.reset(); }

private:
    static inline std::unique_ptr<testing::EtcdCluster> cluster_;
};
[[maybe_unused]] auto* const etcd_environment = ::testing::AddGlobalTestEnvironment(new EtcdEnvironment);

Backend etcd_backend() {
    return Backend{
        "etcd",
        [](const std::string& dir) -> Result<std::unique_ptr<Store>> {
            auto url = EtcdEnvironment::endpoint();
            if (!url) return std::move(url).error();
            EtcdOptions o;
            o.endpoints = {*url};
            o.key_prefix = "/skiff-test" + dir.substr(dir.rfind('/')) + "/";
            return open_etcd(o);
        },
        nullptr,  // etcd counts no history rows a client can read
    };
}

class StoreTest : public ::testing::TestWithParam<Backend> {
protected:
    void SetUp() override {
        ASSERT_FALSE(tmp_.path.empty());
        dir_ = tmp_.path;
        reopen();
    }
    void TearDown() override { store_.reset(); }  // before tmp_ removes its directory
    void reopen() {
        store_.reset();
        auto s = GetParam().open(dir_);
        ASSERT_TRUE(s) << s.error().what();
        store_ = std::move(*s);
    }
    KeyValue create(const std::string& key, const std::string& value) {
        auto r = store_->create(key, value);
        EXPECT_TRUE(r) << r.error().what();
        return r ? *r : KeyValue{};
    }
    KeyValue update(const std::string& key, const std::string& value, int64_t expected = 0) {
        auto r = store_->update(key, value, expected);
        EXPECT_TRUE(r) << r.error().what();
        return r ? *r : KeyValue{};
    }
    int64_t revision() {
        auto r = store_->current_revision();
        EXPECT_TRUE(r);
        return r ? *r : -1;
    }
    ListResult list(const std::string& prefix, ListOptions o = {}) {
        auto r = store_->list(prefix, o);
        EXPECT_TRUE(r) << r.error().what();
        return r ? *r : ListResult{};
    }
    static std::vector<std::string> keys(const ListResult& r) {
        std::vector<std::string> k;
        for (auto& kv : r.items) k.push_back(kv.key);
        return k;
    }
    // Reads events from w until n have arrived (or 5 s pass).
    static std::vector<Event> collect(Watch& w, size_t n) {
        std::vector<Event> all;
        auto deadline = std::chrono::steady_clock::now() + 5s;
        while (all.size() < n && std::chrono::steady_clock::now() < deadline) {
            auto r = w.next(100ms);
            EXPECT_TRUE(r) << r.error().what();
            if (!r) break;
            for (auto& e : *r) all.push_back(std::move(e));
        }
        return all;
    }

    TestDir tmp_;
    std::string dir_;
    std::unique_ptr<Store> store_;
};

TEST_P(StoreTest, CreateGetAndMissingKeys) {
    int64_t before = revision();
    KeyValue a = create("/registry/pods/default/web-1", "{\"a\":1}");
    EXPECT_EQ(a.key, "/registry/pods/default/web-1");
    EXPECT_EQ(a.value, "{\"a\":1}");
    EXPECT_GT(a.mod_revision, before);
    EXPECT_EQ(a.create_revision, a.mod_revision);

    auto got = store_->get(a.key);
    ASSERT_TRUE(got) << got.error().what();
    EXPECT_EQ(got->value, a.value);
    EXPECT_EQ(got->mod_revision, a.mod_revision);
    EXPECT_EQ(got->create_revision, a.create_revision);

    auto again = store_->create(a.key, "x");
    ASSERT_FALSE(again);
    EXPECT_EQ(again.error().code(), errc::exists);
    EXPECT_EQ(revision(), a.mod_revision) << "a refused create makes no revision";

    auto missing = store_->get("/registry/pods/default/none");
    ASSERT_FALSE(missing);
    EXPECT_EQ(missing.error().code(), errc::not_found);
    auto upd = store_->update("/registry/pods/default/none", "x", 0);
    ASSERT_FALSE(upd);
    EXPECT_EQ(upd.error().code(), errc::not_found);
    auto del = store_->remove("/registry/pods/default/none");
    ASSERT_FALSE(del);
    EXPECT_EQ(del.error().code(), errc::not_found);

    // Empty values and binary bytes round-trip.
    KeyValue empty = create("/e", "");
    EXPECT_EQ(store_->get("/e")->value, "");
    std::string binary("a\0b\xff", 4);
    update(empty.key, binary);
    EXPECT_EQ(store_->get("/e")->value, binary);
}

TEST_P(StoreTest, UpdateChecksTheExpectedRevision) {
    KeyValue a = create("/k", "v1");
    KeyValue b = update("/k", "v2", a.mod_revision);
    EXPECT_GT(b.mod_revision, a.mod_revision);
    EXPECT_EQ(b.create_revision, a.create_revision);
    EXPECT_EQ(b.value, "v2");

    auto stale = store_->update("/k", "v3", a.mod_revision);
    ASSERT_FALSE(stale);
    EXPECT_EQ(stale.error().code(), errc::conflict);
    EXPECT_NE(stale.error().message().find(std::to_string(a.mod_revision)), std::string::npos)
        << stale.error().message();
    EXPECT_NE(stale.error().message().find(std::to_string(b.mod_revision)), std::string::npos)
        << stale.error().message();
    EXPECT_EQ(store_->get("/k")->value, "v2");
    EXPECT_EQ(revision(), b.mod_revision);

    KeyValue c = update("/k", "v4", 0);
    EXPECT_GT(c.mod_revision, b.mod_revision);
    EXPECT_EQ(store_->get("/k")->value, "v4");
}

TEST_P(StoreTest, RemoveWithAndWithoutExpectedRevision) {
    KeyValue a = create("/a", "va");
    KeyValue b = create("/b", "vb");
    auto stale = store_->remove("/a", a.mod_revision + 100);
    ASSERT_FALSE(stale);
    EXPECT_EQ(stale.error().code(), errc::conflict);
    EXPECT_TRUE(store_->get("/a"));

    auto removed = store_->remove("/a", a.mod_revision);
    ASSERT_TRUE(removed) << removed.error().what();
    EXPECT_EQ(removed->value, "va");
    EXPECT_EQ(removed->create_revision, a.create_revision);
    EXPECT_GT(removed->mod_revision, b.mod_revision) << "the delete makes a revision";
    EXPECT_EQ(revision(), removed->mod_revision);
    EXPECT_EQ(store_->get("/a").error().code(), errc::not_found);

    auto removed_b = store_->remove("/b");
    ASSERT_TRUE(removed_b);
    EXPECT_EQ(store_->remove("/b").error().code(), errc::not_found);

    // A re-created key starts a new life.
    KeyValue again = create("/a", "new");
    EXPECT_EQ(again.create_revision, again.mod_revision);
    EXPECT_GT(again.create_revision, removed_b->mod_revision);
}

TEST_P(StoreTest, ListIsPlainPrefixSortedByKey) {
    for (const char* k : {"/registry/pods/b/2", "/registry/pods/a/1", "/registry/pod/x", "/registry/podsx",
                          "/registry/pods/a/0", "/registry/services/s", "/registry/pods/b/10"})
        create(k, k);
    auto pods = list("/registry/pods/");
    EXPECT_EQ(keys(pods), (std::vector<std::string>{"/registry/pods/a/0", "/registry/pods/a/1",
                                                    "/registry/pods/b/10", "/registry/pods/b/2"}));
    EXPECT_EQ(pods.items[0].value, "/registry/pods/a/0");
    EXPECT_EQ(pods.revision, revision());
    EXPECT_FALSE(pods.more);
    EXPECT_EQ(keys(list("/registry/pod/")), std::vector<std::string>{"/registry/pod/x"});
    EXPECT_EQ(keys(list("/registry/pods")).size(), 5u) << "plain string prefix";
    EXPECT_EQ(keys(list("")).size(), 7u);
    EXPECT_TRUE(list("/registry/none/").items.empty());

    // Deleted and updated keys show their current state.
    ASSERT_TRUE(store_->remove("/registry/pods/a/0"));
    update("/registry/pods/a/1", "changed");
    auto after = list("/registry/pods/a/");
    ASSERT_EQ(after.items.size(), 1u);
    EXPECT_EQ(after.items[0].value, "changed");
}

TEST_P(StoreTest, PaginationOverAThousandKeysReadsOneSnapshot) {
    char key[64];
    for (int i = 0; i < 1000; ++i) {
        snprintf(key, sizeof key, "/registry/configmaps/ns/cm-%04d", i);
        create(key, std::to_string(i));
    }
    create("/registry/configmapsx", "outside");
    std::vector<std::string> seen;
    ListOptions o;
    o.limit = 128;
    int64_t snapshot = 0;
    int pages = 0;
    for (;;) {
        auto page = list("/registry/configmaps/", o);
        ++pages;
        if (snapshot == 0) snapshot = page.revision;
        EXPECT_EQ(page.revision, snapshot);
        for (auto& kv : page.items) seen.push_back(kv.key);
        EXPECT_EQ(page.remaining, 1000 - static_cast<int64_t>(seen.size()));
        if (!page.more) break;
        EXPECT_EQ(page.items.size(), 128u);
        // Writes between pages don't show in later pages read at the first page's revision.
        if (pages == 1) {
            ASSERT_TRUE(store_->remove("/registry/configmaps/ns/cm-0999"));
            create("/registry/configmaps/ns/cm-0500x", "late");
            update("/registry/configmaps/ns/cm-0900", "late");
        }
        o.start_after = page.items.back().key;
        o.revision = snapshot;
    }
    EXPECT_EQ(pages, 8);
    ASSERT_EQ(seen.size(), 1000u);
    EXPECT_TRUE(std::is_sorted(seen.begin(), seen.end()));
    EXPECT_EQ(seen.back(), "/registry/configmaps/ns/cm-0999");
    ListOptions at;
    at.revision = snapshot;
    at.start_after = "/registry/configmaps/ns/cm-0899";
    at.limit = 1;
    EXPECT_EQ(list("/registry/configmaps/", at).items.at(0).value, "900");

    // The latest list sees the changes.
    auto latest = list("/registry/configmaps/");
    EXPECT_EQ(latest.items.size(), 1000u);
    EXPECT_GT(latest.revision, snapshot);
}

// A model of a key range's history for checking lists at past revisions: random creates, updates and
// deletes over a few keys, and the state after each.
struct PastRevisions {
    struct Row {
        std::string value;
        int64_t create_revision, mod_revision;
    };
    using State = std::map<std::string, Row>;
    std::vector<std::pair<int64_t, State>> states;  // (revision, the keys' state at it)

    // `writes` random writes to /m/k00../m/k39; a key outside the range (/m0) is written as well.
    void write(Store& store, int writes, uint64_t seed) {
        std::mt19937_64 rng(seed);
        State state = states.empty() ? State{} : states.back().second;
        for (int i = 0; i < writes; ++i) {
            char key[16];
            snprintf(key, sizeof key, "/m/k%02d", static_cast<int>(rng() % 40));
            std::string value = std::to_string(i);
            auto it = state.find(key);
            int64_t revision = 0;
            if (it == state.end()) {
                auto r = store.create(key, value);
                ASSERT_TRUE(r) << r.error().what();
                revision = r->mod_revision;
                state[key] = Row{value, revision, revision};
            } else if (rng() % 4 == 0) {
                auto r = store.remove(key, 0);
                ASSERT_TRUE(r) << r.error().what();
                revision = r->mod_revision;
                state.erase(it);
            } else {
                auto r = store.update(key, value, 0);
                ASSERT_TRUE(r) << r.error().what();
                revision = r->mod_revision;
                it->second = Row{value, it->second.create_revision, revision};
            }
            states.emplace_back(revision, state);
            if (i % 7 == 0) {
                ASSERT_TRUE(store.update("/m0", value, 0) || store.create("/m0", value));
            }
        }
    }

    // Lists /m/ at the revision of states[i] in pages of several sizes; each page and its remaining
    // count must match the model.
    void expect_lists_match(Store& store, size_t i) {
        const auto& [revision, state] = states.at(i);
        for (int limit : {1, 3, 7, 0}) {
            ListOptions o;
            o.revision = revision;
            o.limit = limit;
            std::vector<KeyValue> seen;
            for (int page = 0; page < 100; ++page) {
                auto r = store.list("/m/", o);
                ASSERT_TRUE(r) << r.error().what();
                seen.insert(seen.end(), r->items.begin(), r->items.end());
                if (!r->more) break;
                EXPECT_EQ(r->remaining, static_cast<int64_t>(state.size() - seen.size()))
                    << "at revision " << revision << ", limit " << limit;
                o.start_after = seen.back().key;
            }
            ASSERT_EQ(seen.size(), state.size()) << "at revision " << revision << ", limit " << limit;
            auto row = state.begin();
            for (auto& kv : seen) {
                EXPECT_EQ(kv.key, row->first) << "at revision " << revision;
                EXPECT_EQ(kv.value, row->second.value) << kv.key << " at revision " << revision;
                EXPECT_EQ(kv.create_revision, row->second.create_revision) << kv.key << " at revision " << revision;
                EXPECT_EQ(kv.mod_revision, row->second.mod_revision) << kv.key << " at revision " << revision;
                ++row;
            }
        }
    }
};

TEST_P(StoreTest, ListsAtPastRevisionsMatchAModel) {
    PastRevisions model;
    model.write(*store_, 300, 1);
    for (size_t i = 0; i < model.states.size(); i += 23) model.expect_lists_match(*store_, i);
    model.expect_lists_match(*store_, model.states.size() - 2);
}

TEST_P(StoreTest, ListAtAPastRevisionUntilCompacted) {
    KeyValue a1 = create("/p/a", "a1");
    KeyValue b1 = create("/p/b", "b1");
    KeyValue a2 = update("/p/a", "a2");
    auto del = store_->remove("/p/b");
    ASSERT_TRUE(del);
    KeyValue c1 = create("/p/c", "c1");

    auto at = [&](int64_t rev) {
        ListOptions o;
        o.revision = rev;
        auto r = list("/p/", o);
        std::vector<std::string> out;
        for (auto& kv : r.items) out.push_back(kv.key + "=" + kv.value);
        return out;
    };
    EXPECT_EQ(at(a1.mod_revision), std::vector<std::string>{"/p/a=a1"});
    EXPECT_EQ(at(b1.mod_revision), (std::vector<std::string>{"/p/a=a1", "/p/b=b1"}));
    EXPECT_EQ(at(a2.mod_revision), (std::vector<std::string>{"/p/a=a2", "/p/b=b1"}));
    EXPECT_EQ(at(del->mod_revision), std::vector<std::string>{"/p/a=a2"});
    EXPECT_EQ(at(c1.mod_revision), (std::vector<std::string>{"/p/a=a2", "/p/c=c1"}));
    ListOptions o;
    o.revision = b1.mod_revision;
    o.limit = 1;
    auto page = list("/p/", o);
    EXPECT_TRUE(page.more);
    EXPECT_EQ(page.remaining, 1);
    EXPECT_EQ(page.items.at(0).create_revision, a1.create_revision);

    o.revision = c1.mod_revision + 10;
    auto future = store_->list("/p/", o);
    ASSERT_FALSE(future);
    EXPECT_EQ(future.error().code(), errc::future_revision);

    ASSERT_TRUE(store_->compact(a2.mod_revision));
    EXPECT_EQ(*store_->compacted_revision(), a2.mod_revision);
    o.revision = b1.mod_revision;
    o.limit = 0;
    auto old = store_->list("/p/", o);
    ASSERT_FALSE(old);
    EXPECT_EQ(old.error().code(), errc::compacted);
    EXPECT_EQ(at(a2.mod_revision), (std::vector<std::string>{"/p/a=a2", "/p/b=b1"}))
        << "the compacted revision itself stays readable";
    EXPECT_EQ(at(del->mod_revision), std::vector<std::string>{"/p/a=a2"});
    EXPECT_TRUE(store_->compact(a1.mod_revision)) << "compacting to an older revision is a no-op";
    EXPECT_EQ(store_->compact(c1.mod_revision + 5).error().code(), errc::future_revision);
}

TEST_P(StoreTest, RevisionsAreGlobalAndStrictlyIncreasing) {
    int64_t last = revision();
    for (int i = 0; i < 20; ++i) {
        std::string k = "/r/" + std::to_string(i % 3);
        auto r = i < 3 ? store_->create(k, "x") : store_->update(k, std::to_string(i), 0);
        ASSERT_TRUE(r) << r.error().what();
        EXPECT_EQ(r->mod_revision, last + 1) << "one revision per write, across keys";
        last = r->mod_revision;
    }
    EXPECT_EQ(revision(), last);
    (void)store_->create("/r/0", "refused");
    (void)store_->update("/r/0", "refused", 1);
    EXPECT_EQ(revision(), last);
}

TEST_P(StoreTest, WatchReplaysHistoryThenStreamsLiveEvents) {
    KeyValue a = create("/w/a", "a1");
    create("/other/x", "x");
    KeyValue a2 = update("/w/a", "a2");
    KeyValue b = create("/w/b", "b1");

    auto w = store_->watch("/w/", a.mod_revision);
    ASSERT_TRUE(w) << w.error().what();
    auto replay = collect(**w, 2);
    ASSERT_EQ(replay.size(), 2u);
    EXPECT_EQ(replay[0].type, Event::Type::put);
    EXPECT_EQ(replay[0].kv.value, "a2");
    EXPECT_EQ(replay[0].kv.mod_revision, a2.mod_revision);
    ASSERT_TRUE(replay[0].prev);
    EXPECT_EQ(replay[0].prev->value, "a1");
    EXPECT_EQ(replay[0].prev->mod_revision, a.mod_revision);
    EXPECT_EQ(replay[1].kv.key, "/w/b");
    EXPECT_FALSE(replay[1].prev) << "a create has no previous value";
    EXPECT_EQ(replay[1].kv.mod_revision, b.mod_revision);

    auto none = (*w)->next(50ms);
    ASSERT_TRUE(none);
    EXPECT_TRUE(none->empty());

    // Live: a write in another thread wakes a blocked next() at once.
    std::thread writer([&] {
        std::this_thread::sleep_for(50ms);
        (void)store_->create("/other/y", "y");
        (void)store_->remove("/w/a");
    });
    auto t0 = std::chrono::steady_clock::now();
    auto live = (*w)->next(5s);
    auto waited = std::chrono::steady_clock::now() - t0;
    writer.join();
    ASSERT_TRUE(live) << live.error().what();
    ASSERT_EQ(live->size(), 1u);
    EXPECT_LT(waited, 1s);
    const Event& del = live->at(0);
    EXPECT_EQ(del.type, Event::Type::del);
    EXPECT_EQ(del.kv.key, "/w/a");
    EXPECT_EQ(del.kv.value, "a2") << "a delete carries the last value";
    EXPECT_EQ(del.kv.mod_revision, revision()) << "at the delete's revision";
    EXPECT_EQ(del.kv.create_revision, a.create_revision);
    ASSERT_TRUE(del.prev);
    EXPECT_EQ(del.prev->value, "a2");
    EXPECT_EQ(del.prev->mod_revision, a2.mod_revision);

    // The same delete, replayed from the log, reads the same.
    auto again = store_->watch("/w/a", a2.mod_revision);
    ASSERT_TRUE(again);
    auto replayed = collect(**again, 1);
    ASSERT_EQ(replayed.size(), 1u);
    EXPECT_EQ(replayed[0].type, Event::Type::del);
    EXPECT_EQ(replayed[0].kv.value, "a2");
    EXPECT_EQ(replayed[0].kv.mod_revision, del.kv.mod_revision);
    EXPECT_EQ(replayed[0].prev->mod_revision, a2.mod_revision);

    // from_revision 0: only what comes next.
    auto fresh = store_->watch("/w/", 0);
    ASSERT_TRUE(fresh);
    KeyValue c = create("/w/c", "c");
    auto ev = collect(**fresh, 1);
    ASSERT_EQ(ev.size(), 1u);
    EXPECT_EQ(ev[0].kv.mod_revision, c.mod_revision);
}

TEST_P(StoreTest, ManyWatchersEachGetEveryEventInOrder) {
    constexpr int kWatchers = 10, kThreads = 8, kWrites = 50;
    int64_t start = revision();
    std::vector<std::unique_ptr<Watch>> watches;
    for (int i = 0; i < kWatchers; ++i) {
        auto w = store_->watch("/m/", i % 2 == 0 ? start : 0);
        ASSERT_TRUE(w);
        watches.push_back(std::move(*w));
    }
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t)
        threads.emplace_back([&, t] {
            for (int i = 0; i < kWrites; ++i) {
                std::string k = "/m/" + std::to_string(t) + "/" + std::to_string(i);
                EXPECT_TRUE(store_->create(k, "v"));
                EXPECT_TRUE(store_->create("/n/" + std::to_string(t) + "/" + std::to_string(i), "v"));
            }
        });
    for (auto& t : threads) t.join();
    for (auto& w : watches) {
        auto events = collect(*w, kThreads * kWrites);
        ASSERT_EQ(events.size(), static_cast<size_t>(kThreads * kWrites));
        for (size_t i = 0; i < events.size(); ++i) {
            EXPECT_EQ(events[i].kv.key.rfind("/m/", 0), 0u);
            if (i > 0) {
                EXPECT_GT(events[i].revision(), events[i - 1].revision());
            }
        }
        auto extra = w->next(10ms);
        ASSERT_TRUE(extra);
        EXPECT_TRUE(extra->empty());
    }
}

TEST_P(StoreTest, WatchFromACompactedRevisionFails) {
    KeyValue a = create("/c/a", "1");
    update("/c/a", "2");
    KeyValue last = update("/c/a", "3");
    ASSERT_TRUE(store_->compact(last.mod_revision - 1));
    auto w = store_->watch("/c/", a.mod_revision);
    ASSERT_FALSE(w);
    EXPECT_EQ(w.error().code(), errc::compacted);
    auto ok = store_->watch("/c/", last.mod_revision - 1);
    ASSERT_TRUE(ok);
    auto events = collect(**ok, 1);
    ASSERT_EQ(events.size(), 1u);
    EXPECT_EQ(events[0].kv.value, "3");
    EXPECT_EQ(events[0].prev->value, "2") << "the value at the compacted revision stays";

    // A watcher that falls behind a compaction learns it from next().
    auto behind = store_->watch("/c/", last.mod_revision);
    ASSERT_TRUE(behind);
    update("/c/a", "4");
    KeyValue now = update("/c/a", "5");
    ASSERT_TRUE(store_->compact(now.mod_revision));
    if (GetParam().name == "sqlite") {
        auto queued = collect(**behind, 2);  // SQLite's watcher has them queued in memory: still delivered
        EXPECT_EQ(queued.size(), 2u);
        return;
    }
    // etcd: the stream may not have carried them before the compaction; then etcd cancels the watch
    // and next() says compacted. Either way nothing is skipped silently.
    std::vector<Event> got;
    auto deadline = std::chrono::steady_clock::now() + 5s;
    bool compacted = false;
    while (got.size() < 2 && !compacted && std::chrono::steady_clock::now() < deadline) {
        auto r = (*behind)->next(100ms);
        if (!r) {
            EXPECT_EQ(r.error().code(), errc::compacted) << r.error().what();
            compacted = true;
        } else {
            for (auto& e : *r) got.push_back(std::move(e));
        }
    }
    EXPECT_TRUE(got.size() == 2u || compacted) << got.size() << " events and no compacted error";
}

TEST_P(StoreTest, CloseWakesABlockedNext) {
    auto w = store_->watch("/", 0);
    ASSERT_TRUE(w);
    std::thread closer([&] {
        std::this_thread::sleep_for(100ms);
        (*w)->close();
    });
    auto t0 = std::chrono::steady_clock::now();
    auto r = (*w)->next(10s);
    auto waited = std::chrono::steady_clock::now() - t0;
    closer.join();
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code(), errc::closed);
    EXPECT_LT(waited, 2s);
}

TEST_P(StoreTest, ConcurrentCompareAndSwapLosesNoUpdate) {
    constexpr int kThreads = 8, kIncrements = 200;
    create("/counter", "0");
    std::atomic<int> conflicts{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t)
        threads.emplace_back([&] {
            for (int i = 0; i < kIncrements; ++i) {
                for (;;) {
                    auto cur = store_->get("/counter");
                    ASSERT_TRUE(cur);
                    auto next = std::to_string(std::stoi(cur->value) + 1);
                    auto r = store_->update("/counter", next, cur->mod_revision);
                    if (r) break;
                    ASSERT_EQ(r.error().code(), errc::conflict) << r.error().what();
                    ++conflicts;
                }
            }
        });
    for (auto& t : threads) t.join();
    auto final = store_->get("/counter");
    ASSERT_TRUE(final);
    EXPECT_EQ(final->value, std::to_string(kThreads * kIncrements));
    EXPECT_EQ(final->mod_revision - final->create_revision, kThreads * kIncrements)
        << "every successful update is one revision; refused ones make none";
    RecordProperty("conflicts", conflicts.load());
}

TEST_P(StoreTest, ReopenKeepsDataAndTheRevisionCounter) {
    create("/keep/a", "a");
    KeyValue b = create("/keep/b", std::string(3 << 20, 'x'));  // values of a few MiB
    auto removed = store_->remove("/keep/a");
    ASSERT_TRUE(removed);
    int64_t rev = removed->mod_revision;
    ASSERT_TRUE(store_->compact(rev)) << "the newest row, a tombstone, goes";
    reopen();
    EXPECT_EQ(revision(), rev);
    EXPECT_EQ(*store_->compacted_revision(), rev);
    EXPECT_EQ(store_->get("/keep/a").error().code(), errc::not_found);
    auto got = store_->get("/keep/b");
    ASSERT_TRUE(got);
    EXPECT_EQ(got->value.size(), 3u << 20);
    EXPECT_EQ(got->mod_revision, b.mod_revision);
    KeyValue c = create("/keep/c", "c");
    EXPECT_EQ(c.mod_revision, rev + 1) << "revisions are never reused";
}

TEST_P(StoreTest, ManyRevisionsPerKeyKeepListFastAndCompactionShrinksHistory) {
    constexpr int kKeys = 200, kThreads = 8;
    // 200 revisions per key is what exposes a MAX(id) GROUP BY list (SQLite's concern); through etcd's
    // gateway 40,000 writes take 40 s on this machine, and 25 per key still check the same behaviour.
    const int kUpdates = GetParam().history_rows ? 200 : 25;
    for (int k = 0; k < kKeys; ++k) create("/many/" + std::to_string(k), "0");
    auto single = std::chrono::steady_clock::now();
    ASSERT_EQ(list("/many/").items.size(), static_cast<size_t>(kKeys));
    auto single_revision_list = std::chrono::steady_clock::now() - single;
    int64_t middle = 0;
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t)
        threads.emplace_back([&, t] {
            for (int u = 1; u <= kUpdates; ++u) {
                for (int k = t; k < kKeys; k += kThreads)
                    ASSERT_TRUE(store_->update("/many/" + std::to_string(k), std::to_string(u), 0));
                if (t == 0 && u == kUpdates / 2) {
                    middle = *store_->current_revision();
                }
            }
        });
    for (auto& t : threads) t.join();

    auto t0 = std::chrono::steady_clock::now();
    auto latest = list("/many/");
    auto latest_took = std::chrono::steady_clock::now() - t0;
    ASSERT_EQ(latest.items.size(), static_cast<size_t>(kKeys));
    for (auto& kv : latest.items) EXPECT_EQ(kv.value, std::to_string(kUpdates));
    // With 200 revisions per key the latest list costs what it cost with one (kine's GROUP BY
    // scan would read all 40,000 rows); the bound is loose for sanitizer builds.
    EXPECT_LT(latest_took, std::max<std::chrono::nanoseconds>(10 * single_revision_list, 50ms));
    ListOptions past;
    past.revision = middle;
    t0 = std::chrono::steady_clock::now();
    auto old = list("/many/", past);
    EXPECT_LT(std::chrono::steady_clock::now() - t0, 500ms);
    EXPECT_EQ(old.items.size(), static_cast<size_t>(kKeys));

    if (!GetParam().history_rows) return;
    int64_t before = GetParam().history_rows(dir_);
    EXPECT_GE(before, kKeys * (kUpdates + 1));
    ASSERT_TRUE(store_->compact(latest.revision));
    int64_t after = GetParam().history_rows(dir_);
    EXPECT_EQ(after, kKeys);
    auto again = list("/many/");
    ASSERT_EQ(again.items.size(), static_cast<size_t>(kKeys));
    for (size_t i = 0; i < again.items.size(); ++i) {
        EXPECT_EQ(again.items[i].value, latest.items[i].value);
        EXPECT_EQ(again.items[i].mod_revision, latest.items[i].mod_revision);
    }
}

INSTANTIATE_TEST_SUITE_P(Backends, StoreTest, ::testing::Values(sqlite_backend(), etcd_backend()),
                         [](const auto& info) { return info.param.name; });

// The SQLite backend's own checks, each with a directory of its own (dir_, removed when the test ends).
class SqliteStoreTest : public ::testing::Test {
protected:
    void SetUp() override { ASSERT_FALSE(tmp_.path.empty()); }
    TestDir tmp_;
    const std::string& dir_ = tmp_.path;
};

// SQLite only: the periodic compaction policy.
TEST_F(SqliteStoreTest, CompactsPeriodically) {
    {
        SqliteOptions o;
        o.sync = SqliteOptions::Sync::normal;
        o.compact_interval = 20ms;
        o.compact_retention = 0ms;
        auto s = open_sqlite(dir_ + "/store.db", o);
        ASSERT_TRUE(s) << s.error().what();
        Store& store = **s;
        ASSERT_TRUE(store.create("/a", "0"));
        for (int i = 1; i <= 50; ++i) ASSERT_TRUE(store.update("/a", std::to_string(i), 0));
        int64_t rev = *store.current_revision();
        auto deadline = std::chrono::steady_clock::now() + 5s;
        while (*store.compacted_revision() < rev && std::chrono::steady_clock::now() < deadline)
            std::this_thread::sleep_for(10ms);
        EXPECT_EQ(*store.compacted_revision(), rev);
        EXPECT_EQ(sqlite_rows(dir_), 1);
        EXPECT_EQ(store.get("/a")->value, "50");
    }
}

// SQLite only: lists at revisions that thousands of writes (a quarter of them deletes) have followed.
TEST_F(SqliteStoreTest, ListsLongPastMatchAModel) {
    SqliteOptions o;
    o.sync = SqliteOptions::Sync::normal;
    o.compact_interval = 0ms;
    auto s = open_sqlite(dir_ + "/store.db", o);
    ASSERT_TRUE(s) << s.error().what();
    PastRevisions model;
    model.write(**s, 6000, 2);
    for (size_t i : {0, 100, 1000, 1500, 3000, 5990}) model.expect_lists_match(**s, i);
}

// The names of this process's threads (their comm).
std::multiset<std::string> thread_names() {
    std::multiset<std::string> names;
    for (const auto& task : std::filesystem::directory_iterator("/proc/self/task")) {
        auto comm = fs::read_file(task.path().string() + "/comm");
        if (comm) names.insert(comm->substr(0, comm->find('\n')));
    }
    return names;
}

// SQLite only: the store's threads say what they are (top -H, perf), and are gone once it closes.
TEST_F(SqliteStoreTest, ThreadsAreNamedAndEndWithTheStore) {
    auto before = thread_names();
    {
        auto s = open_sqlite(dir_ + "/store.db", SqliteOptions{});
        ASSERT_TRUE(s) << s.error().what();
        auto open = thread_names();
        EXPECT_EQ(open.count("store-writer"), before.count("store-writer") + 1);
        EXPECT_EQ(open.count("wal-checkpoint"), before.count("wal-checkpoint") + 1);
    }
    // Joined by the close; the kernel drops a joined thread's /proc entry a moment after the join returns.
    auto gone = [&] {
        auto now = thread_names();
        return now.count("store-writer") == before.count("store-writer") &&
               now.count("wal-checkpoint") == before.count("wal-checkpoint");
    };
    auto deadline = std::chrono::steady_clock::now() + 2s;
    while (!gone() && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(1ms);
    EXPECT_TRUE(gone());
}

// SQLite only: a batch held up (here by another connection's write lock, as a second process or the
// sqlite3 shell would hold it) is logged with where its time went; a quick one is not.
TEST_F(SqliteStoreTest, WarnsAboutASlowBatch) {
    {
        SqliteOptions o;
        o.sync = SqliteOptions::Sync::normal;
        o.slow_batch = 250ms;  // well over a lone write's time on a loaded machine
        auto s = open_sqlite(dir_ + "/store.db", o);
        ASSERT_TRUE(s) << s.error().what();
        ASSERT_TRUE((*s)->create("/a", "1"));
        sqlite3* other = nullptr;
        ASSERT_EQ(sqlite3_open((dir_ + "/store.db").c_str(), &other), SQLITE_OK);
        ASSERT_EQ(sqlite3_exec(other, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr), SQLITE_OK);
        ::testing::internal::CaptureStderr();
        std::thread held([&] { EXPECT_TRUE((*s)->create("/b", "2")); });
        std::this_thread::sleep_for(500ms);
        EXPECT_EQ(sqlite3_exec(other, "COMMIT", nullptr, nullptr, nullptr), SQLITE_OK);
        held.join();
        EXPECT_TRUE((*s)->create("/c", "3"));
        std::string log = ::testing::internal::GetCapturedStderr();
        sqlite3_close(other);
        // One line, for the held batch: its statements (BEGIN waited for the lock) took the 500 ms.
        EXPECT_EQ(std::count(log.begin(), log.end(), '\n'), 1) << log;
        // (No std::regex: GCC 12 warns inside it at -O1 with the sanitizers.)
        auto number_after = [&](const std::string& label) {
            auto at = log.find(label);
            return at == std::string::npos ? -1 : std::atoi(log.c_str() + at + label.size());
        };
        EXPECT_NE(log.find("warning: store: a batch of 1 write took "), std::string::npos) << log;
        EXPECT_GE(number_after("a batch of 1 write took "), 400) << log;
        EXPECT_GE(number_after(" ms (WAL reset "), 0) << log;
        EXPECT_GE(number_after(" ms, statements "), 400) << log;
        EXPECT_GE(number_after(" ms, commit and fsync "), 0) << log;
        EXPECT_NE(log.find(" ms) in " + dir_ + "/store.db"), std::string::npos) << log;
    }
}

// SQLite only: a watcher whose queue overflows catches up from the log without losing events.
TEST_F(SqliteStoreTest, SlowWatcherCatchesUpFromTheLog) {
    {
        SqliteOptions o;
        o.sync = SqliteOptions::Sync::normal;
        o.compact_interval = 0ms;
        o.watch_queue_limit = 5;
        auto s = open_sqlite(dir_ + "/store.db", o);
        ASSERT_TRUE(s) << s.error().what();
        Store& store = **s;
        auto w = store.watch("/s/", 0);
        ASSERT_TRUE(w);
        ASSERT_TRUE(store.create("/s/a", "0"));
        for (int i = 1; i < 100; ++i) ASSERT_TRUE(store.update("/s/a", std::to_string(i), 0));
        std::vector<Event> events;
        while (events.size() < 100) {
            auto r = (*w)->next(1s);
            ASSERT_TRUE(r) << r.error().what();
            ASSERT_FALSE(r->empty());
            for (auto& e : *r) events.push_back(std::move(e));
        }
        for (size_t i = 0; i < events.size(); ++i) {
            EXPECT_EQ(events[i].kv.value, std::to_string(i));
            if (i > 0) {
                EXPECT_EQ(events[i].revision(), events[i - 1].revision() + 1);
                EXPECT_EQ(events[i].prev->value, std::to_string(i - 1));
            }
        }
        // Fell behind and the history it needs is compacted: next() says so.
        for (int i = 0; i < 10; ++i) ASSERT_TRUE(store.update("/s/a", "x", 0));
        ASSERT_TRUE(store.compact(*store.current_revision()));
        auto r = (*w)->next(1s);
        ASSERT_FALSE(r) << r->size() << " events, " << r->front().revision() << ".." << r->back().revision();
        EXPECT_EQ(r.error().code(), errc::compacted);
    }
}

// Group commit under load: 50 threads writing single objects. Not part of the normal run:
//   store_test --gtest_also_run_disabled_tests --gtest_filter='*Throughput*'
// open gets a scratch directory on disk (/var/tmp).
void throughput(const std::function<Result<std::unique_ptr<Store>>(const std::string&)>& open, const char* name) {
    constexpr int kThreads = 50;
    constexpr auto kDuration = 5s;
    TestDir tmp("/var/tmp/skiff-store-bench-XXXXXX");
    ASSERT_FALSE(tmp.path.empty());
    const std::string& dir = tmp.path;
    std::vector<std::vector<double>> latencies(kThreads);
    {
        auto s = open(dir);
        ASSERT_TRUE(s) << s.error().what();
        Store& store = **s;
        std::string value(1000, 'v');  // about a small pod's JSON
        auto end = std::chrono::steady_clock::now() + kDuration;
        std::vector<std::thread> threads;
        for (int t = 0; t < kThreads; ++t)
            threads.emplace_back([&, t] {
                int64_t rev = 0;
                std::string key = "/registry/pods/bench/p-" + std::to_string(t);
                for (int i = 0; std::chrono::steady_clock::now() < end; ++i) {
                    auto t0 = std::chrono::steady_clock::now();
                    // Alternate creates of new keys with CAS updates of one key per thread.
                    auto r = i % 2 == 0 ? store.create(key + "-" + std::to_string(i), value)
                                        : (rev == 0 ? store.create(key, value) : store.update(key, value, rev));
                    ASSERT_TRUE(r) << r.error().what();
                    if (i % 2 == 1) rev = r->mod_revision;
                    latencies[t].push_back(std::chrono::duration<double, std::milli>(
                                               std::chrono::steady_clock::now() - t0).count());
                }
            });
        for (auto& t : threads) t.join();
    }
    std::vector<double> all;
    for (auto& l : latencies) all.insert(all.end(), l.begin(), l.end());
    std::sort(all.begin(), all.end());
    double seconds = std::chrono::duration<double>(kDuration).count();
    auto pct = [&](double p) { return all[static_cast<size_t>(p * static_cast<double>(all.size() - 1))]; };
    printf("store bench (%s): %d threads, %zu writes in %.0f s = %.0f writes/s; latency ms p50 %.2f p99 %.2f max %.2f\n",
           name, kThreads, all.size(), seconds, static_cast<double>(all.size()) / seconds, pct(0.5), pct(0.99),
           all.back());
}

std::function<Result<std::unique_ptr<Store>>(const std::string&)> sqlite_with(SqliteOptions::Sync sync) {
    return [sync](const std::string& dir) {
        SqliteOptions o;
        o.sync = sync;
        return open_sqlite(dir + "/store.db", o);
    };
}

TEST(SqliteStoreBench, DISABLED_ThroughputFullSync) { throughput(sqlite_with(SqliteOptions::Sync::full), "synchronous=FULL"); }
TEST(SqliteStoreBench, DISABLED_ThroughputNormalSync) {
    throughput(sqlite_with(SqliteOptions::Sync::normal), "synchronous=NORMAL");
}
// The same load on a 1-member etcd whose data is on disk (fsync per commit, like synchronous=FULL).
TEST(EtcdStoreBench, DISABLED_Throughput) {
    std::unique_ptr<testing::EtcdCluster> cluster;
    throughput(
        [&](const std::string& dir) -> Result<std::unique_ptr<Store>> {
            auto c = testing::EtcdCluster::start(1, dir);
            if (!c) return std::move(c).error();
            cluster = std::move(*c);
            EtcdOptions o;
            o.endpoints = cluster->client_urls();
            return open_etcd(o);
        },
        "etcd, 1 member");
}

}  // namespace
}  // namespace skiff::store
