// Kubernetes document streams: v1 Service, discovery.k8s.io/v1
// EndpointSlice and v1 List (`kubectl get svc,endpointslices -A -o yaml`).
// Each object is decoded on its own (kubernetes_objects.cpp): one with
// errors is left out and reported, the others load. The manifest entry
// points decode one object (the watch feed).
#include "config/manifest.hpp"
#include "config/parse.hpp"

namespace svcgw::config_detail {

namespace {

constexpr std::string_view kDefaultNamespace = "default";

}  // namespace

std::string object_prefix(const ConfigNode& object, std::string_view kind) {
    auto meta = node_at(object, "metadata");
    std::string name = meta ? scalar_at(*meta, "name").value_or("") : "";
    std::string ns = meta ? scalar_at(*meta, "namespace").value_or("") : "";
    return object_name(kind, (ns.empty() ? std::string(kDefaultNamespace) : ns) + "/" + name);
}

std::optional<std::string> scalar_at(const ConfigNode& map, std::string_view key) {
    auto node = node_at(map, key);
    if (node && node->IsScalar()) {
        return node->Scalar();
    }
    return std::nullopt;
}

std::optional<ConfigNode> node_at(const ConfigNode& map, std::string_view key) {
    for (const ConfigNode::Entry& entry : map.entries()) {
        if (entry.first.IsScalar() && entry.first.Scalar() == key) {
            return entry.second;
        }
    }
    return std::nullopt;
}

void KubernetesDocuments::add(const ConfigNode& doc, size_t doc_index) {
    add_object(doc, index_path("documents", doc_index), false);
}

void KubernetesDocuments::add_object(const ConfigNode& doc, const std::string& fallback_path,
                                     bool in_list) {
    Reader& r = _reader;
    const size_t mark = r.error_count();
    std::string kind = scalar_at(doc, "kind").value_or("");
    // Name the object the way kubectl does in its messages, so that errors
    // in a long List are easy to find even without the line number.
    auto metadata = node_at(doc, "metadata");
    const bool named = metadata && !scalar_at(*metadata, "name").value_or("").empty();
    std::string prefix = fallback_path;
    if (named && (kind == "Service" || kind == "EndpointSlice")) {
        prefix = object_prefix(doc, kind);
    }
    if (!in_list && (kind == "List" || kind == "ServiceList" || kind == "EndpointSliceList")) {
        // The container is not an object: its own errors fail the stream.
        Fields f(r, doc, prefix, {"apiVersion", "kind", "items", "metadata"});
        auto items = f.get("items");
        if (items && r.expect_seq(*items, f.path("items"))) {
            for (size_t i = 0; i < items->size(); ++i) {
                add_object((*items)[i], index_path(f.path("items"), i), true);
            }
        }
        return;
    }
    if (!r.expect_map(doc, fallback_path)) {
        // fall through: left out below, with the error
    } else if (kind == "Service") {
        ServiceConfig svc = decode_service(doc, prefix);
        if (r.error_count() == mark) {
            _services.push_back(std::move(svc));
        }
    } else if (kind == "EndpointSlice") {
        auto slice = decode_slice(doc, prefix);
        if (slice && r.error_count() == mark) {
            _slices.push_back(std::move(*slice));
        }
    } else {
        auto kind_node = node_at(doc, "kind");
        std::string at = kind_node ? r.location(*kind_node) : r.location(doc);
        r.error(at, key_path(prefix, "kind"),
                "unsupported kind '" + kind + "' (expected Service, EndpointSlice" +
                    (in_list ? "" : " or List") + ")");
    }
    if (r.error_count() != mark) {
        _skipped.push_back(SkippedObject{prefix, r.take_errors_since(mark), {}});
    }
}

ServiceSet KubernetesDocuments::finish(std::vector<ServiceConfig> services) {
    ServiceSet out;
    out.services = std::move(services);
    for (ServiceConfig& svc : _services) {
        out.services.push_back(std::move(svc));
    }
    out.slices = std::move(_slices);
    out.skipped = std::move(_skipped);
    _services.clear();
    _slices.clear();
    _skipped.clear();
    return out;
}

}  // namespace svcgw::config_detail

namespace svcgw {

using config_detail::object_prefix;

Result<ServiceConfig, Errors> service_from_manifest(const ConfigNode& object,
                                                    const std::string& source,
                                                    const ApiObject& api) {
    config_detail::Reader reader(source);
    config_detail::KubernetesDocuments docs(reader, api);
    ServiceConfig svc;
    try {
        if (reader.expect_map(object, "Service")) {
            svc = docs.decode_service(object, object_prefix(object, "Service"));
        }
    } catch (const YAML::Exception& e) {
        reader.error(reader.location(e.mark), "", "YAML error: " + e.msg);
    }
    if (reader.has_errors()) {
        return Unexpected<Errors>{reader.take_errors()};
    }
    return svc;
}

Result<EndpointSliceConfig, Errors> slice_from_manifest(const ConfigNode& object,
                                                        const std::string& source,
                                                        const ApiObject& api) {
    config_detail::Reader reader(source);
    config_detail::KubernetesDocuments docs(reader, api);
    std::optional<EndpointSliceConfig> slice;
    try {
        if (reader.expect_map(object, "EndpointSlice")) {
            slice = docs.decode_slice(object, object_prefix(object, "EndpointSlice"));
        }
    } catch (const YAML::Exception& e) {
        reader.error(reader.location(e.mark), "", "YAML error: " + e.msg);
    }
    if (reader.has_errors()) {
        return Unexpected<Errors>{reader.take_errors()};
    }
    if (!slice) {
        return Unexpected<Errors>{
            Errors{Error{object_prefix(object, "EndpointSlice"), "not an EndpointSlice", {}}}};
    }
    return std::move(*slice);
}

}  // namespace svcgw
