#include "cli/reload_plan.h"

#include <cstring>

namespace mpt::cli {
namespace {

bool same_addr(const sockaddr_storage& a, socklen_t alen, const sockaddr_storage& b,
               socklen_t blen) {
  return alen == blen && std::memcmp(&a, &b, alen) == 0;
}

// A free slot: inactive in `running` and not taken yet in this plan; else a new one.
template <typename Spec>
std::size_t free_slot(const std::vector<Spec>& running, std::vector<bool>& taken) {
  for (std::size_t i = 0; i < running.size(); ++i) {
    if (!running[i].active && !taken[i]) {
      taken[i] = true;
      return i;
    }
  }
  taken.push_back(true);
  return taken.size() - 1;
}

bool same_connection_settings(const engine::ConnectionSpec& a, const engine::ConnectionSpec& b) {
  if (a.gre_key != b.gre_key || a.gre_checksum != b.gre_checksum ||
      a.sequence_numbers != b.sequence_numbers || a.reorder_window != b.reorder_window ||
      a.max_delay_ms != b.max_delay_ms || a.max_delay_derived != b.max_delay_derived ||
      a.policy != b.policy || a.destinations.size() != b.destinations.size()) {
    return false;
  }
  for (std::size_t i = 0; i < a.destinations.size(); ++i) {
    const engine::IpNet& x = a.destinations[i];
    const engine::IpNet& y = b.destinations[i];
    if (x.family != y.family || x.prefix_len != y.prefix_len || x.addr != y.addr) return false;
  }
  return true;
}

bool same_ranges(const std::vector<scheduler::PortRange>& a,
                 const std::vector<scheduler::PortRange>& b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (a[i].first != b[i].first || a[i].last != b[i].last) return false;
  }
  return true;
}

bool same_port_rules(const scheduler::PathPortRules& a, const scheduler::PathPortRules& b) {
  return same_ranges(a.tcp_src, b.tcp_src) && same_ranges(a.tcp_dst, b.tcp_dst) &&
         same_ranges(a.udp_src, b.udp_src) && same_ranges(a.udp_dst, b.udp_dst);
}

}  // namespace

bool same_path_sockets(const engine::PathSpec& a, const engine::PathSpec& b) {
  return a.connection == b.connection && a.interface_name == b.interface_name &&
         same_addr(a.local, a.local_len, b.local, b.local_len) &&
         same_addr(a.remote, a.remote_len, b.remote, b.remote_len) &&
         a.source_port_count == b.source_port_count;
}

ReloadPlan plan_reload(const engine::TunnelSpec& running, const engine::TunnelSpec& fresh) {
  ReloadPlan plan;
  engine::TunnelSpec& next = plan.next;
  next.mtu = running.mtu;
  next.flow_hash_seed = running.flow_hash_seed;  // flows keep their paths
  next.connections = running.connections;
  next.paths = running.paths;
  for (auto& c : next.connections) c.paths.clear();

  // Connections, by name.
  std::vector<bool> conn_taken(running.connections.size(), false);
  for (const engine::ConnectionSpec& fc : fresh.connections) {
    int slot = -1;
    for (std::size_t i = 0; i < running.connections.size(); ++i) {
      if (running.connections[i].active && !conn_taken[i] &&
          running.connections[i].name == fc.name) {
        slot = static_cast<int>(i);
        conn_taken[i] = true;
        if (!same_connection_settings(running.connections[i], fc)) {
          plan.changes.push_back("changed connection " + fc.name);
        }
        break;
      }
    }
    if (slot < 0) {
      slot = static_cast<int>(free_slot(running.connections, conn_taken));
      plan.changes.push_back("added connection " + fc.name);
    }
    if (static_cast<std::size_t>(slot) >= next.connections.size()) {
      next.connections.resize(static_cast<std::size_t>(slot) + 1);
    }
    next.connections[static_cast<std::size_t>(slot)] = fc;
    next.connections[static_cast<std::size_t>(slot)].paths.clear();
    next.connections[static_cast<std::size_t>(slot)].active = true;
    plan.connection_slot.push_back(slot);
  }
  for (std::size_t i = 0; i < running.connections.size(); ++i) {
    if (running.connections[i].active && !conn_taken[i]) {
      plan.changes.push_back("removed connection " + running.connections[i].name);
      engine::ConnectionSpec gone;
      gone.name = running.connections[i].name;
      gone.active = false;
      next.connections[i] = gone;
    }
  }

  // Paths, by connection and sockets.
  std::vector<bool> path_taken(running.paths.size(), false);
  for (const engine::PathSpec& fp0 : fresh.paths) {
    engine::PathSpec fp = fp0;
    fp.connection = plan.connection_slot.at(static_cast<std::size_t>(fp0.connection));
    fp.active = true;
    int slot = -1;
    for (std::size_t i = 0; i < running.paths.size(); ++i) {
      if (running.paths[i].active && !path_taken[i] && same_path_sockets(running.paths[i], fp)) {
        slot = static_cast<int>(i);
        path_taken[i] = true;
        if (running.paths[i].name != fp.name) {
          plan.changes.push_back("renumbered path " + running.paths[i].name + " as " + fp.name);
        }
        if (!same_port_rules(running.paths[i].ports, fp.ports)) {
          plan.changes.push_back("changed port mapping of " + fp.name);
        }
        break;
      }
    }
    if (slot < 0) {
      slot = static_cast<int>(free_slot(running.paths, path_taken));
      plan.changes.push_back("added path " + fp.name);
    }
    if (static_cast<std::size_t>(slot) >= next.paths.size()) {
      next.paths.resize(static_cast<std::size_t>(slot) + 1);
    }
    next.paths[static_cast<std::size_t>(slot)] = fp;
    next.connections[static_cast<std::size_t>(fp.connection)].paths.push_back(slot);
    plan.path_slot.push_back(slot);
  }
  for (std::size_t i = 0; i < running.paths.size(); ++i) {
    if (running.paths[i].active && !path_taken[i]) {
      plan.changes.push_back("removed path " + running.paths[i].name);
      next.paths[i].active = false;
    }
  }
  return plan;
}

}  // namespace mpt::cli
