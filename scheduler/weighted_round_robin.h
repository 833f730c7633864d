// WeightedRoundRobin: MPT's smooth weighted round-robin, by packets or by bytes.
//
// The original (draft-lencse-tsvwg-mpt §5.1) builds a cycle in which path i appears w_i times,
// placing each slot at the smallest "virtual finish time" s_i + L/w_i (ties to the lowest
// index). This class produces the same order without building the cycle or an LCM: it keeps
// the units served per path and picks the eligible path with the smallest
// (served_i + cost) / w_i, comparing fractions by cross-multiplication (exact, no overflow for
// weights up to kMaxWeight). With cost = 1 it is the original's per-packet cycle; with
// cost = packet bytes the paths share *bytes* in proportion to weight.
//
// Fixes over the original: weight 0 is a standby path (used only when no weighted path is up),
// weights up to 10000 cannot overflow anything, and a down path's share is redistributed in
// proportion to the remaining weights (it simply stops being eligible). A path that comes
// back starts at the current virtual time, so it does not get a burst to "catch up".
//
// Pure: no I/O, no clock, no allocation in pick(). One thread (the TUN reader).
#pragma once

#include <array>
#include <cstdint>
#include <vector>

#include "scheduler/path_set.h"

namespace mpt::scheduler {

class WeightedRoundRobin {
 public:
  enum class Unit { kPackets, kBytes };
  explicit WeightedRoundRobin(Unit unit = Unit::kPackets) : unit_(unit) {}

  // Applies a new set of path states (control rate). Paths keep their progress; paths that
  // become eligible start at the current virtual time.
  void set_paths(const std::vector<PathState>& paths);

  // The path for the next packet of `bytes` bytes, or -1 if no path is eligible.
  // `packets`: how many packets the decision covers (a run), for Unit::kPackets.
  [[nodiscard]] int pick(std::uint32_t bytes, std::uint32_t packets = 1);
  // Counts a packet of `bytes` sent on `path` without a decision (the caller keeps sending a
  // run on the path pick() gave it): shares stay exact, only the granularity changes.
  void charge(int path, std::uint32_t bytes, std::uint32_t packets = 1);

  [[nodiscard]] Unit unit() const { return unit_; }

 private:
  void normalize();

  Unit unit_;
  int count_ = 0;
  PathMask eligible_ = 0;
  std::array<std::uint64_t, kMaxPaths> served_{};   // units sent since the last normalize
  std::array<std::uint32_t, kMaxPaths> weight_{};   // effective weight (standby -> 1)
};

}  // namespace mpt::scheduler
