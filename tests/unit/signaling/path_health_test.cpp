// Unit tests for the path liveness policy (signaling/path_health.*): a pure state machine with
// time as a parameter, so every scenario is scripted in microseconds, and one is driven by
// the seeded path simulator (tests/sim/path_sim.h) carrying the probes.
//
// Parameters throughout: probe interval 20 ms, dead after 3 misses (60 ms of silence),
// hold-down 1 s, demotion after 3 samples of >= 50 % data loss.
#include "signaling/path_health.h"

#include "tests/sim/path_sim.h"

#include <catch2/catch.hpp>

#include <cstdint>
#include <random>
#include <string>
#include <vector>

namespace {

using mpt::signaling::HealthParams;
using mpt::signaling::HealthState;
using mpt::signaling::PathHealth;

constexpr std::uint64_t kMsUs = 1000;       // one millisecond in µs
constexpr std::uint64_t kSecUs = 1000000;   // one second in µs
constexpr std::uint64_t kInterval = 20 * kMsUs;
constexpr std::uint64_t kDead = 3 * kInterval;
constexpr std::uint64_t kHold = kSecUs;

HealthParams params() {
  HealthParams p;
  p.probe_interval_us = kInterval;
  p.dead_misses = 3;
  p.hold_down_us = kHold;
  p.demote_loss = 0.5;
  p.demote_samples = 3;
  return p;
}

// Probe acks every interval in [from, to), ticking every millisecond; returns `to`.
std::uint64_t answer(PathHealth& h, std::uint64_t from, std::uint64_t to) {
  for (std::uint64_t t = from; t < to; t += kMsUs) {
    if ((t - from) % kInterval == 0) h.on_probe_ack(t, 15 * kMsUs);
    (void)h.tick(t);
  }
  return to;
}

// Takes a fresh path down: silent from 0 until just after 60 ms.
void take_down(PathHealth& h) {
  REQUIRE(h.tick(kDead + 1));
  REQUIRE(h.state() == HealthState::kDown);
}

}  // namespace

TEST_CASE("A path silent for three probe intervals is declared down, not a microsecond earlier",
          "[path_health]") {
  PathHealth h(params(), 0);
  CHECK(h.usable());
  CHECK(h.state() == HealthState::kUp);
  for (std::uint64_t t = 0; t <= kDead; t += kMsUs / 4) {
    CHECK_FALSE(h.tick(t));
    CHECK(h.usable());
  }
  CHECK_FALSE(h.tick(kDead));  // exactly 60 ms: still up
  CHECK(h.usable());
  CHECK(h.tick(kDead + 1));    // just after: down
  CHECK(h.state() == HealthState::kDown);
  CHECK_FALSE(h.usable());
  CHECK(h.last_change_us() == kDead + 1);
  CHECK_FALSE(h.tick(kDead + 2));

  // Measured from the last thing heard, with any time origin.
  const std::uint64_t origin = 123456789012ull;
  PathHealth g(params(), origin);
  g.on_probe_ack(origin + 100 * kMsUs, 10 * kMsUs);
  CHECK(g.last_heard_us() == origin + 100 * kMsUs);
  CHECK_FALSE(g.tick(origin + 100 * kMsUs + kDead));
  CHECK(g.usable());
  CHECK(g.tick(origin + 100 * kMsUs + kDead + 1));
  CHECK(g.state() == HealthState::kDown);
}

TEST_CASE("Probe acks every interval keep a path up indefinitely", "[path_health]") {
  PathHealth h(params(), 0);
  answer(h, 0, 10 * kSecUs);
  CHECK(h.usable());
  // Two probes lost in a row are not yet three.
  PathHealth g(params(), 0);
  for (std::uint64_t t = 0; t < 5 * kSecUs; t += 3 * kInterval) {
    g.on_probe_ack(t, kMsUs);
    for (std::uint64_t u = t; u < t + 3 * kInterval; u += kMsUs) CHECK_FALSE(g.tick(u));
  }
  CHECK(g.usable());
}

