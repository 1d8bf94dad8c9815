// Export of stored images as OCI layouts (directory or tar) and docker-archive tars.
//
// An ExportSink takes directories and files; the tar sink streams them through libarchive into a
// temp file, the directory sink into a temp directory; both are renamed to DEST at the end, so a
// failed export leaves no DEST. Blobs are copied byte for byte (and re-hashed on the way).
#include "skiff/images/archive.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <nlohmann/json.hpp>
#include <set>

#include "archive_source.hpp"
#include "skiff/base/fs.hpp"
#include "skiff/base/unique_fd.hpp"
#include "skiff/images/reference.hpp"

namespace skiff::images {
namespace {

using json = nlohmann::json;

constexpr std::string_view kRefNameAnnotation = "org.opencontainers.image.ref.name";
constexpr std::string_view kImageNameAnnotation = "io.containerd.image.name";

std::string layout_path(const Digest& d) {
    return "blobs/" + d.algorithm + "/" + d.hex;
}

// ---------------------------------------------------------------------------------------------
// Export sinks: a tar file or a directory, published at DEST only when complete

class ExportSink {
  public:
    virtual ~ExportSink() = default;
    [[nodiscard]] virtual Status add_dir(const std::string& name) = 0;
    [[nodiscard]] virtual Status begin_file(const std::string& name, uint64_t size) = 0;
    [[nodiscard]] virtual Status write(const char* data, size_t size) = 0;
    [[nodiscard]] virtual Status end_file() = 0;
    // Flushes, syncs and renames the result to DEST.
    [[nodiscard]] virtual Status commit() = 0;
};

Status add_bytes(ExportSink& sink, const std::string& name, std::string_view bytes) {
    SKIFF_TRY(sink.begin_file(name, bytes.size()));
    SKIFF_TRY(sink.write(bytes.data(), bytes.size()));
    return sink.end_file();
}

// Copies a blob from the store, checking its digest on the way: an archive is only as good as
// the bytes it was made from.
Status add_blob(ExportSink& sink, const Store& store, const Digest& d, const std::string& name) {
    std::string path = store.blob_path(d);
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd) return Error::from_errno("open blob " + d.str());
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0) return Error::from_errno("stat blob " + d.str());
    SKIFF_TRY(sink.begin_file(name, static_cast<uint64_t>(st.st_size)));
    Sha256 hash;
    uint64_t total = 0;
    auto buf = std::make_unique<char[]>(kArchiveChunk);
    for (;;) {
        size_t got = 0;
        SKIFF_TRY_CTX(read_exactly(fd.get(), buf.get(), kArchiveChunk, got), "blob " + d.str());
        if (got == 0) break;
        hash.update(buf.get(), got);
        total += got;
        SKIFF_TRY(sink.write(buf.get(), got));
    }
    if (total != static_cast<uint64_t>(st.st_size) || hash.finish() != d)
        return Error(EIO, "blob " + d.str() + " is corrupt in the store");
    return sink.end_file();
}

std::string parent_dir(const std::string& path) {
    size_t slash = path.rfind('/');
    if (slash == std::string::npos) return ".";
    return slash == 0 ? "/" : path.substr(0, slash);
}

std::string temp_path_beside(const std::string& dest) {
    std::string base = dest.substr(dest.rfind('/') + 1);
    return parent_dir(dest) + "/." + base + ".tmp-XXXXXX";
}

Status fsync_dir(const std::string& dir) {
    UniqueFd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!fd || ::fsync(fd.get()) != 0) return Error::from_errno("fsync " + dir);
    return {};
}

struct WriteArchiveFree {
    void operator()(archive* a) const { libarchive().archive_write_free(a); }
};
struct EntryFree {
    void operator()(archive_entry* e) const { libarchive().archive_entry_free(e); }
};

// A pax tar (ustar headers unless a name needs more), fixed owners and times so that the same
// image always gives the same bytes.
class TarSink : public ExportSink {
  public:
    static Result<std::unique_ptr<TarSink>> create(const std::string& dest) {
        std::string tmp = temp_path_beside(dest);
        UniqueFd fd(::mkostemp(tmp.data(), O_CLOEXEC));
        if (!fd) return Error::from_errno("create a temp file beside " + dest);
        std::unique_ptr<TarSink> sink(new TarSink(dest, tmp, std::move(fd)));
        SKIFF_TRY(sink->open());
        return sink;
    }
    ~TarSink() override {
        if (!committed_) ::unlink(tmp_.c_str());
    }

