#include "signaling/path_health.h"

#include <algorithm>

namespace mpt::signaling {

const char* to_string(HealthState s) {
  switch (s) {
    case HealthState::kUp: return "up";
    case HealthState::kDown: return "down";
    case HealthState::kRecovering: return "recovering";
    case HealthState::kDemoted: return "demoted";
    case HealthState::kLinkDown: return "link-down";
    case HealthState::kAdminDown: return "admin-down";
  }
  return "?";
}

void PathHealth::set_state(HealthState s, std::uint64_t now_us) {
  if (s == state_) return;
  state_ = s;
  changed_us_ = now_us;
  if (s == HealthState::kUp) unverified_ = joining_ = false;
  if (s == HealthState::kRecovering) recovering_since_us_ = now_us;
}

void PathHealth::on_probe_ack(std::uint64_t now_us, std::uint64_t rtt_us) {
  if (now_us > last_heard_us_) last_heard_us_ = now_us;
  // RFC 6298 smoothing (alpha 1/8).
  srtt_us_ = srtt_us_ == 0 ? rtt_us : (7 * srtt_us_ + rtt_us) / 8;
  if (state_ == HealthState::kDown) set_state(HealthState::kRecovering, now_us);
}

void PathHealth::on_data_received(std::uint64_t now_us) {
  if (now_us > last_heard_us_) last_heard_us_ = now_us;
  if (state_ == HealthState::kDown) set_state(HealthState::kRecovering, now_us);
}

void PathHealth::on_link(bool up, std::uint64_t now_us) {
  link_up_ = up;  // remembered while admin down, applied at admin up
  if (state_ == HealthState::kAdminDown) return;
  if (!up) {
    set_state(HealthState::kLinkDown, now_us);
  } else if (state_ == HealthState::kLinkDown) {
    // Acted on at once: the link is back, so the path is too; silence is judged from now.
    // Not a path that never carried data (it had no link when it was added: a new veth
    // or Wi-Fi link gets its carrier a moment later): it joins once it has answered.
    last_heard_us_ = now_us;
    set_state(unverified_ ? HealthState::kDown : HealthState::kUp, now_us);
  }
}

void PathHealth::set_admin(bool up, std::uint64_t now_us) {
  if (!up) {
    set_state(HealthState::kAdminDown, now_us);
  } else if (state_ == HealthState::kAdminDown) {
    last_heard_us_ = now_us;
    set_state(link_up_ ? HealthState::kUp : HealthState::kLinkDown, now_us);
  }
}

void PathHealth::on_loss_sample(std::uint64_t sent, std::uint64_t received, std::uint64_t now_us,
                                bool queued) {
  if (sent < 20) return;  // too few packets to say anything
  loss_ = received >= sent ? 0.0 : 1.0 - static_cast<double>(received) / static_cast<double>(sent);
  if (queued) return;  // congestion: neither bad nor good (see the header)
  if (loss_ >= params_.demote_loss) {
    good_since_us_ = 0;
    if (++bad_samples_ >= params_.demote_samples && state_ == HealthState::kUp) {
      set_state(HealthState::kDemoted, now_us);
    }
  } else {
    bad_samples_ = 0;
    if (good_since_us_ == 0) good_since_us_ = now_us;
  }
}

bool PathHealth::tick(std::uint64_t now_us) {
  const bool was = usable();
  switch (state_) {
    case HealthState::kUp:
      if (silent(now_us)) set_state(HealthState::kDown, now_us);
      break;
    case HealthState::kRecovering:
      // Rejoin only after answering without a real miss for the whole hold-down: a gap of
      // more than 2.5 intervals (two answers missing in a row; one lost probe plus jitter is
      // tolerated) restarts the hold-down; full silence sends the path back to down.
      if (silent(now_us)) {
        set_state(HealthState::kDown, now_us);
      } else if (now_us > last_heard_us_ &&
                 2 * (now_us - last_heard_us_) > 5 * params_.probe_interval_us) {
        recovering_since_us_ = now_us;
      } else if (now_us >= recovering_since_us_ &&
                 now_us - recovering_since_us_ >=
                     (joining_ ? std::min(params_.hold_down_us, kJoinHoldUs) : params_.hold_down_us)) {
        set_state(HealthState::kUp, now_us);
      }
      break;
    case HealthState::kDemoted:
      if (silent(now_us)) {
        set_state(HealthState::kDown, now_us);
      } else if (good_since_us_ && now_us >= good_since_us_ &&
                 now_us - good_since_us_ >= params_.hold_down_us) {
        bad_samples_ = 0;
        set_state(HealthState::kUp, now_us);
      }
      break;
    case HealthState::kDown:
    case HealthState::kLinkDown:
    case HealthState::kAdminDown:
      break;
  }
  return was != usable();
}

}  // namespace mpt::signaling
