# Tests the per-kind strategies of `skiff server` with the real kubectl and curl: invalid objects are
# refused with Kubernetes' 422 messages as kubectl prints them, `kubectl get -o json` shows Kubernetes'
# defaults, a pod's image may change while its ports may not, a deployment's selector is immutable, and
# values of the wrong JSON type are 422 causes, not crashes.
source "$(dirname "$0")/lib.sh"

source "$(dirname "$0")/apiserver_lib.sh"
start_server

deployment_yaml() { # NAME REPLICAS SELECTOR-APP
    cat <<YAML
apiVersion: apps/v1
kind: Deployment
metadata: {name: $1}
spec:
  replicas: $2
  selector: {matchLabels: {app: $3}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: web, image: busybox:1.36}]
YAML
}

check_invalid_deployments() {
    deployment_yaml bad -1 web >"$TMP/bad.yaml"
    capture k create -f "$TMP/bad.yaml"
    assert_rc "invalid replicas: refused" 1
    assert_contains "invalid replicas: Kubernetes' message" "$ERR" \
        'The Deployment "bad" is invalid: spec.replicas: Invalid value: -1: must be greater than or equal to 0'
    capture k get deploy bad
    assert_rc "invalid replicas: nothing stored" 1

    deployment_yaml mismatch 1 api >"$TMP/mismatch.yaml"
    capture k create -f "$TMP/mismatch.yaml"
    assert_rc "selector mismatch: refused" 1
    assert_contains "selector mismatch: Kubernetes' message" "$ERR" \
        'The Deployment "mismatch" is invalid: spec.template.metadata.labels: Invalid value: {"app":"web"}: `selector` does not match template `labels`'

    # Several causes: kubectl lists each.
    cat >"$TMP/several.yaml" <<'YAML'
apiVersion: apps/v1
kind: Deployment
metadata: {name: several}
spec:
  replicas: -2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      restartPolicy: Never
      containers: [{name: Web, image: busybox}]
YAML
    capture k create -f "$TMP/several.yaml"
    assert_rc "several errors: refused" 1
    assert_contains "several errors: replicas" "$ERR" '* spec.replicas: Invalid value: -2: must be greater than or equal to 0'
    assert_contains "several errors: container name" "$ERR" '* spec.template.spec.containers[0].name: Invalid value: "Web": a lowercase RFC 1123 label'
    assert_contains "several errors: restartPolicy" "$ERR" \
        '* spec.template.spec.restartPolicy: Unsupported value: "Never": supported values: "Always"'

    # The 422 body itself, as kube-apiserver sends it.
    api POST /apis/apps/v1/namespaces/default/deployments \
        '{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"typed"},"spec":{"replicas":"3","selector":{"matchLabels":{"app":"web"}},"template":{"metadata":{"labels":{"app":"web"}},"spec":{"containers":{"name":"web"}}}}}'
    assert_eq "wrong JSON types: 422" 422 "$RC"
    assert_eq "wrong JSON types: Invalid, details" "Invalid apps Deployment typed" \
        "$(jq -r '"\(.reason) \(.details.group) \(.details.kind) \(.details.name)"' <<<"$OUT")"
    assert_eq "wrong JSON types: the causes" \
        "FieldValueTypeInvalid spec.replicas|FieldValueTypeInvalid spec.template.spec.containers" \
        "$(jq -r '[.details.causes[] | "\(.reason) \(.field)"] | join("|")' <<<"$OUT")"
    api GET /version
    assert_eq "the server is still up" 200 "$RC"
}

