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
// Whatever the kernel, the batch sizes or the switch to the tail, the ring
// is the textbook's: those choices change the speed, never a slot.
#include "maglev/fill.hpp"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <functional>
#include <limits>
#include <memory>
#include <utility>

#include "maglev/maglev_kernel.hpp"

#ifdef SVCGW_MAGLEV_AVX512
#include <immintrin.h>
// GCC 12's own AVX-512 headers trip -Wmaybe-uninitialized when inlined
// (GCC bug 105593, _mm512_undefined_epi32); nothing here is uninitialised.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

namespace svcgw::maglev_detail {

namespace {

// Positions of one permutation tested per refill step: one 512-bit vector of
// 32-bit positions, and also the length of a backend's candidate list.
constexpr uint32_t kBlock = 16;

// Turns placed per batch of list refills. A candidate found at the start of
// a batch can be taken by the batch's earlier turns, so batches are short;
// long enough that the refills of one batch overlap. At most 64: a batch
// marks its turns in one 64-bit word.
constexpr size_t kBatch = 64;

// From this many turns per round on, a batch first checks that each
// backend's first candidate is still free, and a backend whose candidate is
// gone probes again before the turns. Between two turns of a backend a
// round's worth of slots is taken: with short rounds its candidates rarely
// go and the check costs more than it saves; with thousands of backends most
// of them go near the end, and falling back in the turn loop (a mispredicted
// branch and a serial refill) cost more. Measured crossover 1000-2000
// backends at M = 65537 (perf/RESULTS.md).
constexpr size_t kCheckedRound = 1024;

std::atomic<FillKernel> g_fill_kernel{avx512_compiled() ? FillKernel::kAvx512
                                                        : FillKernel::kPortable};

// Modular inverse of a in Z/mZ (m prime, 0 < a < m), by extended Euclid.
// 32-bit divisions (m < 2^24, and |t| <= m), about twice as fast as 64-bit
// ones.
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

// floor(sqrt(x)), exact whatever the rounding of the double square root.
uint32_t isqrt(uint32_t x) {
    auto r = static_cast<uint64_t>(std::sqrt(static_cast<double>(x)));
    while (r * r > x) {
        --r;
    }
    while ((r + 1) * (r + 1) <= x) {
        ++r;
    }
    return static_cast<uint32_t>(r);
}

// Largest scratch block a thread keeps for its next build (Arena). 4 MiB
// covers ~28k backends; a bigger build frees its block rather than pin it.
constexpr size_t kKeptScratchBytes = size_t{4} << 20;

// Per-backend arrays carved from one allocation. Eight separate arrays of
// 20-320 KiB each (N = 5000) made glibc trim the heap top after every build
// and fault the pages back in on the next: most of the median build time.
// The block is also kept for the thread's next build: freed, it still let
// glibc trim (the block and the old ring together cross its threshold at
// N = 1000), and faulting ~280 KiB back in cost ~20% of that build here.
class Arena {
public:
    Arena() = default;
    Arena(const Arena&) = delete;
    Arena& operator=(const Arena&) = delete;
    ~Arena() {
        Kept& kept = kept_block();
        if (_block && _size <= kKeptScratchBytes && _size > kept.size) {
            kept.block = std::move(_block);
            kept.size = _size;
        }
    }

    // Space for `count` elements of T, 64-byte aligned; call in the same
    // order before (sizing, no block yet) and after allocate().
    template <class T>
    T* take(size_t count) {
        const size_t at = _used;
        _used += (count * sizeof(T) + kAlign - 1) / kAlign * kAlign;
        return _block ? reinterpret_cast<T*>(_base + at) : nullptr;
    }
    void allocate() {
        const size_t wanted = _used + kAlign;
        Kept& kept = kept_block();
        if (kept.size >= wanted) {
            _block = std::move(kept.block);
            _size = std::exchange(kept.size, 0);
        } else {
            _block = std::make_unique_for_overwrite<std::byte[]>(wanted);
            _size = wanted;
        }
        const auto addr = reinterpret_cast<uintptr_t>(_block.get());
        _base = _block.get() + ((kAlign - addr % kAlign) % kAlign);
        _used = 0;
    }

private:
    struct Kept {
        std::unique_ptr<std::byte[]> block;
        size_t size = 0;
    };
    // Per thread: builds run on the control thread, but nothing forbids two.
    static Kept& kept_block() {
        thread_local Kept kept;
        return kept;
    }

