// ControlLoop, the operator's commands (mpt path up|down, mpt path weight, mpt int): applied
// here and told to the peer (PATH_STATUS, WEIGHT), which applies them to its side of the path.
#include <string>

#include "engine/clock.h"
#include "engine/log.h"
#include "engine/path_worker.h"
#include "signaling/control_loop.h"

namespace mpt::signaling {

int ControlLoop::find_path(const std::string& connection, int path, std::string& error) const {
  for (std::size_t c = 0; c < connections_.size(); ++c) {
    if (!connections_[c].active || connections_[c].cfg.name != connection) continue;
    for (std::size_t i = 0; i < paths_.size(); ++i) {
      if (paths_[i].active && paths_[i].connection == static_cast<int>(c) &&
          paths_[i].local_index == path) {
        return static_cast<int>(i);
      }
    }
    error = "connection " + connection + " has no path " + std::to_string(path);
    return -1;
  }
  error = "no connection named " + connection;
  return -1;
}

void ControlLoop::admin(std::size_t i, bool up, bool tell_peer) {
  const std::uint64_t now = engine::monotonic_us();
  // tell_peer: a local command (the peer's own changes come with tell_peer = false).
  paths_[i].admin_down_by_peer = !tell_peer && !up;
  paths_[i].health.set_admin(up, now);
  apply(i, now);
  if (tell_peer && connections_[static_cast<std::size_t>(paths_[i].connection)].cfg.enabled) {
    Message m;
    m.path_status = PathStatusBody{up ? PathStatus::kUp : PathStatus::kAdminDown};
    send(i, MessageType::kPathStatus, nullptr, &m);
  }
}

// A new instance of the peer (it restarted; a server re-added this client): what the old one
// took down administratively comes back up -- the new one tells us again if it wants a path
// down. Paths taken down here stay down.
void ControlLoop::forget_peer_admin(int connection) {
  for (std::size_t k = 0; k < paths_.size(); ++k) {
    Path& p = paths_[k];
    if (!p.active || p.connection != connection || !p.admin_down_by_peer) continue;
    if (p.health.state() == HealthState::kAdminDown) admin(k, true, false);
    p.admin_down_by_peer = false;
  }
}

std::string ControlLoop::set_admin(const std::string& connection, int path, bool up) {
  std::string error;
  const int i = find_path(connection, path, error);
  if (i < 0) return error;
  admin(static_cast<std::size_t>(i), up, true);
  return {};
}

std::string ControlLoop::set_weight(const std::string& connection, int path, std::uint32_t w) {
  std::string error;
  const int i = find_path(connection, path, error);
  if (i < 0) return error;
  if (w > 10000) return "weight must be 0..10000";
  Path& p = paths_[static_cast<std::size_t>(i)];
  p.weight = w;
  engine_.set_path_usable(static_cast<std::size_t>(i), p.usable, w);
  if (connections_[static_cast<std::size_t>(p.connection)].cfg.enabled) {
    Message m;
    m.weight = WeightBody{w};
    send(static_cast<std::size_t>(i), MessageType::kWeight, nullptr, &m);
  }
  return {};
}

std::string ControlLoop::set_interface_admin(const std::string& ifname, bool up) {
  int n = 0;
  for (std::size_t i = 0; i < paths_.size(); ++i) {
    if (!paths_[i].active || engine_.spec().paths[i].interface_name != ifname) continue;
    admin(i, up, true);
    ++n;
  }
  return n ? std::string{} : "no path uses interface " + ifname;
}

}  // namespace mpt::signaling
