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
#pragma once

#include <string>
#include <vector>

#include "engine/tunnel_spec.h"

namespace mpt::cli {

struct ReloadPlan {
  engine::TunnelSpec next;
  std::vector<int> connection_slot;  // fresh connection index -> slot in `next`
  std::vector<int> path_slot;        // fresh path index -> slot in `next`
  std::vector<std::string> changes;  // one line per added, removed or changed item
  [[nodiscard]] bool structural() const { return !changes.empty(); }
};

[[nodiscard]] ReloadPlan plan_reload(const engine::TunnelSpec& running,
                                     const engine::TunnelSpec& fresh);

}  // namespace mpt::cli
