# Tests skiff's image commands and `skiff run` end to end: an image made with umoci, pushed with
# skopeo to a real docker-registry, pulled, run, inspected and removed by skiff.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/lib_images.sh"
require_tools docker-registry skopeo umoci
REG=$TMP/registry
start_registry "$REG"
ADDR=$REGISTRY

# Two layers: the busybox rootfs, then one that adds /etc/message and deletes /bin/vi.
make_image() {
    local layout=$TMP/oci
    umoci_image "$layout:v1"
    umoci_layer "$layout:v1" 'echo "layer two" >etc/message; rm -f bin/vi'
    umoci config --image "$layout:v1" --config.cmd sh --config.env GREETING=hello \
        --config.workingdir /tmp
    push_image "$layout:v1" "$ADDR/skiff/busybox:v1"
}
make_image
IMAGE=$ADDR/skiff/busybox:v1

check_pull_and_ls() {
    capture sk image pull --tls-verify=false "$IMAGE"
    assert_rc "pull" 0
    assert_match "pull prints the manifest digest" '^sha256:[0-9a-f]{64}$' "$OUT"
    local pushed
    pushed=$(skopeo inspect --tls-verify=false --format '{{.Digest}}' "docker://$IMAGE")
    assert_eq "pulled digest is the registry's" "$pushed" "$OUT"
    capture sk image ls
    assert_contains "image ls lists it" "$OUT" "$ADDR/skiff/busybox"
    capture sk image pull --tls-verify=false "$IMAGE"
    assert_rc "second pull" 0
    assert_contains "second pull finds it up to date" "$ERR" "up to date"
    capture sk image inspect "$IMAGE"
    assert_rc "inspect" 0
    assert_eq "inspect: two layers" 2 "$(jq '.Layers | length' <<<"$OUT")"
    assert_eq "inspect: the image's Cmd" '["sh"]' "$(jq -c '.Config.config.Cmd' <<<"$OUT")"
}

check_run() {
    capture sk run --rm "$IMAGE" sh -c 'cat /etc/message; echo $GREETING; pwd; test -e /bin/vi || echo vi-deleted; exit 4'
    assert_rc "run passes the exit code" 4
    assert_contains "run: second layer's file" "$OUT" "layer two"
    assert_contains "run: image env" "$OUT" hello
    assert_contains "run: image workdir" "$OUT" /tmp
    assert_contains "run: whiteout hides the deleted file" "$OUT" vi-deleted
    capture sk run --rm -e GREETING=bye -u 1000 -w / "$IMAGE" sh -c 'echo $GREETING; id -u; pwd'
    assert_eq "run: -e -u -w" "bye
1000
/" "$OUT"
    capture sk run --rm --read-only "$IMAGE" touch /newfile
    assert_nonzero_rc "run --read-only refuses writes"
    capture sk run --rm --memory 64m --pids-limit 20 "$IMAGE" sh -c 'cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/pids/pids.max'
    assert_eq "run --memory --pids-limit reach the cgroup" "67108864
20" "$OUT"
    capture sk run --rm --cap-drop ALL "$IMAGE" sh -c 'grep CapEff /proc/self/status'
    assert_contains "run --cap-drop ALL" "$OUT" "0000000000000000"
    local data=$TMP/volume
    mkdir -p "$data" && echo from-host >"$data/f"
    capture sk run --rm -v "$data:/data:ro" "$IMAGE" sh -c 'cat /data/f; touch /data/g'
    assert_contains "run -v: host file visible" "$OUT" from-host
    assert_nonzero_rc "run -v :ro refuses writes"
    [[ ! -e $data/g ]] && ok "run -v :ro: nothing written" || fail "run -v :ro: file written"
}

check_detached() {
    capture sk run -d --name web "$IMAGE" sh -c 'echo started; trap "echo stopping; exit 0" TERM; while :; do sleep 0.1; done'
    assert_rc "run -d" 0
    assert_match "run -d prints the id" '^[0-9a-f]{64}$' "$OUT"
    wait_until 10 sh -c "'$SKIFF' --root '$STORE' logs web | grep -q started" &&
        ok "logs shows output" || fail "logs never showed the output"
    capture sk ps
    assert_contains "ps lists web" "$OUT" web
    assert_contains "ps: Up" "$OUT" "Up"
    capture sk run -d --name web "$IMAGE" true
    assert_nonzero_rc "a second container named web is refused"
    assert_contains "name conflict named" "$ERR" web
    capture sk stop web
    assert_rc "stop" 0
    capture sk ps -a
    assert_match "ps -a: exited" 'Exited \(0\)' "$OUT"
    capture sk logs web
    assert_contains "logs after stop" "$OUT" stopping
    capture sk rm web
    assert_rc "rm" 0
    capture sk ps -a
    assert_not_contains "rm: gone" "$OUT" web
}

# What skiff pushes, skopeo reads back (and copies); skiff pulls its own push again.
check_push() {
    capture sk image push --tls-verify=false "$IMAGE" "$ADDR/skiff/pushed:v2"
    assert_rc "push" 0
    assert_match "push prints the manifest digest" '^sha256:[0-9a-f]{64}$' "$OUT"
    local pushed=$OUT
    capture skopeo inspect --tls-verify=false --format '{{.Digest}}' "docker://$ADDR/skiff/pushed:v2"
    assert_rc "skopeo inspect of skiff's push" 0
    assert_eq "skopeo sees the pushed digest" "$pushed" "$OUT"
    capture skopeo copy -q --src-tls-verify=false "docker://$ADDR/skiff/pushed:v2" "oci:$TMP/copied:v2"
    assert_rc "skopeo copy of skiff's push" 0
    capture sk run --rm --tls-verify=false "$ADDR/skiff/pushed:v2" cat /etc/message
    assert_eq "run of the pushed image (pulled back)" "layer two" "$OUT"
}

check_bad_input() {
    capture sk image pull --tls-verify=false "$ADDR/skiff/busybox:nope"
    assert_nonzero_rc "unknown tag"
    assert_contains "unknown tag named" "$ERR" "busybox:nope"
    capture sk image pull --tls-verify=false "NOT A REF"
    assert_nonzero_rc "malformed reference"
    assert_contains "malformed reference quoted" "$ERR" "NOT A REF"
    capture sk run --rm "$IMAGE" /no/such/program
    assert_nonzero_rc "missing program"
    assert_contains "missing program named" "$ERR" "/no/such/program"
    capture sk image rm "$ADDR/skiff/never:pulled"
    assert_nonzero_rc "rm of an unknown image"
}

check_rm_and_prune() {
    capture sk image rm "$IMAGE" "$ADDR/skiff/pushed:v2"
    assert_rc "image rm" 0
    capture sk image prune
    assert_rc "prune" 0
    assert_match "prune freed the layers" 'Removed [1-9][0-9]* blobs and 2 layers' "$OUT"
    assert_eq "no snapshot left" "" "$(ls -A "$STORE/snapshots" 2>/dev/null | grep -v '^\.' || true)"
}

check_registry_down() {
    "$FIXTURES/registry" stop "$REG"
    capture sk image pull "$IMAGE"
    assert_nonzero_rc "registry down"
    assert_contains "registry down: says so" "$ERR" "not reachable"
}

check_pull_and_ls
check_run
check_detached
check_push
check_bad_input
check_rm_and_prune
check_registry_down
