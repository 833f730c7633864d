// PathEstimator: what one path can carry and how long it takes -- estimated from what the
// probes already see, for the adaptive scheduler (scheduler/earliest_arrival.h).
//
// Inputs (facts, hooks named after the events):
//  - on_rtt(now, rtt): one probe round trip (the probe shares the data's 5-tuple and queues,
//    so it measures the path *as loaded*);
//  - on_delivery(now, peer_rx_bytes, peer_time[, sent_bytes, sent_time]): the peer's count of
//    data bytes received on this path and the peer's clock when it read it (carried in every
//    probe answer), and optionally our count of data bytes sent on it and our clock when the
//    answered probe left. Two of them give one delivery-rate sample r (and send-rate sample
//    s); no clock synchronisation is needed (deltas only);
//  - on_loss_sample(sent, received): data packets sent between two answered probes and how
//    many of them the peer got.
//
// Outputs:
//  - min_rtt: the lowest round trip in the last ~10 s (two 5 s epochs, as BBR and LEDBAT keep
//    a base delay): the path's propagation delay, so one_way_delay = min_rtt / 2;
//  - queue_delay: smoothed rtt - min_rtt, the standing queue the path holds now;
//  - rate_bps: the delivery rate the scheduler may plan with. A delivery sample r (and s) spans
//    the last kRateWindowUs of reports, taken at every report (a sliding window): one probe
//    interval (20 ms on a busy path) alone is too short. A token-bucket shaper sends its burst
//    (64 KB at 100 Mbit/s is 5 ms) after a pause, and a 2-vCPU host reads a probe a few ms
//    late or early; 20 ms samples of 100 Mbit/s paths ranged 26-140 Mbit/s, the growth rule
//    took the high ones, and estimates sat 10-60 % above capacity: the scheduler overfed those
//    paths until their queues said so, and the inner flows saw one path's queue after the
//    other (12 x 100 Mbit/s on 2 vCPUs: ~980 Mbit/s with 100-370 retransmits; with every
//    estimate pinned at the true rate ~1050 and none; with this window ~1000, bench/RESULTS.md).
//    Rules, per sample r:
//      * the path is *saturated* when its queue delay exceeds max(kQueueFloor, min_rtt / 8):
//        it delivers at exactly its capacity, so the estimate follows r (halfway per sample,
//        at once when the queue is twice the threshold): this is how a capacity drop is
//        learnt within a few samples. Unless the last round trip found no such queue: the
//        queue has just drained (the sender went quiet; the smoothed signal lags), the
//        sample measured nothing, and the estimate stays. Unless, too, the path was offered
//        less than its estimate and delivered what it was offered (s < kOfferedShare x the
//        estimate, r >= kOfferedShare x s, where s is what we sent between the same two
//        probes): such a path has not shown it cannot carry more, so the delay is not its
//        bottleneck's (a busy host's scheduling, the peer's CPU) and a lower r only says the
//        tunnel had less to send. Without this, delay noise on a path the scheduler fills
//        little pulls its estimate down, so it is filled less still (12 paths of 100 Mbit/s
//        on 2 vCPUs: paths held at 10-40 Mbit/s for seconds);
//      * the path is *not* saturated and delivered at least kGrowthShare (97 %) of the
//        estimate: everything planned for it got through without a queue, so there is more:
//        the estimate grows by kGrowth per sample, from the estimate (a sample above it may
//        be a burst: not taken). The share is close to 1 because the window's own noise
//        (±10 % on a 2-vCPU host) is enough, at 90 %, for a path that delivers its capacity
//        to grow on noise alone: estimates sat 15-40 % above capacity (12 x 100 Mbit/s),
//        the scheduler thought the other paths could carry the whole tunnel, and a path
//        left low after startup was never offered enough to grow (the "app-limited
//        trap"). Startup, until the path has shown a queue for the first time (as BBR's:
//        the initial rate is a guess, and while the scheduler plans with a rate far below
//        the path's, it sends what the path could carry at once onto slower paths): the
//        estimate grows by kStartupGrowth when the last interval alone delivered
//        kStartupShare of it (a window of samples taken at a quarter of the rate would hold
//        each doubling back by a window), from the larger of estimate and sample. The first
//        sample after startup *drains* the estimate (BBR's drain): the doubling that made
//        the queue put it up to twice what the path carries, and nothing else would bring
//        it down unless the smoothed queue crosses the threshold. It becomes what the last
//        interval delivered, at least the largest estimate the path delivered in full
//        during startup (a queue that was one round trip's jitter does not cost more), at
//        most the estimate -- if the path was overfed (it delivered less than kOfferedShare
//        of what it was offered): a path that carried the little it was given says nothing
//        about its capacity, and draining it to that would trap it low;
//      * otherwise (app-limited: the tunnel had less to send) the estimate stays: a quiet
//        period must not lower it (draft-cheng-iccrg-delivery-rate-estimation's app-limited
//        rule).
//    The estimate never drops below kMinRate.
//  - loss: data loss ratio from the probe counters, averaged over about kLossHorizon packets
//    (each sample weighs by the packets it covers, so a quiet path's few packets do not swing
//    it); while the path carries nothing it decays (halves every kLossDecayUs), so a path
//    left idle for its loss is tried again now and then. Samples taken while the path held
//    a queue -- saturated, or any of the last two round trips above min RTT + the queue
//    threshold -- and for kLossQueueHoldUs after such a sample, and during the first
//    kLossWarmupUs of round trips (before the minimum RTT, hence the queue, is known) are left
//    out: those losses are its bottleneck's tail drops (congestion, which the inner flows
//    answer themselves; a tail drop needs a full queue, and a probe near it sees one, though a
//    buffer of a few ms fills and drains between two probes: hence the hold), not a lossy
//    link (slow start's overshoot into a shallow buffer demoted a good path for seconds).
//    A lossy link shows its loss when the flows it slows down leave it without a queue.
//  - pace_target: how much queue the sender should keep at this path's bottleneck, or 0 when
//    the path has shown no bottleneck queue for kBottleneckHoldUs (the network, not this path,
//    limits the tunnel; nothing to pace). kPaceTargetFactor times the saturation threshold:
//    enough standing queue that the path stays saturated -- so rate_bps keeps following what
//    it delivers -- and that an estimate a few per cent off does not run it dry between two
//    samples (twice the threshold cost 100M 5 ms + 100M 25 ms 8 % with 8 flows), no more
//    (see TunReader's hold queue: the excess waits in the sender, where the scheduler can
//    still place it, instead of in the bottleneck's buffer, where it would tail-drop and add
//    delay to every packet behind it).
//
// Pure: time is a parameter (microseconds, any monotonic origin); no I/O. Owned by the control
// thread.
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>