TEST_CASE("Data received keeps a path up even when no probe ack arrives", "[path_health]") {
  PathHealth h(params(), 0);
  std::uint64_t t = 0;
  for (; t < 5 * kSecUs; t += kMsUs) {
    if (t % (10 * kMsUs) == 0) h.on_data_received(t);
    CHECK_FALSE(h.tick(t));
  }
  CHECK(h.usable());
  const std::uint64_t last = t - 10 * kMsUs;
  CHECK(h.last_heard_us() == last);
  // The data stops: 60 ms after the last packet, the path is down.
  CHECK_FALSE(h.tick(last + kDead));
  CHECK(h.tick(last + kDead + 1));
  CHECK(h.state() == HealthState::kDown);
}

TEST_CASE("A down path that answers again recovers, and is up only after the hold-down",
          "[path_health]") {
  PathHealth h(params(), 0);
  take_down(h);
  const std::uint64_t back = 100 * kMsUs;
  h.on_probe_ack(back, 12 * kMsUs);
  CHECK(h.state() == HealthState::kRecovering);
  CHECK_FALSE(h.usable());
  CHECK(h.last_change_us() == back);
  // Answering every interval: still not usable one microsecond before the hold-down ends.
  for (std::uint64_t t = back; t < back + kHold; t += kMsUs) {
    if ((t - back) % kInterval == 0) h.on_probe_ack(t, 12 * kMsUs);
    CHECK_FALSE(h.tick(t));
    CHECK(h.state() == HealthState::kRecovering);
  }
  CHECK_FALSE(h.tick(back + kHold - 1));
  CHECK(h.tick(back + kHold));
  CHECK(h.state() == HealthState::kUp);

  // Data alone is enough to start recovering, too.
  PathHealth g(params(), 0);
  take_down(g);
  g.on_data_received(back);
  CHECK(g.state() == HealthState::kRecovering);
}

TEST_CASE("A recovering path that goes silent again is down again, so flapping never brings it up",
          "[path_health]") {
  PathHealth h(params(), 0);
  take_down(h);
  // Answers for 500 ms, silent for 100 ms, over and over for 20 s: every silence is longer
  // than three intervals, every answering stretch shorter than the hold-down.
  std::uint64_t t = 100 * kMsUs;
  for (int cycle = 0; cycle < 33; ++cycle) {
    const std::uint64_t start = t;
    for (; t < start + 500 * kMsUs; t += kMsUs) {
      if ((t - start) % kInterval == 0) h.on_probe_ack(t, 12 * kMsUs);
      CHECK_FALSE(h.tick(t));
      CHECK(h.state() == HealthState::kRecovering);
    }
    const std::uint64_t last_ack = start + 480 * kMsUs;
    for (; t < start + 600 * kMsUs; t += kMsUs) {
      CHECK_FALSE(h.tick(t));
      CHECK(h.state() == (t > last_ack + kDead ? HealthState::kDown : HealthState::kRecovering));
    }
  }
  CHECK_FALSE(h.usable());
  // Once it stops flapping, it comes back a hold-down after it started answering for good.
  const std::uint64_t stable = t;
  answer(h, stable, stable + kHold);
  CHECK(h.state() == HealthState::kRecovering);
  CHECK(h.tick(stable + kHold));
  CHECK(h.usable());
}

TEST_CASE("Link down and link up are acted on at once", "[path_health]") {
  PathHealth h(params(), 0);
  answer(h, 0, 200 * kMsUs);
  h.on_link(false, 200 * kMsUs);
  CHECK(h.state() == HealthState::kLinkDown);
  CHECK_FALSE(h.usable());
  CHECK(h.last_change_us() == 200 * kMsUs);
  // Nothing but the link brings it back: answers and data change nothing, nor does time.
  answer(h, 200 * kMsUs, 3 * kSecUs);
  h.on_data_received(3 * kSecUs);
  CHECK_FALSE(h.tick(3 * kSecUs));
  CHECK(h.state() == HealthState::kLinkDown);
  h.on_link(true, 4 * kSecUs);
  CHECK(h.state() == HealthState::kUp);
  CHECK(h.usable());
  // Silence is judged from the moment the link came back.
  CHECK_FALSE(h.tick(4 * kSecUs + kDead));
  CHECK(h.tick(4 * kSecUs + kDead + 1));
  CHECK(h.state() == HealthState::kDown);

  // From every other state, link down is immediate as well.
  PathHealth down(params(), 0);
  take_down(down);
  down.on_link(false, kSecUs);
  CHECK(down.state() == HealthState::kLinkDown);

  PathHealth recovering(params(), 0);
  take_down(recovering);
  recovering.on_probe_ack(kSecUs, kMsUs);
  REQUIRE(recovering.state() == HealthState::kRecovering);
  recovering.on_link(false, kSecUs);
  CHECK(recovering.state() == HealthState::kLinkDown);

  // Link up on a path whose link never went down changes nothing.
  PathHealth other(params(), 0);
  take_down(other);
  other.on_link(true, kSecUs);
  CHECK(other.state() == HealthState::kDown);
}

