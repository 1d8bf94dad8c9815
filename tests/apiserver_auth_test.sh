# Tests `skiff server` over HTTPS with the real kubectl and curl: the PKI and admin kubeconfig made on the
# first start (verified TLS, no --insecure-skip-tls-verify), `skiff kubeconfig`, 401 without or with bad
# credentials, node tokens picked up without a restart and the node policy (own Node, own Lease, pods bound
# to it, 403 in Kubernetes' words otherwise), a watch streamed over TLS, a stalled handshake that holds no
# one up, a forged client certificate, a restart that keeps the CA, and a clear error for a damaged ca.key.
source "$(dirname "$0")/lib.sh"

source "$(dirname "$0")/apiserver_lib.sh"
command -v openssl >/dev/null || die "openssl not found"
# A short request deadline, so the test can see a stalled handshake being dropped.
start_https_server --request-timeout 3
KC=$DATA/admin.kubeconfig
ks() { timeout 30 kubectl --kubeconfig "$1" --cache-dir "$TMP/cache" "${@:2}"; }
mode_of() { stat -c %a "$1"; }

check_first_start() {
    local f
    for f in ca.crt ca.key server.crt server.key admin.crt admin.key; do
        [[ -s $DATA/pki/$f ]] && ok "pki/$f made" || fail "pki/$f missing after the first start"
    done
    assert_eq "ca.key is 0600" 600 "$(mode_of "$DATA/pki/ca.key")"
    assert_eq "server.key is 0600" 600 "$(mode_of "$DATA/pki/server.key")"
    assert_eq "admin.key is 0600" 600 "$(mode_of "$DATA/pki/admin.key")"
    assert_eq "admin.kubeconfig is 0600" 600 "$(mode_of "$KC")"
    assert_contains "start prints where the kubeconfig is" "$(cat "$TMP/server.err")" "admin kubeconfig: $KC"
    capture openssl x509 -in "$DATA/pki/ca.crt" -noout -subject -enddate
    assert_match "CA subject" 'CN ?= ?skiff-ca' "$OUT"
    capture openssl x509 -in "$DATA/pki/server.crt" -noout -ext subjectAltName
    assert_match "serving certificate names" 'DNS:localhost.*IP Address:127\.0\.0\.1.*IP Address:0:0:0:0:0:0:0:1' "$(echo $OUT)"
    capture openssl x509 -in "$DATA/pki/admin.crt" -noout -subject
    assert_match "admin certificate subject" 'O ?= ?system:masters, CN ?= ?skiff-admin' "$OUT"
    assert_match "kubeconfig server" "server: https://127\.0\.0\.1:$HTTPS_PORT\$" "$(cat "$KC")"

    capture ks "$KC" get ns -o name
    assert_rc "kubectl with the admin kubeconfig (certificate verified)" 0
    assert_eq "kubectl get ns over HTTPS" "namespace/default namespace/kube-node-lease namespace/kube-public namespace/kube-system" "$(echo $OUT)"
    capture "$SKIFF" kubeconfig --data-dir "$DATA"
    assert_rc "skiff kubeconfig" 0
    assert_eq "skiff kubeconfig prints the admin kubeconfig" "$(cat "$KC")" "$OUT"
    "$SKIFF" kubeconfig --data-dir "$DATA" >"$TMP/printed.kubeconfig"
    capture ks "$TMP/printed.kubeconfig" get ns default -o name
    assert_eq "the printed kubeconfig works" "namespace/default" "$OUT"
}

check_unauthenticated() {
    sapi none GET /api/v1/namespaces
    assert_eq "no credentials: 401" 401 "$RC"
    assert_eq "no credentials: Unauthorized Status" "Status Unauthorized 401" "$(jq -r '"\(.kind) \(.reason) \(.code)"' <<<"$OUT")"
    sapi none GET /api
    assert_eq "no credentials, discovery: 401" 401 "$RC"
    sapi none GET /healthz
    assert_eq "no credentials, /healthz: open (kube-apiserver default)" "200 ok" "$RC $OUT"
    sapi none GET /version
    assert_eq "no credentials, /version: open" 200 "$RC"
    sapi 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef GET /api/v1/namespaces
    assert_eq "bad token: 401" 401 "$RC"
    # (kubectl with no credential at all asks for a user name at a 401; a wrong token shows the message.)
    capture timeout 30 kubectl --server "$HTTPS_URL" --certificate-authority "$DATA/pki/ca.crt" --cache-dir "$TMP/cache" \
        --token 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef get ns
    assert_nonzero_rc "kubectl with a bad token fails"
    assert_contains "kubectl with a bad token: logged-in message" "$ERR" "You must be logged in to the server"
    # A client certificate that names the admin but is not from the cluster CA gets no TLS session at all.
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -subj "/O=system:masters/CN=skiff-admin" \
        -keyout "$TMP/forged.key" -out "$TMP/forged.crt" 2>/dev/null
    local rc=0
    curl -s -o /dev/null --cacert "$DATA/pki/ca.crt" --cert "$TMP/forged.crt" --key "$TMP/forged.key" \
        "$HTTPS_URL/api/v1/namespaces" || rc=$?
    assert_ne "a forged admin certificate is refused in the handshake" 0 "$rc"
}

