// Idle back-off for `dpdk.idle: adaptive`: what a worker does between two
// polls that found nothing. Busy-polling costs a whole core even at zero
// traffic; on a box shared with other gateways, a BGP speaker or a test rig
// that core is wanted elsewhere. The policy (as DPDK's l3fwd-power: empty
// polls first, then pauses, then sleeps):
//   - work seen less than kIdleSpinUs ago: poll at full speed (gaps inside a
//     traffic burst never cost latency);
//   - then until kIdlePauseUntilUs: poll with a short pause between polls
//     (frees the SMT sibling and the memory bus, no system call);
//   - then sleep, kIdleSleepMinUs doubling on every empty poll up to
//     kIdleSleepMaxUs, which bounds the delay a frame (rx, handed off, or
//     from the control thread) or the housekeeping can see.
// The first frame resets it to full polling. Under load the worker never
// leaves the first phase, so throughput is that of `poll`.
//
// Pure: the caller passes TSC readings and performs the action (the worker
// loop goes RCU-offline around a sleep). One instance per worker thread.
#pragma once

#include <algorithm>
#include <cstdint>

namespace svcgw {

// A 32-frame burst at 1 Mpps spans 32 us: below this the worker is between
// frames of one burst of traffic, not idle.
constexpr uint32_t kIdleSpinUs = 50;
// Pausing polls up to here: a few more bursts' worth of gap before the first
// system call (a sleep costs a few us of CPU to enter and leave).
constexpr uint32_t kIdlePauseUntilUs = 200;
// x86 PAUSE is ~40-140 cycles depending on the core: 32 of them ~1 us
// between polls in the pause phase.
constexpr uint32_t kIdlePausesPerPoll = 32;
// Sleeps double from min to max. 10 us is about the cost of entering and
// leaving one; 500 us bounds the added latency of the first frame after an
// idle spell while keeping an idle worker near 1% of a core (~2000 wakeups/s).
constexpr uint32_t kIdleSleepMinUs = 10;
constexpr uint32_t kIdleSleepMaxUs = 500;

struct IdleAction {
    enum class Kind : uint8_t { poll, pause, sleep };
    Kind kind = Kind::poll;
    uint32_t sleep_us = 0;  // Kind::sleep only
};

class IdleBackoff {
public:
    explicit IdleBackoff(uint64_t tsc_hz)
        : _spin_ticks(tsc_hz * kIdleSpinUs / 1'000'000),
          _pause_ticks(tsc_hz * kIdlePauseUntilUs / 1'000'000) {}

    // After one poll at `now_tsc` that took in frames (`worked`) or not:
    // what to do before the next poll.
    IdleAction next(bool worked, uint64_t now_tsc) {
        if (worked) {
            _idle_since = now_tsc;
            _sleep_us = 0;
            return {};
        }
        const uint64_t idle = now_tsc - _idle_since;
        if (idle < _spin_ticks) {
            return {};
        }
        if (idle < _pause_ticks) {
            return {IdleAction::Kind::pause, 0};
        }
        _sleep_us = _sleep_us == 0 ? kIdleSleepMinUs : std::min(2 * _sleep_us, kIdleSleepMaxUs);
        return {IdleAction::Kind::sleep, _sleep_us};
    }

private:
    uint64_t _spin_ticks;
    uint64_t _pause_ticks;
    uint64_t _idle_since = 0;  // TSC of the last poll that found work
    uint32_t _sleep_us = 0;    // the last sleep of this idle spell, 0 = none yet
};

}  // namespace svcgw
