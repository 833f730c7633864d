// A deliberately naive model of the reorder stage's rules (scheduler/reorder.h's header
// comment, without repair): held packets live in a std::map keyed by an unwrapped 64-bit
// position, everything is a linear walk, nothing is clever. The unit tests
// (tests/unit/scheduler/reorder_test.cpp) and the differential fuzz target
// (tests/fuzz/reorder_fuzz.cpp) feed it and Reorder the same arrivals and compare every
// delivery, discard, counter, held() and next_deadline(now).
#pragma once

#include <algorithm>
#include <cstdint>
#include <map>
#include <set>
#include <utility>
#include <vector>

#include "scheduler/reorder.h"

namespace mpt::sim {

using scheduler::ReorderStats;
using scheduler::serial_diff;

inline constexpr std::uint64_t kReorderNever = scheduler::Reorder<int>::kNever;

// Collects what the stage hands out. Items are push ids (unique per push).
struct ReorderSink {
  std::vector<int> delivered;
  std::vector<int> discarded;
  void deliver(int item) { delivered.push_back(item); }
  void discard(int item) { discarded.push_back(item); }
};

inline bool same_stats(const ReorderStats& a, const ReorderStats& b) {
  return a.in_order == b.in_order && a.reordered == b.reordered && a.late == b.late &&
         a.duplicate == b.duplicate && a.lost == b.lost && a.timeouts == b.timeouts &&
         a.resyncs == b.resyncs;
}

// The naive reference: the documented rules, written out literally.
class NaiveReorder {
 public:
  NaiveReorder(std::uint32_t window, std::uint64_t max_delay, int paths, std::uint64_t grace)
      : window_(window),
        max_delay_(max_delay),
        grace_(std::min(grace, max_delay)),
        paths_(static_cast<std::size_t>(paths)) {}

  void push(std::uint32_t seq, int path, std::uint64_t now, int item, ReorderSink& sink) {
    if (!started_) {
      start_ = now;
    } else if (now > last_push_ + max_delay_) {
      // The whole connection was idle: every path that delivered before is active again.
      for (PathInfo& q : paths_) {
        if (q.seen) q.last_arrival = now;
      }
    }
    last_push_ = now;
    if (!started_) {
      started_ = true;
      head_ = seq;
    }
    const std::int64_t pos = unwrap(seq);
    PathInfo& p = paths_[static_cast<std::size_t>(path)];
    if (!p.seen || pos > p.last) p.last = pos;
    p.seen = true;
    p.last_arrival = now;

    std::int64_t d = pos - head_;
    if (d < 0 && -d <= window_) {  // late: behind the head but within the window
      if (delivered_.count(pos)) {  // a second copy of a delivered number
        ++stats_.duplicate;
        sink.discard(item);
        return;
      }
      ++stats_.late;
      const auto ref = skipped_at_.find(pos);
      if (ref != skipped_at_.end() && now > ref->second) learn_lag(p, now, now - ref->second);
      delivered_.insert(pos);
      sink.deliver(item);
      return;
    }
    if (d < 0 || d >= 2 * std::int64_t{window_}) {  // jump: deliver all, restart here
      ++stats_.resyncs;
      move_head_to(held_.empty() ? head_ : held_.rbegin()->first + 1, sink);
      head_ = pos;
      delivered_.clear();
      skipped_at_.clear();
      for (PathInfo& q : paths_) q.last = pos - 1;  // what the paths did before is void
      p.last = pos;
    } else if (d >= window_) {  // too far ahead: the head moves up so that it fits
      move_head_to(pos - window_ + 1, sink);
    }
    if (held_.count(pos)) {
      ++stats_.duplicate;
      sink.discard(item);
      return;
    }
    if (pos == head_) {
      if (!held_.empty() && now > held_.begin()->second.arrival) {
        learn_lag(p, now, now - held_.begin()->second.arrival);
      }
      ++stats_.in_order;
      delivered_.insert(pos);
      sink.deliver(item);
      ++head_;
      move_head_to(head_, sink);
    } else {
      held_[pos] = Held{item, now};
      ++stats_.reordered;
    }
    skip_known_lost(now, sink);
  }

  std::uint64_t expire(std::uint64_t now, ReorderSink& sink) {
    if (early_wait(now)) skip_known_lost(now, sink);
    while (!held_.empty()) {
      const auto first = held_.begin();
      if (first->second.arrival + max_delay_ > now) return next_deadline(now);
      ++stats_.timeouts;
      move_head_to(first->first, sink);
      if (early_wait(now)) skip_known_lost(now, sink);
    }
    return kReorderNever;
  }

