// The adaptive scheduler end to end in the seeded path simulator (tests/sim/path_sim.h,
// SchedulerKind::kAuto): EarliestArrival fed by one PathEstimator per path through simulated
// probes that queue behind the data. Senders are constant bit rate below the sum of the
// capacities; queues are bounded like a router buffer (about 50 ms of the path's rate);
// packets are 1200-1500 bytes. Each scenario prints its numbers (and the static byte-wise
// round-robin's where it is compared) and its seed on failure.
#include "tests/sim/path_sim.h"

#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <random>
#include <sstream>
#include <vector>

namespace {

using mpt::sim::Fate;
using mpt::sim::kMs;
using mpt::sim::load_start_ns;
using mpt::sim::Outage;
using mpt::sim::PathConfig;
using mpt::sim::SchedulerKind;
using mpt::sim::SimConfig;
using mpt::sim::SimEstimate;
using mpt::sim::SimResult;
using mpt::sim::simulate;
using mpt::sim::SizeDistribution;

constexpr double kMeanPacketBytes = 1350;  // of the 1200-1500 byte distribution
constexpr std::uint64_t kWarmUp = 1000 * kMs;

// A path whose bottleneck buffer holds about 50 ms at its rate, in packets.
PathConfig router_path(double mbps, std::uint64_t delay_ns) {
  PathConfig p;
  p.rate_bps = mbps * 1e6;
  p.delay_ns = delay_ns;
  p.queue_packets = static_cast<std::size_t>(p.rate_bps * 0.050 / (8 * kMeanPacketBytes));
  return p;
}

SimConfig cbr(std::uint64_t seed, std::vector<PathConfig> paths, double offered_mbps,
              std::uint64_t duration_ns = 3000 * kMs) {
  SimConfig cfg;
  cfg.seed = seed;
  cfg.paths = std::move(paths);
  cfg.scheduler = SchedulerKind::kAuto;
  cfg.offered_bps = offered_mbps * 1e6;
  cfg.sizes = SizeDistribution::uniform(1200, 1500);
  cfg.duration_ns = duration_ns;
  cfg.warmup_packets = 8;  // the tunnel is up, and probing, before the load starts
  return cfg;
}

// What happened to the packets sent from load start + `from` to the end of the load.
struct Window {
  std::uint64_t sent_bytes = 0;
  std::uint64_t arrived_bytes = 0;
  std::uint64_t overflow = 0;
  std::vector<std::uint64_t> path_bytes;
  [[nodiscard]] double goodput() const {
    return sent_bytes ? static_cast<double>(arrived_bytes) / static_cast<double>(sent_bytes) : 0;
  }
  [[nodiscard]] double share(std::size_t p) const {
    std::uint64_t total = 0;
    for (std::uint64_t b : path_bytes) total += b;
    return total ? static_cast<double>(path_bytes[p]) / static_cast<double>(total) : 0;
  }
};

Window window(const SimConfig& cfg, const SimResult& r, std::uint64_t from = kWarmUp) {
  Window w;
  w.path_bytes.assign(cfg.paths.size(), 0);
  const std::uint64_t start = load_start_ns(cfg) + from, end = load_start_ns(cfg) + cfg.duration_ns;
  for (const auto& p : r.packets) {
    if (p.sent_ns < start || p.sent_ns >= end) continue;
    w.sent_bytes += p.size;
    w.path_bytes[static_cast<std::size_t>(p.path)] += p.size;
    if (p.fate == Fate::kArrived) w.arrived_bytes += p.size;
    w.overflow += p.fate == Fate::kLostOverflow;
  }
  return w;
}

// Delivered rate (Mbit/s, by delivery time) in 100 ms bins from load start to its end.
std::vector<double> delivered_bins(const SimConfig& cfg, const SimResult& r) {
  const std::uint64_t load = load_start_ns(cfg);
  std::vector<double> bins(cfg.duration_ns / (100 * kMs), 0);
  for (std::size_t i = 0; i < r.delivered.size(); ++i) {
    const std::uint64_t t = r.delivered_ns[i];
    if (t < load) continue;
    const std::size_t k = (t - load) / (100 * kMs);
    if (k < bins.size()) bins[k] += r.packets[r.delivered[i]].size * 8.0 / 0.1 / 1e6;
  }
  return bins;
}

// Every estimate the scheduler was given for `path` after load start + `from`.
std::vector<SimEstimate> estimates(const SimConfig& cfg, const SimResult& r, int path,
                                   std::uint64_t from = kWarmUp) {
  std::vector<SimEstimate> out;
  for (const SimEstimate& e : r.estimates) {
    if (e.path == path && e.t_ns >= load_start_ns(cfg) + from) out.push_back(e);
  }
  return out;
}

// Numbers behind the highest already delivered, i.e. given up and then delivered late.
std::uint64_t late_after(const SimResult& r, std::uint64_t t_ns) {
  std::int64_t highest = -1;
  std::uint64_t n = 0;
  for (std::size_t i = 0; i < r.delivered.size(); ++i) {
    const auto seq = static_cast<std::int64_t>(r.packets[r.delivered[i]].seq);
    if (seq < highest && r.delivered_ns[i] >= t_ns) ++n;
    highest = std::max(highest, seq);
  }
  return n;
}

void print(const char* name, const SimConfig& cfg, const SimResult& r) {
  const Window w = window(cfg, r);
  std::printf("[sim] %-34s goodput %.4f  overflow %llu  reorder timeouts %llu late %llu  shares",
              name, w.goodput(), static_cast<unsigned long long>(w.overflow),
              static_cast<unsigned long long>(r.reorder.timeouts),
              static_cast<unsigned long long>(r.reorder.late));
  for (std::size_t p = 0; p < cfg.paths.size(); ++p) std::printf(" %.3f", w.share(p));
  if (!r.final_estimate.empty()) {
    std::printf("  estimates (Mbit/s)");
    for (const auto& e : r.final_estimate) std::printf(" %.1f", e.rate_bps / 1e6);
  }
  std::printf("\n");
}

void print_bins(const char* name, const std::vector<double>& bins) {
  std::printf("[sim] %-34s", name);
  for (double b : bins) std::printf(" %.0f", b);
  std::printf("\n");
}

// The accounting every run must satisfy (a compact form of path_sim_test's).
void check_conservation(const SimConfig& cfg, const SimResult& r) {
  INFO("seed " << cfg.seed);
  REQUIRE(r.held_at_end == 0);
  REQUIRE(r.discarded.empty());
  std::vector<int> times(r.packets.size(), 0);
  for (std::uint64_t id : r.delivered) ++times[id];
  std::uint64_t arrived = 0, wrong = 0;
  for (std::size_t id = 0; id < r.packets.size(); ++id) {
    const bool got_there = r.packets[id].fate == Fate::kArrived;
    arrived += got_there;
    wrong += times[id] != (got_there ? 1 : 0);  // delivered once if it arrived, else never
  }
  REQUIRE(wrong == 0);
  REQUIRE(arrived == r.pushed);
  REQUIRE(arrived + r.lost_on_paths() == r.packets.size());
}

}  // namespace

