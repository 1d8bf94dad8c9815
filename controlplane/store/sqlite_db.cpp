// The SQLite connection wrapper: open, prepared-statement cache, binding and stepping.
#include "sqlite_db.hpp"

#include <cerrno>

namespace skiff::store::sqlite {

namespace {

int errno_for(int rc) {
    switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED: return EBUSY;
    case SQLITE_FULL: return ENOSPC;
    case SQLITE_TOOBIG: return E2BIG;
    case SQLITE_NOMEM: return ENOMEM;
    case SQLITE_PERM:
    case SQLITE_AUTH:
    case SQLITE_READONLY: return EACCES;
    case SQLITE_CANTOPEN: return ENOENT;
    case SQLITE_CONSTRAINT: return EEXIST;
    case SQLITE_MISUSE:
    case SQLITE_RANGE: return EINVAL;
    default: return EIO;
    }
}

}  // namespace

Error make_error(sqlite3* db, int rc, const std::string& what) {
    std::string detail = db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
    return Error(errno_for(rc), what + ": sqlite: " + detail);
}

Query::~Query() {
    if (stmt_ == nullptr) return;
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
}

Query& Query::bind(int index, std::string_view text) {
    int rc = sqlite3_bind_text64(stmt_, index, text.data(), text.size(), SQLITE_STATIC, SQLITE_UTF8);
    if (bind_rc_ == SQLITE_OK) bind_rc_ = rc;
    return *this;
}

Query& Query::bind(int index, int64_t value) {
    int rc = sqlite3_bind_int64(stmt_, index, value);
    if (bind_rc_ == SQLITE_OK) bind_rc_ = rc;
    return *this;
}

Query& Query::bind_blob(int index, std::string_view data) {
    // A zero-length blob is bound as a blob, not NULL (a NULL pointer would make it NULL).
    int rc = data.empty() ? sqlite3_bind_zeroblob(stmt_, index, 0)
                          : sqlite3_bind_blob64(stmt_, index, data.data(), data.size(), SQLITE_STATIC);
    if (bind_rc_ == SQLITE_OK) bind_rc_ = rc;
    return *this;
}

Query& Query::bind_null(int index) {
    int rc = sqlite3_bind_null(stmt_, index);
    if (bind_rc_ == SQLITE_OK) bind_rc_ = rc;
    return *this;
}

Result<bool> Query::step() {
    if (bind_rc_ != SQLITE_OK) return make_error(db_, bind_rc_, "bind");
    int rc = sqlite3_step(stmt_);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    return make_error(db_, rc, "step");
}

Status Query::run() {
    auto r = step();
    if (!r) return std::move(r).error();
    return {};
}

std::string_view Query::text(int column) const {
    auto* p = reinterpret_cast<const char*>(sqlite3_column_text(stmt_, column));
    int n = sqlite3_column_bytes(stmt_, column);
    return p == nullptr ? std::string_view() : std::string_view(p, static_cast<size_t>(n));
}

std::string Query::blob(int column) const {
    auto* p = static_cast<const char*>(sqlite3_column_blob(stmt_, column));
    int n = sqlite3_column_bytes(stmt_, column);
    return p == nullptr ? std::string() : std::string(p, static_cast<size_t>(n));
}

Result<std::unique_ptr<Db>> Db::open(const std::string& path, int flags, const char* vfs) {
    sqlite3* handle = nullptr;
    int rc = sqlite3_open_v2(path.c_str(), &handle, flags | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_EXRESCODE, vfs);
    if (rc != SQLITE_OK) {
        Error e = make_error(handle, rc, "open " + path);
        sqlite3_close_v2(handle);
        return e;
    }
    // Writers serialise in-process (one writer thread); this only covers other processes and
    // checkpoints.
    sqlite3_busy_timeout(handle, 5000);
    return std::unique_ptr<Db>(new Db(handle));
}

Db::~Db() {
    for (auto& [sql, stmt] : statements_) sqlite3_finalize(stmt);
    sqlite3_close_v2(db_);
}

Status Db::exec(const char* sql) {
    char* message = nullptr;
    int rc = sqlite3_exec(db_, sql, nullptr, nullptr, &message);
    if (rc != SQLITE_OK) {
        Error e = make_error(db_, rc, sql);
        sqlite3_free(message);
        return e;
    }
    return {};
}

Result<Query> Db::query(const std::string& sql) {
    auto it = statements_.find(sql);
    if (it == statements_.end()) {
        sqlite3_stmt* stmt = nullptr;
        int rc = sqlite3_prepare_v3(db_, sql.c_str(), static_cast<int>(sql.size()), SQLITE_PREPARE_PERSISTENT,
                                    &stmt, nullptr);
        if (rc != SQLITE_OK) return make_error(db_, rc, "prepare " + sql);
        it = statements_.emplace(sql, stmt).first;
    }
    return Query(db_, it->second);
}

}  // namespace skiff::store::sqlite
