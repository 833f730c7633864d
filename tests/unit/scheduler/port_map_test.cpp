// Unit tests for the layer-4 port map (scheduler/port_map.*).
#include "scheduler/port_map.h"

#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdint>
#include <vector>

namespace {

using mpt::scheduler::PathPortRules;
using mpt::scheduler::PathState;
using mpt::scheduler::PortMap;
using mpt::scheduler::PortRange;

constexpr std::uint8_t kTcp = 6;
constexpr std::uint8_t kUdp = 17;
constexpr std::uint16_t kUnmapped = 5555;

}  // namespace

TEST_CASE("each of the four tables maps its own lists and ranges") {
  std::vector<PathPortRules> rules(4);
  rules[0].tcp_src = {{1000, 1000}};
  rules[1].tcp_dst = {{22, 22}, {8000, 8100}};
  rules[2].udp_src = {{53, 53}, {65000, 65535}};
  rules[3].udp_dst = {{0, 0}, {443, 443}};
  PortMap map;
  map.set_rules(rules);
  CHECK_FALSE(map.empty());

  SECTION("tcp_src") {
    CHECK(map.lookup(kTcp, 1000, kUnmapped) == 0);
    CHECK(map.lookup(kTcp, kUnmapped, 1000) == -1);  // not a destination rule
    CHECK(map.lookup(kUdp, 1000, kUnmapped) == -1);  // not a UDP rule
    CHECK(map.lookup(kTcp, 999, kUnmapped) == -1);
    CHECK(map.lookup(kTcp, 1001, kUnmapped) == -1);
  }
  SECTION("tcp_dst, a single port and a range with both ends included") {
    CHECK(map.lookup(kTcp, kUnmapped, 22) == 1);
    CHECK(map.lookup(kTcp, 22, kUnmapped) == -1);
    CHECK(map.lookup(kUdp, kUnmapped, 22) == -1);
    CHECK(map.lookup(kTcp, kUnmapped, 7999) == -1);
    CHECK(map.lookup(kTcp, kUnmapped, 8000) == 1);
    CHECK(map.lookup(kTcp, kUnmapped, 8050) == 1);
    CHECK(map.lookup(kTcp, kUnmapped, 8100) == 1);
    CHECK(map.lookup(kTcp, kUnmapped, 8101) == -1);
  }
  SECTION("udp_src, including a range that ends at 65535") {
    CHECK(map.lookup(kUdp, 53, kUnmapped) == 2);
    CHECK(map.lookup(kUdp, kUnmapped, 53) == -1);
    CHECK(map.lookup(kTcp, 53, kUnmapped) == -1);
    CHECK(map.lookup(kUdp, 64999, kUnmapped) == -1);
    CHECK(map.lookup(kUdp, 65000, kUnmapped) == 2);
    CHECK(map.lookup(kUdp, 65535, kUnmapped) == 2);
  }
  SECTION("udp_dst, including port 0") {
    CHECK(map.lookup(kUdp, kUnmapped, 443) == 3);
    CHECK(map.lookup(kUdp, kUnmapped, 0) == 3);
    CHECK(map.lookup(kUdp, 443, kUnmapped) == -1);
    CHECK(map.lookup(kTcp, kUnmapped, 443) == -1);
  }
  SECTION("an unlisted port falls through to the normal scheduler") {
    for (std::uint32_t p = 0; p <= 65535; p += 97) {
      if (p == 0 || p == 22 || (p >= 8000 && p <= 8100) || p == 443 || p == 1000 || p == 53 || p >= 65000) continue;
      const auto port = static_cast<std::uint16_t>(p);
      REQUIRE(map.lookup(kTcp, port, port) == -1);
      REQUIRE(map.lookup(kUdp, port, port) == -1);
    }
  }
}

