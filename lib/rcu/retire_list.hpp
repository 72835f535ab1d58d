// Objects the workers may still read, freed once every worker has reported
// a quiescent state since they were unpublished (STYLE §4, DESIGN §1). One
// helper for every control-thread publisher that swaps a pointer the
// workers read: the DNS zone (control/snapshot_publisher.hpp) and the
// neighbour view (port/neighbour.hpp). The VIP table's services go through
// rte_hash's own defer queue (table/service_table.hpp).
//
// Use: store the new pointer (release), then retire() what it replaced.
// The grace-period token is taken inside retire(), after that store, so a
// worker that reports quiescent past the token no longer holds the old
// object. reclaim() frees, without blocking, every object whose grace
// period is over; tokens grow in queue order, so it stops at the first one
// that is not.
//
// Threading: control thread only (one writer, as rte_rcu_qsbr_start wants).
// With a null QSBR variable (no reader is ever registered) retire() frees
// at once.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <utility>

struct rte_rcu_qsbr;

namespace svcgw::rcu {

// rte_rcu_qsbr_start: a token that every reader passes once it reports
// quiescent after this call.
uint64_t grace_token(rte_rcu_qsbr* qsbr);
// rte_rcu_qsbr_check without waiting: has every reader passed `token`?
bool grace_over(rte_rcu_qsbr* qsbr, uint64_t token);

template <class T>
class RetireList {
public:
    // `qsbr` must outlive the list.
    explicit RetireList(rte_rcu_qsbr* qsbr) : _qsbr(qsbr) {}
    RetireList(const RetireList&) = delete;
    RetireList& operator=(const RetireList&) = delete;

    void retire(std::unique_ptr<T> object) {
        if (object == nullptr) {
            return;
        }
        if (_qsbr == nullptr) {
            return;  // no reader: `object` is freed here
        }
        _retired.emplace_back(grace_token(_qsbr), std::move(object));
    }

    // Frees what no worker can hold any more; returns how many.
    size_t reclaim() {
        size_t freed = 0;
        while (!_retired.empty() && grace_over(_qsbr, _retired.front().first)) {
            _retired.pop_front();
            ++freed;
        }
        return freed;
    }

    // Frees everything now: the readers must be stopped (or offline).
    void clear() { _retired.clear(); }

    size_t pending() const { return _retired.size(); }

private:
    rte_rcu_qsbr* _qsbr;
    std::deque<std::pair<uint64_t, std::unique_ptr<T>>> _retired;  // (token, object)
};

}  // namespace svcgw::rcu