TEST_CASE("Wi-Fi and LTE like paths: the adaptive scheduler delivers the offered load without losses or reorder timeouts", "[sim][auto]") {
  const std::uint64_t seed = GENERATE(1, 2, 3);
  CAPTURE(seed);
  // 50 Mbit/s 5 ms and 20 Mbit/s 30 ms one way; 60 Mbit/s offered for 3 s.
  SimConfig cfg = cbr(seed, {router_path(50, 5 * kMs), router_path(20, 30 * kMs)}, 60);
  const SimResult r = simulate(cfg);
  check_conservation(cfg, r);
  SimConfig wrr = cfg;
  wrr.scheduler = SchedulerKind::kWrrBytes;  // equal weights: 30 Mbit/s each
  const SimResult b = simulate(wrr);
  print("wifi+lte auto", cfg, r);
  print("wifi+lte bytes (equal weights)", wrr, b);

  // (a) After the first second, at least 95 % of what was offered arrives.
  const Window w = window(cfg, r);
  CAPTURE(w.goodput(), w.overflow);
  CHECK(w.goodput() >= 0.95);
  CHECK(r.no_path == 0);

  // (b) The estimates the scheduler plans with are within 20 % of what each path is asked to
  // carry: the Wi-Fi path runs full (50 of the 60 Mbit/s), so its capacity; the LTE path
  // takes the rest (10 of its 20), and how much more it could carry is not observable
  // (app-limited): its estimate covers what it carries and stays under 120 % of capacity.
  for (int p = 0; p < 2; ++p) {
    const double truth = cfg.paths[static_cast<std::size_t>(p)].rate_bps;
    const double carried = std::min(truth, w.share(static_cast<std::size_t>(p)) * cfg.offered_bps);
    const auto es = estimates(cfg, r, p);
    REQUIRE(es.size() > 50);
    for (const SimEstimate& e : es) {
      INFO("path " << p << " at " << (e.t_ns - load_start_ns(cfg)) / kMs
                   << " ms into the load: " << e.rate_bps / 1e6 << " Mbit/s, carries "
                   << carried / 1e6);
      REQUIRE(e.rate_bps >= 0.8 * carried);
      REQUIRE(e.rate_bps <= 1.2 * truth);
    }
  }

  // (c) The reorder stage never gives a packet up to its timeout. Packets given up early and
  // delivered late happen only during the start-up: the slow path's first packets, before
  // the receiver knew it, and its first ones after the fast path's estimate overshot and
  // left it idle for longer than max_delay (the receiver then does not wait for it).
  CHECK(r.reorder.timeouts == 0);
  CHECK(late_after(r, load_start_ns(cfg) + kWarmUp) == 0);

  // (d) Far better than splitting bytes equally, which overfills the LTE path.
  const Window wb = window(wrr, b);
  CAPTURE(wb.goodput(), wb.overflow, b.reorder.timeouts);
  CHECK(w.overflow == 0);
  CHECK(wb.overflow > 1000);
  CHECK(w.goodput() >= wb.goodput() + 0.1);
  CHECK(r.reorder.timeouts <= b.reorder.timeouts);
}

