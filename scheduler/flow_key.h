// Inner flow key and flow hash: which flow an IP packet (as read from the TUN device) belongs
// to, so the scheduler can keep a flow on one path and pick the RFC 8086 entropy source port.
//
// The key is the classic 5-tuple: addresses, upper-layer protocol and, for TCP, UDP, SCTP and
// UDP-Lite, the two ports. Ports are left out (zero) for every fragment -- IPv4 with MF set
// or a non-zero offset, IPv6 behind any fragment header -- because only the first fragment
// carries the transport header, and all fragments of a datagram must hash alike so that they
// take the same path and arrive in order. IPv6 hop-by-hop,
// routing, destination-options and fragment headers are walked (at most
// kMaxIpv6ExtensionHeaders of them) to find the upper-layer protocol. A packet too short for
// its IP header, or that is not IPv4/IPv6, gives the empty key (ip_version 0); a packet whose
// transport header is cut off gives a key without ports. Extraction never reads outside the
// span it is given: it runs on raw packets from the TUN device.
//
// flow_hash() is not symmetric (A->B and B->A may hash differently): each direction is
// scheduled on its own. It is a fixed function of (key, seed): same flow, same hash.
//
// Threads: any; pure functions, no shared state, no allocation.
#pragma once

#include <array>
#include <cstdint>
#include <span>

namespace mpt::scheduler {

inline constexpr std::uint8_t kIpProtoTcp = 6;
inline constexpr std::uint8_t kIpProtoUdp = 17;
inline constexpr std::uint8_t kIpProtoSctp = 132;
inline constexpr std::uint8_t kIpProtoUdpLite = 136;

// Upper bound on IPv6 extension headers walked before giving up on finding the transport
// header (the key then has the last next-header value seen as protocol and no ports).
inline constexpr int kMaxIpv6ExtensionHeaders = 8;

struct FlowKey {
  std::uint8_t ip_version = 0;  // 4 or 6; 0 = not an IP packet (or too short for its header)
  std::uint8_t protocol = 0;    // upper-layer protocol (IPv6: after the extension headers)
  bool has_ports = false;
  std::uint16_t src_port = 0;  // host byte order; 0 unless has_ports
  std::uint16_t dst_port = 0;
  // Network byte order. IPv4 uses bytes 0..3, the rest stays zero.
  std::array<std::uint8_t, 16> src_addr{};
  std::array<std::uint8_t, 16> dst_addr{};

  friend bool operator==(const FlowKey&, const FlowKey&) = default;
};

// Extracts the flow key of `ip_packet` (an IPv4 or IPv6 packet starting at its IP header).
[[nodiscard]] FlowKey extract_flow_key(std::span<const std::uint8_t> ip_packet) noexcept;

// A well-mixed 32-bit hash of `key`; different seeds give unrelated hash functions.
[[nodiscard]] std::uint32_t flow_key_hash(const FlowKey& key, std::uint32_t seed) noexcept;

// flow_key_hash(extract_flow_key(ip_packet), seed).
[[nodiscard]] std::uint32_t flow_hash(std::span<const std::uint8_t> ip_packet,
                                      std::uint32_t seed) noexcept;

}  // namespace mpt::scheduler
