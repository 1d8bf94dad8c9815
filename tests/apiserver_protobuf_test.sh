# Tests protobuf request bodies through `skiff server` with the real kubectl: kubectl 1.33's typed clients
# send `create namespace|deployment|service|configmap|secret|serviceaccount` as
# application/vnd.kubernetes.protobuf, kubectl 1.27 sends JSON; both must store the same objects, and a
# broken protobuf body gets a 400 naming what is wrong.
source "$(dirname "$0")/lib.sh"

source "$(dirname "$0")/apiserver_lib.sh"
KUBECTL_DIR=/usr/lib/google-cloud-sdk/bin
for v in 1.27 1.33; do
    [[ -x $KUBECTL_DIR/kubectl.$v ]] || die "$KUBECTL_DIR/kubectl.$v not found (tools/setup installs google-cloud-cli's kubectl)"
done
start_server
kv() { local v=$1; shift; timeout 30 "$KUBECTL_DIR/kubectl.$v" --server "$URL" --cache-dir "$TMP/cache-$v" "$@"; }

# The fields the server fills in, which differ between any two objects (addresses are allocated).
SERVER_FIELDS='del(.metadata.uid, .metadata.namespace, .metadata.creationTimestamp, .metadata.resourceVersion,
    .spec.clusterIP, .spec.clusterIPs, .spec.ports[]?.nodePort)'

create_all() { # VERSION NAMESPACE NODE-PORT
    local v=$1 ns=$2 node_port=$3
    capture kv "$v" create namespace "$ns"
    assert_rc "$v: create namespace" 0
    capture kv "$v" -n "$ns" create deployment web --image=busybox --replicas=2 --port=8080 -- sleep 1000
    assert_rc "$v: create deployment" 0
    assert_eq "$v: create deployment says so" "deployment.apps/web created" "$OUT"
    capture kv "$v" -n "$ns" create service clusterip web --tcp=80:8080
    assert_rc "$v: create service clusterip" 0
    capture kv "$v" -n "$ns" create service nodeport np --tcp=80:8080 --node-port=$node_port
    assert_rc "$v: create service nodeport" 0
    capture kv "$v" -n "$ns" create configmap c --from-literal=a=b
    assert_rc "$v: create configmap" 0
    capture kv "$v" -n "$ns" create secret generic s --from-literal=k=v
    assert_rc "$v: create secret" 0
    assert_eq "$v: create secret says so" "secret/s created" "$OUT"
    capture kv "$v" -n "$ns" create serviceaccount sa
    assert_rc "$v: create serviceaccount" 0
}

check_stored() { # VERSION NAMESPACE NODE-PORT
    local v=$1 ns=$2 node_port=$3
    capture kv "$v" get namespace "$ns" -o json
    assert_eq "$v: namespace stored" "$ns Namespace" "$(jq -r '"\(.metadata.name) \(.kind)"' <<<"$OUT")"
    capture kv "$v" -n "$ns" get deployment web -o json
    assert_eq "$v: deployment replicas, image, command, port" '2 busybox ["sleep","1000"] 8080' \
        "$(jq -c -j '.spec.replicas, " ", .spec.template.spec.containers[0].image, " ", .spec.template.spec.containers[0].command, " ", .spec.template.spec.containers[0].ports[0].containerPort' <<<"$OUT")"
    assert_eq "$v: deployment selector and template labels" '{"app":"web"} {"app":"web"}' \
        "$(jq -c -j '.spec.selector.matchLabels, " ", .spec.template.metadata.labels' <<<"$OUT")"
    assert_eq "$v: no empty strings kept from protobuf's zero values" "" \
        "$(jq -c '[paths(. == "")] | map(join(".")) | join(" ")' -r <<<"$OUT")"
    capture kv "$v" -n "$ns" get service web -o json
    assert_eq "$v: clusterip service" 'ClusterIP {"app":"web"} [{"name":"80-8080","port":80,"protocol":"TCP","targetPort":8080}]' \
        "$(jq -c -j '.spec.type, " ", .spec.selector, " ", .spec.ports' <<<"$OUT")"
    capture kv "$v" -n "$ns" get service np -o json
    # No validation or allocation yet: the nodePort is stored as asked.
    assert_eq "$v: nodeport service" "NodePort $node_port 8080" \
        "$(jq -c -j '.spec.type, " ", .spec.ports[0].nodePort, " ", .spec.ports[0].targetPort' <<<"$OUT")"
    capture kv "$v" -n "$ns" get configmap c -o json
    assert_eq "$v: configmap data" '{"a":"b"}' "$(jq -c .data <<<"$OUT")"
    capture kv "$v" -n "$ns" get secret s -o json
    assert_eq "$v: secret data is base64 of v" 'dg==' "$(jq -r .data.k <<<"$OUT")"
    assert_eq "$v: secret data decodes to v" v "$(jq -r .data.k <<<"$OUT" | base64 -d)"
    capture kv "$v" -n "$ns" get serviceaccount sa -o json
    assert_eq "$v: serviceaccount" 'sa ServiceAccount' "$(jq -r '"\(.metadata.name) \(.kind)"' <<<"$OUT")"
}

