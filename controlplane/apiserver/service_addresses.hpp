// Cluster IPs and node ports of Services: claimed one store key each (create fails if taken), so two
// servers on one store never hand out the same address.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "skiff/base/result.hpp"
#include "skiff/store/store.hpp"

namespace skiff::apiserver {

// Kubernetes' defaults: the service CIDR 10.96.0.0/12 (its first address is the `kubernetes` service's)
// and node ports 30000-32767.
inline constexpr const char* kServiceCidr = "10.96.0.0/12";
inline constexpr int kNodePortMin = 30000;
inline constexpr int kNodePortMax = 32767;

// 10.96.0.1: the `kubernetes` service's address.
std::string first_service_address();

// Claims what `updated` needs that `old` (null on create) doesn't hold: a cluster IP when spec.clusterIP is
// empty (type ExternalName and "None" get none), node ports for NodePort and LoadBalancer services; chosen
// addresses are written into updated. A requested address that is taken or out of range: EINVAL with
// Kubernetes' field message. allocated: the keys claimed, to release if the object is not written.
[[nodiscard]] Status allocate_service_addresses(store::Store& store, const nlohmann::json& old, nlohmann::json& updated,
                                                std::vector<std::string>& allocated);
void release_service_addresses(store::Store& store, const std::vector<std::string>& keys);
// The keys of every address a service holds, and of those `old` holds that `updated` no longer does.
std::vector<std::string> service_address_keys(const nlohmann::json& service);
std::vector<std::string> service_addresses_dropped(const nlohmann::json& old, const nlohmann::json& updated);

}  // namespace skiff::apiserver
