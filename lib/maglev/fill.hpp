// The Maglev table fill (maglev.cpp sets it up: order, hashes, weights).
// Internal to lib/maglev; tests reach it through MaglevRing::build.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

namespace svcgw::maglev_detail {

// One backend with weight, in sorted order.
struct Cursor {
    uint32_t pos;     // first position of its permutation, offset = h1 mod M
    uint32_t skip;    // permutation stride, h2 mod (M - 1) + 1
    uint32_t index;   // ring entry value: index into the sorted backend list
    uint32_t weight;  // credit gained per round
};

// The table of size m (prime) that the paper's Population procedure fills
// from these cursors, taking turns in cursor order with the credit rule for
// weights (max_weight = the largest weight; weighted = weights differ).
template <class Entry>
std::vector<Entry> fill_table(std::span<const Cursor> cursors, uint32_t m, uint32_t max_weight,
                              bool weighted);

extern template std::vector<uint16_t> fill_table(std::span<const Cursor>, uint32_t, uint32_t, bool);
extern template std::vector<uint32_t> fill_table(std::span<const Cursor>, uint32_t, uint32_t, bool);

}  // namespace svcgw::maglev_detail
