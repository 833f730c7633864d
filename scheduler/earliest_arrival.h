// EarliestArrival: the adaptive scheduler (`scheduler = auto`) -- each packet goes on the path
// where it is expected to *arrive* first (EDPF, Chebrolu & Rao 2006; the idea behind ECF and
// BLEST for MPTCP and minRTT in multipath QUIC; shared/reference/schedulers.md §7.2).
//
// Model, per path p (from PathEstimator, refreshed at probe rate):
//   rate_p  -- what the path delivers (bit/s);
//   delay_p -- its one-way propagation delay (min RTT / 2; paths differ by their skew);
//   free_p  -- the virtual time at which everything already assigned to p has left its
//              bottleneck: max(now, free_p) + bytes / rate_p per packet assigned.
// A packet of `bytes` would arrive on p at  T_p = max(now, free_p) + bytes / rate_p + delay_p
// (+ penalty_p, a per-path extra cost, e.g. for loss, counted up to max_backlog_ns: a penalized
// path is used once the others are that far behind, i.e. when they cannot carry the traffic).
// pick() takes the smallest T_p. So a slower-but-longer path stays idle until the fast path's
// backlog exceeds the skew between them, and then takes exactly what arrives no later than
// the fast path would deliver it: the receiver's reorder stage rarely waits. Rules:
//  - hysteresis: the path of the previous decision is kept while its T is within
//    kHysteresisNs of the best (fewer interleavings, whole GSO batches);
//  - weight 0 = standby, as in the original: used only when no weighted path is up. Other
//    weights do not matter here (they are preferences for the static schedulers);
//  - bounded model: when every eligible path's backlog exceeds max_backlog_ns (the inner
//    traffic outruns the sum of the paths, and the real bottleneck queues are dropping), all
//    free times move back by the same amount: the model never drifts into a phantom queue,
//    and the relative arrival order -- hence the split -- is kept. A penalized path has no
//    backlog, so this alone would let the others' backlog grow to the penalty: a phantom queue
//    their real bottlenecks drop; hence the cap on penalties above;
//  - a path that becomes eligible starts with no backlog;
//  - a queue the probes measured beyond the modelled backlog is taken over (sync_queue);
//  - pacing: a path with a pace target (PathEstimator::pace_target: it is a bottleneck) has
//    *room* while its backlog is below the target. has_room() is false when no path that is
//    not penalized has room: the caller (TunReader) then holds the traffic back until
//    room_at() instead of queueing it in front of the bottlenecks, so their buffers stay
//    short (no tail drops where the scheduler cannot undo them; a reinjection after a cut
//    waits behind a short queue) and one queue -- the sender's -- absorbs the excess.
//
// Pure: no clock (now is a parameter, ns), no I/O, no allocation in pick(). One thread (the
// TUN reader).
#pragma once

#include <array>
#include <cstdint>
#include <vector>

#include "scheduler/path_set.h"

namespace mpt::scheduler {

class EarliestArrival {
 public:
  static constexpr std::uint64_t kHysteresisNs = 50'000;
  static constexpr std::uint64_t kDefaultMaxBacklogNs = 100'000'000;
  static constexpr double kDefaultRate = 10e6;  // bit/s until an estimate arrives
  // A decision covers the bytes a path carries in this long at its rate (a "run"): a whole
  // GSO batch on a fast path, about 16 segments at 100 Mbit/s, one or two at 10 Mbit/s. Each
  // TUN read then touches few paths, so each path worker gets bigger batches and wakes less
  // often: 12 paths of 100 Mbit/s on 2 vCPUs took ~58 % of the machine instead of ~83 % at
  // 250 us, at the same goodput (bench/RESULTS.md). The arrival order it may cost is within
  // 2 ms, which the reorder stage absorbs.
  static constexpr std::uint64_t kQuantumNs = 2'000'000;

  EarliestArrival();

  // Applies path states (control rate); a path that becomes eligible starts with no backlog.
  void set_paths(const std::vector<PathState>& paths, std::uint64_t now_ns = 0);
  // The estimator's view of path i: delivery rate (bit/s, > 0) and one-way delay.
  void set_estimate(int path, double rate_bps, std::uint64_t one_way_delay_ns,
                    std::uint64_t penalty_ns = 0);
  // The queue the probes measured on path i (smoothed RTT above the minimum): when it exceeds
  // what the model thinks is queued there (the rate was overestimated for a while, e.g. just
  // after a capacity drop), the model takes it over -- else it would keep feeding the real
  // queue at exactly its drain rate and the queue would stand for good.
  void sync_queue(int path, std::uint64_t now_ns, std::uint64_t measured_queue_ns);
  void set_max_backlog(std::uint64_t ns) { max_backlog_ns_ = ns; }
  // The backlog to keep on path i (0 = not a bottleneck: always room).
  void set_pace_target(int path, std::uint64_t target_ns);
  [[nodiscard]] bool has_room(std::uint64_t now_ns) const;
  // When has_room() will next be true if nothing else is sent (>= now_ns).
  [[nodiscard]] std::uint64_t room_at(std::uint64_t now_ns) const;

  // The path for a packet (or run) of `bytes`, or -1 if no path is eligible. Charges it.
  [[nodiscard]] int pick(std::uint64_t now_ns, std::uint32_t bytes);
  // The best eligible path other than `exclude` (redundant mode: the second copy), charged;
  // -1 if there is none. Does not change the hysteresis state.
  [[nodiscard]] int pick_other(std::uint64_t now_ns, std::uint32_t bytes, int exclude);
  // Counts `bytes` more on `path` (the rest of a run) without a decision.
  void charge(int path, std::uint64_t now_ns, std::uint32_t bytes);

  // Expected arrival of `bytes` on `path` if sent now (for tests and status).
  [[nodiscard]] std::uint64_t arrival_ns(int path, std::uint64_t now_ns, std::uint32_t bytes) const;
  [[nodiscard]] std::uint64_t backlog_ns(int path, std::uint64_t now_ns) const;
  // Bytes path `path` carries in kQuantumNs at its estimated rate (at least 1).
  [[nodiscard]] std::uint32_t quantum_bytes(int path) const;
  [[nodiscard]] double rate_bps(int path) const { return rate_bps_[static_cast<std::size_t>(path)]; }

 private:
  void bound_backlog(std::uint64_t now_ns);
  // Eligible paths that pacing looks at: those without a penalty, or all if every one has.
  [[nodiscard]] PathMask pace_paths() const;

  int count_ = 0;
  int last_ = -1;
  PathMask eligible_ = 0;
  std::uint64_t max_backlog_ns_ = kDefaultMaxBacklogNs;
  std::array<double, kMaxPaths> rate_bps_{};
  std::array<double, kMaxPaths> ns_per_byte_{};
  std::array<std::uint64_t, kMaxPaths> delay_ns_{};
  std::array<std::uint64_t, kMaxPaths> penalty_ns_{};
  std::array<std::uint64_t, kMaxPaths> free_ns_{};
  std::array<std::uint64_t, kMaxPaths> target_ns_{};
};

}  // namespace mpt::scheduler