check_node_policy() {
    # Tokens made while the server runs work at once.
    capture "$SKIFF" server token create n1 --data-dir "$DATA"
    assert_rc "token create n1" 0
    local t1=$OUT
    assert_match "token is 64 hex characters" '^[0-9a-f]{64}$' "$t1"
    assert_eq "tokens file is 0600" 600 "$(mode_of "$DATA/tokens")"
    assert_not_contains "the tokens file keeps no token" "$(cat "$DATA/tokens")" "$t1"
    capture "$SKIFF" server token create BAD_NAME --data-dir "$DATA"
    assert_rc "token create for an invalid node name" 2

    local node='{"apiVersion":"v1","kind":"Node","metadata":{"name":"NAME"}}'
    sapi "$t1" POST /api/v1/nodes "${node/NAME/n1}"
    assert_eq "node creates its own Node" 201 "$RC"
    sapi "$t1" GET /api/v1/nodes/n1
    assert_eq "node gets its own Node" "200 n1" "$RC $(jq -r .metadata.name <<<"$OUT")"
    sapi "$t1" PATCH /api/v1/nodes/n1 '{"metadata":{"labels":{"ready":"yes"}}}' application/merge-patch+json
    assert_eq "node patches its own Node" "200 yes" "$RC $(jq -r .metadata.labels.ready <<<"$OUT")"
    sapi "$t1" POST /api/v1/nodes "${node/NAME/n2}"
    assert_eq "node creates another Node: 403" 403 "$RC"
    sapi admin POST /api/v1/nodes "${node/NAME/n2}"
    assert_eq "admin creates n2" 201 "$RC"
    sapi "$t1" GET /api/v1/nodes/n2
    assert_eq "node gets another Node: 403 Forbidden" "403 Forbidden" "$RC $(jq -r .reason <<<"$OUT")"
    assert_contains "another Node: Kubernetes' message" "$(jq -r .message <<<"$OUT")" \
        'nodes "n2" is forbidden: User "system:node:n1" cannot get resource "nodes" in API group "" at the cluster scope'
    sapi "$t1" PATCH /api/v1/nodes/n2 '{"metadata":{"labels":{"x":"y"}}}' application/merge-patch+json
    assert_eq "node patches another Node: 403" 403 "$RC"

    local leases=/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases
    local lease='{"apiVersion":"coordination.k8s.io/v1","kind":"Lease","metadata":{"name":"NAME"},"spec":{"holderIdentity":"NAME"}}'
    sapi "$t1" POST $leases "${lease//NAME/n1}"
    assert_eq "node creates its Lease" 201 "$RC"
    sapi "$t1" GET $leases/n1
    assert_eq "node gets its Lease" 200 "$RC"
    sapi "$t1" PUT $leases/n1 "$(jq -c '.spec.renewTime="2026-01-01T00:00:00.000000Z"' <<<"$OUT")"
    assert_eq "node renews its Lease" 200 "$RC"
    sapi admin POST $leases "${lease//NAME/n2}"
    assert_eq "admin creates n2's Lease" 201 "$RC"
    sapi "$t1" GET $leases/n2
    assert_eq "node gets another node's Lease: 403" 403 "$RC"
    sapi "$t1" POST $leases "${lease//NAME/n3}"
    assert_eq "node creates another node's Lease: 403" 403 "$RC"

    local pod='{"apiVersion":"v1","kind":"Pod","metadata":{"name":"NAME"},"spec":{"nodeName":"NODE","containers":[{"name":"c","image":"busybox"}]}}'
    local p
    for p in p1:n1 p2:n2; do
        local body=${pod/NAME/${p%%:*}}
        sapi admin POST /api/v1/namespaces/default/pods "${body/NODE/${p#*:}}"
        assert_eq "admin creates pod $p" 201 "$RC"
    done
    sapi "$t1" GET /api/v1/pods
    assert_eq "pod list without the node's field selector: 403" 403 "$RC"
    assert_contains "pod list: Kubernetes' reason" "$(jq -r .message <<<"$OUT")" \
        'pods is forbidden: User "system:node:n1" cannot list resource "pods" in API group "" at the cluster scope: can only list/watch pods with spec.nodeName field selector'
    sapi "$t1" GET '/api/v1/pods?fieldSelector=spec.nodeName%3Dn1'
    assert_eq "pod list with spec.nodeName=n1" "200 p1" "$RC $(jq -r '[.items[].metadata.name]|join(",")' <<<"$OUT")"
    sapi "$t1" GET '/api/v1/pods?fieldSelector=spec.nodeName%3Dn2'
    assert_eq "pod list with another node's selector: 403" 403 "$RC"
    sapi "$t1" GET /api/v1/namespaces/default/pods/p1
    assert_eq "node gets a pod bound to it" 200 "$RC"
    sapi "$t1" PATCH /api/v1/namespaces/default/pods/p1 '{"metadata":{"annotations":{"seen":"n1"}}}' application/merge-patch+json
    assert_eq "node patches a pod bound to it" 200 "$RC"
    sapi "$t1" PATCH /api/v1/namespaces/default/pods/p1 '{"spec":{"nodeName":"n2"}}' application/merge-patch+json
    assert_eq "node moves its pod to another node: 403" 403 "$RC"
    sapi "$t1" GET /api/v1/namespaces/default/pods/p2
    assert_eq "node gets a pod bound to another node: 403" 403 "$RC"
    assert_contains "pod of another node: Kubernetes' message" "$(jq -r .message <<<"$OUT")" \
        'pods "p2" is forbidden: User "system:node:n1" cannot get resource "pods" in API group "" in the namespace "default"'
    sapi "$t1" GET /api/v1/namespaces/default/pods/nonexistent
    assert_eq "node gets a pod that does not exist: 403, not 404" 403 "$RC"
    sapi "$t1" DELETE /api/v1/namespaces/default/pods/p1
    assert_eq "node deletes a pod: 403" 403 "$RC"

    sapi "$t1" GET /api/v1/namespaces/default/secrets
    assert_eq "node lists secrets: 403" 403 "$RC"
    sapi "$t1" GET /api/v1/namespaces/default/secrets/x
    assert_eq "node gets a secret: the exact message" \
        'secrets "x" is forbidden: User "system:node:n1" cannot get resource "secrets" in API group "" in the namespace "default"' \
        "$(jq -r .message <<<"$OUT")"
    sapi "$t1" GET /api/v1/namespaces/default/configmaps
    assert_eq "node lists configmaps: 403" 403 "$RC"
    sapi "$t1" GET /api/v1/services
    assert_eq "node lists services (the load balancer's source)" 200 "$RC"
    sapi "$t1" GET /apis/discovery.k8s.io/v1/namespaces/default/endpointslices
    assert_eq "node lists endpointslices" 200 "$RC"
    sapi "$t1" POST /api/v1/namespaces/default/events '{"apiVersion":"v1","kind":"Event","metadata":{"name":"e1"},"involvedObject":{"kind":"Pod","name":"p1"}}'
    assert_eq "node creates an event" 201 "$RC"
    sapi "$t1" GET /api/v1
    assert_eq "node reads discovery" 200 "$RC"

    # A watch streams over TLS: the node's pods as they come.
    curl -sN --max-time 4 --cacert "$DATA/pki/ca.crt" -H "Authorization: Bearer $t1" \
        "$HTTPS_URL/api/v1/pods?watch=true&fieldSelector=spec.nodeName%3Dn1" >"$TMP/watch.out" 2>/dev/null &
    local watcher=$!
    sleep 1
    local body=${pod/NAME/p3}
    sapi admin POST /api/v1/namespaces/default/pods "${body/NODE/n1}"
    body=${pod/NAME/p4}
    sapi admin POST /api/v1/namespaces/default/pods "${body/NODE/n2}"
    wait "$watcher" || true
    assert_eq "watch over TLS: the node's pods only, new one included" "ADDED p1,ADDED p3" \
        "$(jq -rs '[.[] | "\(.type) \(.object.metadata.name)"] | join(",")' "$TMP/watch.out")"

    # kubectl with a node token sees what the policy allows.
    capture timeout 30 kubectl --server "$HTTPS_URL" --certificate-authority "$DATA/pki/ca.crt" --token "$t1" \
        --cache-dir "$TMP/cache-n1" get secrets
    assert_nonzero_rc "kubectl as the node: get secrets fails"
    assert_contains "kubectl as the node: Forbidden" "$ERR" 'secrets is forbidden: User "system:node:n1" cannot list resource "secrets"'

    capture "$SKIFF" server token revoke n1 --data-dir "$DATA"
    assert_rc "token revoke n1" 0
    sapi "$t1" GET /api/v1/nodes/n1
    assert_eq "a revoked token: 401 at once" 401 "$RC"
}

