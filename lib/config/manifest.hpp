// Kubernetes objects one at a time: the manifest rules of kubernetes.cpp
// (the ones `svcgwctl apply` and files use) applied to a single Service or
// EndpointSlice, so a live feed reports a bad object alone and skips it.
// Syntax and types only, as parse_services; semantics stay in validate.cpp.
#pragma once

#include <span>
#include <string>
#include <vector>

#include "common/result.hpp"
#include "config/config.hpp"
#include "config/config_node.hpp"
#include "config/endpoint_slices.hpp"

namespace svcgw {

// `object` is a v1 Service / discovery.k8s.io/v1 EndpointSlice mapping
// (kind and apiVersion included): a YAML node, or the API's JSON as
// ConfigNode(json). Errors carry "Kind/ns/name.field" paths.
Result<ServiceConfig, Errors> service_from_manifest(const ConfigNode& object,
                                                    const std::string& source);
Result<EndpointSliceConfig, Errors> slice_from_manifest(const ConfigNode& object,
                                                        const std::string& source);

}  // namespace svcgw
