// One immutable object that workers read lock-free (STYLE §4): the control
// thread publishes a replacement with one release store and retires the old
// one (rcu/retire_list.hpp), freed once every worker has passed a quiescent
// state.
//
// Threading: publish/reclaim on the control thread; workers keep a pointer
// to current() and load it with acquire.
#pragma once

#include <atomic>
#include <cstddef>
#include <memory>
#include <utility>

#include "rcu/retire_list.hpp"

namespace svcgw {

template <class T>
class RcuSlot {
public:
    // qsbr may be null only when no reader is ever registered (tests):
    // then an old object is freed at once.
    explicit RcuSlot(rte_rcu_qsbr* qsbr) : _retired(qsbr) {}
    RcuSlot(const RcuSlot&) = delete;
    RcuSlot& operator=(const RcuSlot&) = delete;

    const std::atomic<const T*>& current() const { return _current; }
    const T* get() const { return _live.get(); }  // control thread

    void publish(std::unique_ptr<const T> next) {
        // Release: the object's contents are visible before its address
        // (pairs with the workers' acquire load).
        _current.store(next.get(), std::memory_order_release);
        _retired.retire(std::exchange(_live, std::move(next)));
        reclaim();
    }
    void reclaim() { _retired.reclaim(); }
    size_t retired() const { return _retired.pending(); }

private:
    std::unique_ptr<const T> _live;  // what _current points to
    std::atomic<const T*> _current{nullptr};
    rcu::RetireList<const T> _retired;
};

}  // namespace svcgw
