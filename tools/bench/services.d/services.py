#!/usr/bin/env python3
"""Helpers for tools/bench/services (see docs/benchmarks.md, "Services").

  gen     --n N --out DIR [--layout current|pre-1.21]   iptables-restore inputs + skiff JSON for N services
  listen  --port P --ready FILE                          accept-and-close server on 0.0.0.0:P
  connect --addr IP:PORT --rounds R --warmup W --out F   connect()/close loop, one latency (ns) per line to F
  mixed   --path NAME=NETNS,CGROUP,IP:PORT... --rounds R --out-dir D
                                                         the same, one process, the paths interleaved round
                                                         by round (each socket made in its path's netns and
                                                         cgroup); latencies to D/lat-NAME
  stats   FILE...                                        prints "p50_us p99_us count" over all samples

Addresses: service i has the cluster IP 10.96.(i // 254).(i % 254 + 1) port 80/tcp and three backends,
10.244.(k // 254).(k % 254 + 1):8080 for k = 3i, 3i+1, 3i+2 (all distinct, all in the cluster CIDR
10.244.0.0/16, which the bench netns routes to lo as local addresses).
"""
import argparse
import base64
import hashlib
import json
import math
import os
import socket
import struct
import sys
import time

CLUSTER_CIDR = "10.244.0.0/16"
BACKENDS_PER_SERVICE = 3
MAX_SERVICES = 20000  # 3 * (N + 1) backends must fit in 10.244.0.0/16 at 254 per /24
# What iptables-save prints back for kube-proxy's "%0.10f" of 1/3 and 1/2 (the statistic match keeps
# the probability as a 31-bit fraction).
PROBABILITY = {3: "0.33333333349", 2: "0.50000000000"}


def vip(i):
    return f"10.96.{i // 254}.{i % 254 + 1}"


def backend(k):
    return f"10.244.{k // 254}.{k % 254 + 1}"


def backends(i):
    return [backend(BACKENDS_PER_SERVICE * i + j) for j in range(BACKENDS_PER_SERVICE)]


def port_proto_hash(text):
    # kube-proxy's portProtoHash: base32 of sha256, first 16 characters.
    return base64.b32encode(hashlib.sha256(text.encode()).digest()).decode()[:16]


class Svc:
    def __init__(self, i):
        self.i = i
        self.name = f"default/svc-{i}:http"  # servicePortName as kube-proxy prints it
        self.vip = vip(i)
        self.eps = [f"{b}:8080" for b in backends(i)]
        self.svc_chain = "KUBE-SVC-" + port_proto_hash(self.name + "tcp")
        self.sep_chains = ["KUBE-SEP-" + port_proto_hash(self.name + "tcp" + ep) for ep in self.eps]

    def chains(self):
        return [self.svc_chain] + self.sep_chains

    def services_rules(self, layout):
        """The rule(s) of this service in KUBE-SERVICES (iptables-save's spelling)."""
        comment = f'-m comment --comment "{self.name} cluster IP"'
        rules = []
        if layout == "pre-1.21":
            rules.append(f"! -s {CLUSTER_CIDR} -d {self.vip}/32 -p tcp {comment} -m tcp --dport 80 -j KUBE-MARK-MASQ")
        rules.append(f"-d {self.vip}/32 -p tcp {comment} -m tcp --dport 80 -j {self.svc_chain}")
        return rules

    def chain_rules(self, layout):
        """-A lines of the service's own KUBE-SVC and KUBE-SEP chains."""
        out = []
        if layout == "current":  # kubernetes#96959 (1.21) moved the cluster-CIDR masquerade rule here
            out.append(f"-A {self.svc_chain} ! -s {CLUSTER_CIDR} -d {self.vip}/32 -p tcp "
                       f'-m comment --comment "{self.name} cluster IP" -m tcp --dport 80 -j KUBE-MARK-MASQ')
        n = len(self.eps)
        for j, (ep, sep) in enumerate(zip(self.eps, self.sep_chains)):
            stat = "" if j == n - 1 else f"-m statistic --mode random --probability {PROBABILITY[n - j]} "
            out.append(f'-A {self.svc_chain} -m comment --comment "{self.name} -> {ep}" {stat}-j {sep}')
        for ep, sep in zip(self.eps, self.sep_chains):
            ip = ep.split(":")[0]
            out.append(f'-A {sep} -s {ip}/32 -m comment --comment "{self.name}" -j KUBE-MARK-MASQ')
            out.append(f'-A {sep} -p tcp -m comment --comment "{self.name}" -m tcp -j DNAT --to-destination {ep}')
        return out


