// ControlLoop::status(): the control plane's part of `mpt status --json` (health per path,
// signalling per connection, refused control messages by reason), as data.
#include <cstdint>

#include "engine/clock.h"
#include "signaling/control_loop.h"

namespace mpt::signaling {

nlohmann::ordered_json ControlLoop::status() const {
  using Json = nlohmann::ordered_json;
  const std::uint64_t now = engine::monotonic_us();
  Json health = Json::array();
  for (std::size_t i = 0; i < paths_.size(); ++i) {
    const Path& p = paths_[i];
    if (!p.active) continue;
    health.push_back({
        {"path", engine_.spec().paths[i].name},
        {"state", to_string(p.health.state())},
        {"weight", p.weight},
        {"rtt_us", p.health.rtt_us()},
        {"loss", p.health.loss()},
        {"tx_mbps", p.tx_mbps},
        {"rx_mbps", p.rx_mbps},
        {"ms_since_ack", p.last_ack_us ? (now - p.last_ack_us) / 1000 : 0},
        {"probes_sent", p.probes_sent},
        {"acks_received", p.acks_received},
        {"endpoint_moves", p.endpoint_moves},
        {"last_change_ms_ago", (now - p.health.last_change_us()) / 1000},
        {"estimate",
         {{"rate_mbps", p.estimator.rate_bps() / 1e6},
          {"delivery_mbps", p.estimator.last_delivery_bps() / 1e6},
          {"min_rtt_us", p.estimator.min_rtt_us()},
          {"srtt_us", p.estimator.srtt_us()},
          {"rttvar_us", p.estimator.rttvar_us()},
          {"queue_delay_us", p.estimator.queue_delay_us()},
          {"pace_target_us", p.estimator.pace_target_us(now)},
          {"loss", p.estimator.loss()},
          {"saturated", p.estimator.saturated()},
          {"samples", p.estimator.samples()}}},
    });
  }
  Json control = Json::array();
  for (std::size_t c = 0; c < connections_.size(); ++c) {
    const Connection& conn = connections_[c];
    if (!conn.active) continue;
    Json entry = {
        {"connection", conn.cfg.name},
        {"signalling", conn.cfg.enabled},
        {"authenticated", conn.secure != nullptr || conn.auth->authenticated()},
        {"established", conn.established},
        {"peer_restarts", conn.secure ? conn.secure->peer_restarts() : conn.intake.peer_restarts()},
    };
    if (conn.secure) {
      entry["session"] = {
          {"keys", conn.secure->established()},
          {"cipher_send", engine::to_string(conn.secure->send_cipher())},
          {"cipher_receive", engine::to_string(conn.secure->receive_cipher())},
          {"handshakes", conn.secure->handshakes()},
      };
    }
    control.push_back(std::move(entry));
  }
  Json errors = Json::object();
  for (std::size_t e = 1; e < rx_errors_.size(); ++e) {
    errors[to_string(static_cast<ParseError>(e))] = rx_errors_[e];
  }
  Json j;
  j["health"] = std::move(health);
  j["control"] = std::move(control);
  j["control_rx_errors"] = std::move(errors);
  j["control_refused"] = {{"weight_out_of_range", weight_refused_},
                          {"peer_up_after_local_down", peer_up_refused_}};
  j["peer_paths_lost"] = peer_path_lost_;
  // Server mode: control messages that reached a listener from no known client address.
  j["listener_claimed"] = listener_claimed_;
  j["listener_unclaimed"] = listener_unclaimed_;  // PATH_STATUS "down" from the peer, acted on
  return j;
}

}  // namespace mpt::signaling
