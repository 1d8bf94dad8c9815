# Tests the CLI edges: spec (default, --rootless, no overwrite), --systemd-cgroup, bad commands and options.
source "$(dirname "$0")/lib.sh"

check_spec_default() {
    local d=$TMP/spec-default
    mkdir -p "$d"
    capture "$SKIFF_OCI" spec --bundle "$d"
    assert_rc "spec" 0
    local c=$d/config.json
    assert_eq "spec: ociVersion" 1.2.0 "$(jq -r .ociVersion "$c")"
    assert_eq "spec: noNewPrivileges" true "$(jq -r .process.noNewPrivileges "$c")"
    assert_eq "spec: 14 bounding capabilities" 14 "$(jq '.process.capabilities.bounding | length' "$c")"
    assert_eq "spec: no ambient capabilities" 0 "$(jq '.process.capabilities.ambient // [] | length' "$c")"
    assert_eq "spec: seccomp denies by default" SCMP_ACT_ERRNO "$(jq -r .linux.seccomp.defaultAction "$c")"
    assert_eq "spec: /proc/kcore masked" true "$(jq '.linux.maskedPaths | index("/proc/kcore") != null' "$c")"
    assert_eq "spec: read-only root" true "$(jq -r .root.readonly "$c")"
    capture "$SKIFF_OCI" spec --bundle "$d"
    assert_rc "spec over an existing config.json" 1
    assert_contains "spec: refusal names the file" "$ERR" "config.json"
}

check_spec_rootless() {
    local d=$TMP/spec-rootless
    mkdir -p "$d"
    capture "$SKIFF_OCI" spec --rootless --bundle "$d"
    assert_rc "spec --rootless" 0
    local c=$d/config.json
    assert_eq "rootless: user namespace" true "$(jq '[.linux.namespaces[].type] | index("user") != null' "$c")"
    assert_eq "rootless: uid mapped to the caller" "0 $(id -u) 1" \
        "$(jq -r '.linux.uidMappings[0] | "\(.containerID) \(.hostID) \(.size)"' "$c")"
    assert_eq "rootless: no cgroup resources" null "$(jq -c '.linux.resources // null' "$c")"
    # As root the mapping is 0 -> 0: the rootless config runs, in a user namespace of its own.
    new_id
    BUNDLE=$TMP/bundle-$ID
    mkdir -p "$BUNDLE"
    cp "$c" "$BUNDLE/config.json"
    local tmpcfg=$BUNDLE/config.tmp
    jq --arg root "$ROOTFS" --arg mark "SKIFF_TEST_MARK=$SKIFF_TEST_MARK" \
        '.root.path = $root | .process.terminal = false | .process.env += [$mark]
         | .process.args = ["sh", "-c", "cat /proc/self/uid_map; readlink /proc/self/ns/user"]' \
        "$BUNDLE/config.json" >"$tmpcfg" && mv "$tmpcfg" "$BUNDLE/config.json"
    capture oci run --bundle "$BUNDLE" "$ID"
    assert_rc "rootless config runs" 0
    assert_match "rootless: uid_map inside" '^ *0 +0 +1$' "$(head -n 1 <<<"$OUT")"
    assert_ne "rootless: own user namespace" "$(readlink /proc/self/ns/user)" "$(tail -n 1 <<<"$OUT")"
}

check_systemd_cgroup() {
    if [[ -d /run/systemd/system ]]; then
        echo "SKIP (check): systemd runs here, so --systemd-cgroup is not an error"
        return
    fi
    new_id
    bundle_for "$ID" -- true
    capture "$SKIFF_OCI" --root "$ROOT" --systemd-cgroup create --bundle "$BUNDLE" "$ID"
    assert_rc "--systemd-cgroup without systemd" 1
    assert_match "--systemd-cgroup: message names systemd" "systemd" "$ERR"
    assert_nothing_left "systemd-cgroup" "$ID"
}

check_bad_invocations() {
    capture "$SKIFF_OCI" --root "$ROOT" frobnicate
    assert_rc "unknown command" 1
    assert_contains "unknown command named" "$ERR" frobnicate
    capture "$SKIFF_OCI" --no-such-option list
    assert_rc "unknown global option" 1
    assert_contains "unknown global option named" "$ERR" "--no-such-option"
    capture "$SKIFF_OCI" --root "$ROOT" create --bundle "$TMP"
    assert_rc "create without an id" 1
    assert_contains "missing id reported" "$ERR" "container id"
    capture "$SKIFF_OCI" --root "$ROOT" --log-format xml list
    assert_rc "bad --log-format" 1
    assert_contains "bad --log-format named" "$ERR" "xml"
    new_id
    capture "$SKIFF_OCI" --root "$ROOT" create --bundle "$TMP/no-such-bundle" "$ID"
    assert_rc "missing bundle" 1
    assert_contains "missing bundle named" "$ERR" "no-such-bundle"
    assert_nothing_left "missing bundle" "$ID"
    capture "$SKIFF_OCI" --root "$ROOT" kill "bad/id"
    assert_rc "invalid id" 1
    assert_contains "invalid id named" "$ERR" "bad/id"
}

# `run` forwards the signals it receives to the container's process and passes its exit code on.
check_run_forwards_signals() {
    new_id
    bundle_for "$ID" -- sh -c 'trap "echo got-term; exit 7" TERM; echo ready; while :; do sleep 0.05; done'
    local out=$TMP/forward.out rc=0 pid
    "$SKIFF_OCI" --root "$ROOT" run --bundle "$BUNDLE" "$ID" >"$out" 2>&1 </dev/null &
    pid=$!
    wait_until 10 grep -q ready "$out" || fail "run: container never became ready"
    kill -TERM "$pid"
    wait "$pid" || rc=$?
    assert_eq "run: exit code after a forwarded TERM" 7 "$rc"
    assert_contains "run: the container saw TERM" "$(<"$out")" got-term
    assert_eq "run: container removed after exit" "" "$(ls -A "$ROOT")"
}

check_spec_default
check_spec_rootless
check_run_forwards_signals
check_systemd_cgroup
check_bad_invocations
