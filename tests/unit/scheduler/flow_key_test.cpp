// Unit tests for the inner flow key and flow hash (scheduler/flow_key.*).
#include "scheduler/flow_key.h"

#include <catch2/catch.hpp>

#include <array>
#include <cstdint>
#include <random>
#include <set>
#include <vector>

namespace {

using mpt::scheduler::extract_flow_key;
using mpt::scheduler::flow_hash;
using mpt::scheduler::FlowKey;
using Bytes = std::vector<std::uint8_t>;

void put16(Bytes& b, std::size_t at, std::uint16_t v) {
  b[at] = static_cast<std::uint8_t>(v >> 8);
  b[at + 1] = static_cast<std::uint8_t>(v);
}

struct V4Spec {
  std::uint8_t protocol = 6;
  std::array<std::uint8_t, 4> src = {192, 0, 2, 1};
  std::array<std::uint8_t, 4> dst = {198, 51, 100, 7};
  std::uint16_t src_port = 40000;
  std::uint16_t dst_port = 443;
  std::uint16_t flags_fragment = 0x4000;  // DF, offset 0
  std::uint8_t ihl = 5;
  std::size_t l4_size = 20;
  std::uint8_t ttl = 64;
};

Bytes make_v4(const V4Spec& s) {
  const std::size_t header = std::size_t{s.ihl} * 4;
  const std::size_t total = header + s.l4_size;
  Bytes p = {static_cast<std::uint8_t>(0x40 | s.ihl),
             0x00,
             static_cast<std::uint8_t>(total >> 8),
             static_cast<std::uint8_t>(total),
             0x00,
             0x01,  // identification
             static_cast<std::uint8_t>(s.flags_fragment >> 8),
             static_cast<std::uint8_t>(s.flags_fragment),
             s.ttl,
             s.protocol,
             0x00,
             0x00,  // header checksum (not looked at)
             s.src[0],
             s.src[1],
             s.src[2],
             s.src[3],
             s.dst[0],
             s.dst[1],
             s.dst[2],
             s.dst[3]};
  p.resize(total, 0);
  if (s.l4_size >= 4) {
    put16(p, header, s.src_port);
    put16(p, header + 2, s.dst_port);
  }
  return p;
}

const std::array<std::uint8_t, 16> kV6Src = {0x20, 0x01, 0x0D, 0xB8, 0, 0, 0, 0,
                                             0,    0,    0,    0,    0, 0, 0, 0x0A};
const std::array<std::uint8_t, 16> kV6Dst = {0x20, 0x01, 0x0D, 0xB8, 0, 0, 0, 1,
                                             0,    0,    0,    0,    0, 0, 0, 0x0B};

// An IPv6 packet: header, then `extensions` (already encoded), then 20 bytes of transport
// header with the given ports.
Bytes make_v6(std::uint8_t first_next_header, const Bytes& extensions, std::uint16_t src_port,
              std::uint16_t dst_port) {
  Bytes p(40, 0);
  p[0] = 0x60;
  p[6] = first_next_header;
  p[7] = 64;
  std::copy(kV6Src.begin(), kV6Src.end(), p.begin() + 8);
  std::copy(kV6Dst.begin(), kV6Dst.end(), p.begin() + 24);
  p.insert(p.end(), extensions.begin(), extensions.end());
  const std::size_t l4 = p.size();
  p.resize(l4 + 20, 0);
  put16(p, l4, src_port);
  put16(p, l4 + 2, dst_port);
  put16(p, 4, static_cast<std::uint16_t>(p.size() - 40));
  return p;
}

// A hop-by-hop / routing / destination-options header of (units + 1) * 8 bytes.
Bytes options_header(std::uint8_t next, std::uint8_t units) {
  Bytes h((std::size_t{units} + 1) * 8, 0);
  h[0] = next;
  h[1] = units;
  return h;
}

Bytes fragment_header(std::uint8_t next, std::uint16_t offset_units, bool more) {
  Bytes h(8, 0);
  h[0] = next;
  put16(h, 2, static_cast<std::uint16_t>((offset_units << 3) | (more ? 1 : 0)));
  h[7] = 0x2A;  // identification
  return h;
}

Bytes cat(Bytes a, const Bytes& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

std::array<std::uint8_t, 16> v4_addr(const std::array<std::uint8_t, 4>& a) {
  return {a[0], a[1], a[2], a[3]};
}

}  // namespace

TEST_CASE("An IPv4 TCP packet gives addresses, protocol 6 and both ports", "[flow_key]") {
  const V4Spec spec;
  const FlowKey key = extract_flow_key(make_v4(spec));
  CHECK(key.ip_version == 4);
  CHECK(key.protocol == 6);
  CHECK(key.has_ports);
  CHECK(key.src_port == 40000);
  CHECK(key.dst_port == 443);
  CHECK(key.src_addr == v4_addr(spec.src));
  CHECK(key.dst_addr == v4_addr(spec.dst));
}

TEST_CASE("An IPv4 UDP packet gives its ports", "[flow_key]") {
  V4Spec spec;
  spec.protocol = 17;
  spec.src_port = 5353;
  spec.dst_port = 53;
  spec.l4_size = 8;
  const FlowKey key = extract_flow_key(make_v4(spec));
  CHECK(key.ip_version == 4);
  CHECK(key.protocol == 17);
  CHECK(key.has_ports);
  CHECK(key.src_port == 5353);
  CHECK(key.dst_port == 53);
}

TEST_CASE("SCTP and UDP-Lite carry ports, ICMP and GRE do not", "[flow_key]") {
  for (std::uint8_t protocol : {132, 136}) {
    V4Spec spec;
    spec.protocol = protocol;
    CAPTURE(int{protocol});
    const FlowKey key = extract_flow_key(make_v4(spec));
    CHECK(key.has_ports);
    CHECK(key.src_port == 40000);
  }
  for (std::uint8_t protocol : {1, 47, 50, 58}) {
    V4Spec spec;
    spec.protocol = protocol;
    CAPTURE(int{protocol});
    const FlowKey key = extract_flow_key(make_v4(spec));
    CHECK(key.protocol == protocol);
    CHECK_FALSE(key.has_ports);
    CHECK(key.src_port == 0);
    CHECK(key.dst_port == 0);
  }
}

TEST_CASE("IPv4 options are skipped using the header length", "[flow_key]") {
  V4Spec spec;
  spec.ihl = 7;
  const FlowKey key = extract_flow_key(make_v4(spec));
  CHECK(key.has_ports);
  CHECK(key.src_port == 40000);
  CHECK(key.dst_port == 443);
}

TEST_CASE("Every IPv4 fragment, the first included, is keyed without ports", "[flow_key]") {
  V4Spec whole;  // DF, not a fragment
  const FlowKey k1 = extract_flow_key(make_v4(whole));
  CHECK(k1.has_ports);
  CHECK(k1.src_port == 40000);

  for (std::uint16_t field : {0x2000, 0x2001, 0x00B9, 0x3FFF, 0x1FFF}) {  // MF and/or offset
    V4Spec later;
    later.flags_fragment = field;
    CAPTURE(field);
    const FlowKey key = extract_flow_key(make_v4(later));
    CHECK(key.ip_version == 4);
    CHECK(key.protocol == 6);
    CHECK_FALSE(key.has_ports);
    CHECK(key.src_port == 0);
    CHECK(key.dst_port == 0);
    CHECK(key.src_addr == v4_addr(later.src));
  }
}

TEST_CASE("An IPv4 header length below five words gives the empty key", "[flow_key]") {
  for (std::uint8_t ihl = 0; ihl < 5; ++ihl) {
    Bytes p = make_v4(V4Spec{});
    p[0] = static_cast<std::uint8_t>(0x40 | ihl);
    CAPTURE(int{ihl});
    CHECK(extract_flow_key(p) == FlowKey{});
  }
}

TEST_CASE("An IPv4 header length beyond the packet gives a key without ports", "[flow_key]") {
  V4Spec spec;
  spec.l4_size = 0;
  Bytes p = make_v4(spec);  // 20 bytes
  p[0] = 0x4F;              // claims 60
  const FlowKey key = extract_flow_key(p);
  CHECK(key.ip_version == 4);
  CHECK_FALSE(key.has_ports);
}

TEST_CASE("Packets that are not IPv4 or IPv6 give the empty key", "[flow_key]") {
  for (int nibble = 0; nibble < 16; ++nibble) {
    if (nibble == 4 || nibble == 6) continue;
    Bytes p = make_v4(V4Spec{});
    p[0] = static_cast<std::uint8_t>((nibble << 4) | 5);
    CAPTURE(nibble);
    CHECK(extract_flow_key(p) == FlowKey{});
  }
}

TEST_CASE("An IPv6 TCP packet without extension headers gives its 5-tuple", "[flow_key]") {
  const FlowKey key = extract_flow_key(make_v6(6, {}, 1111, 22));
  CHECK(key.ip_version == 6);
  CHECK(key.protocol == 6);
  CHECK(key.has_ports);
  CHECK(key.src_port == 1111);
  CHECK(key.dst_port == 22);
  CHECK(key.src_addr == kV6Src);
  CHECK(key.dst_addr == kV6Dst);
}

TEST_CASE("An IPv6 TCP packet behind extension headers gives its ports", "[flow_key]") {
  // Hop-by-hop (8 bytes) -> destination options (24 bytes) -> routing (16 bytes) -> TCP.
  const Bytes ext = cat(cat(options_header(60, 0), options_header(43, 2)), options_header(6, 1));
  const FlowKey key = extract_flow_key(make_v6(0, ext, 1111, 22));
  CHECK(key.ip_version == 6);
  CHECK(key.protocol == 6);
  CHECK(key.has_ports);
  CHECK(key.src_port == 1111);
  CHECK(key.dst_port == 22);
  CHECK(key.src_addr == kV6Src);
  CHECK(key.dst_addr == kV6Dst);
}

TEST_CASE("Every IPv6 fragment, the first included, is keyed without ports", "[flow_key]") {
  const FlowKey first = extract_flow_key(make_v6(44, fragment_header(17, 0, true), 5000, 6000));
  CHECK(first.protocol == 17);
  CHECK_FALSE(first.has_ports);
  CHECK(flow_key_hash(first, 1) ==
        flow_key_hash(extract_flow_key(make_v6(44, fragment_header(17, 185, false), 5000, 6000)), 1));

  for (std::uint16_t offset : {1, 185, 0x1FFF}) {
    CAPTURE(offset);
    const FlowKey later =
        extract_flow_key(make_v6(44, fragment_header(17, offset, offset != 0x1FFF), 5000, 6000));
    CHECK(later.ip_version == 6);
    CHECK(later.protocol == 17);
    CHECK_FALSE(later.has_ports);
    CHECK(later.src_port == 0);
    CHECK(later.src_addr == kV6Src);
  }
}

TEST_CASE("An IPv6 extension header chain longer than the bound gives no ports",
          "[flow_key]") {
  Bytes ext;
  const int count = mpt::scheduler::kMaxIpv6ExtensionHeaders + 1;
  for (int i = 0; i < count; ++i) ext = cat(ext, options_header(i + 1 < count ? 60 : 6, 0));
  const FlowKey key = extract_flow_key(make_v6(60, ext, 1, 2));
  CHECK(key.ip_version == 6);
  CHECK_FALSE(key.has_ports);

  // Exactly at the bound the transport header is still found.
  Bytes ok_ext;
  const int ok_count = mpt::scheduler::kMaxIpv6ExtensionHeaders;
  for (int i = 0; i < ok_count; ++i) {
    ok_ext = cat(ok_ext, options_header(i + 1 < ok_count ? 60 : 6, 0));
  }
  const FlowKey ok = extract_flow_key(make_v6(60, ok_ext, 1, 2));
  CHECK(ok.protocol == 6);
  CHECK(ok.has_ports);
}

TEST_CASE("An IPv6 extension header that claims more bytes than present gives no ports",
          "[flow_key]") {
  const Bytes ext = options_header(6, 0);
  Bytes p = make_v6(0, ext, 1, 2);
  p[41] = 0xFF;  // hop-by-hop now claims 2048 bytes
  const FlowKey key = extract_flow_key(p);
  CHECK(key.ip_version == 6);
  CHECK_FALSE(key.has_ports);
}

TEST_CASE("Truncated packets of every length give a sane key without crashing",
          "[flow_key]") {
  SECTION("IPv4 TCP") {
    V4Spec spec;
    spec.ihl = 6;
    const Bytes full = make_v4(spec);  // 24-byte header + 20-byte TCP
    const FlowKey complete = extract_flow_key(full);
    for (std::size_t len = 0; len <= full.size(); ++len) {
      const Bytes cut(full.begin(), full.begin() + static_cast<long>(len));
      const FlowKey key = extract_flow_key(cut);
      CAPTURE(len);
      if (len < 20) {
        CHECK(key == FlowKey{});
      } else {
        CHECK(key.ip_version == 4);
        CHECK(key.protocol == 6);
        CHECK(key.src_addr == complete.src_addr);
        CHECK(key.has_ports == (len >= 28));
        if (len >= 28) CHECK(key == complete);
      }
      (void)flow_hash(cut, 1);
    }
  }
  SECTION("IPv6 TCP behind hop-by-hop and destination-options headers") {
    const Bytes ext = cat(options_header(60, 1), options_header(6, 0));
    const Bytes full = make_v6(0, ext, 7, 8);  // 40 + 16 + 8 + 20
    const FlowKey complete = extract_flow_key(full);
    REQUIRE(complete.has_ports);
    for (std::size_t len = 0; len <= full.size(); ++len) {
      const Bytes cut(full.begin(), full.begin() + static_cast<long>(len));
      const FlowKey key = extract_flow_key(cut);
      CAPTURE(len);
      if (len < 40) {
        CHECK(key == FlowKey{});
      } else {
        CHECK(key.ip_version == 6);
        CHECK(key.dst_addr == kV6Dst);
        CHECK(key.has_ports == (len >= 40 + 16 + 8 + 4));
        if (len >= 68) CHECK(key == complete);
      }
      (void)flow_hash(cut, 1);
    }
  }
}

TEST_CASE("Packets of the same flow get the same hash", "[flow_key][hash]") {
  V4Spec a;
  V4Spec b = a;
  b.ttl = 3;           // fields outside the key do not matter
  b.l4_size = 1200;    // nor does the payload
  CHECK(flow_hash(make_v4(a), 0) == flow_hash(make_v4(b), 0));
  CHECK(flow_hash(make_v4(a), 12345) == flow_hash(make_v4(b), 12345));
  const Bytes v6 = make_v6(6, {}, 1, 2);
  const Bytes v6_ext = make_v6(0, options_header(6, 3), 1, 2);
  CHECK(flow_hash(v6, 9) == flow_hash(v6_ext, 9));
  CHECK(flow_hash(v6, 9) == mpt::scheduler::flow_key_hash(extract_flow_key(v6), 9));
}

TEST_CASE("The seed changes the hash", "[flow_key][hash]") {
  const Bytes p = make_v4(V4Spec{});
  std::set<std::uint32_t> hashes;
  for (std::uint32_t seed = 0; seed < 100; ++seed) hashes.insert(flow_hash(p, seed));
  CHECK(hashes.size() == 100);
}

TEST_CASE("Different ports and addresses give different hashes", "[flow_key][hash]") {
  std::set<std::uint32_t> hashes;
  std::size_t flows = 0;
  for (std::uint16_t port = 1000; port < 1500; ++port) {
    V4Spec s;
    s.src_port = port;
    hashes.insert(flow_hash(make_v4(s), 0));
    s.src_port = 40000;
    s.dst_port = port;
    hashes.insert(flow_hash(make_v4(s), 0));
    s.dst_port = 443;
    s.src[3] = static_cast<std::uint8_t>(port);
    s.src[2] = static_cast<std::uint8_t>(port >> 8);
    hashes.insert(flow_hash(make_v4(s), 0));
    hashes.insert(flow_hash(make_v6(17, {}, port, 53), 0));
    hashes.insert(flow_hash(make_v6(17, {}, 53, port), 0));
    flows += 5;
  }
  // Swapped ports are different flows too (the hash is not symmetric).
  CHECK(flows == 2500);
  CHECK(hashes.size() == flows);
  // The protocol is part of the key.
  V4Spec tcp;
  V4Spec udp;
  udp.protocol = 17;
  CHECK(flow_hash(make_v4(tcp), 0) != flow_hash(make_v4(udp), 0));
}

TEST_CASE("Hashes of random flows spread evenly over 16 buckets", "[flow_key][hash]") {
  constexpr int kFlows = 10000;
  constexpr double kExpected = kFlows / 16.0;
  std::mt19937 rng(2024);
  for (int family : {4, 6}) {
    std::array<int, 16> low{};   // hash & 15
    std::array<int, 16> high{};  // hash >> 28
    for (int i = 0; i < kFlows; ++i) {
      const std::uint32_t r1 = rng();
      const std::uint32_t r2 = rng();
      Bytes p;
      if (family == 4) {
        V4Spec s;
        s.src = {10, static_cast<std::uint8_t>(r1 >> 16), static_cast<std::uint8_t>(r1 >> 8),
                 static_cast<std::uint8_t>(r1)};
        s.src_port = static_cast<std::uint16_t>(r2);
        s.dst_port = static_cast<std::uint16_t>(r2 >> 16);
        p = make_v4(s);
      } else {
        p = make_v6(6, {}, static_cast<std::uint16_t>(r2), static_cast<std::uint16_t>(r2 >> 16));
        p[20] = static_cast<std::uint8_t>(r1);
        p[21] = static_cast<std::uint8_t>(r1 >> 8);
      }
      const std::uint32_t h = flow_hash(p, 0xC0FFEE);
      ++low[h & 15];
      ++high[h >> 28];
    }
    double chi_low = 0;
    double chi_high = 0;
    for (int b = 0; b < 16; ++b) {
      chi_low += (low[b] - kExpected) * (low[b] - kExpected) / kExpected;
      chi_high += (high[b] - kExpected) * (high[b] - kExpected) / kExpected;
    }
    // 15 degrees of freedom: mean 15, P(chi2 > 50) ~ 1e-5. Loose on purpose.
    CAPTURE(family, chi_low, chi_high);
    CHECK(chi_low < 50.0);
    CHECK(chi_high < 50.0);
  }
}
