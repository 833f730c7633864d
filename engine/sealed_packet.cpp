#include "engine/sealed_packet.h"

#include <array>

namespace mpt::engine {
namespace {

std::array<std::uint8_t, 16> associated_data(std::span<const std::uint8_t> header,
                                             const GreFields& gre) {
  std::array<std::uint8_t, 16> a{};
  for (std::size_t i = 0; i < kSealedHeaderSize; ++i) a[i] = header[i];
  const std::uint32_t key = gre.key.value_or(0), seq = gre.seq.value_or(0);
  for (int i = 0; i < 4; ++i) {
    a[8 + static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(key >> (24 - 8 * i));
    a[12 + static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(seq >> (24 - 8 * i));
  }
  return a;
}

}  // namespace

std::optional<SealedHeader> parse_sealed(std::span<const std::uint8_t> body) {
  if (body.size() < kSealedOverhead) return std::nullopt;
  if (body[0] != kSealedData && body[0] != kSealedRepair) return std::nullopt;
  SealedHeader h;
  h.kind = body[0];
  h.key_id = body[1];
  h.space = body[2];
  for (std::size_t i = 3; i < 8; ++i) h.counter = (h.counter << 8) | body[i];
  return h;
}

bool seal_body(Aead& aead, const SealedHeader& h, const GreFields& gre,
               std::span<std::uint8_t> body) {
  if (body.size() < kSealedOverhead || h.counter >= kSealedCounterLimit) return false;
  body[0] = h.kind;
  body[1] = h.key_id;
  body[2] = h.space;
  for (std::size_t i = 0; i < 5; ++i) body[3 + i] = static_cast<std::uint8_t>(h.counter >> (32 - 8 * i));
  const auto aad = associated_data(body, gre);
  const std::size_t text = body.size() - kSealedOverhead;
  return aead.seal(h.space, h.counter, aad, body.subspan(kSealedHeaderSize, text),
                   body.data() + kSealedHeaderSize + text);
}

bool open_body(Aead& aead, const SealedHeader& h, const GreFields& gre,
               std::span<std::uint8_t> body) {
  if (body.size() < kSealedOverhead) return false;
  const auto aad = associated_data(body, gre);
  const std::size_t text = body.size() - kSealedOverhead;
  const auto t = body.subspan(kSealedHeaderSize, text);
  if (aead.open(h.space, h.counter, aad, t, body.data() + kSealedHeaderSize + text)) return true;
  // Both ciphers decrypt by adding a keystream that depends on key and nonce only: sealing
  // the garbled text again under the same nonce restores the ciphertext.
  std::uint8_t scratch[kAeadTagSize];
  (void)aead.seal(h.space, h.counter, {}, t, scratch);
  return false;
}

}  // namespace mpt::engine
