# Tests patches and apply through `skiff server` with the real kubectl: client-side apply (first apply,
# re-apply with a change, a removed field, "unchanged"), strategic merge patches that merge lists by their
# keys (kubectl set image on one of two containers, kubectl edit), server-side apply with its conflicts and
# --force-conflicts, and fieldValidation (Strict refuses unknown fields, Warn warns).
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/apiserver_lib.sh"
start_server

cat >"$TMP/v1.yaml" <<'YAML'
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, labels: {app: web, tier: front}}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - {name: web, image: "busybox:1.35", env: [{name: A, value: "1"}]}
      - {name: side, image: "busybox:1.35"}
YAML
# v2: a new image for one container, the tier label removed.
sed -e 's/busybox:1.35", env/busybox:1.36", env/' -e 's/, tier: front//' "$TMP/v1.yaml" >"$TMP/v2.yaml"
containers() { k get deployment web -o json | jq -c '[.spec.template.spec.containers[] | "\(.name)=\(.image)"]'; }

capture k apply -f "$TMP/v1.yaml"
assert_eq "first apply" "deployment.apps/web created" "$OUT"
capture k apply -f "$TMP/v2.yaml"
assert_eq "re-apply with a change" "deployment.apps/web configured" "$OUT"
assert_eq "one container's image changed, the other kept" '["web=busybox:1.36","side=busybox:1.35"]' "$(containers)"
capture k get deployment web -o json
assert_eq "the removed label is gone" '{"app":"web"}' "$(jq -c .metadata.labels <<<"$OUT")"
assert_eq "env of the changed container kept" '[{"name":"A","value":"1"}]' "$(jq -c '.spec.template.spec.containers[0].env' <<<"$OUT")"
capture k apply -f "$TMP/v2.yaml"
assert_eq "apply again: unchanged" "deployment.apps/web unchanged" "$OUT"

capture k set image deployment/web side=busybox:1.37
assert_rc "kubectl set image (strategic merge patch by container name)" 0
assert_eq "only that container changed" '["web=busybox:1.36","side=busybox:1.37"]' "$(containers)"
capture env KUBE_EDITOR="sed -i s/replicas:\ 2/replicas:\ 3/" kubectl --server "$URL" --cache-dir "$TMP/cache" edit deployment web
assert_eq "kubectl edit" "deployment.apps/web edited" "$OUT"
capture k get deployment web -o jsonpath='{.spec.replicas}'
assert_eq "edit wrote the replicas" "3" "$OUT"

# A pod: its spec may change only in the image, which a strategic merge patch keeps to that one field.
cat >"$TMP/pod.yaml" <<'YAML'
apiVersion: v1
kind: Pod
metadata: {name: p}
spec:
  containers:
  - {name: a, image: "busybox:1.35", ports: [{containerPort: 80}]}
  - {name: b, image: "busybox:1.35"}
YAML
k apply -f "$TMP/pod.yaml" >/dev/null
sed 's/name: b, image: "busybox:1.35"/name: b, image: "busybox:1.36"/' "$TMP/pod.yaml" >"$TMP/pod2.yaml"
capture k apply -f "$TMP/pod2.yaml"
assert_eq "apply a pod's new image" "pod/p configured" "$OUT"
capture k get pod p -o jsonpath='{.spec.containers[1].image} {.spec.containers[0].ports[0].containerPort}'
assert_eq "the image changed, the ports kept" "busybox:1.36 80" "$OUT"

# Server-side apply: fields another manager set conflict until --force-conflicts.
sed 's/replicas: 2/replicas: 4/' "$TMP/v2.yaml" >"$TMP/ssa.yaml"
capture k apply --server-side -f "$TMP/ssa.yaml"
assert_rc "server-side apply over others' fields: refused" 1
assert_match "the conflict names the field" 'conflicts? with .* using apps/v1' "$ERR"
assert_contains "...spec.replicas" "$ERR" ".spec.replicas"
capture k apply --server-side --force-conflicts -f "$TMP/ssa.yaml"
assert_eq "--force-conflicts" "deployment.apps/web serverside-applied" "$OUT"
capture k get deployment web -o json --show-managed-fields
assert_eq "replicas applied, kubectl's Apply entry owns them" "4 true" \
    "$(jq -r '"\(.spec.replicas) \(.metadata.managedFields[] | select(.manager=="kubectl" and .operation=="Apply") | .fieldsV1["f:spec"] | has("f:replicas"))"' <<<"$OUT")"
# Once server-side apply manages the object, other writers' fields are recorded too: a scale takes the
# replicas, and the next apply conflicts with it.
capture k scale deployment web --replicas=6
assert_rc "kubectl scale after the apply" 0
capture k apply --server-side -f "$TMP/ssa.yaml"
assert_rc "apply after the scale: a conflict" 1
assert_match "...with the scaling manager over .spec.replicas" 'conflict with "kubectl[^"]*".*' "$ERR"
assert_contains "...the field" "$ERR" ".spec.replicas"
capture k apply --server-side --force-conflicts -f "$TMP/ssa.yaml"
assert_rc "forced back" 0
sed 's/name: web, labels/name: fresh, labels/' "$TMP/ssa.yaml" >"$TMP/fresh.yaml"
capture k apply --server-side -f "$TMP/fresh.yaml"
assert_eq "server-side apply creates" "deployment.apps/fresh serverside-applied" "$OUT"
capture k apply --server-side -f "$TMP/fresh.yaml"
assert_rc "and applies again without conflict" 0
api PATCH '/apis/apps/v1/namespaces/default/deployments/fresh' '{"apiVersion":"apps/v1","kind":"Deployment"}' application/apply-patch+yaml
assert_eq "apply without fieldManager: 400" 400 "$RC"

# fieldValidation: kubectl's default (Strict) refuses an unknown field; --validate=warn stores with a warning.
sed 's/replicas: 2/replicas: 2\n  bogus: 1/; s/name: web, labels/name: strict, labels/' "$TMP/v2.yaml" >"$TMP/bogus.yaml"
capture k create -f "$TMP/bogus.yaml"
assert_rc "unknown field, Strict: refused" 1
assert_contains "Kubernetes' strict decoding error" "$ERR" 'strict decoding error: unknown field "spec.bogus"'
capture k create -f "$TMP/bogus.yaml" --validate=warn
assert_rc "unknown field, Warn: stored" 0
assert_contains "...with kubectl's warning" "$ERR" 'Warning: unknown field "spec.bogus"'

stop_server
