// skiff-oci: the OCI runtime command line, compatible with runc's so containerd and podman can call it.
#include <sys/stat.h>
#include <unistd.h>

#include <seccomp.h>
#include <algorithm>
#include <boost/program_options.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "skiff/base/fs.hpp"
#include "skiff/base/log.hpp"
#include "skiff/isolation/capabilities.hpp"
#include "skiff/isolation/seccomp.hpp"
#include "skiff/runtime/container.hpp"
#include "skiff/runtime/events.hpp"
#include "skiff/runtime/self_exe.hpp"
#include "skiff/runtime/spec.hpp"
#include "skiff/runtime/update.hpp"

namespace po = boost::program_options;
using json = nlohmann::json;
using namespace skiff;
using namespace skiff::runtime;

namespace {

constexpr const char* kVersion = "0.1.0";
constexpr const char* kSpecVersion = "1.2.0";

struct Global {
    std::string root;  // default: default_root()
    std::string rootless = "auto";
    std::string log_path, log_format = "text";
    bool debug = false, systemd_cgroup = false;
};

const char* kUsage =
    "usage: skiff-oci [global options] COMMAND [options] [ID]\n"
    "\n"
    "commands:\n"
    "  spec      write a secure default config.json (--rootless, --bundle DIR)\n"
    "  create    create a container: --bundle DIR --pid-file F --console-socket S\n"
    "            --no-pivot --preserve-fds N ID\n"
    "  start     let a created container run its process: start ID\n"
    "  run       create + start + wait, exit code passed through (--detach, --keep)\n"
    "  state     print the state JSON of a container\n"
    "  kill      send a signal (name or number, default TERM): kill [--all] ID [SIGNAL]\n"
    "  delete    remove a container: delete [--force] ID\n"
    "  list      list containers: list [--format table|json] [--quiet]\n"
    "  ps        processes of a container: ps [--format table|json] ID [ps options]\n"
    "  exec      run a process in a container: exec [--process FILE] [--detach] [--pid-file F]\n"
    "            [--tty --console-socket S] [--env K=V]... [--cwd DIR] [--user UID[:GID]]\n"
    "            [--additional-gids GID]... [--cap CAP]... [--no-new-privs] [--preserve-fds N]\n"
    "            ID [COMMAND...]   (exit code passed through; 255 when exec itself fails)\n"
    "  pause     freeze every process of a container: pause ID\n"
    "  resume    thaw a paused container: resume ID\n"
    "  update    change a container's limits: update [--resources FILE|-] [--memory N]\n"
    "            [--memory-swap N] [--memory-reservation N] [--kernel-memory N]\n"
    "            [--kernel-memory-tcp N] [--cpu-share N] [--cpu-period N] [--cpu-quota N]\n"
    "            [--cpu-rt-period N] [--cpu-rt-runtime N] [--cpuset-cpus S] [--cpuset-mems S]\n"
    "            [--pids-limit N] [--blkio-weight N] ID   (sizes take k, m, g suffixes; the\n"
    "            flags override the --resources JSON, which has linux.resources' shape)\n"
    "  events    stats and oom events as JSON lines: events [--stats] [--interval 5s] ID\n"
    "            (--stats prints one stats event; otherwise it streams until the container stops)\n"
    "  features  print the features JSON of this runtime\n"
    "\n"
    "global options:\n"
    "  --root DIR              state directory (default /run/skiff-oci; for a non-root user\n"
    "                          $XDG_RUNTIME_DIR/skiff-oci)\n"
    "  --rootless true|false|auto  run without root on the host: cgroups only where delegated\n"
    "                          (auto: when not root, or root of a partial user namespace)\n"
    "  --log FILE              write log lines to FILE instead of stderr\n"
    "  --log-format text|json  log line format\n"
    "  --debug                 log debug lines\n"
    "  --systemd-cgroup        name cgroups the systemd way (slice:prefix:name)\n"
    "  --version, -v           print the version\n";

// Like runc: root keeps its state in /run, another user under $XDG_RUNTIME_DIR (its own
// tmpfs, removed at logout), since it may not write /run.
std::string default_root() {
    const char* xdg = getenv("XDG_RUNTIME_DIR");
    if (geteuid() != 0 && xdg && *xdg) return std::string(xdg) + "/skiff-oci";
    return "/run/skiff-oci";
}

int fail(const Error& e) {
    std::string msg = e.what();
    log::error(msg);
    if (log::to_file()) std::fprintf(stderr, "skiff-oci: %s\n", msg.c_str());
    return 1;
}

int usage_error(const std::string& msg) {
    return fail(Error(EINVAL, msg + " (see skiff-oci --help)"));
}

// Parses a command's options; positional arguments land in `rest`.
bool parse_command(const std::vector<std::string>& args, const po::options_description& desc,
                   po::variables_map& vm, std::vector<std::string>& rest, std::string& error) {
    try {
        po::options_description all;
        all.add(desc).add_options()("args", po::value<std::vector<std::string>>(), "");
        po::positional_options_description pos;
        pos.add("args", -1);
        auto parsed = po::command_line_parser(args)
                          .options(all)
                          .positional(pos)
                          .style(po::command_line_style::default_style |
                                 po::command_line_style::allow_long_disguise)
                          .run();
        po::store(parsed, vm);
        po::notify(vm);
        if (vm.count("args")) rest = vm["args"].as<std::vector<std::string>>();
        return true;
    } catch (const std::exception& e) {
        error = e.what();
        return false;
    }
}

std::string need_id(const std::vector<std::string>& rest, const char* cmd, std::string& err) {
    if (rest.empty()) {
        err = std::string(cmd) + " needs a container id";
        return {};
    }
    return rest[0];
}

std::string pad(const std::string& s, size_t width) {
    return s.size() >= width ? s : s + std::string(width - s.size(), ' ');
}

int cmd_spec(const std::vector<std::string>& args) {
    po::options_description d;
    d.add_options()("bundle,b", po::value<std::string>()->default_value(""), "")(
        "rootless", po::bool_switch(), "");
    po::variables_map vm;
    std::vector<std::string> rest;
    std::string err;
    if (!parse_command(args, d, vm, rest, err)) return usage_error("spec: " + err);
    std::string bundle = vm["bundle"].as<std::string>();
    std::string path = (bundle.empty() ? std::string(".") : bundle) + "/config.json";
    if (fs::exists(path))
        return fail(Error(EEXIST, "spec: " + path + " exists; remove it first"));
    Spec spec = default_spec(vm["rootless"].as<bool>(), getuid(), getgid());
    std::string text = json::parse(spec_to_json(spec)).dump(2) + "\n";
    if (auto r = fs::write_file(path, text, 0644); !r) return fail(r.error().context("spec"));
    return 0;
}

void add_create_options(po::options_description& d) {
    d.add_options()("bundle,b", po::value<std::string>()->default_value("."), "")(
        "pid-file", po::value<std::string>()->default_value(""), "")(
        "console-socket", po::value<std::string>()->default_value(""), "")(
        "no-pivot", po::bool_switch(), "")("no-new-keyring", po::bool_switch(), "")(
        "preserve-fds", po::value<int>()->default_value(0), "")(
        "notify-socket", po::value<std::string>(), "");
}

bool read_create_options(const po::variables_map& vm, const std::vector<std::string>& rest,
                         const char* cmd, CreateOptions& o, std::string& err) {
    o.id = need_id(rest, cmd, err);
    if (o.id.empty()) return false;
    o.bundle = vm["bundle"].as<std::string>();
    o.pid_file = vm["pid-file"].as<std::string>();
    o.console_socket = vm["console-socket"].as<std::string>();
    o.no_pivot = vm["no-pivot"].as<bool>();
    o.preserve_fds = vm["preserve-fds"].as<int>();
    if (o.preserve_fds < 0) {
        err = std::string(cmd) + ": --preserve-fds must not be negative";
        return false;
    }
    return true;
}

int cmd_create(Runtime& rt, const std::vector<std::string>& args, bool run) {
    const char* name = run ? "run" : "create";
    po::options_description d;
    add_create_options(d);
    if (run) d.add_options()("detach,d", po::bool_switch(), "")("keep", po::bool_switch(), "");
    po::variables_map vm;
    std::vector<std::string> rest;
    std::string err;
    if (!parse_command(args, d, vm, rest, err)) return usage_error(std::string(name) + ": " + err);
    CreateOptions o;
    if (!read_create_options(vm, rest, name, o, err)) return usage_error(err);
    if (!run) {
        if (auto r = rt.create(o); !r) return fail(r.error().context("create container " + o.id));
        return 0;
    }
    auto r = rt.run(o, vm["detach"].as<bool>());
    if (!r) return fail(r.error().context("run container " + o.id));
    return *r;
}

// exec's flags end at the container id, as with runc's parser: `exec ID sh -c X` keeps -c for sh.
// Short flags become their long names: with Go-style -long flags allowed, "-c" or "-p" alone
// would be an ambiguous abbreviation.
void split_exec_args(const std::vector<std::string>& args, std::vector<std::string>& options,
                     std::vector<std::string>& rest) {
    static const std::map<std::string, std::string> kShort = {
        {"-p", "--process"}, {"-d", "--detach"}, {"-t", "--tty"},  {"-e", "--env"},
        {"-u", "--user"},    {"-g", "--additional-gids"},          {"-c", "--cap"}};
    static const std::set<std::string> kTakesValue = {
        "process", "pid-file", "console-socket", "env",          "cwd",          "user",
        "additional-gids",     "cap",            "preserve-fds", "process-label", "apparmor"};
    size_t i = 0;
    for (; i < args.size(); ++i) {
        std::string a = args[i];
        if (a == "--") {
            ++i;
            break;
        }
        if (a.size() < 2 || a[0] != '-') break;
        if (auto s = kShort.find(a); s != kShort.end()) a = s->second;
        options.push_back(a);
        std::string name = a.substr(a[1] == '-' ? 2 : 1);
        if (name.find('=') == std::string::npos && kTakesValue.count(name) && i + 1 < args.size())
            options.push_back(args[++i]);
    }
    rest.assign(args.begin() + static_cast<long>(i), args.end());
}

// Like runc, exec's own failures exit with 255, apart from any exit code of the process.
int exec_failed(const Error& e) {
    fail(e.context("exec failed"));
    return 255;
}

bool read_exec_flags(const po::variables_map& vm, ExecOptions& o, std::string& err) {
    o.detach = vm["detach"].as<bool>();
    o.pid_file = vm["pid-file"].as<std::string>();
    o.console_socket = vm["console-socket"].as<std::string>();
    o.terminal = vm["tty"].as<bool>();
    o.cwd = vm["cwd"].as<std::string>();
    o.preserve_fds = vm["preserve-fds"].as<int>();
    if (o.preserve_fds < 0) {
        err = "exec: --preserve-fds must not be negative";
        return false;
    }
    if (vm.count("env")) o.env = vm["env"].as<std::vector<std::string>>();
    if (vm.count("cap")) o.add_capabilities = vm["cap"].as<std::vector<std::string>>();
    if (vm["no-new-privs"].as<bool>()) o.no_new_privileges = true;
    if (vm.count("user")) {
        auto ids = parse_user_ids(vm["user"].as<std::string>());
        if (!ids) {
            err = "exec: " + ids.error().message();
            return false;
        }
        o.uid = ids->uid;
        o.gid = ids->gid;
    }
    if (vm.count("additional-gids")) {
        for (const auto& g : vm["additional-gids"].as<std::vector<std::string>>()) {
            auto ids = parse_user_ids(g);
            if (!ids || ids->gid) {
                err = "exec: --additional-gids \"" + g + "\" must be a number";
                return false;
            }
            o.additional_gids.push_back(ids->uid);
        }
    }
    return true;
}

int cmd_exec(Runtime& rt, const std::vector<std::string>& args) {
    po::options_description d;
    d.add_options()("process,p", po::value<std::string>(), "")("detach,d", po::bool_switch(), "")(
        "pid-file", po::value<std::string>()->default_value(""), "")(
        "tty,t", po::bool_switch(), "")(
        "console-socket", po::value<std::string>()->default_value(""), "")(
        "env,e", po::value<std::vector<std::string>>(), "")(
        "cwd", po::value<std::string>()->default_value(""), "")(
        "user,u", po::value<std::string>(), "")(
        "additional-gids,g", po::value<std::vector<std::string>>(), "")(
        "cap,c", po::value<std::vector<std::string>>(), "")("no-new-privs", po::bool_switch(), "")(
        "preserve-fds", po::value<int>()->default_value(0), "")(
        "process-label", po::value<std::string>(), "")("apparmor", po::value<std::string>(), "");
    std::vector<std::string> options, rest, unused;
    split_exec_args(args, options, rest);
    po::variables_map vm;
    std::string err;
    if (!parse_command(options, d, vm, unused, err)) return usage_error("exec: " + err);
    if (rest.empty()) return usage_error("exec needs a container id");
    ExecOptions o;
    o.id = rest[0];
    if (!read_exec_flags(vm, o, err)) return usage_error(err);
    std::vector<std::string> command(rest.begin() + 1, rest.end());
    if (vm.count("process")) {
        if (!command.empty())
            return usage_error("exec: give --process FILE or a command, not both");
        std::string path = vm["process"].as<std::string>();
        auto text = fs::read_file(path);
        if (!text) return exec_failed(text.error().context("--process"));
        auto process = parse_exec_process(*text);
        if (!process) return exec_failed(process.error().context("--process " + path));
        o.process = std::move(*process);
    } else if (command.empty()) {
        return usage_error("exec needs a command (or --process FILE) after the container id");
    }
    o.args = std::move(command);
    auto code = rt.exec(o);
    if (!code) return exec_failed(code.error());
    return *code;
}

int cmd_simple(Runtime& rt, const std::string& cmd, const std::vector<std::string>& args) {
    po::options_description d;
    if (cmd == "kill") d.add_options()("all,a", po::bool_switch(), "");
    if (cmd == "delete") d.add_options()("force,f", po::bool_switch(), "");
    po::variables_map vm;
    std::vector<std::string> rest;
    std::string err;
    if (!parse_command(args, d, vm, rest, err)) return usage_error(cmd + ": " + err);
    std::string id = need_id(rest, cmd.c_str(), err);
    if (id.empty()) return usage_error(err);
    if (cmd == "start") {
        if (auto r = rt.start(id); !r) return fail(r.error());
    } else if (cmd == "state") {
        auto s = rt.state(id);
        if (!s) return fail(s.error());
        std::cout << s->to_json() << "\n";
    } else if (cmd == "kill") {
        auto sig = parse_signal(rest.size() > 1 ? rest[1] : "TERM");
        if (!sig) return fail(sig.error().context("kill " + id));
        if (auto r = rt.kill(id, *sig, vm["all"].as<bool>()); !r) return fail(r.error());
    } else if (cmd == "delete") {
        if (auto r = rt.remove(id, vm["force"].as<bool>()); !r) return fail(r.error());
    } else if (cmd == "pause") {
        if (auto r = rt.pause(id); !r) return fail(r.error());
    } else if (cmd == "resume") {
        if (auto r = rt.resume(id); !r) return fail(r.error());
    }
    return 0;
}

// All of stdin (a pipe or a socket as well as a file, which opening /dev/stdin would not do).
Result<std::string> read_stdin() {
    std::string out;
    char buf[8192];
    for (;;) {
        ssize_t n = ::read(STDIN_FILENO, buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return Error::from_errno("read stdin");
        if (n == 0) return out;
        out.append(buf, static_cast<size_t>(n));
    }
}

// runc update's flags that take a value ("resources" too), in the order they are applied.
const std::vector<std::string> kUpdateFlags = {
    "memory",          "memory-swap",  "memory-reservation", "kernel-memory", "kernel-memory-tcp",
    "cpu-share",       "cpu-shares",   "cpu-period",         "cpu-quota",     "cpu-rt-period",
    "cpu-rt-runtime",  "cpuset-cpus",  "cpuset-mems",        "pids-limit",    "blkio-weight",
    "l3-cache-schema", "mem-bw-schema"};

// Joins "--flag value" into "--flag=value" so that values such as -1 (unlimited) or - (stdin)
// are not taken for options; -r and single-dash long flags become their -- forms.
std::vector<std::string> join_update_values(const std::vector<std::string>& args) {
    std::vector<std::string> out;
    for (size_t i = 0; i < args.size(); ++i) {
        std::string a = args[i];
        if (a == "-r") a = "--resources";
        std::string name = a.rfind("--", 0) == 0  ? a.substr(2)
                           : a.rfind('-', 0) == 0 ? a.substr(1)
                                                  : "";
        bool takes_value =
            name == "resources" ||
            std::find(kUpdateFlags.begin(), kUpdateFlags.end(), name) != kUpdateFlags.end();
        if (takes_value && i + 1 < args.size()) {
            out.push_back("--" + name + "=" + args[++i]);
        } else {
            out.push_back(a);
        }
    }
    return out;
}

int cmd_update(Runtime& rt, const std::vector<std::string>& args) {
    po::options_description d;
    d.add_options()("resources,r", po::value<std::string>(), "");
    for (const auto& f : kUpdateFlags) d.add_options()(f.c_str(), po::value<std::string>(), "");
    po::variables_map vm;
    std::vector<std::string> rest;
    std::string err;
    if (!parse_command(join_update_values(args), d, vm, rest, err))
        return usage_error("update: " + err);
    std::string id = need_id(rest, "update", err);
    if (id.empty()) return usage_error(err);
    if (rest.size() > 1) return usage_error("update: unexpected argument \"" + rest[1] + "\"");
    isolation::Resources change;
    if (vm.count("resources")) {
        std::string file = vm["resources"].as<std::string>();
        Result<std::string> text = file == "-" ? read_stdin() : fs::read_file(file);
        if (!text) return fail(text.error().context("update: --resources " + file));
        auto parsed = parse_resources(*text);
        if (!parsed)
            return fail(
                parsed.error().context("update: --resources " + (file == "-" ? "(stdin)" : file)));
        change = std::move(*parsed);
    }
    // Unlike runc, which ignores the flags when --resources is given, a flag overrides the field
    // it names in the JSON.
    for (const auto& f : kUpdateFlags) {
        if (!vm.count(f)) continue;
        if (auto r = apply_update_flag(change, f, vm[f].as<std::string>()); !r)
            return fail(r.error().context("update"));
    }
    if (auto r = rt.update(id, change); !r) return fail(r.error());
    return 0;
}

int cmd_events(Runtime& rt, const std::vector<std::string>& args) {
    po::options_description d;
    d.add_options()("stats", po::bool_switch(), "")(
        "interval", po::value<std::string>()->default_value("5s"), "");
    po::variables_map vm;
    std::vector<std::string> rest;
    std::string err;
    if (!parse_command(args, d, vm, rest, err)) return usage_error("events: " + err);
    std::string id = need_id(rest, "events", err);
    if (id.empty()) return usage_error(err);
    auto interval = parse_duration(vm["interval"].as<std::string>());
    if (!interval) return usage_error("events: --interval: " + interval.error().message());
    auto emit = [](const std::string& line) {
        std::fputs(line.c_str(), stdout);
        std::fputc('\n', stdout);
        std::fflush(stdout);
    };
    if (vm["stats"].as<bool>()) {
        auto stats = rt.stats(id);
        if (!stats) return fail(stats.error());
        emit(stats_event_json(id, *stats));
        return 0;
    }
    // Sub-millisecond intervals are rounded up to 1 ms.
    auto ms = std::max<std::chrono::milliseconds>(
        std::chrono::ceil<std::chrono::milliseconds>(*interval), std::chrono::milliseconds(1));
    if (auto r = rt.events(id, ms, emit); !r) return fail(r.error());
    return 0;
}

int cmd_list(Runtime& rt, const std::vector<std::string>& args) {
    po::options_description d;
    d.add_options()("format,f", po::value<std::string>()->default_value("table"), "")(
        "quiet,q", po::bool_switch(), "");
    po::variables_map vm;
    std::vector<std::string> rest;
    std::string err;
    if (!parse_command(args, d, vm, rest, err)) return usage_error("list: " + err);
    auto all = rt.list();
    if (!all) return fail(all.error());
    std::string format = vm["format"].as<std::string>();
    if (vm["quiet"].as<bool>()) {
        for (const auto& s : *all) std::cout << s.id << "\n";
        return 0;
    }
    if (format == "json") {
        json arr = json::array();
        for (const auto& s : *all) arr.push_back(json::parse(s.to_json()));
        std::cout << arr.dump() << "\n";
        return 0;
    }
    if (format != "table") return usage_error("list: --format must be table or json");
    std::vector<std::vector<std::string>> rows = {{"ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"}};
    for (const auto& s : *all)
        rows.push_back({s.id, std::to_string(s.pid), status_name(s.status), s.bundle, s.created,
                        s.owner});
    std::vector<size_t> width(6, 12);
    for (const auto& r : rows)
        for (size_t i = 0; i < r.size(); ++i) width[i] = std::max(width[i], r[i].size() + 3);
    for (const auto& r : rows) {
        std::string line;
        for (size_t i = 0; i < r.size(); ++i) line += i + 1 < r.size() ? pad(r[i], width[i]) : r[i];
        std::cout << line << "\n";
    }
    return 0;
}

int cmd_ps(Runtime& rt, const std::vector<std::string>& args) {
    po::options_description d;
    d.add_options()("format,f", po::value<std::string>()->default_value("table"), "");
    po::variables_map vm;
    std::vector<std::string> rest;
    std::string err;
    if (!parse_command(args, d, vm, rest, err)) return usage_error("ps: " + err);
    std::string id = need_id(rest, "ps", err);
    if (id.empty()) return usage_error(err);
    auto pids = rt.pids(id);
    if (!pids) return fail(pids.error());
    std::string format = vm["format"].as<std::string>();
    if (format == "json") {
        json arr = json::array();
        for (pid_t p : *pids) arr.push_back(p);
        std::cout << arr.dump() << "\n";
        return 0;
    }
    if (format != "table") return usage_error("ps: --format must be table or json");
    // Like runc: the host's ps output (default -ef), filtered to the container's pids.
    std::string cmd = "ps";
    if (rest.size() > 1) {
        for (size_t i = 1; i < rest.size(); ++i) {
            for (char c : rest[i])
                if (!isalnum(static_cast<unsigned char>(c)) && c != '-' && c != ',' && c != '=')
                    return usage_error("ps: unsupported character in ps option " + rest[i]);
            cmd += " " + rest[i];
        }
    } else {
        cmd += " -ef";
    }
    FILE* p = popen(cmd.c_str(), "re");
    if (!p) return fail(Error::from_errno("run " + cmd));
    std::set<pid_t> wanted(pids->begin(), pids->end());
    char line[4096];
    int pid_col = -1;
    bool header = true;
    while (fgets(line, sizeof line, p)) {
        std::istringstream fields(line);
        std::vector<std::string> cols;
        for (std::string f; fields >> f;) cols.push_back(f);
        if (header) {
            for (size_t i = 0; i < cols.size(); ++i)
                if (cols[i] == "PID") pid_col = static_cast<int>(i);
            std::cout << line;
            header = false;
            if (pid_col < 0) {
                pclose(p);
                return usage_error("ps: the ps output has no PID column");
            }
            continue;
        }
        if (static_cast<int>(cols.size()) > pid_col &&
            wanted.count(static_cast<pid_t>(atoi(cols[static_cast<size_t>(pid_col)].c_str()))))
            std::cout << line;
    }
    pclose(p);
    return 0;
}

int cmd_features() {
    json caps = isolation::known_capabilities();
    json f = {
        {"ociVersionMin", "1.0.0"},
        {"ociVersionMax", kSpecVersion},
        {"hooks", {"prestart", "createRuntime", "createContainer", "startContainer", "poststart",
                   "poststop"}},
        {"mountOptions",
         {"async", "atime", "bind", "defaults", "dev", "diratime", "dirsync", "exec", "loud",
          "mand", "noatime", "nodev", "nodiratime", "noexec", "nomand", "norelatime",
          "nostrictatime", "nosuid", "private", "rbind", "relatime", "remount", "ro", "rprivate",
          "rshared", "rslave", "runbindable", "rw", "shared", "silent", "slave", "strictatime",
          "suid", "sync", "unbindable"}},
        {"linux",
         {{"namespaces", {"cgroup", "ipc", "mount", "network", "pid", "time", "user", "uts"}},
          {"capabilities", caps},
          {"cgroup", {{"v1", true}, {"v2", true}, {"systemd", false}, {"systemdUser", false},
                      {"rdma", false}}},
          {"seccomp",
           {{"enabled", true},
            {"actions", isolation::seccomp_known_actions()},
            {"operators", isolation::seccomp_known_operators()},
            {"archs", isolation::seccomp_known_architectures()},
            {"knownFlags", isolation::seccomp_known_flags()},
            {"supportedFlags", isolation::seccomp_known_flags()}}},
          {"apparmor", {{"enabled", false}}},
          {"selinux", {{"enabled", false}}},
          {"intelRdt", {{"enabled", false}}},
          {"mountExtensions", {{"idmap", {{"enabled", false}}}}}}},
        {"annotations", {{"org.opencontainers.runtime-spec.features", kSpecVersion}}}};
    std::cout << f.dump(4) << "\n";
    return 0;
}

// Reads "--name value" or "--name=value" at argv[i]; advances i past what it used.
bool take_value(int argc, char** argv, int& i, const char* name, std::string& out) {
    std::string a = argv[i];
    std::string flag = std::string("--") + name;
    std::string single = std::string("-") + name;
    for (const auto& f : {flag, single}) {
        if (a == f) {
            if (i + 1 >= argc) return false;
            out = argv[++i];
            return true;
        }
        if (a.rfind(f + "=", 0) == 0) {
            out = a.substr(f.size() + 1);
            return true;
        }
    }
    return false;
}

}  // namespace

int main(int argc, char** argv) {
    Global g;
    int i = 1;
    std::string ignored;
    for (; i < argc; ++i) {
        std::string a = argv[i];
        if (a.empty() || a[0] != '-') break;
        if (a == "--version" || a == "-v" || a == "-version") {
            const scmp_version* v = seccomp_version();
            std::printf("skiff-oci version %s\nspec: %s\nlibseccomp: %u.%u.%u\n", kVersion,
                        kSpecVersion, v->major, v->minor, v->micro);
            return 0;
        }
        if (a == "--help" || a == "-h" || a == "-help") {
            std::fputs(kUsage, stdout);
            return 0;
        }
        if (a == "--debug" || a == "-debug") {
            g.debug = true;
            continue;
        }
        if (a == "--systemd-cgroup" || a == "-systemd-cgroup") {
            g.systemd_cgroup = true;
            continue;
        }
        if (take_value(argc, argv, i, "root", g.root) || take_value(argc, argv, i, "log", g.log_path) ||
            take_value(argc, argv, i, "log-format", g.log_format))
            continue;
        if (take_value(argc, argv, i, "rootless", g.rootless)) continue;
        // Accepted for runc compatibility; it changes nothing here.
        if (take_value(argc, argv, i, "criu", ignored)) continue;
        if (a == "--no-new-keyring") continue;
        std::fprintf(stderr, "skiff-oci: unknown global option %s (see skiff-oci --help)\n", a.c_str());
        return 1;
    }
    if (g.rootless != "auto" && g.rootless != "true" && g.rootless != "false") {
        std::fprintf(stderr, "skiff-oci: --rootless must be true, false or auto, not \"%s\"\n",
                     g.rootless.c_str());
        return 1;
    }
    if (g.root.empty()) g.root = default_root();
    if (g.log_format != "text" && g.log_format != "json") {
        std::fprintf(stderr, "skiff-oci: --log-format must be text or json, not \"%s\"\n",
                     g.log_format.c_str());
        return 1;
    }
    if (!log::configure(g.log_path,
                        g.log_format == "json" ? log::Format::json : log::Format::text, g.debug)) {
        std::fprintf(stderr, "skiff-oci: --log %s: %s\n", g.log_path.c_str(), std::strerror(errno));
        return 1;
    }
    if (i >= argc) {
        std::fputs(kUsage, stderr);
        return 1;
    }
    std::string cmd = argv[i++];
    // The commands that put processes of ours into a container run from a binary those processes
    // cannot write (CVE-2019-5736): this re-executes skiff-oci once, before anything else.
    if (cmd == "create" || cmd == "run" || cmd == "exec") {
        const char* method = std::getenv("SKIFF_OCI_EXE_GUARD");
        auto guard = protect_own_binary(argv, method && std::strcmp(method, "memfd") == 0
                                                  ? ExeGuardMethod::sealed_memfd
                                                  : ExeGuardMethod::read_only_bind);
        if (!guard) {
            int rc = fail(guard.error());
            return cmd == "exec" ? 255 : rc;  // exec's own failures exit with 255, as runc's
        }
        log::debug(std::string("binary protection: ") + exe_guard_name(*guard));
    }
    std::vector<std::string> args(argv + i, argv + argc);
    Runtime rt(g.root, g.systemd_cgroup,
               g.rootless == "auto" ? std::nullopt : std::optional<bool>(g.rootless == "true"));
    if (cmd == "spec") return cmd_spec(args);
    if (cmd == "create") return cmd_create(rt, args, false);
    if (cmd == "run") return cmd_create(rt, args, true);
    if (cmd == "start" || cmd == "state" || cmd == "kill" || cmd == "delete" || cmd == "pause" ||
        cmd == "resume")
        return cmd_simple(rt, cmd, args);
    if (cmd == "update") return cmd_update(rt, args);
    if (cmd == "events") return cmd_events(rt, args);
    if (cmd == "list") return cmd_list(rt, args);
    if (cmd == "ps") return cmd_ps(rt, args);
    if (cmd == "exec") return cmd_exec(rt, args);
    if (cmd == "features") return cmd_features();
    if (cmd == "help") {
        std::fputs(kUsage, stdout);
        return 0;
    }
    return usage_error("unknown command \"" + cmd + "\"");
}
