# Tests `skiff server --datastore etcd://...` against a real etcd: kubectl works as on SQLite, and two
# servers on one etcd stay consistent: a write through one is seen by a watch on the other, a
# compare-and-swap through one conflicts with a write through the other, and they never hand out the same
# service cluster IP.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/apiserver_lib.sh"
start_etcd
start_server --datastore "etcd://${ETCD_URL#http://}"
URL_A=$URL
# A second server on the same etcd (its own data dir for certificates and tokens).
"$SKIFF" server --insecure-listen 127.0.0.1:0 --data-dir "$TMP/data-b" --datastore "etcd://${ETCD_URL#http://}" \
    2>"$TMP/server-b.err" &
SERVER_B=$!
on_cleanup "kill -KILL $SERVER_B 2>/dev/null"
wait_until 10 grep -q 'serving the Kubernetes API on' "$TMP/server-b.err" || die "server B did not start: $(cat "$TMP/server-b.err")"
URL_B=$(sed -n 's/.*serving the Kubernetes API on \(http:[^ ]*\).*/\1/p' "$TMP/server-b.err")

capture k get ns -o name
assert_eq "default namespaces in etcd" "namespace/default namespace/kube-node-lease namespace/kube-public namespace/kube-system" "$(echo $OUT)"
cat >"$TMP/web.yaml" <<'YAML'
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: web, image: busybox}]
YAML
capture k apply -f "$TMP/web.yaml"
assert_eq "kubectl apply through server A" "deployment.apps/web created" "$OUT"

# A watch on B sees what A writes.
URL=$URL_B
api GET /apis/apps/v1/namespaces/default/deployments
RV=$(jq -r .metadata.resourceVersion <<<"$OUT")
assert_eq "B lists what A created" "web" "$(jq -r '.items[].metadata.name' <<<"$OUT")"
curl -sN "$URL_B/apis/apps/v1/namespaces/default/deployments?watch=true&resourceVersion=$RV&timeoutSeconds=3" >"$TMP/watch-b.out" &
WATCH=$!
sleep 0.5
URL=$URL_A
capture k scale deployment web --replicas=4
assert_rc "scale through A" 0
wait $WATCH
assert_eq "B's watch got A's write" "MODIFIED 4" "$(jq -r '"\(.type) \(.object.spec.replicas)"' "$TMP/watch-b.out")"

# Optimistic concurrency across servers: a write with A's old resourceVersion through B conflicts.
api GET /apis/apps/v1/namespaces/default/deployments/web
STALE=$(jq -c '.spec.replicas = 5' <<<"$OUT")
api PATCH /apis/apps/v1/namespaces/default/deployments/web '{"metadata":{"labels":{"x":"y"}}}' application/merge-patch+json
URL=$URL_B
api PUT /apis/apps/v1/namespaces/default/deployments/web "$STALE"
assert_eq "stale resourceVersion through B: 409" "409 Conflict" "$RC $(jq -r .reason <<<"$OUT")"

# Cluster IPs are claimed in etcd: the two servers never give out the same one.
for i in $(seq 10); do
    URL=$URL_A; api POST /api/v1/namespaces/default/services "{\"metadata\":{\"name\":\"a$i\"},\"spec\":{\"ports\":[{\"port\":80}]}}"
    URL=$URL_B; api POST /api/v1/namespaces/default/services "{\"metadata\":{\"name\":\"b$i\"},\"spec\":{\"ports\":[{\"port\":80}]}}"
done
URL=$URL_A
capture k get svc -o jsonpath='{range .items[*]}{.spec.clusterIP}{"\n"}{end}'
assert_eq "21 services, 21 distinct cluster IPs" "21 21" "$(wc -l <<<"$OUT") $(sort -u <<<"$OUT" | wc -l)"
api POST /api/v1/namespaces/default/services "{\"metadata\":{\"name\":\"dup\"},\"spec\":{\"clusterIP\":\"$(head -1 <<<"$OUT")\",\"ports\":[{\"port\":80}]}}"
assert_eq "a cluster IP held through the other server: 422" 422 "$RC"

kill -TERM $SERVER_B
wait $SERVER_B || fail "server B exit status $?"
stop_server
