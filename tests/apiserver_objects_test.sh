# Tests object storage through `skiff server` with the real kubectl and curl: create/get/list/label/
# apply/patch/replace/delete of configmaps, namespaces and deployments, Kubernetes' errors (404, 409
# AlreadyExists and Conflict, 422 Invalid, 400 for bad JSON, kind or protobuf bodies), list
# pagination and label selectors, and the objects still there after a restart on the same data dir.
source "$(dirname "$0")/lib.sh"

source "$(dirname "$0")/apiserver_lib.sh"
start_server

cat >"$TMP/cm.yaml" <<'YAML'
apiVersion: v1
kind: ConfigMap
metadata:
  name: web-config
  labels: {app: web}
data:
  greeting: hello
YAML

check_crud() {
    capture k get ns -o name
    assert_eq "default namespaces" "namespace/default namespace/kube-node-lease namespace/kube-public namespace/kube-system" "$(echo $OUT)"
    capture k create -f "$TMP/cm.yaml"
    assert_rc "create -f" 0
    assert_eq "create -f says so" "configmap/web-config created" "$OUT"
    capture k create -f "$TMP/cm.yaml"
    assert_rc "create again" 1
    assert_match "create again: AlreadyExists" '\(AlreadyExists\).*configmaps "web-config" already exists' "$ERR"
    capture k get cm web-config -o json
    assert_eq "stored object: namespace, generation, data" "default 1 hello" "$(jq -r '"\(.metadata.namespace) \(.metadata.generation) \(.data.greeting)"' <<<"$OUT")"
    assert_match "uid is a v4 UUID" '^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$' "$(jq -r .metadata.uid <<<"$OUT")"
    assert_match "creationTimestamp is RFC 3339" '^20[0-9]{2}-[01][0-9]-[0-3][0-9]T[0-9:]{8}Z$' "$(jq -r .metadata.creationTimestamp <<<"$OUT")"
    local rv uid
    rv=$(jq -r .metadata.resourceVersion <<<"$OUT")
    uid=$(jq -r .metadata.uid <<<"$OUT")
    capture k label cm web-config tier=front
    assert_rc "label" 0
    capture k get cm -l tier=front -o name
    assert_eq "get -l tier=front" "configmap/web-config" "$OUT"
    capture k get cm -l 'tier!=front' -o name
    assert_eq "get -l tier!=front" "" "$OUT"
    capture k get cm -l 'tier in (back,front),app notin (db)' -o name
    assert_eq "get -l with set-based terms" "configmap/web-config" "$OUT"
    capture k get cm -l 'tier notin (front)' -o name
    assert_eq "get -l tier notin (front)" "" "$OUT"
    capture k get cm web-config -o json
    assert_ne "a change makes a new resourceVersion" "$rv" "$(jq -r .metadata.resourceVersion <<<"$OUT")"
    assert_eq "a change keeps the uid" "$uid" "$(jq -r .metadata.uid <<<"$OUT")"
    # An update with a stale resourceVersion is a Conflict.
    api PUT /api/v1/namespaces/default/configmaps/web-config \
        "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"web-config\",\"resourceVersion\":\"$rv\"},\"data\":{\"greeting\":\"stale\"}}"
    assert_eq "stale resourceVersion: 409" 409 "$RC"
    assert_eq "stale resourceVersion: Conflict" Conflict "$(jq -r .reason <<<"$OUT")"
    sed -i 's/greeting: hello/greeting: bonjour/' "$TMP/cm.yaml"
    capture k apply -f "$TMP/cm.yaml"
    assert_rc "apply of a change" 0
    capture k get cm web-config -o jsonpath='{.data.greeting}'
    assert_eq "apply changed the data" bonjour "$OUT"
    capture k delete cm web-config
    assert_rc "delete" 0
    assert_eq "delete says so" 'configmap "web-config" deleted' "$OUT"
    capture k get cm web-config
    assert_rc "get after delete" 1
    assert_contains "get after delete: NotFound" "$ERR" '(NotFound): configmaps "web-config" not found'
    capture k apply -f "$TMP/cm.yaml"
    assert_eq "first apply creates" "configmap/web-config created" "$OUT"
}

