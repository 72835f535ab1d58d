// Maglev table construction. The fill follows the paper's Population
// procedure exactly (backends take turns; each takes the next still-empty
// slot of its own permutation offset + j * skip mod M), so the result is
// whatever the textbook loop would produce; only the way we get there is
// tuned, because a control-plane rebuild per endpoint change must stay cheap:
//   - permutations are never materialised: each backend keeps its next
//     position and advances it with an add and a conditional subtract;
//   - "already taken" is one bit in an M-bit occupancy bitmap (8 KiB at
//     M = 65537, fits L1) instead of a probe of the entry array;
//   - each backend tests 16 positions of its permutation at once (one
//     AVX-512 gather of bitmap words, or a branch-free loop) and keeps the
//     free ones as a candidate list; its turn takes the first candidate
//     still free, which is exactly the textbook probe's slot (see Filler);
//   - the last few empty slots are the expensive part of the textbook loop
//     (a backend needs M / E probes on average when E slots are left), so
//     once E is small we stop probing and instead compute, for every empty
//     slot, how many steps of this backend's permutation lead to it; the
//     closest one is exactly the slot probing would have found.
#include "maglev/maglev.hpp"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <functional>
#include <limits>
#include <memory>
#include <string_view>
#include <utility>

#include "common/hash.hpp"
#include "maglev/maglev_kernel.hpp"

#ifdef SVCGW_MAGLEV_AVX512
#include <immintrin.h>
// GCC 12's own AVX-512 headers trip -Wmaybe-uninitialized when inlined
// (GCC bug 105593, _mm512_undefined_epi32); nothing here is uninitialised.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

namespace svcgw {

namespace {

// Distinct tags so h1 (offset) and h2 (skip) are independent hashes of the
// same identity under one configured seed. The values are arbitrary.
constexpr uint64_t kOffsetSeedTag = 0x4d61676c65764f66ULL;  // "MaglevOf"
constexpr uint64_t kSkipSeedTag = 0x4d61676c65765368ULL;    // "MaglevSh"

// Switch from probing to the empty-slot scan when E <= kTailFactor * sqrt(M).
// Probing costs about M / E positions per placement, the scan E: the two
// meet near sqrt(M); a probe is a sixteenth of a vector step and a scan step
// a multiply and a reduction, so the factor stays near 1. Tuned with
// perf/bench_maglev.cpp.
constexpr double kTailFactor = 1.0;

// Positions of one permutation tested per refill step: one 512-bit vector of
// 32-bit positions, and also the length of a backend's candidate list.
constexpr uint32_t kBlock = 16;

std::atomic<maglev_detail::FillKernel> g_fill_kernel{maglev_detail::avx512_compiled()
                                                         ? maglev_detail::FillKernel::kAvx512
                                                         : maglev_detail::FillKernel::kPortable};

struct Cursor {
    uint32_t pos;     // first position of this backend's permutation
    uint32_t skip;    // permutation stride, in [1, M)
    uint32_t index;   // ring entry value: index into the sorted backend list
    uint32_t weight;  // credit gained per round
};

// Modular inverse of a in Z/mZ (m prime, 0 < a < m), by extended Euclid.
// 32-bit divisions (m < 2^24, and |t| <= m), about twice as fast as 64-bit
// ones: the tail computes one inverse per backend it places.
uint32_t inverse_mod(uint32_t a, uint32_t m) {
    uint32_t r0 = m;
    uint32_t r1 = a;
    int32_t t0 = 0;
    int32_t t1 = 1;
    while (r1 != 0) {
        const uint32_t q = r0 / r1;
        r0 = std::exchange(r1, r0 - q * r1);
        t0 = std::exchange(t1, t0 - static_cast<int32_t>(q) * t1);
    }
    return static_cast<uint32_t>(t0 < 0 ? t0 + static_cast<int32_t>(m) : t0);
}

// Uninitialised storage: every element is written before it is read, and
// zeroing 100+ KiB of lists and strides would cost more than some builds.
template <class T>
std::unique_ptr<T[]> scratch(size_t n) {
    return std::make_unique_for_overwrite<T[]>(n);
}

// Candidate lists. The textbook loop makes a backend probe its permutation
// one position at a time until a free slot turns up; the probes that find a
// taken slot are most of the work, and a branch on each one mispredicts
// about half the time past half full. Instead, a backend tests kBlock
// positions of its permutation at once (one gather of bitmap words on
// AVX-512) and keeps the free ones, in permutation order, as its candidate
// list. On its turn it takes the first candidate that is still free: slots
// only ever go from free to taken, so every position before that candidate
// is taken now too, and the candidate is exactly the slot the textbook probe
// would reach. Candidates taken meanwhile by other backends are skipped with
// one bit test. The turn order is unchanged, so the ring is the textbook one
// slot for slot, whichever kernel fills the lists.
template <class Entry>
class Filler {
public:
    Filler(uint32_t m, std::span<const Cursor> cursors, bool simd)
        : _m(m),
          _n(static_cast<uint32_t>(cursors.size())),
          _simd(simd),
          // Barrett constant floor((2^64 - 1) / m): with products below 2^48
          // the estimated quotient is off by at most one (one correction).
          _barrett(~uint64_t{0} / m),
          _entries(m),
          _taken((m + 31) / 32, 0),
          _pos(scratch<uint32_t>(_n)),
          _skip(scratch<uint32_t>(_n)),
          _block_skip(scratch<uint32_t>(_n)),
          _value(scratch<uint32_t>(_n)),
          _strides(scratch<uint32_t>(size_t{_n} * kBlock)),
          _lists(scratch<uint32_t>(size_t{_n} * kBlock)),
          _need(scratch<uint32_t>(_n)),
          _head(_n, 0),
          _count(_n, 0),
          _inverse(_n, 0) {
        for (uint32_t i = 0; i < _n; ++i) {
            const uint32_t skip = cursors[i].skip;
            _pos[i] = cursors[i].pos;
            _skip[i] = skip;
            _value[i] = cursors[i].index;
            uint32_t stride = 0;
            for (uint32_t k = 0; k < kBlock; ++k) {
                _strides[size_t{i} * kBlock + k] = stride;
                stride = advance(stride, skip);
            }
            _block_skip[i] = stride;  // kBlock * skip mod M
        }
    }

