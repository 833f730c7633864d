#include "cli/host_network.h"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <net/if.h>

#include <cstring>
#include <system_error>

#include "engine/gre_udp.h"
#include "engine/log.h"
#include "scheduler/path_chooser.h"

namespace mpt::cli {
namespace {

bool in_prefix(const config::IpAddress& a, const config::IpPrefix& p) {
  if (a.family != p.addr.family) return false;
  const std::uint8_t* x = a.bytes();
  const std::uint8_t* y = p.addr.bytes();
  int bits = p.prefix_len;
  for (int i = 0; bits > 0; ++i, bits -= 8) {
    const std::uint8_t mask = bits >= 8 ? 0xFF : static_cast<std::uint8_t>(0xFF << (8 - bits));
    if ((x[i] & mask) != (y[i] & mask)) return false;
  }
  return true;
}

std::optional<config::IpAddress> interface_address(const std::string& ifname, int family) {
  ifaddrs* list = nullptr;
  if (getifaddrs(&list) < 0) return std::nullopt;
  std::optional<config::IpAddress> found;
  for (ifaddrs* i = list; i && !found; i = i->ifa_next) {
    if (!i->ifa_addr || ifname != i->ifa_name || i->ifa_addr->sa_family != family) continue;
    config::IpAddress a;
    a.family = family;
    if (family == AF_INET) {
      a.v4 = reinterpret_cast<sockaddr_in*>(i->ifa_addr)->sin_addr;
    } else {
      const auto* s6 = reinterpret_cast<sockaddr_in6*>(i->ifa_addr);
      if (IN6_IS_ADDR_LINKLOCAL(&s6->sin6_addr)) continue;
      a.v6 = s6->sin6_addr;
    }
    found = a;
  }
  freeifaddrs(list);
  return found;
}

// Whether `ifname` has address `want` now.
bool interface_has_address(const std::string& ifname, const config::IpAddress& want) {
  ifaddrs* list = nullptr;
  if (getifaddrs(&list) < 0) return true;  // cannot tell: let bind() decide
  bool found = false;
  for (ifaddrs* i = list; i && !found; i = i->ifa_next) {
    if (!i->ifa_addr || ifname != i->ifa_name || i->ifa_addr->sa_family != want.family) continue;
    if (want.family == AF_INET) {
      found = reinterpret_cast<sockaddr_in*>(i->ifa_addr)->sin_addr.s_addr == want.v4.s_addr;
    } else {
      found = std::memcmp(&reinterpret_cast<sockaddr_in6*>(i->ifa_addr)->sin6_addr, &want.v6,
                          sizeof want.v6) == 0;
    }
  }
  freeifaddrs(list);
  return found;
}

void fill_sockaddr(const config::IpAddress& a, std::uint16_t port, sockaddr_storage& out,
                   socklen_t& len) {
  out = sockaddr_storage{};
  if (a.family == AF_INET) {
    auto& s = reinterpret_cast<sockaddr_in&>(out);
    s.sin_family = AF_INET;
    s.sin_addr = a.v4;
    s.sin_port = htons(port);
    len = sizeof(sockaddr_in);
  } else {
    auto& s = reinterpret_cast<sockaddr_in6&>(out);
    s.sin6_family = AF_INET6;
    s.sin6_addr = a.v6;
    s.sin6_port = htons(port);
    len = sizeof(sockaddr_in6);
  }
}

// Reorder window used when a multipath connection does not set reorder_window.
constexpr std::uint32_t kDefaultReorderWindow = 8192;

scheduler::Policy scheduler_policy(const config::ConnectionConfig& c) {
  if (c.scheduler == "packets") return scheduler::Policy::kPackets;
  if (c.scheduler == "flow") return scheduler::Policy::kFlow;
  if (c.scheduler == "bytes") return scheduler::Policy::kBytes;
  // auto learns from the probes: without signalling it has nothing to learn from.
  const bool signalling =
      c.control_auth != "off" && (!c.auth_key.empty() || c.control_auth == "none");
  return signalling ? scheduler::Policy::kAuto : scheduler::Policy::kBytes;
}

}  // namespace

engine::IpNet to_ipnet(const config::IpAddress& a, int prefix_len) {
  return engine::IpNet{a, prefix_len};
}

engine::TunnelSpec build_tunnel_spec(const config::TunConfig& tun,
                                     const std::vector<config::ConnectionConfig>& connections) {
  engine::TunnelSpec spec;
  spec.mtu = tun.mtu;
  spec.queues = tun.queues;
  for (std::size_t c = 0; c < connections.size(); ++c) {
    const config::ConnectionConfig& conn = connections[c];
    // Per-daemon seed: different tunnels spread the same flows differently.
    spec.flow_hash_seed ^= static_cast<std::uint32_t>(std::hash<std::string>{}(conn.name));
    engine::ConnectionSpec cs;
    cs.name = conn.name;
    cs.gre_key = conn.gre_key;
    cs.gre_checksum = conn.gre_checksum;
    // Sequence numbers whenever there is more than one path or a reorder window is asked for.
    cs.sequence_numbers = conn.reorder_window > 0 || conn.paths.size() > 1;
    cs.reorder_window = static_cast<std::uint32_t>(conn.reorder_window);
    // The window's memory (kMaxReorderWindow slots and the hold pool) is reserved at start
    // whatever the configuration says, so a smaller configured window (the original's files
    // say e.g. 900) would only overflow sooner on a fast path -- each overflow a loss for
    // TCP -- and save nothing. With several paths the window is what the memory holds; the
    // configured value is a floor.
    if (conn.paths.size() > 1 && cs.reorder_window < kDefaultReorderWindow) {
      if (cs.reorder_window > 0) {
        MPT_INFO("connection %s: reorder_window %u raised to %u (the memory reserved for the "
                 "window; a smaller one would only overflow on fast paths)",
                 conn.name.c_str(), cs.reorder_window, kDefaultReorderWindow);
      }
      cs.reorder_window = kDefaultReorderWindow;
    }
    cs.max_delay_ms = static_cast<std::uint32_t>(conn.max_buffdelay_msec);
    cs.max_delay_derived = !conn.max_buffdelay_set;
    cs.policy = scheduler_policy(conn);
    cs.redundant_ports = conn.redundant_ports;
    for (int d : conn.redundant_dscp) cs.redundant_dscp_mask |= std::uint64_t{1} << d;
    cs.repair = conn.repair;
    cs.pacing = conn.pacing;
    cs.pace_queue_ms = static_cast<std::uint32_t>(conn.pace_queue_ms);
    if (conn.ip_remote.is_set()) {
      cs.destinations.push_back(
          to_ipnet(conn.ip_remote, conn.ip_remote.family == AF_INET ? 32 : 128));
    }
    for (const config::NetConfig& n : conn.networks) {
      cs.destinations.push_back(to_ipnet(n.dst_addr.addr, n.dst_addr.prefix_len));
    }
    cs.sources = cs.destinations;
    cs.sealed = conn.control_auth == "hmac" && !conn.auth_key.empty();
    if (connections.size() == 1) {
      // Point to point: the peer's addresses on the tunnel's own subnets (its IPv6 address
      // is not configured anywhere) are its.
      for (const auto& a : {tun.ipv4_addr, tun.ipv6_addr}) {
        if (a && a->addr.is_set()) cs.sources.push_back(to_ipnet(a->addr, a->prefix_len));
      }
      // And its IPv6 link-local address (neighbour discovery, MLD from its TUN).
      engine::IpNet ll;
      ll.addr.family = AF_INET6;
      ll.addr.v6.s6_addr[0] = 0xfe;
      ll.addr.v6.s6_addr[1] = 0x80;
      ll.prefix_len = 10;
      cs.sources.push_back(ll);
    }
    for (std::size_t i = 0; i < conn.paths.size(); ++i) {
      const config::PathConfig& pc = conn.paths[i];
      engine::PathSpec ps;
      ps.name = conn.name + "/path_" + std::to_string(i);
      ps.connection = static_cast<int>(c);
      ps.interface_name = pc.interface_name;
      // A path whose interface or address is not there (yet) waits: it joins when they
      // appear (mptd re-resolves on link and address events, cli/path_resolver.h).
      const int family = pc.ip_ver == 6 ? AF_INET6 : AF_INET;
      const std::string v = "IPv" + std::to_string(pc.ip_ver);
      config::IpAddress local = pc.private_ipaddr;
      if (if_nametoindex(pc.interface_name.c_str()) == 0) {
        ps.waiting = "interface " + pc.interface_name + " does not exist";
      } else if (!local.is_set()) {
        if (auto a = interface_address(pc.interface_name, family)) {
          local = *a;
        } else {
          ps.waiting = "interface " + pc.interface_name + " has no " + v + " address";
        }
      } else if (!interface_has_address(pc.interface_name, local)) {
        ps.waiting = "interface " + pc.interface_name + " does not have " + v + " address " +
                     local.to_string() + " (private_ipaddr)";
      }
      if (ps.waiting.empty()) fill_sockaddr(local, conn.local_port, ps.local, ps.local_len);
      if (pc.remote_ipaddr.is_set()) {
        fill_sockaddr(pc.remote_ipaddr, conn.remote_port, ps.remote, ps.remote_len);
      }
      ps.source_port_count = conn.source_port_count;
      if (conn.server_client) {
        // A server client's path is carried by the listener on its local address, which
        // sends from its one socket.
        ps.listen = true;
        ps.source_port_count = 0;
      }
      ps.weight = static_cast<std::uint32_t>(pc.weight_out);
      ps.up = pc.status == 0;
      ps.ports.tcp_src = pc.tcp_src;
      ps.ports.tcp_dst = pc.tcp_dst;
      ps.ports.udp_src = pc.udp_src;
      ps.ports.udp_dst = pc.udp_dst;
      cs.paths.push_back(static_cast<int>(spec.paths.size()));
      spec.paths.push_back(std::move(ps));
    }
    spec.connections.push_back(std::move(cs));
  }
  return spec;
}

HostNetwork::~HostNetwork() { remove_routes(); }

void HostNetwork::add_route(const Route& r) {
  std::error_code ec = nl_.add_route(r.dst, r.oif, r.gateway);
  if (ec == std::errc::file_exists) {
    MPT_INFO("route %s already exists; left as it is (%s)", r.dst.to_string().c_str(),
             r.what.c_str());
    return;
  }
  if (ec) throw std::system_error(ec, "adding route " + r.dst.to_string() + " (" + r.what + ")");
  MPT_INFO("added route %s (%s)", r.dst.to_string().c_str(), r.what.c_str());
  added_.push_back(r);
}

void HostNetwork::del_route(const Route& r) {
  if (auto ec = nl_.del_route(r.dst, r.oif, r.gateway)) {
    MPT_WARN("removing route %s: %s", r.dst.to_string().c_str(), ec.message().c_str());
  } else {
    MPT_INFO("removed route %s", r.dst.to_string().c_str());
  }
}

bool HostNetwork::same_route(const Route& a, const Route& b) {
  return a.dst == b.dst && a.oif == b.oif && a.gateway == b.gateway;
}

void HostNetwork::configure_tun(int tun_ifindex, const config::TunConfig& tun) {
  if (auto ec = nl_.set_link(tun_ifindex, tun.mtu, true)) {
    throw std::system_error(ec, "setting MTU " + std::to_string(tun.mtu) + " on " + tun.name);
  }
  for (const auto& p : {tun.ipv4_addr, tun.ipv6_addr}) {
    if (!p) continue;
    const engine::IpNet n = to_ipnet(p->addr, p->prefix_len);
    if (auto ec = nl_.add_address(tun_ifindex, n)) {
      throw std::system_error(ec, "adding address " + n.to_string() + " to " + tun.name);
    }
  }
}

std::vector<HostNetwork::Route> HostNetwork::connection_routes(
    int tun_ifindex, const config::TunConfig& tun, const config::ConnectionConfig& conn) {
  std::vector<Route> out;
  // The peer's tunnel address, unless the TUN prefix already covers it.
  if (conn.ip_remote.is_set()) {
    const auto& own = conn.ip_remote.family == AF_INET ? tun.ipv4_addr : tun.ipv6_addr;
    if (!own || !in_prefix(conn.ip_remote, *own)) {
      out.push_back({to_ipnet(conn.ip_remote, conn.ip_remote.family == AF_INET ? 32 : 128),
                     tun_ifindex, std::nullopt, conn.name, "peer tunnel address"});
    }
  }
  for (std::size_t i = 0; i < conn.networks.size(); ++i) {
    const config::NetConfig& n = conn.networks[i];
    out.push_back({to_ipnet(n.dst_addr.addr, n.dst_addr.prefix_len), tun_ifindex, std::nullopt,
                   conn.name, "net_" + std::to_string(i)});
  }
  // Host route to each path's peer through its gateway, so the path's packets leave by the
  // right interface. Skipped when the gateway is unset, is the peer itself, or is one of our
  // own addresses (the original's samples set gw_ipaddr to the local address).
  for (std::size_t i = 0; i < conn.paths.size(); ++i) {
    const config::PathConfig& pc = conn.paths[i];
    const int oif = static_cast<int>(if_nametoindex(pc.interface_name.c_str()));
    if (!pc.gw_ipaddr.is_set() || !pc.remote_ipaddr.is_set() || pc.gw_ipaddr == pc.remote_ipaddr ||
        pc.gw_ipaddr == pc.private_ipaddr || pc.gw_ipaddr == pc.public_ipaddr || oif == 0) {
      continue;
    }
    const int len = pc.remote_ipaddr.family == AF_INET ? 32 : 128;
    out.push_back({to_ipnet(pc.remote_ipaddr, len), oif, to_ipnet(pc.gw_ipaddr, len), conn.name,
                   "path_" + std::to_string(i) + " peer via gateway"});
  }
  return out;
}

void HostNetwork::add_connection_routes(int tun_ifindex, const config::TunConfig& tun,
                                        const config::ConnectionConfig& conn) {
  for (const Route& r : connection_routes(tun_ifindex, tun, conn)) add_route(r);
}

void HostNetwork::sync_connection_routes(int tun_ifindex, const config::TunConfig& tun,
                                         const config::ConnectionConfig& conn) {
  const std::vector<Route> want = connection_routes(tun_ifindex, tun, conn);
  // Add first, then remove: a route that moves (new gateway) is never missing.
  std::vector<Route> had;
  for (const Route& r : added_) {
    if (r.owner == conn.name) had.push_back(r);
  }
  for (const Route& r : want) {
    bool present = false;
    for (const Route& h : had) present = present || same_route(h, r);
    if (!present) add_route(r);
  }
  for (auto it = added_.begin(); it != added_.end();) {
    bool wanted = false;
    for (const Route& r : want) wanted = wanted || same_route(*it, r);
    if (it->owner == conn.name && !wanted) {
      del_route(*it);
      it = added_.erase(it);
    } else {
      ++it;
    }
  }
}

void HostNetwork::remove_connection_routes(const std::string& name) {
  for (auto it = added_.begin(); it != added_.end();) {
    if (it->owner == name) {
      del_route(*it);
      it = added_.erase(it);
    } else {
      ++it;
    }
  }
}

void HostNetwork::remove_routes() {
  for (auto it = added_.rbegin(); it != added_.rend(); ++it) del_route(*it);
  added_.clear();
}

}  // namespace mpt::cli
