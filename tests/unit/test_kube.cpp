// The Kubernetes feed without a network: kubeconfig, object decoding (list
// items without kind, bad objects), watch lines (bookmarks, in-stream 410),
// the reflector's list -> watch -> relist loop over a scripted transport,
// the cluster model (selection, slices before their Service, relists), and
// FeedSync publishing into a ControlState (batching, first sync, a bad
// Service skipped while the rest is served, the origin rule).
#include <gtest/gtest.h>

#include <yaml-cpp/yaml.h>
#include <deque>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "config/manifest.hpp"
#include "control/state.hpp"
#include "kube/cluster_model.hpp"
#include "kube/feed_sync.hpp"
#include "kube/kubeconfig.hpp"
#include "kube/objects.hpp"
#include "kube/reflector.hpp"
#include "kube_fixtures.hpp"

namespace svcgw::kube {
namespace {

// ---------------------------------------------------------------- kubeconfig

TEST(Kubeconfig, CurrentContextWithInlineCaAndToken) {
    const std::string yaml = R"(apiVersion: v1
kind: Config
clusters:
- name: other
  cluster: {server: "https://10.0.0.9:6443"}
- name: test
  cluster:
    server: https://127.0.0.1:36443/prefix/
    certificate-authority-data: )" +
                             std::string("UEVNLUNB") + R"(
users:
- name: svcgw
  user: {token: abc123}
contexts:
- name: ctx
  context: {cluster: test, user: svcgw}
current-context: ctx
)";
    auto access = parse_kubeconfig(yaml, "/etc/svcgw/kubeconfig");
    ASSERT_TRUE(access) << access.error().str();
    EXPECT_EQ(access->host, "127.0.0.1");
    EXPECT_EQ(access->port, 36443);
    EXPECT_EQ(access->base_path, "/prefix");
    EXPECT_EQ(access->ca_pem, "PEM-CA");
    EXPECT_EQ(access->token, "abc123");
    EXPECT_EQ(access->server(), "https://127.0.0.1:36443");
}

// The README's kubeconfig for an edge box, as written there: the CA and
// the token in files beside it, named relative to its directory.
TEST(Kubeconfig, TheReadmesFileReferences) {
    char dir_template[] = "/tmp/svcgw-kubeconfig-XXXXXX";
    ASSERT_NE(mkdtemp(dir_template), nullptr);
    const std::filesystem::path dir = dir_template;
    std::ofstream(dir / "cluster-ca.crt") << "PEM-FROM-FILE";
    std::ofstream(dir / "token") << "t0k3n";
    std::ofstream(dir / "kubeconfig") << R"(apiVersion: v1
kind: Config
clusters:
- name: prod
  cluster:
    server: https://192.0.2.1:6443
    certificate-authority: cluster-ca.crt
users:
- name: svcgw
  user: {tokenFile: token}
contexts:
- name: prod
  context: {cluster: prod, user: svcgw}
current-context: prod
)";
    auto access = load_kubeconfig(dir / "kubeconfig");
    std::filesystem::remove_all(dir);
    ASSERT_TRUE(access) << access.error().str();
    EXPECT_EQ(access->server(), "https://192.0.2.1:6443");
    EXPECT_EQ(access->ca_pem, "PEM-FROM-FILE");
    EXPECT_EQ(access->token, "");
    EXPECT_EQ(access->token_file, (dir / "token").string()) << "re-read per connection";
}

TEST(Kubeconfig, RefusesWhatWouldNotBeVerified) {
    auto with_cluster = [](const std::string& cluster) {
        return "clusters:\n- name: c\n  cluster: " + cluster +
               "\ncontexts:\n- name: x\n  context: {cluster: c, user: u}\ncurrent-context: x\n";
    };
    auto plain = parse_kubeconfig(with_cluster("{server: \"http://127.0.0.1:8080\"}"), "k");
    ASSERT_FALSE(plain);
    EXPECT_NE(plain.error().message.find("not https"), std::string::npos);
    auto insecure = parse_kubeconfig(
        with_cluster("{server: \"https://a:1\", insecure-skip-tls-verify: true}"), "k");
    ASSERT_FALSE(insecure);
    EXPECT_NE(insecure.error().message.find("always verifies"), std::string::npos);
    EXPECT_FALSE(parse_kubeconfig("current-context: nowhere\n", "k"));
    EXPECT_FALSE(parse_kubeconfig(with_cluster("{server: \"https://a:99999\"}"), "k"));
}

TEST(Kubeconfig, InClusterNeedsTheEnvironment) {
    auto none = in_cluster([](const std::string&) { return std::nullopt; }, "/nonexistent");
    ASSERT_FALSE(none);
    EXPECT_NE(none.error().message.find("KUBERNETES_SERVICE_HOST"), std::string::npos);
}

