# Tests watches through `skiff server`: `kubectl get -w` (tables, --output-watch-events), curl watches with
# label selectors (objects that start or stop matching come as ADDED/DELETED), namespaces, resuming from a
# resourceVersion, bookmarks, sendInitialEvents, 410 Expired for a resourceVersion older than the watch
# cache, timeoutSeconds, and watchers that hang up leaving nothing behind in the server.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/apiserver_lib.sh"
start_server --watch-cache-size 32

watch_types() { # watch_types FILE: the event types and names of a watch stream, one "TYPE name" per line
    jq -r '"\(.type) \(.object.metadata.name // "-")"' "$1"
}
cm() { # cm NAME [LABELS-JSON]: a ConfigMap body
    echo "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"$1\",\"labels\":${2:-{\}}},\"data\":{\"k\":\"v\"}}"
}
CMS=/api/v1/namespaces/default/configmaps

# kubectl get -w: a table row per event, with the event type on request.
k get cm -w --output-watch-events >"$TMP/kw.out" 2>"$TMP/kw.err" &
KW=$!
on_cleanup "kill $KW 2>/dev/null"
wait_until 10 grep -q . "$TMP/kw.err" "$TMP/kw.out" 2>/dev/null || sleep 1
api POST $CMS "$(cm a)"
assert_eq "create a" 201 "$RC"
api PATCH $CMS/a '{"metadata":{"labels":{"x":"y"}}}' application/merge-patch+json
assert_eq "label a" 200 "$RC"
api DELETE $CMS/a
assert_eq "delete a" 200 "$RC"
wait_until 10 grep -q DELETED "$TMP/kw.out" || fail "kubectl get -w saw no DELETED: $(cat "$TMP/kw.out" "$TMP/kw.err")"
kill $KW
assert_eq "kubectl get -w rows" "EVENT NAME DATA AGE|ADDED a 1 0s|MODIFIED a 1 0s|DELETED a 1 0s" \
    "$(awk '{print $1, $2, $3, $4}' "$TMP/kw.out" | paste -sd'|')"

# A label-selected watch: objects entering and leaving the selection.
api GET $CMS
RV=$(jq -r .metadata.resourceVersion <<<"$OUT")
curl -sN "$URL$CMS?watch=true&resourceVersion=$RV&labelSelector=app%3Dweb&timeoutSeconds=4" >"$TMP/sel.out" &
SEL=$!
sleep 0.5
api POST $CMS "$(cm b)"
api PATCH $CMS/b '{"metadata":{"labels":{"app":"web"}}}' application/merge-patch+json
api PATCH $CMS/b '{"data":{"k":"w"}}' application/merge-patch+json
api PATCH $CMS/b '{"metadata":{"labels":{"app":null}}}' application/merge-patch+json
api POST $CMS "$(cm c '{"app":"web"}')"
api DELETE $CMS/c
api DELETE $CMS/b
wait "$SEL"
assert_eq "selector watch: enter, change, leave, create, delete" \
    "ADDED b|MODIFIED b|DELETED b|ADDED c|DELETED c" "$(watch_types "$TMP/sel.out" | paste -sd'|')"
assert_eq "the MODIFIED event carries the new data" "w" "$(jq -r 'select(.type=="MODIFIED") | .object.data.k' "$TMP/sel.out")"
assert_eq "resourceVersions increase" "$(jq -r .object.metadata.resourceVersion "$TMP/sel.out" | sort -n | paste -sd' ')" \
    "$(jq -r .object.metadata.resourceVersion "$TMP/sel.out" | paste -sd' ')"

# Resuming from a resourceVersion replays what came after it, in order.
capture curl -sN "$URL$CMS?watch=true&resourceVersion=$RV&timeoutSeconds=1"
assert_eq "resume from $RV" "ADDED b|MODIFIED b|MODIFIED b|MODIFIED b|ADDED c|DELETED c|DELETED b" \
    "$(jq -r '"\(.type) \(.object.metadata.name)"' <<<"$OUT" | paste -sd'|')"

