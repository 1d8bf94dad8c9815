// Small file helpers shared by every component: whole-file reads and writes, directories.
#pragma once

#include <string>

#include "skiff/base/result.hpp"

namespace skiff::fs {

[[nodiscard]] Result<std::string> read_file(const std::string& path);
// Writes data to path (O_CLOEXEC|O_TRUNC|O_CREAT with mode) in one call.
[[nodiscard]] Status write_file(const std::string& path, std::string_view data, int mode = 0644);
// Writes into a temp file beside path, fsyncs and renames: readers see the old or the new content.
[[nodiscard]] Status write_file_atomic(const std::string& path, std::string_view data,
                                       int mode = 0644);
// mkdir -p; existing directories are fine.
[[nodiscard]] Status make_dirs(const std::string& path, int mode = 0755);
// rm -rf that stays on the file system of path and never follows symlinks.
[[nodiscard]] Status remove_all(const std::string& path);
bool exists(const std::string& path);

}  // namespace skiff::fs
