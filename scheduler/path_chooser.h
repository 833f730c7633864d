// PathChooser: the transmit-side decision for one connection -- which path carries a packet.
//
// Order: MPT's layer-4 port mapping first (if a rule matches and its path is eligible), then
// the connection's policy: smooth weighted round-robin by packets (the original MPT), by bytes
// (paths share bytes in proportion to weight; mpt's default), or flow pinning (a flow stays on
// one path; for traffic that must not be reordered). Pure; one thread (the TUN reader);
// choose() does no allocation and no I/O.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "scheduler/flow_pinning.h"
#include "scheduler/path_set.h"
#include "scheduler/port_map.h"
#include "scheduler/weighted_round_robin.h"

namespace mpt::scheduler {

enum class Policy { kPackets, kBytes, kFlow };

[[nodiscard]] inline const char* to_string(Policy p) {
  switch (p) {
    case Policy::kPackets: return "packets";
    case Policy::kBytes: return "bytes";
    case Policy::kFlow: return "flow";
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
};

class PathChooser {
 public:
  explicit PathChooser(Policy policy = Policy::kBytes)
      : policy_(policy),
        wrr_(policy == Policy::kPackets ? WeightedRoundRobin::Unit::kPackets
                                        : WeightedRoundRobin::Unit::kBytes) {}

  void set_port_rules(const std::vector<PathPortRules>& rules) { ports_.set_rules(rules); }
  void set_paths(const std::vector<PathState>& paths) {
    wrr_.set_paths(paths);
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
    return wrr_.pick(p.bytes, p.packets);
  }

  // More of the same flow on the path choose() gave it (see WeightedRoundRobin::charge).
  void charge(int path, std::uint32_t bytes, std::uint32_t packets) {
    if (policy_ != Policy::kFlow) wrr_.charge(path, bytes, packets);
  }

  [[nodiscard]] Policy policy() const { return policy_; }

 private:
  Policy policy_;
  WeightedRoundRobin wrr_;
  FlowPinning pinning_;
  PortMap ports_;
};

}  // namespace mpt::scheduler
