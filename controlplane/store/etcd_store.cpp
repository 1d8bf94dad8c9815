// The etcd backend: each Store operation is one request to etcd's v3 JSON gateway (a txn for the
// conditional writes), each Watch a gateway watch stream read by a thread of its own.
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>
#include <unordered_set>

#include "etcd_gateway.hpp"
#include "skiff/base/process.hpp"
#include "skiff/base/unique_fd.hpp"
#include "skiff/store/store.hpp"

namespace skiff::store {

namespace {

using etcd::base64_encode;
using etcd::Clock;
using etcd::Gateway;
using etcd::int_field;
using etcd::Json;
using etcd::Retry;

// A JSON request body. Keys and values go in base64 and numbers as strings (the gateway's int64
// form), so nothing needs escaping.
class Body {
  public:
    Body& raw(std::string_view s) {
        s_ += s;
        return *this;
    }
    Body& b64(std::string_view field, std::string_view bytes) {
        s_ += '"';
        s_ += field;
        s_ += "\":\"";
        s_ += base64_encode(bytes);
        s_ += '"';
        return *this;
    }
    Body& num(std::string_view field, int64_t n) {
        s_ += '"';
        s_ += field;
        s_ += "\":\"";
        s_ += std::to_string(n);
        s_ += '"';
        return *this;
    }
    std::string take() { return std::move(s_); }

  private:
    std::string s_;
};

const Json& member(const Json& object, const char* name) {
    static const Json kNull;
    auto it = object.find(name);
    return it == object.end() ? kNull : *it;
}

bool flag(const Json& object, const char* name) {
    const Json& v = member(object, name);
    return v.is_boolean() && v.get<bool>();
}

int64_t header_revision(const Json& reply) {
    return int_field(member(reply, "header"), "revision");
}

// A txn's first response of the branch that ran: "response_put", "response_range", ...
const Json& txn_response(const Json& reply, const char* kind) {
    return member(member(reply, "responses")[0], kind);
}

// State shared by the store and its watches, which may outlive it.
struct Shared {
    std::shared_ptr<Gateway> gateway;
    std::string key_prefix;
    std::atomic<int64_t> compacted{0};  // the highest compaction this client knows of

    std::mutex watches_mu;
    std::unordered_set<class EtcdWatch*> watches;
    bool closed = false;

    // etcd's key, "" mapped to "\0": etcd has no empty key, and "\0" is the smallest one there is.
    std::string full_key(std::string_view key) const {
        std::string k = key_prefix;
        k += key;
        if (k.empty()) k.push_back('\0');
        return k;
    }

    // A KeyValue from the gateway's {key, value, create_revision, mod_revision}.
    Result<KeyValue> key_value(const Json& kv) const {
        KeyValue out;
        const Json& key = member(kv, "key");
        const Json& value = member(kv, "value");
        if (!key.is_string() || !etcd::base64_decode(key.get_ref<const std::string&>(), out.key) ||
            out.key.compare(0, key_prefix.size(), key_prefix) != 0)
            return Error(EPROTO, "etcd answered with a malformed key");
        out.key.erase(0, key_prefix.size());
        if (value.is_string() &&
            !etcd::base64_decode(value.get_ref<const std::string&>(), out.value))
            return Error(EPROTO, "etcd answered with a malformed value for " + out.key);
        out.create_revision = int_field(kv, "create_revision");
        out.mod_revision = int_field(kv, "mod_revision");
        return out;
    }

    void note_compacted(int64_t revision) {
        int64_t known = compacted.load();
        while (revision > known && !compacted.compare_exchange_weak(known, revision)) {
        }
    }
};

class EtcdWatch final : public Watch {
  public:
    EtcdWatch(std::shared_ptr<Shared> shared, std::string prefix, int64_t after, UniqueFd cancel)
        : shared_(std::move(shared)),
          prefix_(std::move(prefix)),
          resume_after_(after),
          cancel_(std::move(cancel)) {}

