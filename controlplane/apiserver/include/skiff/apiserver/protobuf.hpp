// Kubernetes' protobuf request bodies (Content-Type: application/vnd.kubernetes.protobuf, what kubectl 1.32+
// sends for `kubectl create namespace|deployment|service|configmap|secret|serviceaccount`), decoded into the
// JSON object a JSON client would have sent.
#pragma once

#include <nlohmann/json.hpp>
#include <string_view>

#include "skiff/base/result.hpp"

namespace skiff::apiserver {

inline constexpr std::string_view protobuf_content_type = "application/vnd.kubernetes.protobuf";

// body: the 4-byte magic "k8s\0", then a runtime.Unknown {typeMeta {apiVersion, kind}, raw, contentEncoding,
// contentType} whose raw is the object's message. The result has apiVersion and kind from typeMeta and the
// fields present in the message, in their JSON forms and with Go's JSON rules (a zero non-pointer scalar
// marked omitempty is left out, as encoding/json leaves it out). Fails, naming the message and field, on an
// unknown kind, an unknown field number, a wrong wire type, truncated input, invalid UTF-8 in a string or
// nesting deeper than max_depth messages.
inline constexpr int max_protobuf_depth = 32;
[[nodiscard]] Result<nlohmann::json> decode_protobuf_object(std::string_view body, int max_depth = max_protobuf_depth);

}  // namespace skiff::apiserver
