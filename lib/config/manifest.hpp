// Kubernetes objects one at a time: the manifest rules of kubernetes.cpp
// (the ones `svcgwctl apply` and files use) applied to a single Service or
// EndpointSlice, so a live feed reports a bad object alone and skips it.
// Syntax and types only, as parse_services; semantics stay in validate.cpp.
#pragma once

#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.hpp"
#include "config/config.hpp"
#include "config/config_node.hpp"
#include "config/endpoint_slices.hpp"

namespace svcgw {

// How an object arrives from the Kubernetes API rather than from a file:
// from a collection of one kind (LIST items carry no kind or apiVersion: the
// collection names them), with annotations the feed reads itself
// (`consumed`), which are not the manifest's to refuse as unknown.
struct ApiObject {
    bool from_collection = false;
    std::vector<std::string_view> consumed_annotations;
};

// `object` is a v1 Service / discovery.k8s.io/v1 EndpointSlice mapping
// (kind and apiVersion included unless `api.from_collection`): a YAML node, or the
// API's JSON as a ConfigNode. Errors carry "Kind/ns/name.field" paths.
Result<ServiceConfig, Errors> service_from_manifest(const ConfigNode& object,
                                                    const std::string& source,
                                                    const ApiObject& api = {});
Result<EndpointSliceConfig, Errors> slice_from_manifest(const ConfigNode& object,
                                                        const std::string& source,
                                                        const ApiObject& api = {});

}  // namespace svcgw
