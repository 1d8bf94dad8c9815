// The WAL-gathering SQLite VFS (see wal_gather_vfs.hpp).
#include "wal_gather_vfs.hpp"

#include <sqlite3.h>

#include <mutex>
#include <new>
#include <string>

namespace skiff::store::sqlite {
namespace {

constexpr const char* kName = "skiff-wal-gather";

// SQLite allocates szOsFile bytes for a file of this VFS: this header, then the wrapped VFS's file.
struct GatherFile {
    sqlite3_file base;            // base.pMethods = &kMethods once open
    std::string* pending;         // WAL files only: bytes written but not yet passed on
    sqlite3_int64 pending_at;     // the file offset of pending's first byte
    // The wrapped VFS's file, right after this header.
    sqlite3_file* real() { return reinterpret_cast<sqlite3_file*>(this + 1); }
};

GatherFile* gather(sqlite3_file* file) { return reinterpret_cast<GatherFile*>(file); }
sqlite3_file* real(sqlite3_file* file) { return gather(file)->real(); }

int write_through(GatherFile* f, const void* data, int n, sqlite3_int64 offset) {
    return f->real()->pMethods->xWrite(f->real(), data, n, offset);
}

// Passes the gathered bytes on in one write.
int flush(GatherFile* f) {
    if (f->pending == nullptr || f->pending->empty()) return SQLITE_OK;
    int rc = write_through(f, f->pending->data(), static_cast<int>(f->pending->size()), f->pending_at);
    f->pending->clear();
    return rc;
}

int x_write(sqlite3_file* file, const void* data, int n, sqlite3_int64 offset) {
    GatherFile* f = gather(file);
    if (f->pending == nullptr) return write_through(f, data, n, offset);
    std::string& pending = *f->pending;
    // Anything but an append to what is gathered (SQLite rewriting a frame of this transaction) goes
    // after it, in order.
    bool appends = !pending.empty() && offset == f->pending_at + static_cast<sqlite3_int64>(pending.size());
    if (!pending.empty() && (!appends || pending.size() + static_cast<size_t>(n) > kWalGatherLimit)) {
        if (int rc = flush(f); rc != SQLITE_OK) return rc;
    }
    if (static_cast<size_t>(n) > kWalGatherLimit) return write_through(f, data, n, offset);
    try {
        if (pending.empty()) f->pending_at = offset;
        pending.append(static_cast<const char*>(data), static_cast<size_t>(n));
    } catch (const std::bad_alloc&) {
        return SQLITE_IOERR_NOMEM;
    }
    return SQLITE_OK;
}

int x_close(sqlite3_file* file) {
    GatherFile* f = gather(file);
    int flushed = flush(f);
    int rc = f->real()->pMethods->xClose(f->real());
    delete f->pending;
    f->pending = nullptr;
    return flushed != SQLITE_OK ? flushed : rc;
}

// The calls that read or depend on the file's contents or size see the gathered bytes written first.
int x_read(sqlite3_file* file, void* out, int n, sqlite3_int64 offset) {
    if (int rc = flush(gather(file)); rc != SQLITE_OK) return rc;
    return real(file)->pMethods->xRead(real(file), out, n, offset);
}
int x_truncate(sqlite3_file* file, sqlite3_int64 size) {
    if (int rc = flush(gather(file)); rc != SQLITE_OK) return rc;
    return real(file)->pMethods->xTruncate(real(file), size);
}
int x_sync(sqlite3_file* file, int flags) {
    if (int rc = flush(gather(file)); rc != SQLITE_OK) return rc;
    return real(file)->pMethods->xSync(real(file), flags);
}
int x_file_size(sqlite3_file* file, sqlite3_int64* size) {
    if (int rc = flush(gather(file)); rc != SQLITE_OK) return rc;
    return real(file)->pMethods->xFileSize(real(file), size);
}
int x_file_control(sqlite3_file* file, int op, void* arg) {
    if (int rc = flush(gather(file)); rc != SQLITE_OK) return rc;
    return real(file)->pMethods->xFileControl(real(file), op, arg);
}

// The rest goes straight through.
int x_lock(sqlite3_file* file, int level) { return real(file)->pMethods->xLock(real(file), level); }
int x_unlock(sqlite3_file* file, int level) { return real(file)->pMethods->xUnlock(real(file), level); }
int x_check_reserved_lock(sqlite3_file* file, int* out) {
    return real(file)->pMethods->xCheckReservedLock(real(file), out);
}
int x_sector_size(sqlite3_file* file) { return real(file)->pMethods->xSectorSize(real(file)); }
int x_device_characteristics(sqlite3_file* file) {
    return real(file)->pMethods->xDeviceCharacteristics(real(file));
}
int x_shm_map(sqlite3_file* file, int region, int size, int extend, void volatile** out) {
    return real(file)->pMethods->xShmMap(real(file), region, size, extend, out);
}
int x_shm_lock(sqlite3_file* file, int offset, int n, int flags) {
    return real(file)->pMethods->xShmLock(real(file), offset, n, flags);
}
void x_shm_barrier(sqlite3_file* file) { real(file)->pMethods->xShmBarrier(real(file)); }
int x_shm_unmap(sqlite3_file* file, int delete_flag) {
    return real(file)->pMethods->xShmUnmap(real(file), delete_flag);
}
int x_fetch(sqlite3_file* file, sqlite3_int64 offset, int n, void** out) {
    if (int rc = flush(gather(file)); rc != SQLITE_OK) return rc;
    return real(file)->pMethods->xFetch(real(file), offset, n, out);
}
int x_unfetch(sqlite3_file* file, sqlite3_int64 offset, void* page) {
    return real(file)->pMethods->xUnfetch(real(file), offset, page);
}

const sqlite3_io_methods kMethods = {
    3,  // iVersion: with the shared-memory and memory-map calls
    x_close, x_read, x_write, x_truncate, x_sync, x_file_size, x_lock, x_unlock, x_check_reserved_lock,
    x_file_control, x_sector_size, x_device_characteristics,
    x_shm_map, x_shm_lock, x_shm_barrier, x_shm_unmap,
    x_fetch, x_unfetch,
};

sqlite3_vfs g_vfs{};

sqlite3_vfs* inner(sqlite3_vfs* vfs) { return static_cast<sqlite3_vfs*>(vfs->pAppData); }

int x_open(sqlite3_vfs* vfs, sqlite3_filename name, sqlite3_file* file, int flags, int* out_flags) {
    GatherFile* f = gather(file);
    f->base.pMethods = nullptr;
    f->pending = nullptr;
    f->pending_at = 0;
    sqlite3_file* wrapped = f->real();
    int rc = inner(vfs)->xOpen(inner(vfs), name, wrapped, flags, out_flags);
    // The methods above forward version 3's calls: a file of the wrapped VFS with fewer cannot be wrapped.
    if (rc == SQLITE_OK && (wrapped->pMethods == nullptr || wrapped->pMethods->iVersion < 3)) rc = SQLITE_CANTOPEN;
    if (rc == SQLITE_OK && (flags & SQLITE_OPEN_WAL)) {
        f->pending = new (std::nothrow) std::string();
        if (f->pending == nullptr) rc = SQLITE_NOMEM;
    }
    if (rc != SQLITE_OK) {  // SQLite calls no method of our file, whose pMethods is null: close theirs here
        if (wrapped->pMethods != nullptr) wrapped->pMethods->xClose(wrapped);
        return rc;
    }
    f->base.pMethods = &kMethods;
    return SQLITE_OK;
}

}  // namespace

const char* wal_gather_vfs() {
    static std::once_flag once;
    static const char* name = nullptr;
    std::call_once(once, [] {
        sqlite3_vfs* base = sqlite3_vfs_find(nullptr);
        if (base == nullptr) return;
        g_vfs.iVersion = base->iVersion;
        g_vfs.szOsFile = static_cast<int>(sizeof(GatherFile)) + base->szOsFile;
        g_vfs.mxPathname = base->mxPathname;
        g_vfs.zName = kName;
        g_vfs.pAppData = base;
        g_vfs.xOpen = x_open;
        // Everything else is the wrapped VFS's, called with it.
        g_vfs.xDelete = [](sqlite3_vfs* v, const char* path, int sync) { return inner(v)->xDelete(inner(v), path, sync); };
        g_vfs.xAccess = [](sqlite3_vfs* v, const char* path, int flags, int* out) {
            return inner(v)->xAccess(inner(v), path, flags, out);
        };
        g_vfs.xFullPathname = [](sqlite3_vfs* v, const char* path, int n, char* out) {
            return inner(v)->xFullPathname(inner(v), path, n, out);
        };
        g_vfs.xDlOpen = [](sqlite3_vfs* v, const char* path) { return inner(v)->xDlOpen(inner(v), path); };
        g_vfs.xDlError = [](sqlite3_vfs* v, int n, char* out) { inner(v)->xDlError(inner(v), n, out); };
        g_vfs.xDlSym = [](sqlite3_vfs* v, void* handle, const char* symbol) {
            return inner(v)->xDlSym(inner(v), handle, symbol);
        };
        g_vfs.xDlClose = [](sqlite3_vfs* v, void* handle) { inner(v)->xDlClose(inner(v), handle); };
        g_vfs.xRandomness = [](sqlite3_vfs* v, int n, char* out) { return inner(v)->xRandomness(inner(v), n, out); };
        g_vfs.xSleep = [](sqlite3_vfs* v, int us) { return inner(v)->xSleep(inner(v), us); };
        g_vfs.xCurrentTime = [](sqlite3_vfs* v, double* out) { return inner(v)->xCurrentTime(inner(v), out); };
        g_vfs.xGetLastError = [](sqlite3_vfs* v, int n, char* out) { return inner(v)->xGetLastError(inner(v), n, out); };
        if (base->iVersion >= 2)
            g_vfs.xCurrentTimeInt64 = [](sqlite3_vfs* v, sqlite3_int64* out) {
                return inner(v)->xCurrentTimeInt64(inner(v), out);
            };
        if (base->iVersion >= 3) {
            g_vfs.xSetSystemCall = [](sqlite3_vfs* v, const char* call, sqlite3_syscall_ptr fn) {
                return inner(v)->xSetSystemCall(inner(v), call, fn);
            };
            g_vfs.xGetSystemCall = [](sqlite3_vfs* v, const char* call) { return inner(v)->xGetSystemCall(inner(v), call); };
            g_vfs.xNextSystemCall = [](sqlite3_vfs* v, const char* call) {
                return inner(v)->xNextSystemCall(inner(v), call);
            };
        }
        if (sqlite3_vfs_register(&g_vfs, 0) == SQLITE_OK) name = kName;
    });
    return name;
}

}  // namespace skiff::store::sqlite
