#include "control/snapshot_publisher.hpp"

namespace svcgw {

Result<void> SnapshotPublisher::publish_table(const ServiceDiff& diff, const MaglevConfig& maglev) {
    // All or nothing: build every new object first (what upsert would do);
    // only if all build is the table touched. validate_and_allocate already
    // rejects everything Service::build can refuse except an explicit
    // Maglev table smaller than a service's backends, so the trial build
    // (half the cost of a 10k-service apply) runs only with an explicit
    // size; the rollback below stays as the safety net.
    std::vector<const ServiceConfig*> upserts = diff.changed;
    upserts.insert(upserts.end(), diff.added.begin(), diff.added.end());
    for (const ServiceConfig* s :
         maglev.table_size != 0 ? upserts : std::vector<const ServiceConfig*>{}) {
        auto built = Service::build(*s, maglev);
        if (!built) {
            Error e = built.error();
            e.path = s->key() + (e.path.empty() ? "" : "." + e.path);
            return Unexpected<Error>{e};
        }
    }
    // Removals first so that a VIP moving between services is free again.
    Error failure;
    bool failed = false;
    for (const ServiceConfig* s : diff.removed) {
        auto done = _table.remove(s->ns, s->name);
        if (!done) {
            failure = done.error();
            failed = true;
            break;
        }
    }
    // A VIP swapped between two changed services fails on the first try;
    // a second pass sees it released.
    for (int pass = 0; pass < 2 && !failed && !upserts.empty(); ++pass) {
        std::vector<const ServiceConfig*> retry;
        for (const ServiceConfig* s : upserts) {
            auto done = _table.upsert(*s, maglev);
            if (!done) {
                retry.push_back(s);
                failure = done.error();
                failure.path = s->key() + (failure.path.empty() ? "" : "." + failure.path);
            }
        }
        upserts = std::move(retry);
        failed = !upserts.empty() && pass == 1;
    }
    if (failed) {
        // Capacity or key conflicts the validation cannot see: restore.
        for (const ServiceConfig* s : diff.added) {
            (void)_table.remove(s->ns, s->name);
        }
        for (const auto* list : {&diff.replaced, &diff.removed}) {
            for (const ServiceConfig* old : *list) {
                (void)_table.upsert(*old, _maglev);
            }
        }
        return Unexpected<Error>{failure};
    }
    _maglev = maglev;
    return {};
}

Result<void, Errors> SnapshotPublisher::go_live(const std::vector<ServiceConfig>& services) {
    if (_zones == nullptr) {
        return Unexpected<Errors>{Errors{Error{"dns", "no DNS zone to publish", ""}}};
    }
    auto done = _zones->publish_all(services);
    if (done) {
        _dns_live = true;
    }
    return done;
}

Result<void> SnapshotPublisher::publish(const ServiceDiff& diff, const MaglevConfig& maglev) {
    if (!_dns_live) {
        return publish_table(diff, maglev);
    }
    auto prepared = _zones->prepare(diff);
    if (!prepared) {
        return Unexpected<Error>{prepared.error().front()};
    }
    auto table = publish_table(diff, maglev);
    if (!table) {
        return table;  // the built zone is dropped: nothing changed
    }
    _zones->commit(std::move(*prepared));
    return {};
}

}  // namespace svcgw