    // Takes one slot for each turn, in order: first every backend of the
    // turns gets a non-empty candidate list, then the turns take their
    // slots. Kept apart from the caller's loop so that the hot pointers stay
    // in registers.
    void place_turns(std::span<const uint32_t> turns) {
        uint8_t* head = _head.data();
        uint8_t* count = _count.data();
        uint32_t* need = _need.get();
        // Which backends of the turns have an empty list (no branch per
        // backend: the refill check mispredicts often past half full).
        uint32_t needing = 0;
        for (const uint32_t i : turns) {
            need[needing] = i;
            needing += head[i] == count[i] ? 1 : 0;
        }
        // One block per needy backend per pass, the still-empty ones kept for
        // the next pass: the blocks of one pass are independent, so their
        // gathers overlap instead of each waiting for the one before.
        while (needing != 0) {
            uint32_t still = 0;
            for (uint32_t k = 0; k < needing; ++k) {
                const uint32_t i = need[k];
                const uint32_t found = next_block(i);
                head[i] = 0;
                count[i] = static_cast<uint8_t>(found);
                need[still] = i;
                still += found == 0 ? 1 : 0;
            }
            needing = still;
        }
        const uint32_t* lists = _lists.get();
        for (const uint32_t i : turns) {
            const uint32_t p = lists[size_t{i} * kBlock + head[i]++];
            if (is_taken(p)) [[unlikely]] {
                place(i);  // taken by an earlier turn: next candidates
            } else {
                take(p, i);
            }
        }
    }

    // Backend i's next slot, as the textbook probe would find it.
    void place(uint32_t i) {
        for (;;) {
            if (_head[i] == _count[i]) {
                refill(i);
            }
            const uint32_t p = _lists[size_t{i} * kBlock + _head[i]++];
            if (!is_taken(p)) {
                take(p, i);
                return;
            }
        }
    }

    // Gather the empty slots once the table is nearly full (see file comment).
    void start_tail() {
        for (uint32_t w = 0; w < _taken.size(); ++w) {
            uint32_t free_bits = ~_taken[w];
            while (free_bits != 0) {
                const uint32_t slot = w * 32 + static_cast<uint32_t>(__builtin_ctz(free_bits));
                free_bits &= free_bits - 1;
                if (slot < _m) {
                    _empty.push_back(slot);
                }
            }
        }
    }