    static constexpr size_t kAlign = 64;  // a cache line
    std::unique_ptr<std::byte[]> _block;
    size_t _size = 0;
    std::byte* _base = nullptr;
    size_t _used = 0;
};

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
          _taken((m + 31) / 32, 0) {
        for (int pass = 0; pass < 2; ++pass) {
            _pos = _arena.take<uint32_t>(_n);
            _skip = _arena.take<uint32_t>(_n);
            _block_skip = _arena.take<uint32_t>(_n);
            _value = _arena.take<uint32_t>(_n);
            _need = _arena.take<uint32_t>(kBatch);
            _inverse = _arena.take<uint32_t>(_n);
            _head = _arena.take<uint8_t>(_n);
            _count = _arena.take<uint8_t>(_n);
            _strides = _arena.take<uint32_t>(size_t{_n} * kBlock);
            _lists = _arena.take<uint32_t>(size_t{_n} * kBlock + 1);
            if (pass == 0) {
                _arena.allocate();
            }
        }
        _dummy = size_t{_n} * kBlock;
        _lists[_dummy] = 0;  // a valid position for reads of an empty list
        std::fill_n(_head, _n, 0);
        std::fill_n(_count, _n, 0);
        for (uint32_t i = 0; i < _n; ++i) {
            const uint32_t skip = cursors[i].skip;
            _pos[i] = cursors[i].pos;
            _skip[i] = skip;
            _value[i] = cursors[i].index;
            uint32_t* strides = &_strides[size_t{i} * kBlock];
#ifdef SVCGW_MAGLEV_AVX512
            if (_simd) {
                // k * skip < 16 M <= 2^28; subtracting 8M, 4M, 2M then M where
                // they fit reduces it (the unsigned minimum, as in next_block).
                __m512i x = _mm512_mullo_epi32(
                    _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                    _mm512_set1_epi32(static_cast<int>(skip)));
                for (const uint32_t multiple : {8u, 4u, 2u, 1u}) {
                    const __m512i sub = _mm512_set1_epi32(static_cast<int>(multiple * m));
                    x = _mm512_min_epu32(x, _mm512_sub_epi32(x, sub));
                }
                _mm512_storeu_si512(strides, x);
                _block_skip[i] = advance(strides[kBlock - 1], skip);  // kBlock * skip mod M
                continue;
            }
#endif
            uint32_t stride = 0;
            for (uint32_t k = 0; k < kBlock; ++k) {
                strides[k] = stride;
                stride = advance(stride, skip);
            }
            _block_skip[i] = stride;  // kBlock * skip mod M
        }
    }

