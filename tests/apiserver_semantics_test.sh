# Tests Kubernetes' object semantics in `skiff server` with the real kubectl and curl: the scale, status,
# binding and log subresources (kubectl scale, rollout status, patch --subresource=status, logs), annotate,
# replace, describe, deletion (finalizers and deletionTimestamp, graceful pod deletion, preconditions,
# propagation, namespaces that delete their content, DELETE on a collection), dryRun, and service cluster
# IPs and node ports (allocated, unique, released).
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/apiserver_lib.sh"
start_server

cat >"$TMP/web.yaml" <<'YAML'
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, labels: {app: web}}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: web, image: busybox, command: [httpd, -f]}]
YAML
DEP=/apis/apps/v1/namespaces/default/deployments
PODS=/api/v1/namespaces/default/pods
pod() { # pod NAME [EXTRA METADATA JSON]: a Pod body
    echo "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"$1\"${2:+,$2}},\"spec\":{\"containers\":[{\"name\":\"c\",\"image\":\"busybox\"}]}}"
}

# --- scale, annotate, replace, describe
capture k create -f "$TMP/web.yaml"
assert_rc "create deployment" 0
capture k scale deployment web --replicas=5
assert_eq "kubectl scale" "deployment.apps/web scaled" "$OUT"
api GET $DEP/web/scale
assert_eq "Scale object" "Scale autoscaling/v1 5 app=web" "$(jq -r '"\(.kind) \(.apiVersion) \(.spec.replicas) \(.status.selector)"' <<<"$OUT")"
api GET $DEP/web
assert_eq "scale wrote spec.replicas and bumped the generation" "5 2" "$(jq -r '"\(.spec.replicas) \(.metadata.generation)"' <<<"$OUT")"
api PUT $DEP/web/scale '{"kind":"Scale","apiVersion":"autoscaling/v1","metadata":{"name":"web","resourceVersion":"1"},"spec":{"replicas":1}}'
assert_eq "scale with a stale resourceVersion: 409" "409 Conflict" "$RC $(jq -r .reason <<<"$OUT")"
capture k annotate deployment web team=blue
assert_rc "kubectl annotate" 0
capture k get deployment web -o jsonpath='{.metadata.annotations.team}'
assert_eq "annotation stored" "blue" "$OUT"
k get deployment web -o json | jq '.spec.template.spec.containers[0].image = "busybox:1.36"' >"$TMP/replace.json"
capture k replace -f "$TMP/replace.json"
assert_eq "kubectl replace" "deployment.apps/web replaced" "$OUT"
capture k get deployment web -o jsonpath='{.spec.template.spec.containers[0].image} {.metadata.generation}'
assert_eq "replace: new image, next generation" "busybox:1.36 3" "$OUT"
capture k describe deployment web
assert_match "describe deployment" "^Replicas: +5 desired" "$OUT"

# --- status: only through the subresource; the main resource leaves it alone and the reverse
capture k patch deployment web --type=merge -p '{"status":{"replicas":9}}'
capture k get deployment web -o jsonpath='{.status.replicas}'
assert_eq "a main-resource patch doesn't write status" "" "$OUT"
capture k patch deployment web --subresource=status --type=merge -p '{"spec":{"replicas":7},"status":{"replicas":4}}'
assert_rc "patch --subresource=status" 0
capture k get deployment web -o jsonpath='{.spec.replicas} {.status.replicas} {.metadata.generation}'
assert_eq "a status patch writes only the status" "5 4 3" "$OUT"

# --- rollout status: waits on a watch until the status says the rollout is done
k rollout status deployment web --timeout=20s >"$TMP/rollout.out" 2>&1 &
ROLLOUT=$!
sleep 1
kill -0 $ROLLOUT 2>/dev/null && ok "rollout status waits while the status is behind" || fail "rollout status ended early: $(cat "$TMP/rollout.out")"
k patch deployment web --subresource=status --type=merge \
    -p '{"status":{"observedGeneration":3,"replicas":5,"updatedReplicas":5,"readyReplicas":5,"availableReplicas":5}}' >/dev/null
wait $ROLLOUT && ok "rollout status succeeded" || fail "rollout status failed: $(cat "$TMP/rollout.out")"
assert_contains "rollout status output" "$(cat "$TMP/rollout.out")" 'deployment "web" successfully rolled out'
capture k get deployment web
assert_match "READY column from the status" "^web +5/5 +5 +5 " "$(tail -n1 <<<"$OUT")"

