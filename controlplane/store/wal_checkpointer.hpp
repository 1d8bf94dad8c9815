// WAL checkpoints off the write path.
//
// SQLite's automatic checkpoint runs inside the commit that crosses its threshold: that commit copies
// the whole WAL into the database file and syncs both, and every write queued behind it waits (about
// 20 ms for 1,000 pages here, the saturated write p99). Instead, a thread of its own copies the WAL into
// the database in small passive passes while the writer goes on appending.
//
// A passive pass never resets the WAL: SQLite starts the WAL over only when a write transaction begins
// while every frame has been copied and no reader still reads from the WAL. Under steady writes that
// moment never comes by itself, so once the WAL has grown past reset_frames the writer makes it: before
// its next transaction it lets a pass under way finish (waiting at most reset_wait) and copies what is
// left itself, on its own connection (a short pass, since the passes keep up); when that copies
// everything, the transaction begins and SQLite restarts the WAL there. A reader holding an old snapshot
// (a long list page) can keep the pass from copying everything or the WAL from restarting: then the
// writer goes on and tries again retry_frames later.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "skiff/base/result.hpp"
#include "sqlite_db.hpp"

namespace skiff::store::sqlite {

struct WalCheckpointerOptions {
    int pass_frames = 128;      // a pass starts once the WAL has this many frames past the last pass
    int reset_frames = 8192;    // from this WAL size (32 MiB of 4 KiB pages) the writer makes a reset happen;
                                // keep it under the store's journal_size_limit (64 MiB)
    int retry_frames = 1024;    // after a failed reset, the next try is this many frames later
    std::chrono::milliseconds reset_wait{20};  // the longest the writer waits for a pass under way
};

class WalCheckpointer {
public:
    // Opens a connection of its own to the database at path (in WAL mode already), takes over the writer
    // connection's checkpoints (its WAL hook, which replaces SQLite's automatic checkpoint) and starts the
    // thread. sync_full: the checkpoint's syncs as the writer's synchronous setting (both sync at
    // checkpoints). The writer connection must outlive the checkpointer.
    [[nodiscard]] static Result<std::unique_ptr<WalCheckpointer>> start(const std::string& path, bool sync_full,
                                                                        sqlite3* writer,
                                                                        WalCheckpointerOptions options = {});
    WalCheckpointer(const WalCheckpointer&) = delete;
    WalCheckpointer& operator=(const WalCheckpointer&) = delete;
    ~WalCheckpointer();  // stops the thread (a pass under way finishes first) and removes the WAL hook

    // Writer thread, before a write transaction: makes the WAL reset when it has grown past reset_frames
    // (the writer's connection copies the last frames itself).
    void before_write();
    // The connection's page cache back to the heap (an idle server shrinks).
    void release_memory();

    struct Counters {
        int64_t passes = 0;
        int64_t resets = 0;         // WAL restarts seen (the frame count went down)
        int64_t reset_tries = 0;    // transactions the writer held for a reset
        int64_t frames = 0;         // frames in the WAL after the last commit
    };
    Counters counters() const;

private:
    WalCheckpointer(std::unique_ptr<Db> db, sqlite3* writer, WalCheckpointerOptions options);
    // Writer thread, after each commit (the WAL hook): the WAL now holds `frames` frames.
    void committed(int frames);
    void run();

    const WalCheckpointerOptions options_;
    sqlite3* const writer_;
    std::unique_ptr<Db> db_;  // the checkpointer thread's (and release_memory's, under mu_)
    std::thread thread_;

    mutable std::mutex mu_;
    std::condition_variable wake_;  // the checkpointer: frames to copy, or stop
    std::condition_variable done_;  // the writer: the checkpointer's pass has finished
    bool stop_ = false;
    bool passing_ = false;          // a pass is under way: the thread's on db_, or the writer's own (outside mu_)
    int64_t frames_ = 0;            // WAL frames after the writer's last commit
    int64_t passed_frames_ = 0;     // WAL size the last pass saw
    int64_t next_reset_at_;         // WAL size at which before_write tries a reset
    Counters counters_;
};

}  // namespace skiff::store::sqlite