# Namespaces: a namespaced watch sees only its namespace, an all-namespaces watch sees both.
api POST /api/v1/namespaces '{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"other"}}'
assert_eq "create namespace other" 201 "$RC"
api GET $CMS
RV=$(jq -r .metadata.resourceVersion <<<"$OUT")
api POST /api/v1/namespaces/other/configmaps "$(cm in-other)"
api POST $CMS "$(cm in-default)"
capture curl -sN "$URL$CMS?watch=true&resourceVersion=$RV&timeoutSeconds=1"
assert_eq "namespaced watch" "ADDED in-default" "$(jq -r '"\(.type) \(.object.metadata.name)"' <<<"$OUT")"
capture curl -sN "$URL/api/v1/configmaps?watch=true&resourceVersion=$RV&timeoutSeconds=1"
assert_eq "all-namespaces watch" "ADDED in-other|ADDED in-default" "$(jq -r '"\(.type) \(.object.metadata.name)"' <<<"$OUT" | paste -sd'|')"

# Without a resourceVersion: the current objects as ADDED first. Bookmarks only on request.
capture curl -sN "$URL$CMS?watch=true&timeoutSeconds=1"
assert_eq "initial events" "ADDED in-default" "$(jq -r '"\(.type) \(.object.metadata.name)"' <<<"$OUT")"
capture curl -sN "$URL$CMS?watch=true&timeoutSeconds=1&allowWatchBookmarks=true&resourceVersion=$RV"
LAST=$(tail -n1 <<<"$OUT")
assert_eq "a bookmark ends the watch" "BOOKMARK ConfigMap" "$(jq -r '"\(.type) \(.object.kind)"' <<<"$LAST")"
api GET $CMS
assert_eq "the bookmark is at the current revision" "$(jq -r .metadata.resourceVersion <<<"$OUT")" \
    "$(jq -r .object.metadata.resourceVersion <<<"$LAST")"
capture curl -sN "$URL$CMS?watch=true&timeoutSeconds=1&sendInitialEvents=true&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true"
assert_eq "sendInitialEvents: state, then the initial-events-end bookmark" "ADDED in-default|BOOKMARK true" \
    "$(jq -r '"\(.type) \(.object.metadata.annotations["k8s.io/initial-events-end"] // .object.metadata.name)"' <<<"$OUT" | head -2 | paste -sd'|')"

# timeoutSeconds ends the stream on time.
t0=$(date +%s%N)
curl -sN "$URL$CMS?watch=true&timeoutSeconds=2&resourceVersion=$RV" >/dev/null
ms=$((($(date +%s%N) - t0) / 1000000))
((ms >= 1900 && ms < 4000)) && ok "timeoutSeconds=2 ended after ${ms} ms" || fail "timeoutSeconds=2 ended after ${ms} ms"

# 410 Expired: a resourceVersion older than the 32 events the cache keeps.
for i in $(seq 40); do api POST $CMS "$(cm "many-$i")"; done
capture curl -sN "$URL$CMS?watch=true&resourceVersion=$RV&timeoutSeconds=1"
assert_eq "too old: ERROR event" "ERROR Expired 410" "$(jq -r '"\(.type) \(.object.reason) \(.object.code)"' <<<"$OUT")"
assert_match "too old: the message says so" "too old resource version" "$(jq -r .object.message <<<"$OUT")"

# Bad parameters are a 400, not a stream.
api GET "$CMS?watch=true&resourceVersion=abc"
assert_eq "bad resourceVersion" 400 "$RC"
api GET "$CMS?watch=true&labelSelector=a%20in%20(b"
assert_eq "bad labelSelector" 400 "$RC"

# Watchers that hang up leave no connection behind, and a watch that is still open gets events.
# Sockets only: the store may open (and keep) reader connections to its database meanwhile.
fds() { find /proc/$SERVER_PID/fd -lname "socket:*" | wc -l; }
fds_at_least() { (($(fds) >= $1)); }
fds_at_most() { (($(fds) <= $1)); }
base=$(fds)
pids=()
for i in $(seq 50); do curl -sN "$URL/api/v1/pods?watch=true" >/dev/null & pids+=($!); done
wait_until 10 fds_at_least $((base + 50)) || fail "50 watches did not connect: $(fds) sockets, $base before"
api POST $CMS "$(cm while-watched)"
assert_eq "a write while 50 watches are open" 201 "$RC"
kill "${pids[@]}"
wait "${pids[@]}" 2>/dev/null || true
wait_until 10 fds_at_most "$base" || fail "connections left open after the watchers hung up: $(fds) sockets, $base before"
ok "50 watchers hung up: the server is back to $base sockets"

stop_server