check_deployment_and_namespaces() {
    capture k create namespace demo --dry-run=client -o json
    printf '%s' "$OUT" >"$TMP/ns.json"
    capture k create -f "$TMP/ns.json"
    assert_eq "create a namespace" "namespace/demo created" "$OUT"
    cat >"$TMP/deploy.yaml" <<'YAML'
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: demo
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: web, image: busybox}]
YAML
    capture k create -f "$TMP/deploy.yaml"
    assert_eq "create a deployment" "deployment.apps/web created" "$OUT"
    capture k -n demo patch deployment web --type merge -p '{"spec":{"replicas":3}}'
    assert_rc "merge patch" 0
    capture k -n demo get deploy web -o json
    assert_eq "patched replicas, generation 2" "3 2" "$(jq -r '"\(.spec.replicas) \(.metadata.generation)"' <<<"$OUT")"
    capture k -n demo patch deployment web --type json -p '[{"op":"replace","path":"/spec/replicas","value":1}]'
    assert_rc "json patch" 0
    capture k -n demo get deploy web -o jsonpath='{.spec.replicas}'
    assert_eq "json-patched replicas" 1 "$OUT"
    capture k get deploy -A -o name
    assert_eq "list across namespaces" "deployment.apps/web" "$OUT"
    capture k -n nowhere create -f "$TMP/cm.yaml"
    assert_rc "create in a missing namespace" 1
    assert_contains "create in a missing namespace: NotFound" "$ERR" 'namespaces "nowhere" not found'
}

check_errors() {
    api POST /api/v1/namespaces/default/configmaps '{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"Bad_Name"}}'
    assert_eq "invalid name: 422" 422 "$RC"
    assert_eq "invalid name: Invalid with a cause" "Invalid metadata.name" "$(jq -r '"\(.reason) \(.details.causes[0].field)"' <<<"$OUT")"
    api POST /api/v1/namespaces/default/configmaps '{"apiVersion":"v1","kind":"Secret","metadata":{"name":"x"}}'
    assert_eq "wrong kind: 400" 400 "$RC"
    api POST /api/v1/namespaces/default/configmaps '{"apiVersion":"v1", "kind": '
    assert_eq "malformed JSON: 400" 400 "$RC"
    assert_contains "malformed JSON: names the position" "$OUT" "at byte"
    api POST /api/v1/namespaces/default/configmaps 'k8s' application/vnd.kubernetes.protobuf
    assert_eq "broken protobuf body: 400" 400 "$RC"
    api POST /api/v1/namespaces/default/configmaps '{"apiVersion":"v1","kind":"ConfigMap","metadata":{"generateName":"gen-"}}'
    assert_eq "generateName: 201" 201 "$RC"
    assert_match "generateName: a generated name" '^gen-[a-z0-9]{5}$' "$(jq -r .metadata.name <<<"$OUT")"
    api GET '/api/v1/namespaces/default/configmaps?labelSelector=env+in+(a'
    assert_eq "unclosed set in a selector: 400" 400 "$RC"
    assert_contains "unclosed set: says what it expected" "$OUT" "expected ',' or ')'"
    api GET '/api/v1/namespaces/default/configmaps?fieldSelector=metadata.name%3Dgen'
    assert_eq "metadata.name field selector" 200 "$RC"
}

check_pagination() {
    local i
    for i in $(seq 1 7); do
        api POST /api/v1/namespaces/default/configmaps "{\"metadata\":{\"name\":\"page-$i\",\"labels\":{\"page\":\"yes\"}}}"
    done
    api GET '/api/v1/namespaces/default/configmaps?labelSelector=page%3Dyes&limit=3'
    assert_eq "page 1: 3 items" "page-1 page-2 page-3" "$(jq -r '[.items[].metadata.name] | join(" ")' <<<"$OUT")"
    local token rv
    token=$(jq -r .metadata.continue <<<"$OUT")
    rv=$(jq -r .metadata.resourceVersion <<<"$OUT")
    api DELETE /api/v1/namespaces/default/configmaps/page-5
    api GET "/api/v1/namespaces/default/configmaps?labelSelector=page%3Dyes&limit=3&continue=$token"
    assert_eq "page 2 comes from the first page's snapshot" "page-4 page-5 page-6" "$(jq -r '[.items[].metadata.name] | join(" ")' <<<"$OUT")"
    assert_eq "page 2 has the list's resourceVersion" "$rv" "$(jq -r .metadata.resourceVersion <<<"$OUT")"
    api GET "/api/v1/namespaces/default/configmaps?limit=2&continue=garbage"
    assert_eq "bad continue token: 400" 400 "$RC"
}

