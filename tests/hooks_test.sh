# Tests OCI hooks: every kind runs at its stage with the state on stdin, in order; failing and timed-out hooks fail create cleanly.
source "$(dirname "$0")/lib.sh"

HOOKS=$TMP/hooks # host dir, also bind-mounted at /mnt for the in-container startContainer hook
LOG=$HOOKS/log
mkdir -p "$HOOKS"
cat >"$HOOKS/hook.sh" <<'HOOK'
# Appends "KIND STATE-JSON" (newlines dropped: one line per hook) to LOGFILE: hook.sh KIND LOGFILE
printf '%s %s\n' "$1" "$(tr -d '\n')" >>"$2"
HOOK

# host_hook KIND / container_hook KIND: hook JSON objects (the latter resolves inside the container).
host_hook() { printf '{"path": "/bin/sh", "args": ["sh", "%s", "%s", "%s"], "env": ["SKIFF_TEST_MARK=%s"]}' "$HOOKS/hook.sh" "$1" "$LOG" "$SKIFF_TEST_MARK"; }
container_hook() { printf '{"path": "/bin/sh", "args": ["sh", "/mnt/hook.sh", "%s", "/mnt/log"]}' "$1"; }

logged_kinds() { [[ -f $LOG ]] && awk '{print $1}' "$LOG" | paste -sd' ' || true; }

check_all_hooks_in_order() {
    local kind line
    new_id
    bundle_for "$ID" \
        ".mounts += [{\"destination\": \"/mnt\", \"type\": \"bind\", \"source\": \"$HOOKS\", \"options\": [\"rbind\", \"rw\"]}]" \
        ".hooks = {prestart: [$(host_hook prestart)], createRuntime: [$(host_hook createRuntime)],
                   createContainer: [$(host_hook createContainer)], startContainer: [$(container_hook startContainer)],
                   poststart: [$(host_hook poststart)], poststop: [$(host_hook poststop)]}" \
        -- sleep 1000
    capture oci create --bundle "$BUNDLE" "$ID"
    assert_rc "hooks: create" 0
    # runc 1.1.5 already runs poststart during create (and so before startContainer): fails on runc.
    assert_eq "hooks after create" "prestart createRuntime createContainer" "$(logged_kinds)"
    capture oci start "$ID"
    assert_rc "hooks: start" 0
    wait_until 5 eval '[[ $(logged_kinds) == *poststart* ]]' || true
    assert_eq "hooks after start" "prestart createRuntime createContainer startContainer poststart" "$(logged_kinds)"
    capture oci kill "$ID" KILL
    wait_status "$ID" stopped
    capture oci delete "$ID"
    assert_rc "hooks: delete" 0
    assert_eq "hooks after delete (all, in order)" \
        "prestart createRuntime createContainer startContainer poststart poststop" "$(logged_kinds)"
    [[ -f $LOG ]] || return 0
    while read -r kind line; do
        if jq -e --arg id "$ID" --arg b "$BUNDLE" '.id == $id and .bundle == $b and (.ociVersion | length > 0)' <<<"$line" >/dev/null 2>&1; then
            ok "$kind hook got the state JSON on stdin"
        else
            fail "$kind hook stdin is not the state of $ID: $line"
        fi
    done <"$LOG"
}

check_failing_prestart() {
    new_id
    bundle_for "$ID" '.hooks = {prestart: [{"path": "/bin/sh", "args": ["sh", "-c", "exit 1"]}]}' -- sleep 1000
    capture oci create --bundle "$BUNDLE" "$ID"
    assert_nonzero_rc "failing prestart hook fails create"
    assert_nothing_left "failing prestart" "$ID"
}

check_hook_timeout() {
    local start elapsed
    new_id
    bundle_for "$ID" ".hooks = {prestart: [{\"path\": \"/bin/sleep\", \"args\": [\"sleep\", \"5\"], \"timeout\": 1, \"env\": [\"SKIFF_TEST_MARK=$SKIFF_TEST_MARK\"]}]}" -- sleep 1000
    start=$(date +%s%N)
    capture oci create --bundle "$BUNDLE" "$ID"
    elapsed=$((($(date +%s%N) - start) / 1000000))
    assert_nonzero_rc "hook timeout fails create"
    ((elapsed < 2500)) && ok "hook timeout: create failed after ${elapsed} ms" || fail "hook timeout: create took ${elapsed} ms (timeout 1 s)"
    assert_nothing_left "hook timeout" "$ID"
}

check_all_hooks_in_order
check_failing_prestart
check_hook_timeout