TEST_CASE("two 100 Mbit/s paths with 5 and 25 ms delays carry 180 Mbit/s, roughly half each", "[sim][auto]") {
  const std::uint64_t seed = GENERATE(4, 5);
  CAPTURE(seed);
  SimConfig cfg = cbr(seed, {router_path(100, 5 * kMs), router_path(100, 25 * kMs)}, 180);
  const SimResult r = simulate(cfg);
  check_conservation(cfg, r);
  SimConfig wrr = cfg;
  wrr.scheduler = SchedulerKind::kWrrBytes;
  const SimResult b = simulate(wrr);
  print("100+100 5/25 ms auto", cfg, r);
  print("100+100 5/25 ms bytes", wrr, b);
  const Window w = window(cfg, r);
  CAPTURE(w.goodput(), w.share(0), w.share(1));
  CHECK(w.goodput() >= 0.95);
  // The short path runs full (100 of 180 = 56 %), the long one takes the rest.
  CHECK(w.share(0) >= 0.45);
  CHECK(w.share(0) <= 0.6);
  CHECK(w.overflow == 0);
  CHECK(r.reorder.timeouts == 0);
}

TEST_CASE("after a capacity drop on one path, delivery is back within a second and stays", "[sim][auto]") {
  const std::uint64_t seed = GENERATE(6, 7);
  CAPTURE(seed);
  // 100 + 100 Mbit/s, 110 offered; path 0 drops to 20 Mbit/s one second into the load.
  SimConfig cfg = cbr(seed, {router_path(100, 5 * kMs), router_path(100, 15 * kMs)}, 110);
  const std::uint64_t step = load_start_ns(cfg) + 1000 * kMs;
  cfg.paths[0].rate_steps = {{step, 20e6}};
  const SimResult r = simulate(cfg);
  check_conservation(cfg, r);
  SimConfig wrr = cfg;
  wrr.scheduler = SchedulerKind::kWrrBytes;
  const SimResult b = simulate(wrr);
  print("step 100->20 auto", cfg, r);
  print("step 100->20 bytes", wrr, b);
  const auto bins = delivered_bins(cfg, r);
  const auto bins_b = delivered_bins(wrr, b);
  print_bins("step auto, Mbit/s per 100 ms", bins);
  print_bins("step bytes, Mbit/s per 100 ms", bins_b);
  // Not asserted: path 0's buffer stays full after the drop (the model feeds it at exactly its
  // new rate and knows nothing of the queue the drop left), so its packets keep arriving
  // ~240 ms late and are given up by the reorder stage.
  std::printf("[sim] step auto: delivered late from 1 s after the drop on: %llu\n",
              static_cast<unsigned long long>(late_after(r, step + 1000 * kMs)));

  const double target = 0.85 * std::min(110.0, 20.0 + 100.0);
  // Bins 3..9: before the step (after the start-up); bins 20..29: a second after it and on.
  for (std::size_t k = 3; k < bins.size(); ++k) {
    if (k >= 10 && k < 20) continue;
    INFO("bin " << k << ": " << bins[k] << " Mbit/s");
    CHECK(bins[k] >= target);
  }
  // The estimate for path 0 followed the drop.
  CHECK(r.final_estimate[0].rate_bps == Approx(20e6).epsilon(0.2));
  // Sanity: the static split cannot follow (it keeps sending half to the 20 Mbit/s path).
  double after_b = 0;
  for (std::size_t k = 20; k < bins_b.size(); ++k) {
    after_b += bins_b[k] / static_cast<double>(bins_b.size() - 20);
  }
  CHECK(after_b < target);
}