BASE_CHAINS = ["KUBE-SERVICES", "KUBE-NODEPORTS", "KUBE-POSTROUTING", "KUBE-MARK-MASQ"]
BASE_RULES = [
    "-A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN",
    "-A KUBE-POSTROUTING -j MARK --xor-mark 0x4000",
    '-A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE --random-fully',
    "-A KUBE-MARK-MASQ -j MARK --or-mark 0x4000",
]
NODEPORTS_RULE = ('-A KUBE-SERVICES -m comment --comment "kubernetes service nodeports; NOTE: this must be the '
                  'last rule in this chain" -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS')
# What kube-proxy ensures once with `iptables -N` / `iptables -I` before its first iptables-restore.
SKELETON = """*nat
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
:KUBE-SERVICES - [0:0]
:KUBE-NODEPORTS - [0:0]
:KUBE-POSTROUTING - [0:0]
:KUBE-MARK-MASQ - [0:0]
-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
-A OUTPUT -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
-A POSTROUTING -m comment --comment "kubernetes postrouting rules" -j KUBE-POSTROUTING
COMMIT
"""
SKELETON_RULES = 3


def sync(services, layout, chains_of=None, whole_table=False):
    """A kube-proxy sync as its iptables-restore --noflush input: the base chains in full, the KUBE-SVC/SEP
    chains of `chains_of` (default: all services; a full sync; kube-proxy >= 1.27 writes only changed ones).
    whole_table: the whole nat table instead (skeleton included), for a plain iptables-restore."""
    chains_of = services if chains_of is None else chains_of
    if whole_table:
        skel = SKELETON.splitlines()
        lines = [line for line in skel if line.startswith(("*", ":"))]
    else:
        lines = ["*nat"] + [f":{c} - [0:0]" for c in BASE_CHAINS]
    for s in chains_of:
        lines += [f":{c} - [0:0]" for c in s.chains()]
    if whole_table:
        lines += [line for line in skel if line.startswith("-A")]
    lines += BASE_RULES
    for s in services:
        lines += [f"-A KUBE-SERVICES {r}" for r in s.services_rules(layout)]
    lines.append(NODEPORTS_RULE)
    for s in chains_of:
        lines += s.chain_rules(layout)
    lines.append("COMMIT")
    return "\n".join(lines) + "\n"


def count_rules(n, layout):
    per_service = len(Svc(0).services_rules(layout)) + len(Svc(0).chain_rules(layout))
    return SKELETON_RULES + len(BASE_RULES) + 1 + n * per_service


