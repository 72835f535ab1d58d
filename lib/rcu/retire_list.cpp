#include "rcu/retire_list.hpp"

#include <rte_rcu_qsbr.h>

namespace svcgw::rcu {

uint64_t grace_token(rte_rcu_qsbr* qsbr) {
    return rte_rcu_qsbr_start(qsbr);
}

bool grace_over(rte_rcu_qsbr* qsbr, uint64_t token) {
    return rte_rcu_qsbr_check(qsbr, token, false) == 1;
}

}  // namespace svcgw::rcu
