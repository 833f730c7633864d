// ControlLoop: signalling and path health on the Asio control thread.
//
// Every probe interval it sends a PROBE on each path (through the path's own socket, so the
// probe takes exactly the data's 5-tuple), answers the peer's probes with PROBE_ACKs,
// measures RTT and data loss per path, watches local link state through rtnetlink events,
// and feeds all of it to one signaling::PathHealth per path. When a path's usability changes
// it tells the engine (Engine::set_path_usable): the scheduler stops or resumes using it and
// batches queued for a dead path move to live paths.
//
// Received control messages arrive from the path workers through their ControlRings and are
// drained on a short timer; every message is authenticated (HMAC) and replay-checked before it
// changes anything; bad ones are counted by reason.
//
// Threads: everything here runs on the io_context's thread (the control thread).
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "engine/engine.h"
#include "signaling/control_intake.h"
#include "signaling/control_snapshot.h"
#include "signaling/link_monitor.h"
#include "signaling/messages.h"
#include "scheduler/path_estimator.h"
#include "signaling/path_health.h"
#include "signaling/secure_session.h"

namespace mpt::signaling {

struct ConnectionControl {
  std::string name;
  std::string pre_shared_key;   // empty = unauthenticated (explicit opt-in in the config)
  engine::Cipher cipher = engine::Cipher::kAes256Gcm;  // what we seal with (keyed only)
  std::uint64_t rekey_us = 120'000'000;                 // a new handshake round this often
  HealthParams health;
  // Every path sends a probe at least this often, whatever its probe interval: the side
  // behind a NAT keeps its mappings alive (0: no bound). Health still judges silence by
  // the probe interval.
  std::uint64_t keepalive_us = 25'000'000;
  bool enabled = true;          // false: no probes; paths stay as configured
};

class ControlLoop {
 public:
  // connections[i] configures engine connection i. Throws std::system_error if the netlink
  // link-event socket cannot be opened.
  ControlLoop(boost::asio::io_context& io, engine::Engine& engine,
              std::vector<ConnectionControl> connections);
  ~ControlLoop();
  ControlLoop(const ControlLoop&) = delete;
  ControlLoop& operator=(const ControlLoop&) = delete;

  void start();

  // `mpt reload`, after Engine::reconfigure: connections[c] configures engine connection slot
  // c (see Engine). Paths and connections that stay keep their health state, sessions and
  // counters; a path added now starts unverified (PathHealth::start_unverified) when
  // signalling runs on its connection; a changed key or path count makes the connection
  // announce itself to the peer again (HELLO).
  void reconfigure(std::vector<ConnectionControl> connections);

  // Operator commands. Return an error text, or empty on success. Both also tell the peer
  // (PATH_STATUS / WEIGHT), which applies the same change to its side of the path.
  std::string set_admin(const std::string& connection, int path, bool up);
  std::string set_weight(const std::string& connection, int path, std::uint32_t weight);
  // All paths on interface `ifname`, every connection (the original's `mpt int IF up|down`).
  std::string set_interface_admin(const std::string& ifname, bool up);

  // `mpt save`: what this side's operator set on path `path` of `connection` -- its current
  // weight, and whether it is administratively down by a command or the configuration here
  // (not by the peer's PATH_STATUS, which the peer undoes itself). nullopt: no such path.
  struct OperatorState {
    std::uint32_t weight = 1;
    bool down = false;
  };
  [[nodiscard]] std::optional<OperatorState> operator_state(const std::string& connection,
                                                            int path) const {
    std::string error;
    const int i = find_path(connection, path, error);
    if (i < 0) return std::nullopt;
    const Path& p = paths_[static_cast<std::size_t>(i)];
    return OperatorState{p.weight,
                         p.health.state() == HealthState::kAdminDown && !p.admin_down_by_peer};
  }

  // Health per path, signalling per connection, refused messages (`mpt status`, its JSON,
  // the metrics).
  [[nodiscard]] ControlSnapshot snapshot() const;

