// Logging for the CLIs: text or JSON lines ({"level","msg","time"}) to stderr or a --log file.
#pragma once

#include <string_view>

namespace skiff::log {

enum class Level { debug, info, warning, error };
enum class Format { text, json };

// Sends log lines to path (appending) instead of stderr; empty path means stderr.
// Returns false when the file cannot be opened.
bool configure(std::string_view path, Format format, bool debug);

void write(Level level, std::string_view message);
inline void debug(std::string_view m) { write(Level::debug, m); }
inline void info(std::string_view m) { write(Level::info, m); }
inline void warning(std::string_view m) { write(Level::warning, m); }
inline void error(std::string_view m) { write(Level::error, m); }

// True when the log goes to a file rather than stderr (the CLI then also prints errors).
bool to_file();

}  // namespace skiff::log
