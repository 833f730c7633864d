#include "scheduler/earliest_arrival.h"

#include <algorithm>
#include <limits>

namespace mpt::scheduler {

EarliestArrival::EarliestArrival() {
  rate_bps_.fill(kDefaultRate);
  ns_per_byte_.fill(8e9 / kDefaultRate);
}

void EarliestArrival::set_paths(const std::vector<PathState>& paths, std::uint64_t now_ns) {
  count_ = static_cast<int>(std::min<std::size_t>(paths.size(), kMaxPaths));
  const PathMask next = eligible_mask(paths) & (count_ == kMaxPaths ? ~PathMask{0}
                                                : (PathMask{1} << count_) - 1);
  for (int i = 0; i < count_; ++i) {
    const PathMask bit = PathMask{1} << i;
    if ((next & bit) && !(eligible_ & bit)) free_ns_[static_cast<std::size_t>(i)] = now_ns;
  }
  eligible_ = next;
  if (last_ >= 0 && !(eligible_ & (PathMask{1} << last_))) last_ = -1;
}

void EarliestArrival::set_estimate(int path, double rate_bps, std::uint64_t one_way_delay_ns,
                                   std::uint64_t penalty_ns) {
  if (path < 0 || path >= kMaxPaths) return;
  const auto i = static_cast<std::size_t>(path);
  rate_bps_[i] = std::max(rate_bps, 1e3);
  ns_per_byte_[i] = 8e9 / rate_bps_[i];
  delay_ns_[i] = one_way_delay_ns;
  penalty_ns_[i] = penalty_ns;
}

void EarliestArrival::sync_queue(int path, std::uint64_t now_ns, std::uint64_t measured_queue_ns) {
  if (path < 0 || path >= count_) return;
  auto& f = free_ns_[static_cast<std::size_t>(path)];
  f = std::max(f, now_ns + std::min(measured_queue_ns, max_backlog_ns_));
}

void EarliestArrival::set_pace_target(int path, std::uint64_t target_ns) {
  if (path < 0 || path >= kMaxPaths) return;
  target_ns_[static_cast<std::size_t>(path)] = target_ns;
}

PathMask EarliestArrival::pace_paths() const {
  PathMask m = 0;
  for (int i = 0; i < count_; ++i) {
    if ((eligible_ & (PathMask{1} << i)) && penalty_ns_[static_cast<std::size_t>(i)] == 0) {
      m |= PathMask{1} << i;
    }
  }
  return m != 0 ? m : eligible_;
}

bool EarliestArrival::has_room(std::uint64_t now_ns) const {
  const PathMask m = pace_paths();
  if (m == 0) return true;  // nothing to send on: the caller counts the drop
  for (int i = 0; i < count_; ++i) {
    if (!(m & (PathMask{1} << i))) continue;
    const std::uint64_t target = target_ns_[static_cast<std::size_t>(i)];
    if (target == 0 || backlog_ns(i, now_ns) < target) return true;
  }
  return false;
}

std::uint64_t EarliestArrival::room_at(std::uint64_t now_ns) const {
  const PathMask m = pace_paths();
  std::uint64_t at = std::numeric_limits<std::uint64_t>::max();
  for (int i = 0; i < count_; ++i) {
    if (!(m & (PathMask{1} << i))) continue;
    const auto k = static_cast<std::size_t>(i);
    if (target_ns_[k] == 0) return now_ns;
    // The first instant at which backlog_ns < target.
    const std::uint64_t t = free_ns_[k] >= target_ns_[k] ? free_ns_[k] - target_ns_[k] + 1 : 0;
    at = std::min(at, std::max(t, now_ns));
  }
  return at == std::numeric_limits<std::uint64_t>::max() ? now_ns : at;
}

std::uint64_t EarliestArrival::backlog_ns(int path, std::uint64_t now_ns) const {
  const std::uint64_t f = free_ns_[static_cast<std::size_t>(path)];
  return f > now_ns ? f - now_ns : 0;
}

std::uint64_t EarliestArrival::arrival_ns(int path, std::uint64_t now_ns,
                                          std::uint32_t bytes) const {
  const auto i = static_cast<std::size_t>(path);
  const std::uint64_t start = std::max(now_ns, free_ns_[i]);
  // A penalty counts at most the backlog bound: a larger one would keep the path idle until
  // the others hold a phantom queue that long (see bounded model in the header).
  return start + static_cast<std::uint64_t>(static_cast<double>(bytes) * ns_per_byte_[i]) +
         delay_ns_[i] + std::min(penalty_ns_[i], max_backlog_ns_);
}

std::uint32_t EarliestArrival::quantum_bytes(int path) const {
  const double b = rate_bps_[static_cast<std::size_t>(path)] / 8e9 * static_cast<double>(kQuantumNs);
  return static_cast<std::uint32_t>(std::clamp(b, 1.0, 1e9));
}

void EarliestArrival::bound_backlog(std::uint64_t now_ns) {
  std::uint64_t least = std::numeric_limits<std::uint64_t>::max();
  for (int i = 0; i < count_; ++i) {
    if (eligible_ & (PathMask{1} << i)) least = std::min(least, backlog_ns(i, now_ns));
  }
  if (least == std::numeric_limits<std::uint64_t>::max() || least <= max_backlog_ns_) return;
  const std::uint64_t shift = least - max_backlog_ns_;
  for (int i = 0; i < count_; ++i) {
    auto& f = free_ns_[static_cast<std::size_t>(i)];
    f = f > shift ? f - shift : 0;
  }
}

int EarliestArrival::pick(std::uint64_t now_ns, std::uint32_t bytes) {
  if (eligible_ == 0) return -1;
  int best = -1;
  std::uint64_t best_t = std::numeric_limits<std::uint64_t>::max();
  for (int i = 0; i < count_; ++i) {
    if (!(eligible_ & (PathMask{1} << i))) continue;
    const std::uint64_t t = arrival_ns(i, now_ns, bytes);
    if (t < best_t) {
      best_t = t;
      best = i;
    }
  }
  if (last_ >= 0 && last_ != best && arrival_ns(last_, now_ns, bytes) <= best_t + kHysteresisNs) {
    best = last_;
  }
  last_ = best;
  charge(best, now_ns, bytes);
  return best;
}

int EarliestArrival::pick_other(std::uint64_t now_ns, std::uint32_t bytes, int exclude) {
  int best = -1;
  std::uint64_t best_t = std::numeric_limits<std::uint64_t>::max();
  for (int i = 0; i < count_; ++i) {
    if (i == exclude || !(eligible_ & (PathMask{1} << i))) continue;
    const std::uint64_t t = arrival_ns(i, now_ns, bytes);
    if (t < best_t) {
      best_t = t;
      best = i;
    }
  }
  if (best >= 0) charge(best, now_ns, bytes);
  return best;
}

void EarliestArrival::charge(int path, std::uint64_t now_ns, std::uint32_t bytes) {
  if (path < 0 || path >= count_) return;
  const auto i = static_cast<std::size_t>(path);
  free_ns_[i] = std::max(now_ns, free_ns_[i]) +
                static_cast<std::uint64_t>(static_cast<double>(bytes) * ns_per_byte_[i]);
  bound_backlog(now_ns);
}

}  // namespace mpt::scheduler
