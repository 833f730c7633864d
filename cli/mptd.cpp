// mptd: the mpt daemon. Loads an MPT-layout configuration directory, creates the TUN device,
// its addresses and routes (netlink), starts the data plane (engine/) and serves the local
// control socket (and, with --metrics, a Prometheus endpoint) on the Asio control thread (this
// program's main thread) until SIGINT or SIGTERM; then stops the data plane and removes every
// route it added. SIGHUP reloads, as `mpt reload` does. Under systemd (Type=notify) it says
// READY once the tunnel runs, RELOADING/READY around a reload and STOPPING at the end.
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/program_options.hpp>
#include <algorithm>
#include <cstdio>
#include <fstream>
#include <functional>
#include <iostream>
#include <memory>
#include <optional>
#include <sstream>

#include "cli/config.h"
#include "cli/config_save.h"
#include "cli/control_socket_paths.h"
#include "cli/host_network.h"
#include "cli/path_resolver.h"
#include "cli/reload_plan.h"
#include "cli/tunnel_mtu.h"
#include "engine/engine.h"
#include "engine/log.h"
#include "engine/tun_device.h"
#include "signaling/control_command.h"
#include "signaling/control_loop.h"
#include "signaling/control_server.h"
#include "signaling/metrics_render.h"
#include "signaling/metrics_server.h"
#include "signaling/status_render.h"

#include <systemd/sd-daemon.h>

namespace po = boost::program_options;

