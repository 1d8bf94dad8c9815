#!/usr/bin/env python3
"""Writes controlplane/apiserver/k8s_types_table.inc, skiff's table of the Kubernetes types it serves.

The facts come from a real kubectl binary (kubectl.1.33 on these machines), which carries them in three
forms: the gzipped FileDescriptorProtos of k8s.io/api's generated.proto files (message and field names,
numbers, types, gogoproto's nullable = Go pointer or not), the Go struct tags of the API types (JSON
names, omitempty, inline, patchStrategy, patchMergeKey), and kustomize's copy of the v1.21 OpenAPI
document (x-kubernetes-list-type, x-kubernetes-list-map-keys). List types added to the Go types after
v1.21 are listed below by hand (from k8s.io/api's types.go).

usage: tools/gen/k8s_types.py [KUBECTL] > controlplane/apiserver/k8s_types_table.inc
       tools/gen/k8s_types.py --descriptions [KUBECTL] > controlplane/apiserver/k8s_descriptions.inc
The second form writes the v1.21 document's descriptions and required fields of the same messages, for
the OpenAPI documents skiff serves (kubectl explain); fields added after v1.21 have none.
"""
import array, collections, re, struct, sys, zlib

DESCRIPTIONS = '--descriptions' in sys.argv[1:]
ARGS = [a for a in sys.argv[1:] if a != '--descriptions']
KUBECTL = ARGS[0] if ARGS else '/usr/lib/google-cloud-sdk/bin/kubectl.1.33'

# The kinds skiff serves (controlplane/apiserver/resources.cpp) and the subresource kinds it answers with.
KINDS = [('v1', 'Namespace'), ('v1', 'Pod'), ('v1', 'Binding'), ('v1', 'Service'), ('v1', 'Endpoints'),
         ('v1', 'Node'), ('v1', 'Event'), ('v1', 'ConfigMap'), ('v1', 'Secret'), ('v1', 'ServiceAccount'),
         ('apps/v1', 'Deployment'), ('apps/v1', 'ReplicaSet'), ('autoscaling/v1', 'Scale'),
         ('coordination.k8s.io/v1', 'Lease'), ('discovery.k8s.io/v1', 'EndpointSlice')]
PACKAGES = {'v1': 'k8s.io.api.core.v1', 'apps/v1': 'k8s.io.api.apps.v1', 'autoscaling/v1': 'k8s.io.api.autoscaling.v1',
            'coordination.k8s.io/v1': 'k8s.io.api.coordination.v1', 'discovery.k8s.io/v1': 'k8s.io.api.discovery.v1'}
SHORT = [('k8s.io.api.', ''), ('k8s.io.apimachinery.pkg.apis.meta.', 'meta.')]
# Messages with a JSON form of their own: written as these type names, not as messages.
SPECIAL = {'k8s.io.apimachinery.pkg.apis.meta.v1.Time': 'time', 'k8s.io.apimachinery.pkg.apis.meta.v1.MicroTime': 'microtime',
           'k8s.io.apimachinery.pkg.api.resource.Quantity': 'quantity', 'k8s.io.apimachinery.pkg.util.intstr.IntOrString': 'intorstring',
           'k8s.io.apimachinery.pkg.apis.meta.v1.FieldsV1': 'fieldsv1', 'k8s.io.apimachinery.pkg.apis.meta.v1.Duration': 'duration',
           'k8s.io.apimachinery.pkg.runtime.RawExtension': 'rawextension'}
