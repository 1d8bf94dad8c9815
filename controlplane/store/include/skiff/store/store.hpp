// The control plane's key-value store: etcd's data model (one global revision, history, watch)
// behind one interface, with two backends: embedded SQLite and a real etcd cluster.
#pragma once

#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "skiff/base/result.hpp"

namespace skiff::store {

// Error codes (Error::code()) that callers act on; anything else is an I/O or database failure.
namespace errc {
inline constexpr int exists = EEXIST;         // create of a key that is present
inline constexpr int not_found = ENOENT;      // get/update/remove of a key that is absent
inline constexpr int conflict = ESTALE;       // expected_mod_revision is not the key's mod revision
inline constexpr int compacted = ENODATA;     // a revision older than the compacted one (HTTP 410)
inline constexpr int future_revision = ERANGE;  // a revision newer than the store's
inline constexpr int closed = ECANCELED;      // the watch was closed, or the store shut down
}  // namespace errc

// One version of a key. Revisions are the store's global revision counter: every create, update
// and delete makes exactly one new revision, so mod_revision is the object's resourceVersion.
struct KeyValue {
    std::string key;
    std::string value;
    int64_t create_revision = 0;
    int64_t mod_revision = 0;
};

struct Event {
    enum class Type { put, del };
    Type type = Type::put;
    // put: the new version. del: the last value, with mod_revision = the delete's revision.
    KeyValue kv;
    // The version this event replaced (the last value for a delete); none for a create.
    std::optional<KeyValue> prev;
    int64_t revision() const { return kv.mod_revision; }
};

struct ListOptions {
    int64_t limit = 0;        // 0 = no limit
    std::string start_after;  // continue token: only keys > this
    int64_t revision = 0;     // 0 = latest; else the snapshot at that revision
};

struct ListResult {
    std::vector<KeyValue> items;  // sorted by key (byte order)
    int64_t revision = 0;         // the snapshot the list was read at: pass it to the next page
    bool more = false;            // keys remain after the last item
    int64_t remaining = 0;        // how many
};

// A stream of events for keys with a prefix, in revision order, each revision once.
class Watch {
public:
    virtual ~Watch();
    // The next events (at least one), or none when timeout passes first. Fails with
    // errc::compacted if the history it needs was compacted meanwhile (the watcher fell behind),
    // errc::closed after close() or when the store shuts down.
    [[nodiscard]] virtual Result<std::vector<Event>> next(std::chrono::milliseconds timeout) = 0;
    // Wakes a blocked next(); may be called from any thread.
    virtual void close() = 0;
};

// Thread-safe: any number of threads may call any method at once. Each write is atomic and
// durable when it returns (as far as the backend's sync option promises).
class Store {
public:
    virtual ~Store();

    // errc::exists if the key is present.
    [[nodiscard]] virtual Result<KeyValue> create(const std::string& key, const std::string& value) = 0;
    // errc::not_found if absent.
    [[nodiscard]] virtual Result<KeyValue> get(const std::string& key) = 0;
    // Keys starting with prefix (plain string prefix: "/registry/pods" also matches
    // "/registry/podsecurity/x"; the API layer passes prefixes ending in '/'). revision older than
    // the compacted revision: errc::compacted; newer than the store's: errc::future_revision.
    [[nodiscard]] virtual Result<ListResult> list(const std::string& prefix, const ListOptions& options) = 0;
    // expected_mod_revision 0 = unconditional. errc::not_found if absent (also unconditional),
    // errc::conflict (message names both revisions) if the key was modified since.
    [[nodiscard]] virtual Result<KeyValue> update(const std::string& key, const std::string& value,
                                                  int64_t expected_mod_revision) = 0;
    // Returns the deleted value with mod_revision = the delete's revision (as the del event).
    [[nodiscard]] virtual Result<KeyValue> remove(const std::string& key, int64_t expected_mod_revision = 0) = 0;
    // Events with revision > from_revision for keys starting with prefix: the history first, then
    // live ones as they are written. from_revision 0 = from the current revision (live only).
    // from_revision older than the compacted revision: errc::compacted.
    [[nodiscard]] virtual Result<std::unique_ptr<Watch>> watch(const std::string& prefix, int64_t from_revision) = 0;
    [[nodiscard]] virtual Result<int64_t> current_revision() = 0;
    // The revision history before `revision` is compacted away: lists and watches at older
    // revisions fail with errc::compacted; each key's value at `revision` is kept. Compacting to
    // a revision at or below the compacted one does nothing.
    [[nodiscard]] virtual Result<int64_t> compacted_revision() = 0;
    [[nodiscard]] virtual Status compact(int64_t revision) = 0;
};

struct SqliteOptions {
    // full: the WAL is fsynced at every commit; a returned write survives power loss.
    // normal: no fsync at commit (only at checkpoints): a power loss may lose the last writes,
    // never corrupt the file or leave half an operation. Process crashes lose nothing either way.
    enum class Sync { full, normal };
    Sync sync = Sync::full;
    // Group commit: the writer thread puts at most this many queued writes in one transaction.
    size_t max_batch = 1000;
    // Automatic compaction: every interval, compact to the revision that was current `retention`
    // ago (etcd's periodic mode; kube-apiserver compacts every 5 minutes). interval 0 = off.
    std::chrono::milliseconds compact_interval = std::chrono::seconds(60);
    std::chrono::milliseconds compact_retention = std::chrono::minutes(5);
    // > 0: also compact so that no more than this many revisions of history are kept.
    int64_t compact_keep_revisions = 0;
    // Live events a watcher may have waiting; past that it drops them and reads the history from
    // the database when it calls next() (no event is lost unless compaction overtakes it).
    size_t watch_queue_limit = 10000;
    // A batch of writes that takes longer than this, from the writer taking it to its commit's
    // fsync returning, is logged as a warning with where the time went (etcd warns the same way
    // about an apply that took too long). 0 = off.
    std::chrono::milliseconds slow_batch = std::chrono::milliseconds(100);
};

// Opens (creating if needed) the SQLite store at path (plus path-wal, path-shm beside it).
[[nodiscard]] Result<std::unique_ptr<Store>> open_sqlite(const std::string& path, const SqliteOptions& options = {});

struct EtcdOptions {
    // Client URLs of the cluster's members, "http://127.0.0.1:2379" (plain HTTP: the v3 JSON
    // gateway). Host names are resolved once, when the store opens.
    std::vector<std::string> endpoints;
    // One operation, failover to other members and retries included. An attempt that may be
    // retried waits at most half of it for its answer, so another member can still answer.
    std::chrono::milliseconds request_timeout{5000};
    // Connecting to one member; a member that doesn't answer in time is skipped.
    std::chrono::milliseconds dial_timeout{1000};
    // Prepended to every key (as kube-apiserver's --etcd-prefix): several stores can share one
    // cluster. Keys in results and events come back without it.
    std::string key_prefix;
    // Idle keep-alive connections kept per member; more are opened while more threads call at once.
    size_t max_idle_connections = 32;
};

// Opens a store over a running etcd (v3.4+) cluster; fails when no endpoint answers.
[[nodiscard]] Result<std::unique_ptr<Store>> open_etcd(const EtcdOptions& options);
// "etcd://host:port[,host:port...]" (skiff server --datastore) -> options with those endpoints.
[[nodiscard]] Result<EtcdOptions> parse_etcd_datastore(const std::string& url);

}  // namespace skiff::store
