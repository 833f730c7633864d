// The data plane's state as data: what Engine::snapshot() returns for `mpt status`, its JSON
// and the Prometheus metrics (signaling/status_render.h, signaling/metrics_render.h render
// it; docs/status.md is the schema). Plain values, copied out of the relaxed counters.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace mpt::engine {

// One named number: its JSON key, and the tail of its metric name. `name` is a string
// literal (snapshots are built from a fixed list of counters).
struct Metric {
  enum class Kind : std::uint8_t {
    kCounter,  // only grows while mptd runs (Prometheus counter, "_total")
    kGauge,    // a level: free buffers, sizes (Prometheus gauge)
  };
  const char* name;
  std::uint64_t value;
  Kind kind = Kind::kCounter;
};
using Metrics = std::vector<Metric>;

// The value of `name` in `m`, 0 if absent (for the text renderer).
[[nodiscard]] inline std::uint64_t value_of(const Metrics& m, std::string_view name) {
  for (const Metric& x : m) {
    if (name == x.name) return x.value;
  }
  return 0;
}

struct ConnectionSnapshot {
  std::string name;
  const char* scheduler = "";
  bool sequence_numbers = false;
  std::size_t path_count = 0;
  bool reorders = false;             // a reorder stage runs (sequence numbers and > 1 path)
  std::uint32_t reorder_window = 0;  // 0 without a reorder stage
  bool max_delay_derived = false;
  bool repair = false;
  Metrics reorder;                   // max_delay_us (gauge), then the reorder counters
};

struct PathSnapshot {
  std::string name;
  std::string connection;
  std::string interface;
  std::string local;              // empty while the path waits
  std::string waiting;            // why it waits
  std::string remote;             // the peer as it is now
  std::string remote_configured;
  bool up = false;
  std::uint32_t weight = 0;
  std::string listener;           // server mode: the listener serving this client path
  std::uint64_t rx_pool_bytes = 0;
  Metrics values;                 // counters and gauges
  std::vector<std::pair<const char*, std::uint64_t>> rx_drop_gre;  // by reason
};

struct ListenerSnapshot {
  std::string name;
  std::string interface;
  std::string local;
  std::size_t client_paths = 0;
  Metrics values;
};

// One TUN queue's reader and writer.
struct QueueSnapshot {
  Metrics tx;
  Metrics rx;
};

struct EngineSnapshot {
  int mtu = 0;
  std::vector<QueueSnapshot> queues;  // per TUN queue; tx and rx below are their sums
  Metrics tx;  // TUN reader: reads, drops by reason, failover, repair, pacing, pools
  Metrics rx;  // TUN writer: writes, drops by reason, repair requests, pools
  std::vector<ConnectionSnapshot> connections;  // active connections
  std::vector<PathSnapshot> paths;              // active paths
  std::vector<ListenerSnapshot> listeners;      // server mode
  std::size_t path_slot_bytes = 0;              // sizeof(PathWorker)
};

}  // namespace mpt::engine
