# Tests `skiff image import|export` (and docker's names, load and save) against skopeo and umoci:
# OCI layouts as directories and tars, docker-archive tars and root filesystem tars, in both
# directions, run with `skiff run`; and bad archives, which must leave the store as it was.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/lib_images.sh"
require_tools skopeo umoci jq tar

# Two layers: the busybox rootfs, then one that adds /etc/message and deletes /bin/vi.
LAYOUT=$TMP/oci
umoci_image "$LAYOUT:v1"
umoci_layer "$LAYOUT:v1" 'echo "from umoci" >etc/message; rm -f bin/vi'
umoci config --image "$LAYOUT:v1" --config.cmd sh
UMOCI_DIGEST=$(jq -r '.manifests[] | select(.annotations["org.opencontainers.image.ref.name"] == "v1") | .digest' "$LAYOUT/index.json")

# run_message IMAGE LABEL: the image runs and shows the second layer's file, not the deleted one.
run_message() {
    capture sk run --rm "$1" sh -c 'cat /etc/message; test -e /bin/vi || echo vi-deleted'
    assert_rc "$2: runs" 0
    assert_eq "$2: both layers and the whiteout" "from umoci
vi-deleted" "$OUT"
}

check_import_umoci_layout() {
    capture sk image import "$LAYOUT:v1" local/umoci:v1
    assert_rc "import of umoci's layout directory" 0
    assert_eq "the manifest digest is umoci's" "$UMOCI_DIGEST" "$OUT"
    run_message local/umoci:v1 "umoci layout"
    capture sk image inspect local/umoci:v1
    assert_eq "inspect: two layers" 2 "$(jq '.Layers | length' <<<"$OUT")"
}

check_import_skopeo_archives() {
    skopeo copy -q "oci:$LAYOUT:v1" "oci-archive:$TMP/skopeo-oci.tar:v1"
    capture sk image import --name local/ociarchive:v1 "$TMP/skopeo-oci.tar"
    assert_rc "import of skopeo's oci-archive" 0
    assert_eq "oci-archive: same manifest digest" "$UMOCI_DIGEST" "$OUT"
    run_message local/ociarchive:v1 "oci-archive"

    skopeo copy -q "oci:$LAYOUT:v1" "docker-archive:$TMP/skopeo-docker.tar:example.com/skopeo/busybox:v1"
    capture sk load -i "$TMP/skopeo-docker.tar"
    assert_rc "load of skopeo's docker-archive" 0
    assert_contains "docker-archive: named by RepoTags" "$ERR" "example.com/skopeo/busybox:v1"
    run_message example.com/skopeo/busybox:v1 "docker-archive"
    capture sk image inspect example.com/skopeo/busybox:v1
    local ours theirs
    ours=$(jq -c '[.Layers[].diffID]' <<<"$OUT")
    theirs=$(skopeo inspect --config "oci:$LAYOUT:v1" | jq -c '.rootfs.diff_ids')
    assert_eq "docker-archive: the same diff ids" "$theirs" "$ours"
}

check_export() {
    capture sk image export local/umoci:v1 "$TMP/out-oci.tar"
    assert_rc "export to an OCI archive (DEST.tar)" 0
    capture skopeo inspect --format '{{.Digest}}' "oci-archive:$TMP/out-oci.tar:v1"
    assert_rc "skopeo inspects the OCI archive" 0
    assert_eq "OCI archive: digest unchanged" "$UMOCI_DIGEST" "$OUT"

    capture sk image export --format oci-dir local/umoci:v1 "$TMP/out-dir"
    assert_rc "export to an OCI layout directory" 0
    capture skopeo inspect --format '{{.Digest}}' "oci:$TMP/out-dir:v1"
    assert_eq "OCI directory: digest unchanged" "$UMOCI_DIGEST" "$OUT"
    capture skopeo copy -q "oci:$TMP/out-dir:v1" "oci:$TMP/copied:v1"
    assert_rc "skopeo copies from the exported layout" 0
    capture umoci unpack --image "$TMP/out-dir:v1" "$TMP/bundle"
    assert_rc "umoci unpacks the exported layout" 0
    assert_eq "umoci: the second layer's file" "from umoci" "$(cat "$TMP/bundle/rootfs/etc/message" 2>&1)"
    [[ ! -e $TMP/bundle/rootfs/bin/vi ]] && ok "umoci: the whiteout applied" || fail "umoci: /bin/vi is back"

    capture sk save -o "$TMP/out-docker.tar" local/umoci:v1
    assert_rc "save (docker-archive)" 0
    capture skopeo inspect --config "docker-archive:$TMP/out-docker.tar"
    assert_rc "skopeo inspects the docker-archive" 0
    assert_eq "docker-archive: the same diff ids" \
        "$(skopeo inspect --config "oci:$LAYOUT:v1" | jq -c '.rootfs.diff_ids')" \
        "$(jq -c '.rootfs.diff_ids' <<<"$OUT")"
    capture skopeo copy -q "docker-archive:$TMP/out-docker.tar" "oci:$TMP/from-docker:x"
    assert_rc "skopeo copies the docker-archive" 0
    capture umoci unpack --image "$TMP/from-docker:x" "$TMP/bundle2"
    assert_eq "docker-archive via skopeo and umoci: the file" "from umoci" \
        "$(cat "$TMP/bundle2/rootfs/etc/message" 2>&1)"

    # And back: skiff reads what it wrote, into another store.
    local other=$TMP/other-store
    capture timeout 60 "$SKIFF" --root "$other" image import "$TMP/out-oci.tar"
    assert_rc "skiff imports its own OCI archive (named by the archive)" 0
    assert_eq "own OCI archive: same digest" "$UMOCI_DIGEST" "$OUT"
    assert_contains "own OCI archive: the image's name" "$ERR" "docker.io/local/umoci:v1"
}

