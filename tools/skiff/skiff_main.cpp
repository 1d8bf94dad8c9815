// skiff: images (pull, ls, rm, tag, prune, inspect, login) and single-host containers (run, ps, ...).
#include <unistd.h>

#include <boost/program_options.hpp>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <iostream>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>

#include "skiff/base/log.hpp"
#include "skiff/cli/containers.hpp"
#include "skiff/cli/options.hpp"
#include "skiff/cli/net_command.hpp"
#include "skiff/cli/server_command.hpp"
#include "skiff/cli/svc_command.hpp"
#include "skiff/images/archive.hpp"
#include "skiff/images/credentials.hpp"
#include "skiff/images/image_service.hpp"
#include "skiff/images/reference.hpp"
#include "skiff/runtime/image_spec.hpp"

namespace po = boost::program_options;
using json = nlohmann::json;
using namespace skiff;

// jemalloc's settings (skiff links it, see CMakeLists.txt; an unused variable without it). One arena per
// CPU; thread caches only for blocks up to 1 KiB: each of `skiff server`'s 64 request threads keeps its
// cache while idle, and with the default (32 KiB) those held 16 MB of an idle server's 35 MB.
extern "C" const char* malloc_conf;
const char* malloc_conf = "percpu_arena:percpu,tcache_max:1024";

