// ControlLoop::snapshot(): the control plane's part of `mpt status` (health per path,
// signalling per connection, refused control messages by reason), as data.
#include <cstdint>

#include "engine/clock.h"
#include "signaling/control_loop.h"

namespace mpt::signaling {

ControlSnapshot ControlLoop::snapshot() const {
  ControlSnapshot s;
  const std::uint64_t now = engine::monotonic_us();
  for (std::size_t i = 0; i < paths_.size(); ++i) {
    const Path& p = paths_[i];
    if (!p.active) continue;
    PathHealthSnapshot& h = s.health.emplace_back();
    h.path = engine_.spec().paths[i].name;
    h.connection = connections_.at(static_cast<std::size_t>(p.connection)).cfg.name;
    h.state = to_string(p.health.state());
    h.weight = p.weight;
    h.rtt_us = p.health.rtt_us();
    h.loss = p.health.loss();
    h.tx_mbps = p.tx_mbps;
    h.rx_mbps = p.rx_mbps;
    h.ms_since_ack = p.last_ack_us ? (now - p.last_ack_us) / 1000 : 0;
    h.probes_sent = p.probes_sent;
    h.acks_received = p.acks_received;
    h.endpoint_moves = p.endpoint_moves;
    h.last_change_ms_ago = (now - p.health.last_change_us()) / 1000;
    h.estimate = {
        .rate_mbps = p.estimator.rate_bps() / 1e6,
        .delivery_mbps = p.estimator.last_delivery_bps() / 1e6,
        .min_rtt_us = p.estimator.min_rtt_us(),
        .srtt_us = p.estimator.srtt_us(),
        .rttvar_us = p.estimator.rttvar_us(),
        .queue_delay_us = p.estimator.queue_delay_us(),
        .pace_target_us = p.estimator.pace_target_us(now),
        .loss = p.estimator.loss(),
        .saturated = p.estimator.saturated(),
        .samples = p.estimator.samples(),
    };
  }
  for (std::size_t c = 0; c < connections_.size(); ++c) {
    const Connection& conn = connections_[c];
    if (!conn.active) continue;
    SignallingSnapshot& x = s.control.emplace_back();
    x.connection = conn.cfg.name;
    x.enabled = conn.cfg.enabled;
    x.authenticated = conn.secure != nullptr || conn.auth->authenticated();
    x.established = conn.established;
    x.peer_restarts = conn.secure ? conn.secure->peer_restarts() : conn.intake.peer_restarts();
    x.keyed = conn.secure != nullptr;
    x.cipher = engine::to_string(conn.cfg.cipher);
    if (conn.secure) {
      x.keys = conn.secure->established();
      x.cipher_send = engine::to_string(conn.secure->send_cipher());
      x.cipher_receive = engine::to_string(conn.secure->receive_cipher());
      x.handshakes = conn.secure->handshakes();
    }
  }
  for (std::size_t e = 1; e < rx_errors_.size(); ++e) {
    s.rx_errors.emplace_back(to_string(static_cast<ParseError>(e)), rx_errors_[e]);
  }
  s.weight_out_of_range = weight_refused_;
  s.peer_up_after_local_down = peer_up_refused_;
  s.peer_paths_lost = peer_path_lost_;
  s.listener_claimed = listener_claimed_;
  s.listener_unclaimed = listener_unclaimed_;
  if (engine_.listener_count() > 0) {
    // Server mode: the clients at a glance (each is a connection above).
    s.server_mode = true;
    for (std::size_t c = 0; c < connections_.size(); ++c) {
      if (!connections_[c].active || c >= engine_.spec().connections.size()) continue;
      const auto& ids = engine_.spec().connections[c].paths;
      if (ids.empty() || engine_.listener_of(static_cast<std::size_t>(ids.front())) < 0) continue;
      ++s.clients;
      if (connections_[c].established) ++s.answered;
    }
  }
  return s;
}

}  // namespace mpt::signaling