TEST_CASE("the source port is looked up before the destination port, for TCP and UDP alike") {
  std::vector<PathPortRules> rules(3);
  rules[0].tcp_dst = {{80, 80}};
  rules[0].udp_dst = {{53, 53}};
  rules[2].tcp_src = {{40000, 40000}};
  rules[2].udp_src = {{41000, 41000}};
  PortMap map;
  map.set_rules(rules);
  // Both match: the source rule wins even though its path index is higher.
  CHECK(map.lookup(kTcp, 40000, 80) == 2);
  CHECK(map.lookup(kUdp, 41000, 53) == 2);
  // Only the destination matches.
  CHECK(map.lookup(kTcp, 40001, 80) == 0);
  CHECK(map.lookup(kUdp, 41001, 53) == 0);
}

TEST_CASE("protocols other than TCP and UDP never match") {
  std::vector<PathPortRules> rules(1);
  for (auto* list : {&rules[0].tcp_src, &rules[0].tcp_dst, &rules[0].udp_src, &rules[0].udp_dst}) {
    *list = {{0, 65535}};  // every port in every table
  }
  PortMap map;
  map.set_rules(rules);
  CHECK(map.lookup(kTcp, 1, 2) == 0);
  CHECK(map.lookup(kUdp, 1, 2) == 0);
  for (int proto = 0; proto < 256; ++proto) {
    if (proto == kTcp || proto == kUdp) continue;
    INFO("protocol " << proto);
    REQUIRE(map.lookup(static_cast<std::uint8_t>(proto), 1, 2) == -1);  // incl. SCTP, UDP-Lite, ICMP
  }
}

TEST_CASE("a mapped path that is down is not used and the packet falls back") {
  std::vector<PathPortRules> rules(3);
  rules[1].tcp_src = {{5000, 5000}};
  rules[2].tcp_dst = {{22, 22}};
  rules[1].udp_dst = {{4500, 4500}};
  PortMap map;
  map.set_rules(rules);
  // Before any set_paths every path counts as usable.
  CHECK(map.lookup(kTcp, 5000, kUnmapped) == 1);

  std::vector<PathState> paths = {{1, true}, {1, false}, {1, true}};
  map.set_paths(paths);
  CHECK(map.lookup(kTcp, 5000, kUnmapped) == -1);  // to the normal scheduler
  CHECK(map.lookup(kUdp, kUnmapped, 4500) == -1);
  CHECK(map.lookup(kTcp, kUnmapped, 22) == 2);
  // A down source rule does not hide an usable destination rule.
  CHECK(map.lookup(kTcp, 5000, 22) == 2);

  paths[1].up = true;
  map.set_paths(paths);
  CHECK(map.lookup(kTcp, 5000, kUnmapped) == 1);
  CHECK(map.lookup(kUdp, kUnmapped, 4500) == 1);
  CHECK(map.lookup(kTcp, 5000, 22) == 1);

  paths = {{1, false}, {1, false}, {1, false}};
  map.set_paths(paths);
  CHECK(map.lookup(kTcp, 5000, 22) == -1);
}

TEST_CASE("a port pinned to a standby (weight 0) path is used while that path is up") {
  // A weight-0 path is kept out of the per-packet spread, but an explicit port rule is the
  // operator asking for it (e.g. ssh over a dedicated link): only "down" disables the rule.
  std::vector<PathPortRules> rules(2);
  rules[1].tcp_dst = {{22, 22}};
  PortMap map;
  map.set_rules(rules);
  map.set_paths({{5, true}, {0, true}});
  CHECK(map.lookup(kTcp, kUnmapped, 22) == 1);
  map.set_paths({{5, true}, {0, false}});
  CHECK(map.lookup(kTcp, kUnmapped, 22) == -1);
}

TEST_CASE("the lowest path index wins where lists overlap") {
  std::vector<PathPortRules> rules(3);
  rules[2].udp_dst = {{100, 200}};
  rules[1].udp_dst = {{150, 250}};
  rules[0].udp_dst = {{180, 180}};
  rules[2].tcp_src = {{7, 7}};
  rules[1].tcp_src = {{7, 7}};
  PortMap map;
  map.set_rules(rules);
  CHECK(map.lookup(kUdp, kUnmapped, 120) == 2);
  CHECK(map.lookup(kUdp, kUnmapped, 160) == 1);
  CHECK(map.lookup(kUdp, kUnmapped, 180) == 0);
  CHECK(map.lookup(kUdp, kUnmapped, 200) == 1);
  CHECK(map.lookup(kUdp, kUnmapped, 240) == 1);
  CHECK(map.lookup(kUdp, kUnmapped, 251) == -1);
  CHECK(map.lookup(kTcp, 7, kUnmapped) == 1);
}