namespace {

const char* kUsage =
    "usage: skiff [--root DIR] COMMAND ...\n"
    "\n"
    "images:\n"
    "  skiff image pull [--platform OS/ARCH] [--tls-verify=false] [--cert-file CA]\n"
    "                   [--creds USER:PASS] [-q] IMAGE\n"
    "  skiff image push [--tls-verify=false] [--cert-file CA] [--creds USER:PASS] IMAGE [DEST]\n"
    "  skiff image ls | rm IMAGE... | tag SOURCE TARGET | prune | inspect IMAGE\n"
    "  skiff login [-u USER] [-p PASS | --password-stdin] [--tls-verify=false] REGISTRY\n"
    "  skiff pull IMAGE          (same as skiff image pull)\n"
    "  skiff image import [--name NAME] [--format auto|oci|docker-archive|rootfs]\n"
    "                     [--platform OS/ARCH] SOURCE[:REF] [NAME]\n"
    "  skiff image export [--format oci|oci-dir|docker-archive] [--platform OS/ARCH] IMAGE DEST\n"
    "  skiff load -i FILE | save -o FILE IMAGE...   (docker's names for import and export)\n"
    "containers:\n"
    "  skiff run [--rm] [-d] [--name N] [-e K=V] [-v SRC:DST[:ro]] [-w DIR] [-u USER]\n"
    "            [--memory 64m] [--cpus 0.5] [--pids-limit N] [--read-only]\n"
    "            [--cap-add CAP] [--cap-drop CAP] [--network none|host] [--entrypoint E]\n"
    "            [-i] [-t] IMAGE [COMMAND...]\n"
    "  skiff ps [-a] | logs [-f] NAME | stop [-t SECS] NAME | rm [-f] NAME...\n"
    "  skiff exec [-i] [-t] [-e K=V] [-w DIR] [-u USER] NAME COMMAND...\n"
    "pod network:  skiff net setup|teardown|route ...   (skiff net --help)\n"
    "services (eBPF load balancer):\n"
    "  skiff svc add|rm|ls|stats|apply|unload|nodeport ...   (skiff svc --help)\n"
    "control plane:\n"
    "  skiff server [--listen ADDR:PORT] [--data-dir DIR]   the Kubernetes API over HTTPS (skiff server --help)\n"
    "  skiff server token create NODE    a bearer token for a node\n"
    "  skiff kubeconfig                  prints the admin kubeconfig (skiff kubeconfig > ~/.kube/config)\n"
    "\n"
    "global: --root DIR (default /var/lib/skiff), --debug\n";

struct Global {
    std::string root = "/var/lib/skiff";
    bool debug = false;
};

int fail(const Error& e) {
    std::fprintf(stderr, "skiff: %s\n", e.what().c_str());
    return e.code() == ENOENT ? 1 : (e.code() == EINVAL ? 2 : 1);
}

int usage_error(const std::string& msg) { return cli::usage_error("skiff", msg); }

// Splits "cmd [options] POSITIONAL [rest...]": options until the first non-option word (whose
// value-taking options consume their value), so `skiff run IMAGE ls -l` keeps `-l` for ls.
void split_at_positional(const std::vector<std::string>& args,
                         const std::vector<std::string>& takes_value,
                         std::vector<std::string>& options, std::vector<std::string>& rest) {
    size_t i = 0;
    for (; i < args.size(); ++i) {
        const std::string& a = args[i];
        if (a == "--") {
            ++i;
            break;
        }
        if (a.empty() || a[0] != '-' || a == "-") break;
        options.push_back(a);
        bool inline_value = a.find('=') != std::string::npos;
        if (!inline_value &&
            std::find(takes_value.begin(), takes_value.end(), a) != takes_value.end() &&
            i + 1 < args.size())
            options.push_back(args[++i]);
    }
    rest.assign(args.begin() + static_cast<long>(i), args.end());
}

bool flag_false(const po::variables_map& vm, const char* name) {
    return vm.count(name) && vm[name].as<std::string>() == "false";
}

// Progress on a terminal: one line per blob, redrawn in place.
class Progress {
public:
    explicit Progress(bool enabled) : enabled_(enabled && isatty(STDERR_FILENO)) {}
    images::RegistryClient::ProgressFn callback() {
        if (!enabled_) return {};
        return [this](const images::Digest& d, uint64_t done, uint64_t total) {
            std::lock_guard lock(mu_);
            auto now = std::chrono::steady_clock::now();
            if (done != total && now - last_ < std::chrono::milliseconds(100)) return;
            last_ = now;
            std::fprintf(stderr, "\r%.19s  %6.1f / %6.1f MB", d.hex.c_str(), double(done) / 1e6,
                         double(total) / 1e6);
            if (done == total) std::fputc('\n', stderr);
        };
    }

private:
    bool enabled_;
    std::mutex mu_;
    std::chrono::steady_clock::time_point last_{};
};

void add_registry_options(po::options_description& d) {
    d.add_options()("platform", po::value<std::string>(), "")(
        "tls-verify", po::value<std::string>()->implicit_value("true"), "")(
        "cert-file", po::value<std::string>(), "")("creds", po::value<std::string>(), "");
}

// Option `name` parsed by parse (a platform, a format...) into out; absent leaves out as it is.
template <class T, class Parse>
Status option_into(const po::variables_map& vm, const char* name, Parse parse, T& out) {
    if (!vm.count(name)) return {};
    auto value = parse(vm[name].as<std::string>());
    if (!value) return std::move(value).error().context(std::string("--") + name);
    out = std::move(*value);
    return {};
}

Result<images::PullOptions> pull_options(const po::variables_map& vm) {
    images::PullOptions o;
    SKIFF_TRY(option_into(vm, "platform", images::parse_platform, o.platform));
    // podman's meaning: a registry without (valid) TLS; the client falls back to plain HTTP when
    // it has no TLS at all.
    if (flag_false(vm, "tls-verify")) o.tls_verify = false;
    if (vm.count("cert-file")) o.ca_file = vm["cert-file"].as<std::string>();
    if (vm.count("creds")) {
        auto c = images::Credentials::parse(vm["creds"].as<std::string>());
        if (!c) return std::move(c).error().context("--creds");
        o.credentials = *c;
    }
    return o;
}

std::string short_id(const images::Digest& d) { return d.hex.substr(0, 12); }

std::string human_size(uint64_t bytes) {
    char buf[32];
    if (bytes >= 1000 * 1000 * 1000) snprintf(buf, sizeof buf, "%.3gGB", bytes / 1e9);
    else if (bytes >= 1000 * 1000) snprintf(buf, sizeof buf, "%.3gMB", bytes / 1e6);
    else if (bytes >= 1000) snprintf(buf, sizeof buf, "%.3gkB", bytes / 1e3);
    else snprintf(buf, sizeof buf, "%lluB", static_cast<unsigned long long>(bytes));
    return buf;
}

Result<images::ImageService> open_images(const Global& g) {
    return images::ImageService::open(g.root, images::StoreOptions{false});
}

int image_pull(const Global& g, const std::vector<std::string>& args) {
    po::options_description d;
    add_registry_options(d);
    d.add_options()("quiet,q", po::bool_switch(), "")("ref", po::value<std::string>(), "");
    po::positional_options_description pos;
    pos.add("ref", 1);
    po::variables_map vm;
    if (std::string error; !cli::parse_options(args, d, pos, vm, error))
        return usage_error(std::string("pull: ") + error);
    if (!vm.count("ref")) return usage_error("pull needs an image");
    std::string ref = vm["ref"].as<std::string>();
    auto options = pull_options(vm);
    if (!options) return fail(options.error());
    Progress progress(!vm["quiet"].as<bool>());
    options->progress = progress.callback();
    auto svc = open_images(g);
    if (!svc) return fail(svc.error());
    auto pulled = svc->pull(ref, *options);
    if (!pulled) return fail(pulled.error());
    if (!vm["quiet"].as<bool>())
        std::fprintf(stderr, "%s: %s\n", pulled->image.name.c_str(),
                     pulled->already_present ? "image is up to date" : "pulled");
    std::printf("%s\n", pulled->image.digest.str().c_str());
    return 0;
}

int image_push(const Global& g, const std::vector<std::string>& args) {
    po::options_description d;
    add_registry_options(d);
    d.add_options()("quiet,q", po::bool_switch(), "")(
        "refs", po::value<std::vector<std::string>>(), "");
    po::positional_options_description pos;
    pos.add("refs", 2);
    po::variables_map vm;
    if (std::string error; !cli::parse_options(args, d, pos, vm, error))
        return usage_error(std::string("push: ") + error);
    if (!vm.count("refs")) return usage_error("push needs an image");
    auto refs = vm["refs"].as<std::vector<std::string>>();
    std::string source = refs[0], target = refs.size() > 1 ? refs[1] : refs[0];
    auto options = pull_options(vm);
    if (!options) return fail(options.error());
    auto svc = open_images(g);
    if (!svc) return fail(svc.error());
    auto pushed = svc->push(source, target, *options);
    if (!pushed) return fail(pushed.error());
    std::printf("%s\n", pushed->str().c_str());
    return 0;
}

int image_ls(const Global& g) {
    auto svc = open_images(g);
    if (!svc) return fail(svc.error());
    auto all = svc->list();
    if (!all) return fail(all.error());
    std::printf("%-40s %-12s %-14s %-22s %s\n", "REPOSITORY", "TAG", "IMAGE ID", "CREATED",
                "SIZE");
    for (const auto& img : *all) {
        auto ref = images::Reference::parse(img.name);
        std::string repo = ref ? ref->name() : img.name;
        std::string tag = ref && !ref->tag.empty() ? ref->tag : "<none>";
        std::printf("%-40s %-12s %-14s %-22s %s\n", repo.c_str(), tag.c_str(),
                    short_id(img.manifest.config.digest).c_str(),
                    img.config.created.substr(0, 19).c_str(), human_size(img.size).c_str());
    }
    return 0;
}

int image_inspect(const Global& g, const std::string& ref) {
    auto svc = open_images(g);
    if (!svc) return fail(svc.error());
    auto img = svc->get(ref);
    if (!img) return fail(img.error());
    json layers = json::array();
    for (size_t i = 0; i < img->manifest.layers.size(); ++i)
        layers.push_back({{"digest", img->manifest.layers[i].digest.str()},
                          {"size", img->manifest.layers[i].size},
                          {"mediaType", img->manifest.layers[i].media_type},
                          {"diffID", img->config.diff_ids[i].str()},
                          {"snapshot", img->layers[i]}});
    json out = {{"Name", img->name},
                {"Digest", img->digest.str()},
                {"ManifestDigest", img->manifest_digest.str()},
                {"Id", img->manifest.config.digest.str()},
                {"Size", img->size},
                {"Config", json::parse(images::image_config_to_json(img->config))},
                {"Layers", layers}};
    std::cout << out.dump(2) << "\n";
    return 0;
}

// `image import [--name N] [--format F] [--platform P] SOURCE[:REF] [NAME]` and docker's
// `load -i FILE`: SOURCE[:REF] as skopeo's oci:DIR:REF picks one image of an archive.
int image_import(const Global& g, const std::vector<std::string>& args, const std::string& cmd) {
    po::options_description d;
    d.add_options()("name", po::value<std::string>(), "")("format", po::value<std::string>(), "")(
        "platform", po::value<std::string>(), "")("input,i", po::value<std::string>(), "")(
        "quiet,q", po::bool_switch(), "")("args", po::value<std::vector<std::string>>(), "");
    po::positional_options_description pos;
    pos.add("args", -1);
    po::variables_map vm;
    if (std::string error; !cli::parse_options(args, d, pos, vm, error))
        return usage_error(cmd + ": " + error);
    std::vector<std::string> words;
    if (vm.count("input")) words.push_back(vm["input"].as<std::string>());
    if (vm.count("args"))
        for (const auto& a : vm["args"].as<std::vector<std::string>>()) words.push_back(a);
    if (cmd == "load" && !vm.count("input"))
        return usage_error("load needs -i FILE (the archive is read more than once, so not stdin)");
    if (words.empty() || words.size() > 2) return usage_error(cmd + " needs SOURCE [NAME]");
    images::ImportOptions o;
    std::tie(words[0], o.selector) = images::split_import_source(words[0]);
    if (words.size() == 2) o.name = words[1];
    if (vm.count("name")) {
        if (!o.name.empty()) return usage_error(cmd + ": NAME given twice");
        o.name = vm["name"].as<std::string>();
    }
    if (auto s = option_into(vm, "format", images::parse_import_format, o.format); !s)
        return fail(s.error());
    if (auto s = option_into(vm, "platform", images::parse_platform, o.platform); !s)
        return fail(s.error());
    auto svc = open_images(g);
    if (!svc) return fail(svc.error());
    auto imported = images::import_image(*svc, words[0], o);
    if (!imported) return fail(imported.error());
    for (const auto& img : imported->images) {
        if (!vm["quiet"].as<bool>())
            std::fprintf(stderr, "%s: imported (%s)\n", img.name.c_str(),
                         std::string(images::format_name(imported->format)).c_str());
        std::printf("%s\n", img.digest.str().c_str());
    }
    return 0;
}

// `image export [--format F] [--platform P] IMAGE DEST` and docker's `save -o FILE IMAGE...`
// (a docker-archive unless --format says otherwise).
int image_export(const Global& g, const std::vector<std::string>& args, const std::string& cmd) {
    po::options_description d;
    d.add_options()("format", po::value<std::string>(), "")(
        "platform", po::value<std::string>(), "")("output,o", po::value<std::string>(), "")(
        "args", po::value<std::vector<std::string>>(), "");
    po::positional_options_description pos;
    pos.add("args", -1);
    po::variables_map vm;
    if (std::string error; !cli::parse_options(args, d, pos, vm, error))
        return usage_error(cmd + ": " + error);
    std::vector<std::string> refs;
    if (vm.count("args")) refs = vm["args"].as<std::vector<std::string>>();
    std::string dest;
    bool save = cmd == "save";
    if (save) {
        if (!vm.count("output") || refs.empty())
            return usage_error("save needs -o FILE and an image");
        dest = vm["output"].as<std::string>();
    } else {
        if (refs.size() != 2) return usage_error("image export needs IMAGE and DEST");
        dest = refs.back();
        refs.pop_back();
    }
    images::ExportOptions o;
    o.format = save ? images::ExportFormat::kDockerArchive : images::default_export_format(dest);
    if (auto s = option_into(vm, "format", images::parse_export_format, o.format); !s)
        return fail(s.error());
    if (auto s = option_into(vm, "platform", images::parse_platform, o.platform); !s)
        return fail(s.error());
    auto svc = open_images(g);
    if (!svc) return fail(svc.error());
    if (auto s = images::export_images(*svc, refs, dest, o); !s) return fail(s.error());
    return 0;
}

int cmd_image(const Global& g, const std::vector<std::string>& args) {
    if (args.empty()) return usage_error("image needs a subcommand (pull, ls, rm, tag, prune, inspect)");
    std::string sub = args[0];
    std::vector<std::string> rest(args.begin() + 1, args.end());
    if (sub == "pull") return image_pull(g, rest);
    if (sub == "push") return image_push(g, rest);
    if (sub == "import") return image_import(g, rest, "image import");
    if (sub == "export") return image_export(g, rest, "image export");
    if (sub == "ls" || sub == "list") return image_ls(g);
    if (sub == "inspect") {
        if (rest.size() != 1) return usage_error("image inspect needs one image");
        return image_inspect(g, rest[0]);
    }
    auto svc = open_images(g);
    if (!svc) return fail(svc.error());
    if (sub == "rm") {
        if (rest.empty()) return usage_error("image rm needs an image");
        int rc = 0;
        for (const auto& r : rest) {
            if (auto s = svc->remove(r); !s) rc = fail(s.error());
            else std::printf("Untagged: %s\n", r.c_str());
        }
        return rc;
    }
    if (sub == "tag") {
        if (rest.size() != 2) return usage_error("image tag needs SOURCE and TARGET");
        if (auto s = svc->tag(rest[0], rest[1]); !s) return fail(s.error());
        return 0;
    }
    if (sub == "prune") {
        auto r = svc->prune();
        if (!r) return fail(r.error());
        std::printf("Removed %llu blobs and %llu layers, freed %s\n",
                    static_cast<unsigned long long>(r->blobs_removed),
                    static_cast<unsigned long long>(r->snapshots_removed),
                    human_size(r->bytes_freed).c_str());
        return 0;
    }
    return usage_error("unknown image subcommand \"" + sub + "\"");
}

int cmd_login(const std::vector<std::string>& args) {
    po::options_description d;
    d.add_options()("username,u", po::value<std::string>(), "")(
        "password,p", po::value<std::string>(), "")("password-stdin", po::bool_switch(), "")(
        "tls-verify", po::value<std::string>()->implicit_value("true"), "")(
        "cert-file", po::value<std::string>(), "")("host", po::value<std::string>(), "");
    po::positional_options_description pos;
    pos.add("host", 1);
    po::variables_map vm;
    if (std::string error; !cli::parse_options(args, d, pos, vm, error))
        return usage_error(std::string("login: ") + error);
    if (!vm.count("host") || !vm.count("username"))
        return usage_error("login needs -u USER and a registry");
    images::Credentials creds{vm["username"].as<std::string>(), ""};
    if (vm["password-stdin"].as<bool>()) {
        std::getline(std::cin, creds.password);
    } else if (vm.count("password")) {
        creds.password = vm["password"].as<std::string>();
    } else {
        return usage_error("login needs -p PASS or --password-stdin");
    }
    std::string host = vm["host"].as<std::string>();
    images::RegistryClient::Options o;
    o.registry_host = host;
    o.credentials = creds;
    if (flag_false(vm, "tls-verify")) o.tls_verify = false;
    if (vm.count("cert-file")) o.ca_file = vm["cert-file"].as<std::string>();
    images::RegistryClient client(o);
    if (auto p = client.ping(); !p) return fail(p.error().context("login " + host));
    if (auto s = images::save_login(host, creds); !s) return fail(s.error());
    std::printf("Login Succeeded\n");
    return 0;
}

int cmd_run(const Global& g, const std::vector<std::string>& args) {
    po::options_description d;
    add_registry_options(d);
    d.add_options()("rm", po::bool_switch(), "")("detach,d", po::bool_switch(), "")(
        "name", po::value<std::string>(), "")("env,e", po::value<std::vector<std::string>>(), "")(
        "volume,v", po::value<std::vector<std::string>>(), "")(
        "workdir,w", po::value<std::string>(), "")("user,u", po::value<std::string>(), "")(
        "memory,m", po::value<std::string>(), "")("cpus", po::value<double>(), "")(
        "pids-limit", po::value<int64_t>(), "")("read-only", po::bool_switch(), "")(
        "cap-add", po::value<std::vector<std::string>>(), "")(
        "cap-drop", po::value<std::vector<std::string>>(), "")(
        "network", po::value<std::string>()->default_value("none"), "")(
        "entrypoint", po::value<std::string>(), "")("hostname,h", po::value<std::string>(), "")(
        "interactive,i", po::bool_switch(), "")("tty,t", po::bool_switch(), "");
    std::vector<std::string> options, rest;
    split_at_positional(args,
                        {"--name", "-e", "--env", "-v", "--volume", "-w", "--workdir", "-u",
                         "--user", "-m", "--memory", "--cpus", "--pids-limit", "--cap-add",
                         "--cap-drop", "--network", "--entrypoint", "--platform", "--cert-file",
                         "--creds", "-h", "--hostname"},
                        options, rest);
    po::variables_map vm;
    std::string error;
    if (!cli::parse_options(options, d, vm, error)) return usage_error("run: " + error);
    if (rest.empty()) return usage_error("run needs an image");
    std::string ref = rest[0];

    cli::RunRequest req;
    req.options.command.assign(rest.begin() + 1, rest.end());
    if (vm.count("env")) req.options.env = vm["env"].as<std::vector<std::string>>();
    if (vm.count("volume"))
        for (const auto& v : vm["volume"].as<std::vector<std::string>>()) {
            auto parsed = runtime::parse_volume(v);
            if (!parsed) return fail(parsed.error());
            req.options.volumes.push_back(*parsed);
        }
    if (vm.count("workdir")) req.options.working_dir = vm["workdir"].as<std::string>();
    if (vm.count("user")) req.options.user = vm["user"].as<std::string>();
    if (vm.count("memory")) {
        auto m = runtime::parse_memory_size(vm["memory"].as<std::string>());
        if (!m) return fail(m.error().context("--memory"));
        req.options.memory_bytes = *m;
    }
    if (vm.count("cpus")) req.options.cpus = vm["cpus"].as<double>();
    if (vm.count("pids-limit")) req.options.pids_limit = vm["pids-limit"].as<int64_t>();
    req.options.read_only = vm["read-only"].as<bool>();
    if (vm.count("cap-add")) req.options.cap_add = vm["cap-add"].as<std::vector<std::string>>();
    if (vm.count("cap-drop")) req.options.cap_drop = vm["cap-drop"].as<std::vector<std::string>>();
    req.options.network = vm["network"].as<std::string>();
    if (vm.count("entrypoint")) req.options.entrypoint = vm["entrypoint"].as<std::string>();
    if (vm.count("hostname")) req.options.hostname = vm["hostname"].as<std::string>();
    if (vm.count("name")) req.name = vm["name"].as<std::string>();
    req.detach = vm["detach"].as<bool>();
    req.remove_after = vm["rm"].as<bool>();
    req.interactive = vm["interactive"].as<bool>();
    req.tty = vm["tty"].as<bool>();

    auto svc = open_images(g);
    if (!svc) return fail(svc.error());
    auto image = svc->get(ref);
    if (!image && image.error().code() == ENOENT) {
        // Like docker: a missing image is pulled first.
        auto po_ = pull_options(vm);
        if (!po_) return fail(po_.error());
        auto pulled = svc->pull(ref, *po_);
        if (!pulled) return fail(pulled.error());
        image = std::move(pulled->image);
    }
    if (!image) return fail(image.error());
    const auto& c = image->config.config;
    req.image_name = image->name;
    req.image = runtime::ImageProcess{c.user, c.working_dir, c.stop_signal, c.env, c.entrypoint,
                                      c.cmd, c.labels};
    req.layers = image->layers;
    cli::ContainerManager manager(cli::ManagerOptions{g.root + "/containers", "/run/skiff/runtime"});
    auto r = manager.run(req);
    if (!r) return fail(r.error());
    if (req.detach) {
        std::printf("%s\n", r->id.c_str());
        return 0;
    }
    return r->exit_code;
}

int cmd_containers(const Global& g, const std::string& cmd, const std::vector<std::string>& args) {
    po::options_description d;
    d.add_options()("all,a", po::bool_switch(), "")("follow,f", po::bool_switch(), "")(
        "force", po::bool_switch(), "")("time,t", po::value<int>()->default_value(10), "")(
        "names", po::value<std::vector<std::string>>(), "");
    po::positional_options_description pos;
    pos.add("names", -1);
    std::vector<std::string> fixed = args;
    // `rm -f` means force, `logs -f` means follow.
    if (cmd == "rm")
        for (auto& a : fixed)
            if (a == "-f") a = "--force";
    po::variables_map vm;
    if (std::string error; !cli::parse_options(fixed, d, pos, vm, error))
        return usage_error(cmd + ": " + error);
    std::vector<std::string> names;
    if (vm.count("names")) names = vm["names"].as<std::vector<std::string>>();
    cli::ContainerManager manager(cli::ManagerOptions{g.root + "/containers", "/run/skiff/runtime"});
    if (cmd == "ps") {
        auto rows = manager.ps(vm["all"].as<bool>());
        if (!rows) return fail(rows.error());
        std::fputs(cli::format_ps(*rows, std::chrono::system_clock::now()).c_str(), stdout);
        return 0;
    }
    if (names.empty()) return usage_error(cmd + " needs a container name or id");
    int rc = 0;
    for (const auto& n : names) {
        Status s;
        if (cmd == "logs") s = manager.logs(n, vm["follow"].as<bool>());
        else if (cmd == "stop") s = manager.stop(n, vm["time"].as<int>());
        else if (cmd == "rm") s = manager.rm(n, vm["force"].as<bool>());
        if (!s) rc = fail(s.error());
        else if (cmd != "logs") std::printf("%s\n", n.c_str());
    }
    return rc;
}

int cmd_exec(const Global& g, const std::vector<std::string>& args) {
    po::options_description d;
    d.add_options()("interactive,i", po::bool_switch(), "")("tty,t", po::bool_switch(), "")(
        "env,e", po::value<std::vector<std::string>>(), "")(
        "workdir,w", po::value<std::string>(), "")("user,u", po::value<std::string>(), "");
    std::vector<std::string> options, rest;
    split_at_positional(args, {"-e", "--env", "-w", "--workdir", "-u", "--user"}, options, rest);
    po::variables_map vm;
    std::string error;
    if (!cli::parse_options(options, d, vm, error)) return usage_error("exec: " + error);
    if (rest.size() < 2) return usage_error("exec needs a container and a command");
    cli::ExecRequest req;
    req.name = rest[0];
    req.command.assign(rest.begin() + 1, rest.end());
    if (vm.count("env")) req.env = vm["env"].as<std::vector<std::string>>();
    if (vm.count("workdir")) req.workdir = vm["workdir"].as<std::string>();
    if (vm.count("user")) req.user = vm["user"].as<std::string>();
    req.interactive = vm["interactive"].as<bool>();
    req.tty = vm["tty"].as<bool>();
    cli::ContainerManager manager(cli::ManagerOptions{g.root + "/containers", "/run/skiff/runtime"});
    auto code = manager.exec(req);
    if (!code) return fail(code.error());
    return *code;
}

}  // namespace