    // Same choice as place(): candidates left in the list come first (they
    // precede _pos[i] in the permutation); past them, the empty slot the
    // permutation reaches first from _pos[i] is the one with the fewest
    // steps (s - pos) / skip mod M. _empty holds exactly the free slots.
    void place_tail(uint32_t i) {
        while (_head[i] != _count[i]) {
            const uint32_t p = _lists[size_t{i} * kBlock + _head[i]++];
            if (!is_taken(p)) {
                take(p, i);
                remove_empty(static_cast<size_t>(std::find(_empty.begin(), _empty.end(), p) -
                                                 _empty.begin()));
                return;
            }
        }
        if (_inverse[i] == 0) {
            _inverse[i] = inverse_mod(_skip[i], _m);
        }
#ifdef SVCGW_MAGLEV_AVX512
        const size_t best = _simd ? nearest_empty_avx512(_pos[i], _inverse[i])
                                  : nearest_empty_portable(_pos[i], _inverse[i]);
#else
        const size_t best = nearest_empty_portable(_pos[i], _inverse[i]);
#endif
        const uint32_t slot = _empty[best];
        remove_empty(best);
        take(slot, i);
        _pos[i] = advance(slot, _skip[i]);
    }

    std::vector<Entry> release() {
        return std::move(_entries);
    }

private:
    bool is_taken(uint32_t p) const {
        return (_taken[p >> 5] >> (p & 31)) & 1;
    }

    // p < M and skip < M <= 2^24, so the sum cannot overflow.
    uint32_t advance(uint32_t p, uint32_t skip) const {
        p += skip;
        return p >= _m ? p - _m : p;
    }

    void take(uint32_t p, uint32_t i) {
        _taken[p >> 5] |= uint32_t{1} << (p & 31);
        _entries[p] = static_cast<Entry>(_value[i]);
    }

    // Refill backend i's empty list with the free positions among its next
    // kBlock ones, block after block until at least one is free.
    void refill(uint32_t i) {
        uint32_t found = 0;
        do {
            found = next_block(i);
        } while (found == 0);
        _head[i] = 0;
        _count[i] = static_cast<uint8_t>(found);
    }

    // Tests backend i's next kBlock positions, writes the free ones to its
    // list and returns how many.
    uint32_t next_block(uint32_t i) {
        uint32_t* list = &_lists[size_t{i} * kBlock];
        const uint32_t* strides = &_strides[size_t{i} * kBlock];
        const uint32_t pos = _pos[i];
        _pos[i] = advance(pos, _block_skip[i]);
#ifdef SVCGW_MAGLEV_AVX512
        return _simd ? free_in_block_avx512(pos, strides, list)
                     : free_in_block_portable(pos, strides, list);
#else
        return free_in_block_portable(pos, strides, list);
#endif
    }

    // Writes the free ones of positions pos + strides[k] mod M, in order, to
    // list and returns how many. No branch per position (see class comment).
    uint32_t free_in_block_portable(uint32_t pos, const uint32_t* strides, uint32_t* list) const {
        uint32_t found = 0;
        for (uint32_t k = 0; k < kBlock; ++k) {
            const uint32_t p = advance(pos, strides[k]);
            list[found] = p;
            found += is_taken(p) ? 0 : 1;
        }
        return found;
    }

#ifdef SVCGW_MAGLEV_AVX512
    // Same result as free_in_block_portable(): sixteen positions, one
    // gather of their bitmap words, the free ones compressed into list.
    uint32_t free_in_block_avx512(uint32_t pos, const uint32_t* strides, uint32_t* list) const {
        const __m512i m = _mm512_set1_epi32(static_cast<int>(_m));
        __m512i p =
            _mm512_add_epi32(_mm512_set1_epi32(static_cast<int>(pos)), _mm512_loadu_si512(strides));
        // p mod M for p < 2M: if p >= M then p - M < p unsigned, else p - M
        // wraps above p, so the unsigned minimum is the reduced value.
        p = _mm512_min_epu32(p, _mm512_sub_epi32(p, m));
        const __m512i words = _mm512_i32gather_epi32(_mm512_srli_epi32(p, 5), _taken.data(), 4);
        const __m512i bits = _mm512_srlv_epi32(words, _mm512_and_si512(p, _mm512_set1_epi32(31)));
        const __mmask16 free = _mm512_testn_epi32_mask(bits, _mm512_set1_epi32(1));
        // Compress in a register and store the whole vector: Zen 4 runs a
        // compress straight to memory as slow microcode.
        _mm512_storeu_si512(list, _mm512_maskz_compress_epi32(free, p));
        return static_cast<uint32_t>(__builtin_popcount(free));
    }
#endif

