// TunReader, what the control thread tells it: path states (up, down, weight) through the
// PathStateMailbox and the command eventfd, and each path's latest estimate for the adaptive
// scheduler (rate, delay, penalty, measured queue, pace target). Applied once per loop turn.
#include "engine/tun_reader.h"

#include <sys/eventfd.h>

#include "engine/clock.h"
#include "engine/path_channel.h"

namespace mpt::engine {

void TunReader::post_command(const PathCommand& c) {
  // The latest state per path, never a queue that can overflow (PathStateMailbox).
  if (c.path < 0 || !path_states_.post(static_cast<std::size_t>(c.path), c.up, c.weight)) return;
  [[maybe_unused]] const int r = ::eventfd_write(command_fd_, 1);
}

void TunReader::apply_commands() {
  path_states_.take_changed([this](std::size_t path, bool up, std::uint32_t weight) {
    set_path_state(static_cast<int>(path), weight, up);
  });
  refresh_estimates();
}

// The adaptive scheduler's inputs: each path's latest estimate (published by the control
// thread at probe rate), taken when it changed. A few relaxed loads per path and turn.
void TunReader::refresh_estimates() {
  bool changed = false;
  for (std::size_t p = 0; p < paths_.size(); ++p) {
    const PathChannel* w = paths_[p];
    if (!w) continue;
    const std::uint64_t v = w->estimate_version();
    if (v == estimate_seen_[p]) continue;
    estimate_seen_[p] = v;
    const PathChannel::Estimate e = w->estimate();
    if (e.rate_bps <= 0) continue;
    const PathSpec& ps = tunnel_.paths[p];
    Connection& conn = connections_.at(static_cast<std::size_t>(ps.connection));
    if (conn.chooser.policy() != scheduler::Policy::kAuto) continue;
    const auto& ids = tunnel_.connections[static_cast<std::size_t>(ps.connection)].paths;
    for (std::size_t i = 0; i < ids.size(); ++i) {
      if (ids[i] == static_cast<int>(p)) {
        conn.chooser.set_estimate(static_cast<int>(i), e.rate_bps, e.one_way_delay_ns,
                                  e.penalty_ns);
        conn.chooser.set_pace_target(static_cast<int>(i), e.pace_target_ns);
        conn.chooser.sync_queue(static_cast<int>(i), monotonic_ns(), e.queue_ns);
      }
    }
    pace_targets_[p] = e.pace_target_ns;
    changed = true;
  }
  if (changed) {
    pacing_possible_ = false;
    for (const std::uint64_t t : pace_targets_) pacing_possible_ = pacing_possible_ || t != 0;
  }
}

void TunReader::set_path_state(int path, std::uint32_t weight, bool up) {
  const PathSpec& ps = tunnel_.paths.at(static_cast<std::size_t>(path));
  Connection& c = connections_.at(static_cast<std::size_t>(ps.connection));
  const auto& ids = tunnel_.connections[static_cast<std::size_t>(ps.connection)].paths;
  bool went_down = false, changed = false;
  for (std::size_t i = 0; i < ids.size(); ++i) {
    if (ids[i] != path) continue;
    if (c.states[i].up == up && c.states[i].weight == weight) continue;  // as it is already
    went_down = c.states[i].up && !up;
    c.states[i] = {weight, up};
    changed = true;
  }
  if (!changed) return;
  c.chooser.set_paths(c.states, monotonic_ns());
  if (went_down) reinject(path);
  c.run_left = 0;  // the next segment is a fresh decision among the paths as they are now
}

}  // namespace mpt::engine