TEST(Kubeconfig, Base64) {
    EXPECT_EQ(base64_decode("aGVsbG8="), "hello");
    EXPECT_EQ(base64_decode("aGVsbA=="), "hell");
    EXPECT_EQ(base64_decode("aGVs\nbG8h"), "hello!");
    EXPECT_FALSE(base64_decode("a$=="));
    EXPECT_FALSE(base64_decode("a"));
}

// ---------------------------------------------------------------- objects

TEST(Objects, ListItemsWithoutKindDecode) {
    Object svc = decode_object(Kind::service, service_json("web", "10.96.0.20"));
    ASSERT_TRUE(svc.ok()) << svc.errors.front().str();
    EXPECT_EQ(svc.key, "default/web");
    EXPECT_EQ(svc.resource_version, "7");
    const auto& watched = std::get<WatchedService>(svc.value);
    EXPECT_EQ(watched.meta.type, "ClusterIP");
    EXPECT_EQ(watched.config.cluster_ip, Ipv4::parse("10.96.0.20"));
    EXPECT_EQ(watched.config.ports.at(0).target_port, 8080);

    Object slice = decode_object(Kind::endpoint_slice, slice_json("web-1", "web", {"10.1.0.5"}));
    ASSERT_TRUE(slice.ok()) << slice.errors.front().str();
    EXPECT_EQ(slice.key, "default/web-1");
    const auto& s = std::get<EndpointSliceConfig>(slice.value);
    EXPECT_EQ(s.service_key(), "default/web");
    ASSERT_EQ(s.endpoints.size(), 1u);
    EXPECT_EQ(s.endpoints[0].ports.at(0).port, 8080);
}

TEST(Objects, QuotedNumbersStayStrings) {
    json s = service_json("web", "10.96.0.20");
    s["spec"]["ports"][0]["targetPort"] = "metrics";
    Object svc = decode_object(Kind::service, s);
    ASSERT_TRUE(svc.ok());
    EXPECT_EQ(std::get<WatchedService>(svc.value).config.ports.at(0).target_port_name, "metrics");
}

TEST(Objects, LoadBalancerFieldsOfAnotherImplementationAreNotOurs) {
    Object svc =
        decode_object(Kind::service, service_json("lb", "10.96.0.21", "LoadBalancer", "other"));
    ASSERT_TRUE(svc.ok()) << svc.errors.front().str();
    const auto& watched = std::get<WatchedService>(svc.value);
    EXPECT_EQ(watched.meta.type, "LoadBalancer");
    EXPECT_EQ(watched.meta.load_balancer_class, "other");
}

TEST(Objects, BadObjectIsNamedWithItsErrors) {
    Object svc = decode_object(Kind::service, service_json("web", "10.96.0.300"));
    EXPECT_FALSE(svc.ok());
    EXPECT_EQ(svc.key, "default/web");
    EXPECT_NE(svc.errors.front().message.find("10.96.0.300"), std::string::npos);
}

