// Root tests of the container manager: real overlay mounts, the runtime, a busybox image in two
// layers.
#include "skiff/cli/containers.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <pty.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <termios.h>
#include <unistd.h>

#include <chrono>
#include <map>
#include <optional>
#include <set>
#include <thread>

#include "skiff/base/fs.hpp"
#include "skiff/base/unique_fd.hpp"

namespace skiff::cli {
namespace {

using namespace std::chrono_literals;

bool mounted_under(const std::string& prefix) {
    auto info = fs::read_file("/proc/self/mountinfo");
    return info && info->find(prefix) != std::string::npos;
}

std::vector<std::string> entries(const std::string& dir) {
    std::vector<std::string> out;
    if (DIR* d = opendir(dir.c_str())) {
        while (dirent* e = readdir(d))
            if (e->d_name[0] != '.') out.emplace_back(e->d_name);
        closedir(d);
    }
    return out;
}

class Containers : public ::testing::Test {
  protected:
    void SetUp() override {
        if (geteuid() != 0) GTEST_SKIP() << "needs root (mounts, namespaces, cgroups)";
        char tmpl[] = "/tmp/skiff-containers-XXXXXX";
        ASSERT_NE(mkdtemp(tmpl), nullptr);
        root_ = tmpl;
        make_layers();
        ManagerOptions o;
        o.root = root_ + "/containers";
        o.runtime_root = root_ + "/run";
        manager_.emplace(o);
    }

    void TearDown() override {
        if (root_.empty()) return;
        if (manager_) {
            if (auto all = manager_->ps(true))
                for (const auto& c : *all) (void)manager_->rm(c.id, true);
        }
        // Whatever a failed test left mounted, detached before the tree goes.
        while (mounted_under(root_)) {
            auto info = fs::read_file("/proc/self/mountinfo");
            size_t at = info->find(root_);
            std::string target = info->substr(at, info->find(' ', at) - at);
            if (umount2(target.c_str(), MNT_DETACH) != 0) break;
        }
        (void)fs::remove_all(root_);
    }

    void make_layers() {
        std::string l1 = root_ + "/layer1", l2 = root_ + "/layer2";
        ASSERT_TRUE(fs::make_dirs(l1 + "/bin"));
        ASSERT_TRUE(fs::make_dirs(l1 + "/etc"));
        ASSERT_TRUE(fs::make_dirs(l1 + "/tmp"));
        ASSERT_TRUE(fs::make_dirs(l1 + "/home/app"));
        auto busybox = fs::read_file("/bin/busybox");
        ASSERT_TRUE(busybox);
        ASSERT_TRUE(fs::write_file(l1 + "/bin/busybox", *busybox, 0755));
        for (const char* applet :
             {"sh", "echo", "cat", "sleep", "true", "test", "id", "kill", "stty"})
            ASSERT_EQ(symlink("busybox", (l1 + "/bin/" + applet).c_str()), 0);
        ASSERT_TRUE(fs::write_file(l1 + "/etc/passwd",
                                   "root:x:0:0:root:/root:/bin/sh\n"
                                   "app:x:1000:1000:app:/home/app:/bin/sh\n"));
        ASSERT_TRUE(fs::write_file(l1 + "/etc/group", "root:x:0:\napp:x:1000:\n"));
        ASSERT_TRUE(fs::write_file(l1 + "/etc/doomed", "below\n"));
        ASSERT_TRUE(fs::write_file(l1 + "/etc/kept", "kept\n"));
        ASSERT_TRUE(fs::make_dirs(l2 + "/etc"));
        ASSERT_TRUE(fs::write_file(l2 + "/etc/added", "added\n"));
        // An overlay whiteout: the layer deletes /etc/doomed.
        ASSERT_EQ(mknod((l2 + "/etc/doomed").c_str(), S_IFCHR | 0000, makedev(0, 0)), 0);
        layers_ = {l1, l2};
    }

    RunRequest request(std::vector<std::string> command) {
        RunRequest r;
        r.image_name = "busybox:test";
        r.image.cmd = {"sh"};
        r.image.env = {"PATH=/bin"};
        r.layers = layers_;
        r.options.command = std::move(command);
        return r;
    }