# kubectl 1.33 really sends protobuf (else this test would prove nothing), 1.27 JSON.
capture kv 1.33 create configmap probe --from-literal=x=y -v=8
assert_match "1.33 sends protobuf" 'Content-Type: application/vnd.kubernetes.protobuf' "$ERR"
capture kv 1.27 create configmap probe27 --from-literal=x=y -v=8
assert_match "1.27 sends JSON" 'Content-Type: application/json' "$ERR"

create_all 1.27 json-made 30080
create_all 1.33 proto-made 30081
check_stored 1.27 json-made 30080
check_stored 1.33 proto-made 30081

# The same commands store the same objects whichever encoding carried them.
for obj in deployment/web service/web service/np configmap/c secret/s serviceaccount/sa; do
    a=$(kv 1.33 -n json-made get "$obj" -o json | jq -S "$SERVER_FIELDS")
    b=$(kv 1.33 -n proto-made get "$obj" -o json | jq -S "$SERVER_FIELDS")
    assert_eq "$obj: same object from JSON (1.27) and protobuf (1.33)" "$a" "$b"
done

# Broken bodies: a 400 that says what is wrong, never a crash.
post_proto() { # PATH FILE -> RC, OUT
    RC=$(curl -s -o "$TMP/post.out" -w '%{http_code}' -X POST -H 'Content-Type: application/vnd.kubernetes.protobuf' \
        --data-binary "@$2" "$URL$1")
    OUT=$(<"$TMP/post.out")
}
printf 'k8s\0\x0a\x0a\x0a\x02v1\x12\x04Nope\x12\x00' >"$TMP/unknown-kind.bin"
post_proto /api/v1/namespaces/default/configmaps "$TMP/unknown-kind.bin"
assert_eq "unknown kind: 400" 400 "$RC"
assert_contains "unknown kind: says so" "$(jq -r .message <<<"$OUT")" "kind Nope of v1 is not known"
head -c 60 "$SKIFF_SOURCE/tests/fuzz/protobuf/kubectl133-02-deployments.bin" >"$TMP/truncated.bin"
post_proto /apis/apps/v1/namespaces/default/deployments "$TMP/truncated.bin"
assert_eq "truncated body: 400" 400 "$RC"
assert_contains "truncated body: names the envelope" "$(jq -r .message <<<"$OUT")" "runtime.Unknown"
# A protobuf Deployment posted to configmaps is refused as the JSON one would be.
post_proto /api/v1/namespaces/default/configmaps "$SKIFF_SOURCE/tests/fuzz/protobuf/kubectl133-02-deployments.bin"
assert_eq "deployment body to configmaps: 400" 400 "$RC"
assert_contains "deployment body to configmaps: the kind" "$(jq -r .message <<<"$OUT")" '"Deployment" is not ConfigMap'
capture kv 1.33 get ns -o name
assert_contains "server still answers" "$OUT" "namespace/proto-made"

stop_server