namespace mpt::scheduler {

class PathEstimator {
 public:
  static constexpr double kInitialRate = 10e6;   // bit/s: a modest start, grown from samples
  static constexpr double kMinRate = 1e6;
  static constexpr double kMaxRate = 400e9;
  static constexpr double kGrowth = 1.15;
  static constexpr double kStartupGrowth = 2.0;
  static constexpr double kGrowthShare = 0.97;   // see rate_bps above
  static constexpr double kStartupShare = 0.9;
  static constexpr std::uint64_t kQueueFloorUs = 4000;   // jitter below this is not a queue
  static constexpr std::uint64_t kMinRttEpochUs = 5000000;
  static constexpr std::uint64_t kMinSampleUs = 5000;    // shorter delivery intervals are merged
  // A delivery sample spans at least this much of the peer's clock (see rate_bps above).
  static constexpr std::uint64_t kRateWindowUs = 80000;
  static constexpr std::size_t kReportsKept = 16;
  static_assert(kReportsKept >= kRateWindowUs / kMinSampleUs, "the ring must span the window");
  static constexpr double kLossHorizon = 2000;           // packets
  static constexpr std::uint64_t kLossDecayUs = 5000000;
  static constexpr double kLossDemote = 0.005;           // the scheduler leaves such a path idle
  static constexpr double kLossDemoteRepaired = 0.05;    // ... when lost packets are repaired
  static constexpr std::uint64_t kLossQueueHoldUs = 1000000;  // see loss above
  static constexpr std::uint64_t kLossWarmupUs = 1000000;
  static constexpr std::uint64_t kBottleneckHoldUs = 2000000;
  static constexpr std::uint64_t kPaceTargetFactor = 3;  // x the saturation threshold
  static constexpr double kOfferedShare = 0.9;  // see saturated, offered less than its estimate

