// The live origins' events (GET /v1/events[?namespace=NS]), as kubectl get
// events lists them; one service's join its GET (services_api.cpp).
#include "control/api_json.hpp"
#include "control/api_routes.hpp"

namespace svcgw::api {
namespace {

// "Kind/ns/name" -> "ns"; "" for objects without one ("Service", "Node/n").
std::string object_namespace(const std::string& object) {
    size_t first = object.find('/');
    size_t second = first == std::string::npos ? first : object.find('/', first + 1);
    return second == std::string::npos ? "" : object.substr(first + 1, second - first - 1);
}

}  // namespace

HttpResponse list_events(const HttpRequest& r, ControlExecutor& ex, const PathArgs&) {
    std::string ns = namespace_filter(r);
    return ex.execute([ns](ControlBackend& b) {
        json items = json::array();
        for (const OriginEvent& e : b.events()) {
            if (ns.empty() || object_namespace(e.object) == ns) {
                items.push_back(json{{"lastTimestamp", rfc3339(e.unix_s)},
                                     {"type", e.type},
                                     {"reason", e.reason},
                                     {"object", e.object},
                                     {"message", e.message}});
            }
        }
        return json_response(json{{"kind", "EventList"}, {"items", std::move(items)}});
    });
}

}  // namespace svcgw::api
