#include "signaling/control_loop.h"

#include <net/if.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <random>
#include <system_error>

#include "engine/clock.h"
#include "engine/gre_udp.h"
#include "engine/log.h"
#include "engine/path_worker.h"

namespace mpt::signaling {

// Probe interval of a busy path under scheduler = auto (see probe_interval_us).
constexpr std::uint64_t kEstimateIntervalUs = 20000;
namespace {

std::uint64_t now_us() { return engine::monotonic_us(); }

bool link_running(const std::string& ifname) {
  int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return true;
  ifreq ifr{};
  std::strncpy(ifr.ifr_name, ifname.c_str(), IFNAMSIZ - 1);
  const bool ok = ::ioctl(fd, SIOCGIFFLAGS, &ifr) == 0;
  const int e = errno;
  ::close(fd);
  if (!ok) return e != ENODEV;  // gone is not running; another error: cannot tell
  return (ifr.ifr_flags & IFF_UP) && (ifr.ifr_flags & IFF_RUNNING);
}

}  // namespace

ControlLoop::ControlLoop(boost::asio::io_context& io, engine::Engine& engine,
                         std::vector<ConnectionControl> connections)
    : io_(io), engine_(engine), timer_(io) {
  // Unauthenticated mode's session id (version-1 messages): ids grow with wall-clock time
  // (µs, low byte random), so a restarted peer has a higher id than before. Keyed
  // connections do not use it: their sessions come from the handshake (SecureSession).
  std::random_device rd;
  timespec rt{};
  clock_gettime(CLOCK_REALTIME, &rt);
  session_ = ((static_cast<std::uint64_t>(rt.tv_sec) * 1000000 +
               static_cast<std::uint64_t>(rt.tv_nsec) / 1000) << 8) | (rd() & 0xFF);
  for (std::size_t c = 0; c < connections.size(); ++c) {
    Connection conn;
    conn.cfg = std::move(connections[c]);
    connections_.push_back(std::move(conn));
  }
  for (std::size_t c = 0; c < connections_.size(); ++c) {
    if (c < engine.spec().connections.size()) make_security(connections_[c]);
  }
  // Link events, subscribed before the initial link state is read: no change is missed.
  link_monitor_ = std::make_unique<LinkMonitor>(io, [this](int ifindex, bool up) {
    on_link(ifindex, up);
  });
  const std::uint64_t now = now_us();
  for (std::size_t c = 0; c < connections_.size(); ++c) {
    connections_[c].active = engine.spec().connections.at(c).active;
  }
  bool any_enabled = false;
  for (std::size_t i = 0; i < engine.path_count(); ++i) {
    if (!engine.has_path(i)) {
      paths_.push_back(Path{});
      paths_.back().active = false;
      continue;
    }
    paths_.push_back(make_path(i, now));
    const ConnectionControl& cc = connections_[static_cast<std::size_t>(paths_.back().connection)].cfg;
    if (cc.enabled) {
      any_enabled = true;
      tick_us_ = std::min<std::uint64_t>(
          tick_us_, std::max<std::uint64_t>(1000, cc.health.probe_interval_us / 4));
      if (engine.spec().connections[static_cast<std::size_t>(paths_.back().connection)].policy ==
          scheduler::Policy::kAuto) {
        tick_us_ = std::min(tick_us_, kEstimateIntervalUs / 4);
      }
    }
  }
  // Without signalling the timer only re-polls links reported down: 10 times a second.
  if (!any_enabled) tick_us_ = 100000;
}

int ControlLoop::local_index(std::size_t i) const {
  const engine::PathSpec& ps = engine_.spec().paths[i];
  const auto& ids = engine_.spec().connections[static_cast<std::size_t>(ps.connection)].paths;
  const auto it = std::find(ids.begin(), ids.end(), static_cast<int>(i));
  return static_cast<int>(it - ids.begin());
}

ControlLoop::Path ControlLoop::make_path(std::size_t i, std::uint64_t now) {
  const engine::PathSpec& ps = engine_.path(i).spec();
  Path p;
  p.worker = &engine_.path(i);
  p.connection = ps.connection;
  p.local_index = local_index(i);
  p.ifindex = static_cast<int>(if_nametoindex(ps.interface_name.c_str()));
  p.health = PathHealth(connections_[static_cast<std::size_t>(ps.connection)].cfg.health, now);
  p.usable = ps.up;
  p.weight = ps.weight;
  if (!ps.up) p.health.set_admin(false, now);
  if (!link_running(ps.interface_name)) p.health.on_link(false, now);
  return p;
}

void ControlLoop::reconfigure(std::vector<ConnectionControl> controls) {
  const std::uint64_t now = now_us();
  const auto& spec = engine_.spec();
  connections_.resize(std::max(connections_.size(), spec.connections.size()));
  for (std::size_t c = 0; c < connections_.size(); ++c) {
    Connection& conn = connections_[c];
    const bool active = c < spec.connections.size() && spec.connections[c].active &&
                        c < controls.size();
    if (!active) {
      conn.active = false;
      continue;
    }
    ConnectionControl& cc = controls[c];
    if (!conn.active || conn.cfg.name != cc.name) {
      conn = Connection{};  // a new connection (possibly in a freed slot)
      conn.cfg = std::move(cc);
      conn.active = true;
      make_security(conn);
      MPT_INFO("connection %s added", conn.cfg.name.c_str());
      continue;
    }
    const bool rekey = conn.cfg.pre_shared_key != cc.pre_shared_key ||
                       conn.cfg.enabled != cc.enabled || conn.cfg.cipher != cc.cipher;
    conn.cfg = std::move(cc);
    if (rekey) {
      // A new key: messages under the old one stop verifying; a fresh handshake.
      make_security(conn);
      conn.intake.reset();
      conn.established = false;
      conn.hello_sent_us = 0;
      conn.init_sent_us = 0;
    }
  }
  // Paths: kept ones keep their health (new intervals apply), new ones start unverified.
  std::vector<std::size_t> old_counts(connections_.size(), 0);
  for (const Path& p : paths_) {
    if (p.active && static_cast<std::size_t>(p.connection) < old_counts.size()) {
      ++old_counts[static_cast<std::size_t>(p.connection)];
    }
  }
  paths_.resize(std::max(paths_.size(), engine_.path_count()));
  std::vector<std::size_t> path_counts(connections_.size(), 0);
  for (std::size_t i = 0; i < paths_.size(); ++i) {
    Path& p = paths_[i];
    if (!engine_.has_path(i)) {
      p.active = false;
      p.worker = nullptr;
      continue;
    }
    const bool kept = p.active && p.worker == &engine_.path(i);
    if (kept) {
      p.local_index = local_index(i);
      p.health.set_params(connections_[static_cast<std::size_t>(p.connection)].cfg.health);
      // The data plane and this thread were paused for the reconfigure (100 ms in a
      // sanitizer build): silence during our own pause says nothing about the path.
      p.health.hold_silence(now);
      // The engine's scheduler was rebuilt from the configured weight and state: tell it
      // what the control plane knows (health, weights set at run time).
      engine_.set_path_usable(i, p.usable, p.weight);
    } else {
      p = make_path(i, now);
      Connection& conn = connections_[static_cast<std::size_t>(p.connection)];
      if (conn.cfg.enabled) p.health.start_unverified(now);
      p.usable = false;  // the engine starts it disabled: apply() below enables it if usable
      engine_.path(i).set_control_listener(true);
      conn.established = false;  // announce the new path count
      conn.hello_sent_us = 0;
    }
    ++path_counts[static_cast<std::size_t>(p.connection)];
    apply(i, now);
  }
  // The reorder stages may have been rebuilt (or remapped): what was sent to them is sent
  // again by the next derive_reorder_delays().
  for (Connection& conn : connections_) conn.reorder_delay_ns = conn.repair_wait_ns = 0;
  for (Path& p : paths_) {
    p.reorder_lag_floor_ns = 0;
    p.reorder_live = false;
  }
  for (std::size_t c = 0; c < connections_.size(); ++c) {
    if (connections_[c].active && connections_[c].secure && c < spec.connections.size()) {
      connections_[c].secure->set_paths(spec.connections[c].paths.size());
    }
  }
  // Removed paths: a connection with fewer paths announces itself again too.
  for (std::size_t c = 0; c < connections_.size(); ++c) {
    if (connections_[c].active && path_counts[c] != old_counts[c]) {
      connections_[c].established = false;
      connections_[c].hello_sent_us = 0;
    }
  }
  tick_us_ = 100000;
  for (std::size_t c = 0; c < connections_.size(); ++c) {
    const Connection& conn = connections_[c];
    if (conn.active && conn.cfg.enabled) {
      tick_us_ = std::min<std::uint64_t>(
          tick_us_, std::max<std::uint64_t>(1000, conn.cfg.health.probe_interval_us / 4));
      if (spec.connections[c].policy == scheduler::Policy::kAuto) {
        tick_us_ = std::min(tick_us_, kEstimateIntervalUs / 4);
      }
    }
  }
}

ControlLoop::~ControlLoop() {
  for (std::size_t i = 0; i < paths_.size(); ++i) {
    if (engine_.has_path(i)) engine_.path(i).set_control_listener(false);
  }
  timer_.cancel();
}

void ControlLoop::start() {
  const std::uint64_t now = now_us();
  for (std::size_t i = 0; i < paths_.size(); ++i) {
    if (!paths_[i].active) continue;
    engine_.path(i).set_control_listener(true);
    apply(i, now);
  }
  link_monitor_->start();
  arm_tick();
}

void ControlLoop::arm_tick() {
  timer_.expires_after(std::chrono::microseconds(tick_us_));
  timer_.async_wait([this](const boost::system::error_code& ec) {
    if (ec) return;
    tick();
    arm_tick();
  });
}

void ControlLoop::tick() {
  const std::uint64_t now = now_us();
  for (std::size_t c = 0; c < connections_.size(); ++c) {
    if (connections_[c].reorder_restart_pending) {
      connections_[c].reorder_restart_pending = !engine_.reorder_peer_restarted(c);
    }
  }
  derive_reorder_delays();
  send_hellos(now);
  for (std::size_t c = 0; c < connections_.size(); ++c) publish_keys(c);
  for (std::size_t k = 0; k < engine_.listener_count(); ++k) drain_listener(k, now);
  for (std::size_t i = 0; i < paths_.size(); ++i) {
    Path& p = paths_[i];
    if (!p.active) continue;
    const Connection& c = connections_[static_cast<std::size_t>(p.connection)];
    drain(i, now);
    // The data plane admits control messages of this session freely, others a few per
    // second (engine::PathWorker::set_peer_session): also new paths, after a reload or a new key.
    engine_.path(i).set_peer_session(c.secure ? c.secure->peer_session().value_or(0)
                                              : c.intake.peer_session().value_or(0));
    if (now - p.rate_at_us >= 1000000) {
      const std::uint64_t tx = engine::read(engine_.path(i).stats().tx_bytes);
      const std::uint64_t rx = engine::read(engine_.path(i).stats().rx_bytes);
      if (p.rate_at_us) {
        const double secs = static_cast<double>(now - p.rate_at_us) / 1e6;
        p.tx_mbps = static_cast<double>(tx - p.rate_tx_bytes) * 8 / secs / 1e6;
        p.rx_mbps = static_cast<double>(rx - p.rate_rx_bytes) * 8 / secs / 1e6;
      }
      p.rate_at_us = now;
      p.rate_tx_bytes = tx;
      p.rate_rx_bytes = rx;
    }
    // A link reported down is also re-read now and then: events can be lost (ENOBUFS).
    if (p.health.state() == HealthState::kLinkDown && now - p.last_link_poll_us >= 100000) {
      p.last_link_poll_us = now;
      if (link_running(engine_.path(i).spec().interface_name)) p.health.on_link(true, now);
    }
    if (!c.cfg.enabled) {
      apply(i, now);
      continue;
    }
    // Data arriving on the path is proof of life as good as a probe answer -- on a keyed
    // connection only data that opened and passed the replay window (a spoofer's or a
    // replayer's packets prove nothing).
    const std::uint64_t rx = engine::read(engine_.path(i).stats().rx_packets);
    const bool sealed = engine_.spec().connections[static_cast<std::size_t>(p.connection)].sealed;
    const std::uint64_t proof = sealed ? engine::read(engine_.path(i).stats().rx_accepted) : rx;
    if (proof != p.rx_seen) {
      p.rx_seen = proof;
      p.health.on_data_received(now);
    }
    const bool probing = p.health.state() != HealthState::kAdminDown &&
                         p.health.state() != HealthState::kLinkDown;
    if (probing && now - p.last_probe_sent_us >= probe_interval_us(i)) {
      ProbeBody body;
      body.tx_time_us = now;
      body.data_tx_packets = engine::read(engine_.path(i).stats().tx_packets);
      body.data_rx_packets = rx;
      body.data_tx_bytes = engine::read(engine_.path(i).stats().tx_bytes);
      body.data_rx_bytes = engine::read(engine_.path(i).stats().rx_bytes);
      p.sent[p.sent_next++ % p.sent.size()] = {now, body.data_tx_packets, body.data_tx_bytes};
      p.tx_seen = body.data_tx_packets;
      p.last_probe_sent_us = now;
      ++p.probes_sent;
      send(i, MessageType::kProbe, &body);
    }
    // Keyed, and no session keys yet (the handshake takes a round trip, and the peer may
    // start later): nothing can be heard on the path yet, so its silence is not judged --
    // declared dead now, it would sit out a hold-down once the peer is there.
    if (c.secure && !c.secure->established()) p.health.hold_silence(now);
    p.health.tick(now);
    apply(i, now);
  }
}

void ControlLoop::send(std::size_t i, MessageType type, const ProbeBody* probe,
                       const Message* extra) {
  Message m;
  m.header.type = type;
  if (probe) m.probe = *probe;
  if (extra) {
    m.path_status = extra->path_status;
    m.weight = extra->weight;
    m.hello = extra->hello;
  }
  transmit(i, m);
}

// Encodes `m` as its connection's mode wants it (handshake: HMAC under the PSK; keyed:
// sealed, dropped until the handshake has keys; unauthenticated: version 1) and sends it on
// path i's own socket.
void ControlLoop::transmit(std::size_t i, const Message& msg, const sockaddr* to,
                           socklen_t to_len) {
  Path& p = paths_[i];
  engine::PathWorker& w = engine_.path(i);
  sockaddr_storage peer;
  if (!to) {
    to_len = w.endpoint().load(peer);
    to = reinterpret_cast<const sockaddr*>(&peer);
  }
  // Nowhere to send yet: the peer's address is learned from its first authenticated
  // message, or the path waits for its interface (no socket).
  if (to_len == 0 || !w.has_sockets()) return;
  Connection& c = connections_[static_cast<std::size_t>(p.connection)];
  const engine::ConnectionSpec& cs = engine_.spec().connections[static_cast<std::size_t>(p.connection)];
  std::array<std::uint8_t, 256> buf{};
  engine::GreFields f;
  f.protocol = engine::kProtoMptControl;
  f.key = cs.gre_key;
  f.checksum = cs.gre_checksum;
  const std::size_t hs = engine::gre_header_size(f);
  const std::span<std::uint8_t> out{buf.data() + hs, buf.size() - hs};
  Message m = msg;
  const auto path = static_cast<std::uint16_t>(p.local_index);
  std::size_t n = 0;
  if (c.secure) {
    if (is_handshake(m.header.type)) {
      n = encode(m, c.secure->handshake_auth(), out);
    } else {
      n = c.secure->seal(m, path, out);  // 0 before the handshake: nothing goes out in clear
    }
  } else {
    m.header.session = session_;
    m.header.counter = c.next_counter++;
    m.header.path = path;
    n = encode(m, *c.auth, out);
  }
  if (n == 0) return;
  engine::encode_gre({buf.data(), hs + n}, f);
  // The path's own receive socket: same interface, addresses and ports as its data.
  (void)::sendto(w.control_socket(), buf.data(), hs + n, MSG_DONTWAIT, to, to_len);
}

// The adaptive scheduler's probe cadence: while a path carries data its estimate must follow
// the traffic (every kEstimateIntervalUs); an idle path is probed at the health interval.
std::uint64_t ControlLoop::probe_interval_us(std::size_t i) const {
  const Path& p = paths_[i];
  const ConnectionControl& cfg = connections_[static_cast<std::size_t>(p.connection)].cfg;
  std::uint64_t health = cfg.health.probe_interval_us;
  if (cfg.keepalive_us > 0) health = std::min(health, cfg.keepalive_us);
  if (p.health.joining()) health = std::min(health, PathHealth::kJoinProbeUs);
  if (engine_.spec().connections[static_cast<std::size_t>(p.connection)].policy !=
      scheduler::Policy::kAuto) {
    return health;
  }
  const std::uint64_t tx = engine::read(engine_.path(i).stats().tx_packets);
  return tx != p.tx_seen ? std::min(health, kEstimateIntervalUs) : health;
}

void ControlLoop::publish_estimate(std::size_t i) {
  const Path& p = paths_[i];
  if (!p.estimator.has_rtt()) return;
  engine::PathWorker::Estimate e;
  e.rate_bps = p.estimator.rate_bps();
  e.one_way_delay_ns = p.estimator.one_way_delay_us() * 1000;
  e.queue_ns = p.estimator.queue_delay_us() * 1000;
  // A path that loses data costs every inner flow that uses it (in a tunnel, path loss is
  // inner loss; shared/reference/schedulers.md §3): above kLossDemote it is left idle while
  // the other paths can carry the traffic (its packets would arrive a second late). With
  // repair on, a lost packet costs the inner flow a round trip on the best path instead, so
  // only a path that loses a lot (kLossDemoteRepaired: the repairs' own capacity and delay)
  // is left idle.
  const engine::ConnectionSpec& cs = engine_.spec().connections[static_cast<std::size_t>(p.connection)];
  const double demote = cs.repair && cs.paths.size() > 1 ? scheduler::PathEstimator::kLossDemoteRepaired
                                                         : scheduler::PathEstimator::kLossDemote;
  if (p.estimator.loss() >= demote) e.penalty_ns = 1000000000;
  if (cs.pacing && cs.policy == scheduler::Policy::kAuto) {
    e.pace_target_ns = p.estimator.pace_target_us(now_us()) * 1000;
  }
  engine_.path(i).publish_estimate(e);
}

void ControlLoop::apply(std::size_t i, std::uint64_t now) {
  Path& p = paths_[i];
  const bool usable = p.health.usable();
  if (usable == p.usable) return;
  p.usable = usable;
  if (usable) {
    // Back from an outage or an admin change: capacity and delay may differ now.
    p.estimator.reset();
    publish_estimate(i);
  }
  const engine::PathSpec& ps = engine_.path(i).spec();
  engine_.set_path_usable(i, usable, p.weight);
  MPT_INFO("path %s is %s (%s)", ps.name.c_str(), usable ? "up" : "down",
           to_string(p.health.state()));
  (void)now;
}

void ControlLoop::on_link(int ifindex, bool up) {
  const std::uint64_t now = now_us();
  for (std::size_t i = 0; i < paths_.size(); ++i) {
    if (!paths_[i].active || paths_[i].ifindex != ifindex) continue;
    const HealthState before = paths_[i].health.state();
    paths_[i].health.on_link(up, now);
    if (paths_[i].health.state() != before) {
      apply(i, now);
      if (before == HealthState::kUp && !up) tell_path_lost(i);
    }
  }
}

}  // namespace mpt::signaling
