// The background WAL checkpointer (see wal_checkpointer.hpp).
#include "wal_checkpointer.hpp"

#include <algorithm>

#include "skiff/base/process.hpp"

namespace skiff::store::sqlite {

Result<std::unique_ptr<WalCheckpointer>> WalCheckpointer::start(const std::string& path, bool sync_full,
                                                                sqlite3* writer, WalCheckpointerOptions options) {
    auto db = Db::open(path, SQLITE_OPEN_READWRITE);
    if (!db) return std::move(db).error();
    // A connection checkpoints only once it has the WAL open; this statement opens it (the database is
    // in WAL mode already, so nothing changes).
    SKIFF_TRY((*db)->exec("PRAGMA journal_mode = WAL"));
    SKIFF_TRY((*db)->exec(sync_full ? "PRAGMA synchronous = FULL" : "PRAGMA synchronous = NORMAL"));
    SKIFF_TRY((*db)->exec("PRAGMA cache_size = -256"));
    return std::unique_ptr<WalCheckpointer>(new WalCheckpointer(std::move(*db), writer, options));
}

WalCheckpointer::WalCheckpointer(std::unique_ptr<Db> db, sqlite3* writer, WalCheckpointerOptions options)
    : options_(options), writer_(writer), db_(std::move(db)), next_reset_at_(options.reset_frames) {
    thread_ = std::thread([this] { run(); });
    name_thread(thread_, "wal-checkpoint");
    sqlite3_wal_hook(
        writer_,
        [](void* self, sqlite3*, const char*, int frames) {
            static_cast<WalCheckpointer*>(self)->committed(frames);
            return SQLITE_OK;
        },
        this);
}

WalCheckpointer::~WalCheckpointer() {
    sqlite3_wal_hook(writer_, nullptr, nullptr);
    {
        std::lock_guard lock(mu_);
        stop_ = true;
    }
    wake_.notify_all();
    thread_.join();
}

void WalCheckpointer::committed(int frames) {
    bool wake = false;
    {
        std::lock_guard lock(mu_);
        if (frames < frames_) {  // the WAL started over
            ++counters_.resets;
            passed_frames_ = 0;
            next_reset_at_ = options_.reset_frames;
        }
        frames_ = frames;
        counters_.frames = frames;
        wake = frames_ >= passed_frames_ + options_.pass_frames;
    }
    if (wake) wake_.notify_one();
}

void WalCheckpointer::before_write() {
    std::unique_lock lock(mu_);
    if (frames_ < next_reset_at_) return;
    ++counters_.reset_tries;
    // A pass under way holds SQLite's checkpoint lock: it finishes first (it copies most of what is left).
    bool idle = done_.wait_for(lock, options_.reset_wait, [&] { return !passing_ || stop_; });
    if (!idle || stop_) {
        next_reset_at_ = frames_ + options_.retry_frames;
        return;
    }
    // The rest is copied here, on the writer's connection and thread: no hand-over to wait for. No commit
    // comes between this pass and the transaction that follows, so when it copies everything, that
    // transaction restarts the WAL.
    passing_ = true;
    lock.unlock();
    int log = -1, copied = -1;
    int rc = sqlite3_wal_checkpoint_v2(writer_, nullptr, SQLITE_CHECKPOINT_PASSIVE, &log, &copied);
    lock.lock();
    passing_ = false;
    ++counters_.passes;
    if (rc == SQLITE_OK && log >= 0) passed_frames_ = log;
    if (rc != SQLITE_OK || log < 0 || log != copied) next_reset_at_ = frames_ + options_.retry_frames;
    wake_.notify_one();
}

void WalCheckpointer::release_memory() {
    std::lock_guard lock(mu_);
    if (!passing_) sqlite3_db_release_memory(db_->handle());
}

WalCheckpointer::Counters WalCheckpointer::counters() const {
    std::lock_guard lock(mu_);
    return counters_;
}

void WalCheckpointer::run() {
    std::unique_lock lock(mu_);
    for (;;) {
        wake_.wait(lock, [&] { return stop_ || (!passing_ && frames_ >= passed_frames_ + options_.pass_frames); });
        if (stop_) break;
        passing_ = true;
        lock.unlock();
        // PASSIVE: copies what no reader still needs from the WAL and never waits for anyone; the writer
        // appends meanwhile.
        int log = -1, copied = -1;
        int rc = sqlite3_wal_checkpoint_v2(db_->handle(), nullptr, SQLITE_CHECKPOINT_PASSIVE, &log, &copied);
        lock.lock();
        passing_ = false;
        ++counters_.passes;
        // On an error (SQLITE_BUSY when another connection checkpoints, an I/O error) the next commits try
        // again. (A WAL that started over during the pass is smaller than the log it saw.)
        passed_frames_ = rc == SQLITE_OK && log >= 0 ? std::min<int64_t>(log, frames_) : frames_;
        done_.notify_all();
    }
}

}  // namespace skiff::store::sqlite
