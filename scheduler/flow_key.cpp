#include "scheduler/flow_key.h"

#include <algorithm>
#include <cstddef>

#include "engine/byte_order.h"

namespace mpt::scheduler {
namespace {

using engine::load_be16;
using engine::load_be32;
using engine::load_be64;

constexpr std::size_t kIpv4MinHeader = 20;
constexpr std::size_t kIpv6Header = 40;
constexpr std::size_t kIpv6FragmentHeader = 8;

constexpr std::uint8_t kIpv6HopByHop = 0;
constexpr std::uint8_t kIpv6Routing = 43;
constexpr std::uint8_t kIpv6Fragment = 44;
constexpr std::uint8_t kIpv6DestinationOptions = 60;


bool protocol_has_ports(std::uint8_t protocol) {
  return protocol == kIpProtoTcp || protocol == kIpProtoUdp || protocol == kIpProtoSctp ||
         protocol == kIpProtoUdpLite;
}

// All four carry source and destination port as the first two 16-bit fields.
void set_ports(FlowKey& key, std::span<const std::uint8_t> packet, std::size_t l4_offset) {
  if (!protocol_has_ports(key.protocol) || l4_offset > packet.size() ||
      packet.size() - l4_offset < 4) {
    return;
  }
  key.has_ports = true;
  key.src_port = load_be16(&packet[l4_offset]);
  key.dst_port = load_be16(&packet[l4_offset + 2]);
}

FlowKey extract_ipv4(std::span<const std::uint8_t> p) {
  FlowKey key;
  const std::size_t ihl_bytes = std::size_t{p[0] & 0x0Fu} * 4;
  if (p.size() < kIpv4MinHeader || ihl_bytes < kIpv4MinHeader) return key;
  key.ip_version = 4;
  key.protocol = p[9];
  std::copy_n(&p[12], 4, key.src_addr.begin());
  std::copy_n(&p[16], 4, key.dst_addr.begin());
  // Any fragment (MF set or offset != 0) is keyed on addresses and protocol only, so that
  // every fragment of a datagram hashes alike and takes the same path.
  const bool fragment = (load_be16(&p[6]) & 0x3FFF) != 0;
  if (!fragment) set_ports(key, p, ihl_bytes);
  return key;
}

bool is_walked_extension(std::uint8_t next) {
  return next == kIpv6HopByHop || next == kIpv6Routing || next == kIpv6DestinationOptions ||
         next == kIpv6Fragment;
}

FlowKey extract_ipv6(std::span<const std::uint8_t> p) {
  FlowKey key;
  if (p.size() < kIpv6Header) return key;
  key.ip_version = 6;
  std::copy_n(&p[8], 16, key.src_addr.begin());
  std::copy_n(&p[24], 16, key.dst_addr.begin());
  std::uint8_t next = p[6];
  std::size_t off = kIpv6Header;
  for (int steps = 0; is_walked_extension(next); ++steps) {
    // Out of steps or cut off inside an extension header: key without ports, the protocol is
    // the extension header we stopped at (still the same for every packet of the flow).
    if (steps == kMaxIpv6ExtensionHeaders) {
      key.protocol = next;
      return key;
    }
    if (next == kIpv6Fragment) {
      if (p.size() - off < kIpv6FragmentHeader) {
        key.protocol = next;
        return key;
      }
      // Any fragment is keyed without ports (see extract_ipv4): all fragments of one datagram
      // must hash alike.
      key.protocol = p[off];
      return key;
    }
    // Hop-by-hop, routing and destination options: length in 8-octet units, not counting
    // the first 8 octets (RFC 8200 §4.3-4.6).
    if (p.size() - off < 2) {
      key.protocol = next;
      return key;
    }
    const std::size_t length = (std::size_t{p[off + 1]} + 1) * 8;
    next = p[off];
    if (p.size() - off < length) {
      key.protocol = next;  // the transport header cannot be there anyway
      return key;
    }
    off += length;
  }
  key.protocol = next;
  set_ports(key, p, off);
  return key;
}

constexpr std::uint64_t kMul = 0x9E3779B97F4A7C15ull;  // 2^64 / golden ratio, odd

std::uint64_t absorb(std::uint64_t h, std::uint64_t word) {
  h = (h ^ word) * kMul;
  return h ^ (h >> 32);
}

// MurmurHash3's 64-bit finalizer: every input bit affects every output bit.
std::uint64_t finalize(std::uint64_t h) {
  h ^= h >> 33;
  h *= 0xFF51AFD7ED558CCDull;
  h ^= h >> 33;
  h *= 0xC4CEB9FE1A85EC53ull;
  h ^= h >> 33;
  return h;
}

}  // namespace

FlowKey extract_flow_key(std::span<const std::uint8_t> ip_packet) noexcept {
  if (ip_packet.empty()) return {};
  switch (ip_packet[0] >> 4) {
    case 4: return extract_ipv4(ip_packet);
    case 6: return extract_ipv6(ip_packet);
    default: return {};
  }
}

std::uint32_t flow_key_hash(const FlowKey& key, std::uint32_t seed) noexcept {
  std::uint64_t h = finalize(std::uint64_t{seed} ^ kMul);
  if (key.ip_version == 4) {
    h = absorb(h, (std::uint64_t{load_be32(key.src_addr.data())} << 32) |
                      load_be32(key.dst_addr.data()));
  } else if (key.ip_version == 6) {
    h = absorb(h, load_be64(key.src_addr.data()));
    h = absorb(h, load_be64(key.src_addr.data() + 8));
    h = absorb(h, load_be64(key.dst_addr.data()));
    h = absorb(h, load_be64(key.dst_addr.data() + 8));
  }
  h = absorb(h, (std::uint64_t{key.ip_version} << 56) | (std::uint64_t{key.protocol} << 48) |
                    (std::uint64_t{key.has_ports} << 32) | (std::uint64_t{key.src_port} << 16) |
                    key.dst_port);
  h = finalize(h);
  return static_cast<std::uint32_t>(h ^ (h >> 32));
}

std::uint32_t flow_hash(std::span<const std::uint8_t> ip_packet, std::uint32_t seed) noexcept {
  return flow_key_hash(extract_flow_key(ip_packet), seed);
}

}  // namespace mpt::scheduler