    // Registers with the store and starts the reader; false if the store is already closed.
    bool start() {
        {
            std::lock_guard lock(shared_->watches_mu);
            if (shared_->closed) return false;
            shared_->watches.insert(this);
        }
        reader_ = std::thread([this] { read_loop(); });
        name_thread(reader_, "etcd-watch");
        return true;
    }

    ~EtcdWatch() override {
        {
            std::lock_guard lock(shared_->watches_mu);
            shared_->watches.erase(this);
        }
        close();
        if (reader_.joinable()) reader_.join();
    }

    Result<std::vector<Event>> next(std::chrono::milliseconds timeout) override {
        std::unique_lock lock(mu_);
        cv_.wait_for(lock, timeout, [&] { return closed_ || !queue_.empty() || error_; });
        if (closed_)
            return Error(errc::closed,
                         "watch " + prefix_ + (store_closed_ ? ": store is closed" : ": closed"));
        if (!queue_.empty()) {
            std::vector<Event> events(std::make_move_iterator(queue_.begin()),
                                      std::make_move_iterator(queue_.end()));
            queue_.clear();
            return events;
        }
        if (error_) return *error_;
        return std::vector<Event>();
    }

    void close() override { stop(false); }
    void store_closed() { stop(true); }

  private:
    void stop(bool store_closed) {
        {
            std::lock_guard lock(mu_);
            if (closed_) return;
            closed_ = true;
            store_closed_ = store_closed;
        }
        cv_.notify_all();
        uint64_t one = 1;
        (void)!::write(cancel_.get(), &one, sizeof one);
    }

    bool is_closed() {
        std::lock_guard lock(mu_);
        return closed_;
    }

    void fail(Error e) {
        {
            std::lock_guard lock(mu_);
            error_ = std::move(e);
        }
        cv_.notify_all();
    }

    enum class Outcome { more, reconnect, done };

    // One line of the stream: {"result":{...}} (or {"error":{...}} when the gateway's stream
    // broke).
    Outcome handle(std::string_view line) {
        auto j = Json::parse(line, nullptr, false);
        if (!j.is_object()) return Outcome::reconnect;
        const Json& r = member(j, "result");
        if (!r.is_object()) return Outcome::reconnect;
        if (flag(r, "canceled")) {
            int64_t compact = int_field(r, "compact_revision");
            if (compact <= 0) return Outcome::reconnect;  // e.g. the member lost its leader
            shared_->note_compacted(compact);
            fail(Error(errc::compacted, "watch " + prefix_ + ": revision " +
                                            std::to_string(resume_after_ + 1) +
                                            " has been compacted (compacted revision " +
                                            std::to_string(compact) + ")"));
            return Outcome::done;
        }
        if (flag(r, "created")) failures_ = 0;
        const Json& events = member(r, "events");
        if (!events.is_array() || events.empty()) return Outcome::more;
        std::vector<Event> batch;
        batch.reserve(events.size());
        int64_t after = resume_after_;
        for (const Json& ev : events) {
            auto kv = shared_->key_value(member(ev, "kv"));
            if (!kv) {
                fail(std::move(kv).error().context("watch " + prefix_));
                return Outcome::done;
            }
            if (kv->mod_revision <= after) continue;  // already delivered before a reconnect
            Event e;
            const Json& prev = member(ev, "prev_kv");
            if (prev.is_object()) {
                auto p = shared_->key_value(prev);
                if (p) e.prev = std::move(*p);
            }
            const Json& type = member(ev, "type");
            if (type.is_string() && type.get_ref<const std::string&>() == "DELETE") {
                // etcd's delete event has only the key and the revision: the last value is prev_kv.
                e.type = Event::Type::del;
                if (e.prev) {
                    kv->value = e.prev->value;
                    kv->create_revision = e.prev->create_revision;
                }
            }
            e.kv = std::move(*kv);
            resume_after_ = std::max(resume_after_, e.kv.mod_revision);
            batch.push_back(std::move(e));
        }
        if (batch.empty()) return Outcome::more;
        {
            std::lock_guard lock(mu_);
            for (auto& e : batch) queue_.push_back(std::move(e));
        }
        cv_.notify_all();
        return Outcome::more;
    }

