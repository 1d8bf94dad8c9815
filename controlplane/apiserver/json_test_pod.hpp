// A Pod body for the JSON parser's and writer's tests: the one tools/bench/apiserver.d/load.cpp sends
// for a Deployment's replica.
#pragma once

#include <string>

namespace skiff::apiserver::testing {

inline std::string pod_body() {
    return R"({"apiVersion":"v1","kind":"Pod","metadata":{"name":"pod-17","namespace":"bench-3","resourceVersion":"4242",)"
           R"("labels":{"app":"web","tier":"frontend","pod-template-hash":"7d9c6b5f4d","bench":"apiserver"},)"
           R"("annotations":{"bench.skiff.dev/seq":"17","kubectl.kubernetes.io/restartedAt":"2026-11-26T10:00:00Z",)"
           R"("prometheus.io/scrape":"true","prometheus.io/port":"9102"}},)"
           R"("spec":{"containers":[{"name":"web","image":"registry.example.com/team/web-frontend:1.24.3",)"
           R"("imagePullPolicy":"IfNotPresent","command":["/usr/local/bin/web"],)"
           R"("args":["--listen=:8080","--log-level=info","--metrics=:9102"],)"
           R"("ports":[{"name":"http","containerPort":8080,"protocol":"TCP"},)"
           R"({"name":"metrics","containerPort":9102,"protocol":"TCP"}],)"
           R"("env":[{"name":"APP_ENV","value":"production"},)"
           R"({"name":"CACHE_URL","value":"redis://cache.default.svc.cluster.local:6379"},)"
           R"({"name":"POD_NAME","valueFrom":{"fieldRef":{"apiVersion":"v1","fieldPath":"metadata.name"}}},)"
           R"({"name":"POD_IP","valueFrom":{"fieldRef":{"apiVersion":"v1","fieldPath":"status.podIP"}}},)"
           R"({"name":"GOMAXPROCS","value":"2"}],)"
           R"("resources":{"requests":{"cpu":"250m","memory":"256Mi"},"limits":{"cpu":"1","memory":"512Mi"}},)"
           R"("readinessProbe":{"httpGet":{"path":"/healthz","port":8080,"scheme":"HTTP"},"initialDelaySeconds":5,)"
           R"("periodSeconds":10,"timeoutSeconds":1,"successThreshold":1,"failureThreshold":3},)"
           R"("volumeMounts":[{"name":"config","mountPath":"/etc/web","readOnly":true}],)"
           R"("terminationMessagePath":"/dev/termination-log","terminationMessagePolicy":"File"}],)"
           R"("volumes":[{"name":"config","configMap":{"name":"web-config","defaultMode":420}}],)"
           R"("restartPolicy":"Always","terminationGracePeriodSeconds":30,"dnsPolicy":"ClusterFirst",)"
           R"("serviceAccountName":"default","schedulerName":"default-scheduler",)"
           R"("securityContext":{"runAsNonRoot":true,"runAsUser":1000},"priority":0,"enableServiceLinks":true,)"
           R"("preemptionPolicy":"PreemptLowerPriority","tolerations":[{"key":"node.kubernetes.io/not-ready",)"
           R"("operator":"Exists","effect":"NoExecute","tolerationSeconds":300}]}})";
}

}  // namespace skiff::apiserver::testing
