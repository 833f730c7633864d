// Splitting a received UDP GRO batch into its datagrams. With UDP_GRO on, the kernel may hand
// over several datagrams of one source as one buffer of `len` bytes, with their size in a
// UDP_GRO control message: every datagram is `gso_size` bytes but the last, which may be
// shorter. gso_size 0 (no control message) or >= len means one datagram.
//
// An empty datagram (UDP allows it) is one datagram of 0 bytes, so that the parser after
// the split counts it as too short like any other runt.
// Pure, no I/O; fed what the kernel reports (and fuzzed, tests/fuzz/gro_split_fuzz.cpp):
// never yields an empty piece of a batch, never reads outside [data, data + len).
#pragma once

#include <algorithm>
#include <cstdint>

namespace mpt::engine {

// How many datagrams a batch of `len` bytes holds.
[[nodiscard]] constexpr std::uint32_t gro_datagram_count(std::uint32_t len,
                                                         std::uint32_t gso_size) {
  if (gso_size == 0 || gso_size >= len) return 1;
  return len / gso_size + (len % gso_size != 0);
}

// Calls f(pointer, length) for each datagram, in order.
template <typename F>
void for_each_gro_datagram(std::uint8_t* data, std::uint32_t len, std::uint32_t gso_size, F&& f) {
  if (gso_size == 0 || gso_size >= len) {
    f(data, len);
    return;
  }
  for (std::uint32_t off = 0; off < len; off += gso_size) {
    f(data + off, std::min(gso_size, len - off));
  }
}

}  // namespace mpt::engine
