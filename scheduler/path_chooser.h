// PathChooser: the transmit-side decision for one connection -- which path carries a packet.
//
// Order: MPT's layer-4 port mapping first (if a rule matches and its path is eligible), then
// the connection's policy: earliest expected arrival from estimated path rates and delays
// (`auto`, mpt's default; scheduler/earliest_arrival.h), smooth weighted round-robin by
// packets (the original MPT) or by bytes (paths share bytes in proportion to weight), or
// flow pinning (a flow stays on one path; for traffic that must not be reordered). Pure; one
// thread (the TUN reader); choose() does no allocation and no I/O.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "scheduler/earliest_arrival.h"
#include "scheduler/flow_pinning.h"
#include "scheduler/path_set.h"
#include "scheduler/port_map.h"
#include "scheduler/weighted_round_robin.h"

namespace mpt::scheduler {

enum class Policy { kPackets, kBytes, kFlow, kAuto };

[[nodiscard]] inline const char* to_string(Policy p) {
  switch (p) {
    case Policy::kPackets: return "packets";
    case Policy::kBytes: return "bytes";
    case Policy::kFlow: return "flow";
    case Policy::kAuto: return "auto";
  }
  return "?";
}

// What the chooser needs to know about a packet.
struct PacketInfo {
  std::uint32_t bytes = 0;
  std::uint32_t packets = 1;  // packets the decision covers (a run of segments)
  std::uint32_t flow_hash = 0;
  std::uint8_t protocol = 0;  // IP protocol (6 TCP, 17 UDP), 0 if unknown
  bool has_ports = false;
  std::uint16_t src_port = 0;
  std::uint16_t dst_port = 0;
  std::uint64_t now_ns = 0;   // monotonic time of the decision (Policy::kAuto)
};

class PathChooser {
 public:
  explicit PathChooser(Policy policy = Policy::kAuto)
      : policy_(policy),
        wrr_(policy == Policy::kPackets ? WeightedRoundRobin::Unit::kPackets
                                        : WeightedRoundRobin::Unit::kBytes) {}

  void set_port_rules(const std::vector<PathPortRules>& rules) { ports_.set_rules(rules); }
  void set_paths(const std::vector<PathState>& paths, std::uint64_t now_ns = 0) {
    wrr_.set_paths(paths);
    if (policy_ == Policy::kAuto) arrival_.set_paths(paths, now_ns);
    if (policy_ == Policy::kFlow) pinning_.set_paths(paths);
    ports_.set_paths(paths);
  }

  // Index of the chosen path within this connection, or -1 if no path can carry it.
  [[nodiscard]] int choose(const PacketInfo& p) {
    if (!ports_.empty() && p.has_ports) {
      const int mapped = ports_.lookup(p.protocol, p.src_port, p.dst_port);
      if (mapped >= 0) return mapped;
    }
    if (policy_ == Policy::kFlow) return pinning_.pick(p.flow_hash);
    if (policy_ == Policy::kAuto) return arrival_.pick(p.now_ns, p.bytes);
    return wrr_.pick(p.bytes, p.packets);
  }

  // Redundant mode and repairs: the path for another copy of a packet sent on `first`: the
  // next earliest arrival (kAuto), else the next usable path after `first` in `states`
  // (weighted before standby; the next one, not the lowest-numbered one, so that copies of
  // what each path sent spread like the paths' own traffic). -1 if there is no other one.
  [[nodiscard]] int choose_other(const PacketInfo& p, int first,
                                 const std::vector<PathState>& states) {
    if (policy_ == Policy::kAuto) return arrival_.pick_other(p.now_ns, p.bytes, first);
    int standby = -1;
    const std::size_t n = states.size();
    const std::size_t start = first >= 0 ? static_cast<std::size_t>(first) + 1 : 0;
    for (std::size_t k = 0; k < n; ++k) {
      const std::size_t i = (start + k) % n;
      if (static_cast<int>(i) == first || !states[i].up) continue;
      if (states[i].weight > 0) return static_cast<int>(i);
      if (standby < 0) standby = static_cast<int>(i);
    }
    return standby;
  }

  // More of the same flow on the path choose() gave it (see WeightedRoundRobin::charge).
  void charge(int path, std::uint32_t bytes, std::uint32_t packets, std::uint64_t now_ns = 0) {
    if (policy_ == Policy::kAuto) {
      arrival_.charge(path, now_ns, bytes);
    } else if (policy_ != Policy::kFlow) {
      wrr_.charge(path, bytes, packets);
    }
  }

  // Policy::kAuto: the estimator's latest view of a path (see EarliestArrival::set_estimate).
  void set_estimate(int path, double rate_bps, std::uint64_t one_way_delay_ns,
                    std::uint64_t penalty_ns = 0) {
    arrival_.set_estimate(path, rate_bps, one_way_delay_ns, penalty_ns);
  }
  void set_pace_target(int path, std::uint64_t target_ns) { arrival_.set_pace_target(path, target_ns); }
  // Pacing (kAuto only; the static policies always have room): see EarliestArrival.
  [[nodiscard]] bool has_room(std::uint64_t now_ns) const {
    return policy_ != Policy::kAuto || arrival_.has_room(now_ns);
  }
  [[nodiscard]] std::uint64_t room_at(std::uint64_t now_ns) const {
    return policy_ != Policy::kAuto ? now_ns : arrival_.room_at(now_ns);
  }
  void sync_queue(int path, std::uint64_t now_ns, std::uint64_t measured_queue_ns) {
    if (policy_ == Policy::kAuto) arrival_.sync_queue(path, now_ns, measured_queue_ns);
  }
  // How many bytes one decision should cover on `path`: unbounded for the static policies,
  // about kQuantumNs of the path's rate for kAuto.
  [[nodiscard]] std::uint32_t run_bytes(int path) const {
    return policy_ == Policy::kAuto && path >= 0 ? arrival_.quantum_bytes(path) : ~0u;
  }
  [[nodiscard]] const EarliestArrival& arrival() const { return arrival_; }

  [[nodiscard]] Policy policy() const { return policy_; }

 private:
  Policy policy_;
  WeightedRoundRobin wrr_;
  EarliestArrival arrival_;
  FlowPinning pinning_;
  PortMap ports_;
};

}  // namespace mpt::scheduler
