// The SQLite backend: a revision log (one row per write) plus a table of current rows, one writer
// thread that group-commits queued writes and hands the events to watchers, readers on a pool.
#include <sqlite3.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <future>
#include <mutex>
#include <thread>

#include "skiff/base/log.hpp"
#include "skiff/base/memory.hpp"
#include "skiff/base/process.hpp"
#include "skiff/store/store.hpp"

#include "key_range.hpp"
#include "sqlite_db.hpp"
#include "wal_checkpointer.hpp"
#include "wal_gather_vfs.hpp"

namespace skiff::store {

namespace {

using sqlite::Db;
using sqlite::Query;
using sqlite::WalCheckpointer;
using sqlite::wal_gather_vfs;
using Clock = std::chrono::steady_clock;

// kv: every write is a row and its id is the revision. A delete writes a tombstone (deleted = 1,
// empty value); prev is the row this one superseded (NULL for a create), which is what watch
// events report as the previous value and what compaction removes.
// current: key -> the id of its live row, maintained in the write transaction, so the latest list
// is a range scan of live keys however many revisions each key has.
// kv_tombstones: the tombstones by revision, for a list at a past revision (the keys deleted since).
constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS kv (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    key TEXT NOT NULL,
    created INTEGER NOT NULL,
    prev INTEGER,
    deleted INTEGER NOT NULL,
    value BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS kv_key_id ON kv (key, id);
CREATE INDEX IF NOT EXISTS kv_tombstones ON kv (id, key, deleted) WHERE deleted = 1;
CREATE TABLE IF NOT EXISTS current (
    key TEXT PRIMARY KEY,
    id INTEGER NOT NULL,
    created INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS meta (
    name TEXT PRIMARY KEY,
    value INTEGER NOT NULL
) WITHOUT ROWID;
INSERT OR IGNORE INTO meta (name, value) VALUES ('schema', 1), ('compacted', 0);
)sql";

// The revision committed last (AUTOINCREMENT keeps it when compaction deletes the newest rows).
constexpr const char* kRevisionSql =
    "SELECT COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'kv'), 0),"
    " (SELECT value FROM meta WHERE name = 'compacted')";

// Compaction works through the log in steps of this many revisions, one transaction each, so
// writes queued meanwhile wait for one step only.
constexpr int64_t kCompactStep = 5000;
// Rows a catching-up watcher reads per next().
constexpr int64_t kReplayChunk = 1000;

bool has_prefix(std::string_view s, std::string_view prefix) { return s.substr(0, prefix.size()) == prefix; }

Error compacted_error(int64_t revision, int64_t compacted) {
    return Error(errc::compacted, "revision " + std::to_string(revision) + " has been compacted (compacted revision " +
                                      std::to_string(compacted) + ")");
}

// Readers: one connection per concurrent reader, reused.
class ReaderPool {
public:
    explicit ReaderPool(std::string path) : path_(std::move(path)) {}

    class Lease {
    public:
        Lease(ReaderPool* pool, std::unique_ptr<Db> db) : pool_(pool), db_(std::move(db)) {}
        Lease(Lease&&) = default;
        Lease& operator=(Lease&&) = delete;
        ~Lease() {
            if (db_) pool_->give_back(std::move(db_));
        }
        Db& operator*() { return *db_; }
        Db* operator->() { return db_.get(); }

    private:
        ReaderPool* pool_;
        std::unique_ptr<Db> db_;
    };

    Result<Lease> acquire() {
        {
            std::lock_guard lock(mu_);
            if (!free_.empty()) {
                auto db = std::move(free_.back());
                free_.pop_back();
                return Lease(this, std::move(db));
            }
        }
        auto db = Db::open(path_, SQLITE_OPEN_READWRITE);
        if (!db) return std::move(db).error();
        SKIFF_TRY((*db)->exec("PRAGMA query_only = ON"));
        // Each connection has a page cache of its own (SQLite's default: 2 MiB); the file's pages are in the
        // kernel's page cache anyway, so readers keep 1 MiB each.
        SKIFF_TRY((*db)->exec("PRAGMA cache_size = -1024"));
        return Lease(this, std::move(*db));
    }

    // Hands the page caches of the idle connections back to the heap (an idle server's memory shrinks).
    void release_idle_memory() {
        std::lock_guard lock(mu_);  // a connection in free_ is used by no one while this is held
        for (auto& db : free_) sqlite3_db_release_memory(db->handle());
    }

private:
    void give_back(std::unique_ptr<Db> db) {
        std::lock_guard lock(mu_);
        // A burst of concurrent reads opens more connections than an idle server needs to keep.
        if (free_.size() < 4) free_.push_back(std::move(db));
    }

    std::string path_;
    std::mutex mu_;
    std::vector<std::unique_ptr<Db>> free_;
};

// A read transaction: one snapshot for all its statements. Ends (rolls back) when it goes;
// every Query made under it must be gone by then.
class ReadTxn {
public:
    explicit ReadTxn(Db& db) : db_(db) {}
    ReadTxn(const ReadTxn&) = delete;
    ReadTxn& operator=(const ReadTxn&) = delete;
    ~ReadTxn() {
        if (open_) (void)db_.exec("ROLLBACK");
    }
    // Starts the snapshot; returns {revision, compacted revision} as of it.
    Result<std::pair<int64_t, int64_t>> begin() {
        SKIFF_TRY(db_.exec("BEGIN"));
        open_ = true;
        auto q = db_.query(kRevisionSql);
        if (!q) return std::move(q).error();
        auto row = q->step();
        if (!row) return std::move(row).error();
        return std::make_pair(q->int64(0), q->int64(1));
    }

private:
    Db& db_;
    bool open_ = false;
};

struct WatchState {
    WatchState(std::string p, int64_t from, int64_t catchup)
        : prefix(std::move(p)), delivered(from), catchup_to(catchup) {}
    const std::string prefix;
    std::condition_variable cv;
    std::deque<std::shared_ptr<const Event>> queue;  // live events, revision order
    int64_t delivered;   // every event up to here was handed out (or filtered)
    int64_t catchup_to;  // events in (delivered, catchup_to] are read from the database
    bool overflow = false;
    bool closed = false;
};

// Hands committed events to watchers. The writer publishes each batch after its commit, in
// revision order; a watcher registers under the same lock, so every revision reaches it either
// from the database (up to `published` at registration) or from its queue (after).
class Hub {
public:
    explicit Hub(size_t queue_limit) : queue_limit_(queue_limit) {}

    std::shared_ptr<WatchState> add(const std::string& prefix, int64_t from) {
        std::lock_guard lock(mu);
        if (from <= 0) from = published;
        auto w = std::make_shared<WatchState>(prefix, from, published);
        watchers_.push_back(w);
        return w;
    }
    void remove(const std::shared_ptr<WatchState>& w) {
        std::lock_guard lock(mu);
        std::erase(watchers_, w);
    }
    void publish(const std::vector<std::shared_ptr<const Event>>& events, int64_t revision) {
        std::lock_guard lock(mu);
        published = revision;
        for (auto& w : watchers_) {
            if (w->closed || w->overflow) continue;
            bool added = false;
            for (auto& e : events) {
                if (!has_prefix(e->kv.key, w->prefix)) continue;
                w->queue.push_back(e);
                added = true;
            }
            if (w->queue.size() > queue_limit_) {
                // A slow consumer: drop its queue, it reads the history from the database instead.
                w->queue.clear();
                w->overflow = true;
            }
            if (added || w->overflow) w->cv.notify_all();
        }
    }
    void shut_down() {
        std::lock_guard lock(mu);
        shutdown = true;
        for (auto& w : watchers_) w->cv.notify_all();
    }

    std::mutex mu;
    int64_t published = 0;
    bool shutdown = false;

private:
    const size_t queue_limit_;
    std::vector<std::shared_ptr<WatchState>> watchers_;
};

struct Op {
    enum class Kind { create, update, remove, compact };
    Kind kind = Kind::create;
    std::string key;
    std::string value;
    int64_t expected = 0;  // update/remove: expected mod revision; compact: the revision
    std::promise<Result<KeyValue>> done;
};

struct Applied {
    KeyValue kv;
    std::shared_ptr<const Event> event;
};

class Engine : public std::enable_shared_from_this<Engine> {
public:
    Engine(std::string path, SqliteOptions options)
        : path_(std::move(path)), options_(options), readers_(path_), hub_(options.watch_queue_limit) {}

    Status open() {
        // With synchronous=FULL a commit's WAL frames go out in writes of up to 127 KiB, not two per frame
        // (wal_gather_vfs.hpp).
        bool full = options_.sync == SqliteOptions::Sync::full;
        auto db = Db::open(path_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, full ? wal_gather_vfs() : nullptr);
        if (!db) return std::move(db).error();
        writer_ = std::move(*db);
        SKIFF_TRY(writer_->exec("PRAGMA journal_mode = WAL"));
        SKIFF_TRY(writer_->exec(full ? "PRAGMA synchronous = FULL" : "PRAGMA synchronous = NORMAL"));
        // Truncate the WAL back to 64 MiB after checkpoints that found it bigger (large values). Resets come
        // well before that (WalCheckpointerOptions::reset_frames, 32 MiB): a WAL cut back at every reset
        // grows again, and every fdatasync of a growing file writes its metadata too (with resets at 128 MiB
        // the paced update p99 was 67-83 ms instead of 11-15, docs/benchmarks.md).
        SKIFF_TRY(writer_->exec("PRAGMA journal_size_limit = 67108864"));
        // 4 MiB: the indexes' pages a write walks stay cached; the old rows it reads come from the kernel's
        // page cache anyway. With 16 MiB, SQLite's page-cache truncation at the end of a commit
        // (pcache1TruncateUnsafe) took 2.6% of the server's CPU in perf (0.6% with 4 MiB), and the loaded
        // server held 15 MB more.
        SKIFF_TRY(writer_->exec("PRAGMA cache_size = -4096"));
        SKIFF_TRY(writer_->exec("BEGIN IMMEDIATE"));
        if (auto s = writer_->exec(kSchema); !s) {
            (void)writer_->exec("ROLLBACK");
            return s;
        }
        SKIFF_TRY(writer_->exec("COMMIT"));
        SKIFF_TRY(load_revisions());
        // Replaces SQLite's automatic checkpoint: the checkpointer's thread copies the WAL instead.
        auto checkpointer =
            WalCheckpointer::start(path_, full, writer_->handle());
        if (!checkpointer) return std::move(checkpointer).error();
        checkpointer_ = std::move(*checkpointer);
        {
            std::lock_guard lock(hub_.mu);
            hub_.published = revision_;
        }
        committed_.store(revision_);
        thread_ = std::thread([this] { writer_loop(); });
        name_thread(thread_, "store-writer");
        return {};
    }

    void shut_down() {
        {
            std::lock_guard lock(mu_);
            stop_ = true;
        }
        cv_.notify_all();
        if (thread_.joinable()) thread_.join();
        checkpointer_.reset();
        hub_.shut_down();
    }

    Result<KeyValue> submit(Op::Kind kind, const std::string& key, const std::string& value, int64_t expected) {
        auto op = std::make_unique<Op>();
        op->kind = kind;
        op->key = key;
        op->value = value;
        op->expected = expected;
        auto future = op->done.get_future();
        {
            std::lock_guard lock(mu_);
            if (stop_) return Error(errc::closed, "store is closed");
            queue_.push_back(std::move(op));
        }
        cv_.notify_one();
        return future.get();
    }

    Result<KeyValue> get(const std::string& key) {
        auto db = readers_.acquire();
        if (!db) return std::move(db).error();
        auto q = (*db)->query(
            "SELECT c.id, c.created, k.value FROM current c JOIN kv k ON k.id = c.id WHERE c.key = ?1");
        if (!q) return std::move(q).error();
        q->bind(1, key);
        auto row = q->step();
        if (!row) return std::move(row).error().context("get " + key);
        if (!*row) return Error(errc::not_found, "get " + key + ": not found");
        return KeyValue{key, q->blob(2), q->int64(1), q->int64(0)};
    }

    Result<ListResult> list(const std::string& prefix, const ListOptions& options) {
        auto db = readers_.acquire();
        if (!db) return std::move(db).error();
        ReadTxn txn(**db);
        auto revs = txn.begin();
        if (!revs) return std::move(revs).error().context("list " + prefix);
        auto [latest, compacted] = *revs;
        ListResult result;
        result.revision = options.revision > 0 ? options.revision : latest;
        if (result.revision > latest)
            return Error(errc::future_revision, "list " + prefix + ": revision " + std::to_string(result.revision) +
                                                    " is newer than the store's (" + std::to_string(latest) + ")");
        if (result.revision < compacted)
            return compacted_error(result.revision, compacted).context("list " + prefix);

        // Keys in [lower, end): lower is the prefix, or past start_after when that is further.
        bool after = !options.start_after.empty() && options.start_after >= prefix;
        Range range{after ? options.start_after : prefix, prefix_end(prefix), after};
        int64_t limit = options.limit > 0 ? options.limit : -1;

        auto status = result.revision == latest ? list_latest(**db, range, limit, result)
                                                : list_past(**db, range, limit, result);
        if (!status) return std::move(status).error().context("list " + prefix);
        return result;
    }

    Result<std::unique_ptr<Watch>> watch(const std::string& prefix, int64_t from);

    int64_t committed() const { return committed_.load(); }
    int64_t compacted() const { return compacted_.load(); }

    // A watcher's history read: events in (from, to] for its prefix, at most kReplayChunk rows.
    // Returns the events and the revision it read up to.
    Result<std::pair<std::vector<Event>, int64_t>> replay(const std::string& prefix, int64_t from, int64_t to) {
        auto db = readers_.acquire();
        if (!db) return std::move(db).error();
        ReadTxn txn(**db);
        auto revs = txn.begin();
        if (!revs) return std::move(revs).error();
        if (from < revs->second) return compacted_error(from, revs->second);
        auto q = (*db)->query(
            "SELECT k.id, k.key, k.created, k.deleted, k.value, p.id, p.created, p.value"
            " FROM kv k LEFT JOIN kv p ON p.id = k.prev WHERE k.id > ?1 AND k.id <= ?2 ORDER BY k.id LIMIT ?3");
        if (!q) return std::move(q).error();
        q->bind(1, from).bind(2, to).bind(3, kReplayChunk);
        std::vector<Event> events;
        int64_t rows = 0;
        int64_t last = from;
        for (;;) {
            auto row = q->step();
            if (!row) return std::move(row).error();
            if (!*row) break;
            ++rows;
            last = q->int64(0);
            std::string_view key = q->text(1);
            if (!has_prefix(key, prefix)) continue;
            Event e;
            std::optional<KeyValue> prev;
            if (!q->is_null(5)) prev = KeyValue{std::string(key), q->blob(7), q->int64(6), q->int64(5)};
            if (q->int64(3) != 0) {
                e.type = Event::Type::del;
                e.kv = KeyValue{std::string(key), prev ? prev->value : std::string(), q->int64(2), last};
            } else {
                e.kv = KeyValue{std::string(key), q->blob(4), q->int64(2), last};
            }
            e.prev = std::move(prev);
            events.push_back(std::move(e));
        }
        if (rows < kReplayChunk) last = to;
        return std::make_pair(std::move(events), last);
    }

    Hub& hub() { return hub_; }

private:
    Status load_revisions() {
        auto q = writer_->query(kRevisionSql);
        if (!q) return std::move(q).error();
        auto row = q->step();
        if (!row) return std::move(row).error();
        revision_ = q->int64(0);
        compacted_.store(q->int64(1));
        return {};
    }

    // The keys a list covers: [lower, end), or (lower, end) when `after`; no end bound when end is empty.
    struct Range {
        const std::string& lower;
        std::string end;
        bool after;

        // The WHERE clause on column `col`: ?1 the lower bound, ?2 the end.
        std::string where(const std::string& col) const {
            return col + (after ? " > ?1" : " >= ?1") + (end.empty() ? "" : " AND " + col + " < ?2");
        }
        void bind(Query& q) const {
            q.bind(1, lower);
            if (!end.empty()) q.bind(2, end);
        }
    };

    Status list_latest(Db& db, const Range& range, int64_t limit, ListResult& result) {
        auto q = db.query("SELECT c.key, c.id, c.created, k.value FROM current c JOIN kv k ON k.id = c.id WHERE " +
                          range.where("c.key") + " ORDER BY c.key LIMIT ?3");
        if (!q) return std::move(q).error();
        range.bind(*q);
        q->bind(3, limit >= 0 ? limit + 1 : -1);
        for (;;) {
            auto row = q->step();
            if (!row) return std::move(row).error();
            if (!*row) break;
            if (limit >= 0 && static_cast<int64_t>(result.items.size()) == limit) {
                result.more = true;
                break;
            }
            result.items.push_back(KeyValue{std::string(q->text(0)), q->blob(3), q->int64(2), q->int64(1)});
        }
        if (!result.more) return {};
        auto remaining = live_after(db, range, result.items.back().key, result.revision);
        if (!remaining) return std::move(remaining).error();
        result.remaining = *remaining;
        return {};
    }

    // The number of live keys in the range after `last` created at or before `revision` (so live at it).
    Result<int64_t> live_after(Db& db, const Range& range, const std::string& last, int64_t revision) {
        auto q = db.query("SELECT COUNT(*) FROM current WHERE key > ?1" +
                          std::string(range.end.empty() ? "" : " AND key < ?2") + " AND created <= ?3");
        if (!q) return std::move(q).error();
        q->bind(1, last).bind(3, revision);
        if (!range.end.empty()) q->bind(2, range.end);
        auto row = q->step();
        if (!row) return std::move(row).error();
        return q->int64(0);
    }

    // A snapshot in the past, read off the latest state. A live key whose row is at or before the revision
    // is at the revision what it is now; a live key written since, and a key deleted since (its tombstone
    // is in the tombstone index, few for a list continued a moment later), is looked up at the revision.
    Status list_past(Db& db, const Range& range, int64_t limit, ListResult& result) {
        auto deleted = deleted_since(db, range, result.revision);
        if (!deleted) return std::move(deleted).error();
        auto at_revision = [&](const std::string& key) -> Result<std::optional<KeyValue>> {
            auto q = db.query(
                "SELECT id, created, deleted, value FROM kv WHERE key = ?1 AND id <= ?2 ORDER BY id DESC LIMIT 1");
            if (!q) return std::move(q).error();
            q->bind(1, key).bind(2, result.revision);
            auto row = q->step();
            if (!row) return std::move(row).error();
            if (!*row || q->int64(2) != 0) return std::optional<KeyValue>();
            return std::optional<KeyValue>(KeyValue{key, q->blob(3), q->int64(1), q->int64(0)});
        };
        // Adds kv unless the page is full, in which case there is more. False once full.
        auto add = [&](KeyValue kv) {
            if (limit >= 0 && static_cast<int64_t>(result.items.size()) == limit) {
                result.more = true;
                return false;
            }
            result.items.push_back(std::move(kv));
            return true;
        };
        // Adds the key's row at the revision, if it was live then.
        auto add_at_revision = [&](const std::string& key) -> Result<bool> {
            auto kv = at_revision(key);
            if (!kv) return std::move(kv).error();
            return !*kv || add(std::move(**kv));
        };
        // The deleted keys that sort before `before` (all of them when null), in order.
        size_t next_deleted = 0;
        auto add_deleted = [&](const std::string* before) -> Result<bool> {
            for (; next_deleted < deleted->size(); ++next_deleted) {
                const std::string& key = (*deleted)[next_deleted];
                if (before && key >= *before) break;
                auto added = add_at_revision(key);
                if (!added || !*added) return added;
            }
            return true;
        };
        auto q = db.query("SELECT c.key, c.id, c.created, k.value FROM current c JOIN kv k ON k.id = c.id WHERE " +
                          range.where("c.key") + " ORDER BY c.key");
        if (!q) return std::move(q).error();
        range.bind(*q);
        bool room = true;  // false once the page is full and one more key has been found
        while (room) {
            auto row = q->step();
            if (!row) return std::move(row).error();
            if (!*row) break;
            std::string key(q->text(0));
            auto added = add_deleted(&key);
            if (!added) return std::move(added).error();
            if (!*added) break;
            // A key deleted and created again since is looked up here, once.
            if (next_deleted < deleted->size() && (*deleted)[next_deleted] == key) ++next_deleted;
            if (q->int64(1) <= result.revision) {
                room = add(KeyValue{std::move(key), q->blob(3), q->int64(2), q->int64(1)});
            } else {
                added = add_at_revision(key);
                if (!added) return std::move(added).error();
                room = *added;
            }
        }
        if (room) {
            auto added = add_deleted(nullptr);
            if (!added) return std::move(added).error();
        }
        if (!result.more) return {};

        // remaining: the keys after the page live at the revision. A live key was, when it was created at or
        // before it; a key deleted since, when its row at the revision says so.
        const std::string& last = result.items.back().key;
        auto remaining = live_after(db, range, last, result.revision);
        if (!remaining) return std::move(remaining).error();
        result.remaining = *remaining;
        for (auto it = std::upper_bound(deleted->begin(), deleted->end(), last); it != deleted->end(); ++it) {
            auto kv = at_revision(*it);
            if (!kv) return std::move(kv).error();
            if (*kv) ++result.remaining;
        }
        return {};
    }

    // The keys in the range with a tombstone after `revision`, sorted.
    Result<std::vector<std::string>> deleted_since(Db& db, const Range& range, int64_t revision) {
        auto q = db.query("SELECT key FROM kv INDEXED BY kv_tombstones WHERE deleted = 1 AND id > ?3 AND " +
                          range.where("+key"));
        if (!q) return std::move(q).error();
        range.bind(*q);
        q->bind(3, revision);
        std::vector<std::string> keys;
        for (;;) {
            auto row = q->step();
            if (!row) return std::move(row).error();
            if (!*row) break;
            keys.emplace_back(q->text(0));
        }
        std::sort(keys.begin(), keys.end());
        keys.erase(std::unique(keys.begin(), keys.end()), keys.end());
        return keys;
    }

    struct Current {
        int64_t id = 0;
        int64_t created = 0;
    };

    Result<std::optional<Current>> current_row(const std::string& key) {
        auto q = writer_->query("SELECT id, created FROM current WHERE key = ?1");
        if (!q) return std::move(q).error();
        q->bind(1, key);
        auto row = q->step();
        if (!row) return std::move(row).error();
        if (!*row) return std::optional<Current>();
        return std::optional<Current>(Current{q->int64(0), q->int64(1)});
    }

    Result<std::string> value_at(int64_t id) {
        auto q = writer_->query("SELECT value FROM kv WHERE id = ?1");
        if (!q) return std::move(q).error();
        q->bind(1, id);
        auto row = q->step();
        if (!row) return std::move(row).error();
        if (!*row) return Error(EIO, "row " + std::to_string(id) + " is missing");
        return q->blob(0);
    }

    Status insert_row(int64_t id, const std::string& key, int64_t created, int64_t prev, bool deleted,
                      const std::string& value) {
        auto q = writer_->query(
            "INSERT INTO kv (id, key, created, prev, deleted, value) VALUES (?1, ?2, ?3, ?4, ?5, ?6)");
        if (!q) return std::move(q).error();
        q->bind(1, id).bind(2, key).bind(3, created).bind(5, int64_t{deleted ? 1 : 0}).bind_blob(6, value);
        if (prev > 0) q->bind(4, prev);
        else q->bind_null(4);
        return q->run();
    }

    // Runs sql with ?1 = key and ?2.. = the numbers.
    Status run(const char* sql, const std::string& key, std::initializer_list<int64_t> numbers = {}) {
        auto q = writer_->query(sql);
        if (!q) return std::move(q).error();
        q->bind(1, key);
        int index = 2;
        for (int64_t n : numbers) q->bind(index++, n);
        return q->run();
    }

    Error conflict(const Op& op, int64_t actual) {
        return Error(errc::conflict, std::string(op.kind == Op::Kind::update ? "update " : "delete ") + op.key +
                                         ": expected mod revision " + std::to_string(op.expected) +
                                         ", the key is at " + std::to_string(actual));
    }

    // One write inside the batch transaction, at revision rev. A refused write (exists, not
    // found, conflict) has written nothing; a database error leaves the caller to roll back.
    // wrote: set once the op has written to the database (its errors before that leave nothing to undo).
    Result<Applied> apply(const Op& op, int64_t rev, bool& wrote) {
        auto cur = current_row(op.key);
        if (!cur) return std::move(cur).error();
        Applied a;
        auto event = std::make_shared<Event>();
        if (op.kind == Op::Kind::create) {
            if (*cur) return Error(errc::exists, "create " + op.key + ": already exists");
            wrote = true;
            SKIFF_TRY(insert_row(rev, op.key, rev, 0, false, op.value));
            SKIFF_TRY(run("INSERT INTO current (key, id, created) VALUES (?1, ?2, ?3)", op.key, {rev, rev}));
            a.kv = KeyValue{op.key, op.value, rev, rev};
            event->kv = a.kv;
        } else {
            const char* verb = op.kind == Op::Kind::update ? "update " : "delete ";
            if (!*cur) return Error(errc::not_found, verb + op.key + ": not found");
            auto [id, created] = **cur;
            if (op.expected != 0 && op.expected != id) return conflict(op, id);
            auto old = value_at(id);
            if (!old) return std::move(old).error();
            event->prev = KeyValue{op.key, std::move(*old), created, id};
            wrote = true;
            if (op.kind == Op::Kind::update) {
                SKIFF_TRY(insert_row(rev, op.key, created, id, false, op.value));
                SKIFF_TRY(run("UPDATE current SET id = ?2 WHERE key = ?1", op.key, {rev}));
                a.kv = KeyValue{op.key, op.value, created, rev};
            } else {
                SKIFF_TRY(insert_row(rev, op.key, created, id, true, std::string()));
                SKIFF_TRY(run("DELETE FROM current WHERE key = ?1", op.key));
                event->type = Event::Type::del;
                a.kv = KeyValue{op.key, event->prev->value, created, rev};
            }
            event->kv = a.kv;
        }
        a.event = std::move(event);
        return a;
    }

    // Where a batch's time went, for the slow-batch warning.
    struct BatchTimes {
        Clock::duration reset{};       // the WAL reset the writer made happen first (before_write)
        Clock::duration statements{};  // BEGIN and the batch's statements
        Clock::duration commit{};      // COMMIT: the WAL frames written and fsynced
    };

    void warn_if_slow(size_t writes, const BatchTimes& t) {
        auto total = t.reset + t.statements + t.commit;
        if (options_.slow_batch.count() == 0 || total < options_.slow_batch) return;
        auto ms = [](Clock::duration d) {
            return std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(d).count());
        };
        log::warning("store: a batch of " + std::to_string(writes) +
                     (writes == 1 ? " write took " : " writes took ") + ms(total) +
                     " ms (WAL reset " + ms(t.reset) + " ms, statements " + ms(t.statements) +
                     " ms, commit and fsync " + ms(t.commit) + " ms) in " + path_);
    }

    void commit_batch(std::vector<std::unique_ptr<Op>>& batch, BatchTimes& times) {
        // Not Result<KeyValue>: GCC 12 warns (maybe-uninitialized) on moving those in a vector.
        struct Outcome {
            KeyValue kv;
            std::optional<Error> error;
        };
        std::vector<Outcome> results;
        std::vector<std::shared_ptr<const Event>> events;
        int64_t rev = revision_;
        auto started = Clock::now();
        Status status = writer_->exec("BEGIN IMMEDIATE");
        for (size_t i = 0; status && i < batch.size(); ++i) {
            bool wrote = false;
            auto applied = apply(*batch[i], rev + 1, wrote);
            if (applied) {
                ++rev;
                events.push_back(applied->event);
                results.push_back(Outcome{std::move(applied->kv), std::nullopt});
            } else if (!wrote) {  // refused (exists, not found, conflict) or a failed read: nothing to undo
                results.push_back(Outcome{KeyValue{}, std::move(applied).error()});
            } else {
                // A database error in the middle of a write (disk full, I/O): the whole batch is rolled back
                // and fails. A savepoint per op would undo just that op, but costs a sixth of the writer's
                // instructions per write.
                status = std::move(applied).error();
            }
        }
        auto committing = Clock::now();
        times.statements = committing - started;
        if (status) status = writer_->exec("COMMIT");
        times.commit = Clock::now() - committing;
        if (!status) {
            (void)writer_->exec("ROLLBACK");
            Error e = std::move(status).error().context("commit");
            for (auto& op : batch) op->done.set_value(e);
            return;
        }
        revision_ = rev;
        committed_.store(rev);
        hub_.publish(events, rev);
        for (size_t i = 0; i < batch.size(); ++i) {
            if (results[i].error) batch[i]->done.set_value(Result<KeyValue>(std::move(*results[i].error)));
            else batch[i]->done.set_value(Result<KeyValue>(std::move(results[i].kv)));
        }
    }

    // One compaction step towards target: removes the rows superseded by writes in
    // (compacted, step end] and the tombstones there. A row superseded later than that, or not
    // at all, is the key's value at the step end and stays.
    Status compact_step(int64_t target) {
        int64_t from = compacted_.load();
        int64_t to = std::min(target, from + kCompactStep);
        SKIFF_TRY(writer_->exec("BEGIN IMMEDIATE"));
        auto step = [&]() -> Status {
            auto q = writer_->query(
                "DELETE FROM kv WHERE id IN (SELECT prev FROM kv WHERE id > ?1 AND id <= ?2 AND prev IS NOT NULL)");
            if (!q) return std::move(q).error();
            q->bind(1, from).bind(2, to);
            SKIFF_TRY(q->run());
            auto t = writer_->query("DELETE FROM kv WHERE id > ?1 AND id <= ?2 AND deleted = 1");
            if (!t) return std::move(t).error();
            t->bind(1, from).bind(2, to);
            SKIFF_TRY(t->run());
            auto m = writer_->query("UPDATE meta SET value = ?1 WHERE name = 'compacted'");
            if (!m) return std::move(m).error();
            m->bind(1, to);
            return m->run();
        };
        Status s = step();
        if (s) s = writer_->exec("COMMIT");
        if (!s) {
            (void)writer_->exec("ROLLBACK");
            return std::move(s).error().context("compact to " + std::to_string(to));
        }
        compacted_.store(to);
        return {};
    }

    // Periodic compaction: remember which revision was current when, compact to the newest one
    // older than the retention.
    void schedule_compaction(Clock::time_point now) {
        samples_.emplace_back(now, revision_);
        int64_t target = 0;
        while (!samples_.empty() && samples_.front().first <= now - options_.compact_retention) {
            target = samples_.front().second;
            samples_.pop_front();
        }
        if (options_.compact_keep_revisions > 0) target = std::max(target, revision_ - options_.compact_keep_revisions);
        auto_target_ = std::max(auto_target_, target);
    }

    void writer_loop() {
        bool periodic = options_.compact_interval.count() > 0;
        auto next_sample = periodic ? Clock::now() + options_.compact_interval : Clock::time_point::max();
        // After a few idle seconds the connections' page caches go back to the heap (which the server
        // hands back to the kernel): a busy server keeps its cache, an idle one stays small.
        constexpr auto kIdleRelease = std::chrono::seconds(3);
        auto release_at = Clock::time_point::max();
        std::vector<std::unique_ptr<Op>> compacts;  // explicit compact() calls being worked on
        for (;;) {
            std::vector<std::unique_ptr<Op>> batch;
            {
                std::unique_lock lock(mu_);
                auto ready = [&] {
                    return stop_ || !queue_.empty() || !compacts.empty() || auto_target_ > compacted_.load();
                };
                auto wake = std::min(next_sample, release_at);
                if (wake != Clock::time_point::max()) cv_.wait_until(lock, wake, ready);
                else cv_.wait(lock, ready);
                if (stop_ && queue_.empty()) break;
                while (!queue_.empty() && batch.size() < options_.max_batch) {
                    auto op = std::move(queue_.front());
                    queue_.pop_front();
                    if (op->kind == Op::Kind::compact) compacts.push_back(std::move(op));
                    else batch.push_back(std::move(op));
                }
            }
            if (periodic && Clock::now() >= next_sample) {
                schedule_compaction(Clock::now());
                next_sample = Clock::now() + options_.compact_interval;
            }
            if (!batch.empty()) {
                BatchTimes times;
                auto taken = Clock::now();
                checkpointer_->before_write();
                times.reset = Clock::now() - taken;
                commit_batch(batch, times);
                warn_if_slow(batch.size(), times);
                release_at = Clock::now() + kIdleRelease;
                continue;  // writes first; compaction proceeds between batches
            }
            if (Clock::now() >= release_at) {
                sqlite3_db_release_memory(writer_->handle());
                checkpointer_->release_memory();
                readers_.release_idle_memory();
                release_thread_cache();
                release_at = Clock::time_point::max();
            }
            int64_t target = auto_target_;
            for (auto& c : compacts) target = std::max(target, c->expected);
            if (target > compacted_.load()) {
                release_at = Clock::now() + kIdleRelease;
                checkpointer_->before_write();
                if (auto s = compact_step(target); !s) {
                    for (auto& c : compacts) c->done.set_value(s.error());
                    compacts.clear();
                    auto_target_ = compacted_.load();
                    continue;
                }
            }
            std::erase_if(compacts, [&](std::unique_ptr<Op>& c) {
                if (c->expected > compacted_.load()) return false;
                c->done.set_value(KeyValue{});
                return true;
            });
        }
        for (auto& c : compacts) c->done.set_value(Error(errc::closed, "store is closed"));
    }

    const std::string path_;
    const SqliteOptions options_;
    std::unique_ptr<Db> writer_;  // used by the writer thread only (and open())
    std::unique_ptr<WalCheckpointer> checkpointer_;
    ReaderPool readers_;
    Hub hub_;
    std::thread thread_;

    std::mutex mu_;
    std::condition_variable cv_;
    std::deque<std::unique_ptr<Op>> queue_;
    bool stop_ = false;

    int64_t revision_ = 0;  // writer thread: the last committed revision
    std::atomic<int64_t> committed_{0};
    std::atomic<int64_t> compacted_{0};
    int64_t auto_target_ = 0;  // writer thread
    std::deque<std::pair<Clock::time_point, int64_t>> samples_;
};

class SqliteWatch final : public Watch {
public:
    SqliteWatch(std::shared_ptr<Engine> engine, std::shared_ptr<WatchState> state)
        : engine_(std::move(engine)), state_(std::move(state)) {}
    ~SqliteWatch() override {
        close();
        engine_->hub().remove(state_);
    }

