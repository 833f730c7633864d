// An IP address and an address with prefix length (a network), IPv4 or IPv6: the one pair of
// types the configuration (config::IpAddress / config::IpPrefix are these), the host set-up
// (netlink) and the data plane's connection lookup share. IPv4 stays AF_INET, never
// v4-mapped. Header-only: the configuration library links nothing of the engine's.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cstdint>
#include <cstring>
#include <string>

namespace mpt::engine {

struct IpAddress {
  int family = 0;  // AF_INET, AF_INET6, or 0 = unset / "0.0.0.0" (auto in the original)
  in_addr v4{};
  in6_addr v6{};

  [[nodiscard]] bool is_set() const { return family != 0; }
  // The address in network order: 4 bytes (AF_INET) or 16 (AF_INET6).
  [[nodiscard]] const std::uint8_t* bytes() const {
    return family == AF_INET ? reinterpret_cast<const std::uint8_t*>(&v4)
                             : reinterpret_cast<const std::uint8_t*>(&v6);
  }
  [[nodiscard]] std::size_t size() const { return family == AF_INET ? 4 : 16; }
  [[nodiscard]] std::string to_string() const {
    char buf[INET6_ADDRSTRLEN] = {};
    if (family == AF_INET || family == AF_INET6) {
      if (inet_ntop(family, bytes(), buf, sizeof buf) != nullptr) return buf;
    }
    return "unset";
  }
  friend bool operator==(const IpAddress& a, const IpAddress& b) {
    if (a.family != b.family) return false;
    if (a.family == AF_INET) return a.v4.s_addr == b.v4.s_addr;
    if (a.family == AF_INET6) return std::memcmp(&a.v6, &b.v6, sizeof a.v6) == 0;
    return true;
  }
};

// An address with its prefix length, e.g. 10.0.0.2/24 or fd00::/64.
struct IpNet {
  IpAddress addr;
  int prefix_len = 0;
  [[nodiscard]] std::string to_string() const {
    return addr.to_string() + "/" + std::to_string(prefix_len);
  }
  friend bool operator==(const IpNet&, const IpNet&) = default;
};

}  // namespace mpt::engine