    void remove_empty(size_t k) {
        _empty[k] = _empty.back();
        _empty.pop_back();
    }

    // Index in _empty of the slot with the fewest steps from pos.
    size_t nearest_empty_portable(uint32_t pos, uint32_t inverse) const {
        uint32_t best_steps = std::numeric_limits<uint32_t>::max();
        size_t best = 0;
        for (size_t k = 0; k < _empty.size(); ++k) {
            const uint32_t s = _empty[k];
            const uint32_t distance = s >= pos ? s - pos : s + _m - pos;
            const uint32_t steps = mul_mod(distance, inverse);
            if (steps < best_steps) {
                best_steps = steps;
                best = k;
            }
        }
        return best;
    }

#ifdef SVCGW_MAGLEV_AVX512
    // Same result as nearest_empty_portable(), eight slots per step in
    // doubles: the products stay below 2^48, exact in a double's 53 bits, and
    // the quotient from the rounded reciprocal is off by at most one.
    size_t nearest_empty_avx512(uint32_t pos, uint32_t inverse) const {
        const __m512d m = _mm512_set1_pd(double(_m));
        const __m512d reciprocal = _mm512_set1_pd(1.0 / double(_m));
        const __m512d zero = _mm512_setzero_pd();
        const __m512d start = _mm512_set1_pd(double(pos));
        const __m512d factor = _mm512_set1_pd(double(inverse));
        __m512d best_steps = _mm512_set1_pd(double(_m));
        __m512i best_index = _mm512_setzero_si512();
        __m512i index = _mm512_setr_epi64(0, 1, 2, 3, 4, 5, 6, 7);
        const __m512i eight = _mm512_set1_epi64(8);
        const size_t n = _empty.size();
        for (size_t k = 0; k < n; k += 8) {
            const auto lanes = static_cast<__mmask8>(n - k >= 8 ? 0xff : (1u << (n - k)) - 1);
            const __m256i slots =
                _mm512_castsi512_si256(_mm512_maskz_loadu_epi32(lanes, &_empty[k]));
            __m512d d = _mm512_sub_pd(_mm512_cvtepu32_pd(slots), start);
            d = _mm512_mask_add_pd(d, _mm512_cmp_pd_mask(d, zero, _CMP_LT_OQ), d, m);
            const __m512d x = _mm512_mul_pd(d, factor);
            const __m512d q = _mm512_roundscale_pd(_mm512_mul_pd(x, reciprocal),
                                                   _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC);
            __m512d r = _mm512_fnmadd_pd(q, m, x);
            r = _mm512_mask_add_pd(r, _mm512_cmp_pd_mask(r, zero, _CMP_LT_OQ), r, m);
            r = _mm512_mask_sub_pd(r, _mm512_cmp_pd_mask(r, m, _CMP_GE_OQ), r, m);
            const __mmask8 better = _mm512_mask_cmp_pd_mask(lanes, r, best_steps, _CMP_LT_OQ);
            best_steps = _mm512_mask_mov_pd(best_steps, better, r);
            best_index = _mm512_mask_mov_epi64(best_index, better, index);
            index = _mm512_add_epi64(index, eight);
        }
        // Steps are distinct (the permutation is a bijection): one lane holds
        // the minimum.
        const double least = _mm512_reduce_min_pd(best_steps);
        const __mmask8 at = _mm512_cmp_pd_mask(best_steps, _mm512_set1_pd(least), _CMP_EQ_OQ);
        return static_cast<size_t>(_mm512_mask_reduce_max_epi64(at, best_index));
    }
#endif

    // a * b mod M for a, b < M <= 2^24: the product fits 48 bits.
    uint32_t mul_mod(uint32_t a, uint32_t b) const {
        const uint64_t x = uint64_t{a} * b;
        const auto q = static_cast<uint64_t>((static_cast<unsigned __int128>(x) * _barrett) >> 64);
        auto r = static_cast<uint32_t>(x - q * _m);
        return r >= _m ? r - _m : r;
    }

