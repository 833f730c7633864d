// The control plane's state as data: what ControlLoop::snapshot() returns for `mpt status`,
// its JSON and the Prometheus metrics (rendered by signaling/status_render.h and
// signaling/metrics_render.h; docs/status.md is the schema).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace mpt::signaling {

// One path's health and the adaptive scheduler's estimate of it.
struct PathHealthSnapshot {
  std::string path;
  std::string connection;
  const char* state = "";
  std::uint32_t weight = 0;
  std::uint64_t rtt_us = 0;
  double loss = 0;  // probe loss, 0..1
  double tx_mbps = 0, rx_mbps = 0;  // over the last second
  std::uint64_t ms_since_ack = 0;
  std::uint64_t probes_sent = 0, acks_received = 0, endpoint_moves = 0;
  std::uint64_t last_change_ms_ago = 0;
  struct Estimate {
    double rate_mbps = 0, delivery_mbps = 0;
    std::uint64_t min_rtt_us = 0, srtt_us = 0, rttvar_us = 0, queue_delay_us = 0;
    std::uint64_t pace_target_us = 0;
    double loss = 0;
    bool saturated = false;
    std::uint64_t samples = 0;
  } estimate;
};

// One connection's signalling: the peer's answer, the session, its keys.
struct SignallingSnapshot {
  std::string connection;
  bool enabled = false;        // signalling runs (false: no auth_key and no probes)
  bool authenticated = false;
  bool established = false;    // the peer answered (HELLO / HELLO_ACK)
  std::uint64_t peer_restarts = 0;
  bool keyed = false;          // an X25519 session under a pre-shared key
  bool keys = false;           // keyed: the session has keys
  const char* cipher = "";     // keyed: what we seal with (configured)
  const char* cipher_send = "";
  const char* cipher_receive = "";
  std::uint64_t handshakes = 0;
};

struct ControlSnapshot {
  std::vector<PathHealthSnapshot> health;   // active paths
  std::vector<SignallingSnapshot> control;  // active connections
  std::vector<std::pair<const char*, std::uint64_t>> rx_errors;  // refused messages by reason
  std::uint64_t weight_out_of_range = 0;        // WEIGHT messages refused
  std::uint64_t peer_up_after_local_down = 0;   // the peer's "up" for a path we took down
  std::uint64_t peer_paths_lost = 0;            // PATH_STATUS "down" from the peer, acted on
  // Server mode: control messages that reached a listener from no known client address.
  bool server_mode = false;
  std::size_t clients = 0, answered = 0;
  std::uint64_t listener_claimed = 0, listener_unclaimed = 0;
};

}  // namespace mpt::signaling