// The API's JSON is decoded straight through lib/config's manifest rules
// (ConfigNode), the very rules a manifest file goes through: the same object
// as YAML gives the same value, and a bad field the same error, naming the
// field (only the file:line:col is JSON's to lack).
TEST(Objects, JsonGoesThroughTheManifestFilesRules) {
    auto as_file = [](Kind kind, json object) {
        object["apiVersion"] = kind == Kind::service ? "v1" : "discovery.k8s.io/v1";
        object["kind"] = std::string(kind_name(kind));
        return YAML::Load(object.dump());  // JSON is YAML: quoted strings keep the tag "!"
    };
    auto same_errors = [](const Errors& a, const Errors& b) {
        EXPECT_EQ(a.size(), b.size());
        for (size_t i = 0; i < std::min(a.size(), b.size()); ++i) {
            EXPECT_EQ(a[i].path, b[i].path);
            EXPECT_EQ(a[i].message, b[i].message);
            EXPECT_TRUE(a[i].location.empty()) << a[i].location;
            EXPECT_FALSE(b[i].location.empty()) << b[i].path;
        }
    };
    struct Case {
        const char* name;
        void (*edit)(json&);
        const char* error_path;  // "" = decodes
    };
    const Case services[] = {
        {"as listed", [](json&) {}, ""},
        {"quoted port", [](json& s) { s["spec"]["ports"][0]["port"] = "80"; },
         "Service/default/web.spec.ports[0].port"},
        {"named targetPort", [](json& s) { s["spec"]["ports"][0]["targetPort"] = "http"; }, ""},
        {"typo", [](json& s) { s["spec"]["sesionAffinity"] = "ClientIP"; },
         "Service/default/web.spec.sesionAffinity"},
        {"null field", [](json& s) { s["spec"]["sessionAffinity"] = nullptr; }, ""},
        {"boolean as address", [](json& s) { s["spec"]["externalIPs"] = {true}; },
         "Service/default/web.spec.externalIPs[0]"},
        {"mapping for a list", [](json& s) { s["spec"]["ports"] = json::object(); },
         "Service/default/web.spec.ports"},
    };
    for (const Case& c : services) {
        SCOPED_TRACE(c.name);
        json object = service_json("web", "10.96.0.20");
        c.edit(object);
        Object fed = decode_object(Kind::service, object);
        auto file = service_from_manifest(as_file(Kind::service, object), "svc.yaml");
        ASSERT_EQ(fed.ok(), file.has_value());
        if (file) {
            ServiceConfig from_file = *file;
            from_file.locations.clear();
            EXPECT_EQ(std::get<WatchedService>(fed.value).config, from_file);
            EXPECT_STREQ(c.error_path, "");
            continue;
        }
        same_errors(fed.errors, file.error());
        EXPECT_EQ(fed.errors.front().path, c.error_path);
    }
    const Case slices[] = {
        {"as listed", [](json&) {}, ""},
        {"quoted ready", [](json& s) { s["endpoints"][0]["conditions"]["ready"] = "true"; },
         "EndpointSlice/default/web-1.endpoints[0].conditions.ready"},
        {"port out of range", [](json& s) { s["ports"][0]["port"] = 70000; },
         "EndpointSlice/default/web-1.ports[0].port"},
        {"number as address", [](json& s) { s["endpoints"][0]["addresses"][0] = 10; },
         "EndpointSlice/default/web-1.endpoints[0].addresses[0]"},
    };
    for (const Case& c : slices) {
        SCOPED_TRACE(c.name);
        json object = slice_json("web-1", "web", {"10.1.0.5", "10.1.0.6"});
        c.edit(object);
        Object fed = decode_object(Kind::endpoint_slice, object);
        auto file = slice_from_manifest(as_file(Kind::endpoint_slice, object), "slice.yaml");
        ASSERT_EQ(fed.ok(), file.has_value());
        if (file) {
            const auto& s = std::get<EndpointSliceConfig>(fed.value);
            EXPECT_EQ(s.service_key(), file->service_key());
            EXPECT_EQ(s.endpoints, file->endpoints);
            EXPECT_STREQ(c.error_path, "");
            continue;
        }
        same_errors(fed.errors, file.error());
        EXPECT_EQ(fed.errors.front().path, c.error_path);
    }
}

// What only the feed reads is the feed's alone: the API's list items carry
// no apiVersion, and svcgw.io/backends is read by the feed; a manifest file
// must still name its apiVersion and gets svcgw.io/backends refused as an
// annotation it does not know.
TEST(Objects, WhatTheFeedReadsIsNotAManifestRule) {
    json object = service_json("web", "10.96.0.20");
    object["metadata"]["annotations"] = {{"svcgw.io/backends", "nodeport"}};
    Object fed = decode_object(Kind::service, object);
    ASSERT_TRUE(fed.ok()) << fed.errors.front().str();
    EXPECT_EQ(std::get<WatchedService>(fed.value).meta.backends, BackendMode::node_port);

    object["kind"] = "Service";
    auto file = service_from_manifest(YAML::Load(object.dump()), "svc.yaml");
    ASSERT_FALSE(file);
    ASSERT_EQ(file.error().size(), 2u);
    EXPECT_EQ(file.error()[0].path, "Service/default/web.apiVersion");
    EXPECT_EQ(file.error()[1].path, "Service/default/web.metadata.annotations[svcgw.io/backends]");
    EXPECT_NE(file.error()[1].message.find("unknown annotation"), std::string::npos);
}

TEST(Objects, NodeInternalIpAndReadiness) {
    json node = {{"metadata", {{"name", "n1"}}},
                 {"status",
                  {{"addresses", json::array({{{"type", "Hostname"}, {"address", "n1"}},
                                              {{"type", "InternalIP"}, {"address", "10.0.0.7"}}})},
                   {"conditions", json::array({{{"type", "Ready"}, {"status", "True"}}})}}}};
    Object o = decode_object(Kind::node, node);
    ASSERT_TRUE(o.ok());
    const auto& n = std::get<NodeInfo>(o.value);
    EXPECT_EQ(n.internal_ip, Ipv4::parse("10.0.0.7"));
    EXPECT_TRUE(n.ready);
}

