// libFuzzer target for sealed data-plane packets (engine/sealed_packet.*, engine/aead.*,
// engine/counter_window.h): what a path worker opens, fed raw network input.
//
// Input: 1 byte of mode, then bytes.
//   mode bit 0 clear: the bytes are a sealed body from the network; parse_sealed, then
//     open_body under a fixed key (either cipher) -- must never crash, and must never
//     "open" (the harness holds the only key, and never sealed these bytes);
//   mode bit 0 set: the bytes are a plaintext; the harness seals it (header fields from the
//     first bytes), checks that it opens to the same plaintext, then flips one bit chosen by
//     the input (or cuts the body short) and checks that it no longer opens, and that the
//     ciphertext is as it was after the failed attempt.
// Also: a CounterWindow fed the counters of the input never accepts a counter twice.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <set>
#include <vector>

#include "engine/counter_window.h"
#include "engine/sealed_packet.h"

namespace {

using namespace mpt::engine;
using Bytes = std::vector<std::uint8_t>;

void check(bool ok) {
  if (!ok) __builtin_trap();
}

Aead& aead(Cipher c) {
  static Aead gcm, chacha;
  static bool init = false;
  if (!init) {
    AeadKey k;
    k.fill(0x42);
    check(gcm.set_key(Cipher::kAes256Gcm, k));
    check(chacha.set_key(Cipher::kChaCha20Poly1305, k));
    init = true;
  }
  return c == Cipher::kAes256Gcm ? gcm : chacha;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const std::uint8_t mode = data[0];
  const Cipher c = mode & 2 ? Cipher::kChaCha20Poly1305 : Cipher::kAes256Gcm;
  GreFields f;
  if (mode & 4) f.seq = 0x01020304;
  if (mode & 8) f.key = 0xA0B0C0D0;
  Bytes in(data + 1, data + size);
  if (!(mode & 1)) {
    const auto h = parse_sealed(in);
    if (h) check(!open_body(aead(c), *h, f, in));
    return 0;
  }
  if (in.size() < 8) return 0;
  SealedHeader h;
  h.kind = in[0] & 1 ? kSealedRepair : kSealedData;
  h.key_id = in[1];
  h.space = in[2];
  h.counter = (std::uint64_t{in[3]} << 32 | std::uint64_t{in[4]} << 24 | std::uint64_t{in[5]} << 16 |
               std::uint64_t{in[6]} << 8 | in[7]);
  const std::size_t flip = (std::size_t{in[3]} << 8 | in[4]);
  const Bytes plain(in.begin() + 8, in.end());
  Bytes body(kSealedHeaderSize + plain.size() + kAeadTagSize);
  if (!plain.empty()) std::memcpy(body.data() + kSealedHeaderSize, plain.data(), plain.size());
  check(seal_body(aead(c), h, f, body));
  const Bytes sealed = body;
  const auto p = parse_sealed(body);
  check(p && p->counter == h.counter && p->space == h.space && p->key_id == h.key_id);
  check(open_body(aead(c), *p, f, body));
  check(plain.empty() || std::memcmp(body.data() + kSealedHeaderSize, plain.data(), plain.size()) == 0);
  Bytes bad = sealed;
  if (mode & 16) {
    bad.resize(bad.size() - 1 - flip % (bad.size() - kSealedOverhead + 1));
  } else {
    bad[flip % bad.size()] ^= static_cast<std::uint8_t>(1u << (mode >> 5));
  }
  if (const auto q = parse_sealed(bad)) {
    const Bytes before = bad;
    check(!open_body(aead(c), *q, f, bad));
    check(bad == before);
  }
  // Replay window: each counter of the input at most once.
  CounterWindow<1024> w;
  std::set<std::uint64_t> seen;
  for (std::size_t i = 0; i + 2 <= in.size(); i += 2) {
    const std::uint64_t ctr = (std::uint64_t{in[i]} << 8 | in[i + 1]) * (mode & 64 ? 37 : 1);
    if (w.check_and_update(ctr)) check(seen.insert(ctr).second);
  }
  return 0;
}
