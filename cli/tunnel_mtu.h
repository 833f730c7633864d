// The tunnel's MTU when interface.conf leaves it to mptd (`mtu` absent or `auto`): the
// largest inner packet that every path carries in one outer datagram, given the path's
// interface MTU and what the wire adds to each packet on that path (outer IP and UDP, the
// GRE header with the connection's options, the sealed header and tag of a keyed
// connection). Pure: the interface MTUs come from the caller (cli/mptd.cpp asks the kernel).
#pragma once

#include <functional>
#include <optional>
#include <string>

#include "engine/tunnel_spec.h"

namespace mpt::cli {

// The old fixed default, used when no path's interface MTU is known (every path waits for
// its interface): it fits a sealed packet on a 1500-byte IPv4 path and a plain one on IPv6.
inline constexpr int kFallbackMtu = 1440;

// Bytes the wire adds to one inner packet of connection `cs` on a path whose outer packets
// are of address family `family` (AF_INET / AF_INET6), with `queues` TUN queues.
[[nodiscard]] int data_overhead(const engine::ConnectionSpec& cs, int family, int queues);

struct AutoMtu {
  int mtu = kFallbackMtu;
  std::string limited_by;  // "<path> (<interface> mtu N, overhead M)"; empty: the fallback
};

// The smallest (interface MTU - overhead) over the active paths whose interface MTU
// `interface_mtu` knows, within [lo, hi]; kFallbackMtu (clamped alike) when none is known.
[[nodiscard]] AutoMtu auto_tunnel_mtu(
    const engine::TunnelSpec& spec, int queues,
    const std::function<std::optional<int>(const std::string&)>& interface_mtu, int lo, int hi);

// The kernel's MTU of interface `name` in this network namespace, if it exists.
[[nodiscard]] std::optional<int> interface_mtu(const std::string& name);

}  // namespace mpt::cli
