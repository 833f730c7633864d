// TunnelSpec: what the engine needs to run one TUN device with its connections and paths,
// independent of the config file format (cli/ translates the MPT configuration into this).
// Plain data. The engine changes it only in Engine::reconfigure (`mpt reload`), while its
// data-plane threads are paused.
#pragma once

#include <sys/socket.h>

#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include "engine/netlink.h"
#include "scheduler/path_chooser.h"

namespace mpt::engine {

struct PathSpec {
  std::string name;              // "<connection>/path_0", used in logs and status
  int connection = 0;            // index into TunnelSpec::connections
  std::string interface_name;    // SO_BINDTODEVICE target
  sockaddr_storage local{};      // receive socket address (private_ipaddr : local_port)
  socklen_t local_len = 0;       // 0: the path waits (see `waiting`), no sockets
  // Why the path has no local address yet ("interface wlan0 does not exist", "... has no
  // IPv4 address"); empty when it has one. A waiting path is a slot with a worker but no
  // sockets; when its interface and address appear, mptd re-resolves the configuration and
  // the path is replaced by one with sockets (cli/path_resolver.h).
  std::string waiting;
  // The peer's address as configured (remote_ipaddr : remote_port); remote_len 0: not
  // configured, learned from the first authenticated message (keyed connections only). The
  // peer's address now is the worker's PeerEndpoint: it starts here and follows the peer.
  sockaddr_storage remote{};
  socklen_t remote_len = 0;
  // RFC 8086 §3.2.1 entropy: this many extra send sockets bound to ports in 49152-65535,
  // chosen per inner flow by hash. 0 = send from the receive socket (one fixed port).
  int source_port_count = 0;
  std::uint32_t weight = 1;      // weight_out; 0 = standby
  bool up = true;                // administrative state at start (status = 0)
  scheduler::PathPortRules ports;  // layer-4 port mapping to this path
  // false: a slot a reload freed. Path and connection indices stay stable while mptd runs
  // (receive buffers, health state and counters refer to them), so a removed path leaves a
  // hole that a later added path may take.
  bool active = true;
  // Server mode: a client's path, carried by the listener on its local address (no sockets of its own).
  bool listen = false;
};

struct ConnectionSpec {
  std::string name;
  std::optional<std::uint32_t> gre_key;
  bool gre_checksum = false;
  bool sequence_numbers = false;   // GRE S bit with a per-connection counter
  std::uint32_t reorder_window = 0;  // packets; 0 = deliver as received
  std::uint32_t max_delay_ms = 100;  // longest wait for a gap in the reorder stage
  bool max_delay_derived = false;    // signalling may set it from the measured path RTTs
  scheduler::Policy policy = scheduler::Policy::kAuto;
  // Redundant mode: packets of these inner ports (TCP or UDP, source or destination) or DSCP
  // values (bit d of the mask) go on the two best paths; the peer drops the second copy.
  std::vector<scheduler::PortRange> redundant_ports;
  std::uint64_t redundant_dscp_mask = 0;
  // Repair (several paths only): the receiver asks for missing sequence numbers again (NACK)
  // and the sender resends them from its recent history on its best other path.
  bool repair = true;
  // Pacing (scheduler = auto): traffic beyond what the bottleneck paths carry with a short
  // standing queue waits in the sender (TunReader's hold queue, at most pace_queue_ms).
  bool pacing = true;
  std::uint32_t pace_queue_ms = 50;
  std::vector<int> paths;          // global path indices, in [path_N] order
  std::vector<IpNet> destinations; // inner destinations routed to this connection (TX lookup)
  // Inner source addresses the peer may send from (RX filter, WireGuard's allowed IPs): the
  // destinations, and for a tunnel's only connection the TUN's own subnets (the peer sits on
  // them). A packet from any other source is dropped and counted (rx_drop_inner_source).
  std::vector<IpNet> sources;
  // Keyed (auth_key): data and repair requests are sealed under the session keys
  // (engine/sealed_packet.h, SessionKeys); plain ones from the peer are refused.
  bool sealed = false;
  bool active = true;              // false: a slot a reload freed (see PathSpec::active)
};

// The same path as far as its sockets go (`mpt reload`): same connection, interface, local and
// remote address and port, entropy port count. Such a path keeps its worker across a reload.
[[nodiscard]] inline bool same_path_sockets(const PathSpec& a, const PathSpec& b) {
  return a.connection == b.connection && a.interface_name == b.interface_name &&
         a.local_len == b.local_len && std::memcmp(&a.local, &b.local, a.local_len) == 0 &&
         a.remote_len == b.remote_len && std::memcmp(&a.remote, &b.remote, a.remote_len) == 0 &&
         a.source_port_count == b.source_port_count;
}

// The most TUN queues a tunnel may have: every queue's sending thread seals in its own
// nonce space (0 .. kMaxQueues - 1; engine/sealed_packet.h) and every receiving thread keeps a
// reorder stage per space it owns.
inline constexpr int kMaxQueues = 4;

struct TunnelSpec {
  int mtu = 1440;                  // TUN MTU: the largest inner packet
  // TUN queues, each with its own TUN reader and writer thread (1..kMaxQueues). Fixed for the
  // daemon's lifetime (a reload keeps the running count).
  int queues = 1;
  std::uint32_t flow_hash_seed = 0;
  std::vector<ConnectionSpec> connections;
  std::vector<PathSpec> paths;     // all paths of all connections
};

}  // namespace mpt::engine