int main(int argc, char** argv) {
    Global g;
    int i = 1;
    for (; i < argc; ++i) {
        std::string a = argv[i];
        if (a == "--root" && i + 1 < argc) {
            g.root = argv[++i];
        } else if (a.rfind("--root=", 0) == 0) {
            g.root = a.substr(7);
        } else if (a == "--debug") {
            g.debug = true;
        } else if (a == "--help" || a == "-h") {
            std::fputs(kUsage, stdout);
            return 0;
        } else if (a == "--version") {
            std::printf("skiff version 0.1.0\n");
            return 0;
        } else if (!a.empty() && a[0] == '-') {
            return usage_error("unknown global option " + a);
        } else {
            break;
        }
    }
    log::configure("", log::Format::text, g.debug);
    if (i >= argc) {
        std::fputs(kUsage, stderr);
        return 2;
    }
    std::string cmd = argv[i++];
    std::vector<std::string> args(argv + i, argv + argc);
    if (cmd == "image") return cmd_image(g, args);
    if (cmd == "pull") return image_pull(g, args);
    if (cmd == "push") return image_push(g, args);
    if (cmd == "images") return image_ls(g);
    if (cmd == "load") return image_import(g, args, "load");
    if (cmd == "save") return image_export(g, args, "save");
    if (cmd == "login") return cmd_login(args);
    if (cmd == "run") return cmd_run(g, args);
    if (cmd == "exec") return cmd_exec(g, args);
    if (cmd == "net") return cmd_net(args);
    if (cmd == "ps" || cmd == "logs" || cmd == "stop" || cmd == "rm")
        return cmd_containers(g, cmd, args);
    if (cmd == "svc") return cli::cmd_svc(args);
    if (cmd == "server") return cli::cmd_server(args);
    if (cmd == "kubeconfig") return cli::cmd_kubeconfig(args);
    return usage_error("unknown command \"" + cmd + "\"");
}
