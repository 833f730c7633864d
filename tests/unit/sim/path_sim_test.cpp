// End-to-end tests of the scheduler library in the seeded path simulator (tests/sim/path_sim.h):
// sender -> WRR / flow pinning -> simulated paths -> Reorder, in virtual time. Every test case
// prints its seed on failure.
#include "tests/sim/path_sim.h"

#include <catch2/catch.hpp>

#include <cstdint>
#include <random>
#include <set>
#include <vector>

namespace {

using mpt::scheduler::serial_diff;
using mpt::sim::Fate;
using mpt::sim::kMs;
using mpt::sim::kUs;
using mpt::sim::load_start_ns;
using mpt::sim::Outage;
using mpt::sim::PathConfig;
using mpt::sim::SchedulerKind;
using mpt::sim::SimConfig;
using mpt::sim::SimResult;
using mpt::sim::simulate;
using mpt::sim::SizeDistribution;

PathConfig path(double mbps, std::uint64_t delay_ns, std::uint32_t weight = 1) {
  PathConfig p;
  p.rate_bps = mbps * 1e6;
  p.delay_ns = delay_ns;
  p.weight = weight;
  return p;
}

// Numbers that were sent, in serial order relative to the first one.
std::int64_t offset(const SimConfig& cfg, std::uint32_t seq) {
  return static_cast<std::int64_t>(static_cast<std::uint32_t>(seq - cfg.first_seq));
}

// The accounting every run must satisfy, whatever happened on the paths.
void check_conservation(const SimConfig& cfg, const SimResult& r) {
  INFO("seed " << cfg.seed);
  // Each packet that reached the receiver came out exactly once (the simulator makes no
  // duplicates, so nothing may be discarded); the others were lost on a path.
  REQUIRE(r.held_at_end == 0);
  REQUIRE(r.discarded.empty());
  REQUIRE(r.delivered.size() + r.discarded.size() == r.pushed);
  std::vector<int> times(r.packets.size(), 0);
  for (std::uint64_t id : r.delivered) ++times[id];
  std::uint64_t arrived = 0;
  for (std::size_t id = 0; id < r.packets.size(); ++id) {
    const bool got_there = r.packets[id].fate == Fate::kArrived;
    arrived += got_there;
    if (times[id] != (got_there ? 1 : 0)) {
      INFO("packet " << id << " seq " << r.packets[id].seq << " delivered " << times[id] << " times");
      REQUIRE(times[id] == (got_there ? 1 : 0));
    }
    REQUIRE(r.packets[id].fate != Fate::kInFlight);
  }
  REQUIRE(arrived == r.pushed);
  REQUIRE(arrived + r.lost_on_paths() == r.packets.size());
  const auto& s = r.reorder;
  REQUIRE(s.in_order + s.reordered + s.late == r.delivered.size());
  // Each path is FIFO, jitter included.
  std::vector<std::uint64_t> last(cfg.paths.size(), 0);
  for (const auto& p : r.packets) {
    if (p.fate != Fate::kArrived) continue;
    REQUIRE(p.arrived_ns >= last[static_cast<std::size_t>(p.path)]);
    last[static_cast<std::size_t>(p.path)] = p.arrived_ns;
  }
}

// True if the delivered numbers only ever increase.
bool delivered_in_order(const SimConfig& cfg, const SimResult& r) {
  std::int64_t prev = -1;
  for (std::uint64_t id : r.delivered) {
    const std::int64_t o = offset(cfg, r.packets[id].seq);
    if (o <= prev) return false;
    prev = o;
  }
  return true;
}

// Numbers lost on the paths below the highest delivered one: what the receiver can know of.
std::uint64_t lost_below_highest_delivered(const SimConfig& cfg, const SimResult& r) {
  std::int64_t highest = -1;
  for (std::uint64_t id : r.delivered) highest = std::max(highest, offset(cfg, r.packets[id].seq));
  std::uint64_t n = 0;
  for (const auto& p : r.packets) n += p.fate != Fate::kArrived && offset(cfg, p.seq) < highest;
  return n;
}

// What Reorder must have counted as lost when it never jumped: every number from the first
// one it saw up to the highest it delivered that never arrived, plus every such number that
// was given up and then arrived late (all late packets except those numbered before the
// first one it saw, which it never counted).
std::uint64_t expected_lost(const SimConfig& cfg, const SimResult& r) {
  if (r.delivered.empty()) return 0;
  const std::int64_t first = offset(cfg, r.packets[r.delivered.front()].seq);  // delivered on arrival
  std::int64_t highest = -1;
  std::uint64_t before_first = 0;
  for (std::uint64_t id : r.delivered) {
    const std::int64_t o = offset(cfg, r.packets[id].seq);
    before_first += o < first;
    highest = std::max(highest, o);
  }
  std::uint64_t never_arrived = 0;
  for (const auto& p : r.packets) {
    const std::int64_t o = offset(cfg, p.seq);
    never_arrived += p.fate != Fate::kArrived && o >= first && o < highest;
  }
  return never_arrived + r.reorder.late - before_first;
}

SimConfig two_paths_config(std::uint64_t seed) {
  SimConfig cfg;
  cfg.seed = seed;
  cfg.paths = {path(100, 10 * kMs), path(100, 30 * kMs)};
  cfg.scheduler = SchedulerKind::kWrrBytes;
  cfg.offered_bps = 150e6;
  cfg.duration_ns = 200 * kMs;
  cfg.sizes = SizeDistribution::uniform(40, 1500);
  cfg.reorder_window = 4096;
  cfg.max_delay_ns = 100 * kMs;
  cfg.warmup_packets = 8;
  return cfg;
}

}  // namespace