TEST_CASE("Admin down overrides everything until admin up", "[path_health]") {
  PathHealth h(params(), 0);
  h.set_admin(false, 10 * kMsUs);
  CHECK(h.state() == HealthState::kAdminDown);
  CHECK_FALSE(h.usable());
  std::uint64_t t = 10 * kMsUs;
  for (; t < 5 * kSecUs; t += kMsUs) {
    if (t % kInterval == 0) h.on_probe_ack(t, kMsUs);
    if (t % (5 * kMsUs) == 0) h.on_data_received(t);
    if (t % (100 * kMsUs) == 0) h.on_loss_sample(100, t % (200 * kMsUs) ? 100 : 0, t);
    if (t % (700 * kMsUs) == 0) h.on_link(false, t);
    if (t % (700 * kMsUs) == 350 * kMsUs) h.on_link(true, t);
    if (t % (900 * kMsUs) == 0) h.set_admin(false, t);
    CHECK_FALSE(h.tick(t));
    CHECK(h.state() == HealthState::kAdminDown);
  }
  h.on_link(true, t);
  h.set_admin(true, t);
  CHECK(h.state() == HealthState::kUp);
  // Silence is judged from admin up.
  CHECK_FALSE(h.tick(t + kDead));
  CHECK(h.tick(t + kDead + 1));

  // Admin up on a path that is not admin down changes nothing.
  PathHealth down(params(), 0);
  take_down(down);
  down.set_admin(true, kSecUs);
  CHECK(down.state() == HealthState::kDown);
}

TEST_CASE("A link that went down while the path was admin down is still down at admin up",
          "[path_health]") {
  // Link down during admin down, then admin up: the link is still down.
  PathHealth h(params(), 0);
  h.set_admin(false, kSecUs);
  h.on_link(false, 2 * kSecUs);
  CHECK(h.state() == HealthState::kAdminDown);
  h.set_admin(true, 3 * kSecUs);
  CHECK(h.state() == HealthState::kLinkDown);
  CHECK_FALSE(h.usable());
  h.on_link(true, 4 * kSecUs);
  CHECK(h.state() == HealthState::kUp);

  // Admin down while the link is down, admin up: still link down.
  PathHealth g(params(), 0);
  g.on_link(false, kSecUs);
  g.set_admin(false, 2 * kSecUs);
  g.set_admin(true, 3 * kSecUs);
  CHECK(g.state() == HealthState::kLinkDown);

  // And the link coming back during admin down is remembered too.
  PathHealth k(params(), 0);
  k.on_link(false, kSecUs);
  k.set_admin(false, 2 * kSecUs);
  k.on_link(true, 3 * kSecUs);
  CHECK(k.state() == HealthState::kAdminDown);
  k.set_admin(true, 4 * kSecUs);
  CHECK(k.state() == HealthState::kUp);
}