TEST(Objects, WatchLines) {
    auto added = parse_watch_event(
        Kind::service,
        json{{"type", "ADDED"}, {"object", service_json("web", "10.96.0.20")}}.dump());
    ASSERT_TRUE(added);
    EXPECT_EQ(added->type, WatchEvent::Type::added);
    EXPECT_EQ(added->resource_version, "7");
    auto bookmark = parse_watch_event(
        Kind::service,
        R"({"type":"BOOKMARK","object":{"kind":"Service","metadata":{"resourceVersion":"42"}}})");
    ASSERT_TRUE(bookmark);
    EXPECT_EQ(bookmark->type, WatchEvent::Type::bookmark);
    EXPECT_EQ(bookmark->resource_version, "42");
    auto gone = parse_watch_event(
        Kind::service,
        R"x({"type":"ERROR","object":{"kind":"Status","code":410,"reason":"Expired","message":"too old resource version: 5 (9)"}})x");
    ASSERT_TRUE(gone);
    EXPECT_EQ(gone->type, WatchEvent::Type::error);
    EXPECT_EQ(gone->code, 410);
    EXPECT_FALSE(parse_watch_event(Kind::service, "{not json"));
    EXPECT_FALSE(parse_watch_event(Kind::service, R"({"type":"SOMETHING","object":{}})"));
}

TEST(Objects, ListKeepsGoodItemsBesideABadOne) {
    json list = {
        {"metadata", {{"resourceVersion", "100"}, {"continue", "tok"}}},
        {"items", json::array({service_json("a", "10.96.0.20"), service_json("b", "not-an-ip")})}};
    auto page = parse_list(Kind::service, list.dump());
    ASSERT_TRUE(page);
    EXPECT_EQ(page->resource_version, "100");
    EXPECT_EQ(page->continue_token, "tok");
    ASSERT_EQ(page->items.size(), 2u);
    EXPECT_TRUE(page->items[0].ok());
    EXPECT_FALSE(page->items[1].ok());
}

// ---------------------------------------------------------------- selection

TEST(Selection, ClassesAndTheProxyNameLabel) {
    Selection lb_only;
    ServiceMeta cluster_ip{"ClusterIP", "", std::nullopt, {}, std::nullopt};
    ServiceMeta ours{"LoadBalancer", "svcgw.io/lb", std::nullopt, {}, std::nullopt};
    ServiceMeta unset{"LoadBalancer", "", std::nullopt, {}, std::nullopt};
    ServiceMeta theirs{"LoadBalancer", "metallb", std::nullopt, {}, std::nullopt};
    EXPECT_EQ(owns(lb_only, cluster_ip), Ownership::none);
    EXPECT_EQ(owns(lb_only, ours), Ownership::load_balancer);
    EXPECT_EQ(owns(lb_only, unset), Ownership::none);
    EXPECT_EQ(owns(lb_only, theirs), Ownership::none);
    Selection all{true, "svcgw.io/lb", true, ""};
    EXPECT_EQ(owns(all, cluster_ip), Ownership::cluster_ip);
    EXPECT_EQ(owns(all, unset), Ownership::load_balancer);
    EXPECT_EQ(owns(all, theirs), Ownership::cluster_ip);  // its ClusterIP part
    // kube-proxy: a labelled Service belongs to the proxy it names.
    ServiceMeta labelled{"ClusterIP", "", std::string("other-proxy"), {}, std::nullopt};
    EXPECT_EQ(owns(all, labelled), Ownership::none);
    Selection named{true, "svcgw.io/lb", false, "svcgw"};
    EXPECT_EQ(owns(named, labelled), Ownership::none);
    EXPECT_EQ(owns(named, cluster_ip), Ownership::none);
    EXPECT_EQ(owns(named, ServiceMeta{"ClusterIP", "", std::string("svcgw"), {}, std::nullopt}),
              Ownership::cluster_ip);
}

// ---------------------------------------------------------------- model

TEST(ClusterModel, SliceBeforeItsServiceIsJoinedLater) {
    ClusterModel model(cluster_ips(), {Kind::service, Kind::endpoint_slice});
    model.apply(relist(Kind::service, {}));
    EXPECT_FALSE(model.synced());
    model.apply(relist(Kind::endpoint_slice, {slice_json("web-1", "web", {"10.1.0.5"})}));
    EXPECT_TRUE(model.synced());
    Changes none = model.take_changes();
    ASSERT_EQ(none.removals.size(), 1u);  // the slice's service is not there: nothing served
    EXPECT_TRUE(none.upserts.empty());
    model.apply(upsert(Kind::service, service_json("web", "10.96.0.20")));
    Changes changes = model.take_changes();
    ASSERT_EQ(changes.upserts.size(), 1u);
    ASSERT_EQ(changes.upserts[0].endpoints.size(), 1u);
    EXPECT_EQ(changes.upserts[0].endpoints[0].ip, Ipv4::parse("10.1.0.5"));
}

