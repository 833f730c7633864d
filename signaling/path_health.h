// PathHealth: the liveness policy of one path -- pure state machine, time is a parameter
// (microseconds, any monotonic origin), no I/O, so it runs unchanged under the path simulator.
//
// The data path and the probe exchange report facts (on_probe_ack, on_data_received,
// on_link, on_loss_sample); tick() applies the policy:
//   - a path is declared dead when nothing was heard from it -- neither a probe answer nor
//     data -- for dead_misses probe intervals: a path carrying data is not declared dead
//     because some probes were lost;
//   - a dead path keeps being probed and rejoins after it has answered without a miss for
//     hold_down (no flapping in and out);
//   - local link down/up (netlink) is acted on at once, both ways;
//   - a path whose probes get through while its data is lost (the per-path counters the peer
//     reports) is demoted after demote_samples bad samples in a row, and restored after
//     hold_down of good samples. A sample taken while the path holds a queue (`queued`: the
//     estimator saw one) counts neither way: those losses are its bottleneck's tail drops
//     when its capacity fell under the traffic (measured: 100 -> 20 Mbit/s dropped 80 % for
//     three probe intervals and left the path idle for a second); the scheduler's rate
//     estimate answers that, not demotion;
//   - administratively down means down until told otherwise.
//
// Threads: owned by the control thread.
#pragma once

#include <cstdint>

namespace mpt::signaling {

struct HealthParams {
  std::uint64_t probe_interval_us = 1000000;
  std::uint32_t dead_misses = 3;
  std::uint64_t hold_down_us = 1000000;
  double demote_loss = 0.5;           // data loss ratio that counts as a bad sample
  std::uint32_t demote_samples = 3;
};

enum class HealthState : std::uint8_t {
  kUp,          // carries data
  kDown,        // silent for dead_misses intervals; probed
  kRecovering,  // answering again; waits out hold_down
  kDemoted,     // probes pass, data does not
  kLinkDown,    // the local interface is down
  kAdminDown,   // taken down by the operator
};

[[nodiscard]] const char* to_string(HealthState s);

class PathHealth {
 public:
  explicit PathHealth(const HealthParams& p, std::uint64_t now_us = 0)
      : params_(p), last_heard_us_(now_us) {}

  void on_probe_ack(std::uint64_t now_us, std::uint64_t rtt_us);
  void on_data_received(std::uint64_t now_us);
  void on_link(bool up, std::uint64_t now_us);
  void set_admin(bool up, std::uint64_t now_us);
  // One loss sample: data packets we sent on the path in the last interval and how many of
  // them the peer reports having received.
  void on_loss_sample(std::uint64_t sent, std::uint64_t received, std::uint64_t now_us,
                      bool queued = false);

  // A path added while mptd runs (`mpt reload`) starts down, unverified: it joins like a path
  // back from an outage, once it has answered for hold_down -- never before the peer knows it.
  // Also when its link is down now: its link coming up does not make it usable by itself.
  void start_unverified(std::uint64_t now_us) {
    unverified_ = true;
    joining_ = true;
    if (state_ == HealthState::kUp) set_state(HealthState::kDown, now_us);
  }
  // The peer answers from a new address (its interface came back, or moved) while the path
  // is not up: a new attachment, not a flapping link. Like a path added while running, it
  // joins after kJoinHoldUs of answers (at most hold_down), probed every kJoinProbeUs.
  void new_attachment() {
    if (state_ != HealthState::kUp) joining_ = true;
  }
  static constexpr std::uint64_t kJoinHoldUs = 300000;
  static constexpr std::uint64_t kJoinProbeUs = 100000;
  // Not up yet, and a new attachment: probe it often (ControlLoop::probe_interval_us).
  [[nodiscard]] bool joining() const { return joining_ && state_ != HealthState::kUp; }
  // The peer told us the path lost its link at its end: down now (not after dead_misses
  // intervals); it recovers like any dead path. Admin and link states are kept.
  void force_down(std::uint64_t now_us) {
    if (state_ == HealthState::kUp || state_ == HealthState::kRecovering ||
        state_ == HealthState::kDemoted) {
      set_state(HealthState::kDown, now_us);
    }
  }
  // Nothing can be heard on the path yet (no session keys): an up path is not judged
  // silent until this stops being called.
  void hold_silence(std::uint64_t now_us) {
    if (state_ == HealthState::kUp && now_us > last_heard_us_) last_heard_us_ = now_us;
  }
  // New intervals from a reload; the state is kept.
  void set_params(const HealthParams& p) { params_ = p; }

  // Applies the timers. Returns true if usable() changed.
  bool tick(std::uint64_t now_us);

  [[nodiscard]] bool usable() const { return state_ == HealthState::kUp; }
  [[nodiscard]] HealthState state() const { return state_; }
  [[nodiscard]] std::uint64_t rtt_us() const { return srtt_us_; }
  [[nodiscard]] double loss() const { return loss_; }
  [[nodiscard]] std::uint64_t last_heard_us() const { return last_heard_us_; }
  [[nodiscard]] std::uint64_t last_change_us() const { return changed_us_; }

 private:
  void set_state(HealthState s, std::uint64_t now_us);
  [[nodiscard]] bool silent(std::uint64_t now_us) const {
    return now_us > last_heard_us_ &&
           now_us - last_heard_us_ > params_.probe_interval_us * params_.dead_misses;
  }

  HealthParams params_;
  HealthState state_ = HealthState::kUp;
  std::uint64_t last_heard_us_ = 0;
  std::uint64_t recovering_since_us_ = 0;
  std::uint64_t changed_us_ = 0;
  std::uint64_t srtt_us_ = 0;
  double loss_ = 0;
  std::uint32_t bad_samples_ = 0;
  std::uint64_t good_since_us_ = 0;
  bool link_up_ = true;  // last on_link(); kept while admin down
  bool unverified_ = false;  // added while running and not up since (start_unverified)
  bool joining_ = false;     // a new attachment, not up since: the short hold-down
};

}  // namespace mpt::signaling
