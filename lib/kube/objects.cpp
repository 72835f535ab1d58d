#include "kube/objects.hpp"

#include <simdjson.h>

#include <nlohmann/json.hpp>

namespace svcgw::kube {

namespace {

using simdjson::dom::element;

std::optional<element> node_at(element object, std::initializer_list<std::string_view> path) {
    element at = object;
    for (std::string_view key : path) {
        simdjson::dom::object map;
        if (at.get_object().get(map) != simdjson::SUCCESS ||
            map.at_key(key).get(at) != simdjson::SUCCESS) {
            return std::nullopt;
        }
    }
    return at;
}

std::string text_at(element object, std::initializer_list<std::string_view> path) {
    std::string_view text;
    auto at = node_at(object, path);
    return at && at->get_string().get(text) == simdjson::SUCCESS ? std::string(text)
                                                                 : std::string();
}

// Both kinds are decoded straight from the API's JSON through lib/config's
// manifest rules (ConfigNode), as objects of a collection: the kind and
// apiVersion are the collection's.
Object decode_service(element object) {
    Object out;
    out.kind = Kind::service;
    WatchedService watched;
    watched.meta.type = text_at(object, {"spec", "type"});
    if (watched.meta.type.empty()) {
        watched.meta.type = "ClusterIP";
    }
    watched.meta.load_balancer_class = text_at(object, {"spec", "loadBalancerClass"});
    if (auto proxy = node_at(object, {"metadata", "labels", kServiceProxyNameLabel});
        proxy && proxy->is_string()) {
        watched.meta.proxy_name = std::string(std::string_view(*proxy));
    }
    ApiObject api{.from_collection = true, .consumed_annotations = {}};
    if (auto mode = node_at(object, {"metadata", "annotations", kBackendsAnnotation})) {
        const std::string text =
            mode->is_string() ? std::string(std::string_view(*mode)) : simdjson::minify(*mode);
        watched.meta.backends = parse_backend_mode(text);
        if (!watched.meta.backends) {
            out.errors.push_back(
                Error{"Service.metadata.annotations." + std::string(kBackendsAnnotation),
                      "'" + text + "' is neither pods nor nodeport",
                      {}});
            return out;
        }
        // Read here: the manifest reader refuses svcgw.io/ annotations it
        // does not know, and this one means nothing outside the feed.
        api.consumed_annotations.push_back(kBackendsAnnotation);
    }
    auto config = service_from_manifest(ConfigNode(object), "kubernetes", api);
    if (!config) {
        out.errors = config.error();
        return out;
    }
    watched.config = std::move(*config);
    watched.config.locations.clear();
    // What the cluster shows under EXTERNAL-IP: the write-back compares it
    // with what is served.
    if (auto ingress = node_at(object, {"status", "loadBalancer", "ingress"});
        ingress && ingress->is_array()) {
        for (element entry : simdjson::dom::array(*ingress)) {
            if (auto ip = Ipv4::parse(text_at(entry, {"ip"}))) {
                watched.meta.status_ips.push_back(*ip);
            }
        }
    }
    out.key = watched.config.key();
    out.value = std::move(watched);
    return out;
}

Object decode_slice(element object) {
    Object out;
    out.kind = Kind::endpoint_slice;
    auto slice =
        slice_from_manifest(ConfigNode(object), "kubernetes",
                            ApiObject{.from_collection = true, .consumed_annotations = {}});
    if (!slice) {
        out.errors = slice.error();
        return out;
    }
    out.key = slice->ns + "/" + slice->name;
    out.value = std::move(*slice);
    return out;
}

Object decode_node(element object) {
    Object out;
    out.kind = Kind::node;
    NodeInfo node;
    node.name = text_at(object, {"metadata", "name"});
    if (node.name.empty()) {
        out.errors.push_back(Error{"Node.metadata.name", "missing name", {}});
        return out;
    }
    if (auto addresses = node_at(object, {"status", "addresses"});
        addresses && addresses->is_array()) {
        for (element a : simdjson::dom::array(*addresses)) {
            if (text_at(a, {"type"}) == "InternalIP" && !node.internal_ip) {
                node.internal_ip = Ipv4::parse(text_at(a, {"address"}));  // IPv6: skipped
            }
        }
    }
    if (auto conditions = node_at(object, {"status", "conditions"});
        conditions && conditions->is_array()) {
        for (element c : simdjson::dom::array(*conditions)) {
            if (text_at(c, {"type"}) == "Ready") {
                node.ready = text_at(c, {"status"}) == "True";
            }
        }
    }
    bool unschedulable = false;
    if (auto u = node_at(object, {"spec", "unschedulable"})) {
        node.unschedulable = u->get_bool().get(unschedulable) == simdjson::SUCCESS && unschedulable;
    }
    out.key = node.name;
    out.value = std::move(node);
    return out;
}

// One item of a list or watch event (valid while its parser's document is).
Object decode(Kind kind, element object) {
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

Object decode_object(Kind kind, const nlohmann::json& object) {
    const std::string text = object.dump();
    simdjson::dom::parser parser;
    element value;
    if (parser.parse(text).get(value) != simdjson::SUCCESS) {
        Object out;
        out.kind = kind;
        out.errors.push_back(Error{std::string(kind_name(kind)), "not JSON", {}});
        return out;
    }
    return decode(kind, value);
}

Result<WatchEvent> parse_watch_event(Kind kind, std::string_view line) {
    simdjson::dom::parser parser;
    element event;
    if (parser.parse(line.data(), line.size()).get(event) != simdjson::SUCCESS ||
        !event.is_object()) {
        return fail(std::string(kind_name(kind)), "watch: not a JSON event");
    }
    const std::string type = text_at(event, {"type"});
    auto object = node_at(event, {"object"});
    if (!object || !object->is_object()) {
        return fail(std::string(kind_name(kind)), "watch: event without an object");
    }
    WatchEvent out;
    if (type == "ERROR") {
        out.type = WatchEvent::Type::error;
        int64_t code = 0;
        if (auto c = node_at(*object, {"code"});
            c && c->get_int64().get(code) == simdjson::SUCCESS && code >= 0 && code < 1000) {
            out.code = static_cast<int>(code);
        }
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
    simdjson::dom::parser parser;
    element list;
    if (parser.parse(body.data(), body.size()).get(list) != simdjson::SUCCESS ||
        !list.is_object()) {
        return fail(std::string(kind_name(kind)), "list: not a JSON object");
    }
    ListPage page;
    page.resource_version = text_at(list, {"metadata", "resourceVersion"});
    page.continue_token = text_at(list, {"metadata", "continue"});
    auto items = node_at(list, {"items"});
    if (items && items->is_array()) {
        simdjson::dom::array array(*items);
        page.items.reserve(array.size());
        for (element item : array) {
            page.items.push_back(decode(kind, item));
        }
    } else if (items && !items->is_null()) {
        return fail(std::string(kind_name(kind)), "list: items is not an array");
    }
    return page;
}

std::string status_message(std::string_view body) {
    simdjson::dom::parser parser;
    element status;
    if (parser.parse(body.data(), body.size()).get(status) == simdjson::SUCCESS) {
        std::string message = text_at(status, {"message"});
        if (!message.empty()) {
            return message;
        }
    }
    return std::string(body.substr(0, 200));
}

}  // namespace svcgw::kube
