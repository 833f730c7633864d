// The one clock of the data and control planes: CLOCK_MONOTONIC through the vDSO (no
// syscall). Pure functions, any thread.
#pragma once

#include <time.h>

#include <cstdint>

namespace mpt::engine {

[[nodiscard]] inline std::uint64_t monotonic_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1000000000ull +
         static_cast<std::uint64_t>(ts.tv_nsec);
}

[[nodiscard]] inline std::uint64_t monotonic_us() { return monotonic_ns() / 1000; }

}  // namespace mpt::engine
