#include "control/api_json.hpp"

#include <ctime>

namespace svcgw::api {

int64_t now_unix() {
    return static_cast<int64_t>(std::time(nullptr));
}

json error_json(const std::string& reason, const std::string& message, const std::string& path,
                int status) {
    return json{{"error", message}, {"reason", reason}, {"path", path}, {"code", status}};
}

HttpResponse json_response(const json& j, int status) {
    return HttpResponse{status, "application/json",
                        j.dump(2, ' ', false, json::error_handler_t::replace) + "\n"};
}

std::pair<int, const char*> http_of(ControlErrorKind kind) {
    switch (kind) {
        case ControlErrorKind::not_found:
            return {404, "NotFound"};
        case ControlErrorKind::already_exists:
            return {409, "AlreadyExists"};
        case ControlErrorKind::conflict:
            return {409, "Conflict"};
        case ControlErrorKind::precondition_required:
            return {428, "PreconditionRequired"};  // RFC 6585 §3
        case ControlErrorKind::invalid:
            return {422, "Invalid"};
        case ControlErrorKind::bad_request:
            return {400, "BadRequest"};
    }
    return {500, "InternalError"};
}

ControlError bad_request(std::string message, std::string path) {
    return ControlError{ControlErrorKind::bad_request, std::move(message), std::move(path)};
}

Result<json, ControlError> json_object(const std::string& body, const char* what) {
    json j = json::parse(body, nullptr, false);
    if (j.is_discarded()) {
        return Unexpected<ControlError>{bad_request("request body is not valid JSON")};
    }
    if (!j.is_object()) {
        return Unexpected<ControlError>{bad_request(std::string(what) + " must be a JSON object")};
    }
    return j;
}

Result<VersionedObject, ControlError> versioned_object(const std::string& body, const char* what) {
    auto parsed = json_object(body, what);
    if (!parsed) {
        return Unexpected<ControlError>{parsed.error()};
    }
    json& j = *parsed;
    auto it = j.find("resourceVersion");
    if (it == j.end()) {
        return VersionedObject{std::move(j), Precondition{}};
    }
    std::string text = it->is_string()            ? it->get<std::string>()
                       : it->is_number_unsigned() ? std::to_string(it->get<uint64_t>())
                                                  : "";
    constexpr size_t kMaxDigits = 19;  // fits uint64_t
    if (text.empty() || text.size() > kMaxDigits ||
        text.find_first_not_of("0123456789") != std::string::npos) {
        return Unexpected<ControlError>{bad_request(
            "resourceVersion must be the decimal string GET returned", "resourceVersion")};
    }
    j.erase(it);
    return VersionedObject{std::move(j), Precondition{std::stoull(text)}};
}

ControlError parse_error(const Errors& errors, const std::string& prefix_to_strip) {
    ControlError e = invalid(errors, prefix_to_strip);
    e.kind = ControlErrorKind::bad_request;
    return e;
}

std::string namespace_filter(const HttpRequest& r) {
    auto it = r.query.find("namespace");
    return it == r.query.end() ? "" : it->second;
}

json warnings_json(const Errors& warnings) {
    json out = json::array();
    for (const Error& w : warnings) {
        out.push_back(w.path.empty() ? w.message : w.path + ": " + w.message);
    }
    return out;
}

json outcomes_json(const std::vector<ChangeOutcome>& outcomes) {
    json items = json::array();
    for (const auto& o : outcomes) {
        json item{{"kind", o.kind}, {"namespace", o.ns}, {"name", o.name}, {"action", o.action}};
        if (o.kind == "service") {
            item["resourceVersion"] = std::to_string(o.resource_version);
        }
        if (!o.note.empty()) {
            item["note"] = o.note;
        }
        items.push_back(std::move(item));
    }
    return json{{"results", std::move(items)}};
}

HttpResponse change_response(const Result<ChangeOutcome, ControlError>& done) {
    if (!done) {
        return error_response(done.error());
    }
    return json_response(outcomes_json({*done}), done->action == "created" ? 201 : 200);
}

StatsSnapshot stats_of(ControlBackend& b) {
    StatsSnapshot s = b.stats();
    s.config_version = b.state().version();
    return s;
}

}  // namespace svcgw::api
