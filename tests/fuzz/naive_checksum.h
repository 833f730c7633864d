// For the fuzz targets: an independent, deliberately naive RFC 1071 sum, to check the
// checksums engine/checksum.h and the offload code produce without trusting them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace mpt::fuzz {

[[nodiscard]] inline std::uint32_t naive_add(std::uint32_t sum, const std::uint8_t* p, std::size_t n) {
  for (std::size_t i = 0; i < n; i += 2) {
    std::uint32_t word = std::uint32_t{p[i]} << 8;
    if (i + 1 < n) word |= p[i + 1];
    sum += word;
    while (sum > 0xFFFF) sum = (sum & 0xFFFF) + (sum >> 16);
  }
  return sum;
}

// Pseudo-header + L4 bytes of `seg` (an IPv4 or IPv6 packet, L4 header at `l4`, IP protocol
// `proto`) sum to one's-complement zero.
[[nodiscard]] inline bool l4_verifies(const std::vector<std::uint8_t>& seg, bool v6, std::size_t l4,
                                      std::uint8_t proto) {
  const auto len = static_cast<std::uint32_t>(seg.size() - l4);
  std::uint32_t sum = v6 ? naive_add(0, seg.data() + 8, 32) : naive_add(0, seg.data() + 12, 8);
  const std::uint8_t tail[] = {static_cast<std::uint8_t>(len >> 24), static_cast<std::uint8_t>(len >> 16),
                               static_cast<std::uint8_t>(len >> 8), static_cast<std::uint8_t>(len),
                               0, proto};
  sum = naive_add(sum, tail, sizeof tail);
  return naive_add(sum, seg.data() + l4, seg.size() - l4) == 0xFFFF;
}

}  // namespace mpt::fuzz