    // Reads the watch stream; when it breaks, opens a new one on the next member from the
    // revision after the last one received, so every revision comes once.
    void read_loop() {
        std::string pending;
        while (!is_closed()) {
            Body body;
            body.raw("{\"create_request\":{").b64("key", shared_->full_key(prefix_)).raw(",");
            body.b64("range_end", etcd::prefix_end(shared_->key_prefix + prefix_)).raw(",");
            body.num("start_revision", resume_after_ + 1).raw(",\"prev_kv\":true}}");
            size_t endpoint = 0;
            auto stream =
                shared_->gateway->open_stream("/v3/watch", body.take(), cancel_.get(), endpoint);
            if (stream) {
                pending.clear();
                size_t scanned = 0;
                for (;;) {
                    auto more = (*stream)->read_some(pending);
                    if (!more || !*more) break;
                    Outcome outcome = Outcome::more;
                    size_t start = 0;
                    for (size_t nl; outcome == Outcome::more &&
                                    (nl = pending.find('\n', scanned)) != std::string::npos;) {
                        outcome = handle(std::string_view(pending).substr(start, nl - start));
                        start = scanned = nl + 1;
                    }
                    if (outcome == Outcome::done) return;
                    if (outcome == Outcome::reconnect) break;
                    pending.erase(0, start);
                    scanned = pending.size();
                }
            } else if (stream.error().code() == errc::closed ||
                       stream.error().code() == errc::compacted ||
                       stream.error().code() == errc::future_revision) {
                if (stream.error().code() == errc::compacted)
                    fail(std::move(stream).error().context("watch " + prefix_));
                if (stream.error().code() != errc::future_revision) return;
            }
            if (is_closed()) return;
            shared_->gateway->endpoint_failed(endpoint);
            // A member went away: try the next one at once, then back off while none answers.
            auto pause = std::chrono::milliseconds(
                failures_ == 0 ? 0 : std::min(25 << std::min(failures_, 5), 500));
            ++failures_;
            std::unique_lock lock(mu_);
            cv_.wait_for(lock, pause, [&] { return closed_; });
        }
    }

    const std::shared_ptr<Shared> shared_;
    const std::string prefix_;
    int64_t resume_after_;  // reader thread: every revision up to here has been received
    int failures_ = 0;      // reader thread: stream attempts since one was created
    UniqueFd cancel_;  // an eventfd: close() makes it readable, which wakes the reader's poll()
    std::thread reader_;

    std::mutex mu_;
    std::condition_variable cv_;
    std::deque<Event> queue_;
    std::optional<Error> error_;
    bool closed_ = false;
    bool store_closed_ = false;
};

class EtcdStore final : public Store {
  public:
    explicit EtcdStore(std::shared_ptr<Shared> shared) : s_(std::move(shared)) {}
    ~EtcdStore() override {
        std::lock_guard lock(s_->watches_mu);
        s_->closed = true;
        for (EtcdWatch* w : s_->watches) w->store_closed();
    }

    Result<KeyValue> create(const std::string& key, const std::string& value) override {
        std::string k = s_->full_key(key);
        Body body;
        body.raw("{\"compare\":[{\"target\":\"CREATE\",")
            .b64("key", k)
            .raw(",")
            .num("create_revision", 0);
        body.raw("}],\"success\":[{\"request_put\":{")
            .b64("key", k)
            .raw(",")
            .b64("value", value)
            .raw("}}]}");
        // Not retried once sent: if the first attempt was applied and the key deleted meanwhile,
        // a second one would bring it back.
        auto r = s_->gateway->call("/v3/kv/txn", body.take(), Retry::only_unsent);
        if (!r) return std::move(r).error().context("create " + key);
        if (!flag(r->json, "succeeded"))
            return Error(errc::exists, "create " + key + ": already exists");
        int64_t rev = header_revision(r->json);
        return KeyValue{key, value, rev, rev};
    }