    struct Captured {
        Result<RunResult> result;
        std::string out;
    };
    // Runs with our stdout pointed at a file: the container writes to the caller's stdout.
    Captured run_captured(const RunRequest& req) {
        std::string path = root_ + "/stdout";
        fflush(stdout);
        UniqueFd file(open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
        UniqueFd saved(fcntl(STDOUT_FILENO, F_DUPFD_CLOEXEC, 3));
        dup2(file.get(), STDOUT_FILENO);
        auto r = manager_->run(req);
        fflush(stdout);
        dup2(saved.get(), STDOUT_FILENO);
        auto text = fs::read_file(path);
        return {std::move(r), text ? *text : ""};
    }

    std::string logs_of(const std::string& name, bool follow = false) {
        std::string path = root_ + "/logs";
        UniqueFd file(open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
        auto r = manager_->logs(name, follow, file.get());
        EXPECT_TRUE(r) << r.error().what();
        auto text = fs::read_file(path);
        return text ? *text : "";
    }

    // Waits up to timeout for the log of name to contain text.
    bool log_contains(const std::string& name, const std::string& text,
                      std::chrono::milliseconds timeout = 3s) {
        auto deadline = std::chrono::steady_clock::now() + timeout;
        while (std::chrono::steady_clock::now() < deadline) {
            if (logs_of(name).find(text) != std::string::npos) return true;
            std::this_thread::sleep_for(20ms);
        }
        return false;
    }

    void expect_nothing_left() {
        EXPECT_TRUE(entries(root_ + "/containers").empty());
        EXPECT_TRUE(entries(root_ + "/run").empty());
        EXPECT_FALSE(mounted_under(root_));
    }

    std::string root_;
    std::vector<std::string> layers_;
    std::optional<ContainerManager> manager_;
};

TEST_F(Containers, ForegroundExitCodePassesThroughAndIsRecorded) {
    auto c = run_captured(request({"sh", "-c", "echo hello; exit 3"}));
    ASSERT_TRUE(c.result) << c.result.error().what();
    EXPECT_EQ(c.result->exit_code, 3);
    EXPECT_EQ(c.out, "hello\n");
    auto all = manager_->ps(true);
    ASSERT_TRUE(all);
    ASSERT_EQ(all->size(), 1u);
    EXPECT_EQ((*all)[0].state, ContainerState::exited);
    EXPECT_EQ((*all)[0].exit_code, 3);
    EXPECT_EQ(status_text((*all)[0], (*all)[0].finished + 2s), "Exited (3) 2 seconds ago");
    auto running = manager_->ps(false);
    ASSERT_TRUE(running);
    EXPECT_TRUE(running->empty());
    // The exited container keeps its directory but no mount and no runtime state.
    EXPECT_FALSE(mounted_under(root_));
    EXPECT_TRUE(entries(root_ + "/run").empty());
}

TEST_F(Containers, EnvUserAndWorkdirComeFromTheImage) {
    RunRequest req = request({"sh", "-c", "echo $GREETING $EXTRA $(id -u) $HOME $(pwd)"});
    req.image.env.push_back("GREETING=hi");
    req.image.user = "app";
    req.image.working_dir = "/tmp";
    req.options.env = {"EXTRA=more"};
    req.remove_after = true;
    auto c = run_captured(req);
    ASSERT_TRUE(c.result) << c.result.error().what();
    EXPECT_EQ(c.result->exit_code, 0);
    EXPECT_EQ(c.out, "hi more 1000 /home/app /tmp\n");
}

TEST_F(Containers, UpperLayerAddsAndWhiteoutDeletes) {
    RunRequest req =
        request({"sh", "-c",
                 "cat /etc/added /etc/kept; test -e /etc/doomed && echo present || echo absent"});
    req.remove_after = true;
    auto c = run_captured(req);
    ASSERT_TRUE(c.result) << c.result.error().what();
    EXPECT_EQ(c.out, "added\nkept\nabsent\n");
}

TEST_F(Containers, ReadOnlyRootfsRefusesWrites) {
    RunRequest req = request({"sh", "-c", "(echo x > /etc/new) 2>/dev/null && echo rw || echo ro"});
    req.options.read_only = true;
    req.remove_after = true;
    auto c = run_captured(req);
    ASSERT_TRUE(c.result) << c.result.error().what();
    EXPECT_EQ(c.out, "ro\n");
    req.options.read_only = false;
    c = run_captured(req);
    ASSERT_TRUE(c.result) << c.result.error().what();
    EXPECT_EQ(c.out, "rw\n");
}

TEST_F(Containers, TtyGivesTheContainerATerminalWithoutOneHere) {
    RunRequest req = request({"sh", "-c", "test -t 0 && test -t 1 && echo tty; exit 4"});
    req.tty = true;
    req.remove_after = true;
    auto c = run_captured(req);
    ASSERT_TRUE(c.result) << c.result.error().what();
    EXPECT_EQ(c.result->exit_code, 4);
    EXPECT_EQ(c.out, "tty\r\n");
    expect_nothing_left();
}

TEST_F(Containers, InteractiveTtyProxiesBothWaysAndRestoresTheTerminal) {
    // Our stdin and stdout become a terminal whose other side this test types into.
    int master_fd = -1, slave_fd = -1;
    winsize ws{};
    ws.ws_row = 33;
    ws.ws_col = 77;
    ASSERT_EQ(openpty(&master_fd, &slave_fd, nullptr, nullptr, &ws), 0);
    UniqueFd master(master_fd), slave(slave_fd);
    std::string typed = "stty size; exit 5\n";
    ASSERT_EQ(write(master.get(), typed.data(), typed.size()), static_cast<ssize_t>(typed.size()));
    fflush(stdout);
    UniqueFd saved_in(fcntl(STDIN_FILENO, F_DUPFD_CLOEXEC, 3));
    UniqueFd saved_out(fcntl(STDOUT_FILENO, F_DUPFD_CLOEXEC, 3));
    dup2(slave.get(), STDIN_FILENO);
    dup2(slave.get(), STDOUT_FILENO);
    RunRequest req = request({"sh"});
    req.tty = req.interactive = true;
    req.remove_after = true;
    auto r = manager_->run(req);
    termios after{};
    tcgetattr(STDIN_FILENO, &after);
    fflush(stdout);
    dup2(saved_in.get(), STDIN_FILENO);
    dup2(saved_out.get(), STDOUT_FILENO);
    ASSERT_TRUE(r) << r.error().what();
    EXPECT_EQ(r->exit_code, 5);
    EXPECT_TRUE(after.c_lflag & ICANON) << "raw mode was not undone";
    fcntl(master.get(), F_SETFL, O_NONBLOCK);
    std::string seen;
    char buf[4096];
    for (ssize_t n; (n = read(master.get(), buf, sizeof buf)) > 0;) seen.append(buf, n);
    EXPECT_NE(seen.find("33 77"), std::string::npos) << seen;
    expect_nothing_left();
}

TEST_F(Containers, DetachedLifecyclePsLogsStopRm) {
    RunRequest req = request(
        {"sh", "-c", "echo started; trap 'echo bye; exit 0' TERM; while true; do sleep 0.1; done"});
    req.detach = true;
    req.name = "web";
    auto c = run_captured(req);
    ASSERT_TRUE(c.result) << c.result.error().what();
    EXPECT_EQ(c.out, "");  // the output goes to the log, not to the caller
    std::string id = c.result->id;
    EXPECT_TRUE(id.size() == 64 && id.find_first_not_of("0123456789abcdef") == std::string::npos);

    auto running = manager_->ps(false);
    ASSERT_TRUE(running);
    ASSERT_EQ(running->size(), 1u);
    EXPECT_EQ((*running)[0].name, "web");
    EXPECT_EQ((*running)[0].state, ContainerState::running);
    std::string table = format_ps(*running, std::chrono::system_clock::now());
    EXPECT_NE(table.find(id.substr(0, 12)), std::string::npos) << table;
    EXPECT_NE(table.find("Up "), std::string::npos) << table;
    EXPECT_NE(table.find("busybox:test"), std::string::npos) << table;

    EXPECT_TRUE(log_contains("web", "started\n"));
    auto refused = manager_->rm("web", false);
    ASSERT_FALSE(refused);
    EXPECT_EQ(refused.error().message(), "container web is running: stop it first or use -f");

    auto t0 = std::chrono::steady_clock::now();
    auto stopped = manager_->stop("web", 5);
    ASSERT_TRUE(stopped) << stopped.error().what();
    EXPECT_LT(std::chrono::steady_clock::now() - t0, 3s);  // the trap ended it, not SIGKILL
    auto info = manager_->inspect(id.substr(0, 5));
    ASSERT_TRUE(info) << info.error().what();
    EXPECT_EQ(info->state, ContainerState::exited);
    EXPECT_EQ(info->exit_code, 0);
    EXPECT_EQ(logs_of(id), "started\nbye\n");
    EXPECT_TRUE(manager_->stop("web", 5));  // stopping a stopped container is fine
    EXPECT_FALSE(mounted_under(root_));

    auto removed = manager_->rm("web", false);
    ASSERT_TRUE(removed) << removed.error().what();
    EXPECT_FALSE(fs::exists(info->dir));
    expect_nothing_left();
    auto gone = manager_->inspect("web");
    ASSERT_FALSE(gone);
    EXPECT_EQ(gone.error().message(), "no such container: web");
}

TEST_F(Containers, StopKillsAfterTheTimeoutAndRmForceRemovesARunningOne) {
    // sh as pid 1 without a trap ignores SIGTERM: only the SIGKILL ends it.
    RunRequest req = request({"sh", "-c", "while true; do sleep 0.1; done"});
    req.detach = true;
    req.name = "stubborn";
    auto c = run_captured(req);
    ASSERT_TRUE(c.result) << c.result.error().what();
    auto t0 = std::chrono::steady_clock::now();
    ASSERT_TRUE(manager_->stop("stubborn", 1));
    EXPECT_GE(std::chrono::steady_clock::now() - t0, 900ms);
    auto info = manager_->inspect("stubborn");
    ASSERT_TRUE(info);
    EXPECT_EQ(info->state, ContainerState::exited);
    EXPECT_EQ(info->exit_code, 128 + SIGKILL);

    req.name = "forced";
    c = run_captured(req);
    ASSERT_TRUE(c.result) << c.result.error().what();
    auto removed = manager_->rm("forced", true);
    ASSERT_TRUE(removed) << removed.error().what();
    ASSERT_TRUE(manager_->rm("stubborn", false));
    expect_nothing_left();
}

TEST_F(Containers, LogsFollowUntilTheContainerStops) {
    RunRequest req = request({"sh", "-c", "echo one; sleep 0.5; echo two"});
    req.detach = true;
    req.name = "talker";
    auto c = run_captured(req);
    ASSERT_TRUE(c.result) << c.result.error().what();
    EXPECT_EQ(logs_of("talker", true), "one\ntwo\n");
    auto info = manager_->inspect("talker");
    ASSERT_TRUE(info);
    EXPECT_EQ(info->state, ContainerState::exited);
}

TEST_F(Containers, NamesAreUniqueAndGenerated) {
    RunRequest req = request({"true"});
    req.name = "web";
    auto first = run_captured(req);
    ASSERT_TRUE(first.result) << first.result.error().what();
    auto second = run_captured(req);
    ASSERT_FALSE(second.result);
    EXPECT_EQ(second.result.error().message(),
              "name \"web\" is already in use by container " + first.result->id.substr(0, 12));
    EXPECT_EQ(entries(root_ + "/containers").size(), 1u);

    req.name = "";
    auto a = run_captured(req), b = run_captured(req);
    ASSERT_TRUE(a.result && b.result);
    auto ia = manager_->inspect(a.result->id), ib = manager_->inspect(b.result->id);
    ASSERT_TRUE(ia && ib);
    // adjective_noun
    size_t underscore = ia->name.find('_');
    EXPECT_TRUE(underscore != std::string::npos && underscore > 0 &&
                ia->name.find_first_not_of("abcdefghijklmnopqrstuvwxyz_0123456789") ==
                    std::string::npos)
        << ia->name;
    EXPECT_NE(ia->name, ib->name);
    EXPECT_NE(ia->name, "web");
}

TEST_F(Containers, LookupByNameIdAndUniquePrefix) {
    // 17 ids must share a first hex digit; usually far fewer do.
    std::map<char, std::vector<std::string>> by_first;
    std::string shared;
    for (int i = 0; i < 17 && shared.empty(); ++i) {
        auto c = run_captured(request({"true"}));
        ASSERT_TRUE(c.result) << c.result.error().what();
        auto& ids = by_first[c.result->id[0]];
        ids.push_back(c.result->id);
        if (ids.size() == 2) shared = std::string(1, c.result->id[0]);
    }
    ASSERT_FALSE(shared.empty());
    auto ambiguous = manager_->resolve(shared);
    ASSERT_FALSE(ambiguous);
    for (const auto& id : by_first[shared[0]])
        EXPECT_NE(ambiguous.error().message().find(id.substr(0, 12)), std::string::npos)
            << ambiguous.error().message();
    const std::string& id = by_first[shared[0]][0];
    auto by_short = manager_->resolve(id.substr(0, 12));
    ASSERT_TRUE(by_short);
    EXPECT_EQ(*by_short, id);
    auto by_full = manager_->resolve(id);
    ASSERT_TRUE(by_full);
    EXPECT_EQ(*by_full, id);
    auto info = manager_->inspect(id);
    ASSERT_TRUE(info);
    auto by_name = manager_->resolve(info->name);
    ASSERT_TRUE(by_name);
    EXPECT_EQ(*by_name, id);
    auto unknown = manager_->resolve("nosuch");
    ASSERT_FALSE(unknown);
    EXPECT_EQ(unknown.error().message(), "no such container: nosuch");
}

TEST_F(Containers, RmFlagRemovesEverythingAfterExit) {
    RunRequest req = request({"sh", "-c", "echo bye; exit 7"});
    req.remove_after = true;
    auto c = run_captured(req);
    ASSERT_TRUE(c.result) << c.result.error().what();
    EXPECT_EQ(c.result->exit_code, 7);
    EXPECT_EQ(c.out, "bye\n");
    expect_nothing_left();

    // Detached: the monitor removes it once it exits.
    req.detach = true;
    c = run_captured(req);
    ASSERT_TRUE(c.result) << c.result.error().what();
    auto deadline = std::chrono::steady_clock::now() + 5s;
    while (!entries(root_ + "/containers").empty() && std::chrono::steady_clock::now() < deadline)
        std::this_thread::sleep_for(20ms);
    expect_nothing_left();
}

TEST_F(Containers, FailedRunsLeaveNothing) {
    auto missing = run_captured(request({"/no/such/program"}));
    ASSERT_FALSE(missing.result);
    EXPECT_NE(missing.result.error().message().find("/no/such/program"), std::string::npos)
        << missing.result.error().what();
    expect_nothing_left();

    RunRequest detached = request({"nosuchcommand"});
    detached.detach = true;
    auto d = run_captured(detached);
    ASSERT_FALSE(d.result);
    EXPECT_NE(d.result.error().message().find("nosuchcommand"), std::string::npos)
        << d.result.error().what();
    expect_nothing_left();

    RunRequest bad_user = request({"true"});
    bad_user.image.user = "nobody-here";
    ASSERT_FALSE(run_captured(bad_user).result);
    expect_nothing_left();
}

TEST(ContainersFormat, PsTableAndDurations) {
    using namespace std::chrono;
    auto now = system_clock::now();
    ContainerInfo up;
    up.id = std::string(64, 'a');
    up.name = "web";
    up.image = "busybox:latest";
    up.command = {"sh", "-c", "while true; do sleep 1; done"};
    up.created = now - 90s;
    up.started = now - 5s;
    up.state = ContainerState::running;
    ContainerInfo gone = up;
    gone.name = "old";
    gone.state = ContainerState::exited;
    gone.exit_code = 143;
    gone.finished = now - 3h;
    ContainerInfo fresh = up;
    fresh.state = ContainerState::created;
    std::string table = format_ps({up, gone, fresh}, now);
    EXPECT_EQ(table,
              "CONTAINER ID   IMAGE            COMMAND                  CREATED              "
              "STATUS                     NAMES\n"
              "aaaaaaaaaaaa   busybox:latest   \"sh -c while true; d…\"   About a minute ago   "
              "Up 5 seconds               web\n"
              "aaaaaaaaaaaa   busybox:latest   \"sh -c while true; d…\"   About a minute ago   "
              "Exited (143) 3 hours ago   old\n"
              "aaaaaaaaaaaa   busybox:latest   \"sh -c while true; d…\"   About a minute ago   "
              "Created                    web\n");
    EXPECT_EQ(human_duration(500ms), "Less than a second");
    EXPECT_EQ(human_duration(1s), "1 second");
    EXPECT_EQ(human_duration(45min), "45 minutes");
    EXPECT_EQ(human_duration(72h), "3 days");
}

}  // namespace
}  // namespace skiff::cli