def cmd_gen(a):
    if not 1 <= a.n <= MAX_SERVICES:
        sys.exit(f"gen: N must be 1..{MAX_SERVICES}, got {a.n}")
    os.makedirs(a.out, exist_ok=True)
    svcs = [Svc(i) for i in range(a.n + 1)]
    cur, new = svcs[:-1], svcs[-1]
    files = {
        "skeleton.rules": SKELETON,
        # the whole nat table for a plain iptables-restore: N services (program all), N+1 (add one)
        "all.rules": sync(cur, a.layout, whole_table=True),
        "all-add.rules": sync(svcs, a.layout, whole_table=True),
        # kube-proxy's own full sync of N services, for iptables-restore --noflush over the skeleton
        "full.rules": sync(cur, a.layout),
        # kube-proxy >= 1.27 partial sync: base chains (KUBE-SERVICES included) in full + changed chains only
        "kp-add.rules": sync(svcs, a.layout, chains_of=[new]),
    }
    # The least that can be written: the new chains and its KUBE-SERVICES rule(s), inserted before the
    # nodeports rule (which kube-proxy keeps last).
    pos = len(new.services_rules(a.layout)) * a.n + 1
    add = ["*nat"] + [f":{c} - [0:0]" for c in new.chains()] + new.chain_rules(a.layout)
    add += [f"-I KUBE-SERVICES {pos + j} {r}" for j, r in enumerate(new.services_rules(a.layout))]
    files["min-add.rules"] = "\n".join(add + ["COMMIT"]) + "\n"
    # Undoes any of the adds (all-add, kp-add, min-add): back to N services.
    undo = ["*nat"] + [f"-D KUBE-SERVICES {r}" for r in new.services_rules(a.layout)]
    undo += [f":{c} - [0:0]" for c in new.chains()] + [f"-X {c}" for c in new.chains()]
    files["min-undo.rules"] = "\n".join(undo + ["COMMIT"]) + "\n"
    files["services.json"] = json.dumps(
        [{"vip": f"{s.vip}:80/tcp", "backends": s.eps} for s in cur], separators=(",", ":")) + "\n"
    files["empty.json"] = "[]\n"
    last = cur[-1]
    meta = {
        "rules": count_rules(a.n, a.layout),
        "rule_lines": sum(1 for line in files["all.rules"].splitlines() if line[:1] in "-:"),
        "last_vip": last.vip, "last_backend": last.eps[0].split(":")[0],
        "new_vip": new.vip, "new_backends": " ".join(new.eps),
    }
    files["meta.sh"] = "".join(f"{k}='{v}'\n" for k, v in meta.items())
    for name, text in files.items():
        with open(os.path.join(a.out, name), "w") as f:
            f.write(text)


def cmd_listen(a):
    ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("0.0.0.0", a.port))
    ls.listen(65535)
    with open(a.ready, "w") as f:
        f.write(f"{os.getpid()}\n")
    # Drains the accept queue every 5 ms instead of blocking in accept(): a listener woken by every
    # connection would compete with the connect loop for the CPU at each round, and make its timings
    # depend on where the scheduler puts the two (up to 2x here).
    ls.setblocking(False)
    accept = ls.accept
    while True:
        time.sleep(0.005)
        while True:
            try:
                c, _ = accept()
            except BlockingIOError:
                break
            except OSError:
                continue
            c.close()


def cmd_connect(a):
    ip, port = a.addr.rsplit(":", 1)
    addr = (ip, int(port))
    linger = struct.pack("ii", 1, 0)  # close() sends RST: no TIME_WAIT on either side
    AF, ST, SOL, LG = socket.AF_INET, socket.SOCK_STREAM, socket.SOL_SOCKET, socket.SO_LINGER
    now = time.perf_counter_ns
    samples = []
    for r in range(a.warmup + a.rounds):
        s = socket.socket(AF, ST)
        s.setsockopt(SOL, LG, linger)
        s.settimeout(a.timeout)
        try:
            t0 = now()
            s.connect(addr)
            t1 = now()
        except OSError as e:
            sys.exit(f"connect to {a.addr} failed: {e}")
        finally:
            s.close()
        if r >= a.warmup:
            samples.append(t1 - t0)
    with open(a.out, "a") as f:
        f.write("\n".join(map(str, samples)) + "\n")


CLONE_NEWNET = 0x40000000


