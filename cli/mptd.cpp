// mptd: the mpt daemon. Loads an MPT-layout configuration directory, creates the TUN device,
// its addresses and routes (netlink), starts the data plane (engine/) and serves the local
// control socket on the Asio control thread (this program's main thread) until SIGINT or
// SIGTERM; then stops the data plane and removes every route it added.
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/program_options.hpp>
#include <cstdio>
#include <iostream>
#include <memory>
#include <optional>

#include "cli/config.h"
#include "cli/host_network.h"
#include "engine/engine.h"
#include "engine/log.h"
#include "engine/tun_device.h"
#include "signaling/control_server.h"

namespace po = boost::program_options;

namespace {

constexpr const char* kDefaultSocket = "/run/mpt/mptd.sock";

std::optional<mpt::LogLevel> parse_level(const std::string& s) {
  if (s == "error") return mpt::LogLevel::kError;
  if (s == "warn" || s == "warning") return mpt::LogLevel::kWarn;
  if (s == "info") return mpt::LogLevel::kInfo;
  if (s == "debug") return mpt::LogLevel::kDebug;
  return std::nullopt;
}

int run_daemon(const mpt::config::Config& cfg, const std::string& socket_path, bool offload,
               bool pin_cpus) {
  using namespace mpt;
  const config::TunConfig& tun = cfg.interface.tuns.at(0);
  std::string error;
  auto spec = cli::build_tunnel_spec(tun, cfg.connections, error);
  if (!spec) {
    MPT_ERROR("%s", error.c_str());
    return 1;
  }
  boost::asio::io_context io;
  try {
    engine::TunDevice tun_dev(tun.name, 1, offload);
    cli::HostNetwork host;
    host.configure_tun(tun_dev.ifindex(), tun);
    for (const config::ConnectionConfig& conn : cfg.connections) {
      host.add_connection_routes(tun_dev.ifindex(), tun, conn);
    }
    engine::Engine engine(*spec, tun_dev.queue_fd(0), tun_dev.queue_fd(0), tun_dev.vnet_hdr());
    signaling::ControlServer control(io, socket_path, [&](const std::string& req) {
      if (req == "status --json" || req == "status json") return engine.status_json() + "\n";
      if (req == "status" || req == "show status") return engine.status_text();
      return std::string("error: unknown request '") + req.substr(0, 64) + "'\n";
    });
    boost::asio::signal_set signals(io, SIGINT, SIGTERM);
    signals.async_wait([&](const boost::system::error_code& ec, int sig) {
      if (!ec) MPT_INFO("signal %d: shutting down", sig);
      io.stop();
    });
    engine.start(pin_cpus);
    MPT_INFO("tunnel %s up: %zu connection(s), %zu path(s), mtu %d, offloads 0x%x, control "
             "socket %s", tun_dev.name().c_str(), spec->connections.size(), spec->paths.size(),
             tun.mtu, tun_dev.offload_flags(), socket_path.c_str());
    io.run();
    engine.stop();
    host.remove_routes();
    MPT_INFO("stopped; TUN device %s released", tun_dev.name().c_str());
  } catch (const std::system_error& e) {
    MPT_ERROR("%s", e.what());
    return 1;
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::string dir, socket_path, level;
  po::options_description desc("Usage: mptd --config DIR [--check] [options]\nOptions");
  desc.add_options()
      ("help,h", "show this help")
      ("config,c", po::value<std::string>(&dir), "MPT configuration directory "
       "(interface.conf and connections/*.conf)")
      ("check", "validate the configuration and exit (non-zero on any error)")
      ("socket,s", po::value<std::string>(&socket_path)->default_value(kDefaultSocket),
       "control socket path (root only)")
      ("log-level,l", po::value<std::string>(&level)->default_value("info"),
       "error, warn, info or debug")
      ("no-offload", "do not use TUN offloads (virtio header, TSO/USO, GSO writes)")
      ("pin-cpus", "bind each data-plane thread to one CPU (round robin)");
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
  return run_daemon(loaded.config, socket_path, vm.count("no-offload") == 0,
                    vm.count("pin-cpus") > 0);
}