TEST_CASE("A path whose probes pass but whose data is lost is demoted, then restored",
          "[path_health]") {
  PathHealth h(params(), 0);
  std::uint64_t t = 0;
  auto step = [&](std::uint64_t sent, std::uint64_t received) {
    t = answer(h, t, t + 100 * kMsUs);
    h.on_loss_sample(sent, received, t);
  };
  // Two bad samples, a good one, two bad ones: never three in a row.
  step(100, 40);
  step(100, 40);
  step(100, 100);
  step(100, 50);  // exactly the threshold counts as bad
  step(100, 0);
  CHECK(h.state() == HealthState::kUp);
  // Samples with too few packets say nothing either way.
  step(19, 0);
  step(0, 0);
  CHECK(h.state() == HealthState::kUp);
  step(100, 10);  // the third bad one in a row
  CHECK(h.state() == HealthState::kDemoted);
  CHECK_FALSE(h.usable());
  CHECK(h.loss() == Approx(0.9));

  // Restoration needs hold_down of good samples; a bad sample restarts the clock.
  step(100, 99);
  const std::uint64_t good_from = t;
  CHECK(h.loss() == Approx(0.01));
  for (int i = 0; i < 5; ++i) step(100, 100);
  step(100, 30);
  CHECK(h.state() == HealthState::kDemoted);
  step(100, 120);  // more received than sent (counters raced): no loss
  CHECK(h.loss() == 0.0);
  const std::uint64_t restart = t;
  REQUIRE(restart > good_from);
  while (t + 100 * kMsUs < restart + kHold) {
    step(100, 100);
    CHECK(h.state() == HealthState::kDemoted);
  }
  answer(h, t, restart + kHold);  // probes keep passing until the hold-down ends
  CHECK(h.state() == HealthState::kDemoted);
  CHECK(h.tick(restart + kHold));
  CHECK(h.state() == HealthState::kUp);

  // A demoted path that goes silent is down like any other.
  PathHealth g(params(), 0);
  for (int i = 0; i < 3; ++i) g.on_loss_sample(100, 0, kMsUs);
  REQUIRE(g.state() == HealthState::kDemoted);
  CHECK_FALSE(g.tick(kDead));
  CHECK_FALSE(g.tick(kDead + 1));  // demoted -> down: usable() stays false
  CHECK(g.state() == HealthState::kDown);
}

TEST_CASE("Losses while the path holds a queue (congestion) never demote it", "[path_health]") {
  PathHealth h(params(), 0);
  std::uint64_t t = 0;
  // Its capacity fell under the traffic: 80 % tail drops at a full queue, sample after sample.
  for (int i = 0; i < 10; ++i) {
    t = answer(h, t, t + 100 * kMsUs);
    h.on_loss_sample(100, 20, t, true);
  }
  CHECK(h.state() == HealthState::kUp);
  CHECK(h.loss() == Approx(0.8));  // shown, though
  // The same losses without a queue: data does not get through.
  for (int i = 0; i < 3; ++i) {
    t = answer(h, t, t + 100 * kMsUs);
    h.on_loss_sample(100, 20, t, false);
  }
  CHECK(h.state() == HealthState::kDemoted);
  // Queued samples do not restore it either: only good ones, for hold_down.
  for (int i = 0; i < 15; ++i) {
    t = answer(h, t, t + 100 * kMsUs);
    h.on_loss_sample(100, 100, t, true);
  }
  CHECK(h.state() == HealthState::kDemoted);
}

TEST_CASE("Times earlier than the last event never end a hold-down early", "[path_health]") {
  // The control thread may tick with a clock reading taken before the ack it just handled.
  PathHealth h(params(), 0);
  take_down(h);
  h.on_probe_ack(200 * kMsUs, kMsUs);
  REQUIRE(h.state() == HealthState::kRecovering);
  CHECK_FALSE(h.tick(200 * kMsUs - 1));
  CHECK(h.state() == HealthState::kRecovering);

  PathHealth g(params(), 0);
  for (int i = 0; i < 3; ++i) g.on_loss_sample(100, 0, 10 * kMsUs);
  REQUIRE(g.state() == HealthState::kDemoted);
  g.on_probe_ack(50 * kMsUs, kMsUs);
  g.on_loss_sample(100, 100, 50 * kMsUs);
  CHECK_FALSE(g.tick(50 * kMsUs - 1));
  CHECK(g.state() == HealthState::kDemoted);
}

