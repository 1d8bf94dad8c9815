# Shared by the tests of `skiff server`: start/stop a server on a free loopback port with its own data
# dir, and talk to it with the real kubectl (k) or curl (api). Source after lib.sh.
SKIFF=$SKIFF_BUILD/bin/skiff
command -v kubectl >/dev/null || die "kubectl not found (tools/setup installs it)"
export KUBECONFIG=/dev/null
DATA=$TMP/data
SERVER_PID=
on_cleanup '[[ -n $SERVER_PID ]] && kill -KILL "$SERVER_PID"'

start_server() { # start_server [EXTRA ARGS...]: URL = the server's address
    : >"$TMP/server.err"
    "$SKIFF" server --insecure-listen 127.0.0.1:0 --data-dir "$DATA" "$@" 2>"$TMP/server.err" &
    SERVER_PID=$!
    wait_until 10 grep -q 'serving the Kubernetes API on' "$TMP/server.err" || die "server did not start: $(cat "$TMP/server.err")"
    URL=$(sed -n 's/.*serving the Kubernetes API on \(http:[^ ]*\).*/\1/p' "$TMP/server.err")
}

stop_server() {
    kill -TERM "$SERVER_PID"
    wait "$SERVER_PID" || fail "server exit status $?"
    SERVER_PID=
}

k() { timeout 30 kubectl --server "$URL" --cache-dir "$TMP/cache" "$@"; }

api() { # api METHOD PATH [BODY [CONTENT-TYPE]]: OUT = body, RC = HTTP status
    local body=${3-} type=${4:-application/json}
    local args=(-s -o "$TMP/api.out" -w '%{http_code}' -X "$1" "$URL$2")
    [[ -n $body ]] && args+=(-H "Content-Type: $type" --data-binary "$body")
    RC=$(curl "${args[@]}")
    OUT=$(<"$TMP/api.out")
}

# HTTPS: start_https_server [EXTRA ARGS...] serves on 127.0.0.1:${HTTPS_PORT:-0} with the data dir's PKI;
# sets HTTPS_URL and HTTPS_PORT (keep HTTPS_PORT to restart on the same port).
start_https_server() {
    : >"$TMP/server.err"
    "$SKIFF" server --listen "127.0.0.1:${HTTPS_PORT:-0}" --data-dir "$DATA" "$@" 2>"$TMP/server.err" &
    SERVER_PID=$!
    wait_until 20 grep -q 'serving the Kubernetes API on https:' "$TMP/server.err" ||
        die "HTTPS server did not start: $(cat "$TMP/server.err")"
    HTTPS_URL=$(sed -n 's/.*serving the Kubernetes API on \(https:[^ ]*\).*/\1/p' "$TMP/server.err")
    HTTPS_PORT=${HTTPS_URL##*:}
}

# sapi CREDENTIAL METHOD PATH [BODY [CONTENT-TYPE]]: curl over HTTPS, verifying the server against the data
# dir's CA. CREDENTIAL: "admin" (the admin client certificate), "none", or a bearer token. OUT, RC as api.
sapi() {
    local cred=$1 body=${4-} type=${5:-application/json}
    local args=(-s -o "$TMP/api.out" -w '%{http_code}' --cacert "$DATA/pki/ca.crt" -X "$2" "$HTTPS_URL$3")
    case $cred in
    admin) args+=(--cert "$DATA/pki/admin.crt" --key "$DATA/pki/admin.key") ;;
    none) ;;
    *) args+=(-H "Authorization: Bearer $cred") ;;
    esac
    [[ -n $body ]] && args+=(-H "Content-Type: $type" --data-binary "$body")
    : >"$TMP/api.out"
    RC=$(curl "${args[@]}") || true
    OUT=$(<"$TMP/api.out")
}

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

start_etcd() { # start_etcd: a single-member etcd on loopback ports; ETCD_URL = its client URL
    command -v etcd >/dev/null || die "etcd not found (tools/setup installs etcd-server)"
    local client peer
    client=$(free_port)
    peer=$(free_port)
    etcd --name test --data-dir "$TMP/etcd" \
        --listen-client-urls "http://127.0.0.1:$client" --advertise-client-urls "http://127.0.0.1:$client" \
        --listen-peer-urls "http://127.0.0.1:$peer" --initial-advertise-peer-urls "http://127.0.0.1:$peer" \
        --initial-cluster "test=http://127.0.0.1:$peer" >"$TMP/etcd.log" 2>&1 &
    ETCD_PID=$!
    on_cleanup "kill -KILL $ETCD_PID 2>/dev/null"
    ETCD_URL=http://127.0.0.1:$client
    etcd_healthy() { curl -fs "$ETCD_URL/health" 2>/dev/null | grep -q '"health":"true"'; }
    wait_until 20 etcd_healthy || die "etcd did not start: $(tail -5 "$TMP/etcd.log")"
}
