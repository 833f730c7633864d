// ControlLoop, the peer session of each connection: HELLO until the peer answers (and its
// answer), and for keyed connections (auth_key) the SecureSession (made here, and again for a
// new key), the handshake and sealed messages as the drain receives them, and the session
// keys published to the data plane (engine::SessionKeys). docs/protocol.md 2b/2c has the
// protocol. The loop itself is control_loop.cpp, the drain control_receive.cpp, operator
// commands control_admin.cpp, link events link_monitor.cpp.
#include <algorithm>
#include <array>
#include <cstring>
#include <vector>

#include "engine/clock.h"
#include "engine/log.h"
#include "engine/path_worker.h"
#include "engine/udp_socket.h"
#include "signaling/control_loop.h"

namespace mpt::signaling {
namespace {
// Session keys are renewed (a new handshake round) every `rekey_after_s`, and when nothing of
// the peer's has opened for this long (or 20 probe intervals, if longer).
constexpr std::uint64_t kStallUs = 3'000'000;
}  // namespace

// Keyed connections: a handshake message (answered here) or a sealed one (opened). Returns
// kOk with `m` set for a sealed message to act on; handshake messages end here.
ParseError ControlLoop::receive_secure(std::size_t i, const engine::ControlPacket& cp,
                                       Message& m) {
  const std::span<const std::uint8_t> in{cp.data.data(), cp.length};
  const auto* from = reinterpret_cast<const sockaddr*>(&cp.from);
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
    // The answer goes where the INIT came from, which need not be where we believe the peer
    // is (it restarted behind a new NAT mapping, or nothing is known yet). The INIT moves
    // nothing: it may be a replay. (No amplification: a RESP is as long as an INIT, and
    // messages of unknown sessions pass the path worker at most 50 per second.)
    if (r.reply) transmit(i, reply, from, cp.from_len);
    if (r.error == ParseError::kOk) m.header.type = MessageType::kHandshakeInit;  // done here
  } else if (!in.empty() && in[0] == kSealedVersion) {
    r = s.open(in, path, m);
    if (r.error == ParseError::kOk) c.secure_rx_us = engine::monotonic_us();
    if (r.error == ParseError::kOk && r.newest) learn_endpoint(i, from, cp.from_len);
    if (r.confirmed) publish_keys(static_cast<std::size_t>(paths_[i].connection));
  } else {
    r.error = ParseError::kBadVersion;  // plain messages to a keyed connection
  }
  if (r.confirmed) on_session_confirmed(i, r.peer_restarted);
  return r.error;
}

