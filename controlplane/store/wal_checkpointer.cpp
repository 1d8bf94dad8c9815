// The background WAL checkpointer (see wal_checkpointer.hpp).
#include "wal_checkpointer.hpp"

#include <algorithm>

namespace skiff::store::sqlite {

Result<std::unique_ptr<WalCheckpointer>> WalCheckpointer::start(const std::string& path, bool sync_full,
                                                                WalCheckpointerOptions options) {
    auto db = Db::open(path, SQLITE_OPEN_READWRITE);
    if (!db) return std::move(db).error();
    // A connection checkpoints only once it has the WAL open; this statement opens it (the database is
    // in WAL mode already, so nothing changes).
    SKIFF_TRY((*db)->exec("PRAGMA journal_mode = WAL"));
    SKIFF_TRY((*db)->exec(sync_full ? "PRAGMA synchronous = FULL" : "PRAGMA synchronous = NORMAL"));
    SKIFF_TRY((*db)->exec("PRAGMA cache_size = -256"));
    return std::unique_ptr<WalCheckpointer>(new WalCheckpointer(std::move(*db), options));
}

WalCheckpointer::WalCheckpointer(std::unique_ptr<Db> db, WalCheckpointerOptions options)
    : options_(options), db_(std::move(db)), next_reset_at_(options.reset_frames) {
    thread_ = std::thread([this] { run(); });
}

WalCheckpointer::~WalCheckpointer() {
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
    int64_t request = ++requested_;
    wake_.notify_one();
    // No commit comes between here and the transaction that follows, so a pass that starts after this
    // request sees the whole WAL; when it copies everything, that transaction restarts the WAL.
    bool served = done_.wait_for(lock, options_.reset_wait, [&] { return served_ >= request || stop_; });
    if (!served || !last_pass_complete_) next_reset_at_ = frames_ + options_.retry_frames;
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
        wake_.wait(lock, [&] { return stop_ || requested_ > served_ || frames_ >= passed_frames_ + options_.pass_frames; });
        if (stop_) break;
        int64_t serving = requested_;
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
        // again; the writer's resets wait for a complete pass, so nothing is lost meanwhile.
        last_pass_complete_ = rc == SQLITE_OK && log >= 0 && log == copied;
        // (A WAL that started over during the pass is smaller than the log it saw.)
        passed_frames_ = rc == SQLITE_OK && log >= 0 ? std::min<int64_t>(log, frames_) : frames_;
        served_ = serving;
        done_.notify_all();
    }
}

}  // namespace skiff::store::sqlite
