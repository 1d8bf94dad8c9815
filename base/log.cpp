// Log lines in runc's two formats; containerd parses the JSON form and shows the last error.
#include "skiff/base/log.hpp"

#include <fcntl.h>
#include <time.h>
#include <unistd.h>

#include <string>

#include "skiff/base/unique_fd.hpp"

namespace skiff::log {
namespace {

struct Sink {
    UniqueFd file;
    Format format = Format::text;
    bool debug = false;
};

Sink& sink() {
    static Sink s;
    return s;
}

const char* level_name(Level level) {
    switch (level) {
        case Level::debug: return "debug";
        case Level::info: return "info";
        case Level::warning: return "warning";
        case Level::error: return "error";
    }
    return "error";
}

void append_json_string(std::string& out, std::string_view s) {
    out += '"';
    for (unsigned char c : s) {
        switch (c) {
            case '"': out += "\\\""; break;
            case '\\': out += "\\\\"; break;
            case '\n': out += "\\n"; break;
            case '\t': out += "\\t"; break;
            case '\r': out += "\\r"; break;
            default:
                if (c < 0x20) {
                    char buf[8];
                    snprintf(buf, sizeof buf, "\\u%04x", c);
                    out += buf;
                } else {
                    out += static_cast<char>(c);
                }
        }
    }
    out += '"';
}

std::string now_rfc3339() {
    timespec ts{};
    clock_gettime(CLOCK_REALTIME, &ts);
    tm t{};
    gmtime_r(&ts.tv_sec, &t);
    char buf[64];
    size_t n = strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &t);
    snprintf(buf + n, sizeof buf - n, ".%09ldZ", ts.tv_nsec);
    return buf;
}

}  // namespace

bool configure(std::string_view path, Format format, bool debug) {
    Sink& s = sink();
    s.format = format;
    s.debug = debug;
    if (path.empty()) return true;
    int fd = ::open(std::string(path).c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0) return false;
    s.file.reset(fd);
    return true;
}

bool to_file() { return sink().file.valid(); }

void write(Level level, std::string_view message) {
    Sink& s = sink();
    if (level == Level::debug && !s.debug) return;
    std::string line;
    if (s.format == Format::json) {
        line = "{\"level\":\"";
        line += level_name(level);
        line += "\",\"msg\":";
        append_json_string(line, message);
        line += ",\"time\":\"" + now_rfc3339() + "\"}\n";
    } else if (s.file.valid()) {
        line = now_rfc3339() + " " + level_name(level) + ": " + std::string(message) + "\n";
    } else {
        // A warning says so: the command went on, but something was not done.
        line = std::string(level == Level::warning ? "skiff: warning: " : "skiff: ") +
               std::string(message) + "\n";
    }
    int fd = s.file.valid() ? s.file.get() : STDERR_FILENO;
    // One write per line so concurrent writers to an O_APPEND file never interleave mid-line.
    ssize_t unused = ::write(fd, line.data(), line.size());
    (void)unused;
}

}  // namespace skiff::log
