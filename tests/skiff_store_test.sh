# The image store through the skiff CLI under stress: two pulls of one image at once, a pull racing
# `image rm` + `prune`, pulls killed at any moment, a full disk, and registries that serve bad
# content (a tampered blob, a malformed manifest, an unsupported manifest type, wrong credentials).
# After each, the store must be as it was or complete: nothing half-done counts as present.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/lib_images.sh"
require_tools docker-registry skopeo umoci python3
REG=$TMP/registry
start_registry "$REG"
ADDR=$REGISTRY

# build_image NAME [RANDOM_MB]: the busybox rootfs, plus a layer of incompressible data, pushed.
build_image() {
    local name=$1 mb=${2:-0} layout=$TMP/oci-$1
    umoci_image "$layout:v1"
    ((mb == 0)) || umoci_layer "$layout:v1" "head -c ${mb}M /dev/urandom >data.bin"
    umoci config --image "$layout:v1" --config.cmd sh
    push_image "$layout:v1" "$ADDR/store/$name:v1"
}
build_image small
build_image big 24
SMALL=$ADDR/store/small:v1
BIG=$ADDR/store/big:v1

refs() { jq -cS .refs "$STORE/refs.json" 2>/dev/null || echo '{}'; }
ingest_left() { find "$STORE/ingest" -mindepth 1 2>/dev/null | head -5; }
# Unpacks in progress fill snapshots/.tmp-*; snapshots/.lock-* serialise them until a prune.
snapshot_temps() { find "$STORE/snapshots" -mindepth 1 -maxdepth 1 -name "${1:-.tmp-*}" 2>/dev/null | head -5; }
# Every ref the store lists must run: its manifest, config and layers are all there.
check_every_image_runs() {
    local label=$1 name
    for name in $(jq -r '.refs | keys[]' "$STORE/refs.json" 2>/dev/null); do
        capture sk run --rm "$name" /bin/true
        assert_rc "$label: $name runs" 0
    done
}

check_two_pulls_at_once() {
    local a b
    sk image pull -q --tls-verify=false "$BIG" >"$TMP/pull-a" 2>&1 &
    a=$!
    sk image pull -q --tls-verify=false "$BIG" >"$TMP/pull-b" 2>&1 &
    b=$!
    wait "$a" && ok "first of two concurrent pulls" || fail "first concurrent pull: $(cat "$TMP/pull-a")"
    wait "$b" && ok "second of two concurrent pulls" || fail "second concurrent pull: $(cat "$TMP/pull-b")"
    assert_eq "both pulls report the same digest" "$(tail -1 "$TMP/pull-a")" "$(tail -1 "$TMP/pull-b")"
    capture sk run --rm "$BIG" sh -c 'wc -c < /data.bin'
    assert_eq "the image pulled twice at once is complete" "$((24 * 1024 * 1024))" "$OUT"
    assert_eq "no ingest temp left" "" "$(ingest_left)"
    assert_eq "no unpack temp left" "" "$(snapshot_temps)"
}

# image rm + prune race a pull of the same image: whatever order wins, the store is consistent.
check_pull_during_rm() {
    local round p
    for round in 1 2 3; do
        sk image pull -q --tls-verify=false "$BIG" >"$TMP/pull-r" 2>&1 &
        p=$!
        sleep "0.0$((round * 3))"
        sk image rm "$BIG" >/dev/null 2>&1 || true
        sk image prune >/dev/null 2>&1 || true
        wait "$p" || fail "pull racing rm (round $round): $(cat "$TMP/pull-r")"
        check_every_image_runs "after a pull raced rm+prune (round $round)"
    done
    capture sk image pull -q --tls-verify=false "$BIG"
    assert_rc "a pull after the races" 0
    capture sk run --rm "$BIG" sh -c 'wc -c < /data.bin'
    assert_eq "the image after the races is complete" "$((24 * 1024 * 1024))" "$OUT"
}

