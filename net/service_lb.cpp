// The service load balancer's loader: loads and attaches the socket programs once (links pinned, so they
// outlive this process), then every change is a few writes to the pinned maps.
#include "skiff/net/service_lb.hpp"

#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <dirent.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <memory>
#include <set>

#include "skiff/base/fs.hpp"
#include "skiff/net/bpf_types.h"
#include "sock_lb.skel.h"
#include "bpf_pins.hpp"

namespace skiff::net {

using bpf_pins::is_on;
using bpf_pins::libbpf_error;
using bpf_pins::link_pin;
using bpf_pins::map_pin;

namespace {

constexpr uint32_t kServiceIdWords = SKIFF_MAX_SERVICES / 64;
constexpr uint32_t kBackendIdWords = SKIFF_MAX_BACKENDS / 64;
constexpr uint32_t kIdWords = kServiceIdWords + kBackendIdWords;

const char* const kMaps[] = {SKIFF_MAP_SERVICES, SKIFF_MAP_SLOTS,     SKIFF_MAP_BACKENDS, SKIFF_MAP_SOCK_REV,
                             SKIFF_MAP_AFFINITY, SKIFF_MAP_SVC_STATS, SKIFF_MAP_BE_STATS, SKIFF_MAP_IDS};
const char* const kPrograms[] = {"skiff_connect4", "skiff_sendmsg4", "skiff_recvmsg4", "skiff_getpeername4"};

// The cgroup a pinned link is attached to (its cgroup id), or 0 when it is not a live cgroup link.
uint64_t link_cgroup_id(const std::string& pin) {
    UniqueFd fd(bpf_obj_get(pin.c_str()));
    if (!fd) return 0;
    bpf_link_info info{};
    uint32_t len = sizeof info;
    if (bpf_obj_get_info_by_fd(fd.get(), &info, &len) != 0 || info.type != BPF_LINK_TYPE_CGROUP) return 0;
    return info.cgroup.cgroup_id;
}

// Loads the socket programs with their maps pinned under bpffs/maps (reusing pinned ones) and attaches
// each program whose link is not pinned yet.
Status load_and_attach(const std::string& bpffs, int cgroup_fd, const std::string& cgroup) {
    struct sock_lb* skel = sock_lb__open();
    if (!skel) return libbpf_error(errno, "open the socket programs");
    auto destroy = [&] { sock_lb__destroy(skel); };
    bpf_map* map;
    bpf_object__for_each_map(map, skel->obj) {
        if (int err = bpf_map__set_pin_path(map, map_pin(bpffs, bpf_map__name(map)).c_str())) {
            destroy();
            return libbpf_error(err, std::string("pin path of map ") + bpf_map__name(map));
        }
    }
    if (int err = sock_lb__load(skel)) {
        destroy();
        return libbpf_error(err, "load the socket programs");
    }
    bpf_program* prog;
    bpf_object__for_each_program(prog, skel->obj) {
        std::string pin = link_pin(bpffs, bpf_program__name(prog));
        if (fs::exists(pin)) continue;
        bpf_link* link = bpf_program__attach_cgroup(prog, cgroup_fd);
        if (!link) {
            int err = errno;
            destroy();
            return libbpf_error(err, std::string("attach ") + bpf_program__name(prog) + " to " + cgroup);
        }
        int err = bpf_link__pin(link, pin.c_str());
        bpf_link__destroy(link);  // the pin holds the link; closing our fd does not detach it
        if (err) {
            destroy();
            return libbpf_error(err, "pin " + pin);
        }
    }
    destroy();
    return {};
}

Status ensure_id_map(const std::string& bpffs) {
    std::string pin = map_pin(bpffs, SKIFF_MAP_IDS);
    if (fs::exists(pin)) return {};
    LIBBPF_OPTS(bpf_map_create_opts, opts, .map_flags = BPF_F_MMAPABLE);
    UniqueFd fd(bpf_map_create(BPF_MAP_TYPE_ARRAY, SKIFF_MAP_IDS, sizeof(uint32_t), sizeof(uint64_t), kIdWords, &opts));
    if (!fd) return Error::from_errno("create map " SKIFF_MAP_IDS);
    if (bpf_obj_pin(fd.get(), pin.c_str()) != 0) return Error::from_errno("pin " + pin);
    return {};
}

skiff_svc_key bpf_key(const ServiceKey& k, uint8_t scope) {
    skiff_svc_key key{};
    key.addr = scope == SKIFF_SCOPE_NODE_PORT ? 0 : htonl(k.vip.ip);
    key.port = htons(k.vip.port);
    key.proto = static_cast<uint8_t>(k.protocol);
    key.scope = scope;
    return key;
}

skiff_svc_key node_port_key(uint16_t node_port, Protocol proto) {
    skiff_svc_key key{};
    key.port = htons(node_port);
    key.proto = static_cast<uint8_t>(proto);
    key.scope = SKIFF_SCOPE_NODE_PORT;
    return key;
}

Endpoint endpoint_of(const skiff_backend& b) { return Endpoint{ntohl(b.addr), ntohs(b.port)}; }

// Every entry of a (non-per-CPU) hash map, read with batched lookups.
template <class K, class V>
Result<std::vector<std::pair<K, V>>> dump_map(int fd, const char* name) {
    std::vector<std::pair<K, V>> out;
    constexpr uint32_t kChunk = 4096;
    std::vector<K> keys(kChunk);
    std::vector<V> values(kChunk);
    uint64_t token = 0;  // the hash table's bucket cursor
    bool first = true;
    for (;;) {
        uint32_t count = kChunk;
        LIBBPF_OPTS(bpf_map_batch_opts, opts);
        int err = bpf_map_lookup_batch(fd, first ? nullptr : &token, &token, keys.data(), values.data(), &count, &opts);
        if (err && errno != ENOENT) return Error::from_errno(std::string("read map ") + name);
        for (uint32_t i = 0; i < count; ++i) out.emplace_back(keys[i], values[i]);
        if (err) break;  // ENOENT: that was the last batch
        first = false;
    }
    return out;
}

// Entries of services that did not exist before, written with one batched update per map at the end of
// an apply (backends, then slots, then the services: the same order as one upsert).
struct PendingWrites {
    std::vector<uint32_t> backend_keys;
    std::vector<skiff_backend> backends;
    std::vector<skiff_slot_key> slot_keys;
    std::vector<skiff_slot> slots;
    std::vector<skiff_svc_key> service_keys;
    std::vector<skiff_svc> services;
};

template <class K, class V>
Status update_batch(int fd, std::vector<K>& keys, std::vector<V>& values, const char* name) {
    for (size_t done = 0; done < keys.size();) {
        uint32_t count = static_cast<uint32_t>(std::min<size_t>(keys.size() - done, 8192));
        LIBBPF_OPTS(bpf_map_batch_opts, opts);
        if (bpf_map_update_batch(fd, keys.data() + done, values.data() + done, &count, &opts) != 0)
            return Error::from_errno(std::string("write map ") + name);
        done += count;
    }
    return {};
}

}  // namespace

struct ServiceLb::State {
    std::string bpffs;
    UniqueFd lock;
    UniqueFd svc, slots, backends, sock_rev, affinity, svc_stats, be_stats, ids;
    uint64_t* id_words = nullptr;  // the mmapped id bitmaps: services first, then backends
    int ncpus = 1;

