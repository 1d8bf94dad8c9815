// A thin owner of one SQLite connection: cached prepared statements and errors as skiff::Error.
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>

#include "skiff/base/result.hpp"

namespace skiff::store::sqlite {

// An Error for SQLite result code rc: an errno close to its meaning (ENOSPC, EBUSY, EIO...) and
// SQLite's message.
Error make_error(sqlite3* db, int rc, const std::string& what);

// One step-through of a prepared statement; resets it (and drops the bindings) when it goes.
// Text and blobs are bound without copying: they must outlive the Query.
class Query {
public:
    Query(sqlite3* db, sqlite3_stmt* stmt) : db_(db), stmt_(stmt) {}
    Query(const Query&) = delete;
    Query& operator=(const Query&) = delete;
    Query(Query&& o) noexcept : db_(o.db_), stmt_(std::exchange(o.stmt_, nullptr)), bind_rc_(o.bind_rc_) {}
    Query& operator=(Query&&) = delete;
    ~Query();

    Query& bind(int index, std::string_view text);
    Query& bind(int index, int64_t value);
    Query& bind_blob(int index, std::string_view data);
    Query& bind_null(int index);

    // true while there is a row; false when done.
    [[nodiscard]] Result<bool> step();
    // Runs a statement that returns no rows.
    [[nodiscard]] Status run();

    int64_t int64(int column) const { return sqlite3_column_int64(stmt_, column); }
    bool is_null(int column) const { return sqlite3_column_type(stmt_, column) == SQLITE_NULL; }
    std::string_view text(int column) const;
    std::string blob(int column) const;

private:
    sqlite3* db_;
    sqlite3_stmt* stmt_;
    int bind_rc_ = SQLITE_OK;
};

class Db {
public:
    // flags: SQLITE_OPEN_* (NOMUTEX and EXRESCODE are added); vfs: a registered VFS's name, null for the default.
    [[nodiscard]] static Result<std::unique_ptr<Db>> open(const std::string& path, int flags, const char* vfs = nullptr);
    Db(const Db&) = delete;
    Db& operator=(const Db&) = delete;
    ~Db();

    // Runs SQL text that may hold several statements and returns no rows.
    [[nodiscard]] Status exec(const char* sql);
    // A Query over the cached prepared form of sql.
    [[nodiscard]] Result<Query> query(const std::string& sql);
    sqlite3* handle() const { return db_; }

private:
    explicit Db(sqlite3* db) : db_(db) {}
    sqlite3* db_;
    std::unordered_map<std::string, sqlite3_stmt*> statements_;
};

}  // namespace skiff::store::sqlite
