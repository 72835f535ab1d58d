// The control thread's running service state, the one owner of the running
// set: every service the daemon serves, where it came from (the config
// file, the API or the Kubernetes feed), when it was created, and the
// all-or-nothing operations on it. Pure C++ (no DPDK):
// publishing goes through a ServicePublisher: in the daemon the publish step
// over the VIP table and the DNS zone (control/snapshot_publisher.hpp)
// behind the health checks (control/health_overlay.hpp); tests fake it.
//
// Threading: control thread only. API threads never call this directly;
// they queue jobs to the control thread (control/control_queue.hpp).
//
// Every mutation: validate the change with the running services as
// `previous` (allocated ClusterIPs never move) -> ServicePublisher::publish
// of the diff (the one place where "the service set changed": VIP table and
// DNS zone) -> commit. A change of a few services (an API create, replace
// or delete, a feed event) is validated against an index of the running set
// and committed in place, in O(changed); a reload, or a change that does not
// validate, goes over the whole set (validate_and_allocate), which also words
// the errors. Any error leaves everything as it was.
//
// Reload rule (SIGHUP): the file is the source of truth for the services it
// names. A reload creates or updates every service in the file (taking over
// an API-created service of the same name), deletes file-owned services
// missing from the file, and leaves services created through the API alone:
// they persist until deleted through the API. An API change to a
// file-owned service lasts until the next reload (the file wins, as with
// `kubectl apply` of the same manifest).
//
// The API never writes a service of origin kubernetes (the feed follows
// the cluster's object and would undo it): PUT, DELETE, the endpoint
// changes and apply are refused with a Conflict naming the owner and
// change nothing (lib/control/README.md, "Origins").
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/result.hpp"
#include "config/config.hpp"
#include "config/endpoint_slices.hpp"
#include "config/service_index.hpp"

namespace svcgw {

// Where a running service came from. For one ns/name the cluster wins over
// the file and the file over the API (lib/control/README.md, "Origins").
enum class Origin { file, api, kubernetes };
std::string_view to_string(Origin origin);  // "file" | "api" | "kubernetes"

struct ServiceRecord {
    ServiceConfig config;
    Origin origin = Origin::api;
    int64_t created_unix_s = 0;  // kept across updates (Kubernetes creationTimestamp)
    // ControlState::version() when this service last changed: the
    // precondition a client sends back (Kubernetes resourceVersion).
    uint64_t resource_version = 0;
};

// Why a change was refused. The HTTP surface maps kinds to status codes
// (api_json.cpp, http_of); nothing below it speaks HTTP.
enum class ControlErrorKind {
    not_found,              // no such service or endpoint
    already_exists,         // create-only, and it exists
    conflict,               // a stale resourceVersion: someone changed it since
    precondition_required,  // a full replacement without a resourceVersion
    invalid,                // the result would not validate
    bad_request,            // the request contradicts itself
};

struct ControlError {
    ControlErrorKind kind = ControlErrorKind::invalid;
    std::string message;
    std::string path;  // the offending field, may be empty
};

ControlError not_found(const std::string& ns, const std::string& name);
// Every error in one message; paths lose `prefix_to_strip`.
ControlError invalid(const Errors& errors, const std::string& prefix_to_strip = "");

// The difference between two service sets, by "ns/name": all a publisher
// is given (it never sees the whole set).
struct ServiceDiff {
    std::vector<const ServiceConfig*> added;
    std::vector<const ServiceConfig*> changed;
    std::vector<const ServiceConfig*> replaced;  // the running version of each `changed`
    std::vector<const ServiceConfig*> removed;   // the running version
    bool empty() const { return added.empty() && changed.empty() && removed.empty(); }
    // `running` becomes `next`: the one way a change enters the diff, so
    // `replaced[i]` is always `changed[i]`'s running version.
    void change(const ServiceConfig* running, const ServiceConfig* next) {
        changed.push_back(next);
        replaced.push_back(running);
    }
};
ServiceDiff diff_services(const std::vector<ServiceConfig>& previous,
                          const std::vector<ServiceConfig>& next, bool maglev_changed);
// `set` (by "ns/name") with `diff` applied: what a publisher that follows
// the whole set (a test's fake) holds after it.
void apply_diff(std::map<std::string, ServiceConfig>& set, const ServiceDiff& diff);

struct DiffCounts {
    size_t added = 0;
    size_t changed = 0;
    size_t removed = 0;
    // Kubernetes objects left out (each with why); the rest was published.
    std::vector<SkippedObject> skipped;
};

// Applies a diff to the data plane (and whatever else derives from the
// service set). All or nothing: on error nothing visible changed. An error
// path names the service by "ns/name". The one step is SnapshotPublisher
// (VIP table + DNS zone); HealthOverlay sits in front of it and follows each
// diff that went live.
class ServicePublisher {
public:
    virtual ~ServicePublisher() = default;
    virtual Result<void> publish(const ServiceDiff& diff, const MaglevConfig& maglev) = 0;
};

// A live source's batch (the Kubernetes feed): what was published, and
// the services left out, each with why.
struct SyncOutcome {
    DiffCounts counts;
    std::vector<std::pair<std::string, Errors>> rejected;  // "ns/name" -> errors
};

// An event of a live origin (the Kubernetes feed: objects it left out,
// statuses it wrote), as `kubectl get events` lists them.
struct OriginEvent {
    int64_t unix_s = 0;
    std::string type;    // Normal | Warning
    std::string reason;  // Synced, InvalidObject, Rejected, PublishFailed, ...
    std::string object;  // "Service/ns/name"; "Service" for the whole feed; "Node/name"
    std::string message;
};

// Outcome per object, as kubectl prints it: created | configured | unchanged | deleted.
struct ChangeOutcome {
    std::string ns;
    std::string name;
    std::string action;
    uint64_t resource_version = 0;  // of the service after the change
    std::string kind = "service";   // or "endpointslice"
    std::string note{};             // what the operator should know ("" = nothing)
};

// An apply of a document stream: the outcome of each object, and the
// Kubernetes objects left out (the rest was applied).
struct ApplyOutcome {
    std::vector<ChangeOutcome> results;
    std::vector<SkippedObject> skipped;
    // The first `owned` of `skipped` were left out because the feed owns
    // their service (a Conflict, not an invalid object).
    size_t owned = 0;
};

// Preconditions of a change: the resourceVersion the client read.
// nullopt = none given.
using Precondition = std::optional<uint64_t>;

class ControlState {
public:
    // `base` carries everything but the services (network, dns, maglev,
    // ...); its services are the initial file-owned set, already published.
    ControlState(Config base, ServicePublisher& publisher, int64_t now_unix_s);