# +listType/+listMapKey added to the Go types after v1.21 (map and set only; atomic is the default).
LIST_TYPES_SINCE_121 = {
    ('core.v1.PodSpec', 'schedulingGates'): ('map', ['name']),
    ('core.v1.PodSpec', 'resourceClaims'): ('map', ['name']),
    ('core.v1.PodStatus', 'resourceClaimStatuses'): ('map', ['name']),
    ('core.v1.PodStatus', 'hostIPs'): ('atomic', []),
    ('core.v1.ResourceRequirements', 'claims'): ('map', ['name']),
    ('core.v1.ResourceStatus', 'resources'): ('map', ['resourceID']),
    ('core.v1.ContainerStatus', 'allocatedResourcesStatus'): ('map', ['name']),
    ('core.v1.ContainerStatus', 'volumeMounts'): ('map', ['mountPath']),
    ('core.v1.EphemeralContainerCommon', 'ports'): ('map', ['containerPort', 'protocol']),
}
# Where one message's Go struct tags could not be told apart from another version's (same protobuf
# numbers, different omitempty), the k8s.io/api v1.33 answer: field -> omitempty.
OMITEMPTY = {
    'core.v1.HTTPHeader': {'name': False, 'value': False}, 'core.v1.LocalObjectReference': {'name': True},
    'core.v1.PodDNSConfigOption': {'name': True, 'value': True}, 'core.v1.PodOS': {'name': False},
    'core.v1.PodSchedulingGate': {'name': False}, 'core.v1.Sysctl': {'name': False, 'value': False},
    'discovery.v1.ForNode': {'name': False}, 'discovery.v1.ForZone': {'name': False},
    'meta.v1.Condition': {'type': False, 'status': False, 'observedGeneration': True, 'lastTransitionTime': False,
                          'reason': False, 'message': False},
    'apps.v1.ReplicaSetSpec': {'selector': False},
}
# EphemeralContainer's Go struct has an untagged inline member the tag scan does not see.
TAGS = {'core.v1.EphemeralContainer': {'ephemeralContainerCommon': 'json:",inline"',
                                       'targetContainerName': 'json:"targetContainerName,omitempty"'}}


def short(name):
    name = name.lstrip('.')
    for a, b in SHORT:
        if name.startswith(a): return b + name[len(a):]
    return name


# ---- protobuf wire decoding (enough for descriptors) ----
def varint(b, i):
    r = s = 0
    while True:
        c = b[i]; i += 1; r |= (c & 0x7f) << s; s += 7
        if c < 0x80: return r, i


def fields(b):
    i, out = 0, []
    while i < len(b):
        k, i = varint(b, i); f, t = k >> 3, k & 7
        if t == 0: v, i = varint(b, i)
        elif t == 2: n, i = varint(b, i); v = b[i:i + n]; i += n
        elif t == 1: v = b[i:i + 8]; i += 8
        elif t == 5: v = b[i:i + 4]; i += 4
        else: raise ValueError('wire type %d' % t)
        out.append((f, v))
    return out


def get(fs, n): return [v for f, v in fs if f == n]
def one(fs, n, d=None): l = get(fs, n); return l[0] if l else d


data = open(KUBECTL, 'rb').read()

# ---- 1. descriptors ----
TYPES = {1: 'double', 3: 'int64', 5: 'int32', 8: 'bool', 9: 'string', 11: 'message', 12: 'bytes'}
msgs = {}
swagger = None
for m in re.finditer(b'\x1f\x8b\x08', data):
    try: raw = zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(data[m.start():m.start() + 8000000])
    except Exception: continue
    if raw[:1] == b'\x0a' and raw[2:2 + raw[1]].endswith(b'generated.proto'):
        fd = fields(raw); pkg = one(fd, 2, b'').decode()
        def walk(dp, prefix):
            d = fields(dp); name = prefix + '.' + one(d, 1).decode()
            o = one(d, 7)
            fl = []
            for fp in get(d, 2):
                f = fields(fp); o2 = one(f, 8); opts = dict(fields(o2)) if o2 else {}
                fl.append(dict(name=one(f, 1).decode(), num=one(f, 3), rep=one(f, 4) == 3, type=TYPES[one(f, 5)],
                               tname=one(f, 6, b'').decode().lstrip('.'), nullable=opts.get(65001, 1)))
            msgs[name] = dict(fields=fl, mapentry=bool(o and one(fields(o), 7, 0)))
            for nd in get(d, 3): walk(nd, name)
        for mp in get(fd, 4): walk(mp, pkg)
    elif raw.startswith(b'\n\x032.0') and b'x-kubernetes-list-type' in raw:
        swagger = raw

# ---- 2. Go struct tags, grouped by struct (runtime StructField arrays: name, type, offset) ----
phoff = struct.unpack_from('<Q', data, 0x20)[0]
phentsize, phnum = struct.unpack_from('<HH', data, 0x36)
segs = []
for k in range(phnum):
    p_type, _, p_offset, p_vaddr, _, p_filesz = struct.unpack_from('<IIQQQQ', data, phoff + k * phentsize)
    if p_type == 1: segs.append((p_offset, p_vaddr, p_filesz))
def vaddr(off): return next((v + off - o for o, v, s in segs if o <= off < o + s), None)
def fileoff(va): return next((o + va - v for o, v, s in segs if v <= va < v + s), None)


