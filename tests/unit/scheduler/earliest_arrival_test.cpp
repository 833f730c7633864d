// Unit tests for the adaptive scheduler (scheduler/earliest_arrival.*): earliest expected
// arrival with a skew between paths, hysteresis, byte shares, standby paths, paths becoming
// eligible, the backlog bound, run quanta and penalties. Packet streams are seeded.
#include "scheduler/earliest_arrival.h"

#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdint>
#include <random>
#include <vector>

namespace {

using mpt::scheduler::EarliestArrival;
using mpt::scheduler::PathState;

constexpr std::uint64_t kUs = 1'000;
constexpr std::uint64_t kMs = 1'000'000;
constexpr std::uint64_t kT0 = 1'000 * kMs;  // ns; any monotonic origin

std::vector<PathState> paths(const std::vector<std::pair<std::uint32_t, bool>>& spec) {
  std::vector<PathState> out;
  for (const auto& [weight, up] : spec) out.push_back(PathState{weight, up});
  return out;
}

std::uint64_t serialization_ns(std::uint32_t bytes, double bps) {
  return static_cast<std::uint64_t>(static_cast<double>(bytes) * 8e9 / bps);
}

// One decision of a constant-bit-rate stream.
struct Decision {
  std::uint64_t now = 0;
  std::uint32_t bytes = 0;
  int path = -1;
  std::uint64_t arrival = 0;       // what the scheduler expected for the path it chose
  std::uint64_t backlog0 = 0;      // path 0's backlog just before the decision
};

// Offers `offered_bps` of packets (sizes uniform in [min, max], seeded) for `duration`.
std::vector<Decision> run_cbr(EarliestArrival& ea, std::uint64_t seed, double offered_bps,
                              std::uint64_t duration, std::uint32_t min = 1200,
                              std::uint32_t max = 1500) {
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<std::uint32_t> size(min, max);
  std::vector<Decision> out;
  for (std::uint64_t now = kT0; now < kT0 + duration;) {
    Decision d;
    d.now = now;
    d.bytes = size(rng);
    d.backlog0 = ea.backlog_ns(0, now);
    std::vector<std::uint64_t> expected;
    for (int p = 0; p < 2; ++p) expected.push_back(ea.arrival_ns(p, now, d.bytes));
    d.path = ea.pick(now, d.bytes);
    REQUIRE(d.path >= 0);
    d.arrival = expected[static_cast<std::size_t>(d.path)];
    out.push_back(d);
    now += std::max<std::uint64_t>(1, serialization_ns(d.bytes, offered_bps));
  }
  return out;
}

std::vector<std::uint64_t> bytes_per_path(const std::vector<Decision>& ds, std::size_t n,
                                          std::uint64_t from = 0) {
  std::vector<std::uint64_t> b(n, 0);
  for (const Decision& d : ds) {
    if (d.now >= from) b[static_cast<std::size_t>(d.path)] += d.bytes;
  }
  return b;
}

}  // namespace

TEST_CASE("a slow long path stays idle until the fast path's backlog exceeds the skew, and arrivals never invert by more than the hysteresis and one packet", "[scheduler][earliest]") {
  const std::uint64_t seed = GENERATE(1, 2, 3);
  CAPTURE(seed);
  EarliestArrival ea;
  ea.set_paths(paths({{1, true}, {1, true}}), kT0);
  ea.set_estimate(0, 100e6, 5 * kMs);   // fast and short
  ea.set_estimate(1, 20e6, 30 * kMs);   // slow and long: 25 ms of skew
  const std::uint64_t skew = 25 * kMs;
  const auto ds = run_cbr(ea, seed, 110e6, 300 * kMs);

  const auto first_slow =
      std::find_if(ds.begin(), ds.end(), [](const Decision& d) { return d.path == 1; });
  REQUIRE(first_slow != ds.end());
  // Until then everything went to the fast path, whose backlog grew to the skew: with 110
  // Mbit/s offered into 100, the backlog grows by 1 ms every 10 ms, so that takes 250 ms.
  CAPTURE(first_slow->backlog0, first_slow->now - kT0);
  CHECK(first_slow->backlog0 >= skew);
  CHECK(first_slow->now - kT0 >= 240 * kMs);
  for (auto it = ds.begin(); it != first_slow; ++it) REQUIRE(it->path == 0);

  // Both are used from then on, the slow one for the excess only (10 of 110 Mbit/s).
  std::uint64_t slow_picks = 0;
  for (auto it = first_slow; it != ds.end(); ++it) slow_picks += it->path == 1;
  CHECK(slow_picks >= 2);

  // Expected arrivals, in the order of the decisions, never go back by more than the
  // hysteresis plus one packet's serialization on the slower path.
  const std::uint64_t bound = EarliestArrival::kHysteresisNs + serialization_ns(1500, 20e6);
  std::uint64_t latest = 0;
  std::uint64_t worst = 0;
  for (const Decision& d : ds) {
    if (d.arrival < latest) worst = std::max(worst, latest - d.arrival);
    latest = std::max(latest, d.arrival);
  }
  CAPTURE(worst, bound);
  CHECK(worst <= bound);
}

