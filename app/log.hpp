// The daemon's log (stderr, one line per event: journald or the test rig
// keeps it) and its clocks.
#pragma once

#include <time.h>

#include <cstdarg>
#include <cstdint>
#include <cstdio>

namespace svcgw::app {

// Any thread (the feed's reflectors log too): one line at a time.
__attribute__((format(printf, 1, 2))) inline void log(const char* format, ...) {
    flockfile(stderr);
    std::fputs("svcgw: ", stderr);
    va_list args;
    va_start(args, format);
    std::vfprintf(stderr, format, args);
    va_end(args);
    std::fputc('\n', stderr);
    funlockfile(stderr);
}

inline uint64_t now_ms() {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return uint64_t(ts.tv_sec) * 1000 + uint64_t(ts.tv_nsec) / 1'000'000;
}

inline int64_t now_unix() {
    return static_cast<int64_t>(::time(nullptr));
}

}  // namespace svcgw::app
