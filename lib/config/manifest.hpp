// Kubernetes objects one at a time: the manifest rules of kubernetes.cpp
// (the ones `svcgwctl apply` and files use) applied to a single Service or
// EndpointSlice, so a live feed reports a bad object alone and skips it.
// Syntax and types only, as parse_services; semantics stay in validate.cpp.
#pragma once

#include <yaml-cpp/yaml.h>

#include <span>
#include <string>
#include <vector>

#include "common/result.hpp"
#include "config/config.hpp"

namespace svcgw {

// One discovery.k8s.io/v1 EndpointSlice, reduced to what forwarding reads:
// its endpoints with their ports (from the slice's `ports`) and conditions.
// IPv6 and FQDN slices decode to no endpoints (nothing to forward to).
struct EndpointSliceConfig {
    std::string ns = "default";
    std::string name;
    std::string service;  // the kubernetes.io/service-name label
    std::vector<EndpointConfig> endpoints;

    std::string service_key() const { return ns + "/" + service; }
    bool operator==(const EndpointSliceConfig&) const = default;
};

// `object` is a v1 Service / discovery.k8s.io/v1 EndpointSlice mapping
// (kind and apiVersion included). Errors carry "Kind/ns/name.field" paths.
Result<ServiceConfig, Errors> service_from_manifest(const YAML::Node& object,
                                                    const std::string& source);
Result<EndpointSliceConfig, Errors> slice_from_manifest(const YAML::Node& object,
                                                        const std::string& source);

// The endpoints of one Service from all of its slices, in slice order: the
// one rule files, apply and the watch feed share.
std::vector<EndpointConfig> merge_slices(std::span<const EndpointSliceConfig* const> slices);

}  // namespace svcgw