TEST_CASE("two equal short paths share 50/50 and lose nothing", "[sim][auto]") {
  const std::uint64_t seed = GENERATE(8, 9);
  CAPTURE(seed);
  SimConfig cfg = cbr(seed, {router_path(100, 1 * kMs), router_path(100, 1 * kMs)}, 150);
  const SimResult r = simulate(cfg);
  check_conservation(cfg, r);
  print("2 x 100 Mbit/s 1 ms auto", cfg, r);
  const Window w = window(cfg, r, 0);
  CAPTURE(w.share(0));
  // At 75 % load the split follows the estimates, and an estimate stops growing once its path
  // carries what it is offered (the app-limited rule): two equal paths can keep estimates a
  // few per cent apart (seed 9: 100 and 108.6 Mbit/s, both within 9 % of the truth), and the
  // faster-looking one is preferred whenever both are idle. Neither holds a queue.
  CHECK(w.share(0) == Approx(0.5).margin(0.1));
  CHECK(r.lost_on_paths() == 0);
  CHECK(r.reorder.lost == 0);
  CHECK(r.reorder.late == 0);
  CHECK(r.reorder.timeouts == 0);
}

namespace {

// 2 or 3 paths of 10-200 Mbit/s and 1-50 ms, offered 80 % of their sum.
SimConfig random_config(std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> u(0, 1);
  std::vector<PathConfig> paths;
  double capacity = 0;
  const int n = 2 + static_cast<int>(rng() % 2);
  for (int i = 0; i < n; ++i) {
    paths.push_back(router_path(10 + 190 * u(rng), static_cast<std::uint64_t>((1 + 49 * u(rng)) * kMs)));
    capacity += paths.back().rate_bps;
  }
  return cbr(seed, std::move(paths), 0.8 * capacity / 1e6);
}

}  // namespace

TEST_CASE("over random paths at 80 % load the adaptive scheduler delivers at least 95 % after warm-up", "[sim][auto]") {
  double worst = 1;
  for (std::uint64_t seed = 1; seed <= 20; ++seed) {
    const SimConfig cfg = random_config(seed);
    const SimResult r = simulate(cfg);
    std::ostringstream paths;
    for (const PathConfig& p : cfg.paths) {
      paths << p.rate_bps / 1e6 << " Mbit/s " << p.delay_ns / kMs << " ms; ";
    }
    INFO("seed " << seed << ": " << paths.str() << "offered " << cfg.offered_bps / 1e6 << " Mbit/s");
    check_conservation(cfg, r);
    const Window w = window(cfg, r);
    CAPTURE(w.goodput(), w.overflow, r.reorder.timeouts);
    CHECK(w.goodput() >= 0.95);
    worst = std::min(worst, w.goodput());
  }
  std::printf("[sim] sweep of 20 seeds: worst goodput %.4f\n", worst);
}