    void close() override {
        std::lock_guard lock(engine_->hub().mu);
        state_->closed = true;
        state_->cv.notify_all();
    }

    Result<std::vector<Event>> next(std::chrono::milliseconds timeout) override {
        Hub& hub = engine_->hub();
        auto deadline = Clock::now() + timeout;
        std::unique_lock lock(hub.mu);
        WatchState& w = *state_;
        for (;;) {
            if (w.closed) return Error(errc::closed, "watch " + w.prefix + ": closed");
            if (hub.shutdown) return Error(errc::closed, "watch " + w.prefix + ": store is closed");
            if (w.overflow) {
                w.overflow = false;
                w.catchup_to = hub.published;
            }
            if (w.delivered < w.catchup_to) {
                int64_t from = w.delivered;
                int64_t to = w.catchup_to;
                lock.unlock();
                auto r = engine_->replay(w.prefix, from, to);
                lock.lock();
                if (!r) return std::move(r).error().context("watch " + w.prefix);
                // Another next() on this watch is a caller's bug; keep the revision moving forward.
                w.delivered = std::max(w.delivered, r->second);
                if (!r->first.empty()) return std::move(r->first);
                continue;
            }
            if (!w.queue.empty()) {
                std::vector<Event> events;
                for (auto& e : w.queue) {
                    if (e->revision() <= w.delivered) continue;
                    events.push_back(*e);
                }
                w.queue.clear();
                if (!events.empty()) {
                    w.delivered = events.back().revision();
                    return events;
                }
                continue;
            }
            if (w.cv.wait_until(lock, deadline) == std::cv_status::timeout && w.queue.empty() && !w.overflow &&
                !w.closed && !hub.shutdown)
                return std::vector<Event>();
        }
    }

private:
    std::shared_ptr<Engine> engine_;
    std::shared_ptr<WatchState> state_;
};

Result<std::unique_ptr<Watch>> Engine::watch(const std::string& prefix, int64_t from) {
    int64_t compacted = compacted_.load();
    if (from > 0 && from < compacted)
        return compacted_error(from, compacted).context("watch " + prefix);
    auto state = hub_.add(prefix, from);
    return std::unique_ptr<Watch>(new SqliteWatch(shared_from_this(), std::move(state)));
}

class SqliteStore final : public Store {
public:
    explicit SqliteStore(std::shared_ptr<Engine> engine) : engine_(std::move(engine)) {}
    ~SqliteStore() override { engine_->shut_down(); }