TEST_CASE("under a load both can carry, the split keeps the slow path to the excess and arrivals in order", "[scheduler][earliest]") {
  // Longer run: the fast path sits at the skew, the slow one takes 10 of 110 Mbit/s.
  EarliestArrival ea;
  ea.set_paths(paths({{1, true}, {1, true}}), kT0);
  ea.set_estimate(0, 100e6, 5 * kMs);
  ea.set_estimate(1, 20e6, 30 * kMs);
  const auto ds = run_cbr(ea, 7, 110e6, 2000 * kMs);
  const auto b = bytes_per_path(ds, 2, kT0 + 500 * kMs);
  const double slow_share = static_cast<double>(b[1]) / static_cast<double>(b[0] + b[1]);
  CAPTURE(b[0], b[1]);
  CHECK(slow_share == Approx(10.0 / 110.0).margin(0.01));
  // The fast path's backlog stays at about the skew: it neither drains nor grows.
  CHECK(ea.backlog_ns(0, ds.back().now) >= 24 * kMs);
  CHECK(ea.backlog_ns(0, ds.back().now) <= 27 * kMs);
}

TEST_CASE("two equal paths under load share bytes about 50/50", "[scheduler][earliest]") {
  const std::uint64_t seed = GENERATE(11, 12);
  CAPTURE(seed);
  EarliestArrival ea;
  ea.set_paths(paths({{1, true}, {1, true}}), kT0);
  ea.set_estimate(0, 100e6, 10 * kMs);
  ea.set_estimate(1, 100e6, 10 * kMs);
  const auto ds = run_cbr(ea, seed, 180e6, 500 * kMs, 40, 1500);
  const auto b = bytes_per_path(ds, 2);
  const double share = static_cast<double>(b[0]) / static_cast<double>(b[0] + b[1]);
  CAPTURE(b[0], b[1]);
  CHECK(share == Approx(0.5).margin(0.01));
  // Interleaved, not in long stretches: the hysteresis (50 us) is less than a 1500-byte
  // packet at 100 Mbit/s (120 us), so no path gets more than a few packets in a row.
  int longest = 0, run = 0, prev = -1;
  for (const Decision& d : ds) {
    run = d.path == prev ? run + 1 : 1;
    prev = d.path;
    longest = std::max(longest, run);
  }
  CHECK(longest <= 40);
}

TEST_CASE("when every path is backlogged, the split follows the rates", "[scheduler][earliest]") {
  EarliestArrival ea;
  ea.set_paths(paths({{1, true}, {1, true}}), kT0);
  ea.set_estimate(0, 100e6, 10 * kMs);
  ea.set_estimate(1, 300e6, 20 * kMs);
  // 600 Mbit/s into 400: both backlogs reach the bound and stay there.
  const auto ds = run_cbr(ea, 21, 600e6, 1000 * kMs, 40, 1500);
  const auto b = bytes_per_path(ds, 2, kT0 + 300 * kMs);
  const double share = static_cast<double>(b[0]) / static_cast<double>(b[0] + b[1]);
  CAPTURE(b[0], b[1]);
  CHECK(share == Approx(0.25).margin(0.01));
  const std::uint64_t now = ds.back().now;
  const std::uint64_t least = std::min(ea.backlog_ns(0, now), ea.backlog_ns(1, now));
  CHECK(least <= EarliestArrival::kDefaultMaxBacklogNs);
  CHECK(least >= EarliestArrival::kDefaultMaxBacklogNs - serialization_ns(1500, 100e6));
  // The difference in backlogs is the delay difference: arrivals are level.
  const auto b0 = static_cast<std::int64_t>(ea.backlog_ns(0, now));
  const auto b1 = static_cast<std::int64_t>(ea.backlog_ns(1, now));
  CHECK(b0 - b1 == Approx(static_cast<double>(10 * kMs)).margin(static_cast<double>(200 * kUs)));
}

