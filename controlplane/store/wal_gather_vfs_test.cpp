// The WAL-gathering VFS against real SQLite files: a commit's frames go out in a few write calls instead of
// two per frame, and a reader on the default VFS sees every commit whole, through WAL restarts and commits
// larger than one gathered write.
#include "wal_gather_vfs.hpp"

#include <fstream>
#include <string>

#include <gtest/gtest.h>

#include "sqlite_db.hpp"
#include "test_dir.hpp"

namespace skiff::store::sqlite {
namespace {

// Write system calls this process has made so far (/proc/self/io, syscw).
int64_t write_calls() {
    std::ifstream io("/proc/self/io");
    std::string name;
    int64_t value = 0;
    while (io >> name >> value)
        if (name == "syscw:") return value;
    ADD_FAILURE() << "no syscw in /proc/self/io";
    return -1;
}

class WalGatherVfsTest : public ::testing::Test {
protected:
    void SetUp() override {
        ASSERT_FALSE(tmp_.path.empty());
        ASSERT_NE(wal_gather_vfs(), nullptr);
    }

    // A database in WAL mode with synchronous=FULL and a table for blobs, on the given VFS.
    std::unique_ptr<Db> open(const std::string& name, const char* vfs) {
        auto db = Db::open(tmp_.path + "/" + name, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, vfs);
        EXPECT_TRUE(db) << db.error().what();
        if (!db) return nullptr;
        EXPECT_TRUE((*db)->exec("PRAGMA journal_mode = WAL"));
        EXPECT_TRUE((*db)->exec("PRAGMA synchronous = FULL"));
        EXPECT_TRUE((*db)->exec("CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, v BLOB NOT NULL)"));
        return std::move(*db);
    }

    // One transaction of `rows` rows of `size` bytes each, ids from `first`.
    static void insert(Db& db, int first, int rows, size_t size) {
        ASSERT_TRUE(db.exec("BEGIN IMMEDIATE"));
        for (int i = first; i < first + rows; ++i) {
            auto q = db.query("INSERT OR REPLACE INTO t (id, v) VALUES (?1, ?2)");
            ASSERT_TRUE(q);
            std::string value(size, static_cast<char>('a' + i % 26));
            q->bind(1, int64_t{i}).bind_blob(2, value);
            ASSERT_TRUE(q->run());
        }
        ASSERT_TRUE(db.exec("COMMIT"));
    }

    // Rows in t, and whether each holds `size` bytes of its own letter.
    static std::pair<int64_t, bool> check(Db& db, size_t size) {
        auto q = db.query("SELECT id, v FROM t ORDER BY id");
        EXPECT_TRUE(q);
        int64_t rows = 0;
        bool whole = true;
        while (auto row = q->step()) {
            if (!*row) break;
            auto id = q->int64(0);
            whole = whole && q->blob(1) == std::string(size, static_cast<char>('a' + id % 26));
            ++rows;
        }
        return {rows, whole};
    }

    TestDir tmp_;
};

TEST_F(WalGatherVfsTest, WritesACommitsFramesInAFewCalls) {
    auto gathered = open("gathered.db", wal_gather_vfs());
    auto plain = open("plain.db", nullptr);
    ASSERT_TRUE(gathered && plain);
    // 30 rows of 3,000 bytes: about 30 pages, 31 frames with the table's root, 60 write calls the plain way.
    int64_t before = write_calls();
    insert(*plain, 0, 30, 3000);
    int64_t plain_calls = write_calls() - before;
    before = write_calls();
    insert(*gathered, 0, 30, 3000);
    int64_t gathered_calls = write_calls() - before;
    EXPECT_GE(plain_calls, 60);
    EXPECT_LE(gathered_calls, 3) << "the plain VFS took " << plain_calls;
    EXPECT_EQ(check(*gathered, 3000), std::make_pair(int64_t{30}, true));
}

TEST_F(WalGatherVfsTest, ReadersSeeEveryCommitWhole) {
    auto writer = open("t.db", wal_gather_vfs());
    auto reader = open("t.db", nullptr);
    ASSERT_TRUE(writer && reader);
    constexpr size_t kSize = 4000;
    int rows = 0;
    for (int round = 0; round < 60; ++round) {
        // Mostly small commits; every tenth one writes about 60 pages, more than one gathered write holds.
        int n = round % 10 == 9 ? 60 : 1 + round % 4;
        insert(*writer, rows, n, kSize);
        rows += n;
        EXPECT_EQ(check(*reader, kSize), std::make_pair(int64_t{rows}, true)) << "after round " << round;
        // Now and then the WAL is copied back and starts over (a truncate, then a new header at offset 0).
        if (round % 20 == 19) {
            ASSERT_TRUE(writer->exec("PRAGMA wal_checkpoint(TRUNCATE)"));
        }
    }
    // Rewrites of the same rows (pages overwritten within the WAL), then everything from a fresh open.
    insert(*writer, 0, 40, kSize);
    writer.reset();
    reader.reset();
    auto again = open("t.db", nullptr);
    ASSERT_TRUE(again);
    auto q = again->query("PRAGMA integrity_check");
    ASSERT_TRUE(q);
    auto row = q->step();
    ASSERT_TRUE(row && *row);
    EXPECT_EQ(q->text(0), "ok");
    EXPECT_EQ(check(*again, kSize), std::make_pair(int64_t{rows}, true));
}

}  // namespace
}  // namespace skiff::store::sqlite
