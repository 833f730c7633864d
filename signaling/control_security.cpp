// ControlLoop, keyed connections (auth_key): the connection's SecureSession (made here, and
// again for a new key), the handshake and sealed messages as the drain receives them, and the
// session keys published to the data plane (engine::SessionKeys). docs/protocol.md 2b/2c has
// the protocol; the rest of the loop is in control_loop.cpp and control_receive.cpp.
#include <array>
#include <vector>

#include "engine/clock.h"
#include "engine/log.h"
#include "engine/path_worker.h"
#include "signaling/control_loop.h"

namespace mpt::signaling {

// Keyed connections: a handshake message (answered here) or a sealed one (opened). Returns
// kOk with `m` set for a sealed message to act on; handshake messages end here.
ParseError ControlLoop::receive_secure(std::size_t i, std::span<const std::uint8_t> in,
                                       Message& m) {
  Connection& c = connections_[static_cast<std::size_t>(paths_[i].connection)];
  SecureSession& s = *c.secure;
  const auto path = static_cast<std::uint16_t>(paths_[i].local_index);
  SecureSession::Result r;
  if (!in.empty() && in[0] == kHandshakeVersion) {
    r.error = decode(in, s.handshake_auth(), m);
    Message reply;
    if (r.error == ParseError::kOk) r = s.on_handshake(m, path, reply);
    // Keys first (a candidate's receive key, or the confirmed send key), then the answer.
    publish_keys(static_cast<std::size_t>(paths_[i].connection));
    if (r.reply) transmit(i, reply);
    if (r.error == ParseError::kOk) m.header.type = MessageType::kHandshakeInit;  // done here
  } else if (!in.empty() && in[0] == kSealedVersion) {
    r = s.open(in, path, m);
    if (r.error == ParseError::kOk) c.secure_rx_us = engine::monotonic_us();
    if (r.confirmed) publish_keys(static_cast<std::size_t>(paths_[i].connection));
  } else {
    r.error = ParseError::kBadVersion;  // plain messages to a keyed connection
  }
  if (r.confirmed) on_session_confirmed(i, r.peer_restarted);
  return r.error;
}

// New session keys: the peer answered (or restarted). Admit its session in the data plane at
// once, and after a restart start over: HELLO, the reorder stage's sequence.
void ControlLoop::on_session_confirmed(std::size_t i, bool peer_restarted) {
  Connection& c = connections_[static_cast<std::size_t>(paths_[i].connection)];
  const std::uint64_t session = c.secure->peer_session().value_or(0);
  MPT_INFO("connection %s: session keys %s (%s / %s)", c.cfg.name.c_str(),
           peer_restarted ? "renewed: the peer restarted" : "established",
           engine::to_string(c.secure->send_cipher()), engine::to_string(c.secure->receive_cipher()));
  c.established = false;  // HELLO to this instance of the peer
  c.hello_sent_us = 0;
  if (peer_restarted) {
    c.reorder_restart_pending =
        !engine_.reorder_peer_restarted(static_cast<std::size_t>(paths_[i].connection));
  }
  for (std::size_t k = 0; k < paths_.size(); ++k) {
    if (paths_[k].active && paths_[k].connection == paths_[i].connection) {
      engine_.path(k).set_peer_session(session);
    }
  }
}

// The data plane's copy of connection c's keys (engine::SessionKeys): the send key, and each
// key set the peer may seal with in a receive slot. A key set keeps its slot while it lives
// (its generation, hence the TUN writer's replay window, stays); only new ones take a slot.
// Cheap when nothing changed (a few comparisons): called on every tick and at once after a
// handshake step -- before our RESP goes out, so that the peer's first data under the new
// keys already finds them.
void ControlLoop::publish_keys(std::size_t c) {
  if (c >= engine_.spec().connections.size()) return;
  Connection& conn = connections_[c];
  SecureSession::DataKeys want;
  if (conn.active && conn.secure) want = conn.secure->data_keys();
  engine::SessionKeys& sk = engine_.keys(c);
  if (!(want.tx == conn.published_tx)) {
    sk.tx.publish(want.tx);
    conn.published_tx = want.tx;
  }
  std::array<bool, engine::SessionKeys::kRxSlots> keep{};
  std::vector<bool> placed(want.rx.size(), false);
  for (std::size_t s = 0; s < keep.size(); ++s) {
    if (!conn.published_rx[s].valid) continue;
    for (std::size_t k = 0; k < want.rx.size(); ++k) {
      if (!placed[k] && want.rx[k] == conn.published_rx[s]) {
        keep[s] = placed[k] = true;
        break;
      }
    }
  }
  for (std::size_t s = 0; s < keep.size(); ++s) {
    if (!keep[s] && conn.published_rx[s].valid) {
      conn.published_rx[s] = engine::KeyMaterial{};
      sk.rx[s].publish(conn.published_rx[s]);
    }
  }
  for (std::size_t k = 0; k < want.rx.size(); ++k) {
    if (placed[k]) continue;
    for (std::size_t s = 0; s < keep.size(); ++s) {
      if (keep[s]) continue;
      keep[s] = true;
      conn.published_rx[s] = want.rx[k];
      sk.rx[s].publish(want.rx[k]);
      break;
    }
  }
}

void ControlLoop::make_security(Connection& conn) {
  conn.auth = std::make_unique<ControlAuth>(conn.cfg.pre_shared_key);
  conn.secure.reset();
  if (!conn.cfg.enabled || conn.cfg.pre_shared_key.empty()) return;
  const auto c = static_cast<std::size_t>(&conn - connections_.data());
  const std::size_t paths =
      c < engine_.spec().connections.size() ? engine_.spec().connections[c].paths.size() : 0;
  conn.secure = std::make_unique<SecureSession>(conn.cfg.pre_shared_key, conn.cfg.cipher, paths);
  conn.round_us = conn.secure_rx_us = engine::monotonic_us();
  if (!conn.secure->valid()) {
    MPT_ERROR("connection %s: could not set up the handshake (OpenSSL): no signalling",
              conn.cfg.name.c_str());
  }
}

}  // namespace mpt::signaling
