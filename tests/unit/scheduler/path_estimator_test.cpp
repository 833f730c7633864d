// Unit tests for the path estimator (scheduler/path_estimator.*): the rate rules (growth when
// not saturated, following the delivery rate down when saturated, holding when app-limited),
// the windowed minimum round trip, queue delay, loss, peer restarts, merged short samples and
// reset(). Time is in microseconds from an arbitrary non-zero origin.
#include "scheduler/path_estimator.h"

#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdint>

namespace {

using mpt::scheduler::PathEstimator;

constexpr std::uint64_t kT0 = 1'000'000;     // us; any monotonic origin
// One delivery sample: a report interval as long as the rate window, so that each sample is
// judged alone (shorter intervals are tested with the window, below).
constexpr std::uint64_t kSampleUs = PathEstimator::kRateWindowUs;
constexpr std::uint64_t kMinRtt = 20'000;    // threshold = max(4 ms, 20 ms / 8) = 4 ms

// Feeds delivery reports to an estimator: each sample() reports `bps` delivered over one
// interval of `dt_us` since the previous report.
struct Peer {
  PathEstimator& e;
  std::uint64_t time_us = 5'000'000;  // the peer's clock: unrelated to ours
  std::uint64_t bytes = 123'456;
  void start() { e.on_delivery(kT0, bytes, time_us); }
  void sample(double bps, std::uint64_t dt_us = kSampleUs) {
    time_us += dt_us;
    bytes += static_cast<std::uint64_t>(bps * static_cast<double>(dt_us) / 8e6);
    e.on_delivery(kT0, bytes, time_us);
  }
};

// Round trips that settle the smoothed signals on `rtt_us` (after one at kMinRtt).
void settle_rtt(PathEstimator& e, std::uint64_t rtt_us, std::uint64_t now_us = kT0) {
  e.on_rtt(now_us, kMinRtt);
  for (int i = 0; i < 40; ++i) e.on_rtt(now_us + static_cast<std::uint64_t>(i) * 1000, rtt_us);
}

// Round trips after which the path has shown a queue once (startup is over) and has none now.
void settle_after_startup(PathEstimator& e, std::uint64_t now_us = kT0) {
  e.on_rtt(now_us, kMinRtt);
  e.on_rtt(now_us, kMinRtt + 10'000);  // queued: 10 ms above the minimum
  settle_rtt(e, kMinRtt, now_us);
}

}  // namespace

TEST_CASE("a new estimator has no round trip and plans with the initial rate", "[scheduler][estimator]") {
  PathEstimator e;
  CHECK_FALSE(e.has_rtt());
  CHECK(e.min_rtt_us() == 0);
  CHECK(e.queue_delay_us() == 0);
  CHECK_FALSE(e.saturated());
  CHECK(e.rate_bps() == PathEstimator::kInitialRate);
  CHECK(e.samples() == 0);
  CHECK(e.loss() == 0);
}

TEST_CASE("without a queue, delivering at least kGrowthShare (97 %) of the estimate grows it by kGrowth per sample", "[scheduler][estimator]") {
  PathEstimator e;
  settle_after_startup(e);  // no queue now
  REQUIRE_FALSE(e.saturated());
  Peer peer{e};
  peer.start();
  CHECK(e.samples() == 0);  // the first report only starts a sample

  // Delivered exactly the estimate: grows by kGrowth.
  peer.sample(10e6);
  CHECK(e.samples() == 1);
  CHECK(e.last_delivery_bps() == Approx(10e6).epsilon(1e-4));
  CHECK(e.rate_bps() == Approx(10e6 * PathEstimator::kGrowth).epsilon(1e-4));

  // 97 % of the estimate still grows it, from the estimate.
  static_assert(PathEstimator::kGrowthShare == 0.97);
  double before = e.rate_bps();
  peer.sample(0.971 * before);
  CHECK(e.rate_bps() == Approx(before * PathEstimator::kGrowth).epsilon(1e-4));

  // More than the estimate: still grows from the estimate (a sample above the estimate may be
  // a shaper's burst or a late probe; after startup the estimate only steps up by kGrowth).
  before = e.rate_bps();
  peer.sample(2 * before);
  CHECK(e.rate_bps() == Approx(before * PathEstimator::kGrowth).epsilon(1e-4));

  // 10 Mbit/s to 1 Gbit/s in about 30 samples, when everything planned gets through.
  PathEstimator g;
  settle_after_startup(g);
  Peer gp{g};
  gp.start();
  int n = 0;
  while (g.rate_bps() < 1e9 && n < 100) {
    gp.sample(g.rate_bps());
    ++n;
  }
  CHECK(n >= 30);
  CHECK(n <= 35);
}

TEST_CASE("app-limited samples (under 97 % of the estimate, no queue) leave the estimate alone", "[scheduler][estimator]") {
  PathEstimator e;
  settle_after_startup(e);
  Peer peer{e};
  peer.start();
  peer.sample(e.rate_bps());  // 11.5 Mbit/s now
  const double estimate = e.rate_bps();
  REQUIRE(estimate == Approx(PathEstimator::kInitialRate * PathEstimator::kGrowth).epsilon(1e-4));
  for (double share : {0.96, 0.89, 0.5, 0.1, 0.0}) {
    CAPTURE(share);
    peer.sample(share * estimate);
    CHECK(e.rate_bps() == estimate);
    CHECK(e.last_delivery_bps() == Approx(share * estimate).margin(1e3));
  }
  CHECK(e.samples() == 6);
}

TEST_CASE("when saturated, the estimate follows the delivery rate down: halfway, or at once when the queue is deep", "[scheduler][estimator]") {
  SECTION("a queue between the threshold and twice the threshold: halfway per sample") {
    PathEstimator e;
    settle_rtt(e, kMinRtt + 6'000);  // 6 ms of queue: above 4 ms, below 8 ms
    REQUIRE(e.saturated());
    REQUIRE(e.queue_delay_us() > 4'000);
    REQUIRE(e.queue_delay_us() <= 8'000);
    Peer peer{e};
    peer.start();
    peer.sample(10e6);  // the first sample after startup: delivered the estimate, no drain
    REQUIRE(e.rate_bps() == Approx(10e6).epsilon(1e-4));
    peer.sample(4e6);
    CHECK(e.rate_bps() == Approx((10e6 + 4e6) / 2).epsilon(1e-4));
    peer.sample(4e6);
    CHECK(e.rate_bps() == Approx((7e6 + 4e6) / 2).epsilon(1e-4));
  }
  SECTION("a queue deeper than twice the threshold: at once") {
    PathEstimator e;
    settle_rtt(e, kMinRtt + 20'000);
    REQUIRE(e.queue_delay_us() > 8'000);
    Peer peer{e};
    peer.start();
    peer.sample(3e6);
    CHECK(e.rate_bps() == Approx(3e6).epsilon(1e-4));
  }
  SECTION("delivering more than the estimate while saturated: the estimate becomes that, no growth") {
    PathEstimator e;
    settle_rtt(e, kMinRtt + 20'000);
    Peer peer{e};
    peer.start();
    peer.sample(25e6);
    CHECK(e.rate_bps() == Approx(25e6).epsilon(1e-4));
  }
  SECTION("the estimate never drops below kMinRate") {
    PathEstimator e;
    settle_rtt(e, kMinRtt + 20'000);
    Peer peer{e};
    peer.start();
    peer.sample(1e4);
    CHECK(e.rate_bps() == PathEstimator::kMinRate);
  }
}

TEST_CASE("a capacity drop under load is learnt within a few samples", "[scheduler][estimator]") {
  // Growing on a 100 Mbit/s path, then the path drops to 20 Mbit/s and its queue builds: the
  // estimate is at most 10 % above the new capacity within four samples of the queue showing.
  PathEstimator e;
  settle_rtt(e, kMinRtt);
  Peer peer{e};
  peer.start();
  for (int i = 0; i < 20; ++i) peer.sample(std::min(e.rate_bps(), 100e6));
  REQUIRE(e.rate_bps() > 100e6);
  std::uint64_t now = kT0 + 1'000'000;
  std::uint64_t rtt = kMinRtt;
  int samples = 0;
  while (e.rate_bps() > 22e6 && samples < 20) {
    rtt += 10'000;  // the queue grows by 10 ms per probe interval
    e.on_rtt(now, rtt);
    now += kSampleUs;
    peer.sample(20e6);
    ++samples;
  }
  CAPTURE(samples, e.queue_delay_us());
  CHECK(samples <= 4);
  CHECK(e.rate_bps() == Approx(20e6).epsilon(0.1));
}

// Reports with both sides: the peer delivered `r` and we had sent `s` over the same interval.
struct PeerAndUs {
  PathEstimator& e;
  std::uint64_t peer_time_us = 5'000'000, peer_bytes = 123'456;
  std::uint64_t our_time_us = 9'000'000, our_bytes = 777;
  void report() { e.on_delivery(kT0, peer_bytes, peer_time_us, our_bytes, our_time_us); }
  void sample(double r, double s, std::uint64_t dt_us = kSampleUs) {
    peer_time_us += dt_us;
    our_time_us += dt_us;
    peer_bytes += static_cast<std::uint64_t>(r * static_cast<double>(dt_us) / 8e6);
    our_bytes += static_cast<std::uint64_t>(s * static_cast<double>(dt_us) / 8e6);
    report();
  }
};

TEST_CASE("saturated, but offered less than the estimate and delivered it: the estimate stays", "[scheduler][estimator]") {
  // The queue signal is above the threshold (delay from elsewhere: a busy host). Each section
  // starts from here (Catch runs this set-up once per section): a deep queue, which would
  // otherwise take a lower r at once, and an estimate of 80 Mbit/s (delivering more than the
  // estimate while saturated sets it).
  PathEstimator e;
  settle_rtt(e, kMinRtt + 20'000);
  REQUIRE(e.saturated());
  PeerAndUs p{e};
  p.report();
  p.sample(80e6, 80e6);
  REQUIRE(e.rate_bps() == Approx(80e6).epsilon(1e-4));
  SECTION("offered 30 of its 80 Mbit/s and delivered it all: stays") {
    for (int i = 0; i < 5; ++i) p.sample(30e6, 30e6);
    CHECK(e.rate_bps() == Approx(80e6).epsilon(1e-4));
    CHECK(e.last_offered_bps() == Approx(30e6).epsilon(1e-3));
  }
  SECTION("offered its estimate and delivered less: a real bottleneck, followed down") {
    p.sample(30e6, 80e6);
    CHECK(e.rate_bps() == Approx(30e6).epsilon(1e-4));
  }
  SECTION("offered less, and delivered less than that: followed down") {
    p.sample(20e6, 40e6);  // a capacity drop while the tunnel had little to send
    CHECK(e.rate_bps() == Approx(20e6).epsilon(1e-4));
  }
  SECTION("our side unknown in the previous report: judged on r alone") {
    p.peer_time_us += kSampleUs;
    p.peer_bytes += static_cast<std::uint64_t>(80e6 * kSampleUs / 8e6);
    e.on_delivery(kT0, p.peer_bytes, p.peer_time_us);  // no send side: the baseline has none
    REQUIRE(e.rate_bps() == Approx(80e6).epsilon(1e-4));
    p.sample(30e6, 30e6);  // s cannot be computed against an unknown baseline
    CHECK(e.rate_bps() == Approx(30e6).epsilon(1e-4));
  }
}

TEST_CASE("a queue that just drained (the sender went quiet) does not drop the estimate", "[scheduler][estimator]") {
  // The path was saturated with a deep standing queue (the fast path under the adaptive
  // scheduler holds one as deep as the delay skew); then the traffic stops. The smoothed
  // queue signal still shows a deep queue for a few samples, but the last round trip found
  // none, and nothing was delivered because nothing was sent: that says nothing about the
  // capacity.
  PathEstimator e;
  settle_rtt(e, kMinRtt);
  Peer peer{e};
  peer.start();
  for (int i = 0; i < 20; ++i) peer.sample(std::min(e.rate_bps(), 50e6));
  // Now saturated at 50 Mbit/s with 20 ms of queue.
  for (int i = 0; i < 20; ++i) {
    e.on_rtt(kT0 + 1'000'000 + static_cast<std::uint64_t>(i) * kSampleUs, kMinRtt + 20'000);
    peer.sample(50e6);
  }
  REQUIRE(e.saturated());
  REQUIRE(e.rate_bps() == Approx(50e6).epsilon(1e-3));
  // Traffic stops; the next probe sees an empty queue.
  e.on_rtt(kT0 + 2'000'000, kMinRtt);
  REQUIRE(e.queue_delay_us() > 8'000);  // the smoothed signal lags
  peer.sample(0);
  CHECK(e.rate_bps() == Approx(50e6).epsilon(1e-3));
  e.on_rtt(kT0 + 2'020'000, kMinRtt);
  peer.sample(0.2e6);
  CHECK(e.rate_bps() == Approx(50e6).epsilon(1e-3));
}

TEST_CASE("the minimum round trip is kept over two epochs, then an old minimum ages out", "[scheduler][estimator]") {
  PathEstimator e;
  const std::uint64_t epoch = PathEstimator::kMinRttEpochUs;
  e.on_rtt(kT0, 10'000);
  CHECK(e.min_rtt_us() == 10'000);
  CHECK(e.one_way_delay_us() == 5'000);
  // The route lengthens: 30 ms from now on, a probe every 100 ms.
  std::uint64_t t = kT0 + 100'000;
  for (; t < kT0 + 2 * epoch; t += 100'000) {
    e.on_rtt(t, 30'000);
    INFO("t = " << (t - kT0));
    REQUIRE(e.min_rtt_us() == 10'000);  // still within two epochs
  }
  e.on_rtt(t, 30'000);  // the third epoch starts: the first one's minimum is gone
  CHECK(e.min_rtt_us() == 30'000);
  CHECK(e.one_way_delay_us() == 15'000);
  // A lower round trip counts at once.
  e.on_rtt(t + 100'000, 12'000);
  CHECK(e.min_rtt_us() == 12'000);
}

TEST_CASE("queue delay is the fast-moving smoothed round trip above the minimum", "[scheduler][estimator]") {
  PathEstimator e;
  e.on_rtt(kT0, 20'000);
  CHECK(e.queue_delay_us() == 0);
  e.on_rtt(kT0 + 20'000, 30'000);
  CHECK(e.queue_delay_us() == 2'500);  // gain 1/4: (3 * 20 + 30) / 4 = 22.5 ms
  CHECK(e.srtt_us() == 21'250);         // RFC 6298 gain 1/8
  for (int i = 0; i < 40; ++i) e.on_rtt(kT0 + 40'000 + static_cast<std::uint64_t>(i) * 20'000, 30'000);
  CHECK(e.queue_delay_us() == Approx(10'000).margin(10));
  CHECK(e.saturated());  // 10 ms > max(4 ms, 20 ms / 8)
  // Below the threshold: not saturated.
  PathEstimator f;
  settle_rtt(f, kMinRtt + 3'500);
  CHECK(f.queue_delay_us() > 3'000);
  CHECK_FALSE(f.saturated());
  // The threshold scales with the minimum round trip: 10 ms of queue on a 100 ms path is jitter.
  PathEstimator g;
  g.on_rtt(kT0, 100'000);
  for (int i = 0; i < 40; ++i) g.on_rtt(kT0 + static_cast<std::uint64_t>(i + 1) * 1000, 110'000);
  CHECK(g.queue_delay_us() > 9'000);
  CHECK_FALSE(g.saturated());
}

TEST_CASE("loss is averaged over about kLossHorizon packets and decays while the path is idle", "[scheduler][estimator]") {
  PathEstimator e;
  e.on_rtt(kT0, kMinRtt);  // loss is judged from kLossWarmupUs after the first round trip
  const std::uint64_t kW = kT0 + PathEstimator::kLossWarmupUs;
  const auto horizon = static_cast<std::uint64_t>(PathEstimator::kLossHorizon);
  e.on_loss_sample(kW, 0, 0);
  CHECK(e.loss() == 0);
  // A sample of half the horizon weighs one half.
  e.on_loss_sample(kW, horizon / 2, horizon / 2 - horizon / 20);  // 10 % lost
  CHECK(e.loss() == Approx(0.05).epsilon(1e-9));
  // A small sample barely moves it: a quiet path's few packets do not swing it.
  e.on_loss_sample(kW, 10, 0);
  CHECK(e.loss() == Approx(0.995 * 0.05 + 0.005).epsilon(1e-9));
  // A sample of the whole horizon replaces it.
  e.on_loss_sample(kW, horizon, horizon);
  CHECK(e.loss() == 0);
  // More received than sent (counted at different moments) is no loss, not a negative one.
  e.on_loss_sample(kW, horizon, horizon + 5);
  CHECK(e.loss() == 0);
  // Idle: halves every kLossDecayUs without traffic, not before.
  e.on_loss_sample(kW, horizon, horizon - horizon / 10);
  REQUIRE(e.loss() == Approx(0.1));
  const std::uint64_t t = kW + 1'000'000;
  e.on_loss_sample(t, 0, 0);
  e.on_loss_sample(t + PathEstimator::kLossDecayUs - 1, 0, 0);
  CHECK(e.loss() == Approx(0.1));
  e.on_loss_sample(t + PathEstimator::kLossDecayUs, 0, 0);
  CHECK(e.loss() == Approx(0.05));
  e.on_loss_sample(t + 2 * PathEstimator::kLossDecayUs, 0, 0);
  CHECK(e.loss() == Approx(0.025));
  // Traffic again: the idle clock restarts.
  e.on_loss_sample(t + 2 * PathEstimator::kLossDecayUs + 1, 1, 1);
  const double after = e.loss();
  e.on_loss_sample(t + 2 * PathEstimator::kLossDecayUs + 2, 0, 0);
  e.on_loss_sample(t + 3 * PathEstimator::kLossDecayUs, 0, 0);
  CHECK(e.loss() == Approx(after));
}

TEST_CASE("loss samples taken while the path is saturated (tail drops) are left out", "[scheduler][estimator]") {
  PathEstimator e;
  settle_rtt(e, kMinRtt);
  const auto horizon = static_cast<std::uint64_t>(PathEstimator::kLossHorizon);
  // Before kLossWarmupUs of round trips the queue is not known yet: not judged.
  e.on_loss_sample(kT0 + 100'000, horizon, horizon / 2);
  CHECK(e.loss() == 0);
  const std::uint64_t kW = kT0 + PathEstimator::kLossWarmupUs;
  e.on_loss_sample(kW, horizon, horizon - horizon / 50);  // 2 % on a link without a queue
  REQUIRE(e.loss() == Approx(0.02));
  settle_rtt(e, kMinRtt + 20'000);  // a standing queue: its drops are congestion
  REQUIRE(e.saturated());
  e.on_loss_sample(kW, horizon, horizon / 2);
  CHECK(e.loss() == Approx(0.02));
  settle_rtt(e, kMinRtt);  // the queue is gone, but a shallow buffer refills between probes:
  REQUIRE_FALSE(e.saturated());
  e.on_loss_sample(kW + PathEstimator::kLossQueueHoldUs - 1, horizon, horizon / 2);
  CHECK(e.loss() == Approx(0.02));  // still within the hold after the queue was seen
  e.on_loss_sample(kW + PathEstimator::kLossQueueHoldUs, horizon, horizon);  // counted again
  CHECK(e.loss() == 0);
}

TEST_CASE("a peer restart (its counters or its clock go backwards) gives no bogus sample", "[scheduler][estimator]") {
  PathEstimator e;
  settle_rtt(e, kMinRtt);
  Peer peer{e};
  peer.start();
  peer.sample(10e6);
  const double rate = e.rate_bps();
  const double last = e.last_delivery_bps();
  REQUIRE(e.samples() == 1);

  SECTION("counters restart from zero, clock goes on") {
    e.on_delivery(kT0, 1'000, peer.time_us + kSampleUs);
    CHECK(e.samples() == 1);
    CHECK(e.rate_bps() == rate);
    CHECK(e.last_delivery_bps() == last);
    // The restart report is the new baseline: the next one measures from it.
    e.on_delivery(kT0, 1'000 + 10'000'000 / 8 * kSampleUs / 1'000'000, peer.time_us + 2 * kSampleUs);
    CHECK(e.samples() == 2);
    CHECK(e.last_delivery_bps() == Approx(10e6).epsilon(1e-6));
  }
  SECTION("clock restarts from zero, counters happen to be higher") {
    e.on_delivery(kT0, peer.bytes + 10'000'000, 1'000);
    CHECK(e.samples() == 1);
    CHECK(e.rate_bps() == rate);
    e.on_delivery(kT0, peer.bytes + 10'000'000 + 20'000'000 / 8 * kSampleUs / 1'000'000,
                  1'000 + kSampleUs);
    CHECK(e.samples() == 2);
    CHECK(e.last_delivery_bps() == Approx(20e6).epsilon(1e-6));
  }
}

TEST_CASE("delivery intervals shorter than kMinSampleUs are merged with the next one", "[scheduler][estimator]") {
  PathEstimator e;
  settle_rtt(e, kMinRtt);
  Peer peer{e};
  peer.start();
  const std::uint64_t min = PathEstimator::kMinSampleUs;
  peer.sample(80e6, 2 * min / 5);  // a burst over a too short interval: no sample
  CHECK(e.samples() == 0);
  CHECK(e.rate_bps() == PathEstimator::kInitialRate);
  peer.sample(0, 2 * min / 5);     // still short, counted from the first report
  CHECK(e.samples() == 0);
  peer.sample(0, min / 5);         // now kMinSampleUs since the first report
  REQUIRE(e.samples() == 1);
  CHECK(e.last_delivery_bps() == Approx(80e6 * 2 / 5).epsilon(1e-3));  // the burst, spread
  // Exactly kMinSampleUs is long enough.
  peer.sample(10e6, PathEstimator::kMinSampleUs);
  CHECK(e.samples() == 2);
}

TEST_CASE("reset forgets the round trips and the delivery baseline and restarts the rate no higher than the initial one", "[scheduler][estimator]") {
  PathEstimator e;
  settle_rtt(e, kMinRtt);
  e.on_loss_sample(kT0 + PathEstimator::kLossWarmupUs, 1000, 900);
  settle_rtt(e, kMinRtt + 20'000);
  Peer peer{e};
  peer.start();
  peer.sample(80e6);  // saturated: follows to 80 Mbit/s
  REQUIRE(e.rate_bps() == Approx(80e6).epsilon(1e-4));
  REQUIRE(e.loss() > 0);
  e.reset();
  CHECK_FALSE(e.has_rtt());
  CHECK(e.min_rtt_us() == 0);
  CHECK(e.srtt_us() == 0);
  CHECK(e.queue_delay_us() == 0);
  CHECK_FALSE(e.saturated());
  CHECK(e.samples() == 0);
  CHECK(e.loss() == 0);
  CHECK(e.rate_bps() == PathEstimator::kInitialRate);
  // The old baseline is gone: the first report after the reset only starts a sample (a 20 ms
  // report here would otherwise give a sample of the bytes since before the outage).
  peer.sample(500e6);
  CHECK(e.samples() == 0);
  peer.sample(10e6);
  CHECK(e.samples() == 1);

  // An estimate below the initial rate is kept: it never restarts higher.
  PathEstimator low;
  settle_rtt(low, kMinRtt + 20'000);
  Peer lp{low};
  lp.start();
  lp.sample(3e6);
  REQUIRE(low.rate_bps() == Approx(3e6).epsilon(1e-4));
  low.reset();
  CHECK(low.rate_bps() == Approx(3e6).epsilon(1e-4));
}

TEST_CASE("startup: until the path shows a queue, the estimate doubles per sample; then kGrowth", "[scheduler][estimator]") {
  PathEstimator e;
  settle_rtt(e, kMinRtt);  // never queued
  Peer peer{e};
  peer.start();
  peer.sample(10e6);
  CHECK(e.rate_bps() == Approx(10e6 * PathEstimator::kStartupGrowth).epsilon(1e-4));
  int n = 1;
  while (e.rate_bps() < 1e9 && n < 100) {
    peer.sample(e.rate_bps());
    ++n;
  }
  CHECK(n <= 8);  // 10 Mbit/s to 1 Gbit/s in 7 samples
  // The first queue ends startup: growth is kGrowth from then on.
  e.on_rtt(kT0 + 100'000, kMinRtt + 10'000);
  settle_rtt(e, kMinRtt, kT0 + 100'000);
  const double before = e.rate_bps();
  peer.sample(before);
  CHECK(e.rate_bps() == Approx(before * PathEstimator::kGrowth).epsilon(1e-4));
  // reset() (back from an outage) starts over.
  e.reset();
  settle_rtt(e, kMinRtt);
  Peer again{e};
  again.start();
  again.sample(e.rate_bps());
  CHECK(e.rate_bps() == Approx(PathEstimator::kInitialRate * PathEstimator::kStartupGrowth).epsilon(1e-4));
}

TEST_CASE("pace target: kPaceTargetFactor x the saturation threshold while the path has shown a queue lately, else 0", "[scheduler][estimator]") {
  PathEstimator e;
  settle_rtt(e, kMinRtt);
  CHECK(e.pace_target_us(kT0 + 50'000) == 0);  // never a bottleneck
  e.on_rtt(kT0 + 100'000, kMinRtt + 10'000);  // a queue: a bottleneck
  CHECK(e.pace_target_us(kT0 + 100'000) == PathEstimator::kPaceTargetFactor * 4'000);  // x max(4 ms, 20 ms / 8)
  CHECK(e.pace_target_us(kT0 + 100'000 + PathEstimator::kBottleneckHoldUs) == PathEstimator::kPaceTargetFactor * 4'000);
  CHECK(e.pace_target_us(kT0 + 100'001 + PathEstimator::kBottleneckHoldUs) == 0);  // forgotten
  // A long path: the threshold is min_rtt / 8.
  PathEstimator l;
  l.on_rtt(kT0, 80'000);
  l.on_rtt(kT0 + 20'000, 100'000);
  CHECK(l.pace_target_us(kT0 + 20'000) == PathEstimator::kPaceTargetFactor * 10'000);
}

TEST_CASE("a delivery sample spans the last kRateWindowUs of reports: one short interval's burst counts by its share", "[scheduler][estimator]") {
  PathEstimator e;
  settle_rtt(e, kMinRtt + 6'000);  // saturated: the estimate follows what is delivered
  REQUIRE(e.saturated());
  Peer peer{e};
  peer.start();
  constexpr std::uint64_t kProbeUs = 20'000;  // a busy path's probe interval
  static_assert(PathEstimator::kRateWindowUs == 4 * kProbeUs);
  for (int i = 0; i < 4; ++i) peer.sample(100e6, kProbeUs);
  REQUIRE(e.rate_bps() == Approx(100e6).epsilon(1e-3));
  // A shaper's burst (or a probe read late, then early): 140 Mbit/s over one interval. The
  // sample spans it and the three before: (3 x 100 + 140) / 4.
  peer.sample(140e6, kProbeUs);
  CHECK(e.last_delivery_bps() == Approx(140e6).epsilon(1e-3));  // the last interval alone
  CHECK(e.rate_bps() == Approx(110e6).epsilon(1e-3));
  // A short interval then, as low: the window has moved on by one interval.
  peer.sample(60e6, kProbeUs);  // (2 x 100 + 140 + 60) / 4 = 100: below 110, halfway
  CHECK(e.rate_bps() == Approx(105e6).epsilon(1e-3));
}

TEST_CASE("reports closer than the window: the sample reaches back to the oldest kept", "[scheduler][estimator]") {
  PathEstimator e;
  settle_rtt(e, kMinRtt + 6'000);
  Peer peer{e};
  peer.start();
  // Reports 5 ms apart: the kReportsKept kept span 15 intervals (75 ms), less than the
  // window, so a sample starts at the oldest kept and spans 16 intervals.
  static_assert(PathEstimator::kReportsKept == 16);
  for (std::size_t i = 0; i < 2 * PathEstimator::kReportsKept; ++i) {
    peer.sample(50e6, PathEstimator::kMinSampleUs);
  }
  REQUIRE(e.rate_bps() == Approx(50e6).epsilon(1e-3));
  // One interval at 130 among them: (15 x 50 + 130) / 16 = 55 (the last interval alone would
  // say 130, the last four 70).
  peer.sample(130e6, PathEstimator::kMinSampleUs);
  CHECK(e.rate_bps() == Approx(55e6).epsilon(1e-3));
}

TEST_CASE("startup grows from the last interval alone, so a window of old samples does not slow it", "[scheduler][estimator]") {
  PathEstimator e;
  e.on_rtt(kT0, kMinRtt);  // no queue seen yet: startup
  Peer peer{e};
  peer.start();
  double before = e.rate_bps();
  for (int i = 0; i < 4; ++i) {
    peer.sample(before, 20'000);  // everything planned got through
    CHECK(e.rate_bps() == Approx(before * PathEstimator::kStartupGrowth).epsilon(1e-4));
    before = e.rate_bps();
  }
}

TEST_CASE("the first sample after startup drains the estimate to what was delivered, no lower than what was delivered in full", "[scheduler][estimator]") {
  // A 95 Mbit/s path: startup doubles 10 -> 20 -> 40 -> 80 -> 160, each delivered in full
  // until the estimate passes the path's capacity.
  auto started = [](PathEstimator& e, Peer& peer) {
    settle_rtt(e, kMinRtt);  // no queue yet: startup
    peer.start();
    while (e.rate_bps() < 150e6) peer.sample(e.rate_bps(), 20'000);
    REQUIRE(e.rate_bps() == Approx(160e6).epsilon(1e-4));
  };
  SECTION("a queue: the estimate was twice the capacity; it drains to the last interval") {
    PathEstimator e;
    Peer peer{e};
    started(e, peer);
    e.on_rtt(kT0 + 200'000, kMinRtt + 10'000);  // 160 Mbit/s offered: the queue grows
    peer.sample(95e6, 20'000);
    CHECK(e.rate_bps() == Approx(95e6).epsilon(1e-4));
    // Only once: later samples follow the usual rules (a 60 Mbit/s interval without a queue
    // is app-limited).
    settle_rtt(e, kMinRtt, kT0 + 200'000);
    peer.sample(60e6, 20'000);
    CHECK(e.rate_bps() == Approx(95e6).epsilon(1e-4));
  }
  SECTION("a round trip's jitter and a low interval: no lower than the largest estimate delivered in full") {
    PathEstimator e;
    Peer peer{e};
    started(e, peer);
    e.on_rtt(kT0 + 200'000, kMinRtt + 10'000);  // one late probe
    peer.sample(30e6, 20'000);                   // and a probe read early
    CHECK(e.rate_bps() == Approx(80e6).epsilon(1e-4));
  }
  SECTION("offered little and delivered it (app-limited): no drain, whatever the queue") {
    PathEstimator e;
    settle_rtt(e, kMinRtt);
    std::uint64_t peer_time = 5'000'000, peer_bytes = 0, sent = 0, sent_time = 2'000'000;
    e.on_delivery(kT0, peer_bytes, peer_time, sent, sent_time);
    auto interval = [&](double bps) {  // offered and delivered bps over 20 ms
      const auto bytes = static_cast<std::uint64_t>(bps * 0.02 / 8);
      peer_time += 20'000;
      sent_time += 20'000;
      peer_bytes += bytes;
      sent += bytes;
      e.on_delivery(kT0, peer_bytes, peer_time, sent, sent_time);
    };
    interval(10e6);  // delivered the 10 Mbit/s estimate in full: 20
    REQUIRE(e.rate_bps() == Approx(20e6).epsilon(1e-3));
    e.on_rtt(kT0 + 200'000, kMinRtt + 10'000);  // one late probe
    interval(1e6);  // offered 1 Mbit/s, delivered it
    CHECK(e.rate_bps() == Approx(20e6).epsilon(1e-3));
  }
  SECTION("the last interval delivered the whole estimate: nothing to drain") {
    PathEstimator e;
    Peer peer{e};
    started(e, peer);
    e.on_rtt(kT0 + 200'000, kMinRtt + 10'000);
    settle_rtt(e, kMinRtt, kT0 + 200'000);  // the queue has gone again
    peer.sample(160e6, 20'000);
    CHECK(e.rate_bps() >= 160e6);  // grows (kGrowth, judged on the window) or stays
  }
}
