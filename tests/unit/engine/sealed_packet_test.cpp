#include "engine/sealed_packet.h"

#include <catch2/catch.hpp>

#include <vector>

#include "engine/counter_window.h"
#include "engine/session_keys.h"

using namespace mpt::engine;
using Bytes = std::vector<std::uint8_t>;

namespace {

AeadKey key_of(std::uint8_t v) {
  AeadKey k;
  k.fill(v);
  return k;
}

// [8 header bytes][plaintext][16 tag bytes], sealed.
Bytes sealed_body(Aead& a, const SealedHeader& h, const GreFields& f, const Bytes& plain) {
  Bytes b(kSealedHeaderSize + plain.size() + kAeadTagSize, 0);
  std::copy(plain.begin(), plain.end(), b.begin() + kSealedHeaderSize);
  REQUIRE(seal_body(a, h, f, b));
  return b;
}

}  // namespace

TEST_CASE("Sealed packets: header layout byte-exact, open in place, round trip", "[sealed]") {
  Aead tx, rx;
  REQUIRE(tx.set_key(Cipher::kAes256Gcm, key_of(7)));
  REQUIRE(rx.set_key(Cipher::kAes256Gcm, key_of(7)));
  GreFields f;
  f.key = 0x01020304;
  f.seq = 0xA0B0C0D0;
  SealedHeader h{kSealedData, 0x5A, 3, 0x0102030405ull};
  const Bytes plain = {0x45, 0, 0, 20, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
  Bytes b = sealed_body(tx, h, f, plain);
  CHECK(Bytes(b.begin(), b.begin() + 8) == Bytes{4, 0x5A, 3, 0x01, 0x02, 0x03, 0x04, 0x05});
  CHECK(Bytes(b.begin() + 8, b.end() - 16) != plain);
  const auto parsed = parse_sealed(b);
  REQUIRE(parsed);
  CHECK(parsed->kind == kSealedData);
  CHECK(parsed->key_id == 0x5A);
  CHECK(parsed->space == 3);
  CHECK(parsed->counter == 0x0102030405ull);
  REQUIRE(open_body(rx, *parsed, f, b));
  CHECK(Bytes(b.begin() + 8, b.end() - 16) == plain);
}

TEST_CASE("Sealed packets: any changed byte, GRE key or sequence number fails; a failed open "
          "leaves the ciphertext as it was", "[sealed]") {
  for (const Cipher c : {Cipher::kAes256Gcm, Cipher::kChaCha20Poly1305}) {
    Aead tx, rx, other;
    REQUIRE(tx.set_key(c, key_of(1)));
    REQUIRE(rx.set_key(c, key_of(1)));
    REQUIRE(other.set_key(c, key_of(2)));
    GreFields f;
    f.seq = 77;
    const SealedHeader h{kSealedData, 9, 0, 1000};
    const Bytes sealed = sealed_body(tx, h, f, Bytes(100, 0x33));
    for (std::size_t i = 0; i < sealed.size(); ++i) {
      Bytes b = sealed;
      b[i] ^= 0x04;
      const auto p = parse_sealed(b);
      if (!p) continue;  // the kind byte changed: not a sealed packet any more
      CHECK_FALSE(open_body(rx, *p, f, b));
    }
    GreFields g = f;
    g.seq = 78;
    Bytes b = sealed;
    CHECK_FALSE(open_body(rx, h, g, b));
    g = f;
    g.key = 5;
    CHECK_FALSE(open_body(rx, h, g, b));
    // Another key fails and puts the ciphertext back: the right key still opens it.
    CHECK_FALSE(open_body(other, h, f, b));
    CHECK(b == sealed);
    CHECK(open_body(rx, h, f, b));
  }
}

TEST_CASE("Sealed packets: parse refuses short input, unknown kinds; counters are 40 bits",
          "[sealed]") {
  CHECK_FALSE(parse_sealed(Bytes(23, 4)));
  Bytes b(24, 0);
  for (int kind = 0; kind < 256; ++kind) {
    b[0] = static_cast<std::uint8_t>(kind);
    CHECK(parse_sealed(b).has_value() == (kind == kSealedData || kind == kSealedRepair));
  }
  Aead a;
  REQUIRE(a.set_key(Cipher::kAes256Gcm, key_of(3)));
  Bytes big(24 + 10, 0);
  CHECK_FALSE(seal_body(a, SealedHeader{kSealedData, 0, 0, kSealedCounterLimit}, GreFields{}, big));
  CHECK(seal_body(a, SealedHeader{kSealedData, 0, 0, kSealedCounterLimit - 1}, GreFields{}, big));
}

TEST_CASE("CounterWindow: once each, nothing older than the window, slides far", "[sealed]") {
  CounterWindow<1024> w;
  CHECK(w.check_and_update(0));
  CHECK_FALSE(w.check_and_update(0));
  CHECK(w.check_and_update(5000));
  CHECK_FALSE(w.check_and_update(5000 - 1024));  // exactly the window behind: too old
  CHECK(w.check_and_update(5000 - 1023));
  CHECK_FALSE(w.check_and_update(5000 - 1023));
  for (std::uint64_t c = 4100; c < 5000; ++c) CHECK(w.check_and_update(c));
  // A jump of less than the window clears exactly what it slides over.
  CHECK(w.check_and_update(5700));
  for (std::uint64_t c = 5001; c < 5700; ++c) CHECK(w.check_and_update(c));
  for (std::uint64_t c = 4677; c < 5000; ++c) CHECK_FALSE(w.check_and_update(c));
  CHECK(w.check_and_update(~std::uint64_t{0} >> 24));
}

TEST_CASE("TxSealer: the counter restarts only under new key material", "[sealed]") {
  KeySlot slot;
  TxSealer s;
  CHECK_FALSE(s.refresh(slot));  // nothing published
  KeyMaterial m{true, Cipher::kAes256Gcm, 7, key_of(9)};
  slot.publish(m);
  REQUIRE(s.refresh(slot));
  s.counter = 500;
  slot.publish(m);  // the same key again (a new generation): the counter goes on
  REQUIRE(s.refresh(slot));
  CHECK(s.counter == 500);
  m.key = key_of(10);
  slot.publish(m);
  REQUIRE(s.refresh(slot));
  CHECK(s.counter == 0);
  m.valid = false;
  slot.publish(m);
  CHECK_FALSE(s.refresh(slot));
}

TEST_CASE("KeyedCounterWindow: a new generation starts afresh, an older one is refused",
          "[sealed_packet]") {
  mpt::engine::KeyedCounterWindow<1024> w;
  CHECK(w.check_and_update(3, 10));
  CHECK_FALSE(w.check_and_update(3, 10));  // replay
  CHECK(w.check_and_update(3, 11));
  // New key material in the slot: counters start again under it.
  CHECK(w.check_and_update(4, 10));
  CHECK(w.check_and_update(4, 0));
  // A packet opened under the slot's previous material, just before it changed.
  CHECK_FALSE(w.check_and_update(3, 12));
  CHECK_FALSE(w.check_and_update(4, 10));
}
