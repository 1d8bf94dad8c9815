# Tests error handling: invalid config.json and failures injected at each create step exit non-zero, name the problem, leave nothing behind.
source "$(dirname "$0")/lib.sh"

# expect_create_error LABEL ERE [jq-filter...]: create with the filters fails with exit 1, stderr
# matches ERE (case-insensitive; runc's wording differs from skiff's, so match loosely), nothing left.
expect_create_error() {
    local label=$1 pattern=$2
    shift 2
    new_id
    bundle_for "$ID" "$@" -- true
    capture oci create --bundle "$BUNDLE" "$ID"
    assert_rc "$label: exit 1" 1
    assert_match "$label: message names it" "$pattern" "$ERR"
    if [[ $RC == 0 ]]; then oci delete --force "$ID" >/dev/null 2>&1 || true; return; fi # accepted by mistake
    assert_nothing_left "$label" "$ID"
}

# expect_create_failure LABEL [jq-filter...]: create fails (non-zero) and leaves nothing behind.
expect_create_failure() {
    local label=$1
    shift
    new_id
    bundle_for "$ID" "$@" -- true
    capture oci create --bundle "$BUNDLE" "$ID"
    assert_nonzero_rc "$label: create fails"
    if [[ $RC == 0 ]]; then oci delete --force "$ID" >/dev/null 2>&1 || true; return; fi # accepted by mistake
    assert_nothing_left "$label" "$ID"
}

check_json_syntax_error() {
    new_id
    bundle_for "$ID" -- true
    printf '{"ociVersion": "1.0.2", "process": {' >"$BUNDLE/config.json"
    capture oci create --bundle "$BUNDLE" "$ID"
    assert_rc "syntax error: exit 1" 1
    # runc says only "unexpected EOF"; skiff names config.json and the offset.
    assert_match "syntax error: message says what is wrong" 'json|syntax|parse|unexpected' "$ERR"
    assert_nothing_left "syntax error" "$ID"
}

check_invalid_configs() {
    expect_create_error "process.args wrong type" 'args' '.process.args = "sh"'
    # runc 1.1.5 takes a missing root.path as the bundle dir and fails later, at exec: fails on runc.
    expect_create_error "missing root.path" 'root' 'del(.root.path)'
    # runc 1.1.5 does not require ociVersion (it creates the container): fails on runc.
    expect_create_error "missing ociVersion" 'ociVersion' 'del(.ociVersion)'
    expect_create_error "unknown namespace type" 'foo' '.linux.namespaces += [{"type": "foo"}]'
    # runc 1.1.5 only warns about unknown capabilities and creates the container: fails on runc.
    expect_create_error "unknown capability" 'CAP_FOO' '.process.capabilities.bounding += ["CAP_FOO"]'
    expect_create_error "bad seccomp action" 'SCMP_ACT_FOO' \
        '.linux.seccomp = {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["getcwd"], "action": "SCMP_ACT_FOO"}]}'
    expect_create_error "rootfs does not exist" 'rootfs|root|no such file' ".root.path = \"$TMP/no-such-rootfs\""
}

check_ids() {
    local first
    new_id
    first=$ID
    create_in "$first" -- sleep 1000
    new_id
    capture oci create --bundle "$BUNDLE" "$first"
    assert_rc "duplicate id: exit 1" 1
    # runc 1.1.5 does not name the id in these two messages: fails on runc.
    assert_contains "duplicate id: message names the id" "$ERR" "$first"
    capture oci delete --force "$first"
    capture oci state "t-$$-unknown"
    assert_rc "unknown id: exit 1" 1
    assert_contains "unknown id: message names the id" "$ERR" "t-$$-unknown"
}

check_injected_failures() {
    local rootfs
    expect_create_failure "bind mount source missing" \
        ".mounts += [{\"destination\": \"/mnt\", \"type\": \"bind\", \"source\": \"$TMP/no-such-dir\", \"options\": [\"rbind\"]}]"
    # runc creates a missing cwd when it can (before making the rootfs read-only), which would write
    # to the shared rootfs; an immutable private copy makes create fail for every runtime.
    rootfs=$(writable_rootfs cwd)
    chattr +i "$rootfs" || fail "cwd case: chattr +i $rootfs failed (filesystem without attributes?)"
    on_cleanup chattr -i "$rootfs"
    expect_create_failure "cwd does not exist" ".root.path = \"$rootfs\"" '.process.cwd = "/no-such-cwd"'
    expect_create_failure "args[0] not in rootfs" '.process.args = ["/no-such-binary"]'
    expect_create_failure "invalid sysctl value" '.linux.sysctl = {"net.ipv4.ip_forward": "not-a-number"}'
    expect_create_failure "cpuset.cpus rejected by the kernel" '.linux.resources.cpu = {"cpus": "999"}'
    expect_create_failure "failing prestart hook" '.hooks = {prestart: [{"path": "/bin/false", "args": ["false"]}]}'
}

check_json_syntax_error
check_invalid_configs
check_ids
check_injected_failures