    uint32_t _m;
    uint32_t _n;
    bool _simd;
    uint64_t _barrett;
    std::vector<Entry> _entries;
    std::vector<uint32_t> _taken;  // occupancy bitmap, one bit per slot
    // Per backend, structure of arrays (the turn loop touches one field at a
    // time): next untested position, skip, kBlock * skip mod M, entry value.
    std::unique_ptr<uint32_t[]> _pos;
    std::unique_ptr<uint32_t[]> _skip;
    std::unique_ptr<uint32_t[]> _block_skip;
    std::unique_ptr<uint32_t[]> _value;
    std::unique_ptr<uint32_t[]> _strides;  // [i * kBlock + k] = k * skip_i mod M
    std::unique_ptr<uint32_t[]> _lists;    // [i * kBlock + k]: candidate list of backend i
    std::unique_ptr<uint32_t[]> _need;     // place_turns: backends whose list is empty
    std::vector<uint8_t> _head;            // next unread candidate
    std::vector<uint8_t> _count;           // candidates in the list
    std::vector<uint32_t> _inverse;        // tail only: skip^-1 mod M, 0 = not yet
    std::vector<uint32_t> _empty;          // tail only: slots still free
};

// The turns of weighted rounds. After r rounds a backend of weight w has
// placed floor(r * w / max_weight) slots (the credit rule below), so it
// places in round r exactly when that floor steps up, and backends of equal
// weight place in the same rounds. Rounds are generated per weight class
// from a heap of each class's next placing round: a round costs the
// backends that place in it, not all N (one backend at 1000x the weight of
// 999 others cost 1000 credit updates per slot).
class WeightRounds {
public:
    WeightRounds(std::span<const Cursor> cursors, uint32_t max_weight) : _max(max_weight) {
        std::vector<uint32_t> by_weight(cursors.size());
        for (uint32_t i = 0; i < by_weight.size(); ++i) {
            by_weight[i] = i;
        }
        // Stable: members of a class stay in turn (index) order.
        std::stable_sort(by_weight.begin(), by_weight.end(), [&](uint32_t a, uint32_t b) {
            return cursors[a].weight < cursors[b].weight;
        });
        for (size_t k = 0; k < by_weight.size(); ++k) {
            const uint32_t w = cursors[by_weight[k]].weight;
            if (_classes.empty() || _classes.back().weight != w) {
                _classes.push_back({w, _members.size(), 0});
            }
            _members.push_back(by_weight[k]);
            _classes.back().end = _members.size();
        }
        for (uint32_t c = 0; c < _classes.size(); ++c) {
            _heap.push_back({next_placing_round(0, _classes[c].weight), c});
        }
        std::make_heap(_heap.begin(), _heap.end(), std::greater<>());
        _turns.reserve(cursors.size());
    }

    // Backends placing in the next round that has any, in index order.
    std::span<const uint32_t> next() {
        const uint64_t round = _heap.front().first;
        _turns.clear();
        while (!_heap.empty() && _heap.front().first == round) {
            std::pop_heap(_heap.begin(), _heap.end(), std::greater<>());
            const uint32_t c = _heap.back().second;
            const Class& cls = _classes[c];
            const size_t mid = _turns.size();
            _turns.insert(_turns.end(), _members.begin() + static_cast<ptrdiff_t>(cls.begin),
                          _members.begin() + static_cast<ptrdiff_t>(cls.end));
            std::inplace_merge(_turns.begin(), _turns.begin() + static_cast<ptrdiff_t>(mid),
                               _turns.end());
            _heap.back().first = next_placing_round(round, cls.weight);
            std::push_heap(_heap.begin(), _heap.end(), std::greater<>());
        }
        return _turns;
    }

private:
    struct Class {
        uint32_t weight;
        size_t begin;  // members [begin, end) of _members
        size_t end;
    };

    // First round after `round` in which floor(r * w / max) steps up. The
    // heaviest class places every round, so rounds stay <= M <= 2^24 and the
    // products below 2^57: no overflow.
    uint64_t next_placing_round(uint64_t round, uint64_t w) const {
        const uint64_t placed = round * w / _max;
        return ((placed + 1) * _max + w - 1) / w;
    }