# --- binding and logs
api POST $PODS "$(pod p1)"
assert_eq "create pod" 201 "$RC"
capture k logs p1
assert_match "logs of an unscheduled pod: a clear error" "does not have a host assigned" "$ERR"
api POST $PODS/p1/binding '{"apiVersion":"v1","kind":"Binding","metadata":{"name":"p1"},"target":{"kind":"Node","name":"n1"}}'
assert_eq "binding: 201 Success" "201 Success" "$RC $(jq -r .status <<<"$OUT")"
capture k get pod p1 -o jsonpath='{.spec.nodeName}'
assert_eq "binding set the node" "n1" "$OUT"
api POST $PODS/p1/binding '{"apiVersion":"v1","kind":"Binding","metadata":{"name":"p1"},"target":{"kind":"Node","name":"n2"}}'
assert_eq "binding again: 409" 409 "$RC"
assert_contains "binding again: names the node" "$OUT" 'already assigned to node \"n1\"'
capture k logs p1
assert_match "logs before any node agent: a clear error" "no skiff agent serves" "$ERR"
capture k describe pod p1
assert_match "describe pod" "^Node: +n1" "$OUT"

# --- deletion: finalizers, graceful pods, preconditions
api POST $PODS "$(pod held '"finalizers":["example.com/hold"]')"
capture k delete pod held --wait=false
assert_rc "delete a pod with a finalizer" 0
capture k get pod held -o json
assert_eq "held: deletionTimestamp set, still there" "true example.com/hold" \
    "$(jq -r '"\(.metadata.deletionTimestamp != null) \(.metadata.finalizers[0])"' <<<"$OUT")"
api PATCH $PODS/held '{"metadata":{"finalizers":["example.com/hold","example.com/more"]}}' application/merge-patch+json
assert_eq "no new finalizers while deleting: 422" "422 metadata.finalizers" "$RC $(jq -r '.details.causes[0].field' <<<"$OUT")"
api PATCH $PODS/held '{"metadata":{"finalizers":null}}' application/merge-patch+json
assert_eq "removing the last finalizer" 200 "$RC"
api GET $PODS/held
assert_eq "...deletes the object" 404 "$RC"

api POST /api/v1/nodes '{"apiVersion":"v1","kind":"Node","metadata":{"name":"n1"}}'
assert_eq "create node n1" 201 "$RC"
capture k describe node n1
assert_match "describe node" "^Name: +n1" "$OUT"
capture k delete pod p1 --wait=false
capture k get pod p1 -o json
assert_eq "a pod on a node: graceful deletion (grace 30)" "30" "$(jq -r .metadata.deletionGracePeriodSeconds <<<"$OUT")"
capture k get pod p1
assert_match "STATUS Terminating" "^p1 .* Terminating " "$(tail -n1 <<<"$OUT")"
capture k delete pod p1 --grace-period=0 --force
assert_rc "force delete" 0
api GET $PODS/p1
assert_eq "force delete removes it" 404 "$RC"
api POST $PODS "$(pod p2)"
UID2=$(jq -r .metadata.uid <<<"$OUT")
api DELETE $PODS/p2 '{"kind":"DeleteOptions","apiVersion":"v1","preconditions":{"uid":"not-the-uid"}}'
assert_eq "uid precondition mismatch: 409" 409 "$RC"
api DELETE $PODS/p2 "{\"kind\":\"DeleteOptions\",\"apiVersion\":\"v1\",\"preconditions\":{\"uid\":\"$UID2\"}}"
assert_eq "uid precondition met: deleted" 200 "$RC"
api DELETE $PODS/p2 '{"propagationPolicy":"Sideways"}'
assert_eq "bad propagationPolicy: 400" 400 "$RC"
api POST $PODS "$(pod fg)"
api DELETE $PODS/fg '{"propagationPolicy":"Foreground"}'
assert_eq "Foreground: the foregroundDeletion finalizer holds it" "200 foregroundDeletion" "$RC $(jq -r '.metadata.finalizers[0]' <<<"$OUT")"

# --- dryRun and DELETE on a collection
echo '{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"dry"}}' >"$TMP/dry.json"
capture k create -f "$TMP/dry.json" --dry-run=server -o name
assert_eq "create --dry-run=server answers" "configmap/dry" "$OUT"
api GET /api/v1/namespaces/default/configmaps/dry
assert_eq "...and stores nothing" 404 "$RC"
for n in c1 c2 c3; do api POST /api/v1/namespaces/default/configmaps "{\"metadata\":{\"name\":\"$n\",\"labels\":{\"batch\":\"$([[ $n == c3 ]] && echo no || echo yes)\"}}}"; done
api DELETE '/api/v1/namespaces/default/configmaps?labelSelector=batch%3Dyes'
assert_eq "DELETE collection with a selector" "200 c1 c2" "$RC $(jq -r '[.items[].metadata.name] | join(" ")' <<<"$OUT")"
capture k get cm -o name
assert_eq "what is left" "configmap/c3" "$OUT"