    // Creates or replaces each service (API origin for new ones; an
    // existing one keeps its origin and age; one of the feed's is a
    // Conflict). create_only: AlreadyExists if one exists. `expected` (one service only): Conflict
    // unless the service is at that resourceVersion.
    Result<std::vector<ChangeOutcome>, ControlError> apply(std::vector<ServiceConfig> services,
                                                           bool create_only, int64_t now_unix_s,
                                                           Precondition expected = {});
    // POST /v1/apply: services and EndpointSlices (a whole-cluster export).
    // Slices are kept whether their Service is here or not, and joined to
    // it whenever it comes. A Kubernetes object that cannot be taken (its
    // own errors, or a clash with a running service) is left out and
    // reported, its running version untouched; native services are all or
    // nothing, as the file's. Objects for a service of the feed are left out
    // first (ApplyOutcome::owned); a native one refuses the request.
    Result<ApplyOutcome, ControlError> apply(ServiceSet set, int64_t now_unix_s);
    // Deletes a service and its EndpointSlices (as their ownerReferences
    // would in Kubernetes).
    Result<ChangeOutcome, ControlError> remove(const std::string& ns, const std::string& name);
    // Deletes one EndpointSlice; its Service (when running) loses the
    // endpoints only that slice listed.
    Result<ChangeOutcome, ControlError> remove_slice(const std::string& ns,
                                                     const std::string& name);

    // Endpoint changes, each one atomic step on the control thread (no
    // client-side read-modify-write). An endpoint given without `ports`
    // keeps the ports it has; a new one without `ports` on a service whose
    // targetPort is a name is refused (it could never get traffic).
    //
    // The whole list; `expected` is required (PreconditionRequired without,
    // Conflict when stale), so two writers cannot lose an update.
    Result<ChangeOutcome, ControlError> set_endpoints(const std::string& ns,
                                                      const std::string& name,
                                                      std::vector<EndpointSpec> endpoints,
                                                      Precondition expected);
    // Adds the endpoint, or writes its given fields over the existing one
    // (action "created" or "configured"/"unchanged").
    Result<ChangeOutcome, ControlError> upsert_endpoint(const std::string& ns,
                                                        const std::string& name,
                                                        const EndpointSpec& endpoint);
    Result<ChangeOutcome, ControlError> remove_endpoint(const std::string& ns,
                                                        const std::string& name, Ipv4 ip);
    // Terminating and not ready: keeps its flows, gets new ones only when
    // nothing else can take them (Kubernetes' rule); weight and ports kept.
    Result<ChangeOutcome, ControlError> drain_endpoint(const std::string& ns,
                                                       const std::string& name, Ipv4 ip);
    // Publishes these services again with their configs unchanged, for an
    // overlay the builds read (health checks) that changed under them. Same
    // publish path as every change; no version bump (the running set is
    // the same). Unknown keys are skipped.
    Result<void> republish(const std::vector<std::string>& keys);
    // SIGHUP: `file` is the freshly parsed file (parse_config: not
    // validated, no ClusterIP allocated: that happens here, against the
    // whole running set). The restart-only sections are checked by the caller.
    Result<DiffCounts, Errors> reload(Config file, int64_t now_unix_s);

    // A batch of a live origin (the Kubernetes feed): `upserts` create or
    // replace services (taking over a file or API service of the same
    // name), `removals` delete services of `origin` (other origins' keys
    // are left alone). Unlike apply, one bad service does not fail the
    // batch: it is left out (a running service of `origin` with its key is
    // withdrawn) and returned in `rejected`; the rest is published in one
    // step. Errors only when publishing itself fails (nothing changed).
    Result<SyncOutcome, Errors> sync(Origin origin, std::vector<ServiceConfig> upserts,
                                     const std::vector<std::string>& removals, int64_t now_unix_s);