TEST_CASE("the previous path is kept while it is within kHysteresisNs of the best", "[scheduler][earliest]") {
  EarliestArrival ea;
  ea.set_paths(paths({{1, true}, {1, true}}), kT0);
  ea.set_estimate(0, 1e9, 1 * kMs);  // 1000 bytes = 8 us
  ea.set_estimate(1, 1e9, 1 * kMs);
  // All at the same instant: path 0's backlog grows by 8 us per packet; path 1 is empty. The
  // k-th packet stays on path 0 while 8k us <= 50 us, i.e. for k = 0..6.
  std::vector<int> got;
  for (int k = 0; k < 9; ++k) got.push_back(ea.pick(kT0, 1000));
  CHECK(got == std::vector<int>{0, 0, 0, 0, 0, 0, 0, 1, 1});
}

TEST_CASE("a standby path (weight 0) is used only when no weighted path is up", "[scheduler][earliest]") {
  EarliestArrival ea;
  ea.set_paths(paths({{1, true}, {0, true}}), kT0);
  ea.set_estimate(0, 10e6, 50 * kMs);
  ea.set_estimate(1, 1e9, 1 * kMs);  // far better, but standby
  for (int i = 0; i < 2000; ++i) REQUIRE(ea.pick(kT0 + static_cast<std::uint64_t>(i) * kUs, 1500) == 0);
  // Even when the weighted path is as far behind as the model lets it be.
  CHECK(ea.backlog_ns(0, kT0 + 1999 * kUs) >= EarliestArrival::kDefaultMaxBacklogNs - 2 * kMs);
  ea.set_paths(paths({{1, false}, {0, true}}), kT0 + 10 * kMs);
  CHECK(ea.pick(kT0 + 10 * kMs, 1500) == 1);
  ea.set_paths(paths({{1, true}, {0, true}}), kT0 + 20 * kMs);
  CHECK(ea.pick(kT0 + 20 * kMs, 1500) == 0);
  ea.set_paths(paths({{1, false}, {0, false}}), kT0 + 30 * kMs);
  CHECK(ea.pick(kT0 + 30 * kMs, 1500) == -1);
}

