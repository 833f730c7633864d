#include "scheduler/flow_pinning.h"

#include <cmath>

namespace mpt::scheduler {
namespace {
std::uint64_t mix(std::uint64_t x) {  // splitmix64 finalizer
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}
}  // namespace

void FlowPinning::set_paths(const std::vector<PathState>& paths) {
  const std::size_t n = std::min<std::size_t>(paths.size(), kMaxPaths);
  const PathMask eligible = eligible_mask(paths);
  for (std::size_t s = 0; s < kSlots; ++s) {
    int best = -1;
    double best_score = 0;
    for (std::size_t i = 0; i < n; ++i) {
      if (!(eligible & (PathMask{1} << i))) continue;
      const double w = paths[i].weight ? paths[i].weight : 1.0;
      // u in (0, 1): 53 random bits, never 0.
      const double u = (static_cast<double>(mix(s * 1315423911ull + i) >> 11) + 0.5) / 9007199254740992.0;
      const double score = w / -std::log(u);
      if (best < 0 || score > best_score) {
        best = static_cast<int>(i);
        best_score = score;
      }
    }
    table_[s] = static_cast<std::int8_t>(best);
  }
}

}  // namespace mpt::scheduler