# A pull killed with SIGKILL at several moments (download, unpack, ref): the image is either
# absent or complete, and prune sweeps the killed pull's temp files.
check_killed_pulls() {
    local delay p before
    sk image rm "$BIG" >/dev/null 2>&1 || true
    sk image prune >/dev/null
    before=$(refs)
    for delay in 0.02 0.08 0.15 0.25 0.4; do
        sk image pull -q --tls-verify=false "$BIG" >/dev/null 2>&1 &
        p=$!
        sleep "$delay"
        # timeout(1) runs skiff as its child: kill the pull itself, as a crash would.
        pkill -KILL -P "$p" -x skiff 2>/dev/null || true
        wait "$p" 2>/dev/null || true
        if [[ $(refs) == "$before" ]]; then
            ok "pull killed after ${delay}s: no ref"
        else
            check_every_image_runs "pull killed after ${delay}s, yet complete"
            sk image rm "$BIG" >/dev/null 2>&1 || true
        fi
        capture sk image prune
        assert_rc "prune after a pull killed at ${delay}s" 0
        assert_eq "pull killed at ${delay}s: no ingest temp after prune" "" "$(ingest_left)"
        assert_eq "pull killed at ${delay}s: no unpack temp or lock after prune" "" "$(snapshot_temps '.*')"
        assert_eq "pull killed at ${delay}s: refs as before" "$before" "$(refs)"
    done
    capture sk image pull -q --tls-verify=false "$BIG"
    assert_rc "a pull after the kills" 0
    capture sk run --rm "$BIG" sh -c 'wc -c < /data.bin'
    assert_eq "the image after the kills is complete" "$((24 * 1024 * 1024))" "$OUT"
}

# A store on a 16 MB tmpfs: the small image fits, the 24 MB one doesn't.
check_full_disk() {
    local small_store=$TMP/full before_refs before_files
    mkdir -p "$small_store"
    mount -t tmpfs -o size=16m skiff-test "$small_store" || die "mount tmpfs"
    capture timeout 60 "$SKIFF" --root "$small_store" image pull -q --tls-verify=false "$SMALL"
    assert_rc "small image fits the small disk" 0
    before_refs=$(jq -cS . "$small_store/refs.json")
    timeout 60 "$SKIFF" --root "$small_store" image prune >/dev/null
    before_files=$(cd "$small_store" && find blobs snapshots -type f | sort | md5sum)
    capture timeout 60 "$SKIFF" --root "$small_store" image pull -q --tls-verify=false "$BIG"
    assert_nonzero_rc "pull onto a full disk fails"
    assert_contains "full disk: the error names the image" "$ERR" "store/big"
    assert_contains "full disk: the error says why" "$ERR" "No space left on device"
    assert_eq "full disk: refs as before" "$before_refs" "$(jq -cS . "$small_store/refs.json")"
    assert_eq "full disk: no temp left" "" "$(find "$small_store/ingest" -mindepth 1 | head -3)"
    # Blobs verified before the disk filled stay (a retry reuses them) but no ref reaches them:
    # prune takes the store back to exactly what it was.
    capture timeout 60 "$SKIFF" --root "$small_store" image prune
    assert_rc "full disk: prune" 0
    assert_eq "full disk: after prune, the same blob and snapshot files as before" "$before_files" \
        "$(cd "$small_store" && find blobs snapshots -type f | sort | md5sum)"
    capture timeout 60 "$SKIFF" --root "$small_store" run --rm "$SMALL" /bin/true
    assert_rc "full disk: the image already there still runs" 0
    umount "$small_store"
}