TEST_CASE("tick() returns true exactly when usable() changes", "[path_health]") {
  const std::uint64_t seed = GENERATE(1, 2, 3, 4, 5);
  INFO("seed " << seed);
  std::mt19937_64 rng(seed);
  PathHealth h(params(), 0);
  std::uint64_t t = 0;
  int changes = 0;
  for (int i = 0; i < 20000; ++i) {
    t += rng() % (30 * kMsUs);
    switch (rng() % 16) {
      case 0: case 1: case 2: case 3: case 4: h.on_probe_ack(t, rng() % 50000); break;
      case 5: case 6: h.on_data_received(t); break;
      case 7: h.on_link(rng() % 4 != 0, t); break;
      case 8: h.set_admin(rng() % 4 != 0, t); break;
      case 9: case 10: h.on_loss_sample(100, rng() % 101, t); break;
      default: break;
    }
    const bool before = h.usable();
    const HealthState from = h.state();
    const bool changed = h.tick(t);
    CHECK(changed == (before != h.usable()));
    changes += changed ? 1 : 0;
    // The timers only ever make these moves.
    if (h.state() != from) {
      const HealthState to = h.state();
      const bool legal = (to == HealthState::kDown && (from == HealthState::kUp ||
                                                       from == HealthState::kRecovering ||
                                                       from == HealthState::kDemoted)) ||
                         (to == HealthState::kUp && (from == HealthState::kRecovering ||
                                                     from == HealthState::kDemoted));
      CHECK(legal);
    }
    // A second tick at the same time changes nothing.
    CHECK_FALSE(h.tick(t));
  }
  CHECK(changes > 10);  // the scenario did exercise transitions
}

TEST_CASE("The RTT is smoothed with gain 1/8", "[path_health]") {
  PathHealth h(params(), 0);
  CHECK(h.rtt_us() == 0);
  h.on_probe_ack(kMsUs, 80000);
  CHECK(h.rtt_us() == 80000);  // the first sample is taken as is
  h.on_probe_ack(2 * kMsUs, 160000);
  CHECK(h.rtt_us() == 90000);  // 80000 + (160000 - 80000) / 8
  h.on_probe_ack(3 * kMsUs, 10000);
  CHECK(h.rtt_us() == 80000);  // 90000 - (90000 - 10000) / 8
  // A single outlier moves it by an eighth; a sustained change is followed.
  for (int i = 0; i < 100; ++i) h.on_probe_ack(4 * kMsUs + static_cast<std::uint64_t>(i), 20000);
  CHECK(h.rtt_us() >= 20000);
  CHECK(h.rtt_us() < 20008);  // integer truncation leaves it within 7 µs
  h.on_probe_ack(5 * kMsUs, 1000000);
  CHECK(h.rtt_us() < 20008 + 1000000 / 8 + 1);
  // RTT samples from a path in any state are still smoothed.
  PathHealth g(params(), 0);
  take_down(g);
  g.on_probe_ack(kSecUs, 30000);
  CHECK(g.rtt_us() == 30000);
}

TEST_CASE("An outage on a simulated path is detected within 100 ms and healed after the hold-down",
          "[path_health][sim]") {
  // Probes every 20 ms go through the seeded path simulator (one path, 10 ms one way, up to
  // 3 ms jitter, 0.5 % loss, an outage from 1 s to 2 s that the scheduler is not told about);
  // each probe that arrives is answered over a return leg with the same delay, jitter, loss
  // and outage. The probe's round trip feeds on_probe_ack; tick() runs every millisecond.
  using mpt::sim::kMs;
  using mpt::sim::Fate;
  const std::uint64_t seed = GENERATE(range(1, 21));
  INFO("seed " << seed);

  mpt::sim::SimConfig cfg;
  cfg.seed = seed;
  cfg.scheduler = mpt::sim::SchedulerKind::kWrrPackets;
  cfg.sizes = mpt::sim::SizeDistribution::fixed(100);
  cfg.offered_bps = 100 * 8 / 0.020;  // one 100-byte probe every 20 ms
  cfg.duration_ns = 4500 * kMs;
  mpt::sim::PathConfig path;
  path.rate_bps = 10e6;
  path.delay_ns = 10 * kMs;
  path.jitter_ns = 3 * kMs;
  path.loss = 0.005;
  const std::uint64_t outage_start = 1000 * kMs;
  const std::uint64_t outage_end = 2000 * kMs;
  path.outages.push_back(mpt::sim::Outage{outage_start, outage_end, 0, false});
  cfg.paths.push_back(path);
  const mpt::sim::SimResult result = mpt::sim::simulate(cfg);
  REQUIRE(result.packets.size() >= 220);

  // The answers, in the order they come back (the return leg is FIFO as well).
  std::mt19937_64 back(seed ^ 0xACCull);
  struct Ack {
    std::uint64_t at_us;
    std::uint64_t rtt_us;
  };
  std::vector<Ack> acks;
  std::uint64_t last_back = 0;
  for (const mpt::sim::SimPacket& p : result.packets) {
    const bool lost = std::uniform_real_distribution<double>(0, 1)(back) < path.loss;
    const std::uint64_t jitter = std::uniform_int_distribution<std::uint64_t>(0, path.jitter_ns)(back);
    if (p.fate != Fate::kArrived || lost) continue;
    if (p.arrived_ns >= outage_start && p.arrived_ns < outage_end) continue;
    const std::uint64_t at = std::max(p.arrived_ns + path.delay_ns + jitter, last_back);
    last_back = at;
    acks.push_back(Ack{at / 1000, (at - p.sent_ns) / 1000});
  }

  PathHealth h(params(), 0);
  std::size_t next = 0;
  std::uint64_t down_at = 0, up_at = 0;
  int transitions = 0;
  for (std::uint64_t t = 0; t <= 4500 * kMsUs; t += kMsUs) {
    for (; next < acks.size() && acks[next].at_us <= t; ++next)
      h.on_probe_ack(acks[next].at_us, acks[next].rtt_us);
    if (h.tick(t)) {
      ++transitions;
      if (h.usable()) {
        up_at = t;
      } else {
        down_at = t;
      }
    }
  }
  CAPTURE(down_at, up_at);
  CHECK(transitions == 2);  // down once, up once: no false alarm, no flapping
  const std::uint64_t start_us = outage_start / 1000, end_us = outage_end / 1000;
  CHECK(down_at > start_us);
  CHECK(down_at <= start_us + 100 * kMsUs);
  CHECK(up_at >= end_us + kHold);
  CHECK(up_at <= end_us + kHold + 5 * kInterval);
  CHECK(h.usable());
  CHECK(h.rtt_us() >= 20 * kMsUs);
  CHECK(h.rtt_us() <= 26 * kMsUs + 1 * kMsUs);
}