// Address learning and roaming (docs/protocol.md "Addresses"): a sealed message that opened
// under the current keys and is the newest of its path shows where the peer is now. Nothing
// else moves the path: not a handshake message, not data, not a replay, not an older
// message sent late from elsewhere.
void ControlLoop::learn_endpoint(std::size_t i, const sockaddr* from, socklen_t len) {
  engine::PathWorker& w = engine_.path(i);
  sockaddr_storage now;
  const socklen_t now_len = w.endpoint().load(now);
  if (len == 0 || engine::same_endpoint(from, len, now, now_len)) return;
  sockaddr_storage next{};
  std::memcpy(&next, from, std::min<std::size_t>(len, sizeof next));
  w.endpoint().store(next, len);
  ++paths_[i].endpoint_moves;
  if (now_len) paths_[i].health.new_attachment();  // a path that comes back elsewhere
  MPT_INFO("%s: peer %s %s%s", w.spec().name.c_str(), now_len ? "moved from" : "found at",
           now_len ? (engine::sockaddr_to_string(now) + " to ").c_str() : "",
           engine::sockaddr_to_string(next).c_str());
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
    forget_peer_admin(paths_[i].connection);
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

// Connection establishment: until the peer has answered, every connection announces itself
// (HELLO: its path count and probe interval) on each of its paths once a second.
void ControlLoop::send_hellos(std::uint64_t now) {
  for (std::size_t c = 0; c < connections_.size(); ++c) {
    Connection& conn = connections_[c];
    if (!conn.active || !conn.cfg.enabled) continue;
    if (conn.secure && !conn.secure->awaiting()) {
      // A new round (fresh key pair, INITs): every rekey_us, so that keys do not live long;
      // and when nothing of the peer's has opened for kStallUs although we have keys (the
      // peer lost them: it restarted and our answer was lost, or its candidate was crowded
      // out). The keys in use stay until the round confirms new ones.
      // With every path down the wait is short: nothing is lost by a new round then, and a
      // peer that lost our keys (a server that restarted, a client re-added to a server)
      // is found again in seconds, not 20 probe intervals.
      bool any_usable = false;
      for (const Path& p : paths_) {
        any_usable = any_usable || (p.active && p.connection == static_cast<int>(c) && p.health.usable());
      }
      const bool stale = now - conn.secure_rx_us >
                         (any_usable ? std::max<std::uint64_t>(kStallUs, 20 * conn.cfg.health.probe_interval_us)
                                     : kStallUs);
      // Timed renewals come from one side only -- the one with the lower session id: two
      // rounds started at once by both sides would each confirm a different key set, and
      // what was sealed under the one given up would be lost.
      const bool renewer = conn.secure->established() &&
                           conn.secure->session() < conn.secure->peer_session().value_or(0);
      if ((renewer && now - conn.round_us > conn.cfg.rekey_us) ||
          (conn.secure->established() && stale)) {
        conn.secure->new_round();
        conn.round_us = now;
        conn.secure_rx_us = now;
        conn.init_sent_us = 0;
      }
    }
    if (conn.secure && conn.secure->awaiting()) {
      // Keyed: the handshake first (INIT on every path once a second until answered).
      if (conn.init_sent_us && now - conn.init_sent_us < 1000000) continue;
      conn.init_sent_us = now;
      for (std::size_t i = 0; i < paths_.size(); ++i) {
        if (!paths_[i].active || paths_[i].connection != static_cast<int>(c)) continue;
        transmit(i, conn.secure->init(static_cast<std::uint16_t>(paths_[i].local_index)));
      }
      continue;
    }
    if (conn.established) continue;
    if (conn.hello_sent_us && now - conn.hello_sent_us < 1000000) continue;
    conn.hello_sent_us = now;
    for (std::size_t i = 0; i < paths_.size(); ++i) {
      if (!paths_[i].active || paths_[i].connection != static_cast<int>(c)) continue;
      Message m;
      m.hello = HelloBody{static_cast<std::uint32_t>(
                              engine_.spec().connections[c].paths.size()),
                          static_cast<std::uint32_t>(conn.cfg.health.probe_interval_us / 1000)};
      send(i, MessageType::kHello, nullptr, &m);
    }
  }
}

void ControlLoop::on_hello(std::size_t i, const Message& m, bool is_ack) {
  Connection& conn = connections_[static_cast<std::size_t>(paths_[i].connection)];
  const std::size_t ours =
      engine_.spec().connections[static_cast<std::size_t>(paths_[i].connection)].paths.size();
  if (!conn.established) {
    MPT_INFO("connection %s: peer answered (%u paths, probes every %u ms)", conn.cfg.name.c_str(),
             m.hello->path_count, m.hello->probe_interval_ms);
    if (m.hello->path_count != ours) {
      MPT_WARN("connection %s: the peer has %u paths, this side %zu: only paths both sides "
               "configure can carry traffic", conn.cfg.name.c_str(), m.hello->path_count, ours);
    }
  }
  conn.established = true;
  if (!is_ack) {
    Message ack;
    ack.hello = HelloBody{static_cast<std::uint32_t>(ours),
                          static_cast<std::uint32_t>(conn.cfg.health.probe_interval_us / 1000)};
    send(i, MessageType::kHelloAck, nullptr, &ack);
  }
}

}  // namespace mpt::signaling