 private:
  struct Path {
    bool active = true;         // false: the engine slot is free (removed by a reload)
    const engine::PathWorker* worker = nullptr;  // to tell a kept path from a new one
    int connection = 0;
    int local_index = 0;        // index within the connection
    int ifindex = 0;
    PathHealth health{HealthParams{}};
    bool usable = true;         // what the engine was last told
    std::uint32_t weight = 1;   // current weight_out
    std::uint64_t last_probe_sent_us = 0;
    std::uint64_t last_link_poll_us = 0;
    std::uint64_t last_ack_us = 0;
    // Probes in flight (send time, our data tx count then), so that an answer that arrives
    // after later probes left still pairs with its own counts (probes every 20 ms on a path
    // with a longer RTT).
    struct SentProbe {
      std::uint64_t time_us = 0;
      std::uint64_t tx_packets = 0;
      std::uint64_t tx_bytes = 0;
    };
    std::array<SentProbe, 32> sent{};
    std::size_t sent_next = 0;
    std::uint64_t tx_at_acked = 0;       // our data tx count when the last answered probe left
    std::uint64_t peer_rx_at_ack = 0;    // the peer's rx count in the last answer
    std::uint64_t rx_seen = 0;           // our data rx count at the last tick
    std::uint64_t tx_seen = 0;           // our data tx count at the last probe
    // The adaptive scheduler's estimate of the path (rate, delays, loss), published to the
    // engine after every answer (Engine path's publish_estimate).
    scheduler::PathEstimator estimator;
    std::uint64_t probes_sent = 0, acks_received = 0;
    std::uint64_t endpoint_moves = 0;  // the peer's address learned or changed (roaming)
    // Rates over the last second, from the worker's counters.
    std::uint64_t rate_at_us = 0, rate_tx_bytes = 0, rate_rx_bytes = 0;
    double tx_mbps = 0, rx_mbps = 0;
    std::uint64_t reorder_lag_floor_ns = 0;  // last lag floor sent to the reorder stage
    bool reorder_live = false;                // usable when the floor was last derived
    bool admin_down_by_peer = false;  // the peer's PATH_STATUS took it down (only then may it
                                      // bring it back up: a local `mpt path down` stays)
  };
  struct Connection {
    bool active = true;
    ConnectionControl cfg;
    // Keyed (pre_shared_key set): the handshake and sealed messages (secure); version-1
    // messages are refused. Unauthenticated mode: version 1 with zero MACs (auth, intake).
    std::unique_ptr<SecureSession> secure;
    std::uint64_t init_sent_us = 0;  // last round of handshake INITs
    std::uint64_t secure_rx_us = 0;  // last sealed message of the peer that opened
    std::uint64_t round_us = 0;      // when the current handshake round began
    // What publish_keys last wrote to the engine's SessionKeys of this connection.
    engine::KeyMaterial published_tx;
    std::array<engine::KeyMaterial, engine::SessionKeys::kRxSlots> published_rx{};
    std::unique_ptr<ControlAuth> auth;
    std::uint64_t next_counter = 1;
    ControlIntake intake;  // the peer's session and replay window (unauthenticated mode)
    bool reorder_restart_pending = false;  // the peer restarted; not yet told to the reorder stage
    std::uint64_t reorder_delay_ns = 0;  // last derived reorder wait sent to the engine
    std::uint64_t repair_wait_ns = 0;    // last repair wait sent to the reorder stage
    bool established = false;            // a HELLO or HELLO_ACK of the peer was accepted
    std::uint64_t hello_sent_us = 0;
  };

  [[nodiscard]] Path make_path(std::size_t i, std::uint64_t now);
  [[nodiscard]] int local_index(std::size_t i) const;
  void tick();
  void arm_tick();
  void drain(std::size_t path, std::uint64_t now_us);
  void forget_peer_admin(int connection);
  void receive(std::size_t path, const engine::ControlPacket& cp, std::uint64_t now_us);
  // Server mode: control messages a listener received from no client's address -- a
  // client's handshake (found by trying the clients' keys) or a client that moved (found by
  // its session); anything else is dropped and counted (listener_unclaimed_).
  void drain_listener(std::size_t listener, std::uint64_t now_us);
  [[nodiscard]] std::optional<std::size_t> claim(std::size_t listener,
                                                 std::span<const std::uint8_t> in) const;
  void handle(std::size_t path, const Message& m, const engine::ControlPacket& cp,
              std::uint64_t now_us);
  void send(std::size_t path, MessageType type, const ProbeBody* probe,
            const Message* extra = nullptr);
  // To the path's peer as it is now (PeerEndpoint), or to `to` (a handshake's answer).
  void transmit(std::size_t path, const Message& m, const sockaddr* to = nullptr,
                socklen_t to_len = 0);
  void learn_endpoint(std::size_t path, const sockaddr* from, socklen_t len);
  void on_peer_path_lost(std::size_t via, std::uint16_t lost);
  void tell_path_lost(std::size_t path);
  void make_security(Connection& conn);
  void publish_keys(std::size_t connection);
  void on_session_confirmed(std::size_t path, bool peer_restarted);
  [[nodiscard]] ParseError receive_secure(std::size_t path, const engine::ControlPacket& cp,
                                          Message& m);
  [[nodiscard]] int find_path(const std::string& connection, int path, std::string& error) const;
  void admin(std::size_t i, bool up, bool tell_peer);
  void apply(std::size_t path, std::uint64_t now_us);
  void derive_reorder_delays();
  void derive_reorder_lag_floors();
  void derive_repair();
  void publish_estimate(std::size_t path);
  [[nodiscard]] std::uint64_t probe_interval_us(std::size_t path) const;
  void send_hellos(std::uint64_t now_us);
  void on_hello(std::size_t path, const Message& m, bool is_ack);
  void on_link(int ifindex, bool up);  // a link event (LinkMonitor)

  boost::asio::io_context& io_;
  engine::Engine& engine_;
  std::vector<Connection> connections_;
  std::vector<Path> paths_;
  std::uint64_t session_ = 0;
  boost::asio::steady_timer timer_;
  std::uint64_t tick_us_ = 5000;
  std::unique_ptr<LinkMonitor> link_monitor_;
  std::array<std::uint64_t, static_cast<std::size_t>(ParseError::kCount)> rx_errors_{};
  std::uint64_t weight_refused_ = 0;     // WEIGHT messages out of range (0..kMaxWeight)
  std::uint64_t peer_up_refused_ = 0;    // the peer's "up" for a path we took down ourselves
  std::uint64_t listener_claimed_ = 0;    // server mode: messages from a client's new address
  std::uint64_t listener_unclaimed_ = 0;  // ... and from no client (dropped)
  std::uint64_t peer_path_lost_ = 0;     // PATH_STATUS "down": the peer lost a path's link
};

}  // namespace mpt::signaling
