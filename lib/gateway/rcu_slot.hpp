// One immutable object that workers read lock-free (STYLE §4): the control
// thread publishes a replacement with one release store and frees the old
// one once every worker has passed a quiescent state (rte_rcu_qsbr token
// taken after the store, checked non-blocking).
//
// Threading: publish/reclaim on the control thread; workers keep a pointer
// to current() and load it with acquire.
#pragma once

#include <rte_rcu_qsbr.h>

#include <atomic>
#include <deque>
#include <memory>
#include <utility>

namespace svcgw {

template <class T>
class RcuSlot {
public:
    // qsbr may be null only when no reader is ever registered (tests):
    // then an old object is freed at once.
    explicit RcuSlot(rte_rcu_qsbr* qsbr) : _qsbr(qsbr) {}
    ~RcuSlot() {
        delete _current.load(std::memory_order_relaxed);
        for (auto& [token, old] : _retired) {
            delete old;
        }
    }
    RcuSlot(const RcuSlot&) = delete;
    RcuSlot& operator=(const RcuSlot&) = delete;

    const std::atomic<const T*>& current() const { return _current; }
    const T* get() const { return _current.load(std::memory_order_relaxed); }  // control thread

    void publish(std::unique_ptr<const T> next) {
        // Release: the object's contents are visible before its address
        // (pairs with the workers' acquire load).
        const T* old = _current.exchange(next.release(), std::memory_order_acq_rel);
        if (old == nullptr) {
            return;
        }
        if (_qsbr == nullptr) {
            delete old;
            return;
        }
        // The token orders after the store: a reader that reports quiescent
        // past it no longer holds `old`.
        _retired.emplace_back(rte_rcu_qsbr_start(_qsbr), old);
        reclaim();
    }
    void reclaim() {
        // Tokens grow in queue order: stop at the first grace period not over.
        while (!_retired.empty() && rte_rcu_qsbr_check(_qsbr, _retired.front().first, false) == 1) {
            delete _retired.front().second;
            _retired.pop_front();
        }
    }
    size_t retired() const { return _retired.size(); }

private:
    rte_rcu_qsbr* _qsbr;
    std::atomic<const T*> _current{nullptr};
    std::deque<std::pair<uint64_t, const T*>> _retired;
};

}  // namespace svcgw