    Result<KeyValue> get(const std::string& key) override {
        Body body;
        body.raw("{").b64("key", s_->full_key(key)).raw("}");
        auto r = s_->gateway->call("/v3/kv/range", body.take(), Retry::always);
        if (!r) return std::move(r).error().context("get " + key);
        const Json& kvs = member(r->json, "kvs");
        if (!kvs.is_array() || kvs.empty())
            return Error(errc::not_found, "get " + key + ": not found");
        auto kv = s_->key_value(kvs[0]);
        if (!kv) return std::move(kv).error().context("get " + key);
        return kv;
    }

    Result<ListResult> list(const std::string& prefix, const ListOptions& options) override {
        // Keys in [lower, end): lower is the prefix, or just past start_after when that is further.
        std::string lower = s_->key_prefix + prefix;
        if (!options.start_after.empty() && options.start_after >= prefix) {
            lower = s_->key_prefix + options.start_after;
            lower.push_back('\0');
        }
        if (lower.empty()) lower.push_back('\0');
        Body body;
        body.raw("{")
            .b64("key", lower)
            .raw(",")
            .b64("range_end", etcd::prefix_end(s_->key_prefix + prefix));
        if (options.limit > 0) body.raw(",").num("limit", options.limit);
        if (options.revision > 0) body.raw(",").num("revision", options.revision);
        body.raw("}");
        auto r = s_->gateway->call("/v3/kv/range", body.take(), Retry::always);
        if (!r) return std::move(r).error().context("list " + prefix);
        ListResult result;
        result.revision = options.revision > 0 ? options.revision : header_revision(r->json);
        const Json& kvs = member(r->json, "kvs");
        if (kvs.is_array()) {
            result.items.reserve(kvs.size());
            for (const Json& kv : kvs) {
                auto item = s_->key_value(kv);
                if (!item) return std::move(item).error().context("list " + prefix);
                result.items.push_back(std::move(*item));
            }
        }
        result.more = flag(r->json, "more");
        // count: every key in the range at that revision, the ones returned included.
        result.remaining =
            result.more ? int_field(r->json, "count") - static_cast<int64_t>(result.items.size())
                        : 0;
        return result;
    }

    Result<KeyValue> update(const std::string& key, const std::string& value,
                            int64_t expected) override {
        std::string k = s_->full_key(key);
        Body body;
        body.raw("{\"compare\":[");
        compare_revision(body, k, expected);
        body.raw("],\"success\":[{\"request_put\":{").b64("key", k).raw(",").b64("value", value);
        body.raw(",\"prev_kv\":true}}],\"failure\":[{\"request_range\":{")
            .b64("key", k)
            .raw("}}]}");
        // A compare on the mod revision can't pass twice (revisions are never reused); an
        // unconditional update could be applied twice.
        auto r = s_->gateway->call("/v3/kv/txn", body.take(),
                                   expected != 0 ? Retry::always : Retry::only_unsent);
        if (!r) return std::move(r).error().context("update " + key);
        if (!flag(r->json, "succeeded")) return refused(*r, "update ", key, expected);
        const Json& prev = member(txn_response(r->json, "response_put"), "prev_kv");
        return KeyValue{key, value, int_field(prev, "create_revision"), header_revision(r->json)};
    }