TEST(ClusterModel, SlicesMergeInNameOrderAndOnlyChangesAreDirty) {
    ClusterModel model(cluster_ips(), {Kind::service, Kind::endpoint_slice});
    model.apply(relist(Kind::service, {service_json("web", "10.96.0.20")}));
    model.apply(relist(Kind::endpoint_slice, {slice_json("web-b", "web", {"10.1.0.6"}),
                                              slice_json("web-a", "web", {"10.1.0.5"})}));
    Changes first = model.take_changes();
    ASSERT_EQ(first.upserts.size(), 1u);
    ASSERT_EQ(first.upserts[0].endpoints.size(), 2u);
    EXPECT_EQ(first.upserts[0].endpoints[0].ip, Ipv4::parse("10.1.0.5"));  // web-a first
    // The same object again changes nothing; so does a relist of the same set.
    model.apply(upsert(Kind::endpoint_slice, slice_json("web-a", "web", {"10.1.0.5"})));
    EXPECT_TRUE(model.take_changes().empty());
    model.apply(relist(Kind::service, {service_json("web", "10.96.0.20")}));
    EXPECT_TRUE(model.take_changes().empty());
    // A relist without the service removes it.
    model.apply(relist(Kind::service, {}));
    Changes gone = model.take_changes();
    ASSERT_EQ(gone.removals.size(), 1u);
    EXPECT_EQ(gone.removals[0], "default/web");
}

TEST(ClusterModel, BadObjectIsReportedAndWithdrawn) {
    ClusterModel model(cluster_ips(), {Kind::service, Kind::endpoint_slice});
    model.apply(relist(Kind::service, {service_json("web", "10.96.0.20")}));
    model.apply(relist(Kind::endpoint_slice, {}));
    EXPECT_EQ(model.take_changes().upserts.size(), 1u);
    model.apply(upsert(Kind::service, service_json("web", "bogus")));
    auto problems = model.take_problems();
    ASSERT_EQ(problems.size(), 1u);
    EXPECT_EQ(problems[0].key, "default/web");
    Changes changes = model.take_changes();
    ASSERT_EQ(changes.removals.size(), 1u);
}

// ---------------------------------------------------------------- reflector

// Replies scripted per request; records the paths asked for.
class ScriptedTransport : public Transport {
public:
    struct Step {
        int status = 200;
        std::string body;   // get: the whole body; stream: lines
        bool fail = false;  // connection error (a stream's lines first: cut mid-stream)
    };
    std::deque<Step> gets, streams;
    std::vector<std::string> paths;
    std::vector<std::chrono::steady_clock::time_point> stream_times;  // when each stream began
    std::function<void()> on_empty;  // called when the script is exhausted

    Result<HttpReply> get(const std::string& path) override {
        paths.push_back(path);
        return next(gets, nullptr);
    }
    Result<HttpReply> stream(const std::string& path, int, const DataSink& sink) override {
        paths.push_back(path);
        stream_times.push_back(std::chrono::steady_clock::now());
        return next(streams, &sink);
    }
    void stop() override {}

private:
    Result<HttpReply> next(std::deque<Step>& steps, const DataSink* sink) {
        if (steps.empty()) {
            on_empty();
            return fail("", "script over");
        }
        Step step = steps.front();
        steps.pop_front();
        if (step.fail) {
            if (sink != nullptr && !step.body.empty()) {
                (*sink)(step.body);
            }
            return fail("", "connection refused");
        }
        if (sink != nullptr && step.status == 200) {
            // Deliver in two uneven pieces: lines split across reads.
            size_t cut = step.body.size() / 3;
            (*sink)(std::string_view(step.body).substr(0, cut));
            (*sink)(std::string_view(step.body).substr(cut));
            return HttpReply{200, ""};
        }
        return HttpReply{step.status, step.body};
    }
};

class VectorSink : public DeltaSink {
public:
    void push(Delta delta) override { deltas.push_back(std::move(delta)); }
    std::vector<Delta> deltas;
};

std::string line(const std::string& type, const json& object) {
    return json{{"type", type}, {"object", object}}.dump() + "\n";
}

