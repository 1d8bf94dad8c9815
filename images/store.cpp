// The content-addressed image store: ingest through verified temp files, flock-based coordination.
#include "skiff/images/store.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <nlohmann/json.hpp>
#include <set>

#include "skiff/base/fs.hpp"

namespace skiff::images {

namespace {

constexpr const char* kTmpSnapshotPrefix = ".tmp-";
constexpr const char* kLockSnapshotPrefix = ".lock-";

bool is_hex64(std::string_view s) {
    if (s.size() != 64) return false;
    for (char c : s)
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
    return true;
}

// Digests come from the network; only well-formed sha256 ones may become path components.
Status check_sha256(const Digest& d) {
    if (d.algorithm != "sha256" || !is_hex64(d.hex))
        return Error(EINVAL, "unsupported or malformed digest \"" + d.str() + "\"");
    return {};
}

std::string random_suffix() {
    unsigned char b[8];
    // getrandom of 8 bytes from an initialised pool neither blocks nor fails short.
    if (::getrandom(b, sizeof b, 0) != static_cast<ssize_t>(sizeof b)) abort();
    static const char* hexdigits = "0123456789abcdef";
    std::string s;
    for (unsigned char c : b) {
        s += hexdigits[c >> 4];
        s += hexdigits[c & 15];
    }
    return s;
}

Status flock_retry(int fd, int op, const std::string& what) {
    while (::flock(fd, op) != 0) {
        if (errno == EINTR) continue;
        return Error::from_errno("flock " + what);
    }
    return {};
}

Status fsync_path(const std::string& path) {
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!fd) return Error::from_errno("open " + path);
    if (::fsync(fd.get()) != 0) return Error::from_errno("fsync " + path);
    return {};
}

// Sum of st_size of everything below dirfd (the name itself included), hard links once.
void tree_bytes(int dirfd, const char* name, std::set<std::pair<dev_t, ino_t>>& seen,
                uint64_t& total) {
    struct stat st{};
    if (::fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0) return;
    if (!S_ISDIR(st.st_mode)) {
        if (st.st_nlink > 1 && !seen.insert({st.st_dev, st.st_ino}).second) return;
        total += static_cast<uint64_t>(st.st_size);
        return;
    }
    int fd = ::openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) return;
    DIR* dir = ::fdopendir(fd);
    if (!dir) {
        ::close(fd);
        return;
    }
    while (dirent* e = ::readdir(dir)) {
        std::string_view n = e->d_name;
        if (n == "." || n == "..") continue;
        tree_bytes(::dirfd(dir), e->d_name, seen, total);
    }
    ::closedir(dir);
}

uint64_t path_bytes(const std::string& path) {
    std::set<std::pair<dev_t, ino_t>> seen;
    uint64_t total = 0;
    tree_bytes(AT_FDCWD, path.c_str(), seen, total);
    return total;
}

Result<std::vector<std::string>> list_dir(const std::string& path) {
    DIR* dir = ::opendir(path.c_str());  // opendir uses O_CLOEXEC itself
    if (!dir) return Error::from_errno("opendir " + path);
    std::vector<std::string> names;
    while (dirent* e = ::readdir(dir)) {
        std::string_view n = e->d_name;
        if (n != "." && n != "..") names.emplace_back(n);
    }
    ::closedir(dir);
    return names;
}

// Creates a temp file (O_EXCL) and takes its flock. A reaper may have taken the lock between
// our open and flock and unlinked the file; then the inode has no links and we try again.
Result<std::pair<UniqueFd, std::string>> create_locked_temp(const std::string& dir,
                                                            const std::string& stem) {
    for (int attempt = 0; attempt < 16; ++attempt) {
        std::string path = dir + "/" + stem + "-" + random_suffix();
        UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
        if (!fd) {
            if (errno == EEXIST) continue;
            return Error::from_errno("create " + path);
        }
        SKIFF_TRY(flock_retry(fd.get(), LOCK_EX, path));
        struct stat st{};
        if (::fstat(fd.get(), &st) != 0) return Error::from_errno("fstat " + path);
        if (st.st_nlink == 0) continue;
        return std::make_pair(std::move(fd), path);
    }
    return Error(EAGAIN, "create a temp file in " + dir + ": too many collisions");
}