def cmd_mixed(a):
    """Interleaves the paths connect by connect in one process, so that they share whatever state the
    process is in (the same loop run as separate processes comes out in one of two modes here, ~20 or
    ~30 µs, fixed for the life of the process). A socket belongs to the network namespace, and for
    cgroup-BPF to the cgroup, that its creator was in at socket(): so each batch of sockets is made
    after setns() into the path's netns (as `ip netns exec` does) and after moving this process into the
    path's cgroup; only connect() is timed."""
    import ctypes
    libc = ctypes.CDLL(None, use_errno=True)
    paths = []
    for spec in a.path:
        name, rest = spec.split("=", 1)
        netns, cgroup, addr = rest.split(",")
        ip, port = addr.rsplit(":", 1)
        paths.append((name, os.open(f"/run/netns/{netns}", os.O_RDONLY), cgroup, (ip, int(port))))
    linger = struct.pack("ii", 1, 0)
    AF, ST, SOL, LG = socket.AF_INET, socket.SOCK_STREAM, socket.SOL_SOCKET, socket.SO_LINGER
    now = time.perf_counter_ns
    pid = str(os.getpid()).encode()
    where = [None, None]

    def enter(nsfd, cgroup):
        if where[1] != cgroup:
            with open(os.path.join(cgroup, "cgroup.procs"), "wb", buffering=0) as f:
                f.write(pid)
            where[1] = cgroup
        if where[0] != nsfd:
            if libc.setns(nsfd, CLONE_NEWNET) != 0:
                sys.exit(f"setns: {os.strerror(ctypes.get_errno())}")
            where[0] = nsfd

    samples = {name: [] for name, *_ in paths}
    total = a.warmup + a.rounds
    done = 0
    # sockets are made path after path, grouped by cgroup, so the process moves twice per batch at most
    order = sorted(range(len(paths)), key=lambda i: paths[i][2])
    while done < total:
        k = min(a.batch, total - done)
        socks = [None] * len(paths)
        for i in order:
            _, nsfd, cgroup, _ = paths[i]
            enter(nsfd, cgroup)
            socks[i] = []
            for _ in range(k):
                s = socket.socket(AF, ST)
                s.setsockopt(SOL, LG, linger)
                s.settimeout(a.timeout)
                socks[i].append(s)
        for j in range(k):
            r = done + j
            for m in range(len(paths)):
                i = (r + m) % len(paths)  # rotates which path goes first
                name, _, _, addr = paths[i]
                s = socks[i][j]
                try:
                    t0 = now()
                    s.connect(addr)
                    t1 = now()
                except OSError as e:
                    sys.exit(f"{name}: connect to {addr[0]}:{addr[1]} failed: {e}")
                finally:
                    s.close()
                if r >= a.warmup:
                    samples[name].append(t1 - t0)
        done += k
    for name, v in samples.items():
        with open(os.path.join(a.out_dir, f"lat-{name}"), "a") as f:
            f.write("\n".join(map(str, v)) + "\n")


def percentile(sorted_values, p):  # nearest rank
    return sorted_values[max(0, math.ceil(p / 100 * len(sorted_values)) - 1)]


def cmd_stats(a):
    v = []
    for path in a.files:
        with open(path) as f:
            v += [int(line) for line in f if line.strip()]
    if not v:
        sys.exit("stats: no samples")
    v.sort()
    print(f"{percentile(v, 50) / 1000:.1f} {percentile(v, 99) / 1000:.1f} {len(v)}")


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    g = sub.add_parser("gen")
    g.add_argument("--n", type=int, required=True)
    g.add_argument("--out", required=True)
    g.add_argument("--layout", choices=["current", "pre-1.21"], default="current")
    g.set_defaults(fn=cmd_gen)
    li = sub.add_parser("listen")
    li.add_argument("--port", type=int, default=8080)
    li.add_argument("--ready", required=True)
    li.set_defaults(fn=cmd_listen)
    c = sub.add_parser("connect")
    c.add_argument("--addr", required=True)
    c.add_argument("--rounds", type=int, required=True)
    c.add_argument("--warmup", type=int, default=200)
    c.add_argument("--timeout", type=float, default=2.0)
    c.add_argument("--out", required=True)
    c.set_defaults(fn=cmd_connect)
    mx = sub.add_parser("mixed")
    mx.add_argument("--path", action="append", required=True, help="NAME=NETNS,CGROUP_DIR,IP:PORT")
    mx.add_argument("--rounds", type=int, required=True)
    mx.add_argument("--warmup", type=int, default=200)
    mx.add_argument("--batch", type=int, default=200)
    mx.add_argument("--timeout", type=float, default=2.0)
    mx.add_argument("--out-dir", required=True)
    mx.set_defaults(fn=cmd_mixed)
    st = sub.add_parser("stats")
    st.add_argument("files", nargs="+")
    st.set_defaults(fn=cmd_stats)
    a = p.parse_args()
    a.fn(a)


if __name__ == "__main__":
    main()