    ~State() {
        if (id_words) munmap(id_words, kIdWords * sizeof(uint64_t));
    }

    // Lowest free id of one bitmap (ids 1..), marked used; 0 when all are taken.
    uint32_t allocate(uint32_t first_word, uint32_t words) {
        for (uint32_t w = first_word; w < first_word + words; ++w) {
            uint64_t free_bits = ~id_words[w];
            if (w == first_word) free_bits &= ~uint64_t{1};  // id 0 means "none"
            if (!free_bits) continue;
            uint32_t bit = static_cast<uint32_t>(__builtin_ctzll(free_bits));
            id_words[w] |= uint64_t{1} << bit;
            return (w - first_word) * 64 + bit;
        }
        return 0;
    }
    void release(uint32_t first_word, uint32_t id) { id_words[first_word + id / 64] &= ~(uint64_t{1} << (id % 64)); }
    Result<uint32_t> allocate_service() {
        if (uint32_t id = allocate(0, kServiceIdWords)) return id;
        return Error(ENOSPC, "no free service id: " + std::to_string(SKIFF_MAX_SERVICES - 1) + " services exist");
    }
    Result<uint32_t> allocate_backend() {
        if (uint32_t id = allocate(kServiceIdWords, kBackendIdWords)) return id;
        return Error(ENOSPC, "no free backend id: " + std::to_string(SKIFF_MAX_BACKENDS - 1) + " backends exist");
    }

