// How svcgw reaches the Kubernetes API: a standard kubeconfig (its current
// context: server URL, CA, client certificate or bearer token), or, inside
// a pod, the service account files and KUBERNETES_SERVICE_HOST/PORT, as
// client-go's rest.InClusterConfig reads them. Pure C++ (yaml-cpp), no I/O
// beyond reading the named files.
//
// TLS is always verified: an http:// server or insecure-skip-tls-verify is
// refused with a clear error, never silently accepted.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "common/result.hpp"

namespace svcgw::kube {

struct ClusterAccess {
    std::string host;  // the API server's host name or address (TLS name check)
    int port = 443;
    std::string base_path;  // URL path prefix ("" usually)
    std::string ca_pem;     // CA bundle to verify the server with ("" = system store)
    std::string client_cert_pem;
    std::string client_key_pem;
    std::string token;       // bearer token ("" = none)
    std::string token_file;  // re-read per connection (bound service account tokens rotate)
    std::string source;      // where it came from, for messages

    std::string server() const;  // "https://host:port"
};

// The standard service account mount (client-go rest.InClusterConfig).
constexpr std::string_view kServiceAccountDir = "/var/run/secrets/kubernetes.io/serviceaccount";

// `path`'s current context. Relative file references resolve against the
// kubeconfig's directory, as kubectl resolves them.
Result<ClusterAccess> load_kubeconfig(const std::string& path);
Result<ClusterAccess> parse_kubeconfig(std::string_view yaml, const std::string& path);

// In-cluster: `env` looks up KUBERNETES_SERVICE_HOST / _PORT.
using EnvLookup = std::function<std::optional<std::string>(const std::string&)>;
Result<ClusterAccess> in_cluster(const EnvLookup& env,
                                 const std::string& account_dir = std::string(kServiceAccountDir));

// The kubeconfig when `path` is set, otherwise the in-cluster files.
Result<ClusterAccess> cluster_access(const std::string& kubeconfig_path);

// RFC 4648 base64 (kubeconfig *-data fields); nullopt on bad input.
std::optional<std::string> base64_decode(std::string_view text);

}  // namespace svcgw::kube
