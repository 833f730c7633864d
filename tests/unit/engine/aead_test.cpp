#include "engine/aead.h"

#include <catch2/catch.hpp>

#include <string>
#include <vector>

using mpt::engine::Aead;
using mpt::engine::AeadKey;
using mpt::engine::Cipher;
using Bytes = std::vector<std::uint8_t>;

namespace {

AeadKey key_of(std::uint8_t first) {
  AeadKey k;
  for (std::size_t i = 0; i < k.size(); ++i) k[i] = static_cast<std::uint8_t>(first + i);
  return k;
}

}  // namespace

TEST_CASE("ChaCha20-Poly1305 matches RFC 8439 section 2.8.2, nonce = space || counter",
          "[aead]") {
  Aead a;
  REQUIRE(a.set_key(Cipher::kChaCha20Poly1305, key_of(0x80)));
  const std::string text =
      "Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the "
      "future, sunscreen would be it.";
  Bytes data(text.begin(), text.end());
  const Bytes aad = {0x50, 0x51, 0x52, 0x53, 0xc0, 0xc1, 0xc2, 0xc3, 0xc4, 0xc5, 0xc6, 0xc7};
  std::uint8_t tag[16];
  // The RFC's nonce 07 00 00 00 40 41 42 43 44 45 46 47.
  REQUIRE(a.seal(0x07000000u, 0x4041424344454647ull, aad, data, tag));
  const Bytes head = {0xd3, 0x1a, 0x8d, 0x34, 0x64, 0x8e, 0x60, 0xdb,
                      0x7b, 0x86, 0xaf, 0xbc, 0x53, 0xef, 0x7e, 0xc2};
  CHECK(Bytes(data.begin(), data.begin() + 16) == head);
  const Bytes expect_tag = {0x1a, 0xe1, 0x0b, 0x59, 0x4f, 0x09, 0xe2, 0x6a,
                            0x7e, 0x90, 0x2e, 0xcb, 0xd0, 0x60, 0x06, 0x91};
  CHECK(Bytes(tag, tag + 16) == expect_tag);
  Aead b;
  REQUIRE(b.set_key(Cipher::kChaCha20Poly1305, key_of(0x80)));
  REQUIRE(b.open(0x07000000u, 0x4041424344454647ull, aad, data, tag));
  CHECK(std::string(data.begin(), data.end()) == text);
}

TEST_CASE("Both ciphers round-trip, and any change to text, tag, AAD, nonce or key fails",
          "[aead]") {
  for (const Cipher c : {Cipher::kAes256Gcm, Cipher::kChaCha20Poly1305}) {
    CAPTURE(mpt::engine::to_string(c));
    Aead tx, rx, other;
    REQUIRE(tx.set_key(c, key_of(1)));
    REQUIRE(rx.set_key(c, key_of(1)));
    REQUIRE(other.set_key(c, key_of(2)));
    const Bytes plain = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17};
    const Bytes aad = {0xAA, 0xBB};
    Bytes sealed = plain;
    std::uint8_t tag[16];
    REQUIRE(tx.seal(5, 77, aad, sealed, tag));
    CHECK(sealed != plain);
    {
      Bytes t = sealed;
      REQUIRE(rx.open(5, 77, aad, t, tag));
      CHECK(t == plain);
    }
    for (std::size_t i = 0; i < sealed.size(); ++i) {
      Bytes t = sealed;
      t[i] ^= 0x01;
      CHECK_FALSE(rx.open(5, 77, aad, t, tag));
    }
    for (int i = 0; i < 16; ++i) {
      Bytes t = sealed;
      std::uint8_t bad[16];
      std::copy(tag, tag + 16, bad);
      bad[i] ^= 0x80;
      CHECK_FALSE(rx.open(5, 77, aad, t, bad));
    }
    Bytes t = sealed;
    CHECK_FALSE(rx.open(5, 77, Bytes{0xAA, 0xBC}, t, tag));
    t = sealed;
    CHECK_FALSE(rx.open(6, 77, aad, t, tag));
    t = sealed;
    CHECK_FALSE(rx.open(5, 78, aad, t, tag));
    t = sealed;
    CHECK_FALSE(other.open(5, 77, aad, t, tag));
    // A key of the other cipher never opens it either.
    Aead wrong;
    REQUIRE(wrong.set_key(c == Cipher::kAes256Gcm ? Cipher::kChaCha20Poly1305 : Cipher::kAes256Gcm,
                          key_of(1)));
    t = sealed;
    CHECK_FALSE(wrong.open(5, 77, aad, t, tag));
  }
  Aead none;
  CHECK_FALSE(none.set_key(Cipher::kNone, key_of(1)));
  CHECK_FALSE(none.ready());
}