check_stalled_handshake() {
    # One client connects and never sends a ClientHello, another sends half of one; others are served
    # meanwhile, and both are dropped at the request deadline (3 s here).
    exec 7<>"/dev/tcp/127.0.0.1/$HTTPS_PORT"
    exec 8<>"/dev/tcp/127.0.0.1/$HTTPS_PORT"
    printf '\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03' >&8
    local start=$SECONDS
    sapi admin GET /api/v1/namespaces/default
    assert_eq "served while two handshakes stall" 200 "$RC"
    ((SECONDS - start < 3)) && ok "served at once" || fail "served only after $((SECONDS - start)) s"
    # cat ends at the server's close (EOF, or a reset); 124 would be timeout's: still open after 10 s.
    local rc=0
    timeout 10 cat <&7 >/dev/null 2>&1 || rc=$?
    assert_ne "silent client dropped at the deadline" 124 "$rc"
    rc=0
    timeout 10 cat <&8 >/dev/null 2>&1 || rc=$?
    assert_ne "half-handshake client dropped at the deadline" 124 "$rc"
    ((SECONDS - start >= 2)) && ok "not dropped before the deadline" || fail "dropped after $((SECONDS - start)) s, before the 3 s deadline"
    exec 7<&- 8<&-
}

check_restart_and_broken_ca() {
    cp "$KC" "$TMP/old.kubeconfig"
    cp "$DATA/pki/ca.crt" "$TMP/ca.crt.before"
    stop_server
    start_https_server
    assert_eq "restart keeps the CA" "" "$(cmp "$TMP/ca.crt.before" "$DATA/pki/ca.crt" 2>&1)"
    assert_not_contains "restart makes no new CA" "$(cat "$TMP/server.err")" "made a new cluster CA"
    capture ks "$TMP/old.kubeconfig" get ns default -o name
    assert_eq "the old kubeconfig still works after a restart" "namespace/default" "$OUT"
    capture ks "$TMP/old.kubeconfig" get nodes -o name
    assert_eq "objects kept" "node/n1 node/n2" "$(echo $OUT)"
    stop_server

    # A new --tls-san makes a new serving certificate, from the same CA.
    start_https_server --tls-san skiff.example.test
    capture openssl x509 -in "$DATA/pki/server.crt" -noout -ext subjectAltName
    assert_contains "--tls-san added" "$OUT" "DNS:skiff.example.test"
    capture curl -s -o /dev/null -w '%{http_code}' --cacert "$DATA/pki/ca.crt" --resolve "skiff.example.test:$HTTPS_PORT:127.0.0.1" \
        --cert "$DATA/pki/admin.crt" --key "$DATA/pki/admin.key" "https://skiff.example.test:$HTTPS_PORT/api"
    assert_eq "the new name verifies" 200 "$OUT"
    stop_server

    cp "$DATA/pki/ca.key" "$TMP/ca.key.good"
    head -c 100 "$TMP/ca.key.good" >"$DATA/pki/ca.key"
    capture timeout 20 "$SKIFF" server --listen 127.0.0.1:0 --data-dir "$DATA"
    assert_rc "truncated ca.key: the server does not start" 1
    assert_contains "truncated ca.key: the error names the file" "$ERR" "$DATA/pki/ca.key: not a readable PEM private key"
    assert_eq "truncated ca.key: the CA certificate is left alone" "" "$(cmp "$TMP/ca.crt.before" "$DATA/pki/ca.crt" 2>&1)"
    cp "$DATA/pki/admin.key" "$DATA/pki/ca.key"
    capture timeout 20 "$SKIFF" server --listen 127.0.0.1:0 --data-dir "$DATA"
    assert_rc "another key as ca.key: the server does not start" 1
    assert_contains "another key as ca.key: says so" "$ERR" "$DATA/pki/ca.key is not the key of $DATA/pki/ca.crt"
    rm "$DATA/pki/ca.key"
    capture timeout 20 "$SKIFF" server --listen 127.0.0.1:0 --data-dir "$DATA"
    assert_rc "missing ca.key: the server does not start" 1
    assert_contains "missing ca.key: says so" "$ERR" "$DATA/pki/ca.key is missing"
    assert_eq "missing ca.key: no new one made" "no" "$([[ -e $DATA/pki/ca.key ]] && echo yes || echo no)"
}

check_first_start
check_unauthenticated
check_node_policy
check_stalled_handshake
check_restart_and_broken_ca
