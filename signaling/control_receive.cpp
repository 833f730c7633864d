// ControlLoop, the receiving side: what the path workers' control rings bring is drained here
// (keyed: control_peer_session.cpp; unauthenticated: ControlIntake), then answered or acted on -- probes and
// their answers (RTT, delivery and loss samples for health and the estimator), the peer's
// administrative changes, HELLO. The rest of the loop is in control_loop.cpp.
#include <algorithm>
#include <cstring>

#include "engine/byte_order.h"
#include "engine/clock.h"
#include "engine/udp_socket.h"
#include "engine/log.h"
#include "engine/path_worker.h"
#include "scheduler/path_set.h"
#include "signaling/control_loop.h"

namespace mpt::signaling {

// The peer's path `lost` (its index in the connection) lost its link: declared down here at
// once instead of after dead_misses silent probe intervals -- what we sent on it since it
// broke is reinjected on the live paths, and the reorder stage stops waiting for it. It
// rejoins like any dead path, once it answers again for the hold-down.
void ControlLoop::on_peer_path_lost(std::size_t via, std::uint16_t lost) {
  const int c = paths_[via].connection;
  for (std::size_t k = 0; k < paths_.size(); ++k) {
    Path& q = paths_[k];
    if (!q.active || q.connection != c || q.local_index != lost) continue;
    ++peer_path_lost_;
    const HealthState before = q.health.state();
    const std::uint64_t now = engine::monotonic_us();
    q.health.force_down(now);
    if (q.health.state() != before) {
      MPT_INFO("path %s: the peer lost its link on this path (told on %s)",
               engine_.spec().paths[k].name.c_str(), engine_.spec().paths[via].name.c_str());
      apply(k, now);
    }
  }
}

// Our path i lost its link: the peer learns it on the connection's other usable paths, so it
// stops sending into it at once (an interface gone, Wi-Fi out of range: it cannot be told on
// the path itself).
void ControlLoop::tell_path_lost(std::size_t i) {
  if (!connections_[static_cast<std::size_t>(paths_[i].connection)].cfg.enabled) return;
  Message m;
  m.path_status = PathStatusBody{PathStatus::kDown, static_cast<std::uint16_t>(paths_[i].local_index)};
  for (std::size_t k = 0; k < paths_.size(); ++k) {
    if (k == i || !paths_[k].active || paths_[k].connection != paths_[i].connection ||
        !paths_[k].health.usable()) {
      continue;
    }
    send(k, MessageType::kPathStatus, nullptr, &m);
  }
}

void ControlLoop::drain(std::size_t i, std::uint64_t now) {
  engine::ControlPacket cp;
  engine::ControlRing& ring = engine_.path(i).control_ring();
  while (ring.pop(cp)) receive(i, cp, now);
}

void ControlLoop::receive(std::size_t i, const engine::ControlPacket& cp, std::uint64_t now) {
  Connection& c = connections_[static_cast<std::size_t>(paths_[i].connection)];
  Message m;
  ParseError e = ParseError::kOk;
  if (c.secure) {
    e = receive_secure(i, cp, m);
    if (e == ParseError::kOk && is_handshake(m.header.type)) return;
  } else {
    const ControlIntake::Result r = c.intake.accept({cp.data.data(), cp.length}, *c.auth, m);
    e = r.error;
    if (r.new_session) {
      // A new session with a valid MAC: the peer (re)started. Counters start over.
      if (r.peer_restarted) {
        MPT_INFO("connection %s: peer restarted (new session)", c.cfg.name.c_str());
        c.established = false;  // announce ourselves to the new instance
        c.hello_sent_us = 0;
        // Its sequence numbers start over: the reorder stage must not take them for
        // duplicates of the old instance's (retried at every tick until the writer took it).
        c.reorder_restart_pending =
            !engine_.reorder_peer_restarted(static_cast<std::size_t>(paths_[i].connection));
        forget_peer_admin(paths_[i].connection);
      }
      for (std::size_t k = 0; k < paths_.size(); ++k) {  // at once, not at the next tick
        if (paths_[k].active && paths_[k].connection == paths_[i].connection) {
          engine_.path(k).set_peer_session(m.header.session);
        }
      }
    }
    // The sender's path index must be the path it came on (paths pair up by index).
    if (e == ParseError::kOk && m.header.path != paths_[i].local_index) e = ParseError::kBadPath;
  }
  if (e != ParseError::kOk) {
    ++rx_errors_[static_cast<std::size_t>(e)];
    MPT_LOG_RATELIMITED(LogLevel::kWarn, "path %zu: control message dropped (%s)", i,
                        to_string(e));
    return;
  }
  handle(i, m, cp, now);
}

void ControlLoop::drain_listener(std::size_t k, std::uint64_t now) {
  engine::ControlPacket cp;
  engine::ControlRing& ring = engine_.listener(k).control_ring();
  while (ring.pop(cp)) {
    const auto i = claim(k, {cp.data.data(), cp.length});
    if (!i) {
      ++listener_unclaimed_;
      sockaddr_storage from{};
      std::memcpy(&from, &cp.from, std::min<std::size_t>(cp.from_len, sizeof from));
      MPT_LOG_RATELIMITED(LogLevel::kWarn, "%s: control message from %s claimed by no client",
                          engine_.listener(k).spec().name.c_str(),
                          engine::sockaddr_to_string(from).c_str());
      continue;
    }
    ++listener_claimed_;
    // Its counts as of arrival are the client path's (the listener's own say nothing).
    cp.rx_packets_before = engine::read(engine_.path(*i).stats().rx_packets);
    cp.rx_bytes_before = engine::read(engine_.path(*i).stats().rx_bytes);
    receive(*i, cp, now);
  }
}

// Which client path a listener's unclaimed control message is for: a handshake message by
// the client key it verifies under (each client's, in turn: these come at most 50 a second
// per listener), a sealed one by the sending instance's session (in clear in its header,
// authenticated when the path's session opens it). The path index in the header picks the
// client's path among those on this listener.
std::optional<std::size_t> ControlLoop::claim(std::size_t k, std::span<const std::uint8_t> in) const {
  if (in.size() < kHeaderSize) return std::nullopt;
  const std::uint64_t session = engine::load_be64(in.data() + 4);
  const std::uint16_t path = engine::load_be16(in.data() + 20);
  for (std::size_t i = 0; i < paths_.size(); ++i) {
    const Path& p = paths_[i];
    if (!p.active || engine_.listener_of(i) != static_cast<int>(k) || p.local_index != path) continue;
    const Connection& c = connections_[static_cast<std::size_t>(p.connection)];
    if (!c.secure) continue;
    if (in[0] == kHandshakeVersion) {
      Message m;
      if (decode(in, c.secure->handshake_auth(), m) == ParseError::kOk) return i;
    } else if (in[0] == kSealedVersion && c.secure->knows_peer_session(session)) {
      return i;
    }
  }
  return std::nullopt;
}

void ControlLoop::handle(std::size_t i, const Message& m, const engine::ControlPacket& cp,
                         std::uint64_t now) {
  Path& p = paths_[i];
  const std::uint64_t rx_us = cp.rx_time_us;
  switch (m.header.type) {
    case MessageType::kProbe: {
      ProbeBody ack;
      ack.tx_time_us = now;
      ack.echo_time_us = m.probe->tx_time_us;
      ack.echo_delay_us = static_cast<std::uint32_t>(now > rx_us ? now - rx_us : 0);
      ack.data_tx_packets = engine::read(engine_.path(i).stats().tx_packets);
      // Received counts as of the probe's arrival (what was sent ahead of it), not as of now.
      ack.data_rx_packets = cp.rx_packets_before;
      ack.data_tx_bytes = engine::read(engine_.path(i).stats().tx_bytes);
      ack.data_rx_bytes = cp.rx_bytes_before;
      send(i, MessageType::kProbeAck, &ack);
      break;
    }
    case MessageType::kProbeAck: {
      const ProbeBody& b = *m.probe;
      if (b.echo_time_us == 0 || b.echo_time_us > rx_us) break;  // not one of ours
      const std::uint64_t rtt = rx_us - b.echo_time_us;
      const std::uint64_t net = rtt > b.echo_delay_us ? rtt - b.echo_delay_us : rtt;
      ++p.acks_received;
      p.last_ack_us = rx_us;
      p.health.on_probe_ack(rx_us, net);
      p.estimator.on_rtt(rx_us, net);
      const auto sent = std::find_if(p.sent.begin(), p.sent.end(), [&](const Path::SentProbe& e) {
        return e.time_us == b.echo_time_us;
      });
      // The peer's counts are as of the probe's arrival there: its answer time minus the
      // time it took to answer. Ours as of the probe's departure: what the path was offered.
      const bool known = sent != p.sent.end();
      p.estimator.on_delivery(rx_us, b.data_rx_bytes,
                              b.tx_time_us > b.echo_delay_us ? b.tx_time_us - b.echo_delay_us : 0,
                              known ? sent->tx_bytes : 0, known ? sent->time_us : 0);
      // Loss sample: what we sent between two answered probes against what the peer got
      // ahead of each of them (its counts are taken when the probe arrives; the path is FIFO,
      // so the difference is what was lost, not what is still in flight).
      if (sent != p.sent.end()) {
        if (p.acks_received > 1 && sent->tx_packets >= p.tx_at_acked &&
            b.data_rx_packets >= p.peer_rx_at_ack) {
          const std::uint64_t n_sent = sent->tx_packets - p.tx_at_acked;
          const std::uint64_t n_received = b.data_rx_packets - p.peer_rx_at_ack;
          p.health.on_loss_sample(n_sent, n_received, now, p.estimator.queue_seen());
          p.estimator.on_loss_sample(now, n_sent, n_received);
        }
        p.tx_at_acked = sent->tx_packets;
        p.peer_rx_at_ack = b.data_rx_packets;
        // What the path sent before this probe has arrived (FIFO): the reader need not keep
        // it for reinjection.
        engine_.path(i).publish_confirmed(sent->time_us * 1000);
        *sent = {};
      }
      publish_estimate(i);
      break;
    }
    case MessageType::kPathStatus: {
      // The peer changed the path administratively: follow it (no echo back to the peer).
      // Its "up" undoes only its own "down": a path taken down here stays down.
      const PathStatus st = m.path_status->status;
      if (st == PathStatus::kDown) on_peer_path_lost(i, m.path_status->lost_path);
      if (st == PathStatus::kAdminDown && p.health.state() != HealthState::kAdminDown) {
        admin(i, false, false);
      }
      if (st == PathStatus::kUp && p.health.state() == HealthState::kAdminDown) {
        if (p.admin_down_by_peer) {
          admin(i, true, false);
        } else {
          ++peer_up_refused_;
          MPT_LOG_RATELIMITED(LogLevel::kWarn, "path %s: the peer's \"up\" ignored: it was "
                              "taken down here (mpt path up)", engine_.spec().paths[i].name.c_str());
        }
      }
      Message ack;
      ack.path_status = *m.path_status;
      send(i, MessageType::kPathStatusAck, nullptr, &ack);
      break;
    }
    case MessageType::kWeight: {
      if (m.weight->weight > scheduler::kMaxWeight) {
        ++weight_refused_;
        MPT_LOG_RATELIMITED(LogLevel::kWarn, "path %s: the peer's weight %u refused (0..%u)",
                            engine_.spec().paths[i].name.c_str(), m.weight->weight,
                            scheduler::kMaxWeight);
        break;
      }
      p.weight = m.weight->weight;
      engine_.set_path_usable(i, p.usable, p.weight);
      MPT_INFO("path %s: weight %u (set by the peer)", engine_.spec().paths[i].name.c_str(),
               p.weight);
      Message ack;
      ack.weight = *m.weight;
      send(i, MessageType::kWeightAck, nullptr, &ack);
      break;
    }
    case MessageType::kHello:
    case MessageType::kHelloAck:
      on_hello(i, m, m.header.type == MessageType::kHelloAck);
      break;
    default:
      break;  // the other acks: nothing to do
  }
  p.health.tick(now);
  apply(i, now);
}

}  // namespace mpt::signaling
