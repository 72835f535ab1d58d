#include "kube/objects.hpp"

#include <nlohmann/json.hpp>

namespace svcgw::kube {

namespace {

using json = nlohmann::json;

const json* node_at(const json& object, std::initializer_list<const char*> path) {
    const json* at = &object;
    for (const char* key : path) {
        if (!at->is_object()) {
            return nullptr;
        }
        auto it = at->find(key);
        if (it == at->end()) {
            return nullptr;
        }
        at = &*it;
    }
    return at;
}

std::string text_at(const json& object, std::initializer_list<const char*> path) {
    const json* at = node_at(object, path);
    return at != nullptr && at->is_string() ? at->get<std::string>() : std::string();
}

// Both kinds are decoded straight from the API's JSON through lib/config's
// manifest rules (ConfigNode), in place: `object` gets the kind and
// apiVersion its list leaves out, and loses the annotation read here.
Object decode_service(json& object) {
    Object out;
    out.kind = Kind::service;
    WatchedService watched;
    watched.meta.type = text_at(object, {"spec", "type"});
    if (watched.meta.type.empty()) {
        watched.meta.type = "ClusterIP";
    }
    watched.meta.load_balancer_class = text_at(object, {"spec", "loadBalancerClass"});
    if (auto labels = object.find("metadata"); labels != object.end() && labels->is_object()) {
        auto l = labels->find("labels");
        if (l != labels->end() && l->is_object()) {
            auto proxy = l->find(std::string(kServiceProxyNameLabel));
            if (proxy != l->end() && proxy->is_string()) {
                watched.meta.proxy_name = proxy->get<std::string>();
            }
        }
    }
    if (const json* mode =
            node_at(object, {"metadata", "annotations", kBackendsAnnotation.data()})) {
        const std::string text = mode->is_string() ? mode->get<std::string>() : mode->dump();
        watched.meta.backends = parse_backend_mode(text);
        if (!watched.meta.backends) {
            out.errors.push_back(
                Error{"Service.metadata.annotations." + std::string(kBackendsAnnotation),
                      "'" + text + "' is neither pods nor nodeport",
                      {}});
            return out;
        }
        // Consumed here: the manifest reader refuses svcgw.io/ annotations
        // it does not know, and this one means nothing outside the feed.
        object["metadata"]["annotations"].erase(std::string(kBackendsAnnotation));
    }
    object["apiVersion"] = "v1";
    object["kind"] = "Service";
    auto config = service_from_manifest(ConfigNode(object), "kubernetes");
    if (!config) {
        out.errors = config.error();
        return out;
    }
    watched.config = std::move(*config);
    watched.config.locations.clear();
    // What the cluster shows under EXTERNAL-IP: the write-back compares it
    // with what is served.
    if (const json* ingress = node_at(object, {"status", "loadBalancer", "ingress"});
        ingress != nullptr && ingress->is_array()) {
        for (const json& entry : *ingress) {
            if (auto ip = Ipv4::parse(text_at(entry, {"ip"}))) {
                watched.meta.status_ips.push_back(*ip);
            }
        }
    }
    out.key = watched.config.key();
    out.value = std::move(watched);
    return out;
}

Object decode_slice(json& object) {
    Object out;
    out.kind = Kind::endpoint_slice;
    object["apiVersion"] = "discovery.k8s.io/v1";
    object["kind"] = "EndpointSlice";
    auto slice = slice_from_manifest(ConfigNode(object), "kubernetes");
    if (!slice) {
        out.errors = slice.error();
        return out;
    }
    out.key = slice->ns + "/" + slice->name;
    out.value = std::move(*slice);
    return out;
}

Object decode_node(const json& object) {
    Object out;
    out.kind = Kind::node;
    NodeInfo node;
    node.name = text_at(object, {"metadata", "name"});
    if (node.name.empty()) {
        out.errors.push_back(Error{"Node.metadata.name", "missing name", {}});
        return out;
    }
    const json* status = object.contains("status") ? &object["status"] : nullptr;
    if (status != nullptr && status->is_object()) {
        if (auto addresses = status->find("addresses");
            addresses != status->end() && addresses->is_array()) {
            for (const json& a : *addresses) {
                if (text_at(a, {"type"}) == "InternalIP" && !node.internal_ip) {
                    node.internal_ip = Ipv4::parse(text_at(a, {"address"}));  // IPv6: skipped
                }
            }
        }
        if (auto conditions = status->find("conditions");
            conditions != status->end() && conditions->is_array()) {
            for (const json& c : *conditions) {
                if (text_at(c, {"type"}) == "Ready") {
                    node.ready = text_at(c, {"status"}) == "True";
                }
            }
        }
    }
    if (auto spec = object.find("spec"); spec != object.end() && spec->is_object()) {
        auto u = spec->find("unschedulable");
        node.unschedulable = u != spec->end() && u->is_boolean() && u->get<bool>();
    }
    out.key = node.name;
    out.value = std::move(node);
    return out;
}

}  // namespace

std::string_view kind_name(Kind kind) {
    switch (kind) {
        case Kind::service:
            return "Service";
        case Kind::endpoint_slice:
            return "EndpointSlice";
        case Kind::node:
            return "Node";
    }
    return "Service";
}

namespace {

// One item, decoded in place (the list's or the event's own JSON: no copy).
Object decode(Kind kind, json& object) {
    Object out;
    try {
        if (!object.is_object()) {
            out.kind = kind;
            out.errors.push_back(Error{std::string(kind_name(kind)), "not a JSON object", {}});
            return out;
        }
        switch (kind) {
            case Kind::service:
                out = decode_service(object);
                break;
            case Kind::endpoint_slice:
                out = decode_slice(object);
                break;
            case Kind::node:
                out = decode_node(object);
                break;
        }
    } catch (const std::exception& e) {
        out = Object{};
        out.kind = kind;
        out.errors.push_back(Error{std::string(kind_name(kind)), e.what(), {}});
    }
    out.resource_version = text_at(object, {"metadata", "resourceVersion"});
    if (out.key.empty()) {
        // A bad object is still named, so its report says which.
        std::string ns = text_at(object, {"metadata", "namespace"});
        std::string name = text_at(object, {"metadata", "name"});
        out.key = kind == Kind::node ? name : (ns.empty() ? "default" : ns) + "/" + name;
    }
    return out;
}

}  // namespace

Object decode_object(Kind kind, const json& object) {
    json copy = object;
    return decode(kind, copy);
}

Result<WatchEvent> parse_watch_event(Kind kind, std::string_view line) {
    json event = json::parse(line, nullptr, false);
    if (event.is_discarded() || !event.is_object()) {
        return fail(std::string(kind_name(kind)), "watch: not a JSON event");
    }
    const std::string type = text_at(event, {"type"});
    auto object = event.find("object");
    if (object == event.end() || !object->is_object()) {
        return fail(std::string(kind_name(kind)), "watch: event without an object");
    }
    WatchEvent out;
    if (type == "ERROR") {
        out.type = WatchEvent::Type::error;
        auto code = object->find("code");
        out.code = code != object->end() && code->is_number_integer() ? code->get<int>() : 0;
        out.message = text_at(*object, {"message"});
        return out;
    }
    out.resource_version = text_at(*object, {"metadata", "resourceVersion"});
    if (type == "BOOKMARK") {
        out.type = WatchEvent::Type::bookmark;
        return out;
    }
    if (type == "ADDED") {
        out.type = WatchEvent::Type::added;
    } else if (type == "MODIFIED") {
        out.type = WatchEvent::Type::modified;
    } else if (type == "DELETED") {
        out.type = WatchEvent::Type::deleted;
    } else {
        return fail(std::string(kind_name(kind)), "watch: unknown event type '" + type + "'");
    }
    out.object = decode(kind, *object);
    return out;
}

Result<ListPage> parse_list(Kind kind, std::string_view body) {
    json list = json::parse(body, nullptr, false);
    if (list.is_discarded() || !list.is_object()) {
        return fail(std::string(kind_name(kind)), "list: not a JSON object");
    }
    ListPage page;
    page.resource_version = text_at(list, {"metadata", "resourceVersion"});
    page.continue_token = text_at(list, {"metadata", "continue"});
    auto items = list.find("items");
    if (items != list.end() && items->is_array()) {
        page.items.reserve(items->size());
        for (json& item : *items) {
            page.items.push_back(decode(kind, item));
        }
    } else if (items != list.end() && !items->is_null()) {
        return fail(std::string(kind_name(kind)), "list: items is not an array");
    }
    return page;
}

std::string status_message(std::string_view body) {
    json status = json::parse(body, nullptr, false);
    if (!status.is_discarded() && status.is_object()) {
        std::string message = text_at(status, {"message"});
        if (!message.empty()) {
            return message;
        }
    }
    return std::string(body.substr(0, 200));
}

}  // namespace svcgw::kube