TEST_CASE("a path with 2 % random loss is left idle while the other can carry the load, and carries the excess when it cannot", "[sim][auto]") {
  const double offered = GENERATE(30.0, 80.0);
  CAPTURE(offered);
  PathConfig lossy = router_path(50, 5 * kMs);
  lossy.loss = 0.02;
  SimConfig cfg = cbr(41, {lossy, router_path(50, 10 * kMs)}, offered);
  const SimResult r = simulate(cfg);
  check_conservation(cfg, r);
  print(offered < 50 ? "lossy+clean, 30 offered" : "lossy+clean, 80 offered", cfg, r);
  // Loss is judged from a second after the first round trip on (PathEstimator::kLossWarmupUs),
  // and takes a few hundred packets to pass the threshold: the window starts at 2 s.
  const Window w = window(cfg, r, 2000 * kMs);
  CAPTURE(w.goodput(), w.share(0), w.overflow, r.final_estimate[0].loss);
  if (offered < 50) {
    CHECK(r.final_estimate[0].loss >= mpt::scheduler::PathEstimator::kLossDemote);
    CHECK(w.share(0) < 0.01);  // the clean path alone suffices
    CHECK(w.goodput() >= 0.999);
  } else {
    // 30 of 80 Mbit/s must go over the lossy path (2 % of 37.5 % is 0.75 % lost). Both paths
    // hold a queue now, so its losses are not told from tail drops (not judged): the share
    // follows capacity and delay alone.
    CHECK(w.share(0) >= 0.3);
    CHECK(w.goodput() >= 0.98);
    CHECK(w.overflow < 50);
  }
}

TEST_CASE("probes measure the path as loaded: queue delay, minimum round trip and rate", "[sim][auto]") {
  // One 20 Mbit/s path, 10 ms one way, offered 24 Mbit/s: the buffer (50 ms) stays full.
  const SimConfig cfg = cbr(31, {router_path(20, 10 * kMs)}, 24, 2000 * kMs);
  const SimResult r = simulate(cfg);
  check_conservation(cfg, r);
  const SimEstimate& e = r.final_estimate[0];
  CAPTURE(e.rate_bps, e.min_rtt_us, e.queue_delay_us, e.loss);
  CHECK(e.min_rtt_us >= 20'000);
  CHECK(e.min_rtt_us <= 21'000);  // two delays, plus a probe's serialization
  CHECK(e.queue_delay_us == Approx(50'000).epsilon(0.1));  // it queues behind the data
  CHECK(e.rate_bps == Approx(20e6).epsilon(0.05));
  // A sixth of the packets overflow, but those are tail drops of a saturated path, not a
  // lossy link: the loss the scheduler demotes paths for stays 0.
  CHECK(r.path[0].lost_overflow * 7 >= r.packets.size());
  CHECK(e.loss == 0);
  CHECK(r.probes_answered > 90);
  CHECK(r.probes_answered <= r.probes_sent);
}

TEST_CASE("the adaptive simulation is a function of its seed, and conserves packets with loss, jitter and outages", "[sim][auto]") {
  for (std::uint64_t seed = 100; seed < 130; ++seed) {
    CAPTURE(seed);
    std::mt19937_64 rng(seed);
    std::uniform_real_distribution<double> u(0, 1);
    SimConfig cfg = random_config(seed);
    cfg.duration_ns = 300 * kMs;
    cfg.poisson = u(rng) < 0.5;
    cfg.offered_bps *= 0.5 + u(rng);
    for (PathConfig& p : cfg.paths) {
      p.jitter_ns = u(rng) < 0.5 ? 0 : static_cast<std::uint64_t>(3 * kMs * u(rng));
      p.loss = u(rng) < 0.5 ? 0 : 0.03 * u(rng);
      if (u(rng) < 0.4) {
        const auto start = load_start_ns(cfg) + static_cast<std::uint64_t>(200 * kMs * u(rng));
        p.outages.push_back(Outage{start, start + static_cast<std::uint64_t>(80 * kMs * u(rng)),
                                   static_cast<std::uint64_t>(10 * kMs * u(rng)), true});
      }
      if (u(rng) < 0.3) p.rate_steps = {{load_start_ns(cfg) + 100 * kMs, p.rate_bps * (0.2 + u(rng))}};
    }
    const SimResult a = simulate(cfg);
    check_conservation(cfg, a);
    const SimResult b = simulate(cfg);
    REQUIRE(a.delivered_ns == b.delivered_ns);
    REQUIRE(a.estimates.size() == b.estimates.size());
    for (std::size_t i = 0; i < a.estimates.size(); ++i) {
      REQUIRE(a.estimates[i].rate_bps == b.estimates[i].rate_bps);
    }
    REQUIRE(a.probes_answered > 0);
  }
}
