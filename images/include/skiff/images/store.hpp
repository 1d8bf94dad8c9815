// The content-addressed image store: verified blobs, shared layer snapshots, named refs and GC.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "skiff/base/result.hpp"
#include "skiff/base/unique_fd.hpp"
#include "skiff/images/digest.hpp"

namespace skiff::images {

// What one manifest points at, as the (format-aware) caller reads it; the store walks `manifests`
// recursively and keeps `blobs` and `snapshots` (layer diff ids) alive.
struct References {
    std::vector<Digest> manifests;  // child manifests of an index / manifest list
    std::vector<Digest> blobs;      // config, layers, any other leaf blob
    std::vector<Digest> snapshots;  // diff ids of the unpacked layers
};
// Called for each reachable manifest present in the store; an error aborts prune/usage, so a
// manifest the caller can't read never causes its content to be deleted.
using ReferencesFn = std::function<Result<References>(const Digest& manifest)>;

// Fills an empty directory with one unpacked layer.
using FillFn = std::function<Status(const std::string& dir)>;

struct PruneReport {
    uint64_t blobs_removed = 0;
    uint64_t snapshots_removed = 0;
    uint64_t temps_removed = 0;  // leftovers of killed ingests and unpacks
    uint64_t bytes_freed = 0;
};

// One object and how many refs reach it (from the mark phase).
struct ObjectUsage {
    uint64_t bytes = 0;
    unsigned refs = 0;
};

// Per image (a root manifest digest; tags naming the same manifest are one image).
struct ImageUsage {
    std::vector<std::string> names;
    uint64_t total_bytes = 0;   // everything it reaches
    uint64_t unique_bytes = 0;  // reached by no other image: what `image rm` + prune frees
    uint64_t shared_bytes = 0;  // total - unique
};

struct StoreUsage {
    std::map<std::string, ImageUsage> images;      // key: manifest digest string
    std::map<std::string, ObjectUsage> blobs;      // key: digest string, every blob on disk
    std::map<std::string, ObjectUsage> snapshots;  // key: diff id string, every snapshot on disk
    uint64_t reclaimable_bytes = 0;                // what prune would free now (refs == 0)
};

struct StoreOptions {
    // Power-loss durability of content: fsync each blob and syncfs each unpacked layer before it
    // gets its final name, so a power cut can't leave a complete-looking blob or snapshot with
    // empty files. Costs ~0.1-0.2 s per 50 MB layer here. Crash safety against a killed process
    // doesn't need it (temp files + rename); the skiff CLI turns it off, as podman does not sync
    // layers either. Refs are always synced.
    bool sync_content = true;
};

class Store;

// A shared hold on the store's GC lock: prune waits until every lease is gone. A pull takes one
// before its first blob and drops it after set_ref, so nothing it wrote is swept in between.
class PullLease {
public:
    PullLease() = default;
    PullLease(PullLease&&) noexcept = default;
    PullLease& operator=(PullLease&&) noexcept = default;
    ~PullLease();
    void release();

private:
    friend class Store;
    PullLease(UniqueFd fd, std::shared_ptr<std::atomic<int>> live);
    UniqueFd fd_;
    std::shared_ptr<std::atomic<int>> live_;
};

// Streams one blob into ingest/, hashing as it goes; commit() verifies and publishes it.
// Destroying an uncommitted writer removes its temp file.
class BlobWriter {
public:
    BlobWriter(BlobWriter&&) noexcept;
    BlobWriter& operator=(BlobWriter&&) noexcept;
    ~BlobWriter();

    [[nodiscard]] Status write(const void* data, size_t size);
    [[nodiscard]] Status write(std::string_view data) { return write(data.data(), data.size()); }
    // Checks size and digest, fsyncs (sync_content), makes the file 0444 and renames it to blobs/; returns the
    // blob's path. On any failure the temp file is gone and nothing was published.
    [[nodiscard]] Result<std::string> commit();
    void abort();
    uint64_t written() const;

private:
    friend class Store;
    struct State;
    explicit BlobWriter(std::unique_ptr<State> s);
    std::unique_ptr<State> s_;
};

class Store {
public:
    // Creates the layout under root if needed and removes temp files no live process owns.
    [[nodiscard]] static Result<Store> open(const std::string& root, StoreOptions options = {});

    const std::string& root() const { return root_; }

    // Blobs. Only sha256 digests are accepted.
    [[nodiscard]] Result<BlobWriter> begin_blob(const Digest& expected,
                                                std::optional<uint64_t> expected_size);
    [[nodiscard]] Result<Digest> put_blob(std::string_view bytes);
    bool has_blob(const Digest& d) const;
    // Where the blob is (or would be); d must be a valid digest.
    std::string blob_path(const Digest& d) const;
    // Reads a (small) blob. It is not hashed again: every blob was verified when it was committed
    // and is a read-only file in a root-only directory, as containerd trusts its content store.
    // Hashing here would load libcrypto on every `skiff run` (~9M instructions, half its cost).
    [[nodiscard]] Result<std::string> read_blob(const Digest& d) const;

    // Refs: opaque names to manifest digests, in refs.json. set_ref requires the blob present.
    [[nodiscard]] Status set_ref(const std::string& name, const Digest& manifest);
    [[nodiscard]] Result<Digest> get_ref(const std::string& name) const;
    [[nodiscard]] Status remove_ref(const std::string& name);  // ENOENT if absent
    [[nodiscard]] Result<std::map<std::string, Digest>> list_refs() const;

    // Snapshots: returns snapshots/<hex>, filling it through fill exactly once across processes.
    [[nodiscard]] Result<std::string> ensure_snapshot(const Digest& diff_id, const FillFn& fill);
    bool has_snapshot(const Digest& diff_id) const;
    std::string snapshot_path(const Digest& diff_id) const;

    // Holds off prune until released. Don't prune from a process while it holds a lease of the
    // same Store (that would wait for itself; prune reports EDEADLK instead).
    [[nodiscard]] Result<PullLease> lease() const;

    // Mark from refs through refs_of, sweep everything else (blobs, snapshots, dead temp files).
    // Waits for every lease.
    [[nodiscard]] Result<PruneReport> prune(const ReferencesFn& refs_of);
    // The mark phase alone, with sizes; holds a lease (pulls go on, prune waits).
    [[nodiscard]] Result<StoreUsage> usage(const ReferencesFn& refs_of) const;

private:
    Store(std::string root, StoreOptions options);
    [[nodiscard]] Result<UniqueFd> lock_gc(bool exclusive) const;
    [[nodiscard]] Result<std::map<std::string, Digest>> read_refs() const;

    std::string root_;
    StoreOptions options_;
    // Leases this object handed out and that are still live: lets prune refuse to self-deadlock.
    std::shared_ptr<std::atomic<int>> live_leases_;
};

}  // namespace skiff::images
