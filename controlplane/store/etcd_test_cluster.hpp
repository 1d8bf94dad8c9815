// For the store tests: real etcd members on free loopback ports, killed by pid and removed at the
// end.
#pragma once

#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "skiff/base/fs.hpp"
#include "skiff/store/store.hpp"

extern char** environ;

namespace skiff::store::testing {

class EtcdCluster {
  public:
    // Starts `members` members (one cluster) under a new directory in parent: /dev/shm by
    // default, as the tests check semantics and etcd's fsync on every commit costs little there
    // (benchmarks pass a directory on disk).
    static Result<std::unique_ptr<EtcdCluster>> start(int members,
                                                      const std::string& parent = "/dev/shm") {
        std::unique_ptr<EtcdCluster> c(new EtcdCluster);
        std::string tmpl = parent + "/skiff-etcd-test-XXXXXX";
        if (!mkdtemp(tmpl.data())) return Error::from_errno("mkdtemp in " + parent);
        c->dir_ = tmpl;
        auto ports = free_ports(2 * members);
        if (!ports) return std::move(ports).error();
        std::string initial;
        for (int i = 0; i < members; ++i) {
            c->members_.push_back(
                Member{"m" + std::to_string(i), (*ports)[2 * i], (*ports)[2 * i + 1], -1});
            initial += (i ? "," : "") + c->members_[i].name + "=" + c->members_[i].peer_url();
        }
        for (auto& m : c->members_) {
            std::vector<std::string> args = {
                "etcd", "--name", m.name, "--data-dir", c->dir_ + "/" + m.name,
                "--listen-client-urls", m.client_url(), "--advertise-client-urls", m.client_url(),
                "--listen-peer-urls", m.peer_url(), "--initial-advertise-peer-urls", m.peer_url(),
                "--initial-cluster", initial, "--initial-cluster-state", "new",
                "--initial-cluster-token", c->dir_,
                // Fast elections for the failover test; values of a few MiB (etcd's default
                // --max-request-bytes is 1.5 MiB; the conformance suite stores 3 MiB).
                "--heartbeat-interval", "50", "--election-timeout", "500", "--max-request-bytes",
                "16777216", "--logger", "zap", "--log-outputs", "stderr"};
            if (auto s = c->spawn(m, args); !s) return std::move(s).error();
        }
        // Ready when each member serves a linearizable read (so the cluster has a leader).
        for (auto& m : c->members_) {
            auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
            for (;;) {
                EtcdOptions o;
                o.endpoints = {m.client_url()};
                o.request_timeout = std::chrono::milliseconds(500);
                auto store = open_etcd(o);
                if (store) break;
                if (std::chrono::steady_clock::now() > deadline)
                    return std::move(store).error().context(
                        "etcd " + m.name + " did not start (log in " + c->dir_ + ")");
                std::this_thread::sleep_for(std::chrono::milliseconds(50));
            }
        }
        return c;
    }

    ~EtcdCluster() {
        for (size_t i = 0; i < members_.size(); ++i) kill_member(i);
        if (!dir_.empty()) (void)fs::remove_all(dir_);
    }

    std::vector<std::string> client_urls() const {
        std::vector<std::string> urls;
        for (auto& m : members_) urls.push_back(m.client_url());
        return urls;
    }
    std::string client_url(size_t i) const { return members_[i].client_url(); }

    // SIGKILL: the member dies mid-request, as a crash would.
    void kill_member(size_t i) {
        Member& m = members_[i];
        if (m.pid <= 0) return;
        ::kill(m.pid, SIGKILL);
        int status = 0;
        while (waitpid(m.pid, &status, 0) < 0 && errno == EINTR) {
        }
        m.pid = -1;
    }

  private:
    struct Member {
        std::string name;
        int client_port, peer_port;
        pid_t pid;
        std::string client_url() const { return "http://127.0.0.1:" + std::to_string(client_port); }
        std::string peer_url() const { return "http://127.0.0.1:" + std::to_string(peer_port); }
    };

    EtcdCluster() = default;

    // Ports the kernel hands out for loopback, all held until every one is picked (no repeats).
    static Result<std::vector<int>> free_ports(int n) {
        std::vector<int> fds, ports;
        Status status;
        for (int i = 0; i < n && status; ++i) {
            int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
            sockaddr_in a{};
            a.sin_family = AF_INET;
            a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
            socklen_t len = sizeof a;
            if (fd < 0 || bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
                getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0)
                status = Error::from_errno("pick a free port");
            if (fd >= 0) fds.push_back(fd);
            ports.push_back(ntohs(a.sin_port));
        }
        for (int fd : fds) close(fd);
        if (!status) return std::move(status).error();
        return ports;
    }

    Status spawn(Member& m, const std::vector<std::string>& args) {
        std::string log = dir_ + "/" + m.name + ".log";
        posix_spawn_file_actions_t fa;
        posix_spawn_file_actions_init(&fa);
        posix_spawn_file_actions_addopen(&fa, 1, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
        posix_spawn_file_actions_adddup2(&fa, 1, 2);
        std::vector<char*> argv;
        for (auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
        argv.push_back(nullptr);
        pid_t pid = -1;
        int rc = posix_spawnp(&pid, "etcd", &fa, nullptr, argv.data(), environ);
        posix_spawn_file_actions_destroy(&fa);
        if (rc != 0)
            return Error::from_errno(rc, "start etcd (is etcd-server installed? tools/setup)");
        m.pid = pid;
        return {};
    }

    std::string dir_;
    std::vector<Member> members_;
};

}  // namespace skiff::store::testing