namespace {


std::optional<mpt::LogLevel> parse_level(const std::string& s) {
  if (s == "error") return mpt::LogLevel::kError;
  if (s == "warn" || s == "warning") return mpt::LogLevel::kWarn;
  if (s == "info") return mpt::LogLevel::kInfo;
  if (s == "debug") return mpt::LogLevel::kDebug;
  return std::nullopt;
}

// Signalling settings per connection from the configuration (docs/configuration.md).
std::vector<mpt::signaling::ConnectionControl> control_settings(const mpt::config::Config& cfg) {
  std::vector<mpt::signaling::ConnectionControl> out;
  for (const auto& c : cfg.connections) {
    mpt::signaling::ConnectionControl cc;
    cc.name = c.name;
    cc.pre_shared_key = c.control_auth == "hmac" ? c.auth_key : "";
    cc.enabled = c.control_auth != "off" && (!c.auth_key.empty() || c.control_auth == "none");
    cc.cipher = c.cipher == "aes-256-gcm"         ? mpt::engine::Cipher::kAes256Gcm
                : c.cipher == "chacha20-poly1305" ? mpt::engine::Cipher::kChaCha20Poly1305
                                                  : mpt::engine::default_cipher();
    cc.rekey_us = static_cast<std::uint64_t>(c.rekey_after_s) * 1000000;
    int keepalive_s = 0, dead_s = 0;
    for (const auto& p : c.paths) {
      if (p.keepalive_time_s > 0 && (keepalive_s == 0 || p.keepalive_time_s < keepalive_s)) {
        keepalive_s = p.keepalive_time_s;
        dead_s = p.dead_time_s;
      }
    }
    const int interval_ms = c.probe_interval_ms ? c.probe_interval_ms
                            : keepalive_s      ? keepalive_s * 1000
                                               : 1000;
    int misses = c.dead_misses;
    if (misses == 0) misses = keepalive_s && dead_s ? std::max(1, dead_s / keepalive_s) : 3;
    cc.health.probe_interval_us = static_cast<std::uint64_t>(interval_ms) * 1000;
    cc.health.dead_misses = static_cast<std::uint32_t>(misses);
    cc.health.hold_down_us = static_cast<std::uint64_t>(c.hold_down_ms) * 1000;
    cc.keepalive_us = static_cast<std::uint64_t>(c.nat_keepalive_s) * 1000000;
    if (c.control_auth == "off") {
      MPT_WARN("%s: plain RFC 8086 (control_auth = off): the wire is neither authenticated nor "
               "encrypted, and there is no signalling: paths are up while their link is up",
               c.file.c_str());
    } else if (!cc.enabled) {
      MPT_WARN("%s: no auth_key: path probes and failover are off (set auth_key, or "
               "control_auth = none to run them unauthenticated)", c.file.c_str());
    } else if (cc.pre_shared_key.empty()) {
      MPT_WARN("%s: control_auth = none: control messages are not authenticated",
               c.file.c_str());
    }
    out.push_back(std::move(cc));
  }
  return out;
}

// What `mpt reload` works on: the running configuration and everything it shaped.
struct Running {
  mpt::config::Config config;
  mpt::engine::Engine& engine;
  mpt::signaling::ControlLoop& loop;
  mpt::cli::HostNetwork& host;
  int tun_ifindex;
};

std::string apply(Running& r, mpt::config::Config fresh_config, bool from_files);

// `mpt reload`: re-reads the configuration directory and applies it while the tunnel runs
// (docs/configuration.md, "Reloading"). Paths and connections that stay keep running
// untouched -- same sockets, health, counters, sequence numbers; added ones start, removed
// ones stop after handing their queued packets to the paths that remain; weights and states
// are applied and told to the peer. Nothing is applied if the files have errors or a new
// path names an interface that does not exist. A TUN change (name, MTU, queues, addresses)
// is refused: it needs a restart.
std::string reload(Running& r) {
  using namespace mpt;
  config::LoadResult fresh = config::load_config_dir(r.config.dir);
  std::string errors;
  for (const auto& d : fresh.diagnostics) {
    if (d.severity == config::Diagnostic::Severity::kError) errors += d.to_string() + "\n";
  }
  if (!errors.empty()) return "error: configuration has errors, nothing applied:\n" + errors;
  const config::TunConfig& ta = r.config.interface.tuns.at(0);
  const config::TunConfig& tb = fresh.config.interface.tuns.at(0);
  auto same_prefix = [](const std::optional<config::IpPrefix>& a,
                        const std::optional<config::IpPrefix>& b) {
    return a.has_value() == b.has_value() &&
           (!a || (a->addr == b->addr && a->prefix_len == b->prefix_len));
  };
  if (ta.name != tb.name || ta.mtu != tb.mtu || ta.queues != tb.queues ||
      !same_prefix(ta.ipv4_addr, tb.ipv4_addr) || !same_prefix(ta.ipv6_addr, tb.ipv6_addr)) {
    return "error: the TUN device (name, mtu, queues or addresses in interface.conf) changed: "
           "restart mptd to apply it (nothing applied)\n";
  }
  return apply(r, std::move(fresh.config), true);
}

// Applies `fresh` (the configuration as `mpt reload` read it, or the running one when the
// host's interfaces changed) to the running tunnel. from_files: an operator's reload --
// paths that go are taken down and the peer is told; otherwise (PathResolver) a path that
// goes lost its interface or address, which the peer finds out from its probes like any
// broken link, and its replacement starts unverified.
std::string apply(Running& r, mpt::config::Config fresh_config, bool from_files) {
  using namespace mpt;
  const config::TunConfig& tb = fresh_config.interface.tuns.at(0);
  const engine::TunnelSpec fresh_spec = cli::build_tunnel_spec(tb, fresh_config.connections);
  const engine::TunnelSpec before = r.engine.spec();
  cli::ReloadPlan plan = cli::plan_reload(before, fresh_spec);
  if (!from_files && !plan.structural()) return {};
  // 1. Paths about to go: administratively down, the peer told (an operator's reload only:
  //    a path that lost its interface is found out by the peer's probes).
  for (const cli::ReloadPlan::PathRef& p : plan.leaving) {
    if (from_files) (void)r.loop.set_admin(p.connection, p.local, false);
  }
  // 2. The data plane.
  std::vector<std::string> failed;
  if (plan.structural()) failed = r.engine.reconfigure(plan.next);
  if (tb.mtu == 0) {
    // The MTU was chosen at start and stays (a TUN change needs a restart): say so when a
    // path now carries less in one datagram (the kernel fragments what does not fit).
    const cli::AutoMtu m = cli::auto_tunnel_mtu(r.engine.spec(), tb.queues, cli::interface_mtu,
                                                config::kMinMtu, config::kMaxMtu);
    if (!m.limited_by.empty() && m.mtu < r.engine.spec().mtu) {
      MPT_WARN("%s carries inner packets of at most %d bytes in one datagram, less than the "
               "tunnel's mtu %d: larger ones will be fragmented (restart mptd to lower it)",
               m.limited_by.c_str(), m.mtu, r.engine.spec().mtu);
    }
  }
  // 3. The control plane follows the engine's slots (keys, probe intervals, hold-down).
  const auto fresh_controls = control_settings(fresh_config);
  std::vector<signaling::ConnectionControl> controls(r.engine.spec().connections.size());
  for (std::size_t c = 0; c < plan.connection_slot.size(); ++c) {
    controls[static_cast<std::size_t>(plan.connection_slot[c])] = fresh_controls[c];
  }
  r.loop.reconfigure(controls);
  // 4. Routes: added and changed connections get theirs, removed ones lose theirs.
  std::string route_errors;
  for (const config::ConnectionConfig& conn : fresh_config.connections) {
    try {
      r.host.sync_connection_routes(r.tun_ifindex, tb, conn);
    } catch (const std::system_error& e) {
      route_errors += std::string("error: ") + e.what() + "\n";
    }
  }
  for (const std::string& name : plan.removed_connections) r.host.remove_connection_routes(name);
  // 5. Weights and administrative states of paths that stayed: applied, told to the peer.
  int applied = static_cast<int>(plan.changes.size());
  std::string out;
  for (const cli::ReloadPlan::PathUpdate& u : plan.updates) {
    if (!r.engine.has_path(u.path.slot)) continue;
    if (u.weight != u.old_weight) {
      const std::string e = r.loop.set_weight(u.path.connection, u.path.local, u.weight);
      if (!e.empty()) out += "error: " + e + "\n";
      ++applied;
      out += "  weight of " + u.path.name + ": " + std::to_string(u.old_weight) + " -> " +
             std::to_string(u.weight) + "\n";
    }
    if (u.up != u.old_up) {
      const std::string e = r.loop.set_admin(u.path.connection, u.path.local, u.up);
      if (!e.empty()) out += "error: " + e + "\n";
      ++applied;
      out += "  " + u.path.name + (u.up ? " administratively up\n" : " administratively down\n");
    }
    r.engine.note_configured(u.path.slot, u.weight, u.up);
  }
  for (const std::string& c : plan.changes) out = "  " + c + "\n" + out;
  for (const std::string& f : failed) out += "error: path " + f + " (left out)\n";
  out += route_errors;
  r.config = std::move(fresh_config);
  const bool ok = failed.empty() && route_errors.empty();
  return (ok ? "ok: " : "partly applied: ") + std::to_string(applied) + " change(s) applied\n" + out;
}

// `mpt save`: the running weight and administrative state of every path written back into
// its connection file ([path_N] weight_out and status; cli/config_save.h), each file
// rewritten only when it changes. The running configuration and the engine's record of it
// then hold the saved values, so that a `mpt reload` of the saved files changes nothing.
// Server-mode clients are skipped: their paths are conf.template's, shared by every client.
std::string save(Running& r) {
  using namespace mpt;
  std::string saved, skipped, errors;
  int files = 0, failed = 0;
  const engine::TunnelSpec& spec = r.engine.spec();
  for (config::ConnectionConfig& conn : r.config.connections) {
    if (conn.server_client) {
      skipped += "  skipped server-mode client " + conn.name +
                 ": its paths are connections/conf.template's, shared by every client\n";
      continue;
    }
    const auto cs = std::find_if(spec.connections.begin(), spec.connections.end(),
                                 [&](const engine::ConnectionSpec& c) {
                                   return c.active && c.name == conn.name;
                                 });
    std::vector<std::optional<cli::PathRuntime>> runtime(conn.paths.size());
    for (std::size_t k = 0; cs != spec.connections.end() && k < conn.paths.size() &&
                            k < cs->paths.size(); ++k) {
      if (const auto st = r.loop.operator_state(conn.name, static_cast<int>(k))) {
        runtime[k] = cli::PathRuntime{st->weight, st->down};
      }
    }
    std::ifstream in(conn.file, std::ios::binary);
    std::ostringstream text;
    text << in.rdbuf();
    if (!in) {
      errors += "  " + conn.file + ": cannot read it (not saved)\n";
      ++failed;
      continue;
    }
    const cli::ConnectionSave plan =
        cli::plan_connection_save(text.str(), conn.file, conn, runtime);
    std::string error = plan.error;
    if (error.empty() && plan.changed) error = cli::write_file_atomically(conn.file, plan.text);
    if (!error.empty()) {
      errors += "  " + conn.file + ": " + error + " (not saved)\n";
      ++failed;
      continue;
    }
    if (plan.changed) {
      ++files;
      saved += "  " + conn.file + ":";
      for (std::size_t i = 0; i < plan.changes.size(); ++i) {
        saved += (i ? ", " : " ") + plan.changes[i];
      }
      saved += "\n";
    }
    for (std::size_t k = 0; k < runtime.size(); ++k) {
      if (!runtime[k]) continue;
      conn.paths[k].weight_out = static_cast<int>(runtime[k]->weight);
      conn.paths[k].status = runtime[k]->down ? 128 : 0;
      r.engine.note_configured(static_cast<std::size_t>(cs->paths[k]), runtime[k]->weight,
                               !runtime[k]->down);
    }
  }
  std::string head = "saved " + std::to_string(files) + " file(s)";
  if (failed) {
    return "error: " + head + ", " + std::to_string(failed) + " not saved\n" + saved + errors +
           skipped;
  }
  if (files == 0) head += " (the files already hold the running weights and states)";
  return "ok: " + head + "\n" + saved + skipped;
}

int run_daemon(const mpt::config::Config& cfg, const std::string& socket_path, bool offload,
               bool pin_cpus, const std::optional<boost::asio::ip::tcp::endpoint>& metrics_at) {
  using namespace mpt;
  // A copy: an automatic mtu is resolved here, once (the running configuration keeps "auto",
  // so a reload compares like with like).
  config::TunConfig tun = cfg.interface.tuns.at(0);
  auto spec = cli::build_tunnel_spec(tun, cfg.connections);
  std::string mtu_origin;  // for `mpt status`: empty when configured
  if (tun.mtu == 0) {
    const int lo = tun.ipv6_addr ? config::kMinMtuIpv6 : config::kMinMtu;
    const cli::AutoMtu m =
        cli::auto_tunnel_mtu(spec, tun.queues, cli::interface_mtu, lo, config::kMaxMtu);
    tun.mtu = m.mtu;
    spec.mtu = m.mtu;
    mtu_origin = m.limited_by.empty() ? "auto: no path interface known at start"
                                      : "auto: limited by " + m.limited_by;
    if (m.limited_by.empty()) {
      MPT_INFO("mtu %d: automatic, and no path's interface is known yet (the default)", m.mtu);
    } else {
      MPT_INFO("mtu %d: automatic, the largest that every path carries; limited by %s", m.mtu,
               m.limited_by.c_str());
    }
  } else {
    // A configured MTU is used as it is; a path that cannot carry it in one datagram is named
    // (its full-size packets are fragmented, or fail to send with UDP GSO).
    const cli::AutoMtu m = cli::auto_tunnel_mtu(spec, tun.queues, cli::interface_mtu,
                                                config::kMinMtu, config::kMaxMtu);
    if (!m.limited_by.empty() && m.mtu < tun.mtu) {
      MPT_WARN("mtu %d (configured) does not fit %s in one datagram: its full-size packets will "
               "be fragmented or fail to send; set mtu = auto, or at most %d", tun.mtu,
               m.limited_by.c_str(), m.mtu);
    }
  }
  for (const auto& p : spec.paths) {
    if (!p.waiting.empty()) {
      MPT_INFO("%s waits: %s (it joins when that changes)", p.name.c_str(), p.waiting.c_str());
    }
  }
  boost::asio::io_context io;
  try {
    engine::TunDevice tun_dev(tun.name, tun.queues, offload);
    cli::HostNetwork host;
    host.configure_tun(tun_dev.ifindex(), tun);
    for (const config::ConnectionConfig& conn : cfg.connections) {
      host.add_connection_routes(tun_dev.ifindex(), tun, conn);
    }
    std::vector<int> tun_fds;
    for (int q = 0; q < tun_dev.queue_count(); ++q) tun_fds.push_back(tun_dev.queue_fd(q));
    engine::Engine engine(spec, tun_fds, tun_dev.vnet_hdr());
    signaling::ControlLoop control_loop(io, engine, control_settings(cfg));
    Running running{cfg, engine, control_loop, host, tun_dev.ifindex()};
    auto snapshot = [&] {
      return signaling::StatusSnapshot{tun_dev.name(), mtu_origin, engine.snapshot(),
                                       control_loop.snapshot()};
    };
    signaling::ControlServer control(io, socket_path, [&](const std::string& req) {
      const signaling::CommandParse parsed = signaling::parse_command(req);
      if (!parsed.ok) return "error: " + parsed.error + "\n";
      const signaling::Command& c = parsed.command;
      std::string err;
      switch (c.verb) {
        case signaling::Command::Verb::kStatusJson: {
          // Built with a JSON library: names from the configuration are escaped.
          return signaling::render_status_json(snapshot())
                     .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
        }
        case signaling::Command::Verb::kStatus:
          return signaling::render_status_text(snapshot());
        case signaling::Command::Verb::kReload:
          return reload(running);
        case signaling::Command::Verb::kSave:
          return save(running);
        case signaling::Command::Verb::kPathAdmin:
          err = control_loop.set_admin(c.name, c.path, c.up);
          break;
        case signaling::Command::Verb::kPathWeight:
          err = control_loop.set_weight(c.name, c.path, c.weight);
          break;
        case signaling::Command::Verb::kInterfaceAdmin:
          err = control_loop.set_interface_admin(c.name, c.up);
          break;
      }
      return err.empty() ? std::string("ok\n") : "error: " + err + "\n";
    });
    // Interfaces that come and go: a path waits for its interface and address, joins when
    // they appear, and is replaced when they change or go.
    cli::PathResolver resolver(io, [&running] {
      const std::string out = apply(running, running.config, false);
      if (!out.empty()) MPT_INFO("interfaces changed: %s", out.c_str());
    });
    std::optional<signaling::MetricsServer> metrics;
    if (metrics_at) {
      metrics.emplace(io, *metrics_at, [&] { return signaling::render_metrics(snapshot()); });
    }
    boost::asio::signal_set signals(io, SIGINT, SIGTERM);
    signals.async_wait([&](const boost::system::error_code& ec, int sig) {
      if (!ec) MPT_INFO("signal %d: shutting down", sig);
      sd_notify(0, "STOPPING=1");
      io.stop();
    });
    // SIGHUP: `mpt reload` (systemd's ExecReload sends it).
    boost::asio::signal_set hangup(io, SIGHUP);
    std::function<void()> arm_hangup = [&] {
      hangup.async_wait([&](const boost::system::error_code& ec, int) {
        if (ec) return;
        sd_notify(0, "RELOADING=1");
        const std::string out = reload(running);
        if (out.rfind("ok", 0) == 0) {
          MPT_INFO("SIGHUP: %s", out.c_str());
        } else {
          MPT_ERROR("SIGHUP: %s", out.c_str());
        }
        sd_notify(0, "READY=1");
        arm_hangup();
      });
    };
    arm_hangup();
    engine.start(pin_cpus);
    control_loop.start();
    MPT_INFO("tunnel %s up: %zu connection(s), %zu path(s), mtu %d, %d queue(s), offloads 0x%x, "
             "control socket %s", tun_dev.name().c_str(), spec.connections.size(),
             spec.paths.size(), tun.mtu, tun.queues, tun_dev.offload_flags(),
             socket_path.c_str());
    if (metrics) {
      const auto at = metrics->local_endpoint();
      MPT_INFO("metrics on http://%s:%u/metrics", at.address().to_string().c_str(), at.port());
    }
    // The TUN device, its routes, the sockets and the data plane are up (systemd Type=notify).
    sd_notifyf(0, "READY=1\nSTATUS=tunnel %s: %zu connection(s), %zu path(s)",
               tun_dev.name().c_str(), spec.connections.size(), spec.paths.size());
    io.run();
    engine.stop();
    host.remove_routes();
    MPT_INFO("stopped; TUN device %s released", tun_dev.name().c_str());
  } catch (const std::exception& e) {
    // Any exception, not only system_error (boost's own, bad_alloc, a defect): the unwinding
    // has destroyed the engine, the host network object (its routes) and the TUN device.
    MPT_ERROR("%s", e.what());
    return 1;
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::string dir, socket_path, level, metrics_text;
  po::options_description desc("Usage: mptd --config DIR [--check] [options]\nOptions");
  desc.add_options()
      ("help,h", "show this help")
      ("config,c", po::value<std::string>(&dir), "MPT configuration directory "
       "(interface.conf and connections/*.conf)")
      ("check", "validate the configuration and exit (non-zero on any error)")
      ("socket,s", po::value<std::string>(&socket_path),
       "control socket path (root only; default: /run/mpt/<tun name>.sock, the directory "
       "from MPT_RUN_DIR when set)")
      ("log-level,l", po::value<std::string>(&level)->default_value("info"),
       "error, warn, info or debug")
      ("no-offload", "do not use TUN offloads (virtio header, TSO/USO, GSO writes)")
      ("pin-cpus", "bind each data-plane thread to one CPU: round robin, except that with at "
                  "least as many TUN queues as CPUs queue q's reader and writer share CPU q mod n")
      ("metrics", po::value<std::string>(&metrics_text),
       "serve Prometheus metrics on http://ADDR:PORT/metrics (PORT alone: 127.0.0.1; "
       "[V6ADDR]:PORT for IPv6); off by default");
  po::variables_map vm;
  try {
    po::store(po::parse_command_line(argc, argv, desc), vm);
    po::notify(vm);
  } catch (const po::error& e) {
    std::fprintf(stderr, "mptd: %s\n%s", e.what(), "Try 'mptd --help'.\n");
    return 2;
  }
  if (vm.count("help")) {
    std::cout << desc << "\n";
    return 0;
  }
  if (dir.empty()) {
    std::fprintf(stderr, "mptd: --config DIR is required\nTry 'mptd --help'.\n");
    return 2;
  }
  auto lvl = parse_level(level);
  if (!lvl) {
    std::fprintf(stderr, "mptd: unknown --log-level '%s'\n", level.c_str());
    return 2;
  }
  mpt::set_log_level(*lvl);
  std::optional<boost::asio::ip::tcp::endpoint> metrics_at;
  if (!metrics_text.empty()) {
    std::string error;
    metrics_at = mpt::signaling::parse_listen_address(metrics_text, error);
    if (!metrics_at) {
      std::fprintf(stderr, "mptd: --metrics %s\n", error.c_str());
      return 2;
    }
  }

  const mpt::config::LoadResult loaded = mpt::config::load_config_dir(dir);
  for (const auto& d : loaded.diagnostics) std::fprintf(stderr, "%s\n", d.to_string().c_str());
  if (!loaded.ok()) {
    std::fprintf(stderr, "mptd: configuration in %s has errors\n", dir.c_str());
    return 1;
  }
  if (vm.count("check")) {
    std::printf("configuration in %s is valid (%zu connection(s))\n", dir.c_str(),
                loaded.config.connections.size());
    return 0;
  }
  // One socket per tunnel, named after its TUN device (as wg's): two mptd on one host do
  // not collide, and `mpt -i NAME` finds each.
  if (socket_path.empty()) {
    const auto& tuns = loaded.config.interface.tuns;
    socket_path = mpt::cli::tunnel_socket(tuns.empty() ? std::string("tun0") : tuns.front().name);
  }
  return run_daemon(loaded.config, socket_path, vm.count("no-offload") == 0,
                    vm.count("pin-cpus") > 0, metrics_at);
}