TEST_CASE("A recovering path that misses two answers in a row starts its hold-down again",
          "[path_health]") {
  PathHealth h(params(), 0);
  take_down(h);
  std::uint64_t t = 100 * kMsUs;
  h.on_probe_ack(t, 10 * kMsUs);  // recovering from t = 100 ms
  REQUIRE(h.state() == HealthState::kRecovering);
  // Answers every interval for 600 ms, then two answers missing (a 60 ms gap is still not
  // silence: that takes more than 3 intervals), then answers again.
  for (; t <= 700 * kMsUs; t += kInterval) {
    h.on_probe_ack(t, 10 * kMsUs);
    CHECK_FALSE(h.tick(t));
  }
  const std::uint64_t resume = 700 * kMsUs + 3 * kInterval;  // two answers lost
  CHECK_FALSE(h.tick(resume - kMsUs));
  CHECK(h.state() == HealthState::kRecovering);
  for (t = resume; t < resume + kHold - kInterval; t += kInterval) {
    h.on_probe_ack(t, 10 * kMsUs);
    CHECK_FALSE(h.tick(t));  // the first hold-down (ending at 1.1 s) no longer counts
    CHECK(h.state() == HealthState::kRecovering);
  }
  for (; !h.usable() && t < resume + 2 * kHold; t += kInterval) {
    h.on_probe_ack(t, 10 * kMsUs);
    (void)h.tick(t);
  }
  CHECK(h.usable());
  CHECK(t >= resume + kHold - kInterval);
}

TEST_CASE("One lost answer while recovering does not restart the hold-down", "[path_health]") {
  PathHealth h(params(), 0);
  take_down(h);
  std::uint64_t t = 100 * kMsUs;
  h.on_probe_ack(t, 10 * kMsUs);
  for (t += kInterval; t <= 100 * kMsUs + kHold + kInterval; t += kInterval) {
    if (t != 500 * kMsUs) h.on_probe_ack(t + 3 * kMsUs, 10 * kMsUs);  // one lost, some jitter
    (void)h.tick(t + 3 * kMsUs);
  }
  CHECK(h.usable());
}

