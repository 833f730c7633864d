#include "scheduler/weighted_round_robin.h"

#include <algorithm>
#include <bit>

namespace mpt::scheduler {
namespace {
// Renormalize before served * weight could overflow 64 bits: 2^44 * 10000 < 2^58.
constexpr std::uint64_t kNormalizeAbove = std::uint64_t{1} << 44;
}  // namespace

void WeightedRoundRobin::set_paths(const std::vector<PathState>& paths) {
  const PathMask old_eligible = eligible_;
  count_ = static_cast<int>(std::min<std::size_t>(paths.size(), kMaxPaths));
  eligible_ = eligible_mask(paths) & (count_ == 64 ? ~PathMask{0} : (PathMask{1} << count_) - 1);
  const bool standby_mode = eligible_ && paths[static_cast<std::size_t>(std::countr_zero(eligible_))].weight == 0;
  // The current virtual time: the most-advanced path that stays eligible (the finish time of
  // the latest pick, as in SCFQ). Every other path is at most one packet behind it, whereas
  // the least-advanced path can be a whole round of the smallest weight behind: joining there
  // would give a returning heavy path a burst of up to w_new / w_min packets.
  int ref = -1;
  for (PathMask m = old_eligible & eligible_; m; m &= m - 1) {
    const int i = std::countr_zero(m);
    if (ref < 0 || served_[i] * weight_[ref] > served_[ref] * weight_[i]) ref = i;
  }
  const std::uint64_t ref_served = ref >= 0 ? served_[ref] : 0;
  const std::uint64_t ref_weight = ref >= 0 ? weight_[ref] : 1;
  for (int i = 0; i < count_; ++i) {
    const std::uint32_t w = paths[static_cast<std::size_t>(i)].weight;
    const std::uint32_t new_w = standby_mode ? 1 : (w > kMaxWeight ? kMaxWeight : w);
    const bool was = old_eligible & (PathMask{1} << i);
    const bool is = eligible_ & (PathMask{1} << i);
    if (is && (!was || new_w != weight_[i])) {
      // Join at the current virtual time: served/w equal to the reference path's.
      served_[i] = ref_served * new_w / ref_weight;
    }
    weight_[i] = new_w == 0 ? 1 : new_w;
  }
}

int WeightedRoundRobin::pick(std::uint32_t bytes, std::uint32_t packets) {
  if (!eligible_) return -1;
  const std::uint64_t cost = unit_ == Unit::kPackets ? (packets ? packets : 1) : (bytes ? bytes : 1);
  int best = -1;
  std::uint64_t best_num = 0;
  for (PathMask m = eligible_; m; m &= m - 1) {
    const int i = std::countr_zero(m);
    const std::uint64_t num = served_[i] + cost;
    // num/weight_[i] < best_num/weight_[best]; ties keep the lower index (iteration order).
    if (best < 0 || num * weight_[best] < best_num * weight_[i]) {
      best = i;
      best_num = num;
    }
  }
  served_[best] += cost;
  if (served_[best] > kNormalizeAbove) [[unlikely]] normalize();
  return best;
}

void WeightedRoundRobin::charge(int path, std::uint32_t bytes, std::uint32_t packets) {
  if (path < 0 || path >= count_ || !(eligible_ & (PathMask{1} << path))) return;
  served_[static_cast<std::size_t>(path)] +=
      unit_ == Unit::kPackets ? (packets ? packets : 1) : (bytes ? bytes : 1);
  if (served_[static_cast<std::size_t>(path)] > kNormalizeAbove) [[unlikely]] normalize();
}

void WeightedRoundRobin::normalize() {
  // Subtract the same virtual time from every eligible path: served_i -= V * w_i with
  // V = min(served_i / w_i). Ratios, and so the order, are unchanged.
  std::uint64_t v = ~std::uint64_t{0};
  for (PathMask m = eligible_; m; m &= m - 1) {
    const int i = std::countr_zero(m);
    v = std::min(v, served_[i] / weight_[i]);
  }
  for (PathMask m = eligible_; m; m &= m - 1) {
    const int i = std::countr_zero(m);
    served_[i] -= v * weight_[i];
  }
}

}  // namespace mpt::scheduler