check_rootfs() {
    tar -C "$ROOTFS" -cf "$TMP/rootfs.tar" .
    capture sk image import "$TMP/rootfs.tar" local/rootfs:plain
    assert_rc "import of a root filesystem tar" 0
    capture sk run --rm local/rootfs:plain /bin/busybox true
    assert_rc "the root filesystem image runs /bin/busybox true" 0
    tar -C "$ROOTFS" -czf "$TMP/rootfs.tar.gz" .
    capture sk image import "$TMP/rootfs.tar.gz" local/rootfs:gz
    assert_rc "import of a gzip root filesystem tar" 0
    capture sk run --rm local/rootfs:gz /bin/busybox echo gzip-rootfs
    assert_eq "the gzip root filesystem image runs" gzip-rootfs "$OUT"
    capture sk image inspect local/rootfs:gz
    assert_eq "one layer, stored as given" "application/vnd.oci.image.layer.v1.tar+gzip" \
        "$(jq -r '.Layers[0].mediaType' <<<"$OUT")"
}

check_bad_inputs() {
    local before
    before=$(sk image ls)
    head -c 20000 /dev/urandom >"$TMP/garbage.tar"
    capture sk image import "$TMP/garbage.tar" local/bad:1
    assert_nonzero_rc "garbage is refused"
    assert_contains "garbage: says so" "$ERR" "import $TMP/garbage.tar: not a tar archive"

    local layer missing=$TMP/missing tampered=$TMP/tampered
    layer=$(jq -r '.layers[1].digest' "$LAYOUT/blobs/sha256/${UMOCI_DIGEST#sha256:}")
    cp -a "$LAYOUT" "$missing"
    rm "$missing/blobs/sha256/${layer#sha256:}"
    capture sk image import "$missing:v1" local/bad:2
    assert_nonzero_rc "a missing blob is refused"
    assert_contains "missing blob: named" "$ERR" "blobs/sha256/${layer#sha256:}: not in the archive"

    # Into an empty store: blobs a store already has are not read from the archive again.
    cp -a "$LAYOUT" "$tampered"
    printf 'X' | dd of="$tampered/blobs/sha256/${layer#sha256:}" bs=1 seek=100 conv=notrunc status=none
    local fresh=$TMP/fresh-store
    capture timeout 60 "$SKIFF" --root "$fresh" image import "$tampered:v1" local/bad:3
    assert_nonzero_rc "a tampered blob is refused"
    assert_contains "tampered blob: digest mismatch" "$ERR" "blobs/sha256/${layer#sha256:}: digest mismatch"
    assert_eq "tampered blob: nothing committed" "" "$(find "$fresh/blobs/sha256" "$fresh/ingest" -mindepth 1)"

    # An entry climbing out of the archive, appended to skopeo's valid archive.
    cp "$TMP/skopeo-oci.tar" "$TMP/evil.tar"
    mkdir -p "$TMP/evil-src/sub" && echo owned >"$TMP/evil-src/x"
    tar -C "$TMP/evil-src/sub" -P -rf "$TMP/evil.tar" ../x
    capture sk image import "$TMP/evil.tar" local/bad:4
    assert_nonzero_rc "an entry named ../x is refused"
    assert_contains "../x: named" "$ERR" '"../x": ".." in the path'

    capture sk image import "$TMP/skopeo-oci.tar"
    assert_nonzero_rc "a layout naming its image only by tag needs a NAME"
    assert_contains "asks for a NAME" "$ERR" "give a NAME"
    capture sk image import "$TMP/skopeo-oci.tar:nope" local/bad:5
    assert_nonzero_rc "an unknown ref.name is refused"
    assert_contains "unknown ref.name: named" "$ERR" 'no image named "nope"'

    assert_eq "image ls unchanged by the bad imports" "$before" "$(sk image ls)"
    assert_eq "no temp files left in the store" "" "$(ls -A "$STORE/ingest")"

    capture sk image export local/never:pulled "$TMP/never.tar"
    assert_nonzero_rc "export of an unknown image"
    [[ ! -e $TMP/never.tar ]] && ok "failed export: no DEST" || fail "failed export left $TMP/never.tar"
    mkdir -p "$TMP/full" && echo mine >"$TMP/full/keep"
    capture sk image export --format oci-dir local/umoci:v1 "$TMP/full"
    assert_nonzero_rc "export into a non-empty directory is refused"
    assert_eq "the directory is untouched" keep "$(ls "$TMP/full")"
    assert_eq "no temp files beside DEST" "" "$(ls -A "$TMP" | grep '\.tmp-' || true)"
}

check_import_umoci_layout
check_import_skopeo_archives
check_export
check_rootfs
check_bad_inputs