TEST_CASE("a port mapped to several paths moves to the next one up when the lowest is down") {
  std::vector<PathPortRules> rules(4);
  rules[1].tcp_dst = {{443, 443}};
  rules[3].tcp_dst = {{443, 443}};
  rules[2].tcp_dst = {{400, 500}};
  PortMap map;
  map.set_rules(rules);
  std::vector<PathState> paths = {{1, true}, {1, true}, {1, true}, {1, true}};
  map.set_paths(paths);
  CHECK(map.lookup(kTcp, kUnmapped, 443) == 1);
  paths[1].up = false;
  map.set_paths(paths);
  CHECK(map.lookup(kTcp, kUnmapped, 443) == 2);  // 443 is in path 2's range as well
  paths[2].up = false;
  map.set_paths(paths);
  CHECK(map.lookup(kTcp, kUnmapped, 443) == 3);
  CHECK(map.lookup(kTcp, kUnmapped, 444) == -1);  // only path 2 had it: normal scheduling
  paths[3].up = false;
  map.set_paths(paths);
  CHECK(map.lookup(kTcp, kUnmapped, 443) == -1);
}

TEST_CASE("more distinct path sets than a table entry can name degrade to the lowest path") {
  // 64 paths, port p mapped to paths {p % 64, (p / 64) % 64}: far more than 256 sets.
  std::vector<PathPortRules> rules(64);
  for (std::uint16_t port = 1000; port < 5000; ++port) {
    rules[port % 64].udp_src.push_back({port, port});
    rules[(port / 64) % 64].udp_src.push_back({port, port});
  }
  PortMap map;
  map.set_rules(rules);
  for (std::uint16_t port = 1000; port < 5000; port += 37) {
    const int a = port % 64, b = (port / 64) % 64;
    CHECK(map.lookup(kUdp, port, kUnmapped) == std::min(a, b));
  }
}

TEST_CASE("empty() is true only while no port is mapped") {
  PortMap map;
  CHECK(map.empty());
  CHECK(map.lookup(kTcp, 1, 2) == -1);
  map.set_rules({});
  CHECK(map.empty());
  map.set_rules(std::vector<PathPortRules>(5));  // paths without rules
  CHECK(map.empty());

  std::vector<PathPortRules> rules(2);
  rules[1].udp_src = {{9, 9}};
  map.set_rules(rules);
  CHECK_FALSE(map.empty());
  CHECK(map.lookup(kUdp, 9, 1) == 1);

  // New rules replace the old ones completely.
  map.set_rules(std::vector<PathPortRules>(2));
  CHECK(map.empty());
  CHECK(map.lookup(kUdp, 9, 1) == -1);

  // A reversed range holds no port.
  rules[1].udp_src = {{10, 9}};
  map.set_rules(rules);
  CHECK(map.empty());
  CHECK(map.lookup(kUdp, 9, 1) == -1);
  CHECK(map.lookup(kUdp, 10, 1) == -1);
}

TEST_CASE("without rules nothing matches, and rules taken away leave nothing behind") {
  PortMap map;
  CHECK(map.empty());
  CHECK(map.lookup(kTcp, 1000, 22) == -1);
  std::vector<PathPortRules> rules(2);
  map.set_rules(rules);  // paths without any list: no tables
  CHECK(map.empty());
  CHECK(map.lookup(kUdp, 53, 53) == -1);
  rules[1].tcp_dst = {{22, 22}};
  map.set_rules(rules);
  CHECK_FALSE(map.empty());
  CHECK(map.lookup(kTcp, kUnmapped, 22) == 1);
  rules[1].tcp_dst.clear();
  map.set_rules(rules);
  CHECK(map.empty());
  CHECK(map.lookup(kTcp, kUnmapped, 22) == -1);
}
