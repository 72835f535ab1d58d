#include "kube/kubeconfig.hpp"

#include <yaml-cpp/yaml.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

namespace svcgw::kube {

namespace {

std::optional<std::string> read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        return std::nullopt;
    }
    std::ostringstream text;
    text << in.rdbuf();
    return text.str();
}

std::string resolve(const std::string& file, const std::string& kubeconfig_path) {
    if (file.empty() || file.front() == '/') {
        return file;
    }
    size_t slash = kubeconfig_path.rfind('/');
    return slash == std::string::npos ? file : kubeconfig_path.substr(0, slash + 1) + file;
}

std::string scalar(const YAML::Node& map, const char* key) {
    const YAML::Node value = map[key];
    return value && value.IsScalar() ? value.Scalar() : std::string();
}

// The entry named `name` of a kubeconfig list (clusters, users, contexts).
YAML::Node named(const YAML::Node& list, const std::string& name, const char* field) {
    if (!list || !list.IsSequence()) {
        return YAML::Node();
    }
    for (const YAML::Node& item : list) {
        if (item.IsMap() && scalar(item, "name") == name && item[field] && item[field].IsMap()) {
            return item[field];
        }
    }
    return YAML::Node();
}

// "https://host[:port][/path]" -> host, port, path. Only https.
Result<void> parse_server(const std::string& url, ClusterAccess& access) {
    constexpr std::string_view kHttps = "https://";
    if (!url.starts_with(kHttps)) {
        return fail("clusters[].cluster.server",
                    "server '" + url + "' is not https:// (svcgw always verifies TLS)");
    }
    std::string rest = url.substr(kHttps.size());
    size_t slash = rest.find('/');
    std::string authority = rest.substr(0, slash);
    access.base_path = slash == std::string::npos ? "" : rest.substr(slash);
    while (!access.base_path.empty() && access.base_path.back() == '/') {
        access.base_path.pop_back();
    }
    size_t colon = authority.rfind(':');
    if (!authority.empty() && authority.front() == '[') {
        return fail("clusters[].cluster.server", "IPv6 server addresses are not supported");
    }
    access.host = authority.substr(0, colon);
    if (colon != std::string::npos) {
        const std::string port = authority.substr(colon + 1);
        char* end = nullptr;
        long value = std::strtol(port.c_str(), &end, 10);
        if (port.empty() || *end != '\0' || value < 1 || value > 65535) {
            return fail("clusters[].cluster.server", "invalid port in '" + url + "'");
        }
        access.port = static_cast<int>(value);
    }
    if (access.host.empty()) {
        return fail("clusters[].cluster.server", "no host in '" + url + "'");
    }
    return {};
}

// `*-data` (base64) or the file it names, relative to the kubeconfig.
Result<std::string> pem_field(const YAML::Node& map, const char* data_key, const char* file_key,
                              const std::string& path, const std::string& where) {
    if (std::string data = scalar(map, data_key); !data.empty()) {
        auto pem = base64_decode(data);
        if (!pem) {
            return fail(where + "." + data_key, "not valid base64");
        }
        return *pem;
    }
    if (std::string file = scalar(map, file_key); !file.empty()) {
        auto pem = read_file(resolve(file, path));
        if (!pem) {
            return fail(where + "." + file_key, "cannot read " + resolve(file, path));
        }
        return *pem;
    }
    return std::string();
}

}  // namespace

std::string ClusterAccess::server() const {
    return "https://" + host + ":" + std::to_string(port);
}

std::optional<std::string> base64_decode(std::string_view text) {
    auto value = [](char c) -> int {
        if (c >= 'A' && c <= 'Z') {
            return c - 'A';
        }
        if (c >= 'a' && c <= 'z') {
            return c - 'a' + 26;
        }
        if (c >= '0' && c <= '9') {
            return c - '0' + 52;
        }
        if (c == '+') {
            return 62;
        }
        if (c == '/') {
            return 63;
        }
        return -1;
    };
    std::string out;
    uint32_t bits = 0;
    int count = 0;
    size_t padding = 0;
    for (char c : text) {
        if (c == '\n' || c == '\r' || c == ' ') {
            continue;
        }
        if (c == '=') {
            ++padding;
            continue;
        }
        int v = value(c);
        if (v < 0 || padding != 0) {
            return std::nullopt;
        }
        bits = bits << 6 | static_cast<uint32_t>(v);
        if (++count == 4) {
            out += static_cast<char>(bits >> 16);
            out += static_cast<char>(bits >> 8 & 0xff);
            out += static_cast<char>(bits & 0xff);
            bits = 0;
            count = 0;
        }
    }
    if (count == 1 || padding > 2) {
        return std::nullopt;
    }
    if (count == 2) {
        out += static_cast<char>(bits >> 4);
    } else if (count == 3) {
        out += static_cast<char>(bits >> 10);
        out += static_cast<char>(bits >> 2 & 0xff);
    }
    return out;
}