TEST_CASE("a path that becomes eligible starts with no backlog; one that stays keeps its own", "[scheduler][earliest]") {
  EarliestArrival ea;
  ea.set_paths(paths({{1, true}, {1, true}}), kT0);
  ea.set_estimate(0, 100e6, 5 * kMs);
  ea.set_estimate(1, 100e6, 5 * kMs);
  ea.charge(0, kT0, 375'000);  // 30 ms at 100 Mbit/s
  ea.charge(1, kT0, 625'000);  // 50 ms
  REQUIRE(ea.backlog_ns(0, kT0) == 30 * kMs);
  REQUIRE(ea.backlog_ns(1, kT0) == 50 * kMs);

  SECTION("down and up again") {
    ea.set_paths(paths({{1, true}, {1, false}}), kT0 + 1 * kMs);
    ea.set_paths(paths({{1, true}, {1, true}}), kT0 + 2 * kMs);
    CHECK(ea.backlog_ns(1, kT0 + 2 * kMs) == 0);
    CHECK(ea.backlog_ns(0, kT0 + 2 * kMs) == 28 * kMs);
    CHECK(ea.pick(kT0 + 2 * kMs, 1500) == 1);
  }
  SECTION("standby promoted when the weighted path goes down") {
    EarliestArrival sb;
    sb.set_paths(paths({{1, true}, {0, true}}), kT0);
    sb.charge(1, kT0, 1'000'000);  // charged while standby (e.g. the rest of a run)
    REQUIRE(sb.backlog_ns(1, kT0) > 0);
    sb.set_paths(paths({{1, false}, {0, true}}), kT0 + 1 * kMs);
    CHECK(sb.backlog_ns(1, kT0 + 1 * kMs) == 0);
  }
  SECTION("set_paths with nothing changed keeps every backlog") {
    ea.set_paths(paths({{1, true}, {1, true}}), kT0 + 1 * kMs);
    CHECK(ea.backlog_ns(0, kT0 + 1 * kMs) == 29 * kMs);
    CHECK(ea.backlog_ns(1, kT0 + 1 * kMs) == 49 * kMs);
  }
}

TEST_CASE("the backlog bound moves every free time back by the same amount", "[scheduler][earliest]") {
  EarliestArrival ea;
  ea.set_paths(paths({{1, true}, {1, true}, {1, false}}), kT0);
  for (int p = 0; p < 3; ++p) ea.set_estimate(p, 100e6, 5 * kMs);
  ea.set_max_backlog(10 * kMs);
  ea.charge(0, kT0, 375'000);  // 30 ms: path 1 is idle, so no bound yet
  CHECK(ea.backlog_ns(0, kT0) == 30 * kMs);
  ea.charge(1, kT0, 250'000);  // 20 ms: now both exceed 10 ms, the lesser by 10 ms
  CHECK(ea.backlog_ns(1, kT0) == 10 * kMs);
  CHECK(ea.backlog_ns(0, kT0) == 20 * kMs);  // the difference (10 ms) is kept
  // Further load keeps the lesser at the bound and the difference as it was.
  for (int i = 0; i < 1000; ++i) (void)ea.pick(kT0, 1500);
  const std::uint64_t b0 = ea.backlog_ns(0, kT0), b1 = ea.backlog_ns(1, kT0);
  CAPTURE(b0, b1);
  CHECK(std::min(b0, b1) <= 10 * kMs);
  CHECK(std::min(b0, b1) >= 10 * kMs - serialization_ns(1500, 100e6));
  CHECK(std::max(b0, b1) - std::min(b0, b1) <= 10 * kMs + EarliestArrival::kHysteresisNs +
                                                 serialization_ns(1500, 100e6));
  CHECK(ea.backlog_ns(2, kT0) == 0);  // an ineligible path is never charged
}

TEST_CASE("a run covers kQuantumNs at the path's rate, at least one byte", "[scheduler][earliest]") {
  EarliestArrival ea;
  ea.set_paths(paths({{1, true}, {1, true}, {1, true}}), kT0);
  // kQuantumNs = 2 ms
  CHECK(ea.quantum_bytes(0) == 2500);  // 10 Mbit/s until an estimate arrives
  ea.set_estimate(0, 100e6, 0);
  ea.set_estimate(1, 1e9, 0);
  ea.set_estimate(2, 0, 0);           // clamped to 1 kbit/s
  CHECK(ea.quantum_bytes(0) == 25000);
  CHECK(ea.quantum_bytes(1) == 250000);
  CHECK(ea.rate_bps(2) == 1e3);
  CHECK(ea.quantum_bytes(2) == 1);
}

TEST_CASE("a penalty keeps a path idle until the others are that much later", "[scheduler][earliest]") {
  EarliestArrival ea;
  ea.set_paths(paths({{1, true}, {1, true}}), kT0);
  ea.set_estimate(0, 100e6, 5 * kMs, 20 * kMs);  // e.g. lossy
  ea.set_estimate(1, 100e6, 5 * kMs);
  int first0 = -1;
  for (int i = 0; i < 4000 && first0 < 0; ++i) {
    if (ea.pick(kT0, 1500) == 0) first0 = i;
  }
  REQUIRE(first0 >= 0);
  CHECK(ea.backlog_ns(1, kT0) >= 20 * kMs);
  CHECK(ea.backlog_ns(1, kT0) <=
        20 * kMs + EarliestArrival::kHysteresisNs + serialization_ns(1500, 100e6));
}

TEST_CASE("a penalty above the backlog bound counts as the bound: no phantom queue on the others", "[scheduler][earliest]") {
  // The control loop gives a lossy path 1 s. Without the cap the other path's backlog would
  // have to reach 1 s (its real bottleneck dropping all along) before the lossy one helps.
  EarliestArrival ea;
  ea.set_paths(paths({{1, true}, {1, true}}), kT0);
  ea.set_estimate(0, 100e6, 5 * kMs, 1000 * kMs);
  ea.set_estimate(1, 100e6, 5 * kMs);
  int first0 = -1;
  for (int i = 0; i < 20000 && first0 < 0; ++i) {
    if (ea.pick(kT0, 1500) == 0) first0 = i;
  }
  REQUIRE(first0 >= 0);
  const std::uint64_t bound = EarliestArrival::kDefaultMaxBacklogNs;
  CHECK(ea.backlog_ns(1, kT0) >= bound);
  CHECK(ea.backlog_ns(1, kT0) <=
        bound + EarliestArrival::kHysteresisNs + serialization_ns(1500, 100e6));
  // A smaller bound caps it lower.
  EarliestArrival small;
  small.set_paths(paths({{1, true}, {1, true}}), kT0);
  small.set_max_backlog(30 * kMs);
  small.set_estimate(0, 100e6, 5 * kMs, 1000 * kMs);
  small.set_estimate(1, 100e6, 5 * kMs);
  for (int i = 0; i < 20000 && small.pick(kT0, 1500) != 0; ++i) {
  }
  CHECK(small.backlog_ns(1, kT0) >= 30 * kMs);
  CHECK(small.backlog_ns(1, kT0) <= 31 * kMs);
}

TEST_CASE("with no eligible path pick returns -1 and charges nothing", "[scheduler][earliest]") {
  EarliestArrival none;
  CHECK(none.pick(kT0, 1500) == -1);  // no paths at all
  EarliestArrival ea;
  ea.set_paths(paths({{1, false}, {0, false}}), kT0);
  CHECK(ea.pick(kT0, 1500) == -1);
  CHECK(ea.backlog_ns(0, kT0) == 0);
  CHECK(ea.backlog_ns(1, kT0) == 0);
  ea.charge(-1, kT0, 1500);  // the engine charges the rest of a run with no path: ignored
  ea.charge(5, kT0, 1500);
  ea.set_paths(paths({{1, true}, {0, false}}), kT0);
  CHECK(ea.pick(kT0, 1500) == 0);
}

TEST_CASE("pick_other gives the best other path, charged, and leaves the hysteresis alone", "[scheduler][earliest]") {
  EarliestArrival ea;
  ea.set_paths(paths({{1, true}, {1, true}, {1, true}}), kT0);
  ea.set_estimate(0, 1e9, 5 * kMs);
  ea.set_estimate(1, 1e9, 10 * kMs);
  ea.set_estimate(2, 1e9, 20 * kMs);
  CHECK(ea.pick(kT0, 1000) == 0);
  CHECK(ea.pick_other(kT0, 1000, 0) == 1);
  CHECK(ea.backlog_ns(1, kT0) == 8 * kUs);
  CHECK(ea.pick_other(kT0, 1000, 1) == 0);
  CHECK(ea.backlog_ns(0, kT0) == 16 * kUs);

  // The hysteresis stays with pick()'s own last decision: path 1 is now better by 8 us, well
  // within kHysteresisNs, so pick() keeps path 0 although pick_other() went to path 1 last.
  EarliestArrival two;
  two.set_paths(paths({{1, true}, {1, true}}), kT0);
  two.set_estimate(0, 1e9, 1 * kMs);
  two.set_estimate(1, 1e9, 1 * kMs);
  REQUIRE(two.pick(kT0, 1000) == 0);
  REQUIRE(two.pick_other(kT0, 1, 0) == 1);
  CHECK(two.pick(kT0, 1000) == 0);

  // No other eligible path: -1, nothing charged.
  EarliestArrival one;
  one.set_paths(paths({{1, true}, {1, false}}), kT0);
  CHECK(one.pick_other(kT0, 1000, 0) == -1);
  CHECK(one.backlog_ns(0, kT0) == 0);
  CHECK(one.backlog_ns(1, kT0) == 0);
}

TEST_CASE("a queue the probes measured beyond the modelled backlog is taken over, a smaller one changes nothing",
          "[scheduler][earliest]") {
  mpt::scheduler::EarliestArrival ea;
  ea.set_paths({{1, true}, {1, true}}, 0);
  ea.set_estimate(0, 100e6, 1'000'000);
  ea.set_estimate(1, 100e6, 1'000'000);
  const std::uint64_t now = 1'000'000'000;
  (void)ea.pick(now, 1500);  // path 0 gets a few us of backlog
  const std::uint64_t modelled = ea.backlog_ns(0, now);
  REQUIRE(modelled > 0);
  ea.sync_queue(0, now, modelled / 2);  // the real queue is shorter: the model stays
  CHECK(ea.backlog_ns(0, now) == modelled);
  ea.sync_queue(1, now, 30'000'000);    // 30 ms measured on an idle-looking path
  CHECK(ea.backlog_ns(1, now) == 30'000'000);
  // So the next packets go to path 0 until its backlog reaches path 1's.
  CHECK(ea.pick(now, 1500) == 0);
  ea.sync_queue(1, now, 10'000'000'000ull);  // never beyond the model's bound
  CHECK(ea.backlog_ns(1, now) == mpt::scheduler::EarliestArrival::kDefaultMaxBacklogNs);
}

TEST_CASE("pacing: room while some unpenalized path is below its target; room_at says when", "[scheduler][earliest]") {
  EarliestArrival ea;
  ea.set_paths(paths({{1, true}, {1, true}}), kT0);
  ea.set_estimate(0, 50e6, 5 * kMs);
  ea.set_estimate(1, 20e6, 30 * kMs);
  // No targets: never a reason to hold, however much is queued.
  for (int i = 0; i < 200; ++i) (void)ea.pick(kT0, 1500);
  CHECK(ea.has_room(kT0));
  CHECK(ea.room_at(kT0) == kT0);

  // Both paths are bottlenecks with an 8 ms / 15 ms target.
  EarliestArrival p;
  p.set_paths(paths({{1, true}, {1, true}}), kT0);
  p.set_estimate(0, 50e6, 5 * kMs);
  p.set_estimate(1, 20e6, 30 * kMs);
  p.set_pace_target(0, 8 * kMs);
  p.set_pace_target(1, 15 * kMs);
  CHECK(p.has_room(kT0));
  std::uint64_t sent = 0;
  while (p.has_room(kT0)) {
    REQUIRE(p.pick(kT0, 1500) >= 0);
    sent += 1500;
    REQUIRE(sent < 10'000'000);
  }
  // Held back only once both are at their targets (the skew is 25 ms: earliest arrival put
  // more than 8 ms on the fast path before the slow one got anything).
  CHECK(p.backlog_ns(1, kT0) >= 15 * kMs);
  CHECK(p.backlog_ns(0, kT0) >= 8 * kMs);
  CHECK(p.backlog_ns(0, kT0) <= 25 * kMs + 15 * kMs + serialization_ns(1500, 50e6));
  // Room again when the first path drains below its target; not a nanosecond earlier.
  const std::uint64_t at = p.room_at(kT0);
  CHECK(at > kT0);
  CHECK(at == 1 + std::min(kT0 + p.backlog_ns(0, kT0) - 8 * kMs, kT0 + p.backlog_ns(1, kT0) - 15 * kMs));
  CHECK_FALSE(p.has_room(at - 1));
  CHECK(p.has_room(at));

  // A path without a target (not a bottleneck) always has room.
  p.set_pace_target(1, 0);
  CHECK(p.has_room(kT0));
  CHECK(p.room_at(kT0) == kT0);
  p.set_pace_target(1, 15 * kMs);

  // A penalized path (lossy) does not count as room while another path is not penalized...
  EarliestArrival q;
  q.set_paths(paths({{1, true}, {1, true}}), kT0);
  q.set_estimate(0, 50e6, 5 * kMs);
  q.set_estimate(1, 20e6, 30 * kMs, 1'000'000'000);
  q.set_pace_target(0, 8 * kMs);
  q.set_pace_target(1, 15 * kMs);
  while (q.backlog_ns(0, kT0) < 8 * kMs) REQUIRE(q.pick(kT0, 1500) == 0);
  CHECK(q.backlog_ns(1, kT0) == 0);
  CHECK_FALSE(q.has_room(kT0));
  // ... but when every path is penalized, they all count.
  q.set_estimate(0, 50e6, 5 * kMs, 1'000'000'000);
  CHECK(q.has_room(kT0));

  // No eligible path: room (the caller sends and counts the drop; nothing to wait for).
  EarliestArrival none;
  none.set_paths(paths({{1, false}}), kT0);
  none.set_pace_target(0, 8 * kMs);
  CHECK(none.has_room(kT0));
}
