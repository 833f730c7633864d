// Unit tests for the weighted round-robin scheduler (scheduler/weighted_round_robin.*).
//
// The packet mode is checked against a deliberately naive model of the original MPT cycle
// construction (mpt-original.md §1.12: LCM of the weights, increments L/w_i, repeatedly pick
// the smallest s_i + L/w_i with ties to the lowest index until every s_i is equal). The byte
// mode is checked against a naive virtual-finish-time model in 128-bit arithmetic that never
// renormalizes.
#include "scheduler/weighted_round_robin.h"

#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdint>
#include <numeric>
#include <random>
#include <sstream>
#include <string>
#include <vector>

namespace {

using mpt::scheduler::kMaxWeight;
using mpt::scheduler::PathState;
using mpt::scheduler::WeightedRoundRobin;
__extension__ using Int128 = unsigned __int128;

constexpr std::uint32_t kAnyBytes = 1000;

std::vector<PathState> make_paths(const std::vector<std::uint32_t>& weights) {
  std::vector<PathState> paths;
  for (std::uint32_t w : weights) paths.push_back(PathState{w, true});
  return paths;
}

std::string describe(const std::vector<std::uint32_t>& weights) {
  std::ostringstream out;
  for (std::size_t i = 0; i < weights.size(); ++i) out << (i ? "/" : "") << weights[i];
  return out.str();
}

// The original's cycle (connection.c: calculate_pathselection), written as plainly as possible.
std::vector<int> original_cycle(const std::vector<std::uint32_t>& weights) {
  std::uint64_t lcm = 1;
  for (std::uint32_t w : weights) {
    std::uint64_t a = lcm, b = w;  // subtraction-based GCD, as in the original
    while (a != b) {
      if (a > b) a -= b;
      else b -= a;
    }
    lcm = lcm / a * w;
  }
  std::vector<std::uint64_t> increment, s(weights.size(), 0);
  for (std::uint32_t w : weights) increment.push_back(lcm / w);
  std::vector<int> cycle;
  while (true) {
    std::size_t best = 0;
    for (std::size_t i = 1; i < weights.size(); ++i) {
      if (s[i] + increment[i] < s[best] + increment[best]) best = i;
    }
    s[best] += increment[best];
    cycle.push_back(static_cast<int>(best));
    if (std::all_of(s.begin(), s.end(), [&](std::uint64_t v) { return v == s[best]; })) break;
  }
  return cycle;
}

std::vector<int> picks(WeightedRoundRobin& wrr, std::size_t n, std::uint32_t bytes = kAnyBytes) {
  std::vector<int> out;
  out.reserve(n);
  for (std::size_t i = 0; i < n; ++i) out.push_back(wrr.pick(bytes));
  return out;
}

std::vector<std::uint64_t> count_picks(WeightedRoundRobin& wrr, std::size_t paths, std::size_t n) {
  std::vector<std::uint64_t> counts(paths, 0);
  for (std::size_t i = 0; i < n; ++i) {
    const int p = wrr.pick(kAnyBytes);
    REQUIRE(p >= 0);
    REQUIRE(static_cast<std::size_t>(p) < paths);
    ++counts[static_cast<std::size_t>(p)];
  }
  return counts;
}

}  // namespace

TEST_CASE("the original's documented cycles come out of packet mode unchanged") {
  SECTION("weights 12/18/15 give the 15-slot cycle 1,2,0,1,2,0,1,2,1,0,2,1,0,1,2") {
    const std::vector<int> expected = {1, 2, 0, 1, 2, 0, 1, 2, 1, 0, 2, 1, 0, 1, 2};
    CHECK(original_cycle({12, 18, 15}) == expected);  // the reference model agrees with the doc
    WeightedRoundRobin wrr;
    wrr.set_paths(make_paths({12, 18, 15}));
    for (int round = 0; round < 4; ++round) CHECK(picks(wrr, 15) == expected);
  }
  SECTION("weights 5/2/3 give 0,2,0,1,0,2,0,0,1,2") {
    const std::vector<int> expected = {0, 2, 0, 1, 0, 2, 0, 0, 1, 2};
    CHECK(original_cycle({5, 2, 3}) == expected);
    WeightedRoundRobin wrr;
    wrr.set_paths(make_paths({5, 2, 3}));
    for (int round = 0; round < 4; ++round) CHECK(picks(wrr, 10) == expected);
  }
}

