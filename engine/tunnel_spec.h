// TunnelSpec: what the engine needs to run one tunnel, independent of the config file format
// (cli/ translates the MPT configuration into this). Plain data, immutable once the engine runs.
#pragma once

#include <sys/socket.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace mpt::engine {

struct PathSpec {
  std::string name;              // "path_0", used in logs and status
  std::string interface_name;    // SO_BINDTODEVICE target
  sockaddr_storage local{};      // receive socket address (private_ipaddr : local_port)
  socklen_t local_len = 0;
  sockaddr_storage remote{};     // peer (remote_ipaddr : remote_port)
  socklen_t remote_len = 0;
  // RFC 8086 §3.2.1 entropy: this many extra send sockets bound to ports in 49152-65535,
  // chosen per inner flow by hash. 0 = send from the receive socket (one fixed port).
  int source_port_count = 0;
  bool up = true;                // administrative state at start (status = 0)
};

struct TunnelSpec {
  int mtu = 1440;                // TUN MTU: the largest inner packet
  std::optional<std::uint32_t> gre_key;
  bool gre_checksum = false;
  bool sequence_numbers = false; // GRE S bit with a per-connection counter
  std::uint32_t flow_hash_seed = 0;
  std::vector<PathSpec> paths;
};

}  // namespace mpt::engine
