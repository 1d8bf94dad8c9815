# Tests `skiff server` with the real kubectl binaries (every kubectl.1.NN the machine has, 1.27 to 1.33,
# and the /usr/bin/kubectl dispatcher): version, discovery (api-versions, api-resources), and the
# server's start-up errors and clean stop.
source "$(dirname "$0")/lib.sh"

SKIFF=$SKIFF_BUILD/bin/skiff
command -v kubectl >/dev/null || die "kubectl not found (tools/setup installs it)"
KUBECTLS=(kubectl)
for v in 27 28 29 30 31 32 33; do
    for d in /usr/lib/google-cloud-sdk/bin /usr/bin; do
        [[ -x $d/kubectl.1.$v ]] && { KUBECTLS+=("$d/kubectl.1.$v"); break; }
    done
done
echo "kubectl binaries: ${KUBECTLS[*]}"

SERVER_PID=
on_cleanup '[[ -n $SERVER_PID ]] && kill -KILL "$SERVER_PID"'
"$SKIFF" server --insecure-listen 127.0.0.1:0 --data-dir "$TMP/data" 2>"$TMP/server.err" &
SERVER_PID=$!
wait_until 10 grep -q 'serving the Kubernetes API on' "$TMP/server.err" || die "server did not start: $(cat "$TMP/server.err")"
URL=$(sed -n 's/.*serving the Kubernetes API on \(http:[^ ]*\).*/\1/p' "$TMP/server.err")
echo "server: $URL"
export KUBECONFIG=/dev/null

kc() { # kc KUBECTL ARGS...: a fresh discovery cache per binary, so each one really asks the server
    local bin=$1
    shift
    timeout 30 "$bin" --server "$URL" --cache-dir "$TMP/cache-$(basename "$bin")" "$@"
}

for bin in "${KUBECTLS[@]}"; do
    name=$(basename "$bin")
    capture kc "$bin" version -o json
    assert_rc "$name version" 0
    assert_eq "$name: the server's version" "v1.32.0-skiff.0.1.0" "$(jq -r .serverVersion.gitVersion <<<"$OUT")"
    capture kc "$bin" api-versions
    assert_eq "$name api-versions" "apps/v1 coordination.k8s.io/v1 discovery.k8s.io/v1 v1" "$(echo $OUT)"
    capture kc "$bin" api-resources -o name
    assert_rc "$name api-resources" 0
    assert_eq "$name api-resources: every served resource" \
        "configmaps endpoints events namespaces nodes pods secrets serviceaccounts services deployments.apps replicasets.apps leases.coordination.k8s.io endpointslices.discovery.k8s.io" \
        "$(echo $OUT)"
done

capture kc kubectl api-resources --api-group apps --no-headers
assert_match "short names: deploy" '^deployments +deploy +apps/v1 +true +Deployment' "$OUT"
capture kc kubectl api-resources --namespaced=false --no-headers -o name
assert_eq "cluster-scoped: namespaces and nodes" "namespaces nodes" "$(echo $OUT)"
capture kc kubectl api-resources --categories all -o name
assert_eq "category all" "pods services deployments.apps replicasets.apps" "$(echo $OUT)"

capture curl -s -w '\n%{http_code}' "$URL/api/v1/nonsense"
assert_eq "unknown path: 404" 404 "$(tail -1 <<<"$OUT")"
assert_eq "unknown path: a metav1.Status" "Status NotFound 404" "$(head -1 <<<"$OUT" | jq -r '"\(.kind) \(.reason) \(.code)"')"
head -c $((3 * 1024 * 1024 + 1)) /dev/zero >"$TMP/big"
capture curl -s -o /dev/null -w '%{http_code}' -H 'Content-Type: application/json' --data-binary @"$TMP/big" "$URL/api/v1/namespaces"
assert_eq "a body over 3 MiB: 413" 413 "$OUT"

kill -TERM "$SERVER_PID"
wait_until 10 proc_gone "$SERVER_PID" || fail "the server did not stop on SIGTERM"
wait "$SERVER_PID" && ok "SIGTERM: exit 0" || fail "SIGTERM: exit $?"
SERVER_PID=
assert_contains "the server says it stopped" "$(cat "$TMP/server.err")" "skiff server: stopped"

# (Without a listen flag the server serves HTTPS on 0.0.0.0:6443: apiserver_auth_test.sh covers that.)
capture "$SKIFF" server --listen 127.0.0.1
assert_rc "listen address without a port" 2
assert_contains "listen address without a port: says what to give" "$ERR" "--listen: expected ADDR:PORT"
capture "$SKIFF" server --insecure-listen 0.0.0.0:6443
assert_rc "insecure listen off loopback" 2
assert_contains "insecure listen off loopback: refused" "$ERR" "only on loopback"
capture "$SKIFF" server --insecure-listen 127.0.0.1:http
assert_rc "bad port" 2