TEST_CASE("A path added without its link joins only after answering, not when its link comes up",
          "[path_health]") {
  // A new veth or Wi-Fi link gets its carrier a moment after it appears: mptd adds the path
  // while its link is still down.
  PathHealth h(params(), 0);
  h.on_link(false, 0);
  h.start_unverified(0);
  CHECK(h.state() == HealthState::kLinkDown);
  h.on_link(true, 10 * kMsUs);
  CHECK(h.state() == HealthState::kDown);
  CHECK_FALSE(h.usable());
  h.on_probe_ack(20 * kMsUs, 1 * kMsUs);
  CHECK(h.state() == HealthState::kRecovering);
  answer(h, 20 * kMsUs, 20 * kMsUs + kHold + kMsUs);
  CHECK(h.state() == HealthState::kUp);
  // Once it has been up, a link flap is acted on at once both ways again.
  h.on_link(false, 2 * kSecUs);
  CHECK(h.state() == HealthState::kLinkDown);
  h.on_link(true, 2 * kSecUs + kMsUs);
  CHECK(h.state() == HealthState::kUp);
}

TEST_CASE("A path the peer reports lost is down at once and rejoins after the hold-down",
          "[path_health]") {
  PathHealth h(params(), 0);
  answer(h, 0, 100 * kMsUs);
  REQUIRE(h.state() == HealthState::kUp);
  h.force_down(100 * kMsUs);
  CHECK(h.state() == HealthState::kDown);
  CHECK_FALSE(h.usable());
  // Answering again: recovering, then up only after the hold-down.
  answer(h, 200 * kMsUs, 200 * kMsUs + kHold / 2);
  CHECK(h.state() == HealthState::kRecovering);
  answer(h, 200 * kMsUs + kHold / 2, 200 * kMsUs + kHold + 2 * kMsUs);
  CHECK(h.state() == HealthState::kUp);
  // Neither an administrative nor a link-down state is overridden.
  h.set_admin(false, 2 * kSecUs);
  h.force_down(2 * kSecUs);
  CHECK(h.state() == HealthState::kAdminDown);
  h.set_admin(true, 3 * kSecUs);
  h.on_link(false, 3 * kSecUs);
  h.force_down(3 * kSecUs);
  CHECK(h.state() == HealthState::kLinkDown);
}

TEST_CASE("A new attachment joins after the short hold-down; a flapping path waits the full one",
          "[path_health]") {
  using mpt::signaling::PathHealth;
  // A path added while running (an interface that appeared).
  PathHealth h(params(), 0);
  h.start_unverified(0);
  CHECK(h.joining());
  answer(h, 10 * kMsUs, 10 * kMsUs + PathHealth::kJoinHoldUs - kMsUs);
  CHECK(h.state() == HealthState::kRecovering);
  answer(h, 10 * kMsUs + PathHealth::kJoinHoldUs - kMsUs, 10 * kMsUs + PathHealth::kJoinHoldUs + 2 * kMsUs);
  CHECK(h.state() == HealthState::kUp);
  CHECK_FALSE(h.joining());
  // Dead, then answering from the same place: the full hold-down.
  REQUIRE(h.tick(1 * kSecUs));
  REQUIRE(h.state() == HealthState::kDown);
  answer(h, 1 * kSecUs + 10 * kMsUs, 1 * kSecUs + 10 * kMsUs + PathHealth::kJoinHoldUs + 2 * kMsUs);
  CHECK(h.state() == HealthState::kRecovering);
  // The peer answers from a new address: a new attachment.
  h.new_attachment();
  CHECK(h.joining());
  (void)h.tick(1 * kSecUs + 10 * kMsUs + PathHealth::kJoinHoldUs + 3 * kMsUs);
  CHECK(h.state() == HealthState::kUp);
  // new_attachment() on a path that is up changes nothing.
  h.new_attachment();
  CHECK_FALSE(h.joining());
}

TEST_CASE("An up path is not judged silent while nothing can be heard on it (no keys yet)",
          "[path_health]") {
  PathHealth h(params(), 0);
  for (std::uint64_t t = 0; t <= 500 * kMsUs; t += kMsUs) {
    h.hold_silence(t);
    CHECK_FALSE(h.tick(t));
  }
  CHECK(h.state() == HealthState::kUp);
  // Keys now: silence counts from the last hold.
  CHECK_FALSE(h.tick(500 * kMsUs + kDead));
  CHECK(h.tick(500 * kMsUs + kDead + 1));
  CHECK(h.state() == HealthState::kDown);
  // A down path stays down: holding silence does not bring it back.
  h.hold_silence(2 * kSecUs);
  CHECK_FALSE(h.tick(2 * kSecUs));
  CHECK(h.state() == HealthState::kDown);
}