  void on_rtt(std::uint64_t now_us, std::uint64_t rtt_us);
  // sent_time_us = 0: what was sent is not known (the sample is judged on r alone).
  void on_delivery(std::uint64_t now_us, std::uint64_t peer_rx_bytes, std::uint64_t peer_time_us,
                   std::uint64_t sent_bytes = 0, std::uint64_t sent_time_us = 0);
  void on_loss_sample(std::uint64_t now_us, std::uint64_t sent, std::uint64_t received);
  // The path came back from an outage: delays and capacity may differ now. The rate restarts
  // from kInitialRate (never above the last estimate) and the round trips are learnt anew.
  void reset();

  [[nodiscard]] bool has_rtt() const { return srtt_us_ > 0; }
  [[nodiscard]] std::uint64_t srtt_us() const { return srtt_us_; }
  [[nodiscard]] std::uint64_t rttvar_us() const { return rttvar_us_; }
  [[nodiscard]] std::uint64_t min_rtt_us() const;
  [[nodiscard]] std::uint64_t queue_delay_us() const;
  [[nodiscard]] std::uint64_t one_way_delay_us() const { return min_rtt_us() / 2; }
  [[nodiscard]] double rate_bps() const { return rate_bps_; }
  // The last report interval alone (the rules use the window: see rate_bps above).
  [[nodiscard]] double last_delivery_bps() const { return last_sample_bps_; }
  // What we sent in the last report interval (0: not known).
  [[nodiscard]] double last_offered_bps() const { return last_offered_bps_; }
  [[nodiscard]] double loss() const { return loss_; }
  [[nodiscard]] bool saturated() const;
  // A queue was seen recently: saturated, or one of the last two round trips was queued.
  [[nodiscard]] bool queue_seen() const;
  [[nodiscard]] std::uint64_t samples() const { return samples_; }
  [[nodiscard]] std::uint64_t pace_target_us(std::uint64_t now_us) const;
  // Queue delay above which the path counts as queued (saturated): max(kQueueFloorUs, min
  // RTT / 8).
  [[nodiscard]] std::uint64_t queue_threshold_us() const {
    return std::max(kQueueFloorUs, min_rtt_us() / 8);
  }

 private:
  double rate_bps_ = kInitialRate;
  double last_sample_bps_ = 0;
  double last_offered_bps_ = 0;
  std::uint64_t samples_ = 0;
  // Round trips.
  std::uint64_t srtt_us_ = 0, rttvar_us_ = 0;
  std::uint64_t qrtt_us_ = 0;  // faster-moving average (gain 1/4) for the queue signal
  std::uint64_t last_rtt_us_ = 0;
  std::uint64_t prev_rtt_us_ = 0;   // the round trip before last_rtt_us_
  std::uint64_t min_cur_us_ = 0, min_prev_us_ = 0, epoch_start_us_ = 0;
  // Delivery: the recent reports (the peer's count and clock, ours), oldest first, a ring.
  struct Report {
    std::uint64_t peer_bytes = 0, peer_time_us = 0;
    std::uint64_t sent_bytes = 0, sent_time_us = 0;  // 0 time: not known
  };
  void push_report(const Report& r);
  static double delivered_bps(const Report& from, const Report& to);  // to is later
  static double offered_bps(const Report& from, const Report& to);    // < 0: not known
  [[nodiscard]] const Report& newest_report() const {
    return reports_[(reports_head_ + reports_len_ - 1) % kReportsKept];
  }
  std::array<Report, kReportsKept> reports_{};
  std::size_t reports_head_ = 0, reports_len_ = 0;
  double loss_ = 0;
  std::uint64_t loss_idle_since_us_ = 0;
  std::uint64_t queue_hold_until_us_ = 0;  // loss samples wait until then (a queue was seen)
  std::uint64_t queued_at_us_ = 0;  // the last round trip that found a queue
  bool startup_done_ = false;  // the estimate has drained after startup
  double proven_bps_ = 0;  // the largest estimate delivered in full during startup
  bool have_rtt_time_ = false;
  std::uint64_t first_rtt_time_us_ = 0;
};

}  // namespace mpt::scheduler