TEST_CASE("packet mode repeats the original cycle exactly for random small weight sets") {
  const std::uint64_t seed = GENERATE(take(4, random(std::uint64_t{1}, std::uint64_t{1} << 40)));
  CAPTURE(seed);
  std::mt19937_64 rng(seed);
  for (int trial = 0; trial < 150; ++trial) {
    const std::size_t n = std::uniform_int_distribution<std::size_t>(1, 6)(rng);
    std::vector<std::uint32_t> weights(n);
    for (auto& w : weights) w = std::uniform_int_distribution<std::uint32_t>(1, 12)(rng);
    INFO("trial " << trial << " weights " << describe(weights));
    const std::vector<int> cycle = original_cycle(weights);
    const std::uint32_t sum = std::accumulate(weights.begin(), weights.end(), 0u);
    const std::uint32_t g = std::accumulate(weights.begin(), weights.end(), 0u,
                                            [](std::uint32_t a, std::uint32_t b) { return std::gcd(a, b); });
    REQUIRE(cycle.size() == sum / g);  // §1.12: the cycle length is Σw / gcd(w)
    WeightedRoundRobin wrr;
    wrr.set_paths(make_paths(weights));
    std::uniform_int_distribution<std::uint32_t> size(0, 65535);  // ignored in packet mode
    for (int round = 0; round < 5; ++round) {
      for (std::size_t k = 0; k < cycle.size(); ++k) {
        const int got = wrr.pick(size(rng));
        INFO("round " << round << " slot " << k);
        REQUIRE(got == cycle[k]);
      }
    }
  }
}

TEST_CASE("weight 0 is a standby path used only when no weighted path is up") {
  WeightedRoundRobin wrr;
  std::vector<PathState> paths = {{0, true}, {2, true}, {0, true}, {1, true}};
  wrr.set_paths(paths);
  auto counts = count_picks(wrr, paths.size(), 3000);
  CHECK(counts == std::vector<std::uint64_t>{0, 2000, 0, 1000});

  // All weighted paths down: the standby paths share equally.
  paths[1].up = false;
  paths[3].up = false;
  wrr.set_paths(paths);
  counts = count_picks(wrr, paths.size(), 3000);
  CHECK(counts == std::vector<std::uint64_t>{1500, 0, 1500, 0});

  // One standby down too: the other carries everything.
  paths[0].up = false;
  wrr.set_paths(paths);
  counts = count_picks(wrr, paths.size(), 100);
  CHECK(counts == std::vector<std::uint64_t>{0, 0, 100, 0});

  // A weighted path returns: standby is idle again.
  paths[3].up = true;
  wrr.set_paths(paths);
  counts = count_picks(wrr, paths.size(), 100);
  CHECK(counts == std::vector<std::uint64_t>{0, 0, 0, 100});

  SECTION("a set of standby paths only, all up, never crashes and shares equally") {
    WeightedRoundRobin only_standby(WeightedRoundRobin::Unit::kBytes);
    only_standby.set_paths({{0, true}, {0, true}, {0, true}});
    std::vector<std::uint64_t> c(3, 0);
    for (int i = 0; i < 300; ++i) ++c[static_cast<std::size_t>(only_standby.pick(100))];
    CHECK(c == std::vector<std::uint64_t>{100, 100, 100});
  }
}

TEST_CASE("pick returns -1 when nothing is eligible") {
  WeightedRoundRobin wrr;
  CHECK(wrr.pick(kAnyBytes) == -1);  // never configured
  wrr.set_paths({});
  CHECK(wrr.pick(kAnyBytes) == -1);
  wrr.set_paths({{3, false}, {0, false}});
  CHECK(wrr.pick(kAnyBytes) == -1);
  wrr.set_paths({{3, false}, {0, true}});
  CHECK(wrr.pick(kAnyBytes) == 1);
  wrr.set_paths({{3, false}, {0, false}});
  CHECK(wrr.pick(kAnyBytes) == -1);
  WeightedRoundRobin bytes(WeightedRoundRobin::Unit::kBytes);
  CHECK(bytes.pick(1500) == -1);
}