    const ServiceRecord* find(const std::string& ns, const std::string& name) const;
    // The EndpointSlices of the file and the API (the feed keeps its own),
    // also those whose Service is not running.
    const EndpointSliceSet& endpoint_slices() const { return _slices; }
    Origin slice_origin(const std::string& slice_key) const;
    // Everything a service does not honour: its own fields, its slices',
    // and what svcgw does differently for it (kube-dns).
    Errors warnings(const ServiceRecord& record) const;
    // The running set, sorted by namespace/name: its one copy.
    const std::map<std::string, ServiceRecord>& records() const { return _records; }
    // The running configuration (the sections as last validated, services =
    // the running set by key), built from the records on demand: O(running
    // set), for start-up, DNS going live and tests, not for a change's path.
    Config running_config() const;
    uint64_t version() const { return _version; }  // bumps on each published change

private:
    // Validates `next` (the complete running set) with the other sections
    // of `sections` (nullptr = the running ones), publishes the diff and
    // commits. Errors are left for the caller to shape.
    // `skippable`: services a failure leaves out alone (reported in
    // DiffCounts::skipped); `instead` says what runs in place of one left
    // out (its running version, or nothing).
    struct Leniency {
        Skippable skippable;
        Replacement instead;
    };
    Result<DiffCounts, Errors> commit(std::vector<ServiceConfig> next,
                                      const std::map<std::string, Origin>& origins,
                                      int64_t now_unix_s, const Config* sections,
                                      const Leniency* leniency = nullptr);
    // commit()'s diff path, for a change of a few services with the other
    // sections as they run: `upserts` (new versions, of new or running
    // services) and `removals` (running keys) are validated against the rest
    // through _index (validate_change), published as a diff and committed in
    // place: O(changed), the rest of the running set is neither copied nor
    // checked again. nullopt (nothing changed) when the change does not
    // validate: commit() over the whole set then words the errors and
    // leaves out what it may.
    std::optional<Result<DiffCounts, Errors>> commit_changes(
        const std::vector<ServiceConfig>& upserts, const std::vector<std::string>& removals,
        const std::map<std::string, Origin>& origins, int64_t now_unix_s);
    // Keeps _index in step with the running set: `old` stops running, `now`
    // runs (either may be null).
    void track(const ServiceConfig* old, const ServiceConfig* now);
    // apply()'s one path: services and slices of one request.
    Result<ApplyOutcome, ControlError> apply_services(ServiceSet set, bool create_only,
                                                      int64_t now_unix_s, Precondition expected);
    // Endpoints of every service in `next` from the slices of `after`
    // (services of the feed excepted: it merges its own); a service that
    // had slices in `before` and has none left has no endpoints.
    void join_slices(std::vector<ServiceConfig>& next, const EndpointSliceSet& before,
                     const EndpointSliceSet& after) const;
    std::optional<ServiceConfig> running_version(const std::string& key) const;
    // The running set's configs, by key (a copy: the whole-set paths).
    std::vector<ServiceConfig> running() const;
    // "services[3].ports[0]" -> "default/web.ports[0]".
    static Errors name_services(Errors errors, const std::vector<ServiceConfig>& services);

    Config skeleton() const;  // the sections a change is validated with
    // sync()'s fast path: only endpoints of running `origin` services change.
    std::optional<Result<SyncOutcome, Errors>> sync_endpoints(Origin origin,
                                                              std::vector<ServiceConfig>& upserts);

    // Conflict when `record` is no longer at `expected`.
    std::optional<ControlError> check_version(const ServiceRecord& record, uint64_t expected) const;
    // Conflict when `key` runs with an origin the API may not write
    // (kubernetes: change it in the cluster).
    std::optional<ControlError> check_owner(const std::string& key) const;

    // The one path of every endpoint change: `edit` turns the current list
    // into the next one (or refuses), then the service alone is validated
    // and published.
    using EndpointEdit = std::function<Result<std::vector<EndpointConfig>, ControlError>(
        const ServiceConfig& current)>;
    Result<ChangeOutcome, ControlError> change_endpoints(const std::string& ns,
                                                         const std::string& name,
                                                         Precondition expected,
                                                         const EndpointEdit& edit);

    // Everything but the services (network, dns, maglev, ...), as the last
    // whole-set commit validated them; `services` stays empty.
    Config _sections;
    // The running set by key, with each service's origin, age and version:
    // its only copy here (the publishers are given diffs, the index keeps
    // keys by address).
    std::map<std::string, ServiceRecord> _records;
    ServiceIndex _index;                           // what the running set claims (commit_changes)
    EndpointSliceSet _slices;                      // of the file and the API
    std::map<std::string, Origin> _slice_origins;  // slice key -> file | api
    ServicePublisher& _publisher;
    uint64_t _version = 1;
};

}  // namespace svcgw