    // Takes one slot for each turn, in order: first every backend of the
    // turns gets a list whose first candidate is free, then the turns take
    // their slots. Kept apart from the caller's loop so that the hot
    // pointers stay in registers. kCheck: see kCheckedRound.
    template <bool kCheck>
    [[gnu::noinline]] void place_turns(std::span<const uint32_t> turns) {
        uint8_t* const head = _head;
        uint8_t* const count = _count;
        uint32_t* const need = _need;
        // Which turns need work first, one bit each (kBatch <= 64), without
        // a branch per backend (the test mispredicts often past half full).
        uint64_t needy = 0;
        if constexpr (kCheck) {
            for (size_t k = 0; k < turns.size(); ++k) {
                const uint32_t i = turns[k];
                const uint32_t h = head[i];
                const uint32_t c = count[i];
                needy |= uint64_t{static_cast<uint32_t>(h == c) |
                                  static_cast<uint32_t>(is_taken(candidate(i, h, c)))}
                         << k;
            }
        } else {
            for (size_t k = 0; k < turns.size(); ++k) {
                const uint32_t i = turns[k];
                needy |= uint64_t{head[i] == count[i]} << k;
            }
        }
        // A backend whose first candidate is gone probes again from there:
        // every position before it is taken, and the block from it covers
        // the rest of its list and as many new positions as it has used.
        uint32_t needing = 0;
        for (; needy != 0; needy &= needy - 1) {
            const uint32_t i = turns[static_cast<size_t>(__builtin_ctzll(needy))];
            if constexpr (kCheck) {
                const uint32_t h = head[i];
                const uint32_t c = count[i];
                _pos[i] = h < c ? candidate(i, h, c) : _pos[i];
            }
            need[needing++] = i;
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
        const uint32_t* const lists = _lists;
        for (const uint32_t i : turns) {
            const uint32_t p = lists[size_t{i} * kBlock + head[i]++];
            if (is_taken(p)) [[unlikely]] {
                place(i);  // taken by an earlier turn: next candidates
            } else {
                take(p, i);
            }
        }
    }

    // Backend i's next slot, as the textbook probe would find it. Rare: out
    // of the turn loop's code.
    [[gnu::noinline]] void place(uint32_t i) {
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

    // Switches to the tail (see file comment): gathers the empty slots and
    // the inverses of the skips of the backends in `turns`, the rest of the
    // turns in order.
    void start_tail(std::span<const uint32_t> turns) {
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
        // Montgomery's batch inversion: one extended Euclid and three
        // products per backend instead of one Euclid each (~30 divisions).
        std::vector<uint32_t> who;
        for (const uint32_t i : turns) {
            _inverse[i] = 0;
        }
        for (const uint32_t i : turns) {
            if (_inverse[i] == 0) {
                _inverse[i] = 1;  // seen
                who.push_back(i);
            }
        }
        std::vector<uint32_t> prefix(who.size());
        uint32_t product = 1;
        for (size_t k = 0; k < who.size(); ++k) {
            prefix[k] = product;
            product = mul_mod(product, _skip[who[k]]);
        }
        // The product of skips in [1, M) is not 0 mod M (M prime).
        uint32_t inverse = who.empty() ? 1 : inverse_mod(product, _m);
        for (size_t k = who.size(); k-- > 0;) {
            _inverse[who[k]] = mul_mod(inverse, prefix[k]);
            inverse = mul_mod(inverse, _skip[who[k]]);
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

    // Backend i's candidate h, or when h = c (empty list) a dummy entry; a
    // mask, not a branch.
    uint32_t candidate(uint32_t i, uint32_t h, uint32_t c) const {
        const size_t own = size_t{0} - static_cast<size_t>(h < c);
        return _lists[((size_t{i} * kBlock + h) & own) | (_dummy & ~own)];
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
        if (_simd) {
            const __m512i m = _mm512_set1_epi32(static_cast<int>(_m));
            __m512i p = _mm512_add_epi32(_mm512_set1_epi32(static_cast<int>(pos)),
                                         _mm512_loadu_si512(strides));
            // p mod M for p < 2M: if p >= M then p - M < p unsigned, else
            // p - M wraps above p, so the unsigned minimum is the reduced value.
            p = _mm512_min_epu32(p, _mm512_sub_epi32(p, m));
            return free_of(p, 0xffff, list);
        }
#endif
        // No branch per position (see class comment).
        uint32_t found = 0;
        for (uint32_t k = 0; k < kBlock; ++k) {
            const uint32_t p = advance(pos, strides[k]);
            list[found] = p;
            found += is_taken(p) ? 0 : 1;
        }
        return found;
    }

#ifdef SVCGW_MAGLEV_AVX512
    // Writes the free ones of the positions in the lanes of p, in order, to
    // list and returns how many: one gather of their bitmap words.
    uint32_t free_of(__m512i p, __mmask16 lanes, uint32_t* list) const {
        const __m512i words =
            _mm512_mask_i32gather_epi32(p, lanes, _mm512_srli_epi32(p, 5), _taken.data(), 4);
        const __m512i bits = _mm512_srlv_epi32(words, _mm512_and_si512(p, _mm512_set1_epi32(31)));
        const __mmask16 free = _mm512_mask_testn_epi32_mask(lanes, bits, _mm512_set1_epi32(1));
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
    Arena _arena;
    // Per backend, structure of arrays (the turn loop touches one field at a
    // time): next untested position, skip, kBlock * skip mod M, entry value.
    uint32_t* _pos;
    uint32_t* _skip;
    uint32_t* _block_skip;
    uint32_t* _value;
    uint32_t* _need;               // place_turns: backends that need a refill
    uint32_t* _inverse;            // tail only: skip^-1 mod M
    uint8_t* _head;                // next unread candidate
    uint8_t* _count;               // candidates in the list
    uint32_t* _strides;            // [i * kBlock + k] = k * skip_i mod M
    uint32_t* _lists;              // [i * kBlock + k]: candidate list of backend i
    size_t _dummy;                 // a list entry holding position 0
    std::vector<uint32_t> _empty;  // tail only: slots still free
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

// The turns in order, a round at a time: the probing phase takes them in
// batches that stay within a round (a backend has one turn per round, so a
// batch refills each of its backends at most once), the tail all at once.
// The order depends on the weights only, never on the slots taken.
class TurnStream {
public:
    TurnStream(std::span<const Cursor> cursors, uint32_t max_weight, bool weighted)
        : _n(static_cast<uint32_t>(cursors.size())),
          _weighted(weighted),
          _rounds(weighted ? cursors : std::span<const Cursor>{}, max_weight) {
        if (!weighted) {
            _equal.resize(_n);
            for (uint32_t i = 0; i < _n; ++i) {
                _equal[i] = i;
            }
        }
    }

    // Up to `most` next turns of the current round.
    std::span<const uint32_t> batch(size_t most) {
        if (_at == _round.size()) {
            _round = _weighted ? _rounds.next() : std::span<const uint32_t>(_equal);
            _at = 0;
        }
        const auto out = _round.subspan(_at, std::min(most, _round.size() - _at));
        _at += out.size();
        return out;
    }

    // The next `count` turns, across rounds.
    std::vector<uint32_t> take(size_t count) {
        std::vector<uint32_t> out;
        out.reserve(count);
        while (out.size() < count) {
            const auto turns = batch(count - out.size());
            out.insert(out.end(), turns.begin(), turns.end());
        }
        return out;
    }

private:
    uint32_t _n;
    bool _weighted;
    WeightRounds _rounds;
    std::vector<uint32_t> _equal;      // the equal-weight round: 0 .. n - 1
    std::span<const uint32_t> _round;  // the current round (WeightRounds reuses its buffer)
    size_t _at = 0;                    // turns of it taken
};

// Turns go round the active backends in sorted order. With weights, each
// round a backend gains its weight as credit and places one slot per
// max_weight of credit (at most one per round since weight <= max_weight):
// after r rounds it holds floor(r * weight / max_weight) slots, so shares
// are proportional to weight within one slot, weights need not sum to M and
// scaling every weight by the same factor changes nothing. WeightRounds
// generates the rounds at a cost per placing backend.
//
// Rounds are placed in batches of at most kBatch turns: first every backend
// of the batch gets a candidate list whose first candidate is free, then the
// turns take their slots in order. The refills of different backends do not
// depend on each other, so the CPU overlaps their gathers; interleaved with
// the turns, each refill sat on the critical path of the next turn (3x
// slower at M = 10007, N = 100).
template <class Entry>
std::vector<Entry> fill(std::span<const Cursor> cursors, uint32_t m, uint32_t max_weight,
                        bool weighted, bool simd) {
    const auto n = static_cast<uint32_t>(cursors.size());
    if (n == 1) {
        // Every probe of the only permutation finds a free slot.
        return std::vector<Entry>(m, static_cast<Entry>(cursors[0].index));
    }
    Filler<Entry> filler(m, cursors, simd);
    TurnStream stream(cursors, max_weight, weighted);
    const uint32_t probing = m - std::min(m, isqrt(m));  // then the tail
    // Batches of equal size that divide an equal-weight round.
    const size_t batch = n / ((n + kBatch - 1) / kBatch);
    const bool check = n >= kCheckedRound;
    for (uint32_t filled = 0; filled < probing;) {
        const auto turns = stream.batch(std::min<size_t>(batch, probing - filled));
        if (check) {
            filler.template place_turns<true>(turns);
        } else {
            filler.template place_turns<false>(turns);
        }
        filled += static_cast<uint32_t>(turns.size());
    }
    const auto tail = stream.take(m - probing);
    filler.start_tail(tail);
    for (const uint32_t i : tail) {
        filler.place_tail(i);
    }
    return filler.release();
}

}  // namespace

FillKernel fill_kernel() {
    return g_fill_kernel.load(std::memory_order_relaxed);
}

void set_fill_kernel(FillKernel kernel) {
    g_fill_kernel.store(avx512_compiled() ? kernel : FillKernel::kPortable,
                        std::memory_order_relaxed);
}

template <class Entry>
std::vector<Entry> fill_table(std::span<const Cursor> cursors, uint32_t m, uint32_t max_weight,
                              bool weighted) {
    const bool simd = fill_kernel() == FillKernel::kAvx512;
    return fill<Entry>(cursors, m, max_weight, weighted, simd);
}

template std::vector<uint16_t> fill_table(std::span<const Cursor>, uint32_t, uint32_t, bool);
template std::vector<uint32_t> fill_table(std::span<const Cursor>, uint32_t, uint32_t, bool);

}  // namespace svcgw::maglev_detail
