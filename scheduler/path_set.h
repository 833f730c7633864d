// PathSet: the scheduler's view of one connection's paths -- weight and state, nothing else.
//
// Pure data, owned by whichever thread runs the scheduler (the TUN reader). Changes arrive at
// control rate (path up/down, weight change) and are applied between packets.
#pragma once

#include <cstdint>
#include <vector>

namespace mpt::scheduler {

inline constexpr int kMaxPaths = 64;       // fits the uint64_t masks below
inline constexpr std::uint32_t kMaxWeight = 10000;

struct PathState {
  std::uint32_t weight = 1;  // weight_out; 0 = standby (used only when no weighted path is up)
  bool up = true;
};

// Bit i set = path i is usable.
using PathMask = std::uint64_t;

[[nodiscard]] inline PathMask up_mask(const std::vector<PathState>& paths) {
  PathMask m = 0;
  for (std::size_t i = 0; i < paths.size(); ++i) {
    if (paths[i].up) m |= PathMask{1} << i;
  }
  return m;
}

// The paths that may carry traffic now: the weighted up paths, or, when none of those is up,
// the standby (weight 0) up paths.
[[nodiscard]] inline PathMask eligible_mask(const std::vector<PathState>& paths) {
  PathMask weighted = 0, standby = 0;
  for (std::size_t i = 0; i < paths.size(); ++i) {
    if (!paths[i].up) continue;
    (paths[i].weight > 0 ? weighted : standby) |= PathMask{1} << i;
  }
  return weighted ? weighted : standby;
}

}  // namespace mpt::scheduler