# The real registry serving a layer whose bytes were changed in its storage.
check_tampered_blob() {
    build_image tampered 1
    local img=$ADDR/store/tampered:v1 layer data before
    # The data layer: the busybox layer below it is shared with images already pulled.
    layer=$(skopeo inspect --tls-verify=false "docker://$img" | jq -r '.Layers[-1]')
    data=$(find "$REG/data" -path "*/blobs/sha256/*/${layer#sha256:}/data")
    [[ -f $data ]] || die "layer $layer not found in the registry's storage"
    printf 'tampered' | dd of="$data" bs=1 seek=100 conv=notrunc status=none
    before=$(refs)
    capture sk image pull --tls-verify=false "$img"
    assert_nonzero_rc "tampered layer refused"
    assert_contains "tampered: the error names the image" "$ERR" "store/tampered"
    assert_contains "tampered: the error names the layer" "$ERR" "$layer"
    assert_eq "tampered: refs as before" "$before" "$(refs)"
    assert_eq "tampered: no temp left" "" "$(ingest_left)"
    [[ ! -e $STORE/blobs/sha256/${layer#sha256:} ]] && ok "tampered: the layer is not stored" ||
        fail "tampered: the bad layer was stored"
}

# Content a real registry refuses to serve comes from a static file server speaking just enough of
# the distribution API for a pull: /v2/ and manifests, with the Content-Type each file names.
start_static_registry() {
    local dir=$1 port
    mkdir -p "$dir/v2"
    echo '{}' >"$dir/v2/index"
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    env -u SKIFF_TEST_MARK python3 "$FIXTURES/static-registry" "$dir" "$port" 2>"$dir.log" &
    echo $! >"$dir.pid"
    on_cleanup "kill $(cat "$dir.pid")"
    wait_until 10 curl -fsS "http://127.0.0.1:$port/v2/" -o /dev/null || die "static registry did not start"
    STATIC=127.0.0.1:$port
}

check_bad_manifests() {
    local dir=$TMP/static before
    start_static_registry "$dir"
    mkdir -p "$dir/v2/bad/manifests"
    printf '{"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json", "layers": [' \
        >"$dir/v2/bad/manifests/malformed"
    echo application/vnd.oci.image.manifest.v1+json >"$dir/v2/bad/manifests/malformed.type"
    printf '{"schemaVersion": 1, "name": "bad", "tag": "v1", "architecture": "amd64", "fsLayers": [], "history": []}' \
        >"$dir/v2/bad/manifests/schema1"
    echo application/vnd.docker.distribution.manifest.v1+prettyjws >"$dir/v2/bad/manifests/schema1.type"
    before=$(refs)
    capture sk image pull --tls-verify=false "$STATIC/bad:malformed"
    assert_nonzero_rc "malformed manifest refused"
    assert_contains "malformed manifest: the error names the image" "$ERR" "bad:malformed"
    assert_match "malformed manifest: the error says what is wrong" "parse|json|malformed" "$ERR"
    capture sk image pull --tls-verify=false "$STATIC/bad:schema1"
    assert_nonzero_rc "schema 1 manifest refused"
    assert_contains "schema 1: the error names the image" "$ERR" "bad:schema1"
    assert_contains "schema 1: the error names the media type" "$ERR" "manifest.v1+prettyjws"
    assert_eq "bad manifests: refs as before" "$before" "$(refs)"
}

check_wrong_credentials() {
    local reg=$TMP/auth-registry addr before
    start_registry "$reg" --tls --htpasswd alice:secret
    addr=$REGISTRY
    skopeo copy -q --dest-cert-dir "$reg/tls" --dest-creds alice:secret \
        "oci:$TMP/oci-small:v1" "docker://$addr/store/small:v1" 2>/dev/null ||
        skopeo copy -q --dest-tls-verify=false --dest-creds alice:secret \
            "oci:$TMP/oci-small:v1" "docker://$addr/store/small:v1"
    before=$(refs)
    capture sk image pull --cert-file "$reg/tls/ca.crt" --creds alice:wrong "$addr/store/small:v1"
    assert_nonzero_rc "wrong password refused"
    assert_contains "wrong password: the error names the image" "$ERR" "store/small"
    assert_match "wrong password: the error says it is about credentials" "unauthori[sz]ed|credentials|401" "$ERR"
    capture sk image pull --cert-file "$reg/tls/ca.crt" "$addr/store/small:v1"
    assert_nonzero_rc "no credentials refused"
    capture sk image pull "$addr/store/small:v1"
    assert_nonzero_rc "unknown CA refused"
    assert_match "unknown CA: the error says TLS" "TLS|certificate" "$ERR"
    assert_eq "failed logins: refs as before" "$before" "$(refs)"
    capture sk image pull -q --cert-file "$reg/tls/ca.crt" --creds alice:secret "$addr/store/small:v1"
    assert_rc "right credentials and CA file" 0
    capture sk run --rm "$addr/store/small:v1" /bin/true
    assert_rc "the image pulled over TLS with basic auth runs" 0
}

check_two_pulls_at_once
check_pull_during_rm
check_killed_pulls
check_full_disk
check_tampered_blob
check_bad_manifests
check_wrong_credentials