    Result<KeyValue> remove(const std::string& key, int64_t expected) override {
        std::string k = s_->full_key(key);
        Body body;
        body.raw("{\"compare\":[");
        compare_revision(body, k, expected);
        body.raw("],\"success\":[{\"request_delete_range\":{").b64("key", k);
        body.raw(",\"prev_kv\":true}}],\"failure\":[{\"request_range\":{")
            .b64("key", k)
            .raw("}}]}");
        // As update; an unconditional delete sent twice could delete a key re-created meanwhile.
        auto r = s_->gateway->call("/v3/kv/txn", body.take(),
                                   expected != 0 ? Retry::always : Retry::only_unsent);
        if (!r) return std::move(r).error().context("delete " + key);
        if (!flag(r->json, "succeeded")) return refused(*r, "delete ", key, expected);
        const Json& prevs = member(txn_response(r->json, "response_delete_range"), "prev_kvs");
        if (!prevs.is_array() || prevs.empty())
            return Error(EPROTO, "delete " + key + ": etcd's answer has no previous value");
        auto kv = s_->key_value(prevs[0]);
        if (!kv) return std::move(kv).error().context("delete " + key);
        kv->mod_revision = header_revision(r->json);
        return kv;
    }

    Result<std::unique_ptr<Watch>> watch(const std::string& prefix, int64_t from) override {
        // A point read at from_revision: fails now if that history is compacted (etcd's own
        // watch would only cancel later), and gives the current revision for from = 0.
        auto probe = probe_revision(from);
        int64_t after = from;
        if (!probe) {
            if (probe.error().code() != errc::future_revision)  // a future start is fine: it waits
                return std::move(probe).error().context("watch " + prefix + " from revision " +
                                                        std::to_string(from));
        } else if (from <= 0) {
            after = *probe;
        }
        int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (fd < 0) return Error::from_errno("watch " + prefix + ": eventfd");
        auto w = std::make_unique<EtcdWatch>(s_, prefix, after, UniqueFd(fd));
        if (!w->start()) return Error(errc::closed, "watch " + prefix + ": store is closed");
        return std::unique_ptr<Watch>(std::move(w));
    }

    Result<int64_t> current_revision() override { return probe_revision(0); }

    Result<int64_t> compacted_revision() override {
        // etcd 3.4 reports its compacted revision only in errors: the smallest readable revision
        // is it. Reading at the one known here settles the usual case in one request; another
        // client's compaction costs a binary search of point reads.
        int64_t known = s_->compacted.load();
        auto readable = [&](int64_t rev) -> Result<bool> {
            auto r = probe_revision(rev);
            if (r) return true;
            if (r.error().code() == errc::compacted) return false;
            return std::move(r).error();
        };
        int64_t lo = std::max<int64_t>(known, 1);
        auto ok = readable(lo);
        if (!ok) return std::move(ok).error();
        if (*ok) return known;
        auto current = current_revision();
        if (!current) return std::move(current).error();
        int64_t hi = *current;  // lo is compacted away, hi is readable
        while (hi - lo > 1) {
            int64_t mid = lo + (hi - lo) / 2;
            auto m = readable(mid);
            if (!m) return std::move(m).error();
            (*m ? hi : lo) = mid;
        }
        s_->note_compacted(hi);
        return s_->compacted.load();
    }

    Status compact(int64_t revision) override {
        Body body;
        body.raw("{").num("revision", revision).raw("}");
        // Compacting twice to the same revision is harmless: retried like a read.
        auto r = s_->gateway->call("/v3/kv/compaction", body.take(), Retry::always);
        if (!r) {
            if (r.error().code() == errc::compacted)
                return {};  // at or below the compacted one: nothing to do
            if (r.error().code() == errc::future_revision)
                return Error(errc::future_revision, "compact to " + std::to_string(revision) +
                                                        ": newer than the store's revision");
            return std::move(r).error().context("compact to " + std::to_string(revision));
        }
        s_->note_compacted(revision);
        return {};
    }

  private:
    // expected 0: the key exists (create revision > 0); else its mod revision is expected.
    static void compare_revision(Body& body, const std::string& k, int64_t expected) {
        if (expected != 0)
            body.raw("{\"target\":\"MOD\",")
                .b64("key", k)
                .raw(",")
                .num("mod_revision", expected)
                .raw("}");
        else
            body.raw("{\"target\":\"CREATE\",\"result\":\"GREATER\",")
                .b64("key", k)
                .raw(",")
                .num("create_revision", 0)
                .raw("}");
    }

