// Unit tests for flow pinning (scheduler/flow_pinning.*): hash -> path by weighted rendezvous
// hashing over a fixed table.
#include "scheduler/flow_pinning.h"

#include <catch2/catch.hpp>

#include <cstdint>
#include <numeric>
#include <random>
#include <vector>

namespace {

using mpt::scheduler::FlowPinning;
using mpt::scheduler::PathState;

constexpr std::size_t kFlows = 100000;

std::vector<PathState> make_paths(const std::vector<std::uint32_t>& weights) {
  std::vector<PathState> paths;
  for (std::uint32_t w : weights) paths.push_back(PathState{w, true});
  return paths;
}

std::vector<std::uint32_t> random_hashes(std::uint64_t seed, std::size_t n = kFlows) {
  std::mt19937_64 rng(seed);
  std::vector<std::uint32_t> hashes(n);
  for (auto& h : hashes) h = static_cast<std::uint32_t>(rng());
  return hashes;
}

std::vector<int> map_all(const FlowPinning& fp, const std::vector<std::uint32_t>& hashes) {
  std::vector<int> out;
  out.reserve(hashes.size());
  for (std::uint32_t h : hashes) out.push_back(fp.pick(h));
  return out;
}

std::vector<double> shares(const std::vector<int>& mapping, std::size_t paths) {
  std::vector<double> s(paths, 0);
  for (int p : mapping) {
    REQUIRE(p >= 0);
    REQUIRE(static_cast<std::size_t>(p) < paths);
    s[static_cast<std::size_t>(p)] += 1.0 / static_cast<double>(mapping.size());
  }
  return s;
}

}  // namespace

TEST_CASE("the same flow hash always gives the same path") {
  const std::uint64_t seed = 0x5eed0001;
  CAPTURE(seed);
  const auto hashes = random_hashes(seed, 10000);
  FlowPinning a, b;
  a.set_paths(make_paths({1, 2, 3}));
  b.set_paths(make_paths({1, 2, 3}));
  const auto first = map_all(a, hashes);
  CHECK(map_all(a, hashes) == first);  // repeated lookups
  CHECK(map_all(b, hashes) == first);  // another instance: a fixed function of the path set
  a.set_paths(make_paths({1, 2, 3}));  // re-applying the same states changes nothing
  CHECK(map_all(a, hashes) == first);
  // Only hash % kSlots matters: hashes in the same slot share a path.
  for (std::uint32_t h : {0u, 17u, 4095u, 123456u}) {
    CHECK(a.pick(h) == a.pick(h + FlowPinning::kSlots));
    CHECK(a.pick(h) == a.pick(h + 1000 * FlowPinning::kSlots));
  }
}

TEST_CASE("the shares of many random flows follow the weights within a few percent") {
  const std::uint64_t seed = GENERATE(take(2, random(std::uint64_t{1}, std::uint64_t{1} << 40)));
  CAPTURE(seed);
  const auto hashes = random_hashes(seed);
  const std::vector<std::vector<std::uint32_t>> weight_sets = {
      {1, 1}, {1, 3}, {1, 2, 3, 4}, {5, 5, 5, 5, 5, 5, 5, 5}, {10000, 1, 5000}, {7, 0, 3}};
  for (const auto& weights : weight_sets) {
    FlowPinning fp;
    fp.set_paths(make_paths(weights));
    const auto s = shares(map_all(fp, hashes), weights.size());
    const double sum = std::accumulate(weights.begin(), weights.end(), 0.0);
    for (std::size_t i = 0; i < weights.size(); ++i) {
      INFO("weights set " << &weights - weight_sets.data() << " path " << i << " share " << s[i]);
      CHECK(s[i] == Approx(weights[i] / sum).margin(0.03));
    }
  }
}