# --- namespaces delete their content; a held object keeps the namespace Terminating
api POST /api/v1/namespaces '{"metadata":{"name":"scratch"}}'
k -n scratch create -f "$TMP/web.yaml" >/dev/null
api POST /api/v1/namespaces/scratch/configmaps '{"metadata":{"name":"held","finalizers":["example.com/hold"]}}'
api POST /api/v1/namespaces/scratch/services '{"metadata":{"name":"s"},"spec":{"ports":[{"port":80}]}}'
SCRATCH_IP=$(jq -r .spec.clusterIP <<<"$OUT")
capture k delete namespace scratch --wait=false
assert_rc "delete namespace" 0
capture k get ns scratch -o jsonpath='{.status.phase}'
assert_eq "namespace Terminating while an object is held" "Terminating" "$OUT"
capture k -n scratch get deploy,svc -o name
assert_eq "its other content is gone" "" "$OUT"
api POST /api/v1/namespaces/scratch/configmaps '{"metadata":{"name":"late"}}'
assert_eq "no new content in a terminating namespace: 403" 403 "$RC"
api PATCH /api/v1/namespaces/scratch/configmaps/held '{"metadata":{"finalizers":null}}' application/merge-patch+json
api GET /api/v1/namespaces/scratch
assert_eq "the last object gone: the namespace goes" 404 "$RC"

# --- service addresses
capture k get svc kubernetes -o jsonpath='{.spec.clusterIP} {.spec.ports[0].port}'
assert_eq "the kubernetes service" "10.96.0.1 443" "$OUT"
api POST /api/v1/namespaces/default/services '{"metadata":{"name":"a"},"spec":{"ports":[{"port":80}]}}'
IP_A=$(jq -r .spec.clusterIP <<<"$OUT")
assert_match "cluster IP from 10.96.0.0/12" '^10\.(9[6-9]|10[0-9]|11[01])\.[0-9]+\.[0-9]+$' "$IP_A"
api POST /api/v1/namespaces/default/services "{\"metadata\":{\"name\":\"b\"},\"spec\":{\"clusterIP\":\"$IP_A\",\"ports\":[{\"port\":80}]}}"
assert_eq "a taken cluster IP: 422" "422" "$RC"
assert_contains "...says so" "$OUT" "provided IP is already allocated"
api POST /api/v1/namespaces/default/services "{\"metadata\":{\"name\":\"b\"},\"spec\":{\"clusterIP\":\"$SCRATCH_IP\",\"ports\":[{\"port\":80}]}}"
assert_eq "the deleted namespace's service IP is free again" "201 $SCRATCH_IP" "$RC $(jq -r .spec.clusterIP <<<"$OUT")"
api POST /api/v1/namespaces/default/services '{"metadata":{"name":"c"},"spec":{"clusterIP":"192.168.1.1","ports":[{"port":80}]}}'
assert_eq "a cluster IP out of range: 422" 422 "$RC"
api POST /api/v1/namespaces/default/services '{"metadata":{"name":"np"},"spec":{"type":"NodePort","ports":[{"name":"a","port":80},{"name":"b","port":81,"nodePort":30081}]}}'
assert_eq "NodePort service" "201 30081" "$RC $(jq -r '.spec.ports[1].nodePort' <<<"$OUT")"
assert_match "a node port chosen from 30000-32767" '^3[0-2][0-9]{3}$' "$(jq -r '.spec.ports[0].nodePort' <<<"$OUT")"
api POST /api/v1/namespaces/default/services '{"metadata":{"name":"np2"},"spec":{"type":"NodePort","ports":[{"port":80,"nodePort":30081}]}}'
assert_eq "a taken node port: 422" 422 "$RC"
api DELETE /api/v1/namespaces/default/services/np
api POST /api/v1/namespaces/default/services '{"metadata":{"name":"np2"},"spec":{"type":"NodePort","ports":[{"port":80,"nodePort":30081}]}}'
assert_eq "the node port is free after the delete" 201 "$RC"
capture k get svc np2
assert_match "PORT(S) shows the node port" "80:30081/TCP" "$OUT"

stop_server