    Status zero_counters(int fd, uint32_t id) {
        std::vector<skiff_counters> zero(static_cast<size_t>(ncpus));
        if (bpf_map_update_elem(fd, &id, zero.data(), BPF_ANY) != 0) return Error::from_errno("reset counters");
        return {};
    }
    // Deletes a backend entry and gives its id back, counters zeroed for the next user.
    Status drop_backend(uint32_t id) {
        if (bpf_map_delete_elem(backends.get(), &id) != 0 && errno != ENOENT)
            return Error::from_errno("delete backend " + std::to_string(id));
        SKIFF_TRY(zero_counters(be_stats.get(), id));
        release(kServiceIdWords, id);
        return {};
    }

    Result<std::optional<skiff_svc>> lookup_service(const skiff_svc_key& key) const {
        skiff_svc value{};
        if (bpf_map_lookup_elem(svc.get(), &key, &value) == 0) return std::optional<skiff_svc>(value);
        if (errno == ENOENT) return std::optional<skiff_svc>();
        return Error::from_errno("read map " SKIFF_MAP_SERVICES);
    }

    // The backends in a service's slots (active ones first), with their ids.
    Result<std::vector<std::pair<uint32_t, skiff_backend>>> slot_backends(const skiff_svc& value) const {
        std::vector<std::pair<uint32_t, skiff_backend>> out;
        for (uint32_t slot = 0; slot < value.total; ++slot) {
            skiff_slot_key sk{value.id, slot};
            skiff_slot s{};
            skiff_backend be{};
            if (bpf_map_lookup_elem(slots.get(), &sk, &s) != 0 ||
                bpf_map_lookup_elem(backends.get(), &s.backend_id, &be) != 0)
                return Error::from_errno("read slot " + std::to_string(slot) + " of service id " + std::to_string(value.id));
            out.emplace_back(s.backend_id, be);
        }
        return out;
    }

    Status write_backend(uint32_t id, const Endpoint& e, Protocol proto, uint8_t state, uint32_t svc_id) {
        skiff_backend be{htonl(e.ip), htons(e.port), static_cast<uint8_t>(proto), state, svc_id};
        if (bpf_map_update_elem(backends.get(), &id, &be, BPF_ANY) != 0)
            return Error::from_errno("write backend " + format_endpoint(e));
        return {};
    }
    Status write_slot(uint32_t svc_id, uint32_t slot, uint32_t backend_id, const Endpoint& e) {
        skiff_slot_key sk{svc_id, slot};
        skiff_slot value{backend_id, htonl(e.ip), htons(e.port), 0};
        if (bpf_map_update_elem(slots.get(), &sk, &value, BPF_ANY) != 0)
            return Error::from_errno("write slot " + std::to_string(slot));
        return {};
    }

