// Internet checksum arithmetic (RFC 1071) for the offload code: partial sums that can be
// combined, pseudo-headers, folding. Sums are kept in native byte order (one's-complement
// addition is byte-order independent, RFC 1071 §2(B)), so a folded result is stored with
// memcpy, not htons. Little-endian hosts only (static_assert).
//
// Threads: any; pure functions.
#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>

namespace mpt::engine::csum {

static_assert(std::endian::native == std::endian::little, "checksum code assumes little endian");

// Adds `n` bytes at `p` (starting at an even offset of the checksummed data) to `acc`.
// The bulk goes 32 bytes per step into four independent two-lane accumulators (GCC/clang
// vector extensions: SSE2 on any x86-64), each lane summing the 32-bit halves of 64-bit
// words -- the same sum as one 64-bit accumulator, 2.8x faster on a 1400-byte segment here
// (27.6 against 77.6 ns). No lane can overflow: a 64 KB packet adds under 2^43 to each.
[[nodiscard]] inline std::uint64_t add(std::uint64_t acc, const std::uint8_t* p, std::size_t n) {
  if (n >= 32) {
    using V = std::uint64_t __attribute__((vector_size(16)));
    const V mask = {0xFFFFFFFFu, 0xFFFFFFFFu};
    V lo0 = {acc, 0}, hi0 = {0, 0}, lo1 = {0, 0}, hi1 = {0, 0};
    do {
      V w0, w1;
      std::memcpy(&w0, p, 16);
      std::memcpy(&w1, p + 16, 16);
      lo0 += w0 & mask;
      hi0 += w0 >> 32;
      lo1 += w1 & mask;
      hi1 += w1 >> 32;
      p += 32;
      n -= 32;
    } while (n >= 32);
    const V sum = lo0 + hi0 + lo1 + hi1;
    acc = sum[0] + sum[1];
  }
  while (n >= 8) {
    std::uint64_t w;
    std::memcpy(&w, p, 8);
    acc += (w & 0xFFFFFFFFu) + (w >> 32);
    p += 8;
    n -= 8;
  }
  if (n >= 4) {
    std::uint32_t w;
    std::memcpy(&w, p, 4);
    acc += w;
    p += 4;
    n -= 4;
  }
  if (n >= 2) {
    std::uint16_t w;
    std::memcpy(&w, p, 2);
    acc += w;
    p += 2;
    n -= 2;
  }
  if (n) acc += p[0];  // the high byte of a big-endian word = the low byte here
  return acc;
}

// Adds a 16-bit value given in host order (e.g. a length) as it appears on the wire.
[[nodiscard]] inline std::uint64_t add_be16(std::uint64_t acc, std::uint16_t host_value) {
  return acc + static_cast<std::uint16_t>((host_value >> 8) | (host_value << 8));
}

[[nodiscard]] inline std::uint16_t fold(std::uint64_t acc) {
  while (acc >> 16) acc = (acc & 0xFFFF) + (acc >> 16);
  return static_cast<std::uint16_t>(acc);
}

// Pseudo-header sum for TCP/UDP over IPv4 (ip points at the IPv4 header) or IPv6.
[[nodiscard]] inline std::uint64_t pseudo_header(const std::uint8_t* ip, bool v6,
                                                 std::uint8_t protocol, std::uint32_t l4_len) {
  std::uint64_t acc = v6 ? add(0, ip + 8, 32) : add(0, ip + 12, 8);
  acc = add_be16(acc, protocol);
  acc = add_be16(acc, static_cast<std::uint16_t>(l4_len & 0xFFFF));
  if (l4_len >> 16) acc = add_be16(acc, static_cast<std::uint16_t>(l4_len >> 16));
  return acc;
}

// Stores ~fold(acc) (a finished checksum) at p.
inline void store_final(std::uint8_t* p, std::uint64_t acc) {
  const std::uint16_t c = static_cast<std::uint16_t>(~fold(acc));
  std::memcpy(p, &c, 2);
}
// Stores fold(acc) (a partial checksum the kernel completes: CHECKSUM_PARTIAL) at p.
inline void store_partial(std::uint8_t* p, std::uint64_t acc) {
  const std::uint16_t c = fold(acc);
  std::memcpy(p, &c, 2);
}

// IPv4 header checksum, recomputed in place.
inline void fix_ipv4_header(std::uint8_t* ip) {
  const std::size_t ihl = std::size_t{ip[0] & 0x0Fu} * 4;
  ip[10] = ip[11] = 0;
  store_final(ip + 10, add(0, ip, ihl));
}

}  // namespace mpt::engine::csum
