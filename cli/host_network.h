// Glue between the configuration and the host: builds the engine's TunnelSpec from a loaded
// Config, and configures the TUN device, its addresses and the routes mptd installs -- and
// removes exactly the routes it added on shutdown. Main thread only, start-up and shutdown.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "cli/config.h"
#include "engine/netlink.h"
#include "engine/tunnel_spec.h"

namespace mpt::cli {

// Translates the connections (with tun `tun`) into a TunnelSpec, as the host is now: an
// unset private_ipaddr is the path interface's first address of the path's family. A path
// whose interface does not exist or lacks the address waits (PathSpec::waiting, no local
// address): mptd builds the spec again when links or addresses change (cli/mptd.cpp,
// PathResolver) and the reload machinery swaps the waiting path for one with sockets.
[[nodiscard]] engine::TunnelSpec build_tunnel_spec(
    const config::TunConfig& tun, const std::vector<config::ConnectionConfig>& connections);

[[nodiscard]] engine::IpNet to_ipnet(const config::IpAddress& a, int prefix_len);

class HostNetwork {
 public:
  HostNetwork() = default;
  ~HostNetwork();  // removes the routes added by this object
  HostNetwork(const HostNetwork&) = delete;
  HostNetwork& operator=(const HostNetwork&) = delete;

  // MTU, link up and addresses of the TUN device. Throws std::system_error naming the
  // object that could not be configured.
  void configure_tun(int tun_ifindex, const config::TunConfig& tun);
  // Routes to the peer tunnel address and the [net_N] networks through the TUN; host routes
  // to each path's peer via its gateway. Throws like configure_tun.
  void add_connection_routes(int tun_ifindex, const config::TunConfig& tun,
                             const config::ConnectionConfig& conn);
  // `mpt reload`: makes the routes of `conn` what its configuration asks for now -- adds the
  // missing ones, removes those it added before that are no longer asked for, leaves the
  // rest alone (no moment without a route). Throws like configure_tun.
  void sync_connection_routes(int tun_ifindex, const config::TunConfig& tun,
                              const config::ConnectionConfig& conn);
  // Removes the routes added for connection `name` (a reload removed it).
  void remove_connection_routes(const std::string& name);
  void remove_routes();

 private:
  struct Route {
    engine::IpNet dst;
    int oif;
    std::optional<engine::IpNet> gateway;
    std::string owner;  // connection name
    std::string what;   // for the log
  };
  [[nodiscard]] static std::vector<Route> connection_routes(int tun_ifindex,
                                                            const config::TunConfig& tun,
                                                            const config::ConnectionConfig& conn);
  [[nodiscard]] static bool same_route(const Route& a, const Route& b);
  void add_route(const Route& r);
  void del_route(const Route& r);

  engine::Netlink nl_;
  std::vector<Route> added_;
};

}  // namespace mpt::cli