TEST_CASE("weights up to 10000 give exact shares over long runs") {
  SECTION("10000, 9999, 1 over 50 cycles") {
    WeightedRoundRobin wrr;
    wrr.set_paths(make_paths({10000, 9999, 1}));
    const std::vector<int> cycle = original_cycle({10000, 9999, 1});
    REQUIRE(cycle.size() == 20000);
    std::vector<std::uint64_t> counts(3, 0);
    for (int round = 0; round < 50; ++round) {
      for (std::size_t k = 0; k < cycle.size(); ++k) {
        const int got = wrr.pick(kAnyBytes);
        if (got != cycle[k]) {
          INFO("round " << round << " slot " << k);
          REQUIRE(got == cycle[k]);
        }
        ++counts[static_cast<std::size_t>(got)];
      }
    }
    CHECK(counts == std::vector<std::uint64_t>{500000, 499950, 50});
  }
  SECTION("ten paths with weights near the limit") {
    const std::vector<std::uint32_t> weights = {10000, 9973, 9001, 7919, 5000, 4999, 1024, 17, 2, 1};
    WeightedRoundRobin wrr;
    wrr.set_paths(make_paths(weights));
    const std::uint64_t sum = std::accumulate(weights.begin(), weights.end(), std::uint64_t{0});
    const auto counts = count_picks(wrr, weights.size(), static_cast<std::size_t>(sum * 10));
    for (std::size_t i = 0; i < weights.size(); ++i) {
      INFO("path " << i);
      CHECK(counts[i] == std::uint64_t{weights[i]} * 10);
    }
  }
  SECTION("weights above the limit are clamped rather than overflowing") {
    WeightedRoundRobin wrr;
    wrr.set_paths(make_paths({kMaxWeight * 7, kMaxWeight, 0xFFFFFFFFu}));
    const auto counts = count_picks(wrr, 3, 30000);
    CHECK(counts == std::vector<std::uint64_t>{10000, 10000, 10000});
  }
}

TEST_CASE("a down path's share goes to the remaining paths in proportion to their weights") {
  const std::vector<std::uint32_t> weights = {1, 2, 3, 4};
  for (std::size_t down = 0; down < weights.size(); ++down) {
    for (auto unit : {WeightedRoundRobin::Unit::kPackets, WeightedRoundRobin::Unit::kBytes}) {
      INFO("path " << down << " down, unit " << (unit == WeightedRoundRobin::Unit::kBytes ? "bytes" : "packets"));
      WeightedRoundRobin wrr(unit);
      std::vector<PathState> paths = make_paths(weights);
      wrr.set_paths(paths);
      (void)count_picks(wrr, paths.size(), 1234);  // some history, not a cycle boundary
      paths[down].up = false;
      wrr.set_paths(paths);
      const std::uint32_t rest = 10 - weights[down];
      const auto counts = count_picks(wrr, paths.size(), rest * 1000);
      for (std::size_t i = 0; i < weights.size(); ++i) {
        INFO("path " << i);
        if (i == down) {
          CHECK(counts[i] == 0);
        } else {
          // Exact up to the one partial cycle the history left behind.
          CHECK(counts[i] >= weights[i] * 1000 - 1);
          CHECK(counts[i] <= weights[i] * 1000 + 1);
        }
      }
    }
  }
}