    Status add_dir(const std::string& name) override {
        return header(name + "/", AE_IFDIR, 0755, 0);
    }
    Status begin_file(const std::string& name, uint64_t size) override {
        return header(name, AE_IFREG, 0644, size);
    }
    Status write(const char* data, size_t size) override {
        while (size > 0) {
            la_ssize_t n = libarchive().archive_write_data(a_.get(), data, size);
            if (n <= 0) return error("write");
            data += n;
            size -= static_cast<size_t>(n);
        }
        return {};
    }
    Status end_file() override {
        if (libarchive().archive_write_finish_entry(a_.get()) != ARCHIVE_OK) return error("write");
        return {};
    }
    Status commit() override {
        if (libarchive().archive_write_close(a_.get()) != ARCHIVE_OK) return error("finish");
        if (::fchmod(fd_.get(), 0644) != 0 || ::fsync(fd_.get()) != 0)
            return Error::from_errno("sync " + tmp_);
        if (::rename(tmp_.c_str(), dest_.c_str()) != 0)
            return Error::from_errno("rename " + tmp_ + " to " + dest_);
        committed_ = true;
        return fsync_dir(parent_dir(dest_));
    }

  private:
    TarSink(std::string dest, std::string tmp, UniqueFd fd)
        : dest_(std::move(dest)), tmp_(std::move(tmp)), fd_(std::move(fd)) {}

    Status open() {
        a_.reset(libarchive().archive_write_new());
        entry_.reset(libarchive().archive_entry_new());
        if (!a_ || !entry_) return Error(ENOMEM, "archive_write_new");
        if (libarchive().archive_write_set_format_pax_restricted(a_.get()) != ARCHIVE_OK ||
            libarchive().archive_write_add_filter_none(a_.get()) != ARCHIVE_OK ||
            libarchive().archive_write_open_fd(a_.get(), fd_.get()) != ARCHIVE_OK)
            return error("start");
        return {};
    }

    Status header(const std::string& name, unsigned type, int perm, uint64_t size) {
        archive_entry* e = entry_.get();
        libarchive().archive_entry_clear(e);
        libarchive().archive_entry_set_pathname(e, name.c_str());
        libarchive().archive_entry_set_filetype(e, type);
        libarchive().archive_entry_set_perm(e, static_cast<mode_t>(perm));
        libarchive().archive_entry_set_size(e, static_cast<la_int64_t>(size));
        libarchive().archive_entry_set_uid(e, 0);
        libarchive().archive_entry_set_gid(e, 0);
        libarchive().archive_entry_set_mtime(e, 0, 0);
        if (libarchive().archive_write_header(a_.get(), e) != ARCHIVE_OK) return error(name);
        return {};
    }

    Error error(const std::string& what) const {
        return Error(libarchive().archive_errno(a_.get()),
                     "write tar " + tmp_ + ": " + what + ": " + archive_message(a_.get()));
    }

    std::string dest_, tmp_;
    UniqueFd fd_;
    std::unique_ptr<archive, WriteArchiveFree> a_;
    std::unique_ptr<archive_entry, EntryFree> entry_;
    bool committed_ = false;
};

