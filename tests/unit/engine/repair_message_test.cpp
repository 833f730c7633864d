// The repair request (NACK) codec: byte-exact encoding and every reason to reject.
#include <catch2/catch.hpp>

#include <cstdint>
#include <vector>

#include "engine/gre_udp.h"
#include "engine/repair_message.h"

using mpt::engine::encode_nack;
using mpt::engine::kNackMaxRanges;
using mpt::engine::kNackMaxRun;
using mpt::engine::kNackMaxSize;
using mpt::engine::NackError;
using mpt::engine::NackRange;
using mpt::engine::parse_nack;
using Bytes = std::vector<std::uint8_t>;

TEST_CASE("NACK encodes byte for byte and parses back", "[repair]") {
  const NackRange ranges[] = {{0x01020304, 3, 0}, {0xFFFFFFFF, 1024, 1}};
  Bytes out(kNackMaxSize);
  const std::size_t n = encode_nack(out, ranges);
  REQUIRE(n == 20);
  out.resize(n);
  CHECK(out == Bytes{1, 1, 0, 2, 0x01, 0x02, 0x03, 0x04, 0, 3, 0, 0,
                     0xFF, 0xFF, 0xFF, 0xFF, 0x04, 0x00, 1, 0});
  const auto p = parse_nack(out);
  REQUIRE(p.error == NackError::kOk);
  REQUIRE(p.count == 2);
  CHECK(p.ranges[0] == ranges[0]);
  CHECK(p.ranges[1] == ranges[1]);
}

TEST_CASE("NACK encoding refuses what it could not parse back", "[repair]") {
  Bytes out(kNackMaxSize);
  CHECK(encode_nack(out, {}) == 0);
  const NackRange zero[] = {{5, 0}};
  CHECK(encode_nack(out, zero) == 0);
  const NackRange big[] = {{5, kNackMaxRun + 1}};
  CHECK(encode_nack(out, big) == 0);
  const NackRange third[] = {{5, 1, 2}};  // attempts are 0 and 1
  CHECK(encode_nack(out, third) == 0);
  std::vector<NackRange> many(kNackMaxRanges + 1, NackRange{1, 1});
  CHECK(encode_nack(out, many) == 0);
  Bytes small(11);
  const NackRange one[] = {{5, 1}};
  CHECK(encode_nack(small, one) == 0);
}

TEST_CASE("NACK parsing rejects every malformed body", "[repair][reject]") {
  const Bytes good{1, 1, 0, 1, 0, 0, 0, 9, 0, 1, 0, 0};
  REQUIRE(parse_nack(good).error == NackError::kOk);
  CHECK(parse_nack(Bytes{1, 1, 0}).error == NackError::kTooShort);
  Bytes b = good;
  b[0] = 2;
  CHECK(parse_nack(b).error == NackError::kBadVersion);
  b = good;
  b[1] = 7;
  CHECK(parse_nack(b).error == NackError::kBadType);
  b = good;
  b[3] = 2;  // says two ranges, has one
  CHECK(parse_nack(b).error == NackError::kBadLength);
  b = good;
  b[3] = 0;
  CHECK(parse_nack(Bytes(b.begin(), b.begin() + 4)).error == NackError::kBadLength);
  b = good;
  b.push_back(0);  // trailing byte
  CHECK(parse_nack(b).error == NackError::kBadLength);
  b = good;
  b[9] = 0;  // count 0
  CHECK(parse_nack(b).error == NackError::kBadRange);
  b = good;
  b[8] = 0x04;
  b[9] = 0x01;  // count 1025
  CHECK(parse_nack(b).error == NackError::kBadRange);
  b = good;
  b[10] = 2;  // attempt beyond the second
  CHECK(parse_nack(b).error == NackError::kBadRange);
  b = good;
  b[10] = 1;  // a second attempt is fine
  REQUIRE(parse_nack(b).error == NackError::kOk);
  CHECK(parse_nack(b).ranges[0].attempt == 1);
  b = good;
  b[11] = 3;  // sequence space 3: the peer's fourth TUN queue
  REQUIRE(parse_nack(b).error == NackError::kOk);
  CHECK(parse_nack(b).ranges[0].space == 3);
  b = good;
  b[11] = 4;  // no such space (at most kMaxQueues = 4 queues)
  const auto p = parse_nack(b);
  CHECK(p.error == NackError::kBadRange);
  CHECK(p.count == 0);
  // Every range of a message names the same space (one reorder stage asked).
  Bytes two{1, 1, 0, 2, 0, 0, 0, 9, 0, 1, 0, 1, 0, 0, 0, 20, 0, 1, 0, 1};
  REQUIRE(parse_nack(two).error == NackError::kOk);
  two[19] = 2;
  CHECK(parse_nack(two).error == NackError::kBadRange);
}

TEST_CASE("NACK carries the sequence space of its ranges", "[repair]") {
  const NackRange ranges[] = {{7, 2, 0, 2}, {20, 1, 1, 2}};
  Bytes out(kNackMaxSize);
  const std::size_t n = encode_nack(out, ranges);
  REQUIRE(n == 20);
  CHECK(out[11] == 2);
  CHECK(out[19] == 2);
  out.resize(n);
  const auto p = parse_nack(out);
  REQUIRE(p.error == NackError::kOk);
  CHECK(p.ranges[0] == ranges[0]);
  CHECK(p.ranges[1] == ranges[1]);
  const NackRange mixed[] = {{7, 2, 0, 2}, {20, 1, 1, 1}};
  CHECK(encode_nack(out, mixed) == 0);
  const NackRange beyond[] = {{7, 2, 0, 4}};
  CHECK(encode_nack(out, beyond) == 0);
}

TEST_CASE("GRE accepts the repair protocol type", "[repair][gre]") {
  Bytes d{0x00, 0x00, 0x88, 0xB6, 1, 1, 0, 1, 0, 0, 0, 9, 0, 1, 0, 0};
  const auto p = mpt::engine::parse_gre(d);
  CHECK(p.error == mpt::engine::GreError::kOk);
  CHECK(p.fields.protocol == mpt::engine::kProtoMptRepair);
  CHECK(p.header_size == 4);
}
