// FlowPinning: keeps each inner flow on one path, flows spread over the eligible paths in
// proportion to their weights -- for traffic that must not be reordered.
//
// A table of kSlots entries maps hash -> path. It is rebuilt (control rate) with weighted
// rendezvous hashing: slot s goes to the eligible path with the highest w_i / -ln(u(s, i)).
// So when a path goes down only its own slots move, and when it comes back they move back.
// pick() is one table load. Pure; one thread.
#pragma once

#include <array>
#include <cstdint>
#include <vector>

#include "scheduler/path_set.h"

namespace mpt::scheduler {

class FlowPinning {
 public:
  static constexpr std::size_t kSlots = 4096;

  FlowPinning() { table_.fill(-1); }
  void set_paths(const std::vector<PathState>& paths);
  [[nodiscard]] int pick(std::uint32_t flow_hash) const { return table_[flow_hash % kSlots]; }

 private:
  std::array<std::int8_t, kSlots> table_;
};

}  // namespace mpt::scheduler