// An OCI layout directory, made under a temp name and renamed onto DEST (absent or empty).
class DirSink : public ExportSink {
  public:
    static Result<std::unique_ptr<DirSink>> create(const std::string& dest) {
        std::string tmp = temp_path_beside(dest);
        if (!::mkdtemp(tmp.data()))
            return Error::from_errno("create a temp directory beside " + dest);
        std::unique_ptr<DirSink> sink(new DirSink(dest, tmp));
        sink->dir_.reset(::open(tmp.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
        if (!sink->dir_ || ::fchmod(sink->dir_.get(), 0755) != 0)
            return Error::from_errno("open " + tmp);
        return sink;
    }
    ~DirSink() override {
        file_.reset();
        if (!committed_) (void)fs::remove_all(tmp_);
    }

    Status add_dir(const std::string& name) override {
        if (::mkdirat(dir_.get(), name.c_str(), 0755) != 0)
            return Error::from_errno("mkdir " + tmp_ + "/" + name);
        return {};
    }
    Status begin_file(const std::string& name, uint64_t) override {
        file_name_ = tmp_ + "/" + name;
        file_.reset(::openat(dir_.get(), name.c_str(),
                             O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644));
        if (!file_) return Error::from_errno("create " + file_name_);
        return {};
    }
    Status write(const char* data, size_t size) override {
        SKIFF_TRY_CTX(write_all(file_.get(), data, size), file_name_);
        return {};
    }
    Status end_file() override {
        file_.reset();
        return {};
    }
    Status commit() override {
        // One syncfs for the whole tree rather than an fsync per blob.
        if (::syncfs(dir_.get()) != 0) return Error::from_errno("sync " + tmp_);
        if (::rename(tmp_.c_str(), dest_.c_str()) != 0)
            return Error::from_errno("rename " + tmp_ + " to " + dest_);
        committed_ = true;
        return fsync_dir(parent_dir(dest_));
    }

  private:
    DirSink(std::string dest, std::string tmp) : dest_(std::move(dest)), tmp_(std::move(tmp)) {}

    std::string dest_, tmp_, file_name_;
    UniqueFd dir_, file_;
    bool committed_ = false;
};

// ---------------------------------------------------------------------------------------------
// What an exported image consists of

struct ExportedImage {
    std::string name;   // store key
    Descriptor top;     // what index.json lists: the ref's index, or the platform's manifest
    Manifest manifest;  // the platform's manifest (for docker-archive)
    Digest manifest_digest;
    std::vector<Digest> blobs;  // everything top reaches, top included
};

// Every blob a manifest or index reaches; ENOENT when one isn't in the store.
Status collect_blobs(const Store& store, const Digest& d, int depth, std::vector<Digest>& out) {
    if (depth > 4) return Error(ELOOP, "indexes nested too deep at " + d.str());
    if (!store.has_blob(d)) return Error(ENOENT, "blob " + d.str() + " is not in the store");
    out.push_back(d);
    auto bytes = store.read_blob(d);
    if (!bytes) return std::move(bytes).error();
    auto parsed = parse_manifest_or_index(*bytes, {}, LayerCheck::kAny);
    if (!parsed) return std::move(parsed).error().context(d.str());
    if (auto* index = std::get_if<Index>(&*parsed)) {
        for (const auto& m : index->manifests)
            SKIFF_TRY(collect_blobs(store, m.digest, depth + 1, out));
        return {};
    }
    const auto& m = std::get<Manifest>(*parsed);
    std::vector<Digest> leaves{m.config.digest};
    for (const auto& l : m.layers) leaves.push_back(l.digest);
    for (auto& b : leaves) {
        if (!store.has_blob(b)) return Error(ENOENT, "blob " + b.str() + " is not in the store");
        out.push_back(std::move(b));
    }
    return {};
}

Result<Descriptor> describe(const Store& store, const Digest& d) {
    auto bytes = store.read_blob(d);
    if (!bytes) return std::move(bytes).error();
    auto parsed = parse_manifest_or_index(*bytes, {}, LayerCheck::kAny);
    if (!parsed) return std::move(parsed).error().context(d.str());
    Descriptor out;
    out.media_type = std::visit([](const auto& doc) { return doc.media_type; }, *parsed);
    out.digest = d;
    out.size = static_cast<int64_t>(bytes->size());
    return out;
}

Result<ExportedImage> exported_image(ImageService& service, const std::string& ref,
                                     const Platform& platform) {
    auto local = service.get(ref, platform);
    if (!local) return std::move(local).error();
    ExportedImage img;
    img.name = local->name;
    img.manifest = local->manifest;
    img.manifest_digest = local->manifest_digest;
    Digest top = local->digest;
    // A pull keeps only one platform of an index: then the archive gets that platform's manifest.
    if (top != local->manifest_digest && !collect_blobs(service.store(), top, 0, img.blobs)) {
        img.blobs.clear();
        top = local->manifest_digest;
    }
    if (img.blobs.empty()) SKIFF_TRY(collect_blobs(service.store(), top, 0, img.blobs));
    auto described = describe(service.store(), top);
    if (!described) return std::move(described).error();
    img.top = std::move(*described);
    return img;
}

// ----- OCI layout

Status write_oci_layout(ExportSink& sink, const Store& store,
                        const std::vector<ExportedImage>& images) {
    Index index;
    index.media_type = media_type::kOciIndex;
    for (const auto& img : images) {
        Descriptor d = img.top;
        auto ref = Reference::parse(img.name);
        if (ref && !ref->tag.empty()) d.annotations[std::string(kRefNameAnnotation)] = ref->tag;
        d.annotations[std::string(kImageNameAnnotation)] = img.name;
        index.manifests.push_back(std::move(d));
    }
    SKIFF_TRY(add_bytes(sink, "oci-layout", "{\"imageLayoutVersion\":\"1.0.0\"}"));
    SKIFF_TRY(add_bytes(sink, "index.json", index_to_json(index)));
    SKIFF_TRY(sink.add_dir("blobs"));
    SKIFF_TRY(sink.add_dir("blobs/sha256"));
    std::set<std::string> written;
    for (const auto& img : images)
        for (const auto& b : img.blobs)
            if (written.insert(b.str()).second) SKIFF_TRY(add_blob(sink, store, b, layout_path(b)));
    return {};
}

// ----- docker-archive

// Files named by digest ("<hex>.json", "<hex>.tar"), as skopeo writes them; the layers are the
// stored blobs, compressed or not (docker load and skopeo decompress them).
Status write_docker_archive(ExportSink& sink, const Store& store,
                            const std::vector<ExportedImage>& images) {
    json manifest = json::array();
    std::map<std::string, size_t> entry_of;  // manifest digest -> index in manifest.json
    for (const auto& img : images) {
        auto [it, added] = entry_of.emplace(img.manifest_digest.str(), manifest.size());
        if (added) {
            json layers = json::array();
            for (const auto& l : img.manifest.layers) layers.push_back(l.digest.hex + ".tar");
            manifest.push_back({{"Config", img.manifest.config.digest.hex + ".json"},
                                {"RepoTags", json::array()},
                                {"Layers", layers}});
        }
        auto ref = Reference::parse(img.name);
        if (ref && !ref->tag.empty()) manifest[it->second]["RepoTags"].push_back(ref->familiar());
    }
    SKIFF_TRY(add_bytes(sink, "manifest.json", manifest.dump()));
    std::set<std::string> written;
    for (const auto& img : images) {
        const Digest& config = img.manifest.config.digest;
        if (written.insert(config.str()).second)
            SKIFF_TRY(add_blob(sink, store, config, config.hex + ".json"));
        for (const auto& l : img.manifest.layers)
            if (written.insert(l.digest.str()).second)
                SKIFF_TRY(add_blob(sink, store, l.digest, l.digest.hex + ".tar"));
    }
    return {};
}

bool is_empty_dir(const std::string& path) {
    DIR* dir = ::opendir(path.c_str());  // opendir uses O_CLOEXEC itself
    if (!dir) return false;
    bool empty = true;
    while (dirent* e = ::readdir(dir)) {
        std::string_view n = e->d_name;
        if (n != "." && n != "..") {
            empty = false;
            break;
        }
    }
    ::closedir(dir);
    return empty;
}

Result<std::unique_ptr<ExportSink>> make_sink(const std::string& dest, ExportFormat format) {
    struct stat st {};
    bool exists = ::stat(dest.c_str(), &st) == 0;
    if (format == ExportFormat::kOciDir) {
        // rename(2) replaces an empty directory, and only an empty one.
        if (exists && (!S_ISDIR(st.st_mode) || !is_empty_dir(dest)))
            return Error(EEXIST, "exists and is not an empty directory");
        auto sink = DirSink::create(dest);
        if (!sink) return std::move(sink).error();
        return std::unique_ptr<ExportSink>(std::move(*sink));
    }
    if (exists && S_ISDIR(st.st_mode))
        return Error(EISDIR, "is a directory; a tar file was asked for");
    auto sink = TarSink::create(dest);
    if (!sink) return std::move(sink).error();
    return std::unique_ptr<ExportSink>(std::move(*sink));
}

Status export_to(ImageService& service, const std::vector<std::string>& refs,
                 const std::string& dest, const ExportOptions& o) {
    if (refs.empty()) return Error(EINVAL, "no image to export");
    SKIFF_TRY(load_libarchive());
    auto lease = service.store().lease();  // prune waits until the blobs are copied
    if (!lease) return std::move(lease).error();
    std::vector<ExportedImage> images;
    std::set<std::string> names;
    for (const auto& ref : refs) {
        auto img = exported_image(service, ref, o.platform);
        if (!img) return std::move(img).error();
        if (names.insert(img->name).second) images.push_back(std::move(*img));
    }
    // "out/" names the directory out, and the temp must go beside it, not in it.
    std::string target = dest;
    while (target.size() > 1 && target.back() == '/') target.pop_back();
    auto sink = make_sink(target, o.format);
    if (!sink) return std::move(sink).error();
    if (o.format == ExportFormat::kDockerArchive)
        SKIFF_TRY(write_docker_archive(**sink, service.store(), images));
    else
        SKIFF_TRY(write_oci_layout(**sink, service.store(), images));
    return (*sink)->commit();
}

}  // namespace

Result<ExportFormat> parse_export_format(std::string_view text) {
    if (text == "oci" || text == "oci-archive") return ExportFormat::kOciArchive;
    if (text == "oci-dir") return ExportFormat::kOciDir;
    if (text == "docker-archive") return ExportFormat::kDockerArchive;
    return Error(EINVAL,
                 "unknown export format " + quote_name(text) + " (oci, oci-dir or docker-archive)");
}

ExportFormat default_export_format(std::string_view dest) {
    constexpr std::string_view kTar = ".tar";
    bool tar = dest.size() >= kTar.size() && dest.substr(dest.size() - kTar.size()) == kTar;
    return tar ? ExportFormat::kOciArchive : ExportFormat::kOciDir;
}

Status export_images(ImageService& service, const std::vector<std::string>& refs,
                     const std::string& dest, const ExportOptions& options) {
    auto r = export_to(service, refs, dest, options);
    if (!r) return std::move(r).error().context("export " + dest);
    return r;
}

}  // namespace skiff::images
