// Unit tests for the GRE-in-UDP codec (engine/gre_udp.*). Expected wire bytes are written out
// by hand from the RFC 2784 §2.1 / RFC 2890 §2 layout, and the checksum is computed by a
// separate, deliberately naive reference rather than by the code under test.
#include "engine/gre_udp.h"

#include <catch2/catch.hpp>

#include <cstdint>
#include <optional>
#include <random>
#include <string>
#include <utility>
#include <vector>

namespace {

using mpt::engine::encode_gre;
using mpt::engine::GreError;
using mpt::engine::GreFields;
using mpt::engine::parse_gre;
using Bytes = std::vector<std::uint8_t>;

// A minimal IPv4/UDP packet: 20-byte header (IHL 5, total length 28) + 8-byte UDP header.
const Bytes kInnerV4 = {
    0x45, 0x00, 0x00, 0x1C, 0x12, 0x34, 0x40, 0x00, 0x40, 0x11, 0x00, 0x00,  // ver/ihl .. csum
    0x0A, 0x00, 0x00, 0x01,                                                  // 10.0.0.1
    0x0A, 0x00, 0x00, 0x02,                                                  // 10.0.0.2
    0x04, 0xD2, 0x16, 0x2E, 0x00, 0x08, 0x00, 0x00,                          // UDP 1234 -> 5678
};

// A minimal IPv6/UDP packet: 40-byte header (payload length 8) + 8-byte UDP header.
const Bytes kInnerV6 = {
    0x60, 0x00, 0x00, 0x00, 0x00, 0x08, 0x11, 0x40,  // ver/tc/flow, payload len 8, UDP, hop 64
    0x20, 0x01, 0x0D, 0xB8, 0x00, 0x00, 0x00, 0x00,  // 2001:db8::1
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01,  //
    0x20, 0x01, 0x0D, 0xB8, 0x00, 0x00, 0x00, 0x00,  // 2001:db8::2
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02,  //
    0x04, 0xD2, 0x16, 0x2E, 0x00, 0x08, 0x00, 0x00,  // UDP 1234 -> 5678
};

Bytes concat(Bytes a, const Bytes& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

// The RFC 1071 checksum the slow way: one byte at a time, one's-complement addition with the
// end-around carry folded in after every step, complemented at the end.
std::uint16_t naive_checksum(const Bytes& data) {
  std::uint32_t sum = 0;
  for (std::size_t i = 0; i < data.size(); ++i) {
    const std::uint32_t value = (i % 2 == 0) ? std::uint32_t{data[i]} * 256 : data[i];
    sum += value;
    if (sum > 0xFFFF) sum = sum - 0x10000 + 1;
  }
  return static_cast<std::uint16_t>(0xFFFF - sum);
}

// Encodes `fields` in front of `payload` and returns the whole packet.
Bytes encode(const GreFields& fields, const Bytes& payload) {
  Bytes packet(mpt::engine::gre_header_size(fields), 0xEE);  // garbage: encode must overwrite
  packet.insert(packet.end(), payload.begin(), payload.end());
  const std::size_t written = encode_gre(packet, fields);
  REQUIRE(written == mpt::engine::gre_header_size(fields));
  return packet;
}

GreError parse_error(const Bytes& datagram) { return parse_gre(datagram).error; }

// Base header with no optional fields in front of `payload`.
Bytes plain(std::uint16_t protocol, const Bytes& payload) {
  return concat({0x00, 0x00, static_cast<std::uint8_t>(protocol >> 8),
                 static_cast<std::uint8_t>(protocol)},
                payload);
}

}  // namespace

TEST_CASE("Encoding with no flags writes only the four-byte base header", "[gre]") {
  GreFields f;
  f.protocol = mpt::engine::kProtoIpv4;
  const Bytes expected = concat({0x00, 0x00, 0x08, 0x00}, kInnerV4);
  CHECK(encode(f, kInnerV4) == expected);

  f.protocol = mpt::engine::kProtoIpv6;
  CHECK(encode(f, kInnerV6) == concat({0x00, 0x00, 0x86, 0xDD}, kInnerV6));

  f.protocol = mpt::engine::kProtoMptControl;
  CHECK(encode(f, {0x01, 0x02, 0x03}) == Bytes{0x00, 0x00, 0x88, 0xB5, 0x01, 0x02, 0x03});
}

TEST_CASE("Encoding with a sequence number sets S and appends the sequence field", "[gre]") {
  GreFields f;
  f.protocol = mpt::engine::kProtoIpv4;
  f.seq = 0x01020304;
  const Bytes expected = concat({0x10, 0x00, 0x08, 0x00,  // S (bit 3), Ver 0, IPv4
                                 0x01, 0x02, 0x03, 0x04},  // sequence number
                                kInnerV4);
  CHECK(encode(f, kInnerV4) == expected);
}

TEST_CASE("Encoding with a key sets K and appends the key field", "[gre]") {
  GreFields f;
  f.protocol = mpt::engine::kProtoIpv6;
  f.key = 0xDEADBEEF;
  const Bytes expected = concat({0x20, 0x00, 0x86, 0xDD,  // K (bit 2), Ver 0, IPv6
                                 0xDE, 0xAD, 0xBE, 0xEF},  // key
                                kInnerV6);
  CHECK(encode(f, kInnerV6) == expected);
}

TEST_CASE("Encoding with key and sequence puts the key before the sequence number", "[gre]") {
  GreFields f;
  f.protocol = mpt::engine::kProtoIpv4;
  f.key = 0x0A0B0C0D;
  f.seq = 0xFFFFFFFF;
  const Bytes expected = concat({0x30, 0x00, 0x08, 0x00, 0x0A, 0x0B, 0x0C, 0x0D, 0xFF, 0xFF,
                                 0xFF, 0xFF},
                                kInnerV4);
  CHECK(encode(f, kInnerV4) == expected);
}

TEST_CASE("Encoding with checksum, key and sequence matches the RFC layout byte for byte",
          "[gre]") {
  for (const Bytes* inner : {&kInnerV4, &kInnerV6}) {
    GreFields f;
    f.protocol = inner == &kInnerV4 ? mpt::engine::kProtoIpv4 : mpt::engine::kProtoIpv6;
    f.checksum = true;
    f.key = 0x11223344;
    f.seq = 0x00000007;
    Bytes expected = concat({0xB0, 0x00,  // C (bit 0) | K (bit 2) | S (bit 3), Ver 0
                             static_cast<std::uint8_t>(f.protocol >> 8),
                             static_cast<std::uint8_t>(f.protocol),
                             0x00, 0x00,              // checksum, filled in below
                             0x00, 0x00,              // Reserved1
                             0x11, 0x22, 0x33, 0x44,  // key
                             0x00, 0x00, 0x00, 0x07},  // sequence number
                            *inner);
    const std::uint16_t sum = naive_checksum(expected);
    expected[4] = static_cast<std::uint8_t>(sum >> 8);
    expected[5] = static_cast<std::uint8_t>(sum);
    CHECK(encode(f, *inner) == expected);
  }
}

TEST_CASE("Encoding with only a checksum covers an odd-length payload", "[gre]") {
  GreFields f;
  f.protocol = mpt::engine::kProtoMptControl;
  f.checksum = true;
  const Bytes payload = {0xAB, 0xCD, 0xEF};
  Bytes expected = concat({0x80, 0x00, 0x88, 0xB5, 0x00, 0x00, 0x00, 0x00}, payload);
  const std::uint16_t sum = naive_checksum(expected);
  expected[4] = static_cast<std::uint8_t>(sum >> 8);
  expected[5] = static_cast<std::uint8_t>(sum);
  const Bytes packet = encode(f, payload);
  CHECK(packet == expected);
  CHECK(parse_error(packet) == GreError::kOk);
}

TEST_CASE("internet_checksum agrees with the naive reference", "[gre]") {
  std::mt19937 rng(12345);
  for (std::size_t len = 0; len < 200; ++len) {
    Bytes data(len);
    for (auto& b : data) b = static_cast<std::uint8_t>(rng());
    CAPTURE(len);
    CHECK(mpt::engine::internet_checksum(data) == naive_checksum(data));
  }
  CHECK(mpt::engine::internet_checksum(Bytes{}) == 0xFFFF);
  CHECK(mpt::engine::internet_checksum(Bytes(64, 0xFF)) == 0x0000);
}

TEST_CASE("Every combination of flags and protocols survives an encode/parse round trip",
          "[gre]") {
  const std::uint32_t values[] = {0, 1, 0x80000000, 0xFFFFFFFF, 0x12345678};
  struct Inner {
    std::uint16_t protocol;
    Bytes payload;
  };
  const Inner inners[] = {{mpt::engine::kProtoIpv4, kInnerV4},
                          {mpt::engine::kProtoIpv6, kInnerV6},
                          {mpt::engine::kProtoMptControl, {}},
                          {mpt::engine::kProtoMptControl, {0x42}},
                          {mpt::engine::kProtoMptControl, {1, 2, 3, 4, 5, 6}}};
  for (const Inner& inner : inners) {
    for (int flags = 0; flags < 8; ++flags) {
      for (std::uint32_t value : values) {
        GreFields f;
        f.protocol = inner.protocol;
        f.checksum = (flags & 1) != 0;
        if (flags & 2) f.key = value;
        if (flags & 4) f.seq = ~value;
        CAPTURE(inner.protocol, flags, value);
        const Bytes packet = encode(f, inner.payload);
        const auto parsed = parse_gre(packet);
        REQUIRE(parsed.error == GreError::kOk);
        CHECK(parsed.header_size == mpt::engine::gre_header_size(f));
        CHECK(parsed.fields.protocol == f.protocol);
        CHECK(parsed.fields.checksum == f.checksum);
        CHECK(parsed.fields.key == f.key);
        CHECK(parsed.fields.seq == f.seq);
        CHECK(Bytes(packet.begin() + parsed.header_size, packet.end()) == inner.payload);
      }
    }
  }
}

TEST_CASE("A checksum of 0xFFFF is accepted where 0x0000 is computed (both are zero)",
          "[gre]") {
  // Header and payload sum to 0xFFFF with the checksum field zeroed:
  // 0x8000 + 0x88B5 = 0x108B5 -> 0x08B6, and 0x08B6 + 0xF749 = 0xFFFF.
  Bytes packet = {0x80, 0x00, 0x88, 0xB5, 0x00, 0x00, 0x00, 0x00, 0xF7, 0x49};
  GreFields f;
  f.protocol = mpt::engine::kProtoMptControl;
  f.checksum = true;
  CHECK(encode(f, {0xF7, 0x49}) == packet);  // the encoder writes +0
  CHECK(parse_error(packet) == GreError::kOk);
  packet[4] = 0xFF;  // -0 in one's complement verifies just as well (RFC 1624 §3)
  packet[5] = 0xFF;
  CHECK(parse_error(packet) == GreError::kOk);
}

TEST_CASE("Datagrams shorter than the four-byte base header are rejected", "[gre][reject]") {
  CHECK(parse_error({}) == GreError::kTooShort);
  const Bytes full = plain(mpt::engine::kProtoMptControl, {});
  for (std::size_t len = 0; len < 4; ++len) {
    CAPTURE(len);
    CHECK(parse_error(Bytes(full.begin(), full.begin() + static_cast<long>(len))) ==
          GreError::kTooShort);
  }
}

TEST_CASE("Datagrams shorter than the optional fields their flags announce are rejected",
          "[gre][reject]") {
  struct Case {
    std::uint8_t flags;
    std::size_t header;
  };
  const Case cases[] = {
      {0x80, 8}, {0x20, 8}, {0x10, 8}, {0xA0, 12}, {0x90, 12}, {0x30, 12}, {0xB0, 16},
  };
  for (const Case& c : cases) {
    // Zero-filled optional fields; control type so that there is no inner IP to check.
    Bytes datagram = {c.flags, 0x00, 0x88, 0xB5};
    datagram.resize(c.header, 0);
    for (std::size_t len = 4; len < c.header; ++len) {
      CAPTURE(int{c.flags}, len);
      CHECK(parse_error(Bytes(datagram.begin(), datagram.begin() + static_cast<long>(len))) ==
            GreError::kTooShort);
    }
  }
}

TEST_CASE("Every non-zero version is rejected", "[gre][reject]") {
  for (std::uint8_t ver = 1; ver <= 7; ++ver) {
    Bytes datagram = plain(mpt::engine::kProtoIpv4, kInnerV4);
    datagram[1] = ver;
    CAPTURE(int{ver});
    CHECK(parse_error(datagram) == GreError::kBadVersion);
  }
}

TEST_CASE("Reserved bits 1, 4 and 5 cause a discard", "[gre][reject]") {
  for (std::uint8_t bit : {std::uint8_t{0x40}, std::uint8_t{0x08}, std::uint8_t{0x04}}) {
    Bytes datagram = plain(mpt::engine::kProtoIpv4, kInnerV4);
    datagram[0] = bit;
    CAPTURE(int{bit});
    CHECK(parse_error(datagram) == GreError::kReservedBits);
  }
}

TEST_CASE("Reserved bits 6 to 12 are ignored on receipt", "[gre]") {
  // Bits 6, 7 are the low two bits of octet 0; bits 8-12 the high five bits of octet 1.
  const std::pair<std::size_t, std::uint8_t> bits[] = {
      {0, 0x02}, {0, 0x01}, {1, 0x80}, {1, 0x40}, {1, 0x20}, {1, 0x10}, {1, 0x08}};
  for (const auto& [octet, mask] : bits) {
    Bytes datagram = plain(mpt::engine::kProtoIpv4, kInnerV4);
    datagram[octet] = mask;
    CAPTURE(octet, int{mask});
    const auto parsed = parse_gre(datagram);
    CHECK(parsed.error == GreError::kOk);
    CHECK(parsed.header_size == 4);
  }
  Bytes all = plain(mpt::engine::kProtoIpv6, kInnerV6);
  all[0] = 0x03;
  all[1] = 0xF8;
  CHECK(parse_error(all) == GreError::kOk);
}

TEST_CASE("Unknown protocol types are rejected", "[gre][reject]") {
  for (std::uint16_t protocol : {0x0000, 0x0806, 0x6558, 0x86DC, 0x86DE, 0x88B7, 0xFFFF}) {
    CAPTURE(protocol);
    CHECK(parse_error(plain(protocol, kInnerV4)) == GreError::kUnknownProtocol);
  }
}

TEST_CASE("A checksum that does not verify is rejected", "[gre][reject]") {
  GreFields f;
  f.protocol = mpt::engine::kProtoIpv4;
  f.checksum = true;
  f.key = 99;
  const Bytes good = encode(f, kInnerV4);
  REQUIRE(parse_error(good) == GreError::kOk);
  // Any single flipped bit outside the flags/version/protocol octets (which are checked
  // first) breaks the checksum.
  for (std::size_t i = 4; i < good.size(); ++i) {
    Bytes bad = good;
    bad[i] ^= 0x01;
    CAPTURE(i);
    CHECK(parse_error(bad) == GreError::kBadChecksum);
  }
  Bytes zeroed = good;
  zeroed[4] = 0;
  zeroed[5] = 0;
  CHECK(parse_error(zeroed) == GreError::kBadChecksum);
}

TEST_CASE("Inner IP packets shorter than a minimal header are rejected", "[gre][reject]") {
  for (std::size_t len = 0; len < 20; ++len) {
    CAPTURE(len);
    CHECK(parse_error(plain(mpt::engine::kProtoIpv4,
                            Bytes(kInnerV4.begin(), kInnerV4.begin() + static_cast<long>(len)))) ==
          GreError::kInnerTooShort);
  }
  for (std::size_t len = 0; len < 40; ++len) {
    CAPTURE(len);
    CHECK(parse_error(plain(mpt::engine::kProtoIpv6,
                            Bytes(kInnerV6.begin(), kInnerV6.begin() + static_cast<long>(len)))) ==
          GreError::kInnerTooShort);
  }
}

TEST_CASE("An inner version that disagrees with the protocol type is rejected",
          "[gre][reject]") {
  CHECK(parse_error(plain(mpt::engine::kProtoIpv4, kInnerV6)) ==
        GreError::kInnerVersionMismatch);
  // An IPv4 packet of 48 bytes (long enough to pass the IPv6 size check) under 0x86DD.
  Bytes v4_long = kInnerV4;
  v4_long.resize(48, 0);
  v4_long[3] = 48;
  REQUIRE(parse_error(plain(mpt::engine::kProtoIpv4, v4_long)) == GreError::kOk);
  CHECK(parse_error(plain(mpt::engine::kProtoIpv6, v4_long)) == GreError::kInnerVersionMismatch);
  // Neither 4 nor 6.
  for (std::uint8_t nibble : {0, 1, 5, 7, 15}) {
    Bytes v4 = kInnerV4;
    v4[0] = static_cast<std::uint8_t>((nibble << 4) | 5);
    Bytes v6 = kInnerV6;
    v6[0] = static_cast<std::uint8_t>(nibble << 4);
    CAPTURE(int{nibble});
    CHECK(parse_error(plain(mpt::engine::kProtoIpv4, v4)) == GreError::kInnerVersionMismatch);
    CHECK(parse_error(plain(mpt::engine::kProtoIpv6, v6)) == GreError::kInnerVersionMismatch);
  }
}

TEST_CASE("An IPv4 total length larger than the bytes present is rejected", "[gre][reject]") {
  Bytes v4 = kInnerV4;
  v4[3] = 29;
  CHECK(parse_error(plain(mpt::engine::kProtoIpv4, v4)) == GreError::kInnerLengthMismatch);
  v4[2] = 0xFF;
  v4[3] = 0xFF;
  CHECK(parse_error(plain(mpt::engine::kProtoIpv4, v4)) == GreError::kInnerLengthMismatch);
}

TEST_CASE("An IPv4 total length smaller than the bytes present is rejected", "[gre][reject]") {
  Bytes v4 = kInnerV4;
  v4[3] = 27;
  CHECK(parse_error(plain(mpt::engine::kProtoIpv4, v4)) == GreError::kInnerLengthMismatch);
  v4[3] = 20;  // just the header; the UDP header is trailing garbage
  CHECK(parse_error(plain(mpt::engine::kProtoIpv4, v4)) == GreError::kInnerLengthMismatch);
  v4[3] = 0;
  CHECK(parse_error(plain(mpt::engine::kProtoIpv4, v4)) == GreError::kInnerLengthMismatch);
}

TEST_CASE("An IPv4 header length below five words is rejected", "[gre][reject]") {
  for (std::uint8_t ihl = 0; ihl < 5; ++ihl) {
    Bytes v4 = kInnerV4;
    v4[0] = static_cast<std::uint8_t>(0x40 | ihl);
    CAPTURE(int{ihl});
    CHECK(parse_error(plain(mpt::engine::kProtoIpv4, v4)) == GreError::kInnerLengthMismatch);
  }
}

TEST_CASE("An IPv4 header length beyond the total length is rejected", "[gre][reject]") {
  Bytes v4 = kInnerV4;
  v4[0] = 0x48;  // IHL 8 = 32 bytes, total length 28
  CHECK(parse_error(plain(mpt::engine::kProtoIpv4, v4)) == GreError::kInnerLengthMismatch);
  v4[0] = 0x47;  // IHL 7 = 28 bytes: header only, fine
  CHECK(parse_error(plain(mpt::engine::kProtoIpv4, v4)) == GreError::kOk);
}

TEST_CASE("An IPv6 payload length that disagrees with the bytes present is rejected",
          "[gre][reject]") {
  for (std::uint16_t payload : {7, 9, 48, 0xFFFF}) {
    Bytes v6 = kInnerV6;
    v6[4] = static_cast<std::uint8_t>(payload >> 8);
    v6[5] = static_cast<std::uint8_t>(payload);
    CAPTURE(payload);
    CHECK(parse_error(plain(mpt::engine::kProtoIpv6, v6)) == GreError::kInnerLengthMismatch);
  }
}

TEST_CASE("An IPv6 payload length of zero (jumbogram) is rejected", "[gre][reject]") {
  Bytes v6 = kInnerV6;
  v6[4] = 0;
  v6[5] = 0;
  CHECK(parse_error(plain(mpt::engine::kProtoIpv6, v6)) == GreError::kInnerLengthMismatch);
  // Even a bare 40-byte header, where zero would match the bytes present.
  const Bytes bare(v6.begin(), v6.begin() + 40);
  CHECK(parse_error(plain(mpt::engine::kProtoIpv6, bare)) == GreError::kInnerLengthMismatch);
}

TEST_CASE("Control messages are not checked as IP, even when empty", "[gre]") {
  CHECK(parse_error(plain(mpt::engine::kProtoMptControl, {})) == GreError::kOk);
  CHECK(parse_error(plain(mpt::engine::kProtoMptControl, {0x45})) == GreError::kOk);
  CHECK(parse_error(plain(mpt::engine::kProtoMptControl, kInnerV6)) == GreError::kOk);
}

TEST_CASE("Every error has its own name", "[gre]") {
  std::vector<std::string> names;
  for (int e = 0; e < static_cast<int>(GreError::kCount); ++e) {
    const std::string name = mpt::engine::to_string(static_cast<GreError>(e));
    CAPTURE(e, name);
    CHECK(name != "unknown");
    for (const auto& other : names) CHECK(other != name);
    names.push_back(name);
  }
}

TEST_CASE("entropy_source_port stays in the dynamic port range for any hash", "[gre]") {
  using mpt::engine::entropy_source_port;
  static_assert(entropy_source_port(0) == 49152);
  static_assert(entropy_source_port(16383) == 65535);
  static_assert(entropy_source_port(16384) == 49152);
  static_assert(entropy_source_port(0xFFFFFFFF) == 65535);
  std::mt19937 rng(7);
  bool saw_low = false;
  bool saw_high = false;
  for (int i = 0; i < 200000; ++i) {
    const std::uint32_t hash = i < 70000 ? static_cast<std::uint32_t>(i) * 61333u
                                         : static_cast<std::uint32_t>(rng());
    const std::uint16_t port = entropy_source_port(hash);
    if (port < 49152) FAIL("port " << port << " below range for hash " << hash);
    saw_low = saw_low || port == 49152;
    saw_high = saw_high || port == 65535;
  }
  CHECK(saw_low);
  CHECK(saw_high);
}

TEST_CASE("protocol_for_inner maps the IP version nibble to the GRE protocol type", "[gre]") {
  using mpt::engine::protocol_for_inner;
  CHECK(protocol_for_inner({}) == 0);
  CHECK(protocol_for_inner(kInnerV4) == mpt::engine::kProtoIpv4);
  CHECK(protocol_for_inner(kInnerV6) == mpt::engine::kProtoIpv6);
  CHECK(protocol_for_inner(Bytes{0x4F}) == mpt::engine::kProtoIpv4);
  CHECK(protocol_for_inner(Bytes{0x6F}) == mpt::engine::kProtoIpv6);
  for (std::uint8_t nibble : {0, 1, 2, 3, 5, 7, 8, 15}) {
    CAPTURE(int{nibble});
    CHECK(protocol_for_inner(Bytes{static_cast<std::uint8_t>(nibble << 4)}) == 0);
  }
}

TEST_CASE("Plain data's sequence space rides in the GRE key's low bits, from the configured key",
          "[gre][queues]") {
  using mpt::engine::key_space;
  using mpt::engine::space_key;
  using Key = std::optional<std::uint32_t>;
  for (const Key configured : {Key{}, Key{0}, Key{0x12345678}, Key{0x12345602}, Key{0xFFFFFFFF}}) {
    CAPTURE(configured.has_value(), configured.value_or(0));
    // Space 0 is the configured key itself: what a single-queue mptd always sends.
    CHECK(space_key(configured, 0) == configured);
    std::vector<std::uint32_t> seen;
    for (unsigned space = 0; space < 4; ++space) {
      CAPTURE(space);
      const Key k = space_key(configured, space);
      CHECK(key_space(k, configured) == static_cast<int>(space));
      if (space > 0) {
        REQUIRE(k.has_value());
        // Only the two low bits differ from the configured key (or from 0 without one).
        CHECK((*k & ~3u) == (configured.value_or(0) & ~3u));
        seen.push_back(*k);
      }
    }
    // Every space has a key of its own, and none is the configured one.
    for (std::size_t i = 0; i < seen.size(); ++i) {
      CHECK(Key{seen[i]} != configured);
      for (std::size_t j = i + 1; j < seen.size(); ++j) CHECK(seen[i] != seen[j]);
    }
  }
  // Keys that are not the connection's are refused.
  CHECK(key_space(Key{4}, Key{}) == -1);
  CHECK(key_space(Key{0x12345700}, Key{0x12345678}) == -1);
  CHECK(key_space(Key{}, Key{0x12345678}) == -1);  // the configured key is required
  CHECK(key_space(Key{0x12345679}, Key{0x12345678}) == 1);
  CHECK(key_space(Key{0x1234567B}, Key{0x12345678}) == 3);
  CHECK(key_space(Key{0x12345677}, Key{0x12345678}) == -1);  // other high bits
}