    uint64_t _max;
    std::vector<Class> _classes;
    std::vector<uint32_t> _members;                    // backend indices grouped by class
    std::vector<std::pair<uint64_t, uint32_t>> _heap;  // (next round, class), min-heap
    std::vector<uint32_t> _turns;
};

// Turns go round the active backends in sorted order. With weights, each
// round a backend gains its weight as credit and places one slot per
// max_weight of credit (at most one per round since weight <= max_weight):
// after r rounds it holds floor(r * weight / max_weight) slots, so shares
// are proportional to weight within one slot, weights need not sum to M and
// scaling every weight by the same factor changes nothing. WeightRounds
// generates the rounds at a cost per placing backend.
//
// Each round is filled in two passes: first every backend of the round gets
// a non-empty candidate list, then the turns take their slots in order. The
// refills of different backends do not depend on each other, so the CPU
// overlaps their gathers; interleaved with the turns, each refill sat on the
// critical path of the next turn (3x slower at M = 10007, N = 100).
template <class Entry, bool kWeighted>
std::vector<Entry> fill(std::span<const Cursor> cursors, uint32_t m, uint32_t max_weight,
                        bool simd) {
    Filler<Entry> filler(m, cursors, simd);
    const auto tail =
        std::min<uint32_t>(m, static_cast<uint32_t>(kTailFactor * std::sqrt(double(m))));
    const auto n = static_cast<uint32_t>(cursors.size());
    std::vector<uint32_t> round(n);
    for (uint32_t i = 0; i < n; ++i) {
        round[i] = i;
    }
    WeightRounds rounds(kWeighted ? cursors : std::span<const Cursor>{}, max_weight);
    // The backends that place a slot in the next round, in turn order.
    auto next_round = [&]() -> std::span<const uint32_t> {
        if constexpr (!kWeighted) {
            return round;
        }
        return rounds.next();
    };
    uint32_t filled = 0;
    std::span<const uint32_t> rest;  // turns of the round the probing phase stopped in
    while (filled < m - tail) {
        const auto turns = next_round();
        const auto now = std::min<size_t>(turns.size(), m - tail - filled);
        filler.place_turns(turns.first(now));
        filled += static_cast<uint32_t>(now);
        rest = turns.subspan(now);
    }
    filler.start_tail();
    for (;;) {
        for (const uint32_t i : rest) {
            if (filled == m) {
                return filler.release();
            }
            filler.place_tail(i);
            ++filled;
        }
        if (filled == m) {
            return filler.release();
        }
        rest = next_round();
    }
}

template <class Entry>
std::vector<Entry> fill_any(std::span<const Cursor> cursors, uint32_t m, uint32_t max_weight,
                            bool weighted) {
    const bool simd =
        g_fill_kernel.load(std::memory_order_relaxed) == maglev_detail::FillKernel::kAvx512;
    return weighted ? fill<Entry, true>(cursors, m, max_weight, simd)
                    : fill<Entry, false>(cursors, m, max_weight, simd);
}

uint32_t next_prime(uint32_t n) {
    while (!is_prime(n)) {
        ++n;
    }
    return n;
}

}  // namespace

namespace maglev_detail {

FillKernel fill_kernel() {
    return g_fill_kernel.load(std::memory_order_relaxed);
}

void set_fill_kernel(FillKernel kernel) {
    g_fill_kernel.store(avx512_compiled() ? kernel : FillKernel::kPortable,
                        std::memory_order_relaxed);
}

}  // namespace maglev_detail

bool is_prime(uint32_t n) {
    if (n < 4) {
        return n >= 2;
    }
    if (n % 2 == 0 || n % 3 == 0) {
        return false;
    }
    // Every prime above 3 is 6k +- 1.
    for (uint64_t d = 5; d * d <= n; d += 6) {
        if (n % d == 0 || n % (d + 2) == 0) {
            return false;
        }
    }
    return true;
}

uint32_t maglev_auto_size(size_t backend_count) {
    const uint64_t wanted = uint64_t{kMaglevSlotsPerBackend} * backend_count;
    for (uint64_t rung_base = kMaglevMinAutoSize; rung_base < kMaglevMaxAutoSize; rung_base *= 2) {
        const uint32_t rung = next_prime(static_cast<uint32_t>(rung_base));
        if (rung >= wanted) {
            return std::min(rung, kMaglevMaxAutoSize);
        }
    }
    return kMaglevMaxAutoSize;
}

Result<MaglevRing> MaglevRing::build(std::span<const MaglevBackend> backends, uint32_t table_size,
                                     uint64_t seed) {
    if (table_size != 0) {
        if (table_size > kMaglevMaxTableSize) {
            return fail("table_size", "Maglev table size " + std::to_string(table_size) +
                                          " is above the maximum " +
                                          std::to_string(kMaglevMaxTableSize));
        }
        if (!is_prime(table_size)) {
            return fail("table_size",
                        "Maglev table size " + std::to_string(table_size) +
                            " is not prime (a prime size lets every skip visit every slot); "
                            "the next prime is " +
                            std::to_string(next_prime(table_size)));
        }
    }
    MaglevRing ring;
    if (backends.empty()) {
        return ring;
    }
    if (backends.size() > std::numeric_limits<uint32_t>::max()) {
        return fail("", "too many Maglev backends");
    }

    const auto n = static_cast<uint32_t>(backends.size());
    // Sort by identity (byte order). Comparing an 8-byte big-endian prefix
    // first settles most comparisons without a call to memcmp.
    struct SortKey {
        uint64_t prefix;
        std::string_view identity;
        uint32_t input;
    };
    std::vector<SortKey> keys(n);
    for (uint32_t i = 0; i < n; ++i) {
        const std::string_view id = backends[i].identity;
        uint64_t prefix = 0;
        for (size_t b = 0; b < sizeof(prefix); ++b) {
            const uint64_t byte = b < id.size() ? static_cast<unsigned char>(id[b]) : 0;
            prefix |= byte << (56 - 8 * b);
        }
        keys[i] = {prefix, id, i};
    }
    std::sort(keys.begin(), keys.end(), [](const SortKey& a, const SortKey& b) {
        return a.prefix != b.prefix ? a.prefix < b.prefix : a.identity < b.identity;
    });
    ring._sorted_order.resize(n);
    for (uint32_t i = 0; i < n; ++i) {
        ring._sorted_order[i] = keys[i].input;
        if (i > 0 && keys[i].identity == keys[i - 1].identity) {
            return fail(
                "", "duplicate Maglev backend identity \"" + std::string(keys[i].identity) + "\"");
        }
    }

    const bool all_drained =
        std::all_of(backends.begin(), backends.end(), [](const auto& b) { return b.weight == 0; });
    auto weight_of = [&](uint32_t input) { return all_drained ? 1u : backends[input].weight; };
    uint32_t active = 0;
    uint32_t max_weight = 0;
    for (uint32_t input = 0; input < n; ++input) {
        const uint32_t w = weight_of(input);
        active += w != 0 ? 1 : 0;
        max_weight = std::max(max_weight, w);
    }

    const uint32_t m = table_size != 0 ? table_size : maglev_auto_size(n);
    if (m < active) {
        return fail("table_size", "Maglev table size " + std::to_string(m) + " is smaller than " +
                                      std::to_string(active) +
                                      " backends with weight: some would get no slot");
    }

    const uint64_t offset_seed = hash_u64(seed, kOffsetSeedTag);
    const uint64_t skip_seed = hash_u64(seed, kSkipSeedTag);
    std::vector<Cursor> cursors;
    cursors.reserve(active);
    bool weighted = false;
    for (uint32_t i = 0; i < n; ++i) {
        const uint32_t input = ring._sorted_order[i];
        const uint32_t w = weight_of(input);
        if (w == 0) {
            continue;
        }
        weighted |= w != max_weight;
        const std::string& identity = backends[input].identity;
        cursors.push_back(Cursor{
            .pos = static_cast<uint32_t>(hash_bytes(identity, offset_seed) % m),
            // M = 2 gives M - 1 = 1 and skip 1, still a full permutation.
            .skip = static_cast<uint32_t>(hash_bytes(identity, skip_seed) % (m - 1) + 1),
            .index = i,
            .weight = w,
        });
    }

    // Indices go up to n - 1, so 16 bits hold up to 65536 backends.
    if (n <= uint32_t{std::numeric_limits<uint16_t>::max()} + 1) {
        ring._entries = fill_any<uint16_t>(cursors, m, max_weight, weighted);
    } else {
        ring._entries = fill_any<uint32_t>(cursors, m, max_weight, weighted);
    }
    ring._size = m;
    return ring;
}

std::vector<uint32_t> MaglevRing::slot_counts() const {
    std::vector<uint32_t> counts(_sorted_order.size(), 0);
    std::visit(
        [&](const auto& entries) {
            for (const auto e : entries) {
                ++counts[e];
            }
        },
        _entries);
    return counts;
}

std::span<const uint8_t> MaglevRing::bytes() const {
    return std::visit(
        [](const auto& entries) {
            return std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(entries.data()),
                                            entries.size() * sizeof(entries[0]));
        },
        _entries);
}

}  // namespace svcgw