TEST_CASE("a path that comes back gets its weight share, not a burst to catch up") {
  const std::uint64_t seed = GENERATE(take(3, random(std::uint64_t{1}, std::uint64_t{1} << 40)));
  CAPTURE(seed);
  std::mt19937_64 rng(seed);
  for (int trial = 0; trial < 40; ++trial) {
    const std::size_t n = std::uniform_int_distribution<std::size_t>(2, 5)(rng);
    std::vector<std::uint32_t> weights(n);
    for (auto& w : weights) w = std::uniform_int_distribution<std::uint32_t>(1, 10)(rng);
    const std::size_t back = std::uniform_int_distribution<std::size_t>(0, n - 1)(rng);
    const bool bytes = trial % 2 == 1;
    INFO("trial " << trial << " weights " << describe(weights) << " returning path " << back
                  << (bytes ? " bytes" : " packets"));
    WeightedRoundRobin wrr(bytes ? WeightedRoundRobin::Unit::kBytes : WeightedRoundRobin::Unit::kPackets);
    std::vector<PathState> paths = make_paths(weights);
    wrr.set_paths(paths);
    std::uniform_int_distribution<std::uint32_t> size(40, 1500);
    for (int i = 0; i < 500; ++i) (void)wrr.pick(size(rng));
    paths[back].up = false;
    wrr.set_paths(paths);
    int picked_while_down = 0;
    for (int i = 0; i < 20000; ++i) picked_while_down += wrr.pick(size(rng)) == static_cast<int>(back);
    REQUIRE(picked_while_down == 0);
    paths[back].up = true;
    wrr.set_paths(paths);

    const double share = static_cast<double>(weights[back]) /
                         std::accumulate(weights.begin(), weights.end(), 0.0);
    // Over every prefix of the next K picks it stays within a packet or two above its share
    // (no catch-up), and at most one packet per other path below it (each of them may be
    // owed the packet that was due when the path came back).
    constexpr int kPicks = 400;
    const double unit = bytes ? 1500 : 1;
    double units = 0, total = 0;
    for (int k = 1; k <= kPicks; ++k) {
      const std::uint32_t sz = bytes ? size(rng) : 1;
      total += sz;
      if (wrr.pick(sz) == static_cast<int>(back)) units += sz;
      INFO("after " << k << " picks: " << units << " of " << total);
      REQUIRE(units <= total * share + 2 * unit);
      REQUIRE(units >= total * share - static_cast<double>(n) * unit);
    }
  }
}

TEST_CASE("a returning path joins at the newest virtual time, so a low-weight path cannot open a burst") {
  // Path 0 (weight 1) is the least-advanced path just before its slot comes up, path 1
  // (weight 10000) is almost a whole round ahead. A path of weight 10000 that comes back now
  // must share with path 1 at once, not take ~10000 packets in a row "up to" path 0.
  for (auto unit : {WeightedRoundRobin::Unit::kPackets, WeightedRoundRobin::Unit::kBytes}) {
    INFO((unit == WeightedRoundRobin::Unit::kBytes ? "bytes" : "packets"));
    WeightedRoundRobin wrr(unit);
    std::vector<PathState> paths = {{1, true}, {10000, true}, {10000, false}};
    wrr.set_paths(paths);
    for (int i = 0; i < 9999; ++i) REQUIRE(wrr.pick(1) == 1);
    paths[2].up = true;
    wrr.set_paths(paths);
    const auto counts = count_picks(wrr, paths.size(), 2000);
    CHECK(counts[0] <= 1);
    CHECK(counts[1] >= 990);
    CHECK(counts[2] <= 1001);
  }
}

TEST_CASE("byte mode shares bytes in proportion to weight within 1 % for random packet sizes") {
  const std::uint64_t seed = GENERATE(take(3, random(std::uint64_t{1}, std::uint64_t{1} << 40)));
  CAPTURE(seed);
  std::mt19937_64 rng(seed);
  for (int trial = 0; trial < 10; ++trial) {
    const std::size_t n = std::uniform_int_distribution<std::size_t>(2, 6)(rng);
    std::vector<std::uint32_t> weights(n);
    for (auto& w : weights) w = std::uniform_int_distribution<std::uint32_t>(1, 20)(rng);
    INFO("trial " << trial << " weights " << describe(weights));
    WeightedRoundRobin wrr(WeightedRoundRobin::Unit::kBytes);
    REQUIRE(wrr.unit() == WeightedRoundRobin::Unit::kBytes);
    wrr.set_paths(make_paths(weights));
    std::uniform_int_distribution<std::uint32_t> size(40, 1500);
    std::vector<double> bytes(n, 0);
    double total = 0;
    for (int i = 0; i < 50000; ++i) {
      const std::uint32_t sz = size(rng);
      bytes[static_cast<std::size_t>(wrr.pick(sz))] += sz;
      total += sz;
    }
    const double sum = std::accumulate(weights.begin(), weights.end(), 0.0);
    for (std::size_t i = 0; i < n; ++i) {
      INFO("path " << i << " bytes " << bytes[i] << " of " << total);
      CHECK(bytes[i] / total == Approx(weights[i] / sum).epsilon(0.01));
    }
  }
}