TEST_CASE("two equal lossless paths with different delays deliver everything once and in order") {
  const std::uint64_t seed = GENERATE(11, 12, 13);
  CAPTURE(seed);
  SimConfig cfg = two_paths_config(seed);
  cfg.first_seq = 0xFFFFFFFFu - 1000;  // and across the wrap-around
  const SimResult r = simulate(cfg);
  check_conservation(cfg, r);
  CHECK(r.packets.size() > 2000);
  CHECK(r.lost_on_paths() == 0);
  CHECK(r.delivered.size() == r.packets.size());
  CHECK(delivered_in_order(cfg, r));
  CHECK(r.reorder.lost == 0);
  CHECK(r.reorder.late == 0);
  CHECK(r.reorder.timeouts == 0);
  CHECK(r.reorder.resyncs == 0);
  CHECK(r.reorder.reordered > 0);  // the 20 ms of skew really was repaired
}

TEST_CASE("100 and 300 Mbit/s paths weighted 1:3 near full load share bytes 25/75 in order") {
  const std::uint64_t seed = GENERATE(21, 22);
  CAPTURE(seed);
  SimConfig cfg;
  cfg.seed = seed;
  cfg.paths = {path(100, 5 * kMs, 1), path(300, 8 * kMs, 3)};
  cfg.scheduler = SchedulerKind::kWrrBytes;
  cfg.offered_bps = 0.95 * 400e6;
  cfg.duration_ns = 150 * kMs;
  cfg.warmup_packets = 8;
  const SimResult r = simulate(cfg);
  check_conservation(cfg, r);
  const double total = static_cast<double>(r.path[0].bytes + r.path[1].bytes);
  CAPTURE(r.path[0].bytes, r.path[1].bytes);
  CHECK(r.path[0].bytes / total == Approx(0.25).margin(0.05 * 0.25));
  CHECK(r.path[1].bytes / total == Approx(0.75).margin(0.05 * 0.75));
  CHECK(r.lost_on_paths() == 0);  // neither queue overflows
  CHECK(delivered_in_order(cfg, r));
  CHECK(r.reorder.late == 0);
  CHECK(r.reorder.lost == 0);
}

