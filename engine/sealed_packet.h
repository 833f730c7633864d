// Sealed data-plane packets: data and repair requests under the session keys of a keyed
// connection (docs/protocol.md, "Sealed data"). After the GRE header (protocol 0x88B5, so a
// standard decapsulator drops them instead of writing ciphertext into its TUN):
//
//    0        1        2        3 ......... 7   8 .................. n-16   n-16 ... n
//   +--------+--------+--------+-------------+------------------------+------------+
//   | kind   | key id | space  | counter u40 | ciphertext             | tag (16)   |
//   +--------+--------+--------+-------------+------------------------+------------+
//
// kind 4 = data (an inner IP packet), 5 = repair request (engine/repair_message.h body).
// key id: which of the peer's key sets sealed it (SessionKeys). space: the sending thread's
// nonce space (TUN reader queue 0, 1, ...; 255 = the TUN writer's repair requests), so no
// two threads share a counter; the counter starts at 0 under every key. AEAD nonce = space
// (32 bits) || counter (64 bits). Associated data: the 8 header bytes, then the GRE key and
// sequence number (4 bytes each, zero when absent) -- the GRE checksum covers the ciphertext
// and is computed last, so it is not part of it.
//
// Pure; parsing never reads outside its input (fed raw network input).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>

#include "engine/aead.h"
#include "engine/gre_udp.h"

namespace mpt::engine {

inline constexpr std::uint8_t kSealedData = 4;
inline constexpr std::uint8_t kSealedRepair = 5;
inline constexpr std::size_t kSealedHeaderSize = 8;
inline constexpr std::size_t kSealedOverhead = kSealedHeaderSize + kAeadTagSize;  // 24
inline constexpr std::uint8_t kRepairSpace = 255;
inline constexpr std::uint64_t kSealedCounterLimit = std::uint64_t{1} << 40;

struct SealedHeader {
  std::uint8_t kind = 0;
  std::uint8_t key_id = 0;
  std::uint8_t space = 0;
  std::uint64_t counter = 0;
};

// The header of a sealed packet (the bytes after the GRE header), if it is one: a known kind
// and room for the header and a tag.
[[nodiscard]] std::optional<SealedHeader> parse_sealed(std::span<const std::uint8_t> body);

// Seals in place: `body` = [8 header bytes][plaintext][16 bytes for the tag]; writes the header
// and the tag. `gre` gives the key and sequence number that go into the associated data.
[[nodiscard]] bool seal_body(Aead& aead, const SealedHeader& h, const GreFields& gre,
                             std::span<std::uint8_t> body);
// Opens in place; on failure the ciphertext is put back as it was (another key may be tried).
[[nodiscard]] bool open_body(Aead& aead, const SealedHeader& h, const GreFields& gre,
                             std::span<std::uint8_t> body);

}  // namespace mpt::engine
