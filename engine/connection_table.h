// ConnectionTable: which connection an inner packet read from the TUN belongs to, by longest
// prefix match on its destination address (the peer's tunnel address and the [net_N]
// dst_addr networks of each connection, as MPT routes them) -- and, built from the allowed
// sources instead, which connection may send a packet with a given inner source address.
//
// Built at start-up and rebuilt by a reload (TUN reader, paused); lookup() runs on the TUN reader for every packet: one
// hash probe per distinct prefix length in use (typically 1-3), no allocation, no scan over
// connections. With a single active connection lookup() returns it without looking.
#pragma once

#include <cstdint>
#include <span>
#include <unordered_map>
#include <vector>

#include "engine/netlink.h"

namespace mpt::engine {

class ConnectionTable {
 public:
  void add(const IpNet& prefix, int connection);
  // When only one connection is active (`connection`, or -1 for several) every packet is its:
  // lookup() returns it without looking.
  void set_only_connection(int connection) { only_ = connection; }
  // The connection for an IP packet, or -1 if no prefix matches.
  [[nodiscard]] int lookup(std::span<const std::uint8_t> ip_packet) const;
  // The same by the packet's *source* address, always by prefix (never the only-connection
  // shortcut): the TUN writer's inner source filter (ConnectionSpec::sources).
  [[nodiscard]] int lookup_source(std::span<const std::uint8_t> ip_packet) const;

 private:
  struct Key {
    std::uint64_t hi = 0, lo = 0;
    friend bool operator==(const Key&, const Key&) = default;
  };
  struct KeyHash {
    std::size_t operator()(const Key& k) const {
      return static_cast<std::size_t>((k.hi * 0x9E3779B97F4A7C15ull) ^ (k.lo + (k.lo >> 29)));
    }
  };
  struct Level {
    int prefix_len;
    std::unordered_map<Key, int, KeyHash> map;
  };
  static Key masked(const std::uint8_t* addr, int addr_bytes, int prefix_len);
  [[nodiscard]] int lookup_family(const std::vector<Level>& levels, const std::uint8_t* addr,
                                  int addr_bytes) const;

  int only_ = -1;
  std::vector<Level> v4_, v6_;  // longest prefix first
};

}  // namespace mpt::engine
