// ReloadPlan: how `mpt reload` turns the running TunnelSpec and a freshly built one (from the
// edited configuration) into the spec the engine runs next -- pure, no I/O, unit-tested.
//
// Slots (see engine/engine.h) stay where they are:
//   - a connection is the same connection if its name is the same;
//   - a path is the same path if it belongs to the same connection and keeps its sockets:
//     interface, local and remote address and port, entropy port count. Its number
//     ([path_N]), weight, state and port rules may change; it keeps its slot, worker and
//     health. Anything else is a removed path plus an added one;
//   - what is gone leaves an inactive slot; what is new takes a slot that was already free
//     before this reload, or a new one at the end (never a slot freed by this same reload,
//     so the engine can tell a replaced path from a kept one).
//
// The plan is the whole reload; mptd's apply() hands each stage its part, in this order:
//   1. `leaving`: paths about to go are taken administratively down first and the peer told
//      (it stops sending on them one RTT later, and what is queued here moves over);
//   2. `next`: the engine's new spec (Engine::reconfigure; only when structural());
//   3. the control loop's settings per connection slot (`connection_slot`);
//   4. routes: every fresh connection's synced, `removed_connections`' removed;
//   5. `updates`: weights and administrative states of paths that stay (control loop: told
//      to the peer), then recorded as configured (Engine::note_configured).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "engine/tunnel_spec.h"

namespace mpt::cli {

struct ReloadPlan {
  // A path by its connection's name and its number in that connection (what the control
  // loop's set_admin / set_weight take), and its slot.
  struct PathRef {
    std::string connection;
    int local = 0;
    std::size_t slot = 0;
    std::string name;
  };
  // A kept path whose configured weight or state changed.
  struct PathUpdate {
    PathRef path;
    std::uint32_t weight = 1, old_weight = 1;
    bool up = true, old_up = true;
  };

  engine::TunnelSpec next;
  std::vector<int> connection_slot;  // fresh connection index -> slot in `next`
  std::vector<int> path_slot;        // fresh path index -> slot in `next`
  std::vector<std::string> changes;  // one line per added, removed or changed item
  std::vector<PathRef> leaving;      // removed paths, as numbered in the running spec
  std::vector<PathUpdate> updates;   // kept paths, as numbered in `next`
  std::vector<std::string> removed_connections;  // by name: their routes go
  [[nodiscard]] bool structural() const { return !changes.empty(); }
};

[[nodiscard]] ReloadPlan plan_reload(const engine::TunnelSpec& running,
                                     const engine::TunnelSpec& fresh);

}  // namespace mpt::cli