  std::uint64_t next_deadline(std::uint64_t now) const {
    if (held_.empty()) return kReorderNever;
    const std::uint64_t arrival = held_.begin()->second.arrival;
    const std::uint64_t wait = std::min(early_wait(now), max_delay_);
    if (wait && arrival + wait > now && all_active_beyond_head(now)) return arrival + wait;
    return arrival + max_delay_;
  }
  std::uint32_t held() const { return static_cast<std::uint32_t>(held_.size()); }
  const ReorderStats& stats() const { return stats_; }

 private:
  struct Held {
    int item;
    std::uint64_t arrival;
  };
  struct PathInfo {
    bool seen = false;
    std::int64_t last = 0;
    std::uint64_t last_arrival = 0;
    std::vector<std::pair<std::uint64_t, std::uint64_t>> lags;  // (time, sample), all of them
  };
  static constexpr std::uint64_t kEpoch = 10'000'000'000;

  // A path's lag at `now`: the largest sample taken in now's 10 s epoch or the one before.
  static std::uint64_t lag(const PathInfo& p, std::uint64_t now) {
    std::uint64_t m = 0;
    for (const auto& [t, v] : p.lags) {
      if (t / kEpoch + 1 >= now / kEpoch) m = std::max(m, v);
    }
    return m;
  }
  void learn_lag(PathInfo& p, std::uint64_t now, std::uint64_t sample) const {
    p.lags.emplace_back(now, std::min(sample, max_delay_));
  }

  // The early wait: the grace, or the longest lag of an idle path that has not passed the head.
  std::uint64_t early_wait(std::uint64_t now) const {
    std::uint64_t wait = grace_;
    for (const PathInfo& q : paths_) {
      if (!active(q, now) && (!q.seen || q.last <= head_)) wait = std::max(wait, lag(q, now) * 5 / 4);
    }
    return wait;
  }

  // Cold start: a path that never delivered may still do so during the first max_delay.
  bool active(const PathInfo& q, std::uint64_t now) const {
    if (!q.seen) return now < start_ + max_delay_;
    return q.last_arrival + max_delay_ >= now;
  }

  bool all_active_beyond_head(std::uint64_t now) const {
    for (const PathInfo& q : paths_) {
      if (active(q, now) && (!q.seen || q.last <= head_)) return false;
    }
    return true;
  }

  // Early loss detection: every active path is past the head (and the packet after the gap
  // has waited out the grace), so the numbers up to the first held one are lost.
  void skip_known_lost(std::uint64_t now, ReorderSink& sink) {
    while (!held_.empty() && all_active_beyond_head(now)) {
      const std::uint64_t wait = std::min(early_wait(now), max_delay_);
      if (held_.begin()->second.arrival + wait > now) break;
      std::int64_t limit = held_.begin()->first;
      for (const PathInfo& q : paths_) {
        if (active(q, now)) limit = std::min(limit, q.last + 1);
      }
      if (limit <= head_) break;
      move_head_to(limit, sink);
    }
  }

  std::int64_t unwrap(std::uint32_t seq) const {
    return head_ + serial_diff(seq, static_cast<std::uint32_t>(head_));
  }

  // Numbers below `to` that are held are delivered, the others are lost; then the run of
  // held packets at the new head is delivered too.
  // A skipped number remembers since when the first held packet waited (else the last push).
  void move_head_to(std::int64_t to, ReorderSink& sink) {
    const std::uint64_t ref = held_.empty() ? last_push_ : held_.begin()->second.arrival;
    for (; head_ < to; ++head_) {
      auto it = held_.find(head_);
      if (it == held_.end()) {
        ++stats_.lost;
        skipped_at_[head_] = ref;
        continue;
      }
      delivered_.insert(head_);
      sink.deliver(it->second.item);
      held_.erase(it);
    }
    for (auto it = held_.find(head_); it != held_.end(); it = held_.find(++head_)) {
      delivered_.insert(head_);
      sink.deliver(it->second.item);
      held_.erase(it);
    }
  }

  std::int64_t window_;
  std::uint64_t max_delay_;
  std::uint64_t grace_;
  std::vector<PathInfo> paths_;
  bool started_ = false;
  std::uint64_t start_ = 0;
  std::uint64_t last_push_ = 0;
  std::int64_t head_ = 0;
  std::map<std::int64_t, Held> held_;
  std::set<std::int64_t> delivered_;  // positions delivered since the last jump
  std::map<std::int64_t, std::uint64_t> skipped_at_;  // lost positions: reference for lateness
  ReorderStats stats_;
};

}  // namespace mpt::sim
