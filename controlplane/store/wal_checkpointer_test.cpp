// The background WAL checkpointer against a real SQLite database: the WAL stays bounded under steady
// writes and reads, a reader holding an old snapshot delays resets without holding up every write, and
// nothing written is lost across resets.
#include "wal_checkpointer.hpp"

#include <stdlib.h>
#include <sys/stat.h>

#include <atomic>
#include <thread>

#include <gtest/gtest.h>

#include "skiff/base/fs.hpp"
#include "test_dir.hpp"

namespace skiff::store::sqlite {
namespace {

using namespace std::chrono_literals;

constexpr int kRows = 500;

// A database in WAL mode with kRows rows, a writer connection whose commits report to a checkpointer
// with small thresholds (so a few thousand frames go through many resets).
class WalCheckpointerTest : public ::testing::Test {
protected:
    void SetUp() override {
        ASSERT_FALSE(dir_.path.empty());
        path_ = dir_.path + "/test.db";
        auto db = Db::open(path_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
        ASSERT_TRUE(db) << db.error().what();
        writer_ = std::move(*db);
        ASSERT_TRUE(writer_->exec("PRAGMA journal_mode = WAL"));
        ASSERT_TRUE(writer_->exec("PRAGMA synchronous = NORMAL"));
        ASSERT_TRUE(writer_->exec("CREATE TABLE t (id INTEGER PRIMARY KEY, gen INTEGER NOT NULL, v BLOB NOT NULL)"));
        ASSERT_TRUE(writer_->exec("BEGIN"));
        for (int i = 0; i < kRows; ++i) write_row(i, 0);
        ASSERT_TRUE(writer_->exec("COMMIT"));

        WalCheckpointerOptions o;
        o.pass_frames = 16;
        o.reset_frames = 256;
        o.retry_frames = 64;
        o.reset_wait = 200ms;  // generous: a slow machine must not turn a reset into a failed try
        auto c = WalCheckpointer::start(path_, false, writer_->handle(), o);
        ASSERT_TRUE(c) << c.error().what();
        checkpointer_ = std::move(*c);
    }
    void TearDown() override {
        checkpointer_.reset();
        writer_.reset();
    }

    void write_row(int id, int64_t gen) {
        auto q = writer_->query("INSERT OR REPLACE INTO t (id, gen, v) VALUES (?1, ?2, ?3)");
        ASSERT_TRUE(q);
        std::string value(2000, static_cast<char>('a' + gen % 26));
        q->bind(1, int64_t{id}).bind(2, gen).bind_blob(3, value);
        ASSERT_TRUE(q->run());
    }

    // One write transaction as the store's writer makes it: a chance to reset first, then a few rows.
    void write_transaction(int64_t gen) {
        checkpointer_->before_write();
        ASSERT_TRUE(writer_->exec("BEGIN IMMEDIATE"));
        for (int k = 0; k < 3; ++k) write_row(static_cast<int>((gen * 7 + k * 131) % kRows), gen);
        ASSERT_TRUE(writer_->exec("COMMIT"));
    }

    off_t wal_size() const {
        struct stat st {};
        return stat((path_ + "-wal").c_str(), &st) == 0 ? st.st_size : 0;
    }

    // Sum of gen over all rows, read on a connection of its own.
    int64_t gen_sum() const {
        auto db = Db::open(path_, SQLITE_OPEN_READWRITE);
        if (!db) return -1;
        auto q = (*db)->query("SELECT COUNT(*), SUM(gen) FROM t");
        if (!q) return -1;
        auto row = q->step();
        if (!row || !*row || q->int64(0) != kRows) return -1;
        return q->int64(1);
    }

    TestDir dir_{"/tmp/skiff-wal-XXXXXX"};  // first: removed after the connections close
    std::string path_;
    std::unique_ptr<Db> writer_;
    std::unique_ptr<WalCheckpointer> checkpointer_;
};

TEST_F(WalCheckpointerTest, WalStaysBoundedUnderSteadyWritesAndReads) {
    // Short reads all the time, as the API server's gets are.
    std::atomic<bool> stop{false};
    std::atomic<int64_t> reads{0};
    std::thread reader([&] {
        auto db = Db::open(path_, SQLITE_OPEN_READWRITE);
        if (!db) return;
        for (int64_t i = 0; !stop; ++i) {
            auto q = (*db)->query("SELECT gen, length(v) FROM t WHERE id = ?1");
            if (!q) return;
            q->bind(1, i % kRows);
            if (auto row = q->step(); row && *row && q->int64(1) == 2000) ++reads;
        }
    });
    off_t largest = 0;
    int64_t expected = 0;
    std::vector<int64_t> gens(kRows, 0);
    for (int64_t gen = 1; gen <= 3000; ++gen) {
        write_transaction(gen);
        for (int k = 0; k < 3; ++k) gens[static_cast<size_t>((gen * 7 + k * 131) % kRows)] = gen;
        largest = std::max(largest, wal_size());
    }
    stop = true;
    reader.join();
    for (int64_t g : gens) expected += g;

    auto c = checkpointer_->counters();
    EXPECT_GT(reads.load(), 0);
    EXPECT_GE(c.resets, 5) << "passes " << c.passes << ", tries " << c.reset_tries;
    // Without resets the 3,000 transactions (about three 4 KiB frames each) make a WAL of 38 MB; with them
    // it stays near reset_frames (256 frames, 1 MiB) plus the retries that met a read in flight (on a busy
    // machine a reader descheduled inside its read makes a few in a row fail).
    EXPECT_LT(largest, 12 << 20) << "frames now " << c.frames << ", resets " << c.resets << ", tries " << c.reset_tries;
    EXPECT_EQ(gen_sum(), expected);

    // Everything is in the database file too: after closing every connection (the last close
    // checkpoints and removes the WAL) a fresh open reads the same rows.
    checkpointer_.reset();
    writer_.reset();
    EXPECT_EQ(wal_size(), 0);
    EXPECT_EQ(gen_sum(), expected);
}

TEST_F(WalCheckpointerTest, AnOldSnapshotDelaysResetsWithoutHoldingEveryWrite) {
    for (int64_t gen = 1; gen <= 50; ++gen) write_transaction(gen);
    // A reader that keeps one snapshot (a long list page): the frames after it cannot be copied.
    auto db = Db::open(path_, SQLITE_OPEN_READWRITE);
    ASSERT_TRUE(db);
    std::unique_ptr<Db> reader = std::move(*db);
    ASSERT_TRUE(reader->exec("BEGIN"));
    {
        auto q = reader->query("SELECT COUNT(*) FROM t");
        ASSERT_TRUE(q);
        ASSERT_TRUE(q->step());
    }
    auto before = checkpointer_->counters();
    for (int64_t gen = 51; gen <= 1000; ++gen) write_transaction(gen);
    auto held = checkpointer_->counters();
    EXPECT_EQ(held.resets, before.resets) << "the WAL restarted under a reader that still needs it";
    EXPECT_GT(held.frames, 1000);
    // A failed try moves the next one retry_frames (64) further: the writer held a few transactions,
    // not each of the 950.
    EXPECT_GE(held.reset_tries - before.reset_tries, 1);
    EXPECT_LE(held.reset_tries - before.reset_tries, held.frames / 64 + 2);

    // The snapshot goes: the next tries succeed and the WAL starts over.
    ASSERT_TRUE(reader->exec("COMMIT"));
    for (int64_t gen = 1001; gen <= 1400; ++gen) write_transaction(gen);
    auto after = checkpointer_->counters();
    EXPECT_GT(after.resets, held.resets);
    EXPECT_LT(after.frames, held.frames);
}

}  // namespace
}  // namespace skiff::store::sqlite