TEST_CASE("when a path goes down only its flows move, and they come back when it returns") {
  const std::uint64_t seed = GENERATE(take(2, random(std::uint64_t{1}, std::uint64_t{1} << 40)));
  CAPTURE(seed);
  std::mt19937_64 rng(seed);
  const auto hashes = random_hashes(seed ^ 0xABCDEF);
  for (int trial = 0; trial < 10; ++trial) {
    const std::size_t n = std::uniform_int_distribution<std::size_t>(2, 8)(rng);
    std::vector<PathState> paths;
    for (std::size_t i = 0; i < n; ++i) {
      paths.push_back({std::uniform_int_distribution<std::uint32_t>(1, 100)(rng), true});
    }
    const std::size_t down = std::uniform_int_distribution<std::size_t>(0, n - 1)(rng);
    INFO("trial " << trial << " paths " << n << " down " << down);
    FlowPinning fp;
    fp.set_paths(paths);
    const auto before = map_all(fp, hashes);
    paths[down].up = false;
    fp.set_paths(paths);
    const auto during = map_all(fp, hashes);
    std::size_t moved = 0, on_down = 0;
    for (std::size_t f = 0; f < hashes.size(); ++f) {
      if (before[f] == static_cast<int>(down)) {
        ++on_down;
        moved += during[f] != before[f];
        if (during[f] < 0 || during[f] == static_cast<int>(down)) FAIL("flow " << f << " not moved");
      } else if (during[f] != before[f]) {
        FAIL("flow " << f << " moved from " << before[f] << " to " << during[f]);
      }
    }
    CHECK(moved == on_down);
    paths[down].up = true;
    fp.set_paths(paths);
    CHECK(map_all(fp, hashes) == before);
  }
}

TEST_CASE("changing one path's weight moves flows only to or from that path") {
  const std::uint64_t seed = 0x5eed0002;
  CAPTURE(seed);
  const auto hashes = random_hashes(seed, 20000);
  std::vector<PathState> paths = make_paths({3, 3, 3, 3});
  FlowPinning fp;
  fp.set_paths(paths);
  const auto before = map_all(fp, hashes);
  paths[2].weight = 9;
  fp.set_paths(paths);
  const auto heavier = map_all(fp, hashes);
  std::size_t gained = 0;
  for (std::size_t f = 0; f < hashes.size(); ++f) {
    if (heavier[f] != before[f]) {
      REQUIRE(heavier[f] == 2);
      ++gained;
    }
  }
  CHECK(gained > 0);
  paths[2].weight = 1;
  fp.set_paths(paths);
  const auto lighter = map_all(fp, hashes);
  for (std::size_t f = 0; f < hashes.size(); ++f) {
    if (lighter[f] != before[f]) REQUIRE(before[f] == 2);
  }
}

TEST_CASE("standby paths carry flows only while no weighted path is up") {
  const auto hashes = random_hashes(0x5eed0003, 20000);
  std::vector<PathState> paths = {{0, true}, {4, true}, {0, true}, {1, true}};
  FlowPinning fp;
  fp.set_paths(paths);
  const auto normal = map_all(fp, hashes);
  for (int p : normal) REQUIRE((p == 1 || p == 3));

  paths[1].up = false;
  paths[3].up = false;
  fp.set_paths(paths);
  const auto s = shares(map_all(fp, hashes), paths.size());
  CHECK(s[0] == Approx(0.5).margin(0.03));
  CHECK(s[2] == Approx(0.5).margin(0.03));
  CHECK(s[1] == 0);
  CHECK(s[3] == 0);

  paths[0].up = false;  // one standby left
  fp.set_paths(paths);
  for (int p : map_all(fp, hashes)) REQUIRE(p == 2);

  paths[1].up = true;
  paths[3].up = true;
  paths[0].up = true;
  fp.set_paths(paths);
  CHECK(map_all(fp, hashes) == normal);
}

TEST_CASE("pick returns -1 when no path is eligible") {
  FlowPinning fp;
  CHECK(fp.pick(0) == -1);  // never configured
  CHECK(fp.pick(0xFFFFFFFF) == -1);
  fp.set_paths({});
  CHECK(fp.pick(12345) == -1);
  fp.set_paths({{1, false}, {0, false}, {7, false}});
  for (std::uint32_t h = 0; h < 2 * FlowPinning::kSlots; h += 7) REQUIRE(fp.pick(h) == -1);
  fp.set_paths({{1, false}, {0, false}, {7, true}});
  for (std::uint32_t h = 0; h < 2 * FlowPinning::kSlots; h += 7) REQUIRE(fp.pick(h) == 2);
}

TEST_CASE("all 64 paths can be used and indices stay in range") {
  std::vector<PathState> paths(64, PathState{1, true});
  FlowPinning fp;
  fp.set_paths(paths);
  std::vector<int> seen(64, 0);
  for (std::uint32_t h = 0; h < FlowPinning::kSlots; ++h) {
    const int p = fp.pick(h);
    REQUIRE(p >= 0);
    REQUIRE(p < 64);
    ++seen[static_cast<std::size_t>(p)];
  }
  for (int count : seen) CHECK(count > 20);  // 64 slots each on average
}