    Result<KeyValue> create(const std::string& key, const std::string& value) override {
        return engine_->submit(Op::Kind::create, key, value, 0);
    }
    Result<KeyValue> get(const std::string& key) override { return engine_->get(key); }
    Result<ListResult> list(const std::string& prefix, const ListOptions& options) override {
        return engine_->list(prefix, options);
    }
    Result<KeyValue> update(const std::string& key, const std::string& value, int64_t expected) override {
        return engine_->submit(Op::Kind::update, key, value, expected);
    }
    Result<KeyValue> remove(const std::string& key, int64_t expected) override {
        return engine_->submit(Op::Kind::remove, key, std::string(), expected);
    }
    Result<std::unique_ptr<Watch>> watch(const std::string& prefix, int64_t from) override {
        return engine_->watch(prefix, from);
    }
    Result<int64_t> current_revision() override { return engine_->committed(); }
    Result<int64_t> compacted_revision() override { return engine_->compacted(); }
    Status compact(int64_t revision) override {
        if (revision > engine_->committed())
            return Error(errc::future_revision, "compact to " + std::to_string(revision) +
                                                    ": newer than the store's revision " +
                                                    std::to_string(engine_->committed()));
        if (revision <= engine_->compacted()) return {};
        auto r = engine_->submit(Op::Kind::compact, std::string(), std::string(), revision);
        if (!r) return std::move(r).error();
        return {};
    }

private:
    std::shared_ptr<Engine> engine_;
};

}  // namespace

Result<std::unique_ptr<Store>> open_sqlite(const std::string& path, const SqliteOptions& options) {
    auto engine = std::make_shared<Engine>(path, options);
    if (auto s = engine->open(); !s) return std::move(s).error().context("open store " + path);
    return std::unique_ptr<Store>(new SqliteStore(std::move(engine)));
}

}  // namespace skiff::store