TEST_CASE("with 1 % loss on one path every lost number is counted, mostly by early detection") {
  const std::uint64_t seed = GENERATE(31, 32, 33);
  CAPTURE(seed);
  SimConfig cfg = two_paths_config(seed);
  cfg.paths = {path(100, 10 * kMs), path(100, 12 * kMs)};
  cfg.paths[1].loss = 0.01;
  cfg.duration_ns = 400 * kMs;
  const SimResult r = simulate(cfg);
  check_conservation(cfg, r);
  const std::uint64_t losses = r.path[1].lost_random;
  CAPTURE(losses, r.reorder.lost, r.reorder.timeouts);
  CHECK(losses > 20);
  CHECK(r.path[0].lost_random == 0);
  CHECK(r.reorder.lost == lost_below_highest_delivered(cfg, r));
  CHECK(r.reorder.late == 0);  // nothing was called lost that then showed up
  CHECK(delivered_in_order(cfg, r));
  // Both paths stay busy, so the slower one soon passes every gap: timeouts are rare (the
  // tail of the run, where the sender has stopped, may need one or two).
  CHECK(r.reorder.timeouts * 10 <= losses);
}

TEST_CASE("during an outage the scheduler is told about, delivery goes on over the other path") {
  const std::uint64_t seed = GENERATE(41, 42);
  // The scheduler learns of the outage at once, or 20 ms late (a keepalive-based detector).
  const std::uint64_t detect = GENERATE(std::uint64_t{0}, 20 * kMs);
  CAPTURE(seed, detect);
  SimConfig cfg;
  cfg.seed = seed;
  cfg.paths = {path(100, 10 * kMs), path(50, 15 * kMs)};
  cfg.scheduler = SchedulerKind::kWrrBytes;
  cfg.offered_bps = 90e6;  // path 1 runs at 90 % (a queue to lose), path 0 can take it all
  cfg.duration_ns = 300 * kMs;
  cfg.max_delay_ns = 50 * kMs;
  cfg.warmup_packets = 8;
  const std::uint64_t load = load_start_ns(cfg);
  const std::uint64_t outage_start = load + 100 * kMs, outage_end = load + 200 * kMs;
  cfg.paths[1].outages = {Outage{outage_start, outage_end, detect, true}};
  const SimResult r = simulate(cfg);
  check_conservation(cfg, r);

  // Path 1 carries nothing new once the scheduler knows, and traffic again after the outage.
  std::uint64_t on_1_during = 0, on_1_after = 0;
  for (const auto& p : r.packets) {
    if (p.path != 1) continue;
    on_1_during += p.sent_ns >= outage_start + detect && p.sent_ns < outage_end;
    on_1_after += p.sent_ns >= outage_end;
  }
  CHECK(on_1_during == 0);
  CHECK(on_1_after > 300);
  // Only what path 1 had queued, or was given before the scheduler knew, is lost.
  CHECK(r.lost_on_paths() == r.path[1].lost_outage);
  CHECK(r.path[1].lost_outage > 0);
  // Every number that never arrived is counted lost; so is every number that was given up
  // and then turned up late.
  CHECK(r.reorder.lost == expected_lost(cfg, r));

  // Delivery never pauses longer than max_delay (waiting for the numbers lost on path 1) plus
  // a little, from before the outage until the end of the load.
  std::uint64_t longest = 0;
  for (std::size_t i = 1; i < r.delivered_ns.size(); ++i) {
    const std::uint64_t t = r.delivered_ns[i - 1];
    if (t < load + 50 * kMs || t > load + 300 * kMs) continue;
    longest = std::max(longest, r.delivered_ns[i] - t);
  }
  CAPTURE(longest, r.path[1].lost_outage, r.reorder.late, r.reorder.timeouts);
  CHECK(longest <= cfg.max_delay_ns + 2 * kMs);

  // After the outage, path 1 has been silent for longer than max_delay, so the receiver does
  // not wait for it (Reorder only waits for *active* paths): its first packets, 5 ms slower
  // than path 0's, are given up and then delivered late. That happens right after it
  // returns, and nowhere else.
  std::int64_t highest = -1;
  for (std::uint64_t id : r.delivered) {
    const auto& p = r.packets[id];
    const std::int64_t o = offset(cfg, p.seq);
    if (o < highest) {
      INFO("late seq " << p.seq << " path " << p.path << " sent at " << p.sent_ns);
      CHECK(p.path == 1);
      CHECK(p.sent_ns >= outage_end);
      CHECK(p.sent_ns < outage_end + 10 * kMs);
    }
    highest = std::max(highest, o);
  }
}