TEST(Reflector, ListWatchBookmarkAndRelistOnInStream410) {
    ScriptedTransport t;
    VectorSink sink;
    ReflectorOptions o;
    o.kind = Kind::service;
    o.path = "/api/v1/services";
    o.label_selector = "!service.kubernetes.io/service-proxy-name";
    o.page_size = 1;
    o.backoff_initial_ms = 1;
    o.backoff_max_ms = 2;
    Reflector r(o, t, sink);
    json page1 = {{"metadata", {{"resourceVersion", "10"}, {"continue", "c1"}}},
                  {"items", json::array({service_json("a", "10.96.0.20")})}};
    json page2 = {{"metadata", {{"resourceVersion", "11"}}},
                  {"items", json::array({service_json("b", "10.96.0.21")})}};
    t.gets.push_back({200, page1.dump()});
    t.gets.push_back({200, page2.dump()});
    json modified = service_json("a", "10.96.0.20");
    modified["metadata"]["resourceVersion"] = "12";
    t.streams.push_back(
        {200, line("MODIFIED", modified) +
                  line("BOOKMARK", {{"metadata", {{"resourceVersion", "15"}}}}) +
                  line("ERROR", {{"kind", "Status"}, {"code", 410}, {"message", "too old"}})});
    t.gets.push_back(
        {200, json{{"metadata", {{"resourceVersion", "20"}}}, {"items", json::array()}}.dump()});
    t.streams.push_back({0, "", true});  // the next watch cannot connect
    t.on_empty = [&] { r.stop(); };
    r.run();

    ASSERT_GE(t.paths.size(), 5u);
    EXPECT_EQ(
        t.paths[0],
        "/api/v1/services?labelSelector=%21service.kubernetes.io%2Fservice-proxy-name&limit=1");
    EXPECT_NE(t.paths[1].find("continue=c1"), std::string::npos);
    EXPECT_NE(t.paths[2].find("watch=true&allowWatchBookmarks=true&timeoutSeconds=300"),
              std::string::npos);
    EXPECT_NE(t.paths[2].find("resourceVersion=10"), std::string::npos);  // the first page's
    EXPECT_EQ(t.paths[3].find("watch=true"), std::string::npos);          // relist after 410
    EXPECT_NE(t.paths[4].find("resourceVersion=20"), std::string::npos);
    ASSERT_EQ(sink.deltas.size(), 3u);
    EXPECT_EQ(sink.deltas[0].type, Delta::Type::relisted);
    EXPECT_EQ(sink.deltas[0].objects.size(), 2u);
    EXPECT_EQ(sink.deltas[1].type, Delta::Type::upsert);
    EXPECT_EQ(sink.deltas[2].type, Delta::Type::relisted);
    EXPECT_TRUE(sink.deltas[2].objects.empty());
    EXPECT_EQ(r.counters().relists.load(), 2u);
    EXPECT_EQ(r.counters().expired.load(), 1u);
    EXPECT_EQ(r.counters().bookmarks.load(), 1u);
    EXPECT_EQ(r.counters().events.load(), 1u);
}

TEST(Reflector, ResumesFromTheBookmarkAfterACut) {
    ScriptedTransport t;
    VectorSink sink;
    ReflectorOptions o;
    o.path = "/api/v1/services";
    o.backoff_initial_ms = 1;
    Reflector r(o, t, sink);
    t.gets.push_back(
        {200, json{{"metadata", {{"resourceVersion", "5"}}}, {"items", json::array()}}.dump()});
    t.streams.push_back({200, line("BOOKMARK", {{"metadata", {{"resourceVersion", "9"}}}})});
    t.streams.push_back({0, "", true});
    t.streams.push_back({200, ""});
    t.on_empty = [&] { r.stop(); };
    r.run();
    ASSERT_EQ(t.paths.size(), 5u);
    EXPECT_NE(t.paths[2].find("resourceVersion=9"), std::string::npos);
    EXPECT_NE(t.paths[3].find("resourceVersion=9"), std::string::npos);  // no relist for a cut
    EXPECT_EQ(r.counters().relists.load(), 1u);
    EXPECT_GE(r.counters().errors.load(), 1u);
}

