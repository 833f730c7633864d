// The status snapshot as Prometheus metrics (text exposition format 0.0.4), for
// `mptd --metrics ADDR:PORT` (signaling/metrics_server.h). Names: mpt_<stage>_<counter>,
// counters end in _total; labels: tunnel, connection, path, interface, reason.
#pragma once

#include <string>

#include "signaling/status_render.h"

namespace mpt::signaling {

[[nodiscard]] std::string render_metrics(const StatusSnapshot& s);

}  // namespace mpt::signaling
