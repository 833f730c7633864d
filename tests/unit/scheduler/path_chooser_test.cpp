// Unit tests for the policy front end (scheduler/path_chooser.h): the path for another copy
// of a packet (redundant mode, repairs).
#include "scheduler/path_chooser.h"

#include <catch2/catch.hpp>

#include <vector>

using mpt::scheduler::PacketInfo;
using mpt::scheduler::PathChooser;
using mpt::scheduler::PathState;
using mpt::scheduler::Policy;

TEST_CASE("choose_other with a static policy: the next usable path after the first one") {
  PathChooser c(Policy::kBytes);
  std::vector<PathState> states(4);
  c.set_paths(states);
  const PacketInfo p;
  // Copies of what each path sent go to its successor, so they spread like the traffic.
  CHECK(c.choose_other(p, 0, states) == 1);
  CHECK(c.choose_other(p, 1, states) == 2);
  CHECK(c.choose_other(p, 3, states) == 0);
  states[2].up = false;
  CHECK(c.choose_other(p, 1, states) == 3);
  // Weighted before standby, wherever the standby sits.
  states[2].up = true;
  states[2].weight = 0;
  CHECK(c.choose_other(p, 1, states) == 3);
  states[3].up = false;
  states[0].up = false;
  CHECK(c.choose_other(p, 1, states) == 2);  // only the standby is left
  states[2].up = false;
  CHECK(c.choose_other(p, 1, states) == -1);
}
