// Unit tests for the image store: ingest, refs, snapshots, crash leftovers, GC, leases, full disk.
#include "skiff/images/store.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <nlohmann/json.hpp>
#include <thread>

#include <gtest/gtest.h>

#include "skiff/base/fs.hpp"
#include "test_files.hpp"

using namespace skiff;
using namespace skiff::images;
using namespace skiff::images::test_files;

namespace {

std::string make_temp_dir(const char* stem) {
    std::string tmpl = std::string("/tmp/") + stem + "-XXXXXX";
    if (!::mkdtemp(tmpl.data())) ADD_FAILURE() << "mkdtemp: " << strerror(errno);
    return tmpl;
}

std::string lower(std::string s) {
    for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
}

// A stand-in manifest format: {"manifests": [...], "blobs": [...], "snapshots": [...]}.
std::string fake_manifest(const std::vector<Digest>& manifests, const std::vector<Digest>& blobs,
                          const std::vector<Digest>& snapshots) {
    auto strs = [](const std::vector<Digest>& ds) {
        nlohmann::json a = nlohmann::json::array();
        for (const auto& d : ds) a.push_back(d.str());
        return a;
    };
    return nlohmann::json{{"manifests", strs(manifests)},
                          {"blobs", strs(blobs)},
                          {"snapshots", strs(snapshots)}}
        .dump();
}

ReferencesFn fake_refs_of(const Store& store) {
    return [&store](const Digest& m) -> Result<References> {
        auto text = store.read_blob(m);
        if (!text) return std::move(text).error();
        auto j = nlohmann::json::parse(*text, nullptr, false);
        if (j.is_discarded()) return Error(EINVAL, "not a manifest");
        References r;
        for (auto [key, out] : {std::pair{"manifests", &r.manifests}, std::pair{"blobs", &r.blobs},
                                std::pair{"snapshots", &r.snapshots}})
            for (const auto& s : j.value(key, nlohmann::json::array()))
                out->push_back(*Digest::parse(s.get<std::string>()));
        return r;
    };
}

// Child processes report through their exit code only; they never return into gtest.
int wait_exit(pid_t pid) {
    int status = 0;
    if (::waitpid(pid, &status, 0) != pid) return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

struct Pipe {
    int r = -1, w = -1;
    Pipe() {
        int fds[2];
        if (::pipe2(fds, O_CLOEXEC) == 0) r = fds[0], w = fds[1];
    }
    ~Pipe() {
        if (r >= 0) ::close(r);
        if (w >= 0) ::close(w);
    }
    void send() { (void)!::write(w, "x", 1); }
    bool recv() {
        char c;
        return ::read(r, &c, 1) == 1;
    }
};

Digest digest_of_hex(char c) { return Digest{"sha256", std::string(64, c)}; }

class StoreTest : public ::testing::Test {
protected:
    void SetUp() override {
        root_ = make_temp_dir("skiff-store");
        auto s = Store::open(root_);
        ASSERT_TRUE(s.ok()) << s.error().what();
        store_.emplace(std::move(*s));
    }
    void TearDown() override {
        store_.reset();
        ASSERT_TRUE(fs::remove_all(root_).ok());
    }
    Store& store() { return *store_; }
    std::string ingest_dir() const { return root_ + "/ingest"; }

    std::string root_;
    std::optional<Store> store_;
};

}  // namespace

TEST_F(StoreTest, IngestVerifiesAndPublishesReadOnly) {
    std::string data(100000, 'q');
    Digest d = sha256_of(data);
    EXPECT_FALSE(store().has_blob(d));
    auto w = store().begin_blob(d, data.size());
    ASSERT_TRUE(w.ok()) << w.error().what();
    ASSERT_TRUE(w->write(std::string_view(data).substr(0, 40000)).ok());
    // Half-written: nothing visible under blobs/.
    EXPECT_FALSE(store().has_blob(d));
    EXPECT_EQ(entries(ingest_dir()).size(), 1u);
    ASSERT_TRUE(w->write(std::string_view(data).substr(40000)).ok());
    auto path = w->commit();
    ASSERT_TRUE(path.ok()) << path.error().what();
    EXPECT_EQ(*path, root_ + "/blobs/sha256/" + d.hex);
    EXPECT_EQ(store().blob_path(d), *path);
    struct stat st{};
    ASSERT_EQ(::stat(path->c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 07777, 0444u);
    EXPECT_TRUE(store().has_blob(d));
    auto back = store().read_blob(d);
    ASSERT_TRUE(back.ok());
    EXPECT_EQ(*back, data);
    EXPECT_TRUE(entries(ingest_dir()).empty());

    auto put = store().put_blob("{\"config\":1}");
    ASSERT_TRUE(put.ok());
    EXPECT_EQ(*put, sha256_of("{\"config\":1}"));
    EXPECT_EQ(*store().read_blob(*put), "{\"config\":1}");

    // A malformed digest never becomes a path.
    auto bad = store().begin_blob(Digest{"sha256", "../../../etc/passwd"}, std::nullopt);
    ASSERT_FALSE(bad.ok());
    EXPECT_EQ(bad.error().code(), EINVAL);
}

TEST_F(StoreTest, DigestMismatchStoresNothingAndNamesBoth) {
    Digest expected = sha256_of("what the manifest promised");
    Digest actual = sha256_of("tampered");
    auto w = store().begin_blob(expected, 8);
    ASSERT_TRUE(w.ok());
    ASSERT_TRUE(w->write("tampered").ok());
    auto r = w->commit();
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.error().message().find(expected.str()), std::string::npos) << r.error().what();
    EXPECT_NE(r.error().message().find(actual.str()), std::string::npos) << r.error().what();
    EXPECT_FALSE(store().has_blob(expected));
    EXPECT_FALSE(store().has_blob(actual));
    EXPECT_TRUE(entries(ingest_dir()).empty());
    EXPECT_TRUE(entries(root_ + "/blobs/sha256").empty());
}

TEST_F(StoreTest, SizeMismatchStoresNothing) {
    Digest d = sha256_of("data");
    {
        auto w = store().begin_blob(d, 10);
        ASSERT_TRUE(w.ok());
        ASSERT_TRUE(w->write("data").ok());
        auto r = w->commit();
        ASSERT_FALSE(r.ok());
        EXPECT_NE(r.error().message().find("size mismatch"), std::string::npos);
        EXPECT_NE(r.error().message().find("expected 10 bytes, got 4"), std::string::npos)
            << r.error().what();
    }
    {
        // More than announced fails at once, before the whole stream is read.
        auto w = store().begin_blob(d, 2);
        ASSERT_TRUE(w.ok());
        auto r = w->write("data");
        ASSERT_FALSE(r.ok());
        EXPECT_EQ(r.error().code(), EFBIG);
        EXPECT_FALSE(w->commit().ok());
    }
    {
        // Dropped without commit: the temp goes.
        auto w = store().begin_blob(d, 4);
        ASSERT_TRUE(w.ok());
        ASSERT_TRUE(w->write("da").ok());
    }
    EXPECT_FALSE(store().has_blob(d));
    EXPECT_TRUE(entries(ingest_dir()).empty());
}

TEST_F(StoreTest, ConcurrentIngestOfTheSameBlobFromTwoProcesses) {
    std::string data(1 << 20, '\0');
    for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<char>(i * 7 + i / 4096);
    Digest d = sha256_of(data);
    Pipe ready, go;
    pid_t pids[2];
    for (pid_t& pid : pids) {
        pid = ::fork();
        ASSERT_GE(pid, 0);
        if (pid == 0) {
            auto s = Store::open(root_);
            if (!s) _exit(10);
            auto w = s->begin_blob(d, data.size());
            if (!w) _exit(11);
            if (!w->write(std::string_view(data).substr(0, data.size() / 2))) _exit(12);
            ready.send();
            if (!go.recv()) _exit(13);
            if (!w->write(std::string_view(data).substr(data.size() / 2))) _exit(14);
            _exit(w->commit().ok() ? 0 : 15);
        }
    }
    // Both are mid-ingest before either commits.
    ASSERT_TRUE(ready.recv());
    ASSERT_TRUE(ready.recv());
    EXPECT_EQ(entries(ingest_dir()).size(), 2u);
    go.send();
    go.send();
    EXPECT_EQ(wait_exit(pids[0]), 0);
    EXPECT_EQ(wait_exit(pids[1]), 0);
    auto back = store().read_blob(d);
    ASSERT_TRUE(back.ok()) << back.error().what();
    EXPECT_EQ(*back, data);
    EXPECT_TRUE(entries(ingest_dir()).empty());
    EXPECT_EQ(entries(root_ + "/blobs/sha256"), std::vector<std::string>{d.hex});
}

TEST_F(StoreTest, RefsCrudAndPersistenceAcrossReopen) {
    Digest m1 = *store().put_blob(fake_manifest({}, {}, {}));
    Digest m2 = *store().put_blob(fake_manifest({}, {m1}, {}));
    const std::string a = "127.0.0.1:5000/busybox:latest", b = "docker.io/library/alpine:3.19";

    EXPECT_EQ(store().get_ref(a).error().code(), ENOENT);
    ASSERT_TRUE(store().set_ref(a, m1).ok());
    ASSERT_TRUE(store().set_ref(b, m1).ok());
    EXPECT_EQ(*store().get_ref(a), m1);
    ASSERT_TRUE(store().set_ref(b, m2).ok());  // retag
    EXPECT_EQ(*store().get_ref(b), m2);
    auto all = store().list_refs();
    ASSERT_TRUE(all.ok());
    EXPECT_EQ(all->size(), 2u);
    EXPECT_EQ(all->at(a), m1);
    EXPECT_EQ(all->at(b), m2);

    // A ref can't name a manifest the store doesn't hold.
    auto missing = store().set_ref("x", digest_of_hex('a'));
    ASSERT_FALSE(missing.ok());
    EXPECT_EQ(missing.error().code(), ENOENT);
    EXPECT_EQ(store().list_refs()->size(), 2u);

    ASSERT_TRUE(store().remove_ref(a).ok());
    EXPECT_EQ(store().remove_ref(a).error().code(), ENOENT);
    EXPECT_EQ(store().get_ref(a).error().code(), ENOENT);

    store_.reset();
    auto reopened = Store::open(root_);
    ASSERT_TRUE(reopened.ok());
    auto after = reopened->list_refs();
    ASSERT_TRUE(after.ok());
    EXPECT_EQ(after->size(), 1u);
    EXPECT_EQ(after->at(b), m2);
    // The file is plain JSON other tools can read.
    auto j = nlohmann::json::parse(*fs::read_file(root_ + "/refs.json"));
    EXPECT_EQ(j["refs"][b], m2.str());
    store_.emplace(std::move(*reopened));
}

TEST_F(StoreTest, SnapshotFilledOnceAndReused) {
    Digest diff = sha256_of("layer tar");
    int fills = 0;
    auto fill = [&](const std::string& dir) -> Status {
        ++fills;
        return fs::write_file(dir + "/hello", "world");
    };
    auto p1 = store().ensure_snapshot(diff, fill);
    ASSERT_TRUE(p1.ok()) << p1.error().what();
    EXPECT_EQ(*p1, root_ + "/snapshots/" + diff.hex);
    EXPECT_EQ(*fs::read_file(*p1 + "/hello"), "world");
    auto p2 = store().ensure_snapshot(diff, fill);
    ASSERT_TRUE(p2.ok());
    EXPECT_EQ(*p2, *p1);
    EXPECT_EQ(fills, 1);

    // A failed unpack leaves neither a snapshot nor a temp directory.
    Digest other = sha256_of("broken layer");
    auto bad = store().ensure_snapshot(other, [](const std::string& dir) -> Status {
        (void)fs::write_file(dir + "/partial", "x");
        return Error(EINVAL, "corrupt tar");
    });
    ASSERT_FALSE(bad.ok());
    EXPECT_NE(bad.error().message().find("corrupt tar"), std::string::npos);
    EXPECT_FALSE(store().has_snapshot(other));
    for (const auto& n : entries(root_ + "/snapshots"))
        EXPECT_NE(n.rfind(".tmp-", 0), 0u) << n;
}

TEST_F(StoreTest, ConcurrentEnsureSnapshotFillsOnce) {
    Digest diff = sha256_of("shared layer");
    std::string counter = root_ + "/fill-count";
    Pipe go;
    pid_t pids[2];
    for (pid_t& pid : pids) {
        pid = ::fork();
        ASSERT_GE(pid, 0);
        if (pid == 0) {
            auto s = Store::open(root_);
            if (!s) _exit(10);
            if (!go.recv()) _exit(11);
            auto p = s->ensure_snapshot(diff, [&](const std::string& dir) -> Status {
                int fd = ::open(counter.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
                (void)!::write(fd, "x", 1);
                ::close(fd);
                // Long enough that the other process arrives while this one fills.
                std::this_thread::sleep_for(std::chrono::milliseconds(300));
                return fs::write_file(dir + "/bin", "busybox");
            });
            if (!p) _exit(12);
            auto content = fs::read_file(*p + "/bin");
            _exit(content && *content == "busybox" ? 0 : 13);
        }
    }
    go.send();
    go.send();
    EXPECT_EQ(wait_exit(pids[0]), 0);
    EXPECT_EQ(wait_exit(pids[1]), 0);
    EXPECT_EQ(*fs::read_file(counter), "x");
    EXPECT_TRUE(store().has_snapshot(diff));
}

TEST_F(StoreTest, KilledIngestLeavesNoBlobAndPruneRemovesItsTemp) {
    std::string data(64 * 1024, 'k');
    Digest d = sha256_of(data);
    auto killed_child = [&](bool snapshot) {
        Pipe ready;
        pid_t pid = ::fork();
        if (pid == 0) {
            // The parent's Store object, not a fresh open, which would reap the other leftover.
            Store* s = &store();
            if (snapshot) {
                (void)s->ensure_snapshot(d, [&](const std::string& dir) -> Status {
                    (void)fs::write_file(dir + "/half", "x");
                    ready.send();
                    ::pause();
                    return {};
                });
                _exit(11);
            }
            auto w = s->begin_blob(d, data.size());
            if (!w || !w->write(std::string_view(data).substr(0, data.size() / 2))) _exit(12);
            ready.send();
            ::pause();
            _exit(13);
        }
        EXPECT_TRUE(ready.recv());
        ::kill(pid, SIGKILL);
        EXPECT_EQ(wait_exit(pid), 128 + SIGKILL);
    };

    killed_child(false);
    EXPECT_FALSE(store().has_blob(d));
    EXPECT_EQ(entries(ingest_dir()).size(), 1u);
    killed_child(true);
    EXPECT_FALSE(store().has_snapshot(d));

    // A live ingest in this process is not a leftover: prune must keep it.
    auto live = store().begin_blob(d, data.size());
    ASSERT_TRUE(live.ok());
    ASSERT_TRUE(live->write(std::string_view(data).substr(0, 1000)).ok());
    EXPECT_EQ(entries(ingest_dir()).size(), 2u);

    auto report = store().prune(fake_refs_of(store()));
    ASSERT_TRUE(report.ok()) << report.error().what();
    EXPECT_EQ(report->temps_removed, 2u);
    EXPECT_GE(report->bytes_freed, data.size() / 2 + 1);
    EXPECT_EQ(entries(ingest_dir()).size(), 1u);
    for (const auto& n : entries(root_ + "/snapshots")) EXPECT_NE(n.rfind(".tmp-", 0), 0u) << n;

    ASSERT_TRUE(live->write(std::string_view(data).substr(1000)).ok());
    ASSERT_TRUE(live->commit().ok());
    EXPECT_TRUE(store().has_blob(d));

    // Opening the store cleans up too.
    killed_child(false);
    EXPECT_EQ(entries(ingest_dir()).size(), 1u);
    ASSERT_TRUE(Store::open(root_).ok());
    EXPECT_TRUE(entries(ingest_dir()).empty());
}

TEST_F(StoreTest, PruneKeepsWhatAnotherImageShares) {
    auto blob = [&](const std::string& s) { return *store().put_blob(s); };
    auto snap = [&](const Digest& diff, const std::string& content) {
        return store().ensure_snapshot(diff, [&](const std::string& dir) -> Status {
            return fs::write_file(dir + "/f", content);
        });
    };
    Digest l1 = blob("layer one"), l2 = blob("layer two, shared"), l3 = blob("layer three");
    Digest s1 = sha256_of("diff one"), s2 = sha256_of("diff two"), s3 = sha256_of("diff three");
    ASSERT_TRUE(snap(s1, "11111").ok());
    ASSERT_TRUE(snap(s2, "2222222").ok());
    ASSERT_TRUE(snap(s3, "333").ok());
    Digest ca = blob("config a"), cb = blob("config b");
    Digest ma = blob(fake_manifest({}, {ca, l1, l2}, {s1, s2}));
    Digest mb = blob(fake_manifest({}, {cb, l2, l3}, {s2, s3}));
    // Image b is an index: one child present, one (another platform) never pulled.
    Digest ib = blob(fake_manifest({mb, digest_of_hex('e')}, {}, {}));
    Digest garbage = blob("unreferenced");
    Digest sg = sha256_of("garbage diff");
    ASSERT_TRUE(snap(sg, "gg").ok());
    ASSERT_TRUE(store().set_ref("a:1", ma).ok());
    ASSERT_TRUE(store().set_ref("b:1", ib).ok());
    ASSERT_TRUE(store().set_ref("b:latest", ib).ok());
    auto refs_of = fake_refs_of(store());

    auto size = [&](const Digest& d) { return store().read_blob(d)->size(); };
    auto usage = store().usage(refs_of);
    ASSERT_TRUE(usage.ok()) << usage.error().what();
    EXPECT_EQ(usage->blobs.at(l2.str()).refs, 3u);
    EXPECT_EQ(usage->blobs.at(l1.str()).refs, 1u);
    EXPECT_EQ(usage->blobs.at(garbage.str()).refs, 0u);
    EXPECT_EQ(usage->snapshots.at(s2.str()).refs, 3u);
    EXPECT_EQ(usage->snapshots.at(s2.str()).bytes, 7u);
    const ImageUsage& ua = usage->images.at(ma.str());
    EXPECT_EQ(ua.names, std::vector<std::string>{"a:1"});
    EXPECT_EQ(ua.unique_bytes, size(ma) + size(ca) + size(l1) + 5);
    EXPECT_EQ(ua.shared_bytes, size(l2) + 7);
    EXPECT_EQ(usage->images.at(ib.str()).names.size(), 2u);
    EXPECT_EQ(usage->reclaimable_bytes, size(garbage) + 2);

    auto r1 = store().prune(refs_of);
    ASSERT_TRUE(r1.ok()) << r1.error().what();
    EXPECT_EQ(r1->blobs_removed, 1u);
    EXPECT_EQ(r1->snapshots_removed, 1u);
    EXPECT_EQ(r1->bytes_freed, size_t{12} + 2);  // "unreferenced" + "gg"
    EXPECT_FALSE(store().has_blob(garbage));
    EXPECT_FALSE(store().has_snapshot(sg));

    // image rm a:1 then prune: a's own content goes, what b shares stays.
    uint64_t a_unique = ua.unique_bytes;
    ASSERT_TRUE(store().remove_ref("a:1").ok());
    auto r2 = store().prune(refs_of);
    ASSERT_TRUE(r2.ok());
    EXPECT_EQ(r2->blobs_removed, 3u);
    EXPECT_EQ(r2->snapshots_removed, 1u);
    EXPECT_EQ(r2->bytes_freed, a_unique);
    for (const Digest& gone : {ma, ca, l1}) EXPECT_FALSE(store().has_blob(gone)) << gone.str();
    for (const Digest& kept : {l2, l3, cb, mb, ib}) EXPECT_TRUE(store().has_blob(kept));
    EXPECT_FALSE(store().has_snapshot(s1));
    EXPECT_TRUE(store().has_snapshot(s2));
    EXPECT_TRUE(store().has_snapshot(s3));

    // A manifest the caller can't read aborts prune rather than deleting what it holds.
    Digest unreadable = blob("not json {");
    ASSERT_TRUE(store().set_ref("broken", unreadable).ok());
    auto r3 = store().prune(refs_of);
    ASSERT_FALSE(r3.ok());
    EXPECT_NE(r3.error().message().find("broken"), std::string::npos) << r3.error().what();
    EXPECT_TRUE(store().has_blob(l3));
}

TEST_F(StoreTest, PullLeaseKeepsIngestedBlobsFromConcurrentPrune) {
    auto lease = store().lease();
    ASSERT_TRUE(lease.ok());
    // Holding a lease, this process can't prune (it would wait for itself).
    auto self = store().prune(fake_refs_of(store()));
    ASSERT_FALSE(self.ok());
    EXPECT_EQ(self.error().code(), EDEADLK);

    // The pull has its layer and manifest but no ref yet.
    Digest layer = *store().put_blob("pulled layer");
    Digest manifest = *store().put_blob(fake_manifest({}, {layer}, {}));
    Pipe done;
    pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {  // `skiff image rm other` running its prune meanwhile
        // Our copy of the parent's lease fd would hold the flock for the parent.
        lease->release();
        auto s = Store::open(root_);
        if (!s) _exit(10);
        auto r = s->prune(fake_refs_of(*s));
        _exit(r.ok() ? static_cast<int>(r->blobs_removed) : 99);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    int status = 0;
    EXPECT_EQ(::waitpid(pid, &status, WNOHANG), 0) << "prune did not wait for the lease";
    EXPECT_TRUE(store().has_blob(layer));
    ASSERT_TRUE(store().set_ref("127.0.0.1:5000/app:v1", manifest).ok());
    lease->release();
    EXPECT_EQ(wait_exit(pid), 0);  // ran after the ref existed: removed nothing
    EXPECT_TRUE(store().has_blob(layer));
    EXPECT_TRUE(store().has_blob(manifest));

    // Control: the same blobs without a ref are swept once the lease is gone.
    ASSERT_TRUE(store().remove_ref("127.0.0.1:5000/app:v1").ok());
    auto r = store().prune(fake_refs_of(store()));
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->blobs_removed, 2u);
    EXPECT_FALSE(store().has_blob(layer));
}

TEST(StoreFullDisk, EnospcNamesTheBlobAndLeavesTheStoreAsItWas) {
    std::string mnt = make_temp_dir("skiff-store-tmpfs");
    if (::mount("tmpfs", mnt.c_str(), "tmpfs", 0, "size=1m") != 0) {
        int err = errno;
        ::rmdir(mnt.c_str());
        if (err == EPERM) GTEST_SKIP() << "mounting tmpfs needs CAP_SYS_ADMIN";
        FAIL() << "mount tmpfs: " << strerror(err);
    }
    struct Unmount {
        std::string dir;
        ~Unmount() {
            ::umount2(dir.c_str(), MNT_DETACH);
            ::rmdir(dir.c_str());
        }
    } unmount{mnt};

    auto store = Store::open(mnt + "/root");
    ASSERT_TRUE(store.ok()) << store.error().what();
    Digest small = *store->put_blob("manifest");
    ASSERT_TRUE(store->set_ref("img", small).ok());

    std::string big(2 << 20, 'z');
    Digest d = sha256_of(big);
    auto w = store->begin_blob(d, big.size());
    ASSERT_TRUE(w.ok());
    Status failed;
    for (size_t off = 0; off < big.size() && failed.ok(); off += 65536)
        failed = w->write(std::string_view(big).substr(off, 65536));
    ASSERT_FALSE(failed.ok());
    EXPECT_EQ(failed.error().code(), ENOSPC);
    std::string what = failed.error().what();
    EXPECT_NE(what.find(d.str()), std::string::npos) << what;
    EXPECT_NE(lower(what).find("no space left on device"), std::string::npos) << what;

    EXPECT_FALSE(store->has_blob(d));
    EXPECT_TRUE(entries(mnt + "/root/ingest").empty());
    EXPECT_EQ(entries(mnt + "/root/blobs/sha256"), std::vector<std::string>{small.hex});
    EXPECT_EQ(*store->get_ref("img"), small);
    // The space came back: the store keeps working.
    EXPECT_TRUE(store->put_blob(std::string(100000, 'y')).ok());
}
