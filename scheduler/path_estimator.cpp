#include "scheduler/path_estimator.h"

#include <algorithm>

namespace mpt::scheduler {

void PathEstimator::on_rtt(std::uint64_t now_us, std::uint64_t rtt_us) {
  if (rtt_us == 0) rtt_us = 1;
  if (!have_rtt_time_) {
    have_rtt_time_ = true;
    first_rtt_time_us_ = now_us;
  }
  prev_rtt_us_ = last_rtt_us_;
  last_rtt_us_ = rtt_us;
  if (srtt_us_ == 0) {  // RFC 6298 initialisation
    srtt_us_ = rtt_us;
    rttvar_us_ = rtt_us / 2;
    qrtt_us_ = rtt_us;
  } else {
    const std::uint64_t dev = rtt_us > srtt_us_ ? rtt_us - srtt_us_ : srtt_us_ - rtt_us;
    rttvar_us_ = (3 * rttvar_us_ + dev) / 4;
    srtt_us_ = (7 * srtt_us_ + rtt_us) / 8;
    qrtt_us_ = (3 * qrtt_us_ + rtt_us) / 4;
  }
  // Windowed minimum over two epochs: a route change or drift ages out within 2 epochs.
  if (epoch_start_us_ == 0 || now_us - epoch_start_us_ >= kMinRttEpochUs) {
    min_prev_us_ = min_cur_us_;
    min_cur_us_ = 0;
    epoch_start_us_ = now_us;
  }
  if (min_cur_us_ == 0 || rtt_us < min_cur_us_) min_cur_us_ = rtt_us;
  if (rtt_us > min_rtt_us() + queue_threshold_us()) queued_at_us_ = now_us;
}

std::uint64_t PathEstimator::pace_target_us(std::uint64_t now_us) const {
  if (queued_at_us_ == 0 || now_us > queued_at_us_ + kBottleneckHoldUs) return 0;
  return kPaceTargetFactor * queue_threshold_us();
}

std::uint64_t PathEstimator::min_rtt_us() const {
  if (min_prev_us_ == 0) return min_cur_us_;
  if (min_cur_us_ == 0) return min_prev_us_;
  return std::min(min_cur_us_, min_prev_us_);
}

std::uint64_t PathEstimator::queue_delay_us() const {
  const std::uint64_t m = min_rtt_us();
  return qrtt_us_ > m ? qrtt_us_ - m : 0;
}

bool PathEstimator::saturated() const {
  return has_rtt() && queue_delay_us() > queue_threshold_us();
}

bool PathEstimator::queue_seen() const {
  if (saturated()) return true;
  const std::uint64_t limit = min_rtt_us() + queue_threshold_us();
  return has_rtt() && std::max(last_rtt_us_, prev_rtt_us_) > limit;
}

void PathEstimator::on_delivery(std::uint64_t /*now_us*/, std::uint64_t peer_rx_bytes,
                                std::uint64_t peer_time_us, std::uint64_t sent_bytes,
                                std::uint64_t sent_time_us) {
  if (reports_len_ == 0 || peer_time_us < newest_report().peer_time_us ||
      peer_rx_bytes < newest_report().peer_bytes) {
    // First report, or the peer restarted (its clock and counters start again).
    reports_len_ = 0;
    push_report({peer_rx_bytes, peer_time_us, sent_bytes, sent_time_us});
    return;
  }
  if (peer_time_us - newest_report().peer_time_us < kMinSampleUs) {
    return;  // too short to say anything: merged with the next one
  }
  // The sample spans back to the newest report at least kRateWindowUs older (or the oldest
  // kept): see rate_bps in the header.
  const Report last = newest_report();
  Report base = last;
  for (std::size_t k = 0; k < reports_len_; ++k) {
    base = reports_[(reports_head_ + reports_len_ - 1 - k) % kReportsKept];
    if (peer_time_us - base.peer_time_us >= kRateWindowUs) break;
  }
  const Report now{peer_rx_bytes, peer_time_us, sent_bytes, sent_time_us};
  push_report(now);
  // Delivered (r) and offered (s, if both departures are known) since the window's start,
  // and delivered since the last report alone (r_last: startup, and what status shows).
  const double r = delivered_bps(base, now);
  const double r_last = delivered_bps(last, now);
  const double s = offered_bps(base, now);  // < 0: not known
  const bool have_s = s >= 0;
  last_sample_bps_ = r_last;
  last_offered_bps_ = std::max(offered_bps(last, now), 0.0);
  // Offered less than its estimate, and delivered what it was offered: see saturated in the
  // header.
  const bool offered_less = have_s && s < kOfferedShare * rate_bps_ &&
                            r >= kOfferedShare * s;
  ++samples_;
  const std::uint64_t threshold = queue_threshold_us();
  // The smoothed queue signal lags: when the last round trip found no queue, the queue has
  // just drained (the sender went quiet) and this sample says nothing either way.
  const bool drained = last_rtt_us_ <= min_rtt_us() + threshold;
  // The first sample after startup (see "startup" in the header): the estimate drains to
  // what the last interval delivered, no lower than the largest estimate delivered in full --
  // if the path was overfed (delivered less than it was offered; not known: judged on r
  // alone). A path that carried what little it was offered says nothing about its capacity.
  const double s_last = offered_bps(last, now);  // < 0: not known
  const bool overfed = s_last < 0 || r_last < kOfferedShare * s_last;
  const bool drain = queued_at_us_ != 0 && !startup_done_ && overfed &&
                     std::max(proven_bps_, r_last) < rate_bps_;
  if (queued_at_us_ != 0) startup_done_ = true;
  if (drain) {
    rate_bps_ = std::max(proven_bps_, r_last);
  } else if (saturated()) {
    if (drained) {
      // the estimate stays
    } else if (r >= rate_bps_) {
      rate_bps_ = r;
    } else if (offered_less) {
      // the estimate stays: the path was not asked for more than it delivered
    } else if (queue_delay_us() > 2 * threshold) {
      rate_bps_ = r;  // a deep queue: the estimate was far too high
    } else {
      rate_bps_ = (rate_bps_ + r) / 2;
    }
  } else if (queued_at_us_ == 0 ? r_last >= kStartupShare * rate_bps_
                                 : r >= kGrowthShare * rate_bps_) {
    // Everything planned for the path got through without a queue.
    if (queued_at_us_ == 0) proven_bps_ = std::max(proven_bps_, rate_bps_);
    rate_bps_ = queued_at_us_ == 0 ? std::max(rate_bps_, r_last) * kStartupGrowth
                                   : rate_bps_ * kGrowth;
  }
  rate_bps_ = std::clamp(rate_bps_, kMinRate, kMaxRate);
}

double PathEstimator::delivered_bps(const Report& from, const Report& to) {
  return static_cast<double>(to.peer_bytes - from.peer_bytes) * 8e6 /
         static_cast<double>(to.peer_time_us - from.peer_time_us);
}

double PathEstimator::offered_bps(const Report& from, const Report& to) {
  if (from.sent_time_us == 0 || to.sent_time_us <= from.sent_time_us ||
      to.sent_bytes < from.sent_bytes) {
    return -1;
  }
  return static_cast<double>(to.sent_bytes - from.sent_bytes) * 8e6 /
         static_cast<double>(to.sent_time_us - from.sent_time_us);
}

void PathEstimator::push_report(const Report& r) {
  if (reports_len_ < kReportsKept) {
    reports_[(reports_head_ + reports_len_++) % kReportsKept] = r;
  } else {
    reports_[reports_head_] = r;  // the oldest goes
    reports_head_ = (reports_head_ + 1) % kReportsKept;
  }
}

void PathEstimator::on_loss_sample(std::uint64_t now_us, std::uint64_t sent,
                                   std::uint64_t received) {
  if (sent == 0) {
    if (loss_idle_since_us_ == 0) loss_idle_since_us_ = now_us;
    if (now_us - loss_idle_since_us_ >= kLossDecayUs) {
      loss_ /= 2;
      loss_idle_since_us_ = now_us;
    }
    return;
  }
  loss_idle_since_us_ = 0;
  // Losses while the path holds a standing queue are its bottleneck's tail drops: congestion,
  // which the inner flows' own control answers. They say nothing about the path's quality
  // (random loss on a radio link does): such samples are left out.
  if (queue_seen()) {
    queue_hold_until_us_ = now_us + kLossQueueHoldUs;
    return;
  }
  if (now_us < queue_hold_until_us_) return;
  if (!have_rtt_time_ || now_us < first_rtt_time_us_ + kLossWarmupUs) return;
  const double s = received >= sent ? 0.0
                                    : static_cast<double>(sent - received) /
                                          static_cast<double>(sent);
  const double alpha = std::min(1.0, static_cast<double>(sent) / kLossHorizon);
  loss_ = (1 - alpha) * loss_ + alpha * s;
}

void PathEstimator::reset() {
  const double rate = std::min(rate_bps_, kInitialRate);
  *this = PathEstimator{};
  rate_bps_ = rate;
}

}  // namespace mpt::scheduler