TEST_CASE("from a cold start, packets are given up and delivered late only in the first delay skew") {
  // Reorder learns of a path only when it delivers something, so until the slower path's
  // first packet arrives its gaps are not waited for. This bounds that transient: after the
  // first 20 ms (the delay difference) plus a little, nothing is late any more.
  const std::uint64_t seed = GENERATE(61, 62);
  CAPTURE(seed);
  SimConfig cfg = two_paths_config(seed);
  cfg.warmup_packets = 0;
  const SimResult r = simulate(cfg);
  check_conservation(cfg, r);
  CHECK(r.reorder.lost == r.reorder.late);  // everything arrived in the end
  std::int64_t highest = -1;
  for (std::uint64_t id : r.delivered) {
    const auto& p = r.packets[id];
    const std::int64_t o = offset(cfg, p.seq);
    if (o < highest) {
      INFO("late seq " << p.seq << " path " << p.path << " sent at " << p.sent_ns);
      REQUIRE(p.path == 1);
      REQUIRE(p.sent_ns < 22 * kMs);
    }
    highest = std::max(highest, o);
  }
}

TEST_CASE("the same seed gives the same run, a different seed a different one") {
  SimConfig cfg = two_paths_config(51);
  cfg.paths[0].jitter_ns = 2 * kMs;
  cfg.paths[1].jitter_ns = 500 * kUs;
  cfg.paths[1].loss = 0.02;
  cfg.poisson = true;
  cfg.duration_ns = 100 * kMs;
  const SimResult a = simulate(cfg);
  const SimResult b = simulate(cfg);
  check_conservation(cfg, a);
  CHECK(a.delivered == b.delivered);
  CHECK(a.delivered_ns == b.delivered_ns);
  CHECK(a.packets.size() == b.packets.size());
  CHECK(a.lost_on_paths() == b.lost_on_paths());
  CHECK(a.reorder.reordered == b.reorder.reordered);
  CHECK(a.reorder.lost == b.reorder.lost);
  CHECK(a.reorder.timeouts == b.reorder.timeouts);
  CHECK(a.end_ns == b.end_ns);

  cfg.seed = 52;
  const SimResult c = simulate(cfg);
  CHECK(c.delivered_ns != a.delivered_ns);
}