check_defaults() {
    deployment_yaml web 2 web >"$TMP/web.yaml"
    capture k create -f "$TMP/web.yaml"
    assert_eq "a valid deployment is created" "deployment.apps/web created" "$OUT"
    capture k get deploy web -o json
    assert_eq "deployment defaults" "RollingUpdate 25% 25% 10 600" \
        "$(jq -r '.spec | "\(.strategy.type) \(.strategy.rollingUpdate.maxSurge) \(.strategy.rollingUpdate.maxUnavailable) \(.revisionHistoryLimit) \(.progressDeadlineSeconds)"' <<<"$OUT")"
    assert_eq "template defaults" "Always ClusterFirst 30 default-scheduler IfNotPresent /dev/termination-log File" \
        "$(jq -r '.spec.template.spec | "\(.restartPolicy) \(.dnsPolicy) \(.terminationGracePeriodSeconds) \(.schedulerName) \(.containers[0].imagePullPolicy) \(.containers[0].terminationMessagePath) \(.containers[0].terminationMessagePolicy)"' <<<"$OUT")"

    cat >"$TMP/pod.yaml" <<'YAML'
apiVersion: v1
kind: Pod
metadata: {name: web-pod}
spec:
  containers: [{name: web, image: busybox, ports: [{containerPort: 80}], resources: {limits: {cpu: 100m, memory: 32Mi}}}]
YAML
    capture k create -f "$TMP/pod.yaml"
    assert_rc "create a pod" 0
    capture k get pod web-pod -o json
    assert_eq "pod defaults" "Always ClusterFirst 30 default-scheduler true 0 Always TCP" \
        "$(jq -r '.spec | "\(.restartPolicy) \(.dnsPolicy) \(.terminationGracePeriodSeconds) \(.schedulerName) \(.enableServiceLinks) \(.priority) \(.containers[0].imagePullPolicy) \(.containers[0].ports[0].protocol)"' <<<"$OUT")"
    assert_eq "pod status: Pending, Guaranteed (requests from limits)" "Pending Guaranteed 100m" \
        "$(jq -r '"\(.status.phase) \(.status.qosClass) \(.spec.containers[0].resources.requests.cpu)"' <<<"$OUT")"

    capture k create service nodeport web --tcp=80:8080
    assert_rc "create a NodePort service" 0
    capture k get svc web -o json
    assert_eq "service defaults" "None Cluster Cluster SingleStack IPv4 TCP 8080" \
        "$(jq -r '.spec | "\(.sessionAffinity) \(.externalTrafficPolicy) \(.internalTrafficPolicy) \(.ipFamilyPolicy) \(.ipFamilies[0]) \(.ports[0].protocol) \(.ports[0].targetPort)"' <<<"$OUT")"

    capture k create namespace checked
    capture k get ns checked -o json
    assert_eq "namespace defaults" "kubernetes Active checked" \
        "$(jq -r '"\(.spec.finalizers[0]) \(.status.phase) \(.metadata.labels["kubernetes.io/metadata.name"])"' <<<"$OUT")"

    capture k create secret generic creds --from-literal=user=admin
    capture k get secret creds -o json
    assert_eq "secret type defaults to Opaque" "Opaque YWRtaW4=" "$(jq -r '"\(.type) \(.data.user)"' <<<"$OUT")"
}

check_updates() {
    # A pod's image may change...
    capture k get pod web-pod -o json
    jq '.spec.containers[0].image = "busybox:1.36"' <<<"$OUT" >"$TMP/pod-image.json"
    capture k replace -f "$TMP/pod-image.json"
    assert_rc "pod image update: allowed" 0
    capture k get pod web-pod -o jsonpath='{.spec.containers[0].image}'
    assert_eq "pod image update: stored" "busybox:1.36" "$OUT"
    capture k patch pod web-pod --type json -p '[{"op":"replace","path":"/spec/containers/0/image","value":"busybox:1.37"}]'
    assert_rc "pod image patch: allowed" 0
    # ...its ports may not.
    capture k get pod web-pod -o json
    jq '.spec.containers[0].ports[0].containerPort = 8080' <<<"$OUT" >"$TMP/pod-port.json"
    capture k replace -f "$TMP/pod-port.json"
    assert_rc "pod port update: refused" 1
    assert_contains "pod port update: Kubernetes' message" "$ERR" \
        'The Pod "web-pod" is invalid: spec: Forbidden: pod updates may not change fields other than `spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`'
    assert_contains "pod port update: what changed" "$ERR" 'containers[0].ports[0].containerPort: 8080'
    capture k get pod web-pod -o jsonpath='{.spec.containers[0].ports[0].containerPort}'
    assert_eq "pod port update: not stored" 80 "$OUT"

    capture k patch deploy web --type merge -p '{"spec":{"selector":{"matchLabels":{"app":"api"}},"template":{"metadata":{"labels":{"app":"api"}}}}}'
    assert_rc "deployment selector change: refused" 1
    assert_contains "deployment selector change: immutable" "$ERR" \
        'The Deployment "web" is invalid: spec.selector: Invalid value: {"matchLabels":{"app":"api"}}: field is immutable'
    capture k patch deploy web --type merge -p '{"spec":{"replicas":-1}}'
    assert_rc "negative replicas by patch: refused" 1
    assert_contains "negative replicas by patch: Kubernetes' message" "$ERR" \
        'The Deployment "web" is invalid: spec.replicas: Invalid value: -1: must be greater than or equal to 0'
    capture k patch deploy web --type merge -p '{"spec":{"replicas":3}}'
    assert_rc "deployment replicas patch: allowed" 0

    capture k patch svc web --type merge -p '{"spec":{"type":"Bogus"}}'
    assert_rc "service type patch: refused" 1
    assert_contains "service type: Kubernetes' message" "$ERR" \
        'spec.type: Unsupported value: "Bogus": supported values: "ClusterIP", "ExternalName", "LoadBalancer", "NodePort"'
    capture k patch secret creds --type merge -p '{"type":"kubernetes.io/basic-auth"}'
    assert_rc "secret type change: refused" 1
    assert_contains "secret type: immutable" "$ERR" 'type: Invalid value: "kubernetes.io/basic-auth": field is immutable'
}

check_invalid_deployments
check_defaults
check_updates
stop_server
