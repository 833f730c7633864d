// Unit tests for splitting received UDP GRO batches (engine/gro_split.h).
#include "engine/gro_split.h"

#include <catch2/catch.hpp>

#include <utility>
#include <vector>

using mpt::engine::for_each_gro_datagram;
using mpt::engine::gro_datagram_count;

namespace {

std::vector<std::pair<long, std::uint32_t>> split(std::uint32_t len, std::uint32_t gso) {
  static std::uint8_t buf[70000];
  std::vector<std::pair<long, std::uint32_t>> out;
  for_each_gro_datagram(buf, len, gso, [&](std::uint8_t* p, std::uint32_t n) {
    out.emplace_back(p - buf, n);
  });
  REQUIRE(out.size() == gro_datagram_count(len, gso));
  return out;
}

}  // namespace

TEST_CASE("GRO split: same-sized datagrams and a shorter last one") {
  using V = std::vector<std::pair<long, std::uint32_t>>;
  CHECK(split(4200, 1400) == V{{0, 1400}, {1400, 1400}, {2800, 1400}});
  CHECK(split(3000, 1400) == V{{0, 1400}, {1400, 1400}, {2800, 200}});
  CHECK(split(1400, 0) == V{{0, 1400}});      // no UDP_GRO message: one datagram
  CHECK(split(1000, 1400) == V{{0, 1000}});   // gso_size beyond the length: one
  CHECK(split(65535, 1) .size() == 65535);
}

TEST_CASE("GRO split: an empty datagram is one datagram of 0 bytes (counted as a runt)") {
  using V = std::vector<std::pair<long, std::uint32_t>>;
  CHECK(split(0, 0) == V{{0, 0}});
  CHECK(split(0, 1400) == V{{0, 0}});
}