def read_name(off):
    flags = data[off]; n, i = varint(data, off + 1)
    if n > 200: raise ValueError
    name = data[i:i + n]; i += n; tag = b''
    if flags & 2:
        l, i = varint(data, i)
        if l > 2000: raise ValueError
        tag = data[i:i + l]
    return name.decode('latin1'), tag.decode('latin1')


blobs = set()
for m in re.finditer(rb'[\x03\x0b\x0f\x07\x02\x0a]([\x01-\x7f])([A-Za-z_][A-Za-z0-9_]*)', data):
    try: name, tag = read_name(m.start())
    except Exception: continue
    if 'protobuf:"' in tag and len(name) == m.group(1)[0]: blobs.add(vaddr(m.start()))
words = memoryview(data)[:len(data) // 8 * 8].cast('Q')
hits = [i * 8 for i, v in enumerate(words) if v in blobs]


def field_at(o):
    va = struct.unpack_from('<Q', data, o)[0]
    fo = fileoff(va) if va else None
    if fo is None: return None
    try: n, t = read_name(fo)
    except Exception: return None
    return (n, t) if re.fullmatch(r'[A-Za-z_][A-Za-z0-9_]*', n) else None


structs, seen = [], set()
for o in hits:
    if o in seen: continue
    while field_at(o - 24): o -= 24
    fl = []
    while (f := field_at(o)):
        seen.add(o); fl.append(f); o += 24
    structs.append(fl)


def pbtag(tag):
    m = re.search(r'protobuf:"([^"]*)"', tag); return m.group(1).replace(',proto3', '') if m else None


def pbkey(tag):
    p = pbtag(tag)
    if not p: return None
    parts = p.split(','); nm = [x[5:] for x in parts if x.startswith('name=')]
    return (int(parts[1]), nm[0]) if nm and parts[1].isdigit() else None


by_keys = collections.defaultdict(list)
for s in structs: by_keys[frozenset(k for k in (pbkey(t) for _, t in s) if k)].append(s)
WIRE = {'string': 'bytes', 'bytes': 'bytes', 'message': 'bytes', 'int32': 'varint', 'int64': 'varint', 'bool': 'varint', 'double': 'fixed64'}


def tags_for(mname):
    """json tag per proto field name of the Go struct that matches the message best."""
    M = msgs[mname]
    if short(mname) in TAGS: return TAGS[short(mname)]
    cands = by_keys.get(frozenset((f['num'], f['name']) for f in M['fields']), [])
    exp = {f['name']: '%s,%d,%s,name=%s' % (WIRE[f['type']], f['num'], 'rep' if f['rep'] else 'opt', f['name']) for f in M['fields']}
    def score(s): return sum(1 for _, t in s if pbkey(t) and (pbtag(t) + ',').startswith(exp.get(pbkey(t)[1], '#') + ','))
    if not cands: return {}
    best = max(cands, key=score)
    return {pbkey(t)[1]: t for _, t in best if pbkey(t)}


# ---- 3. list types from the v1.21 OpenAPI document (gnostic OpenAPIv2 protobuf) ----
list_types = {}
for _, ns in fields(one(fields(swagger), 9)):
    nsf = fields(ns); dname = one(nsf, 1).decode(); props = one(fields(one(nsf, 2)), 25)
    if props is None: continue
    for _, p in fields(props):
        pf = fields(p); ext = {}
        for ve in get(fields(one(pf, 2)), 31):
            vf = fields(ve); ext[one(vf, 1).decode()] = one(fields(one(vf, 2)), 2, b'').decode().strip()
        if 'x-kubernetes-list-type' in ext:
            keys = [k.strip('- ') for k in ext.get('x-kubernetes-list-map-keys', '').splitlines() if k.strip()]
            list_types[(short('k8s.io.' + dname[len('io.k8s.'):]).replace('apimachinery.pkg.apis.meta.', 'meta.'), one(pf, 1).decode())] = (ext['x-kubernetes-list-type'], keys)
for (m, f), v in list(list_types.items()):
    if m == 'core.v1.EphemeralContainer': list_types[('core.v1.EphemeralContainerCommon', f)] = v
list_types.update(LIST_TYPES_SINCE_121)

# ---- 4. the reachable messages, written out ----
roots = [(gv, kind, PACKAGES[gv] + '.' + kind) for gv, kind in KINDS]
order, todo = [], [r[2] for r in roots]
while todo:
    m = todo.pop(0)
    if m in order or m in SPECIAL: continue
    order.append(m)
    for f in msgs[m]['fields']:
        if f['type'] == 'message':
            t = f['tname']
            if msgs[t]['mapentry']: t = msgs[t]['fields'][1]['tname']
            if t: todo.append(t)


def type_of(f):
    if f['type'] != 'message': return f['type']
    t = f['tname']
    if msgs[t]['mapentry']:
        k, v = msgs[t]['fields']
        assert k['type'] == 'string', t
        return 'map[string]' + type_of(v)
    return SPECIAL.get(t) or short(t)


def escape(b): return b.decode().replace('\\', '\\\\').replace('\n', '\\n')


if DESCRIPTIONS:
    # gnostic's OpenAPIv2 Schema: 4 description, 19 required, 25 properties (NamedSchema: 1 name, 2 schema).
    wanted = {short(m) for m in order}
    out = ['# message <name>, then "= <its description>", "required <a,b>" and "  <field> <description>"',
           '# (newlines in descriptions written as \\n, backslashes as \\\\)']
    for _, ns in fields(one(fields(swagger), 9)):
        nsf = fields(ns); dname = one(nsf, 1).decode()
        sm = short('k8s.io.' + dname[len('io.k8s.'):]).replace('apimachinery.pkg.apis.meta.', 'meta.')
        if sm not in wanted: continue
        sch = fields(one(nsf, 2))
        out.append('message ' + sm)
        if one(sch, 4): out.append('= ' + escape(one(sch, 4)))
        req = [r.decode() for r in get(sch, 19)]
        if req: out.append('required ' + ','.join(req))
        props = one(sch, 25)
        for _, p in fields(props) if props else []:
            pf = fields(p); d = one(fields(one(pf, 2)), 4)
            if d: out.append('  %s %s' % (one(pf, 1).decode(), escape(d)))
    print('// Generated by tools/gen/k8s_types.py --descriptions from kubectl v1.33 (its copy of the v1.21')
    print('// OpenAPI document): do not edit by hand.')
    print('R"K8SDESC(')
    print('\n'.join(out))
    print(')K8SDESC"')
    sys.exit(0)

out = ['# kind <apiVersion> <Kind> <message>']
out += ['kind %s %s %s' % (gv, kind, short(m)) for gv, kind, m in roots]
out += ['# message <name>, then one line per field: <json name or - for inline> <number> <type> [flags]',
        '# types: string bool int32 int64 double bytes time microtime quantity intorstring fieldsv1 duration',
        '#        rawextension <message> []<type> map[string]<type>',
        '# flags: ptr (a Go pointer: zero values are kept) omitempty patch=<strategy> key=<patchMergeKey>',
        '#        list=<atomic|set|map> keys=<a,b> (x-kubernetes-list-type and -list-map-keys)']
count = 0
for m in order:
    sm = short(m); tags = tags_for(m); out.append('message ' + sm)
    for f in msgs[m]['fields']:
        tag = tags.get(f['name'], '')
        j = re.search(r'json:"([^"]*)"', tag)
        jname, *jopts = (j.group(1) if j else f['name']).split(',')
        if not j and tag == '': print('no tag for %s.%s' % (sm, f['name']), file=sys.stderr)
        t = type_of(f)
        if f['rep'] and not t.startswith('map['): t = '[]' + t
        flags = []
        if f['nullable'] and f['type'] != 'message' and not f['rep']: flags.append('ptr')
        if f['nullable'] and f['type'] == 'message' and not f['rep'] and not t.startswith('map['): flags.append('ptr')
        omit = OMITEMPTY.get(sm, {}).get(f['name'], 'omitempty' in jopts)
        if omit: flags.append('omitempty')
        ps = re.search(r'patchStrategy:"([^"]*)"', tag); pk = re.search(r'patchMergeKey:"([^"]*)"', tag)
        if ps: flags.append('patch=' + ps.group(1))
        if pk: flags.append('key=' + pk.group(1))
        lt = list_types.get((sm, jname or f['name']))
        if lt and lt[0] != 'atomic': flags.append('list=' + lt[0])
        if lt and lt[1]: flags.append('keys=' + ','.join(lt[1]))
        if lt and lt[0] == 'atomic' and ps and 'merge' in ps.group(1): flags.append('list=atomic')
        out.append('  %s %d %s%s' % (jname or '-', f['num'], t, ''.join(' ' + x for x in flags)))
        count += 1
print('%d messages, %d fields' % (len(order), count), file=sys.stderr)
print('// Generated by tools/gen/k8s_types.py from kubectl v1.33\'s API types: do not edit by hand.')
print('R"K8STYPES(')
print('\n'.join(out))
print(')K8STYPES"')