TEST_CASE("byte mode matches a naive 128-bit virtual finish time model, renormalization included") {
  const std::uint64_t seed = GENERATE(take(3, random(std::uint64_t{1}, std::uint64_t{1} << 40)));
  CAPTURE(seed);
  std::mt19937_64 rng(seed);
  const std::size_t n = std::uniform_int_distribution<std::size_t>(2, 5)(rng);
  std::vector<std::uint32_t> weights(n);
  for (auto& w : weights) w = std::uniform_int_distribution<std::uint32_t>(1, kMaxWeight)(rng);
  INFO("weights " << describe(weights));
  WeightedRoundRobin wrr(WeightedRoundRobin::Unit::kBytes);
  wrr.set_paths(make_paths(weights));
  std::vector<Int128> served(n, 0);
  // Huge "packets" (up to 4 GiB) push the served counters past the renormalization threshold
  // (2^44) within a few thousand picks; small ones keep the ties interesting.
  for (int i = 0; i < 40000; ++i) {
    const std::uint32_t sz = (i / 1000) % 4 ? std::uniform_int_distribution<std::uint32_t>(0xF0000000u, 0xFFFFFFFFu)(rng)
                                            : std::uniform_int_distribution<std::uint32_t>(0, 3)(rng);
    const Int128 cost = sz ? sz : 1;
    std::size_t best = 0;
    for (std::size_t k = 1; k < n; ++k) {
      if ((served[k] + cost) * weights[best] < (served[best] + cost) * weights[k]) best = k;
    }
    served[best] += cost;
    const int got = wrr.pick(sz);
    if (got != static_cast<int>(best)) {
      INFO("pick " << i << " size " << sz);
      REQUIRE(got == static_cast<int>(best));
    }
  }
  // The scheduler renormalizes once a counter passes 2^44: make sure that happened.
  CHECK(*std::max_element(served.begin(), served.end()) > (Int128{1} << 45));
}

TEST_CASE("bytes charged without a decision count like picked ones: runs keep shares exact") {
  WeightedRoundRobin wrr(WeightedRoundRobin::Unit::kBytes);
  wrr.set_paths({{1, true}, {3, true}});
  std::vector<std::uint64_t> sent(2, 0);
  std::mt19937 rng(7);
  // Runs: one pick for the first packet, then the run's other packets are charged.
  for (int run = 0; run < 4000; ++run) {
    const int p = wrr.pick(1400);
    REQUIRE(p >= 0);
    sent[static_cast<std::size_t>(p)] += 1400;
    const int more = static_cast<int>(rng() % 100);
    for (int k = 0; k < more; ++k) {
      const std::uint32_t len = 100 + rng() % 1300;
      wrr.charge(p, len);
      sent[static_cast<std::size_t>(p)] += len;
    }
  }
  const double share1 = static_cast<double>(sent[1]) / static_cast<double>(sent[0] + sent[1]);
  CHECK(share1 == Approx(0.75).epsilon(0.01));
  // Charging a path that is not eligible changes nothing.
  wrr.set_paths({{1, true}, {3, false}});
  wrr.charge(1, 1000000);
  wrr.set_paths({{1, true}, {3, true}});
  int to1 = 0;
  for (int i = 0; i < 400; ++i) to1 += wrr.pick(1000) == 1;
  CHECK(to1 == Approx(300).margin(3));
}