// Same for a temp directory.
Result<std::pair<UniqueFd, std::string>> create_locked_temp_dir(const std::string& dir,
                                                                const std::string& stem) {
    for (int attempt = 0; attempt < 16; ++attempt) {
        std::string path = dir + "/" + stem + "-" + random_suffix();
        if (::mkdir(path.c_str(), 0755) != 0) {
            if (errno == EEXIST) continue;
            return Error::from_errno("mkdir " + path);
        }
        UniqueFd fd(::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
        if (!fd) {
            if (errno == ENOENT) continue;
            return Error::from_errno("open " + path);
        }
        SKIFF_TRY(flock_retry(fd.get(), LOCK_EX, path));
        struct stat st{};
        if (::fstat(fd.get(), &st) != 0) return Error::from_errno("fstat " + path);
        if (st.st_nlink == 0) continue;
        return std::make_pair(std::move(fd), path);
    }
    return Error(EAGAIN, "create a temp directory in " + dir + ": too many collisions");
}

// Removes a temp file or directory if no live process holds its flock (the owner's death
// released it). Returns the bytes freed, or nothing when it is in use or already gone.
std::optional<uint64_t> reap_temp(const std::string& path) {
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
    if (!fd) return std::nullopt;
    if (::flock(fd.get(), LOCK_EX | LOCK_NB) != 0) return std::nullopt;
    uint64_t bytes = path_bytes(path);
    struct stat st{};
    if (::fstat(fd.get(), &st) != 0) return std::nullopt;
    if (S_ISDIR(st.st_mode)) {
        if (!fs::remove_all(path)) return std::nullopt;
    } else if (::unlink(path.c_str()) != 0) {
        return std::nullopt;
    }
    return bytes;
}

// Every temp in ingest/ and snapshots/.tmp-*; returns (count, bytes) removed.
std::pair<uint64_t, uint64_t> reap_temps(const std::string& root) {
    uint64_t count = 0, bytes = 0;
    auto reap_in = [&](const std::string& dir, std::string_view prefix) {
        auto names = list_dir(dir);
        if (!names) return;
        for (const auto& n : *names) {
            if (n.compare(0, prefix.size(), prefix) != 0) continue;
            if (auto b = reap_temp(dir + "/" + n)) {
                ++count;
                bytes += *b;
            }
        }
    };
    reap_in(root + "/ingest", "");
    reap_in(root + "/snapshots", kTmpSnapshotPrefix);
    return {count, bytes};
}

Status write_all(int fd, const void* data, size_t size, const std::string& what) {
    const char* p = static_cast<const char*>(data);
    while (size > 0) {
        ssize_t n = ::write(fd, p, size);
        if (n < 0) {
            if (errno == EINTR) continue;
            return Error::from_errno(what);
        }
        p += n;
        size -= static_cast<size_t>(n);
    }
    return {};
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// PullLease

PullLease::PullLease(UniqueFd fd, std::shared_ptr<std::atomic<int>> live)
    : fd_(std::move(fd)), live_(std::move(live)) {
    if (live_) ++*live_;
}

PullLease::~PullLease() { release(); }

void PullLease::release() {
    if (!fd_) return;
    fd_.reset();
    if (live_) --*live_;
}

// ---------------------------------------------------------------------------------------------
// BlobWriter

struct BlobWriter::State {
    UniqueFd fd;
    std::string tmp_path;
    std::string final_path;
    Digest expected;
    std::optional<uint64_t> expected_size;
    Sha256 hash;
    uint64_t written = 0;
    uint64_t flushing_from = 0;  // writeback started up to here
    bool sync = true;             // StoreOptions::sync_content
    bool finished = false;

    std::string name() const { return "ingest blob " + expected.str(); }

    // commit() fsyncs, and a 50 MB layer's fsync alone took 0.2 s. Starting the writeback of
    // every full 8 MiB as it is written (without waiting for it) leaves the fsync only the tail.
    void start_writeback() {
        constexpr uint64_t kChunk = 8 << 20;
        if (!sync || written - flushing_from < kChunk) return;
        uint64_t len = (written - flushing_from) / kChunk * kChunk;
        // Advisory: an error here leaves the data to the final fsync, which reports it.
        (void)::sync_file_range(fd.get(), static_cast<off64_t>(flushing_from),
                                static_cast<off64_t>(len), SYNC_FILE_RANGE_WRITE);
        flushing_from += len;
    }
};

BlobWriter::BlobWriter(std::unique_ptr<State> s) : s_(std::move(s)) {}
BlobWriter::BlobWriter(BlobWriter&&) noexcept = default;
BlobWriter& BlobWriter::operator=(BlobWriter&& o) noexcept {
    if (this != &o) {
        abort();
        s_ = std::move(o.s_);
    }
    return *this;
}
BlobWriter::~BlobWriter() { abort(); }

uint64_t BlobWriter::written() const { return s_ ? s_->written : 0; }

void BlobWriter::abort() {
    if (!s_ || s_->finished) return;
    s_->finished = true;
    // Unlink while still holding the flock, so no reaper can see a half-removed state.
    ::unlink(s_->tmp_path.c_str());
    s_->fd.reset();
}

Status BlobWriter::write(const void* data, size_t size) {
    if (!s_ || s_->finished) return Error(EINVAL, "write to a finished blob writer");
    if (s_->expected_size && s_->written + size > *s_->expected_size) {
        Error e(EFBIG, s_->name() + ": more than the expected " +
                           std::to_string(*s_->expected_size) + " bytes");
        abort();
        return e;
    }
    if (auto r = write_all(s_->fd.get(), data, size, s_->name() + ": write " + s_->tmp_path); !r) {
        abort();  // a full disk must leave nothing behind
        return r;
    }
    s_->hash.update(data, size);
    s_->written += size;
    s_->start_writeback();
    return {};
}

Result<std::string> BlobWriter::commit() {
    if (!s_ || s_->finished) return Error(EINVAL, "commit of a finished blob writer");
    State& s = *s_;
    auto fail = [&](Error e) -> Error {
        abort();
        return e;
    };
    if (s.expected_size && s.written != *s.expected_size)
        return fail(Error(EINVAL, s.name() + ": size mismatch: expected " +
                                      std::to_string(*s.expected_size) + " bytes, got " +
                                      std::to_string(s.written)));
    Digest actual = s.hash.finish();
    if (actual != s.expected)
        return fail(Error(EINVAL, s.name() + ": digest mismatch: expected " + s.expected.str() +
                                      ", got " + actual.str()));
    // The data must be on disk before the name is: after a power cut, a blob under blobs/ is whole.
    if (s.sync && ::fsync(s.fd.get()) != 0) return fail(Error::from_errno(s.name() + ": fsync"));
    if (::fchmod(s.fd.get(), 0444) != 0) return fail(Error::from_errno(s.name() + ": chmod"));
    // Replacing an identical blob that a concurrent ingest published first is harmless.
    if (::rename(s.tmp_path.c_str(), s.final_path.c_str()) != 0)
        return fail(Error::from_errno(s.name() + ": rename to " + s.final_path));
    s.finished = true;
    s.fd.reset();
    return s.final_path;
}

// ---------------------------------------------------------------------------------------------
// Store

Store::Store(std::string root, StoreOptions options)
    : root_(std::move(root)),
      options_(options),
      live_leases_(std::make_shared<std::atomic<int>>(0)) {}

Result<Store> Store::open(const std::string& root, StoreOptions options) {
    if (root.empty()) return Error(EINVAL, "open image store: empty root");
    for (const char* sub : {"/blobs/sha256", "/ingest", "/snapshots"})
        SKIFF_TRY_CTX(fs::make_dirs(root + sub, 0755), "open image store " + root);
    // Cheap: ingest/ is empty and snapshots/ small unless something crashed.
    reap_temps(root);
    return Store(root, options);
}

std::string Store::blob_path(const Digest& d) const {
    return root_ + "/blobs/" + d.algorithm + "/" + d.hex;
}

bool Store::has_blob(const Digest& d) const {
    if (!check_sha256(d)) return false;
    struct stat st{};
    return ::stat(blob_path(d).c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

Result<BlobWriter> Store::begin_blob(const Digest& expected,
                                     std::optional<uint64_t> expected_size) {
    SKIFF_TRY_CTX(check_sha256(expected), "ingest blob");
    auto tmp = create_locked_temp(root_ + "/ingest", "sha256-" + expected.hex);
    if (!tmp) return std::move(tmp).error().context("ingest blob " + expected.str());
    auto s = std::make_unique<BlobWriter::State>();
    s->sync = options_.sync_content;
    s->fd = std::move(tmp->first);
    s->tmp_path = std::move(tmp->second);
    s->final_path = blob_path(expected);
    s->expected = expected;
    s->expected_size = expected_size;
    return BlobWriter(std::move(s));
}

Result<Digest> Store::put_blob(std::string_view bytes) {
    Digest d = sha256_of(bytes);
    if (has_blob(d)) return d;
    auto w = begin_blob(d, bytes.size());
    if (!w) return std::move(w).error();
    SKIFF_TRY(w->write(bytes));
    auto path = w->commit();
    if (!path) return std::move(path).error();
    return d;
}

Result<std::string> Store::read_blob(const Digest& d) const {
    SKIFF_TRY_CTX(check_sha256(d), "read blob");
    auto data = fs::read_file(blob_path(d));
    if (!data) return std::move(data).error().context("read blob " + d.str());
    return data;
}

// ----- refs

Result<UniqueFd> Store::lock_gc(bool exclusive) const {
    std::string path = root_ + "/lock";
    UniqueFd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
    if (!fd) return Error::from_errno("open " + path);
    SKIFF_TRY(flock_retry(fd.get(), exclusive ? LOCK_EX : LOCK_SH, path));
    return fd;
}

Result<PullLease> Store::lease() const {
    auto fd = lock_gc(false);
    if (!fd) return std::move(fd).error().context("take pull lease");
    return PullLease(std::move(*fd), live_leases_);
}

Result<std::map<std::string, Digest>> Store::read_refs() const {
    std::string path = root_ + "/refs.json";
    std::map<std::string, Digest> refs;
    auto text = fs::read_file(path);
    if (!text) {
        if (text.error().code() == ENOENT) return refs;
        return std::move(text).error();
    }
    auto j = nlohmann::json::parse(*text, nullptr, false);
    if (j.is_discarded() || !j.is_object() || !j.contains("refs") || !j["refs"].is_object())
        return Error(EINVAL, path + ": not a refs file");
    for (auto& [name, value] : j["refs"].items()) {
        if (!value.is_string()) return Error(EINVAL, path + ": ref \"" + name + "\" not a string");
        auto d = Digest::parse(value.get<std::string>());
        if (!d) return std::move(d).error().context(path + ": ref \"" + name + "\"");
        refs.emplace(name, std::move(*d));
    }
    return refs;
}

namespace {

// Writers serialise on refs.lock; readers need no lock because refs.json is only ever replaced
// by rename.
Result<UniqueFd> lock_refs(const std::string& root) {
    std::string path = root + "/refs.lock";
    UniqueFd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
    if (!fd) return Error::from_errno("open " + path);
    SKIFF_TRY(flock_retry(fd.get(), LOCK_EX, path));
    return fd;
}

Status write_refs(const std::string& root, const std::map<std::string, Digest>& refs) {
    nlohmann::json obj = nlohmann::json::object();
    for (const auto& [name, d] : refs) obj[name] = d.str();
    std::string text = nlohmann::json{{"refs", obj}}.dump(2) + "\n";
    std::string path = root + "/refs.json";
    // A fixed temp name is safe: only the refs.lock holder writes it.
    std::string tmp = path + ".tmp";
    {
        UniqueFd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
        if (!fd) return Error::from_errno("open " + tmp);
        if (auto r = write_all(fd.get(), text.data(), text.size(), "write " + tmp);
            !r || ::fsync(fd.get()) != 0) {
            Error e = r ? Error::from_errno("fsync " + tmp) : std::move(r).error();
            ::unlink(tmp.c_str());
            return e;
        }
    }
    if (::rename(tmp.c_str(), path.c_str()) != 0) {
        Error e = Error::from_errno("rename " + tmp);
        ::unlink(tmp.c_str());
        return e;
    }
    return fsync_path(root);
}

}  // namespace

Status Store::set_ref(const std::string& name, const Digest& manifest) {
    std::string ctx = "set ref " + name;
    if (name.empty()) return Error(EINVAL, "set ref: empty name");
    SKIFF_TRY_CTX(check_sha256(manifest), ctx);
    // Under a lease, prune has either run already (then the check below sees the blob gone)
    // or will run after the ref exists.
    auto lease_fd = lock_gc(false);
    if (!lease_fd) return std::move(lease_fd).error().context(ctx);
    if (!has_blob(manifest))
        return Error(ENOENT, ctx + ": manifest " + manifest.str() + " is not in the store");
    // The blob renames must be durable before a ref that names them is.
    SKIFF_TRY_CTX(fsync_path(root_ + "/blobs/sha256"), ctx);
    auto lock = lock_refs(root_);
    if (!lock) return std::move(lock).error().context(ctx);
    auto refs = read_refs();
    if (!refs) return std::move(refs).error().context(ctx);
    (*refs)[name] = manifest;
    SKIFF_TRY_CTX(write_refs(root_, *refs), ctx);
    return {};
}

Result<Digest> Store::get_ref(const std::string& name) const {
    auto refs = read_refs();
    if (!refs) return std::move(refs).error().context("get ref " + name);
    auto it = refs->find(name);
    if (it == refs->end()) return Error(ENOENT, "no image named \"" + name + "\"");
    return it->second;
}

Status Store::remove_ref(const std::string& name) {
    std::string ctx = "remove ref " + name;
    auto lock = lock_refs(root_);
    if (!lock) return std::move(lock).error().context(ctx);
    auto refs = read_refs();
    if (!refs) return std::move(refs).error().context(ctx);
    if (refs->erase(name) == 0) return Error(ENOENT, "no image named \"" + name + "\"");
    SKIFF_TRY_CTX(write_refs(root_, *refs), ctx);
    return {};
}

Result<std::map<std::string, Digest>> Store::list_refs() const {
    auto refs = read_refs();
    if (!refs) return std::move(refs).error().context("list refs");
    return refs;
}

// ----- snapshots

std::string Store::snapshot_path(const Digest& diff_id) const {
    return root_ + "/snapshots/" + diff_id.hex;
}

bool Store::has_snapshot(const Digest& diff_id) const {
    if (!check_sha256(diff_id)) return false;
    struct stat st{};
    return ::stat(snapshot_path(diff_id).c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

Result<std::string> Store::ensure_snapshot(const Digest& diff_id, const FillFn& fill) {
    std::string ctx = "snapshot " + diff_id.str();
    SKIFF_TRY_CTX(check_sha256(diff_id), "snapshot");
    std::string final_path = snapshot_path(diff_id);
    // A snapshot directory only ever appears by rename of a complete one.
    if (has_snapshot(diff_id)) return final_path;

    // Prune must not sweep the lock file or the result while we work.
    auto lease_fd = lock_gc(false);
    if (!lease_fd) return std::move(lease_fd).error().context(ctx);
    std::string dir = root_ + "/snapshots";
    std::string lock_path = dir + "/" + kLockSnapshotPrefix + diff_id.hex;
    UniqueFd lock(::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
    if (!lock) return Error::from_errno(ctx + ": open " + lock_path);
    // Concurrent callers for the same layer wait here and then find it done.
    SKIFF_TRY_CTX(flock_retry(lock.get(), LOCK_EX, lock_path), ctx);
    if (has_snapshot(diff_id)) return final_path;

    auto tmp = create_locked_temp_dir(dir, kTmpSnapshotPrefix + diff_id.hex);
    if (!tmp) return std::move(tmp).error().context(ctx);
    auto& [tmp_fd, tmp_path] = *tmp;
    // A copy for the lambda: clang 14 can't capture structured bindings.
    const std::string tmp_dir = tmp_path;
    auto discard = [&tmp_dir] { (void)fs::remove_all(tmp_dir); };
    if (auto r = fill(tmp_path); !r) {
        discard();
        return std::move(r).error().context(ctx + ": unpack");
    }
    // One syncfs instead of an fsync per file: a snapshot that exists after a crash must be whole.
    if (options_.sync_content && ::syncfs(tmp_fd.get()) != 0) {
        Error e = Error::from_errno(ctx + ": syncfs");
        discard();
        return e;
    }
    if (::rename(tmp_path.c_str(), final_path.c_str()) != 0) {
        int err = errno;
        discard();
        // Another store user without our lock file (removed by prune meanwhile) won the race.
        if ((err == ENOTEMPTY || err == EEXIST) && has_snapshot(diff_id)) return final_path;
        return Error::from_errno(err, ctx + ": rename " + tmp_path);
    }
    return final_path;
}

// ----- mark and sweep

namespace {

struct Mark {
    // Root manifest digest -> names, and everything it reaches.
    struct Image {
        std::vector<std::string> names;
        std::set<std::string> blobs;
        std::set<std::string> snapshots;
    };
    std::map<std::string, Image> images;
    std::set<std::string> blobs;
    std::set<std::string> snapshots;
};

Result<Mark> mark(const Store& store, const std::map<std::string, Digest>& refs,
                  const ReferencesFn& refs_of) {
    Mark m;
    for (const auto& [name, d] : refs) m.images[d.str()].names.push_back(name);
    std::map<std::string, References> memo;  // manifests shared by images are read once
    for (auto& [root, image] : m.images) {
        std::vector<Digest> todo{*Digest::parse(root)};
        while (!todo.empty()) {
            Digest d = std::move(todo.back());
            todo.pop_back();
            // A child manifest of another platform is never pulled; nothing to keep for it.
            if (!store.has_blob(d) || !image.blobs.insert(d.str()).second) continue;
            auto it = memo.find(d.str());
            if (it == memo.end()) {
                auto r = refs_of(d);
                if (!r)
                    return std::move(r).error().context("read manifest " + d.str() +
                                                        " of image " + image.names.front());
                it = memo.emplace(d.str(), std::move(*r)).first;
            }
            for (const auto& b : it->second.blobs) image.blobs.insert(b.str());
            for (const auto& s : it->second.snapshots) image.snapshots.insert(s.str());
            for (const auto& c : it->second.manifests) todo.push_back(c);
        }
        m.blobs.insert(image.blobs.begin(), image.blobs.end());
        m.snapshots.insert(image.snapshots.begin(), image.snapshots.end());
    }
    return m;
}

}  // namespace

Result<PruneReport> Store::prune(const ReferencesFn& refs_of) {
    if (live_leases_->load() > 0)
        return Error(EDEADLK, "prune: this process holds a pull lease on the store");
    auto gc = lock_gc(true);
    if (!gc) return std::move(gc).error().context("prune");
    auto refs = read_refs();
    if (!refs) return std::move(refs).error().context("prune");
    auto m = mark(*this, *refs, refs_of);
    if (!m) return std::move(m).error().context("prune");

    PruneReport report;
    std::string blobs_dir = root_ + "/blobs/sha256";
    auto blobs = list_dir(blobs_dir);
    if (!blobs) return std::move(blobs).error().context("prune");
    for (const auto& hex : *blobs) {
        if (!is_hex64(hex) || m->blobs.count("sha256:" + hex)) continue;
        std::string path = blobs_dir + "/" + hex;
        uint64_t bytes = path_bytes(path);
        if (::unlink(path.c_str()) != 0) return Error::from_errno("prune: unlink " + path);
        ++report.blobs_removed;
        report.bytes_freed += bytes;
    }

    std::string snap_dir = root_ + "/snapshots";
    auto snaps = list_dir(snap_dir);
    if (!snaps) return std::move(snaps).error().context("prune");
    for (const auto& n : *snaps) {
        std::string path = snap_dir + "/" + n;
        if (n.rfind(kLockSnapshotPrefix, 0) == 0) {
            // Only ensure_snapshot uses these, under a lease, which our exclusive lock excludes.
            ::unlink(path.c_str());
            continue;
        }
        if (!is_hex64(n) || m->snapshots.count("sha256:" + n)) continue;
        uint64_t bytes = path_bytes(path);
        SKIFF_TRY_CTX(fs::remove_all(path), "prune");
        ++report.snapshots_removed;
        report.bytes_freed += bytes;
    }

    auto [count, bytes] = reap_temps(root_);
    report.temps_removed = count;
    report.bytes_freed += bytes;
    return report;
}

Result<StoreUsage> Store::usage(const ReferencesFn& refs_of) const {
    auto lease_fd = lock_gc(false);
    if (!lease_fd) return std::move(lease_fd).error().context("usage");
    auto refs = read_refs();
    if (!refs) return std::move(refs).error().context("usage");
    auto m = mark(*this, *refs, refs_of);
    if (!m) return std::move(m).error().context("usage");

    StoreUsage u;
    auto blobs = list_dir(root_ + "/blobs/sha256");
    if (!blobs) return std::move(blobs).error().context("usage");
    for (const auto& hex : *blobs)
        if (is_hex64(hex))
            u.blobs["sha256:" + hex].bytes = path_bytes(root_ + "/blobs/sha256/" + hex);
    auto snaps = list_dir(root_ + "/snapshots");
    if (!snaps) return std::move(snaps).error().context("usage");
    for (const auto& hex : *snaps)
        if (is_hex64(hex))
            u.snapshots["sha256:" + hex].bytes = path_bytes(root_ + "/snapshots/" + hex);

    // refs: how many names reach each object.
    for (const auto& [root, image] : m->images) {
        auto n = static_cast<unsigned>(image.names.size());
        for (const auto& b : image.blobs)
            if (auto it = u.blobs.find(b); it != u.blobs.end()) it->second.refs += n;
        for (const auto& s : image.snapshots)
            if (auto it = u.snapshots.find(s); it != u.snapshots.end()) it->second.refs += n;
    }
    // Unique to an image: reached by this root manifest and no other.
    std::map<std::string, unsigned> blob_images, snap_images;
    for (const auto& [root, image] : m->images) {
        for (const auto& b : image.blobs) ++blob_images[b];
        for (const auto& s : image.snapshots) ++snap_images[s];
    }
    for (const auto& [root, image] : m->images) {
        ImageUsage& iu = u.images[root];
        iu.names = image.names;
        auto add = [&](const std::map<std::string, ObjectUsage>& objs,
                       const std::map<std::string, unsigned>& owners, const std::string& key) {
            auto it = objs.find(key);
            if (it == objs.end()) return;
            iu.total_bytes += it->second.bytes;
            if (owners.at(key) == 1) iu.unique_bytes += it->second.bytes;
        };
        for (const auto& b : image.blobs) add(u.blobs, blob_images, b);
        for (const auto& s : image.snapshots) add(u.snapshots, snap_images, s);
        iu.shared_bytes = iu.total_bytes - iu.unique_bytes;
    }
    for (const auto& objs : {&u.blobs, &u.snapshots})
        for (const auto& [key, o] : *objs)
            if (o.refs == 0) u.reclaimable_bytes += o.bytes;
    return u;
}

}  // namespace skiff::images
