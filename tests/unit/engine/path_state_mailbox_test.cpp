// PathStateMailbox: the control thread's path-state changes reach the TUN reader as each
// path's latest state, however many come before the reader looks (a 256-entry command ring
// filled with (void)push lost them before).
#include "engine/path_state_mailbox.h"

#include <catch2/catch.hpp>

#include <atomic>
#include <map>
#include <thread>
#include <tuple>

using mpt::engine::PathStateMailbox;

namespace {
using Seen = std::map<std::size_t, std::pair<bool, std::uint32_t>>;
Seen take(PathStateMailbox& m) {
  Seen s;
  m.take_changed([&](std::size_t slot, bool up, std::uint32_t w) { s[slot] = {up, w}; });
  return s;
}
}  // namespace

TEST_CASE("a burst of path-state changes leaves each path's latest state, none lost") {
  PathStateMailbox m(4);
  CHECK(take(m).empty());  // nothing posted: nothing to take
  // A link flapping 1000 times while the reader is busy, then ending down; another path's
  // weight changed once in the middle.
  for (int i = 0; i < 1000; ++i) {
    REQUIRE(m.post(1, i % 2 == 0, 1));
    if (i == 500) REQUIRE(m.post(3, true, 7));
  }
  REQUIRE(m.post(1, false, 1));
  const Seen s = take(m);
  REQUIRE(s.size() == 2);
  CHECK(s.at(1) == std::make_pair(false, 1u));
  CHECK(s.at(3) == std::make_pair(true, 7u));
  CHECK(take(m).empty());  // taken: no change since
  // Out of range: refused, nothing posted.
  CHECK_FALSE(m.post(4, true, 1));
  CHECK(take(m).empty());
}

TEST_CASE("the mailbox grows with a reload and forgets a slot that holds a new path") {
  PathStateMailbox m(2);
  REQUIRE(m.post(0, true, 5));
  REQUIRE(m.post(1, true, 1));
  m.resize(4);
  m.forget(1);
  REQUIRE(m.post(3, true, 2));
  const Seen s = take(m);
  REQUIRE(s.size() == 2);
  CHECK(s.at(0) == std::make_pair(true, 5u));  // kept across the resize
  CHECK(s.at(3) == std::make_pair(true, 2u));
}

TEST_CASE("the reader always ends with the control thread's last state (two threads)") {
  PathStateMailbox m(8);
  std::atomic<bool> done{false};
  std::thread control([&] {
    for (int i = 0; i < 200000; ++i) m.post(static_cast<std::size_t>(i % 8), (i / 8) % 2 == 0, static_cast<std::uint32_t>(i));
    done = true;
  });
  Seen last;
  while (!done.load()) {
    for (const auto& [k, v] : take(m)) last[k] = v;
  }
  control.join();
  for (const auto& [k, v] : take(m)) last[k] = v;
  REQUIRE(last.size() == 8);
  for (std::size_t k = 0; k < 8; ++k) {
    const int i = 200000 - 8 + static_cast<int>(k);  // the last post to slot k
    CHECK(last.at(k) == std::make_pair((i / 8) % 2 == 0, static_cast<std::uint32_t>(i)));
  }
}