check_tables() {
    cat >"$TMP/objs.yaml" <<'YAML'
apiVersion: v1
kind: Pod
metadata: {name: web-1, labels: {app: web}}
spec:
  nodeName: node-a
  containers: [{name: web, image: busybox}]
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec: {type: NodePort, clusterIP: 10.96.0.10, selector: {app: web}, ports: [{port: 80, nodePort: 30080, protocol: TCP}]}
---
apiVersion: v1
kind: Node
metadata: {name: node-a, labels: {node-role.kubernetes.io/control-plane: ""}}
status: {conditions: [{type: Ready, status: "True"}], nodeInfo: {kubeletVersion: v1.32.0-skiff}, addresses: [{type: InternalIP, address: 192.168.1.10}]}
YAML
    capture k create -f "$TMP/objs.yaml"
    assert_rc "create a pod, a service and a node" 0
    # A pod's status is the node agent's to write, through the status subresource.
    capture k patch pod web-1 --subresource=status --type=merge \
        -p '{"status":{"phase":"Running","podIP":"10.88.1.2","containerStatuses":[{"name":"web","ready":true,"restartCount":2}]}}'
    assert_rc "patch the pod's status" 0
    capture k get pods
    assert_match "get pods: kubectl's columns" '^NAME +READY +STATUS +RESTARTS +AGE$' "$(head -1 <<<"$OUT")"
    assert_match "get pods: the row" '^web-1 +1/1 +Running +2 +[0-9]+s$' "$(tail -1 <<<"$OUT")"
    capture k get pods -o wide
    assert_match "get pods -o wide: IP and NODE" '^web-1 +1/1 +Running +2 +[0-9]+s +10\.88\.1\.2 +node-a ' "$(tail -1 <<<"$OUT")"
    capture k get svc web
    assert_match "get svc: type, cluster IP, ports" '^web +NodePort +10\.96\.0\.10 +<none> +80:30080/TCP +[0-9]+s$' "$(tail -1 <<<"$OUT")"
    capture k get nodes
    assert_match "get nodes: status, roles, version" '^node-a +Ready +control-plane +[0-9]+s +v1\.32\.0-skiff$' "$(tail -1 <<<"$OUT")"
    capture k -n demo get deploy
    assert_match "get deploy: READY UP-TO-DATE AVAILABLE" '^web +0/1 +0 +0 +[0-9]+s$' "$(tail -1 <<<"$OUT")"
    capture k get pods -A
    assert_match "get pods -A: the NAMESPACE column" '^default +web-1 +1/1 ' "$(tail -1 <<<"$OUT")"
    capture k get all -o name
    assert_contains "get all: pods, services, deployments" "$OUT" "pod/web-1"
    capture k get pods -A --field-selector spec.nodeName=node-a,status.phase=Running -o name
    assert_eq "field selector: spec.nodeName and status.phase" "pod/web-1" "$OUT"
    capture k get pods -A --field-selector spec.nodeName=node-b -o name
    assert_eq "field selector: another node" "" "$OUT"
    capture k get cm --field-selector spec.nodeName=x
    assert_contains "field selector: unsupported field" "$ERR" "field label not supported: spec.nodeName"
}

check_restart() {
    stop_server
    start_server
    capture k -n demo get deploy web -o jsonpath='{.spec.replicas}'
    assert_eq "objects survive a restart" 1 "$OUT"
    capture k get ns -o name
    assert_contains "namespaces survive a restart" "$OUT" "namespace/demo"
}

check_crud
check_deployment_and_namespaces
check_errors
check_pagination
check_tables
check_restart
stop_server