Result<ClusterAccess> parse_kubeconfig(std::string_view yaml, const std::string& path) {
    YAML::Node doc;
    try {
        doc = YAML::Load(std::string(yaml));
    } catch (const YAML::Exception& e) {
        return fail("", "kubeconfig " + path + ": " + e.msg);
    }
    if (!doc.IsMap()) {
        return fail("", "kubeconfig " + path + ": not a mapping");
    }
    const std::string context_name = scalar(doc, "current-context");
    if (context_name.empty()) {
        return fail("current-context", "kubeconfig " + path + " has no current-context");
    }
    const YAML::Node context = named(doc["contexts"], context_name, "context");
    if (!context) {
        return fail("contexts",
                    "kubeconfig " + path + ": context '" + context_name + "' not found");
    }
    const std::string cluster_name = scalar(context, "cluster");
    const std::string user_name = scalar(context, "user");
    const YAML::Node cluster = named(doc["clusters"], cluster_name, "cluster");
    if (!cluster) {
        return fail("clusters",
                    "kubeconfig " + path + ": cluster '" + cluster_name + "' not found");
    }
    ClusterAccess access;
    access.source = path;
    if (scalar(cluster, "insecure-skip-tls-verify") == "true") {
        return fail("clusters[].cluster.insecure-skip-tls-verify",
                    "kubeconfig " + path + ": svcgw always verifies the API server's certificate");
    }
    if (auto server = parse_server(scalar(cluster, "server"), access); !server) {
        Error e = server.error();
        e.message = "kubeconfig " + path + ": " + e.message;
        return Unexpected<Error>{e};
    }
    auto ca = pem_field(cluster, "certificate-authority-data", "certificate-authority", path,
                        "clusters[].cluster");
    if (!ca) {
        return Unexpected<Error>{ca.error()};
    }
    access.ca_pem = *ca;
    const YAML::Node user = named(doc["users"], user_name, "user");
    if (user) {
        if (user["exec"] || user["auth-provider"]) {
            return fail("users[].user", "kubeconfig " + path + ": user '" + user_name +
                                            "' uses an exec or auth-provider plugin (not "
                                            "supported: use a token or a client certificate)");
        }
        auto cert =
            pem_field(user, "client-certificate-data", "client-certificate", path, "users[].user");
        auto key = pem_field(user, "client-key-data", "client-key", path, "users[].user");
        if (!cert) {
            return Unexpected<Error>{cert.error()};
        }
        if (!key) {
            return Unexpected<Error>{key.error()};
        }
        access.client_cert_pem = *cert;
        access.client_key_pem = *key;
        if (access.client_cert_pem.empty() != access.client_key_pem.empty()) {
            return fail("users[].user",
                        "kubeconfig " + path + ": a client certificate needs its key (and back)");
        }
        access.token = scalar(user, "token");
        if (std::string file = scalar(user, "tokenFile"); !file.empty()) {
            access.token_file = resolve(file, path);
        }
    }
    return access;
}

Result<ClusterAccess> load_kubeconfig(const std::string& path) {
    auto text = read_file(path);
    if (!text) {
        return fail("kubernetes.kubeconfig", "cannot read kubeconfig " + path);
    }
    return parse_kubeconfig(*text, path);
}

Result<ClusterAccess> in_cluster(const EnvLookup& env, const std::string& account_dir) {
    auto host = env("KUBERNETES_SERVICE_HOST");
    auto port = env("KUBERNETES_SERVICE_PORT");
    if (!host || !port || host->empty() || port->empty()) {
        return fail("kubernetes.kubeconfig",
                    "no kubeconfig given and not in a pod (KUBERNETES_SERVICE_HOST/PORT unset)");
    }
    ClusterAccess access;
    access.source = account_dir;
    if (auto server = parse_server("https://" + *host + ":" + *port, access); !server) {
        return Unexpected<Error>{server.error()};
    }
    auto ca = read_file(account_dir + "/ca.crt");
    if (!ca) {
        return fail("kubernetes.kubeconfig", "cannot read " + account_dir + "/ca.crt");
    }
    access.ca_pem = *ca;
    access.token_file = account_dir + "/token";
    if (!read_file(access.token_file)) {
        return fail("kubernetes.kubeconfig", "cannot read " + access.token_file);
    }
    return access;
}

Result<ClusterAccess> cluster_access(const std::string& kubeconfig_path) {
    if (!kubeconfig_path.empty()) {
        return load_kubeconfig(kubeconfig_path);
    }
    return in_cluster([](const std::string& name) -> std::optional<std::string> {
        const char* value = std::getenv(name.c_str());
        return value == nullptr ? std::nullopt : std::optional<std::string>(value);
    });
}

}  // namespace svcgw::kube
