#include "cli/reload_plan.h"

namespace mpt::cli {
namespace {

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
      a.policy != b.policy || a.redundant_ports != b.redundant_ports ||
      a.redundant_dscp_mask != b.redundant_dscp_mask || a.repair != b.repair ||
      a.pacing != b.pacing || a.pace_queue_ms != b.pace_queue_ms) {
    return false;
  }
  return a.destinations == b.destinations;
}

// Path `slot`'s number within its connection in `spec`.
int local_index(const engine::TunnelSpec& spec, std::size_t slot) {
  const auto& ids = spec.connections.at(static_cast<std::size_t>(spec.paths.at(slot).connection)).paths;
  for (std::size_t i = 0; i < ids.size(); ++i) {
    if (ids[i] == static_cast<int>(slot)) return static_cast<int>(i);
  }
  return -1;
}

ReloadPlan::PathRef path_ref(const engine::TunnelSpec& spec, std::size_t slot) {
  const engine::PathSpec& p = spec.paths.at(slot);
  return {spec.connections.at(static_cast<std::size_t>(p.connection)).name, local_index(spec, slot),
          slot, p.name};
}

}  // namespace

ReloadPlan plan_reload(const engine::TunnelSpec& running, const engine::TunnelSpec& fresh) {
  ReloadPlan plan;
  engine::TunnelSpec& next = plan.next;
  next.mtu = running.mtu;
  next.queues = running.queues;  // fixed until restart (mptd refuses a change)
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
      plan.removed_connections.push_back(running.connections[i].name);
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
      if (running.paths[i].active && !path_taken[i] && engine::same_path_sockets(running.paths[i], fp)) {
        slot = static_cast<int>(i);
        path_taken[i] = true;
        if (running.paths[i].name != fp.name) {
          plan.changes.push_back("renumbered path " + running.paths[i].name + " as " + fp.name);
        }
        if (!(running.paths[i].ports == fp.ports)) {
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
      plan.leaving.push_back(path_ref(running, i));
      next.paths[i].active = false;
    }
  }
  // Weights and states of the paths that stay, as the files say now.
  for (const int s : plan.path_slot) {
    const auto slot = static_cast<std::size_t>(s);
    if (slot >= running.paths.size() || !running.paths[slot].active) continue;  // added
    const engine::PathSpec& a = running.paths[slot];
    const engine::PathSpec& b = next.paths[slot];
    if (a.weight == b.weight && a.up == b.up) continue;
    plan.updates.push_back({path_ref(next, slot), b.weight, a.weight, b.up, a.up});
  }
  return plan;
}

}  // namespace mpt::cli
