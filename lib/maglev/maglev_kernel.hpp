// Which code fills a Maglev ring's candidate lists (maglev.cpp). Every
// kernel produces the same ring byte for byte; this switch exists so that
// tests can check the portable kernel on a machine that would pick AVX-512.
#pragma once

namespace svcgw::maglev_detail {

// AVX-512 F is enough (gather, compress, unsigned min); -march decides.
#if defined(__AVX512F__)
#define SVCGW_MAGLEV_AVX512 1
constexpr bool avx512_compiled() {
    return true;
}
#else
constexpr bool avx512_compiled() {
    return false;
}
#endif

enum class FillKernel { kAvx512, kPortable };

// Defaults to kAvx512 when compiled in. Relaxed atomic: a build already
// running keeps the kernel it started with.
FillKernel fill_kernel();
// kAvx512 falls back to kPortable when AVX-512 is not compiled in.
void set_fill_kernel(FillKernel kernel);

}  // namespace svcgw::maglev_detail