// A refusing API is told once per run of equal failures, not per retry,
// and again after a list succeeded in between.
TEST(Reflector, LogsARunOfEqualFailuresOnce) {
    ScriptedTransport t;
    VectorSink sink;
    ReflectorOptions o;
    o.path = "/api/v1/services";
    o.backoff_initial_ms = 1;
    o.backoff_max_ms = 1;
    std::vector<std::string> logged;
    o.log = [&](const std::string& line) { logged.push_back(line); };
    Reflector r(o, t, sink);
    const std::string unauthorized = R"({"kind": "Status", "message": "Unauthorized"})";
    const std::string empty_list =
        json{{"metadata", {{"resourceVersion", "5"}}}, {"items", json::array()}}.dump();
    for (int i = 0; i < 3; ++i) {
        t.gets.push_back({401, unauthorized});
    }
    t.gets.push_back({200, empty_list});
    t.streams.push_back({410, R"({"kind": "Status", "code": 410})"});  // the watch: relist
    t.gets.push_back({401, unauthorized});
    t.on_empty = [&] { r.stop(); };
    r.run();
    EXPECT_EQ(r.counters().errors.load(), 5u);  // every failure counted (the script's end too)
    ASSERT_EQ(logged.size(), 3u) << testing::PrintToString(logged);
    EXPECT_EQ(logged[0],
              "kubernetes: list /api/v1/services: HTTP 401: Unauthorized (retrying with back-off)");
    EXPECT_EQ(logged[1], logged[0]);  // told again: a list worked in between
    EXPECT_NE(logged[2].find("script over"), std::string::npos);
}

// The back-off grows while the API is away and starts over once a watch
// streams again: the next cut, however much later, is retried after the
// initial wait, not after the last one doubled.
TEST(Reflector, AWatchThatStreamedResetsTheBackoff) {
    ScriptedTransport t;
    VectorSink sink;
    ReflectorOptions o;
    o.path = "/api/v1/services";
    o.backoff_initial_ms = 40;
    o.backoff_max_ms = 100000;
    Reflector r(o, t, sink);
    t.gets.push_back(
        {200, json{{"metadata", {{"resourceVersion", "5"}}}, {"items", json::array()}}.dump()});
    for (int i = 0; i < 4; ++i) {
        t.streams.push_back({0, "", true});  // waits 40, 80, 160, 320 ms after these
    }
    t.streams.push_back({200, line("BOOKMARK", {{"metadata", {{"resourceVersion", "9"}}}}), true});
    t.on_empty = [&] { r.stop(); };
    r.run();
    ASSERT_EQ(t.stream_times.size(), 6u);
    using std::chrono::milliseconds;
    const auto grown = t.stream_times[4] - t.stream_times[3];
    const auto after_cut = t.stream_times[5] - t.stream_times[4];
    EXPECT_GE(grown, milliseconds(320));
    EXPECT_LT(after_cut, milliseconds(300)) << "40 ms after a working watch, not 640";
    EXPECT_NE(t.paths.back().find("resourceVersion=9"), std::string::npos);
}

TEST(Reflector, BackoffDoublesToItsCapAndResets) {
    Backoff b(250, 1000);
    EXPECT_EQ(b.next_ms(), 250u);
    EXPECT_EQ(b.next_ms(), 500u);
    EXPECT_EQ(b.next_ms(), 1000u);
    EXPECT_EQ(b.next_ms(), 1000u);
    b.reset();
    EXPECT_EQ(b.next_ms(), 250u);
}

// ---------------------------------------------------------------- FeedSync + ControlState

struct SyncFixture : ::testing::Test {
    RecordingPublisher publisher;
    std::unique_ptr<ControlState> state;
    std::vector<std::string> log;
    FeedSync sync{
        cluster_ips(), {Kind::service, Kind::endpoint_slice}, 5, [this](const std::string& l) {
            log.push_back(l);
        }};
    std::chrono::steady_clock::time_point t0 = std::chrono::steady_clock::now();

    void SetUp() override { state = std::make_unique<ControlState>(base_config(), publisher, 0); }
    std::optional<uint32_t> poll(int ms) {
        return sync.poll(*state, t0 + std::chrono::milliseconds(ms), 1000);
    }
};

TEST_F(SyncFixture, NothingBeforeTheFirstCompleteList) {
    std::vector<Delta> d;
    d.push_back(relist(Kind::service, {service_json("web", "10.96.0.20")}));
    sync.receive(std::move(d));
    EXPECT_FALSE(poll(0));
    EXPECT_EQ(publisher.calls, 0);
    EXPECT_FALSE(sync.synced());
    std::vector<Delta> d2;
    d2.push_back(relist(Kind::endpoint_slice, {slice_json("web-1", "web", {"10.1.0.5"})}));
    sync.receive(std::move(d2));
    EXPECT_FALSE(poll(1));
    EXPECT_TRUE(sync.synced());
    EXPECT_TRUE(sync.take_first_sync());
    EXPECT_FALSE(sync.take_first_sync());
    EXPECT_EQ(publisher.calls, 1);
    const ServiceRecord* r = state->find("default", "web");
    ASSERT_NE(r, nullptr);
    EXPECT_EQ(r->origin, Origin::kubernetes);
    EXPECT_EQ(r->config.endpoints.size(), 1u);
}

