// One renderer for `mpt status` and `mpt status --json`: the engine's and the control loop's
// snapshots in, text or JSON out. docs/status.md is the JSON schema (schema_version).
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "engine/status_snapshot.h"
#include "signaling/control_snapshot.h"

namespace mpt::signaling {

// Bumped when a field is renamed or removed (adding one keeps the version).
inline constexpr int kStatusSchemaVersion = 1;

struct StatusSnapshot {
  std::string tunnel;  // the TUN device's name
  // Where the MTU came from: empty when configured; "auto: limited by <path> (<interface> mtu N,
  // overhead M)" or "auto: no path interface known at start" when mptd chose it.
  std::string mtu_origin;
  engine::EngineSnapshot engine;
  ControlSnapshot control;
};

[[nodiscard]] std::string render_status_text(const StatusSnapshot& s);
[[nodiscard]] nlohmann::ordered_json render_status_json(const StatusSnapshot& s);

}  // namespace mpt::signaling
