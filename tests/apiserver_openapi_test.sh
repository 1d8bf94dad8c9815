# Tests the OpenAPI v3 documents of `skiff server` with the real kubectl (1.27, 1.30, 1.33): the index and
# per-group documents, `kubectl explain` (fields, types, descriptions, errors), and that create/apply
# read them and still leave validation to the server and merge containers by name.
source "$(dirname "$0")/lib.sh"

source "$(dirname "$0")/apiserver_lib.sh"
KUBECTL_DIR=/usr/lib/google-cloud-sdk/bin
VERSIONS=(1.27 1.30 1.33)
for v in "${VERSIONS[@]}"; do
    [[ -x $KUBECTL_DIR/kubectl.$v ]] || die "$KUBECTL_DIR/kubectl.$v not found (tools/setup installs google-cloud-cli's kubectl)"
done
start_server
kv() { local v=$1; shift; timeout 30 "$KUBECTL_DIR/kubectl.$v" --server "$URL" --cache-dir "$TMP/cache-$v" "$@"; }

# --- the documents
api GET /openapi/v3
assert_eq "/openapi/v3 answers" 200 "$RC"
assert_eq "it lists the served group-versions" \
    "api/v1 apis/apps/v1 apis/coordination.k8s.io/v1 apis/discovery.k8s.io/v1" \
    "$(jq -r '.paths | keys | join(" ")' <<<"$OUT")"
apps_url=$(jq -r '.paths["apis/apps/v1"].serverRelativeURL' <<<"$OUT")
assert_match "each by a hash" '^/openapi/v3/apis/apps/v1\?hash=[0-9A-F]{64}$' "$apps_url"
headers=$(curl -s -D - -o "$TMP/apps.json" "$URL$apps_url")
assert_contains "the hashed URL may be cached for good" "$headers" "Cache-Control: public, immutable"
assert_eq "its schema names the Deployment kind" '[{"group":"apps","kind":"Deployment","version":"v1"}]' \
    "$(jq -c '.components.schemas["io.k8s.api.apps.v1.Deployment"]["x-kubernetes-group-version-kind"]' "$TMP/apps.json")"
assert_eq "containers merge by name" "name merge" \
    "$(jq -r '.components.schemas["io.k8s.api.core.v1.PodSpec"].properties.containers | ."x-kubernetes-patch-merge-key" + " " + ."x-kubernetes-patch-strategy"' "$TMP/apps.json")"
headers=$(curl -s -D - -o /dev/null "$URL/openapi/v3/apis/apps/v1")
assert_contains "without the hash it must be revalidated" "$headers" "Cache-Control: no-cache, private"
api GET /openapi/v3/apis/batch/v1
assert_eq "a group-version that isn't served is 404" 404 "$RC"

# --- kubectl explain
for v in "${VERSIONS[@]}"; do
    capture kv "$v" explain deployment.spec.replicas
    assert_rc "$v: explain deployment.spec.replicas" 0
    assert_contains "$v: names the kind" "$OUT" "KIND:       Deployment"
    assert_match "$v: the field and its type" 'FIELD: *replicas <integer>' "$OUT"
    assert_contains "$v: its description" "$OUT" "Number of desired pods"

    capture kv "$v" explain pods.spec.containers.ports
    assert_rc "$v: explain pods.spec.containers.ports" 0
    assert_match "$v: a list of objects" 'FIELD: *ports <\[\]ContainerPort>' "$OUT"
    assert_match "$v: required fields are marked" 'containerPort[[:space:]]+<integer> -required-' "$OUT"

    capture kv "$v" explain svc
    assert_rc "$v: explain svc (a short name)" 0
    assert_contains "$v: the top-level description" "$OUT" "Service is a named abstraction of software service"
    assert_match "$v: top-level fields" 'spec[[:space:]]+<ServiceSpec>' "$OUT"

    capture kv "$v" explain lease.spec.holderIdentity
    assert_rc "$v: explain a coordination.k8s.io field" 0
    assert_match "$v: its type" 'holderIdentity <string>' "$OUT"

    capture kv "$v" explain pods.spec.nope
    assert_rc "$v: explain of a field that doesn't exist fails" 1
    assert_contains "$v: and says which" "$OUT$ERR" 'field "nope" does not exist'
done

# --- create and apply read the documents and leave validation to the server
cat >"$TMP/bad.yaml" <<'EOF'
apiVersion: v1
kind: ConfigMap
metadata: {name: bad}
data: {a: b}
colour: blue
EOF
cat >"$TMP/d1.yaml" <<'EOF'
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - {name: web, image: "busybox:1.35", env: [{name: A, value: "1"}]}
      - {name: side, image: "busybox:1.35"}
EOF
sed 's/busybox:1.35", env/busybox:1.36", env/' "$TMP/d1.yaml" >"$TMP/d2.yaml"
for v in "${VERSIONS[@]}"; do
    capture kv "$v" create -f "$TMP/bad.yaml" -v=6
    assert_rc "$v: create of an unknown field fails" 1
    assert_contains "$v: the server's strict decoding error" "$ERR" 'strict decoding error: unknown field "colour"'
    assert_contains "$v: kubectl read the OpenAPI v3 index" "$ERR" "$URL/openapi/v3?"
    assert_match "$v: and asked the server to validate" '/configmaps\?fieldManager=kubectl-create&fieldValidation=Strict' "$ERR"

    capture kv "$v" apply -f "$TMP/d1.yaml"
    assert_rc "$v: first apply" 0
    capture kv "$v" apply -f "$TMP/d2.yaml" -v=8
    assert_rc "$v: apply of a changed image" 0
    assert_contains "$v: kubectl read the apps/v1 document to build the patch" "$ERR" "$URL/openapi/v3/apis/apps/v1?hash="
    assert_match "$v: a patch that merges containers by name" 'setElementOrder/containers[\\"]*:\[\{[\\"]*name[\\"]*:[\\"]*web' "$ERR"
    capture kv "$v" get deploy web -o jsonpath='{range .spec.template.spec.containers[*]}{.name}={.image}/{.env[0].value} {end}'
    assert_eq "$v: one image changed, the rest kept" "web=busybox:1.36/1 side=busybox:1.35/ " "$OUT"
    capture kv "$v" delete deploy web
    assert_rc "$v: delete" 0
done
ok "OpenAPI v3 documents, kubectl explain and create/apply with ${VERSIONS[*]}"