    Status add_new(const Service& wanted, const skiff_svc_key& key, PendingWrites& pending);
    // pending: where a service that does not exist yet is written (nullptr: at once).
    Status upsert(const Service& wanted, PendingWrites* pending = nullptr);
    Status remove(const ServiceKey& key);
    Status flush(PendingWrites& pending) {
        SKIFF_TRY(update_batch(backends.get(), pending.backend_keys, pending.backends, SKIFF_MAP_BACKENDS));
        SKIFF_TRY(update_batch(slots.get(), pending.slot_keys, pending.slots, SKIFF_MAP_SLOTS));
        SKIFF_TRY(update_batch(svc.get(), pending.service_keys, pending.services, SKIFF_MAP_SERVICES));
        pending = PendingWrites{};
        return {};
    }
};

namespace {

// Active backends first, then terminating ones, each in the order given: the order of the slots.
Service normalized(Service s) {
    std::stable_partition(s.backends.begin(), s.backends.end(), [](const Backend& b) { return !b.terminating; });
    return s;
}

}  // namespace

// Writes in an order that never offers a new connection a backend that is gone: new backends, then the
// active slots, then the service entry (the new count), then the terminating slots and removals.
Status ServiceLb::State::upsert(const Service& wanted_in, PendingWrites* pending) {
    Service wanted = normalized(wanted_in);
    const auto key = bpf_key(wanted.key, SKIFF_SCOPE_CLUSTER_IP);
    auto old = lookup_service(key);
    if (!old) return std::move(old).error();
    if (!*old && pending) return add_new(wanted, key, *pending);

    std::map<Endpoint, std::pair<uint32_t, skiff_backend>> old_backends;
    if (*old) {
        auto current = slot_backends(**old);
        if (!current) return std::move(current).error();
        for (auto& [id, be] : *current) old_backends[endpoint_of(be)] = {id, be};
    }

    uint32_t svc_id = *old ? (*old)->id : 0;
    if (!svc_id) {
        auto id = allocate_service();
        if (!id) return std::move(id).error();
        svc_id = *id;
    }
    std::vector<uint32_t> ids;
    uint32_t active = 0;
    for (const auto& b : wanted.backends) {
        auto it = old_backends.find(b.endpoint);
        uint32_t id = 0;
        if (it != old_backends.end()) {
            id = it->second.first;
        } else {
            auto fresh = allocate_backend();
            if (!fresh) return std::move(fresh).error();
            id = *fresh;
            SKIFF_TRY(write_backend(id, b.endpoint, wanted.key.protocol,
                                    b.terminating ? SKIFF_BACKEND_TERMINATING : SKIFF_BACKEND_ACTIVE, svc_id));
        }
        if (!b.terminating) {
            ++active;
            if (it != old_backends.end() && it->second.second.state != SKIFF_BACKEND_ACTIVE)
                SKIFF_TRY(write_backend(id, b.endpoint, wanted.key.protocol, SKIFF_BACKEND_ACTIVE, svc_id));
        }
        ids.push_back(id);
    }
    for (uint32_t slot = 0; slot < active; ++slot)
        SKIFF_TRY(write_slot(svc_id, slot, ids[slot], wanted.backends[slot].endpoint));

    skiff_svc value{};
    value.id = svc_id;
    value.count = active;
    value.affinity_seconds = wanted.affinity_seconds;
    value.total = static_cast<uint32_t>(ids.size());
    value.node_port = wanted.node_port;
    if (bpf_map_update_elem(svc.get(), &key, &value, BPF_ANY) != 0) return Error::from_errno("write service");
    if (wanted.node_port) {
        auto np = node_port_key(wanted.node_port, wanted.key.protocol);
        skiff_svc other{};
        if (bpf_map_lookup_elem(svc.get(), &np, &other) == 0 && other.id != svc_id)
            return Error(EEXIST, "nodePort " + std::to_string(wanted.node_port) + " is taken by another service");
        if (bpf_map_update_elem(svc.get(), &np, &value, BPF_ANY) != 0) return Error::from_errno("write nodePort entry");
    }
    if (*old && (*old)->node_port && (*old)->node_port != wanted.node_port) {
        auto np = node_port_key((*old)->node_port, wanted.key.protocol);
        if (bpf_map_delete_elem(svc.get(), &np) != 0 && errno != ENOENT)
            return Error::from_errno("delete old nodePort entry");
    }

    for (uint32_t slot = active; slot < ids.size(); ++slot) {
        const auto& b = wanted.backends[slot];
        auto it = old_backends.find(b.endpoint);
        if (it != old_backends.end() && it->second.second.state != SKIFF_BACKEND_TERMINATING)
            SKIFF_TRY(write_backend(ids[slot], b.endpoint, wanted.key.protocol, SKIFF_BACKEND_TERMINATING, svc_id));
        SKIFF_TRY(write_slot(svc_id, slot, ids[slot], b.endpoint));
    }
    for (uint32_t slot = static_cast<uint32_t>(ids.size()); *old && slot < (*old)->total; ++slot) {
        skiff_slot_key sk{svc_id, slot};
        if (bpf_map_delete_elem(slots.get(), &sk) != 0 && errno != ENOENT) return Error::from_errno("delete slot");
    }
    std::set<uint32_t> kept(ids.begin(), ids.end());
    for (const auto& [endpoint, entry] : old_backends)
        if (!kept.count(entry.first)) SKIFF_TRY(drop_backend(entry.first));
    return {};
}

Status ServiceLb::State::add_new(const Service& wanted, const skiff_svc_key& key, PendingWrites& pending) {
    auto svc_id = allocate_service();
    if (!svc_id) return std::move(svc_id).error();
    skiff_svc value{};
    value.id = *svc_id;
    value.affinity_seconds = wanted.affinity_seconds;
    value.total = static_cast<uint32_t>(wanted.backends.size());
    value.node_port = wanted.node_port;
    const size_t first_slot = pending.slot_keys.size();
    for (const auto& b : wanted.backends) {
        auto id = allocate_backend();
        if (!id) return std::move(id).error();
        pending.backend_keys.push_back(*id);
        pending.backends.push_back(skiff_backend{htonl(b.endpoint.ip), htons(b.endpoint.port),
                                                 static_cast<uint8_t>(wanted.key.protocol),
                                                 static_cast<uint8_t>(b.terminating ? SKIFF_BACKEND_TERMINATING
                                                                                    : SKIFF_BACKEND_ACTIVE),
                                                 *svc_id});
        // wanted is normalized (active backends first), so backend i takes slot i.
        pending.slot_keys.push_back(skiff_slot_key{*svc_id, static_cast<uint32_t>(pending.slot_keys.size() - first_slot)});
        pending.slots.push_back(skiff_slot{*id, htonl(b.endpoint.ip), htons(b.endpoint.port), 0});
        if (!b.terminating) ++value.count;
    }
    if (wanted.node_port) {
        auto np = node_port_key(wanted.node_port, wanted.key.protocol);
        skiff_svc other{};
        if (bpf_map_lookup_elem(svc.get(), &np, &other) == 0)
            return Error(EEXIST, "nodePort " + std::to_string(wanted.node_port) + " is taken by another service");
        pending.service_keys.push_back(np);
        pending.services.push_back(value);
    }
    pending.service_keys.push_back(key);
    pending.services.push_back(value);
    return {};
}

Status ServiceLb::State::remove(const ServiceKey& k) {
    const auto key = bpf_key(k, SKIFF_SCOPE_CLUSTER_IP);
    auto old = lookup_service(key);
    if (!old) return std::move(old).error();
    if (!*old) return Error(ENOENT, "no service " + format_service_key(k));
    const skiff_svc value = **old;
    auto current = slot_backends(value);
    if (!current) return std::move(current).error();
    // The service entries go first: from then on no new connection finds the service.
    if (bpf_map_delete_elem(svc.get(), &key) != 0) return Error::from_errno("delete service");
    if (value.node_port) {
        auto np = node_port_key(value.node_port, k.protocol);
        if (bpf_map_delete_elem(svc.get(), &np) != 0 && errno != ENOENT) return Error::from_errno("delete nodePort entry");
    }
    for (uint32_t slot = 0; slot < value.total; ++slot) {
        skiff_slot_key sk{value.id, slot};
        if (bpf_map_delete_elem(slots.get(), &sk) != 0 && errno != ENOENT) return Error::from_errno("delete slot");
    }
    for (const auto& [id, be] : *current) SKIFF_TRY(drop_backend(id));
    SKIFF_TRY(zero_counters(svc_stats.get(), value.id));
    release(0, value.id);
    return {};
}

ServiceLb::ServiceLb(State* state) : state_(state) {}
ServiceLb::ServiceLb(ServiceLb&& o) noexcept : state_(std::exchange(o.state_, nullptr)) {}
ServiceLb& ServiceLb::operator=(ServiceLb&& o) noexcept {
    if (this != &o) {
        delete state_;
        state_ = std::exchange(o.state_, nullptr);
    }
    return *this;
}
ServiceLb::~ServiceLb() { delete state_; }

const std::string& ServiceLb::bpffs() const { return state_->bpffs; }

Result<ServiceLb> ServiceLb::open_existing(const std::string& bpffs) {
    bpf_pins::capture_libbpf_messages();
    if (!fs::exists(map_pin(bpffs, SKIFF_MAP_SERVICES)))
        return Error(ENOENT, "no service load balancer in " + bpffs + " (skiff svc add or apply loads it)");
    auto lock = bpf_pins::lock(bpffs);
    if (!lock) return std::move(lock).error();
    SKIFF_TRY(ensure_id_map(bpffs));
    auto state = std::make_unique<State>();
    state->bpffs = bpffs;
    state->lock = std::move(*lock);
    UniqueFd* fds[] = {&state->svc,      &state->slots,     &state->backends, &state->sock_rev,
                       &state->affinity, &state->svc_stats, &state->be_stats, &state->ids};
    for (size_t i = 0; i < std::size(kMaps); ++i) {
        std::string pin = map_pin(bpffs, kMaps[i]);
        fds[i]->reset(bpf_obj_get(pin.c_str()));
        if (!*fds[i]) return Error::from_errno("open pinned map " + pin);
    }
    void* words = mmap(nullptr, kIdWords * sizeof(uint64_t), PROT_READ | PROT_WRITE, MAP_SHARED, state->ids.get(), 0);
    if (words == MAP_FAILED) return Error::from_errno("map " + map_pin(bpffs, SKIFF_MAP_IDS));
    state->id_words = static_cast<uint64_t*>(words);
    state->ncpus = libbpf_num_possible_cpus();
    if (state->ncpus <= 0) return Error(-state->ncpus, "count possible CPUs");
    return ServiceLb(state.release());
}

Result<ServiceLb> ServiceLb::open(const LbOptions& options) {
    bpf_pins::capture_libbpf_messages();
    const std::string& bpffs = options.bpffs;
    SKIFF_TRY(bpf_pins::prepare(bpffs));
    {
        auto lock = bpf_pins::lock(bpffs);
        if (!lock) return std::move(lock).error();
        std::vector<std::string> missing;
        uint64_t attached_to = 0;
        for (const char* p : kPrograms) {
            std::string pin = link_pin(bpffs, p);
            if (!fs::exists(pin)) {
                missing.push_back(p);
                continue;
            }
            uint64_t id = link_cgroup_id(pin);
            if (id == 0) {
                // A link whose cgroup is gone: drop the pin so the program is attached afresh.
                unlink(pin.c_str());
                missing.push_back(p);
            } else {
                attached_to = id;
            }
        }
        if (!missing.empty()) {
            if (options.cgroup.empty())
                return Error(EINVAL, "the service programs are not attached yet: give --cgroup PATH (on a node, "
                                     "the cgroup2 root)");
            UniqueFd cg(::open(options.cgroup.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
            if (!cg) return Error::from_errno("open cgroup " + options.cgroup);
            if (!is_on(options.cgroup, CGROUP2_SUPER_MAGIC))
                return Error(EINVAL, options.cgroup + " is not a cgroup2 directory");
            struct stat st {};
            if (fstat(cg.get(), &st) != 0) return Error::from_errno("stat " + options.cgroup);
            if (attached_to && attached_to != st.st_ino)
                return Error(EEXIST, "the service programs in " + bpffs + " are attached to another cgroup (id " +
                                         std::to_string(attached_to) + "), not " + options.cgroup +
                                         ": skiff svc unload first");
            bool fresh = !fs::exists(map_pin(bpffs, SKIFF_MAP_SERVICES));
            auto loaded = load_and_attach(bpffs, cg.get(), options.cgroup);
            if (!loaded) {
                lock->reset();
                if (fresh) (void)unload(bpffs);  // nothing half-made stays pinned
                return std::move(loaded).error();
            }
        } else if (!options.cgroup.empty()) {
            struct stat st {};
            if (stat(options.cgroup.c_str(), &st) != 0) return Error::from_errno("stat cgroup " + options.cgroup);
            if (st.st_ino != attached_to)
                return Error(EEXIST, "the service programs in " + bpffs + " are attached to another cgroup (id " +
                                         std::to_string(attached_to) + "), not " + options.cgroup +
                                         ": skiff svc unload first");
        }
    }
    return open_existing(bpffs);
}

Status ServiceLb::unload(const std::string& bpffs) {
    if (!fs::exists(bpffs)) return {};
    auto lock = bpf_pins::lock(bpffs);
    if (!lock) return std::move(lock).error();
    // Links first: unpinning the last reference detaches the program from the cgroup.
    for (const char* p : kPrograms) {
        std::string pin = link_pin(bpffs, p);
        if (unlink(pin.c_str()) != 0 && errno != ENOENT) return Error::from_errno("unpin " + pin);
    }
    std::string maps_dir = bpffs + "/maps";
    if (fs::exists(maps_dir)) {
        // Every map under maps/, also those of other skiff programs (the NodePort maps).
        DIR* d = opendir(maps_dir.c_str());
        if (!d) return Error::from_errno("open " + maps_dir);
        std::vector<std::string> names;
        while (dirent* e = readdir(d))
            if (e->d_name[0] != '.') names.emplace_back(e->d_name);
        closedir(d);
        for (const auto& n : names) {
            std::string pin = maps_dir + "/" + n;
            if (unlink(pin.c_str()) != 0 && errno != ENOENT) return Error::from_errno("unpin " + pin);
        }
    }
    for (const char* sub : {"/maps", "/links"}) {
        std::string d = bpffs + sub;
        if (rmdir(d.c_str()) != 0 && errno != ENOENT && errno != ENOTEMPTY) return Error::from_errno("rmdir " + d);
    }
    return {};
}

Status ServiceLb::upsert(const Service& service) {
    SKIFF_TRY(validate_service(service));
    SKIFF_TRY_CTX(state_->upsert(service), "service " + format_service_key(service.key));
    return {};
}

Status ServiceLb::remove(const ServiceKey& key) { return state_->remove(key); }

Result<std::optional<Service>> ServiceLb::get(const ServiceKey& key) const {
    auto value = state_->lookup_service(bpf_key(key, SKIFF_SCOPE_CLUSTER_IP));
    if (!value) return std::move(value).error();
    if (!*value) return std::optional<Service>();
    auto backends = state_->slot_backends(**value);
    if (!backends) return std::move(backends).error();
    Service s;
    s.key = key;
    s.affinity_seconds = (*value)->affinity_seconds;
    s.node_port = (*value)->node_port;
    for (const auto& [id, be] : *backends)
        s.backends.push_back(Backend{endpoint_of(be), be.state == SKIFF_BACKEND_TERMINATING});
    return std::optional<Service>(std::move(s));
}

Result<std::vector<Service>> ServiceLb::list() const {
    auto services = dump_map<skiff_svc_key, skiff_svc>(state_->svc.get(), SKIFF_MAP_SERVICES);
    if (!services) return std::move(services).error();
    auto slots = dump_map<skiff_slot_key, skiff_slot>(state_->slots.get(), SKIFF_MAP_SLOTS);
    if (!slots) return std::move(slots).error();
    auto backends = dump_map<uint32_t, skiff_backend>(state_->backends.get(), SKIFF_MAP_BACKENDS);
    if (!backends) return std::move(backends).error();
    std::map<std::pair<uint32_t, uint32_t>, uint32_t> slot_of;
    for (const auto& [k, slot] : *slots) slot_of[{k.svc_id, k.slot}] = slot.backend_id;
    std::map<uint32_t, skiff_backend> backend_of(backends->begin(), backends->end());

    std::vector<Service> out;
    for (const auto& [k, v] : *services) {
        if (k.scope != SKIFF_SCOPE_CLUSTER_IP) continue;
        Service s;
        s.key = ServiceKey{Endpoint{ntohl(k.addr), ntohs(k.port)}, static_cast<Protocol>(k.proto)};
        s.affinity_seconds = v.affinity_seconds;
        s.node_port = v.node_port;
        for (uint32_t slot = 0; slot < v.total; ++slot) {
            auto id = slot_of.find({v.id, slot});
            if (id == slot_of.end()) continue;  // being rewritten by a concurrent writer
            auto be = backend_of.find(id->second);
            if (be == backend_of.end()) continue;
            s.backends.push_back(Backend{endpoint_of(be->second), be->second.state == SKIFF_BACKEND_TERMINATING});
        }
        out.push_back(std::move(s));
    }
    std::sort(out.begin(), out.end(), [](const Service& a, const Service& b) { return a.key < b.key; });
    return out;
}

Status ServiceLb::apply(const std::vector<Service>& services) {
    std::set<ServiceKey> wanted;
    std::set<std::pair<uint16_t, Protocol>> node_ports;
    for (const auto& s : services) {
        SKIFF_TRY(validate_service(s));
        if (!wanted.insert(s.key).second) return Error(EINVAL, format_service_key(s.key) + " is listed twice");
        if (s.node_port && !node_ports.insert({s.node_port, s.key.protocol}).second)
            return Error(EINVAL, "nodePort " + std::to_string(s.node_port) + " is used twice");
    }
    auto current = list();
    if (!current) return std::move(current).error();
    std::map<ServiceKey, Service> have;
    for (auto& s : *current) have.emplace(s.key, std::move(s));
    for (const auto& [key, s] : have)
        if (!wanted.count(key)) SKIFF_TRY_CTX(state_->remove(key), "remove " + format_service_key(key));
    PendingWrites pending;
    for (const auto& s : services) {
        auto it = have.find(s.key);
        if (it != have.end() && it->second == normalized(s)) continue;  // unchanged: not one write
        SKIFF_TRY_CTX(state_->upsert(s, &pending), "service " + format_service_key(s.key));
    }
    return state_->flush(pending);
}

Result<std::vector<ServiceStats>> ServiceLb::stats() const {
    auto services = dump_map<skiff_svc_key, skiff_svc>(state_->svc.get(), SKIFF_MAP_SERVICES);
    if (!services) return std::move(services).error();
    std::vector<skiff_counters> per_cpu(static_cast<size_t>(state_->ncpus));
    auto read_counters = [&](int fd, uint32_t id, uint64_t& connections, uint64_t* refused) -> Status {
        if (bpf_map_lookup_elem(fd, &id, per_cpu.data()) != 0) return Error::from_errno("read counters");
        for (const auto& c : per_cpu) {
            connections += c.connections;
            if (refused) *refused += c.refused;
        }
        return {};
    };
    std::vector<ServiceStats> out;
    for (const auto& [k, v] : *services) {
        if (k.scope != SKIFF_SCOPE_CLUSTER_IP) continue;
        ServiceStats st;
        st.key = ServiceKey{Endpoint{ntohl(k.addr), ntohs(k.port)}, static_cast<Protocol>(k.proto)};
        SKIFF_TRY(read_counters(state_->svc_stats.get(), v.id, st.connections, &st.refused));
        auto backends = state_->slot_backends(v);
        if (!backends) return std::move(backends).error();
        for (const auto& [id, be] : *backends) {
            BackendStats b{endpoint_of(be), be.state == SKIFF_BACKEND_TERMINATING, 0};
            SKIFF_TRY(read_counters(state_->be_stats.get(), id, b.connections, nullptr));
            st.backends.push_back(b);
        }
        out.push_back(std::move(st));
    }
    std::sort(out.begin(), out.end(), [](const ServiceStats& a, const ServiceStats& b) { return a.key < b.key; });
    return out;
}

}  // namespace skiff::net
