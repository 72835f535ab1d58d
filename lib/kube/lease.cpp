#include "kube/lease.hpp"

#include <algorithm>
#include <charconv>
#include <cstdio>

#include <nlohmann/json.hpp>

namespace svcgw::kube {

namespace {

using json = nlohmann::json;

constexpr int64_t kUsPerSecond = 1000000;
constexpr int64_t kSecondsPerDay = 86400;

// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
// days_from_civil), so no TZ environment or timegm is involved.
int64_t days_from_civil(int64_t y, unsigned m, unsigned d) {
    y -= m <= 2 ? 1 : 0;
    const int64_t era = (y >= 0 ? y : y - 399) / 400;
    const auto yoe = static_cast<unsigned>(y - era * 400);
    const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

struct Civil {
    int64_t y;
    unsigned m, d;
};
Civil civil_from_days(int64_t z) {
    z += 719468;
    const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    const auto doe = static_cast<unsigned>(z - era * 146097);
    const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    const unsigned mp = (5 * doy + 2) / 153;
    const unsigned d = doy - (153 * mp + 2) / 5 + 1;
    const unsigned m = mp < 10 ? mp + 3 : mp - 9;
    return {static_cast<int64_t>(yoe) + era * 400 + (m <= 2 ? 1 : 0), m, d};
}

// `n` digits at text[at...], or nullopt.
std::optional<unsigned> digits(std::string_view text, size_t at, size_t n) {
    if (at + n > text.size()) {
        return std::nullopt;
    }
    unsigned value = 0;
    for (size_t i = at; i < at + n; ++i) {
        if (text[i] < '0' || text[i] > '9') {
            return std::nullopt;
        }
        value = value * 10 + static_cast<unsigned>(text[i] - '0');
    }
    return value;
}

std::string text_or_empty(const json& spec, const char* key) {
    auto it = spec.find(key);
    return it != spec.end() && it->is_string() ? it->get<std::string>() : std::string();
}

Result<Lease> lease_from(const json& object) {
    if (!object.is_object()) {
        return fail("", "a Lease is not a JSON object");
    }
    Lease lease;
    auto metadata = object.find("metadata");
    if (metadata == object.end() || !metadata->is_object()) {
        return fail("metadata", "missing");
    }
    lease.name = text_or_empty(*metadata, "name");
    lease.resource_version = text_or_empty(*metadata, "resourceVersion");
    if (lease.name.empty()) {
        return fail("metadata.name", "missing");
    }
    auto spec = object.find("spec");
    if (spec == object.end() || !spec->is_object()) {
        return lease;  // an empty spec: held by nobody
    }
    lease.holder = text_or_empty(*spec, "holderIdentity");
    if (auto d = spec->find("leaseDurationSeconds"); d != spec->end()) {
        if (!d->is_number_integer() || d->get<int64_t>() < 0 ||
            d->get<int64_t>() > std::numeric_limits<uint32_t>::max()) {
            return fail("spec.leaseDurationSeconds", "not a non-negative integer");
        }
        lease.duration_s = d->get<uint32_t>();
    }
    for (auto [key, out] :
         {std::pair{"renewTime", &lease.renew_us}, std::pair{"acquireTime", &lease.acquire_us}}) {
        const std::string text = text_or_empty(*spec, key);
        if (text.empty()) {
            continue;
        }
        *out = parse_micro_time(text);
        if (!*out) {
            return fail(std::string("spec.") + key, "not an RFC 3339 time: '" + text + "'");
        }
    }
    return lease;
}

}  // namespace

std::string lease_name(std::string_view member) {
    return std::string(kLeaseNamePrefix) + std::string(member);
}

std::string leases_path(std::string_view ns) {
    return "/apis/coordination.k8s.io/v1/namespaces/" + std::string(ns) + "/leases";
}

std::string lease_path(std::string_view ns, std::string_view name) {
    return leases_path(ns) + "/" + std::string(name);
}

std::string fleet_leases_query(std::string_view ns) {
    // "app.kubernetes.io/managed-by=svcgw", URL-encoded ('/' and '=').
    return leases_path(ns) + "?labelSelector=app.kubernetes.io%2Fmanaged-by%3D" +
           std::string(kLeaseLabelValue);
}

std::string format_micro_time(int64_t unix_us) {
    int64_t seconds = unix_us / kUsPerSecond;
    int64_t micros = unix_us % kUsPerSecond;
    if (micros < 0) {
        micros += kUsPerSecond;
        --seconds;
    }
    int64_t days = seconds / kSecondsPerDay;
    int64_t rest = seconds % kSecondsPerDay;
    if (rest < 0) {
        rest += kSecondsPerDay;
        --days;
    }
    const Civil c = civil_from_days(days);
    char out[40];
    std::snprintf(out, sizeof out, "%04lld-%02u-%02uT%02lld:%02lld:%02lld.%06lldZ",
                  static_cast<long long>(c.y), c.m, c.d, static_cast<long long>(rest / 3600),
                  static_cast<long long>(rest / 60 % 60), static_cast<long long>(rest % 60),
                  static_cast<long long>(micros));
    return out;
}

std::optional<int64_t> parse_micro_time(std::string_view text) {
    // YYYY-MM-DDTHH:MM:SS[.fraction](Z|+hh:mm|-hh:mm)
    auto y = digits(text, 0, 4), mo = digits(text, 5, 2), d = digits(text, 8, 2);
    auto h = digits(text, 11, 2), mi = digits(text, 14, 2), s = digits(text, 17, 2);
    if (!y || !mo || !d || !h || !mi || !s || text.size() < 20 || text[4] != '-' ||
        text[7] != '-' || (text[10] != 'T' && text[10] != 't') || text[13] != ':' ||
        text[16] != ':' || *mo < 1 || *mo > 12 || *d < 1 || *d > 31 || *h > 23 || *mi > 59 ||
        *s > 60) {
        return std::nullopt;
    }
    size_t at = 19;
    int64_t micros = 0;
    if (text[at] == '.') {
        ++at;
        size_t n = 0;
        int64_t scale = kUsPerSecond;
        while (at < text.size() && text[at] >= '0' && text[at] <= '9') {
            if (n < 6) {
                scale /= 10;
                micros += (text[at] - '0') * scale;
            }
            ++n;
            ++at;
        }
        if (n == 0 || n > 9) {
            return std::nullopt;
        }
    }
    int64_t offset_s = 0;
    if (at < text.size() && (text[at] == 'Z' || text[at] == 'z')) {
        ++at;
    } else if (at < text.size() && (text[at] == '+' || text[at] == '-')) {
        auto oh = digits(text, at + 1, 2), om = digits(text, at + 4, 2);
        if (!oh || !om || at + 6 > text.size() || text[at + 3] != ':' || *oh > 23 || *om > 59) {
            return std::nullopt;
        }
        offset_s = (text[at] == '+' ? 1 : -1) * static_cast<int64_t>(*oh * 3600 + *om * 60);
        at += 6;
    } else {
        return std::nullopt;
    }
    if (at != text.size()) {
        return std::nullopt;
    }
    const int64_t seconds = days_from_civil(*y, *mo, *d) * kSecondsPerDay + *h * 3600 + *mi * 60 +
                            std::min(*s, 59u) - offset_s;
    return seconds * kUsPerSecond + micros;
}

std::string lease_body(std::string_view ns, const Lease& lease) {
    json metadata{{"name", lease.name},
                  {"namespace", std::string(ns)},
                  {"labels", {{std::string(kLeaseLabelKey), std::string(kLeaseLabelValue)}}}};
    if (!lease.resource_version.empty()) {
        metadata["resourceVersion"] = lease.resource_version;
    }
    json spec{{"holderIdentity", lease.holder}, {"leaseDurationSeconds", lease.duration_s}};
    if (lease.renew_us) {
        spec["renewTime"] = format_micro_time(*lease.renew_us);
    }
    if (lease.acquire_us) {
        spec["acquireTime"] = format_micro_time(*lease.acquire_us);
    }
    return json{{"apiVersion", "coordination.k8s.io/v1"},
                {"kind", "Lease"},
                {"metadata", std::move(metadata)},
                {"spec", std::move(spec)}}
        .dump();
}

Result<Lease> parse_lease(std::string_view body) {
    json object = json::parse(body, nullptr, false);
    if (object.is_discarded()) {
        return fail("", "a Lease reply is not JSON");
    }
    return lease_from(object);
}

Result<LeaseList> parse_lease_list(std::string_view body) {
    json object = json::parse(body, nullptr, false);
    if (object.is_discarded() || !object.is_object()) {
        return fail("", "a LeaseList reply is not a JSON object");
    }
    LeaseList list;
    if (auto metadata = object.find("metadata"); metadata != object.end()) {
        list.resource_version = text_or_empty(*metadata, "resourceVersion");
    }
    auto items = object.find("items");
    if (items == object.end() || !(items->is_array() || items->is_null())) {
        return fail("items", "missing");
    }
    if (items->is_array()) {
        for (const json& item : *items) {
            auto lease = lease_from(item);
            if (!lease) {
                // One bad Lease is a member that is not live, not a failed list.
                continue;
            }
            list.items.push_back(std::move(*lease));
        }
    }
    return list;
}

std::string_view to_string(LeaseState state) {
    switch (state) {
        case LeaseState::missing:
            return "missing";
        case LeaseState::released:
            return "released";
        case LeaseState::expired:
            return "expired";
        case LeaseState::live:
            return "live";
    }
    return "?";
}

LeaseState lease_state(const ObservedLease* observed, std::string_view member, int64_t now_unix_us,
                       uint64_t now_ms) {
    if (observed == nullptr) {
        return LeaseState::missing;
    }
    const Lease& lease = observed->lease;
    if (lease.holder != member) {
        return LeaseState::released;
    }
    if (!lease.renew_us || lease.duration_s == 0) {
        return LeaseState::expired;
    }
    const int64_t duration_us = int64_t{lease.duration_s} * kUsPerSecond;
    const bool claimed = *lease.renew_us + duration_us > now_unix_us;
    const bool seen = observed->observed_ms + uint64_t{lease.duration_s} * 1000 > now_ms;
    return claimed && seen ? LeaseState::live : LeaseState::expired;
}

void LeaseTable::update(const std::vector<Lease>& items, uint64_t now_ms) {
    if (frozen(now_ms)) {
        _frozen_at_ms = _last_list_ms + _hold_ms;
        _grace_until_ms = now_ms + _grace_ms;
    }
    std::map<std::string, ObservedLease, std::less<>> next;
    for (const Lease& lease : items) {
        ObservedLease entry{lease, now_ms};
        auto old = _leases.find(lease.name);
        if (old != _leases.end() && old->second.lease.renew_us == lease.renew_us &&
            old->second.lease.holder == lease.holder) {
            entry.observed_ms = old->second.observed_ms;  // not renewed since
        }
        next.emplace(lease.name, std::move(entry));
    }
    _leases = std::move(next);
    _listed = true;
    _last_list_ms = now_ms;
}

MemberLease LeaseTable::state(std::string_view member, int64_t now_unix_us, uint64_t now_ms) const {
    auto it = _leases.find(lease_name(member));
    const ObservedLease* observed = it == _leases.end() ? nullptr : &it->second;
    // At monotonic time `at` (<= now), the wall clock as far back.
    auto state_at = [&](uint64_t at) {
        return lease_state(observed, member, now_unix_us - static_cast<int64_t>(now_ms - at) * 1000,
                           at);
    };
    // The API unreachable: as of the end of the hold.
    const uint64_t at = frozen(now_ms) ? _last_list_ms + _hold_ms : now_ms;
    MemberLease out;
    out.state = state_at(at);
    if (out.state == LeaseState::expired && at < _grace_until_ms &&
        state_at(_frozen_at_ms) == LeaseState::live) {
        out.state = LeaseState::live;  // not renewed yet since the API came back
    }
    if (observed != nullptr) {
        out.renew_us = observed->lease.renew_us;
        out.duration_s = observed->lease.duration_s;
    }
    return out;
}

}  // namespace svcgw::kube