TEST_F(SyncFixture, BurstsWaitForTheWindowALoneEventDoesNot) {
    std::vector<Delta> d;
    d.push_back(relist(Kind::service, {service_json("web", "10.96.0.20")}));
    d.push_back(relist(Kind::endpoint_slice, {}));
    sync.receive(std::move(d));
    EXPECT_FALSE(poll(0));  // first sync
    int calls = publisher.calls;
    for (int i = 0; i < 100; ++i) {
        std::vector<Delta> e;
        e.push_back(upsert(Kind::endpoint_slice,
                           slice_json("web-1", "web", {"10.1.0." + std::to_string(i + 1)})));
        sync.receive(std::move(e));
        auto wait = poll(1);  // within the 5 ms window of the last publish
        ASSERT_TRUE(wait);
        EXPECT_LE(*wait, 5u);
    }
    EXPECT_EQ(publisher.calls, calls);  // 100 events, nothing published yet
    EXPECT_FALSE(poll(6));              // the window is over: one publish
    EXPECT_EQ(publisher.calls, calls + 1);
    EXPECT_EQ(state->find("default", "web")->config.endpoints.at(0).ip, Ipv4::parse("10.1.0.100"));
    // A lone event after a quiet window goes out at once.
    std::vector<Delta> e;
    e.push_back(upsert(Kind::endpoint_slice, slice_json("web-1", "web", {"10.1.0.200"})));
    sync.receive(std::move(e));
    EXPECT_FALSE(poll(20));
    EXPECT_EQ(publisher.calls, calls + 2);
    EXPECT_EQ(sync.stats().lag.count, 103u);  // two lists, 100 events, one more
}

TEST_F(SyncFixture, ABadServiceIsSkippedTheOthersServed) {
    std::vector<Delta> d;
    // "clash" takes web's ClusterIP: Kubernetes would never allow it, svcgw
    // must still serve the rest and report the one it cannot.
    d.push_back(relist(Kind::service,
                       {service_json("web", "10.96.0.20"), service_json("zclash", "10.96.0.20"),
                        service_json("outside", "192.168.9.9")}));
    d.push_back(relist(Kind::endpoint_slice, {}));
    sync.receive(std::move(d));
    EXPECT_FALSE(poll(0));
    EXPECT_NE(state->find("default", "web"), nullptr);
    EXPECT_EQ(state->find("default", "zclash"), nullptr);
    EXPECT_EQ(state->find("default", "outside"), nullptr);
    EXPECT_EQ(sync.stats().rejected, 2u);
    size_t rejected_events = 0;
    for (const FeedEvent& e : sync.events()) {
        rejected_events += e.reason == "Rejected" ? 1 : 0;
    }
    EXPECT_EQ(rejected_events, 2u);
    // When web goes, zclash's VIP is free: the retry serves it.
    std::vector<Delta> e;
    Delta gone;
    gone.type = Delta::Type::remove;
    gone.kind = Kind::service;
    gone.object = decode_object(Kind::service, service_json("web", "10.96.0.20"));
    e.push_back(std::move(gone));
    sync.receive(std::move(e));
    EXPECT_FALSE(poll(10));
    EXPECT_EQ(state->find("default", "web"), nullptr);
    EXPECT_NE(state->find("default", "zclash"), nullptr);
}

TEST_F(SyncFixture, TheClusterTakesOverAFileServiceOfTheSameName) {
    Config c = base_config();
    ServiceConfig file_web;
    file_web.name = "web";
    file_web.cluster_ip = Ipv4::parse("10.96.0.50");
    file_web.ports.push_back(ServicePortConfig{"", 80, 80, "", Protocol::tcp});
    c.services.push_back(file_web);
    state = std::make_unique<ControlState>(c, publisher, 0);
    std::vector<Delta> d;
    d.push_back(relist(Kind::service, {service_json("web", "10.96.0.20")}));
    d.push_back(relist(Kind::endpoint_slice, {}));
    sync.receive(std::move(d));
    EXPECT_FALSE(poll(0));
    const ServiceRecord* r = state->find("default", "web");
    ASSERT_NE(r, nullptr);
    EXPECT_EQ(r->origin, Origin::kubernetes);
    EXPECT_EQ(r->config.cluster_ip, Ipv4::parse("10.96.0.20"));
    // A reload naming it does not take it back: the cluster wins.
    Config reload = base_config();
    reload.services.push_back(file_web);
    ASSERT_TRUE(state->reload(reload, 1));
    EXPECT_EQ(state->find("default", "web")->origin, Origin::kubernetes);
    EXPECT_EQ(state->find("default", "web")->config.cluster_ip, Ipv4::parse("10.96.0.20"));
}

}  // namespace
}  // namespace svcgw::kube