TEST_CASE("conservation holds over 200 short random runs") {
  const std::uint64_t base_seed = GENERATE(take(1, random(std::uint64_t{1}, std::uint64_t{1} << 40)));
  std::uint64_t total_packets = 0;
  for (int run = 0; run < 200; ++run) {
    const std::uint64_t seed = base_seed + static_cast<std::uint64_t>(run);
    CAPTURE(seed);
    std::mt19937_64 rng(seed);
    std::uniform_real_distribution<double> u(0, 1);
    SimConfig cfg;
    cfg.seed = seed;
    const int n = std::uniform_int_distribution<int>(1, 4)(rng);
    double capacity = 0;
    for (int i = 0; i < n; ++i) {
      PathConfig p = path(10 + 290 * u(rng), static_cast<std::uint64_t>((1 + 40 * u(rng)) * kMs),
                          std::uniform_int_distribution<std::uint32_t>(0, 5)(rng));
      p.jitter_ns = u(rng) < 0.5 ? 0 : static_cast<std::uint64_t>(3 * kMs * u(rng));
      p.loss = u(rng) < 0.5 ? 0 : 0.05 * u(rng);
      p.queue_packets = std::uniform_int_distribution<std::size_t>(5, 300)(rng);
      if (u(rng) < 0.3) {
        const auto start = static_cast<std::uint64_t>(40 * kMs * u(rng));
        p.outages.push_back(Outage{start, start + static_cast<std::uint64_t>(20 * kMs * u(rng)),
                                   static_cast<std::uint64_t>(5 * kMs * u(rng)), u(rng) < 0.7});
      }
      capacity += p.rate_bps;
      cfg.paths.push_back(p);
    }
    cfg.scheduler = std::vector<SchedulerKind>{SchedulerKind::kWrrPackets, SchedulerKind::kWrrBytes,
                                               SchedulerKind::kFlowPinning}[rng() % 3];
    cfg.offered_bps = capacity * (0.1 + 1.4 * u(rng));  // sometimes far beyond capacity
    cfg.poisson = u(rng) < 0.5;
    cfg.sizes = u(rng) < 0.5 ? SizeDistribution::uniform(40, 1500)
                             : SizeDistribution::mix({{40, 7}, {576, 4}, {1500, 1}});
    cfg.duration_ns = static_cast<std::uint64_t>((5 + 25 * u(rng)) * kMs);
    cfg.first_seq = u(rng) < 0.5 ? static_cast<std::uint32_t>(rng()) : 0xFFFFFFFFu - 200;
    cfg.reorder_window = std::vector<std::uint32_t>{8, 64, 512, 4096}[rng() % 4];
    cfg.max_delay_ns = static_cast<std::uint64_t>((5 + 100 * u(rng)) * kMs);
    cfg.early_grace_ns = u(rng) < 0.5 ? 0 : static_cast<std::uint64_t>(2 * kMs * u(rng));
    cfg.warmup_packets = u(rng) < 0.5 ? 0 : 6;
    const SimResult r = simulate(cfg);
    check_conservation(cfg, r);
    // Without jumps, every number the head skipped either never arrived or came late.
    if (r.reorder.resyncs == 0) {
      REQUIRE(r.reorder.lost == expected_lost(cfg, r));
    }
    total_packets += r.packets.size();
  }
  CHECK(total_packets > 100000);  // the runs were not trivially empty
}

TEST_CASE("a rate step changes a path's service rate from its time on") {
  // 1250-byte packets every 200 us (50 Mbit/s) into a 100 Mbit/s path (100 us each) that
  // becomes 10 Mbit/s (1 ms each) at 50 ms: before, each arrives 100 us + delay after it was
  // sent; after, the queue builds and they arrive 1 ms apart.
  SimConfig cfg;
  cfg.seed = 71;
  cfg.paths = {path(100, 10 * kMs)};
  cfg.paths[0].rate_steps = {{50 * kMs, 10e6}};
  cfg.paths[0].queue_packets = 100000;
  cfg.scheduler = SchedulerKind::kWrrBytes;
  cfg.offered_bps = 50e6;
  cfg.sizes = SizeDistribution::fixed(1250);
  cfg.duration_ns = 100 * kMs;
  const SimResult r = simulate(cfg);
  check_conservation(cfg, r);
  REQUIRE(r.packets.size() == 500);
  CHECK(cfg.paths[0].rate_at(0) == 100e6);
  CHECK(cfg.paths[0].rate_at(50 * kMs - 1) == 100e6);
  CHECK(cfg.paths[0].rate_at(50 * kMs) == 10e6);
  std::uint64_t before = 0, after = 0;
  for (std::size_t i = 0; i < r.packets.size(); ++i) {
    const auto& p = r.packets[i];
    if (p.sent_ns + 100 * kUs <= 50 * kMs) {
      ++before;
      REQUIRE(p.arrived_ns == p.sent_ns + 100 * kUs + 10 * kMs);
    } else if (p.sent_ns > 51 * kMs) {
      ++after;
      REQUIRE(p.arrived_ns - r.packets[i - 1].arrived_ns == 1 * kMs);
    }
  }
  CHECK(before == 250);
  CHECK(after > 200);
}

TEST_CASE("the static schedulers send no probes and get no estimates") {
  SimConfig cfg = two_paths_config(81);
  const SimResult r = simulate(cfg);
  CHECK(r.probes_sent == 0);
  CHECK(r.estimates.empty());
  CHECK(r.final_estimate.empty());
}