    // A txn whose compare failed: its failure branch read the key.
    Result<KeyValue> refused(const Gateway::Reply& r, const char* verb, const std::string& key,
                             int64_t expected) {
        const Json& kvs = member(txn_response(r.json, "response_range"), "kvs");
        if (!kvs.is_array() || kvs.empty()) {
            if (r.resent)
                return Error(EIO,
                             verb + key +
                                 ": not found after a retry; an earlier attempt that got no answer "
                                 "may have deleted it");
            return Error(errc::not_found, verb + key + ": not found");
        }
        int64_t actual = int_field(kvs[0], "mod_revision");
        if (r.resent)
            return Error(
                EIO,
                verb + key + ": expected mod revision " + std::to_string(expected) +
                    ", the key is at " + std::to_string(actual) +
                    " after a retry; an earlier attempt that got no answer may have written it");
        return Error(errc::conflict, verb + key + ": expected mod revision " +
                                         std::to_string(expected) + ", the key is at " +
                                         std::to_string(actual));
    }

    // A count-only read of one key at rev (0 = latest): the store's current revision, or
    // errc::compacted / errc::future_revision for rev.
    Result<int64_t> probe_revision(int64_t rev) {
        Body body;
        body.raw("{").b64("key", s_->full_key("")).raw(",\"count_only\":true");
        if (rev > 0) body.raw(",").num("revision", rev);
        body.raw("}");
        auto r = s_->gateway->call("/v3/kv/range", body.take(), Retry::always);
        if (!r) return std::move(r).error();
        return header_revision(r->json);
    }

    std::shared_ptr<Shared> s_;
};

}  // namespace

Result<std::unique_ptr<Store>> open_etcd(const EtcdOptions& options) {
    auto gateway = Gateway::open(options);
    if (!gateway) return std::move(gateway).error().context("open etcd store");
    auto shared = std::make_shared<Shared>();
    shared->gateway = std::move(*gateway);
    shared->key_prefix = options.key_prefix;
    auto store = std::make_unique<EtcdStore>(shared);
    // One read: fails clearly when no member answers, and learns the compaction others did.
    if (auto c = store->compacted_revision(); !c) {
        std::string urls;
        for (const auto& e : options.endpoints) urls += (urls.empty() ? "" : ",") + e;
        return std::move(c).error().context("open etcd store at " + urls);
    }
    return std::unique_ptr<Store>(std::move(store));
}

Result<EtcdOptions> parse_etcd_datastore(const std::string& url) {
    constexpr std::string_view kScheme = "etcd://";
    auto bad = [&](const std::string& why) {
        return Error(EINVAL, "datastore \"" + url + "\": " + why +
                                 " (expected etcd://HOST:PORT[,HOST:PORT...])");
    };
    if (url.compare(0, kScheme.size(), kScheme) != 0) return bad("the scheme must be etcd://");
    EtcdOptions options;
    std::string_view rest = std::string_view(url).substr(kScheme.size());
    if (rest.empty()) return bad("no members");
    for (;;) {
        auto comma = rest.find(',');
        std::string_view m = rest.substr(0, comma);
        if (m.empty()) return bad("an empty member");
        if (m.find_first_of("/?#@") != std::string_view::npos)
            return bad("\"" + std::string(m) + "\": only HOST:PORT, no path, query or user");
        auto colon = m.rfind(':');
        auto bracket = m.rfind(']');
        if (colon == std::string_view::npos || colon == 0 ||
            (bracket != std::string_view::npos && colon < bracket))
            return bad("\"" + std::string(m) + "\" has no port or host");
        std::string_view port = m.substr(colon + 1);
        unsigned p = 0;
        auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), p);
        if (ec != std::errc() || end != port.data() + port.size() || p == 0 || p > 65535)
            return bad("\"" + std::string(m) + "\": the port must be 1 to 65535");
        options.endpoints.push_back("http://" + std::string(m));
        if (comma == std::string_view::npos) break;
        rest.remove_prefix(comma + 1);
    }
    return options;
}

}  // namespace skiff::store
