# Shared by the tests of skiff's image and container commands (source after lib.sh): the skiff
# binary and a store, a real docker-registry on 127.0.0.1, and images made with umoci from the
# busybox rootfs.

SKIFF=$SKIFF_BUILD/bin/skiff
[[ -x $SKIFF ]] || die "skiff binary missing: $SKIFF"
STORE=$TMP/skiff-root
sk() { timeout -k 5 "${SKIFF_TIMEOUT:-120}" "$SKIFF" --root "$STORE" "$@"; }

require_tools() { # TOOL...
    local tool
    for tool in "$@"; do
        command -v "$tool" >/dev/null || die "$tool is not installed (tools/setup installs it)"
    done
}

# start_registry DIR [--tls] [--htpasswd U:P]: sets REGISTRY=127.0.0.1:PORT; stopped at cleanup.
# (Not in a $(...): the cleanup must be registered in the test's own shell.)
start_registry() {
    local dir=$1
    shift
    # The registry must not carry the test mark, or the leak check would count it.
    REGISTRY=$(env -u SKIFF_TEST_MARK "$FIXTURES/registry" start "$dir" "$@") ||
        die "registry did not start"
    on_cleanup "'$FIXTURES/registry' stop '$dir'"
}

# umoci_image LAYOUT:TAG: a one-layer image of the busybox rootfs in an OCI layout.
umoci_image() {
    local image=$1 bundle=$TMP/umoci-bundle-$RANDOM
    [[ -f $ROOTFS/bin/busybox ]] || "$FIXTURES/make-rootfs" "$ROOTFS" >/dev/null
    [[ -d ${image%:*} ]] || umoci init --layout "${image%:*}"
    umoci new --image "$image"
    umoci unpack --image "$image" "$bundle" >/dev/null
    cp -a "$ROOTFS/." "$bundle/rootfs/"
    umoci repack --image "$image" "$bundle"
    rm -rf "$bundle"
}

# umoci_layer LAYOUT:TAG COMMAND: adds a layer with what COMMAND (run in the unpacked rootfs) changes.
umoci_layer() {
    local image=$1 command=$2 bundle=$TMP/umoci-bundle-$RANDOM
    umoci unpack --image "$image" "$bundle" >/dev/null
    (cd "$bundle/rootfs" && eval "$command")
    umoci repack --image "$image" "$bundle"
    rm -rf "$bundle"
}

# push_image LAYOUT:TAG REF: to the test registry, plain HTTP.
push_image() {
    skopeo copy -q --dest-tls-verify=false "oci:$1" "docker://$2"
}
