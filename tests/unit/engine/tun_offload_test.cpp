// Unit tests for the TUN offload code (engine/checksum.h, engine/tun_offload.*): the checksum
// helpers against a deliberately naive RFC 1071 reference, the virtio-net header codec, the
// Segmenter on super-packets built here the way the kernel hands them over (IFF_VNET_HDR,
// NEEDS_CSUM with the pseudo-header sum in the checksum field), its rejection of headers
// that do not describe the packet, and the Coalescer (segments back into one super-packet).
// Packets are built byte by byte here; nothing from the code under test is used to build or
// check them.
#include "engine/tun_offload.h"

#include <catch2/catch.hpp>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <random>
#include <iterator>
#include <span>
#include <string>
#include <utility>
#include <deque>
#include <vector>

#include "engine/checksum.h"

namespace {

namespace csum = mpt::engine::csum;
using mpt::engine::Coalescer;
using mpt::engine::GatherWrite;
using mpt::engine::kCoalesceMaxSegments;
using mpt::engine::kVnetFlagNeedsCsum;
using mpt::engine::kVnetGsoEcn;
using mpt::engine::kVnetGsoNone;
using mpt::engine::kVnetGsoTcpV4;
using mpt::engine::kVnetGsoTcpV6;
using mpt::engine::kVnetGsoUdpL4;
using mpt::engine::kVnetHdrSize;
using mpt::engine::OffloadError;
using mpt::engine::read_vnet_hdr;
using mpt::engine::Segmenter;
using mpt::engine::VnetHdr;
using mpt::engine::write_vnet_hdr;
using Bytes = std::vector<std::uint8_t>;

constexpr std::uint8_t kFin = 0x01, kSyn = 0x02, kRst = 0x04, kPsh = 0x08, kAck = 0x10,
                       kUrg = 0x20, kEce = 0x40, kCwr = 0x80;
constexpr std::uint32_t kSeq = 0xFFFFF000u;  // wraps within a few segments
constexpr std::uint32_t kAckNo = 0x01020304u;
constexpr std::uint16_t kIpId = 0xFFFE;      // wraps after two segments

// ---- naive reference -----------------------------------------------------------------------

// One's-complement sum of the big-endian 16-bit words of `n` bytes (an odd last byte is
// padded with zero), carries folded back after every addition. Not complemented.
std::uint16_t naive_sum(const std::uint8_t* p, std::size_t n) {
  std::uint32_t sum = 0;
  for (std::size_t i = 0; i < n; i += 2) {
    std::uint32_t word = std::uint32_t{p[i]} << 8;
    if (i + 1 < n) word |= p[i + 1];
    sum += word;
    while (sum > 0xFFFF) sum = (sum & 0xFFFF) + (sum >> 16);
  }
  return static_cast<std::uint16_t>(sum);
}
std::uint16_t naive_sum(const Bytes& b) { return naive_sum(b.data(), b.size()); }

// One's-complement addition of two 16-bit values.
std::uint16_t ones_add(std::uint16_t a, std::uint16_t b) {
  std::uint32_t s = std::uint32_t{a} + b;
  while (s > 0xFFFF) s = (s & 0xFFFF) + (s >> 16);
  return static_cast<std::uint16_t>(s);
}

// ---- byte helpers --------------------------------------------------------------------------

std::uint16_t get16(const std::uint8_t* p) { return static_cast<std::uint16_t>((p[0] << 8) | p[1]); }
std::uint16_t get16(const Bytes& b, std::size_t off) { return get16(b.data() + off); }
std::uint32_t get32(const Bytes& b, std::size_t off) {
  return (std::uint32_t{b[off]} << 24) | (std::uint32_t{b[off + 1]} << 16) |
         (std::uint32_t{b[off + 2]} << 8) | b[off + 3];
}
void put16(Bytes& b, std::size_t off, std::uint32_t v) {
  b[off] = static_cast<std::uint8_t>(v >> 8);
  b[off + 1] = static_cast<std::uint8_t>(v);
}
void put32(Bytes& b, std::size_t off, std::uint32_t v) {
  put16(b, off, v >> 16);
  put16(b, off + 2, v & 0xFFFF);
}
void append(Bytes& a, const Bytes& b) { a.insert(a.end(), b.begin(), b.end()); }
Bytes slice(const Bytes& b, std::size_t from, std::size_t to) {
  return Bytes(b.begin() + static_cast<std::ptrdiff_t>(from), b.begin() + static_cast<std::ptrdiff_t>(to));
}

Bytes random_bytes(std::size_t n, std::uint32_t seed) {
  std::mt19937 rng(seed);
  Bytes b(n);
  for (auto& x : b) x = static_cast<std::uint8_t>(rng());
  return b;
}

// The TCP/UDP pseudo-header for the IP packet `ip` (v4: addresses at 12, v6: at 8).
Bytes pseudo(const std::uint8_t* ip, bool v6, std::uint8_t proto, std::uint32_t l4_len) {
  Bytes ph;
  if (v6) {
    ph.assign(ip + 8, ip + 40);
    ph.push_back(static_cast<std::uint8_t>(l4_len >> 24));
    ph.push_back(static_cast<std::uint8_t>(l4_len >> 16));
    ph.push_back(static_cast<std::uint8_t>(l4_len >> 8));
    ph.push_back(static_cast<std::uint8_t>(l4_len));
    ph.insert(ph.end(), {0, 0, 0, proto});
  } else {
    ph.assign(ip + 12, ip + 20);
    ph.insert(ph.end(), {0, proto, static_cast<std::uint8_t>(l4_len >> 8),
                         static_cast<std::uint8_t>(l4_len)});
  }
  return ph;
}

// True if the L4 checksum of `pkt` (L4 header at `l4_off`) verifies: pseudo-header + L4
// bytes sum to one's-complement zero (0xFFFF).
bool l4_verifies(const Bytes& pkt, bool v6, std::size_t l4_off, std::uint8_t proto) {
  Bytes all = pseudo(pkt.data(), v6, proto, static_cast<std::uint32_t>(pkt.size() - l4_off));
  all.insert(all.end(), pkt.begin() + static_cast<std::ptrdiff_t>(l4_off), pkt.end());
  return naive_sum(all) == 0xFFFF;
}

// ---- packet builders -----------------------------------------------------------------------

std::size_t ip_len(bool v6) { return v6 ? 40 : 20; }

// IPv4 (192.0.2.1 -> 198.51.100.7, DF, valid header checksum) or IPv6 (2001:db8::1 ->
// 2001:db8:0:1::2, flow label 0x12345) header for a packet of `total` bytes.
Bytes ip_header(bool v6, std::uint8_t proto, std::size_t total, std::uint16_t id = kIpId,
                std::uint8_t tos = 0, std::uint8_t ttl = 64) {
  Bytes h;
  if (v6) {
    h = {static_cast<std::uint8_t>(0x60 | (tos >> 4)), static_cast<std::uint8_t>((tos << 4) | 0x1),
         0x23, 0x45, 0, 0, proto, ttl};
    put16(h, 4, static_cast<std::uint32_t>(total - 40));
    const Bytes src = {0x20, 0x01, 0x0D, 0xB8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01};
    const Bytes dst = {0x20, 0x01, 0x0D, 0xB8, 0, 0, 0, 0x01, 0, 0, 0, 0, 0, 0, 0, 0x02};
    append(h, src);
    append(h, dst);
  } else {
    h = {0x45, tos, 0, 0, 0, 0, 0x40, 0x00, ttl, proto, 0, 0, 192, 0, 2, 1, 198, 51, 100, 7};
    put16(h, 2, static_cast<std::uint32_t>(total));
    put16(h, 4, id);
    put16(h, 10, static_cast<std::uint16_t>(~naive_sum(h)));
  }
  return h;
}

void fix_v4_header_checksum(Bytes& pkt) {
  const std::size_t ihl = std::size_t{pkt[0] & 0x0Fu} * 4;
  pkt[10] = pkt[11] = 0;
  put16(pkt, 10, static_cast<std::uint16_t>(~naive_sum(pkt.data(), ihl)));
}

// NOP, NOP, timestamp (kind 8, length 10): the options Linux puts on every data segment.
Bytes ts_options(std::uint32_t tsval = 0x11223344u, std::uint32_t tsecr = 0x55667788u) {
  Bytes o = {1, 1, 8, 10, 0, 0, 0, 0, 0, 0, 0, 0};
  put32(o, 4, tsval);
  put32(o, 8, tsecr);
  return o;
}

Bytes tcp_header(std::uint32_t seq, std::uint8_t flags, const Bytes& options,
                 std::uint32_t ack = kAckNo, std::uint16_t window = 502,
                 std::uint16_t sport = 40000, std::uint16_t dport = 443) {
  Bytes t(20, 0);
  put16(t, 0, sport);
  put16(t, 2, dport);
  put32(t, 4, seq);
  put32(t, 8, ack);
  t[12] = static_cast<std::uint8_t>(((20 + options.size()) / 4) << 4);
  t[13] = flags;
  put16(t, 14, window);
  append(t, options);
  return t;
}

// Recomputes the complete TCP checksum of a segment (TCP header right after the IP header).
void fix_tcp_checksum(Bytes& pkt, bool v6) {
  const std::size_t l4 = v6 ? 40 : std::size_t{pkt[0] & 0x0Fu} * 4;
  pkt[l4 + 16] = pkt[l4 + 17] = 0;
  Bytes all = pseudo(pkt.data(), v6, 6, static_cast<std::uint32_t>(pkt.size() - l4));
  all.insert(all.end(), pkt.begin() + static_cast<std::ptrdiff_t>(l4), pkt.end());
  put16(pkt, l4 + 16, static_cast<std::uint16_t>(~naive_sum(all)));
}

// A wire TCP segment with complete checksums (what the Coalescer gets from the tunnel).
struct SegOpts {
  std::uint8_t flags = kAck;
  Bytes options = ts_options();
  std::uint32_t ack = kAckNo;
  std::uint16_t window = 502;
  std::uint16_t sport = 40000;
  std::uint16_t dport = 443;
  std::uint16_t id = 7;
  std::uint8_t tos = 0;
  std::uint8_t ttl = 64;
};
Bytes tcp_segment(bool v6, std::uint32_t seq, const Bytes& payload, const SegOpts& o = {}) {
  const Bytes th = tcp_header(seq, o.flags, o.options, o.ack, o.window, o.sport, o.dport);
  Bytes p = ip_header(v6, 6, ip_len(v6) + th.size() + payload.size(), o.id, o.tos, o.ttl);
  append(p, th);
  append(p, payload);
  fix_tcp_checksum(p, v6);
  return p;
}

struct Super {
  Bytes packet;
  VnetHdr hdr;
};

// A TSO super-packet as the kernel reads it out of the TUN: IP length = the whole packet,
// TCP checksum field = folded pseudo-header sum over the whole TCP length (not complemented).
Super tso_super(bool v6, const Bytes& payload, std::uint16_t mss, std::uint8_t flags,
                bool ecn = false) {
  const Bytes th = tcp_header(kSeq, flags, ts_options());
  const std::size_t total = ip_len(v6) + th.size() + payload.size();
  Super s;
  s.packet = ip_header(v6, 6, total);
  append(s.packet, th);
  append(s.packet, payload);
  const std::size_t l4 = ip_len(v6);
  put16(s.packet, l4 + 16,
        naive_sum(pseudo(s.packet.data(), v6, 6, static_cast<std::uint32_t>(total - l4))));
  s.hdr.flags = kVnetFlagNeedsCsum;
  s.hdr.gso_type = static_cast<std::uint8_t>((v6 ? kVnetGsoTcpV6 : kVnetGsoTcpV4) |
                                             (ecn ? kVnetGsoEcn : 0));
  s.hdr.hdr_len = static_cast<std::uint16_t>(l4 + th.size());
  s.hdr.gso_size = mss;
  s.hdr.csum_start = static_cast<std::uint16_t>(l4);
  s.hdr.csum_offset = 16;
  return s;
}

// A USO super-packet: UDP length = the whole UDP length, checksum field = pseudo-header sum.
Super uso_super(bool v6, const Bytes& payload, std::uint16_t mss) {
  const std::size_t l4 = ip_len(v6);
  const std::size_t total = l4 + 8 + payload.size();
  Super s;
  s.packet = ip_header(v6, 17, total);
  Bytes uh(8, 0);
  put16(uh, 0, 5353);
  put16(uh, 2, 4433);
  put16(uh, 4, static_cast<std::uint32_t>(total - l4));
  append(s.packet, uh);
  append(s.packet, payload);
  put16(s.packet, l4 + 6,
        naive_sum(pseudo(s.packet.data(), v6, 17, static_cast<std::uint32_t>(total - l4))));
  s.hdr.flags = kVnetFlagNeedsCsum;
  s.hdr.gso_type = kVnetGsoUdpL4;
  s.hdr.hdr_len = static_cast<std::uint16_t>(l4 + 8);
  s.hdr.gso_size = mss;
  s.hdr.csum_start = static_cast<std::uint16_t>(l4);
  s.hdr.csum_offset = 6;
  return s;
}

// Every segment, each written into a buffer of exactly length(i) bytes (ASan sees overruns).
std::vector<Bytes> write_all(const Segmenter& s) {
  std::vector<Bytes> out;
  for (std::size_t i = 0; i < s.count(); ++i) {
    Bytes b(s.length(i), 0xEE);
    s.write(i, b.data());
    out.push_back(std::move(b));
  }
  return out;
}

std::vector<Bytes> segment(const Super& s) {
  Segmenter seg;
  REQUIRE(seg.init(s.packet, s.hdr) == OffloadError::kOk);
  return write_all(seg);
}

std::size_t expected_count(std::size_t payload, std::size_t mss) {
  return payload == 0 ? 1 : (payload + mss - 1) / mss;
}

// The Coalescer's output: a virtio header and an IP packet.
struct Written {
  VnetHdr hdr;
  Bytes raw_hdr;
  Bytes packet;
  std::size_t segments = 0;
};
// The bytes a gathered write hands the TUN, in order.
Bytes gathered(const GatherWrite& g) {
  Bytes all;
  for (std::size_t i = 0; i < g.iov_count; ++i) {
    const auto* p = static_cast<const std::uint8_t*>(g.iov[i].iov_base);
    all.insert(all.end(), p, p + g.iov[i].iov_len);
  }
  return all;
}
Written finish(Coalescer& c, const GatherWrite& buf) {
  c.finish();
  const Bytes all = gathered(buf);
  REQUIRE(all.size() == buf.bytes);
  REQUIRE(all.size() >= kVnetHdrSize);
  Written w;
  w.hdr = read_vnet_hdr(all.data());
  w.raw_hdr = slice(all, 0, kVnetHdrSize);
  w.packet = slice(all, kVnetHdrSize, all.size());
  w.segments = c.segments();
  return w;
}

const Bytes kZeroVnet(kVnetHdrSize, 0);

// A gathered write points into the packets it took: the tests keep them alive until it is read.
struct Keep {
  std::deque<Bytes> kept;
  const Bytes& operator()(Bytes b) {
    kept.push_back(std::move(b));
    return kept.back();
  }
};

}  // namespace

// ---- checksum.h ----------------------------------------------------------------------------

TEST_CASE("csum::add over random lengths and offsets equals the naive checksum", "[offload][csum]") {
  std::mt19937 rng(20240601);
  const Bytes data = random_bytes(2100, 1);
  for (int iter = 0; iter < 600; ++iter) {
    const std::size_t off = rng() % 64;
    const std::size_t len = iter < 70 ? static_cast<std::size_t>(iter) : rng() % 2000;
    CAPTURE(off, len);
    const std::uint16_t native = csum::fold(csum::add(0, data.data() + off, len));
    const auto as_be = static_cast<std::uint16_t>((native >> 8) | (native << 8));
    REQUIRE(as_be == naive_sum(data.data() + off, len));
  }
  // All 0xFF bytes (the largest sums) and all zeros.
  const Bytes ones(4099, 0xFF);
  const std::uint16_t ones_native = csum::fold(csum::add(0, ones.data(), ones.size()));
  CHECK(static_cast<std::uint16_t>((ones_native >> 8) | (ones_native << 8)) == naive_sum(ones));
  const Bytes zeros(77, 0);
  CHECK(csum::fold(csum::add(0, zeros.data(), zeros.size())) == 0);
  // The largest super-packet of 0xFF bytes after a large partial sum: no lane of the
  // vectorised bulk may overflow, and a sum carried in equals one added after.
  const Bytes big(65535, 0xFF);
  const std::uint64_t carried = 0xFFFFFFFFull * 1000;
  const std::uint16_t in = csum::fold(csum::add(carried, big.data(), big.size()));
  const std::uint16_t after = csum::fold(csum::add(0, big.data(), big.size()) + carried);
  CHECK(in == after);
  const std::uint16_t big_native = csum::fold(csum::add(0, big.data(), big.size()));
  CHECK(static_cast<std::uint16_t>((big_native >> 8) | (big_native << 8)) == naive_sum(big));
}

TEST_CASE("Partial sums over even splits combine into the sum of the whole", "[offload][csum]") {
  const Bytes data = random_bytes(1501, 2);
  for (std::size_t cut = 0; cut <= data.size(); cut += 2) {
    const std::uint64_t acc = csum::add(csum::add(0, data.data(), cut), data.data() + cut,
                                        data.size() - cut);
    REQUIRE(csum::fold(acc) == csum::fold(csum::add(0, data.data(), data.size())));
  }
}

TEST_CASE("add_be16 adds a host-order value as the big-endian word it is on the wire",
          "[offload][csum]") {
  const Bytes wire = {0x12, 0x34};
  CHECK(csum::fold(csum::add_be16(0, 0x1234)) == csum::fold(csum::add(0, wire.data(), 2)));
}

TEST_CASE("Pseudo-header sums for IPv4 and IPv6 equal the naive sum of the pseudo-header",
          "[offload][csum]") {
  std::mt19937 rng(7);
  for (int iter = 0; iter < 200; ++iter) {
    const bool v6 = iter % 2 == 1;
    const Bytes ip = random_bytes(40, static_cast<std::uint32_t>(iter) + 100);
    const std::uint8_t proto = iter % 3 == 0 ? 6 : 17;
    std::uint32_t len = rng() % 65536;
    if (v6 && iter % 5 == 1) len = 65536 + rng() % 1000000;  // jumbogram length, 32 bits
    CAPTURE(v6, proto, len);
    const std::uint16_t native = csum::fold(csum::pseudo_header(ip.data(), v6, proto, len));
    const auto as_be = static_cast<std::uint16_t>((native >> 8) | (native << 8));
    REQUIRE(as_be == naive_sum(pseudo(ip.data(), v6, proto, len)));
  }
}

TEST_CASE("store_final and store_partial write the complemented and plain fold big-endian",
          "[offload][csum]") {
  const Bytes data = {0x45, 0x00, 0x12, 0x34, 0xAB};
  const std::uint16_t sum = naive_sum(data);
  Bytes out(2);
  csum::store_partial(out.data(), csum::add(0, data.data(), data.size()));
  CHECK(get16(out, 0) == sum);
  csum::store_final(out.data(), csum::add(0, data.data(), data.size()));
  CHECK(get16(out, 0) == static_cast<std::uint16_t>(~sum));
}

TEST_CASE("fix_ipv4_header gives a header whose naive checksum verifies to zero",
          "[offload][csum]") {
  for (std::uint32_t seed = 0; seed < 200; ++seed) {
    Bytes h = random_bytes(60, seed);
    const std::size_t ihl = 5 + seed % 11;
    h[0] = static_cast<std::uint8_t>(0x40 | ihl);
    Bytes before = h;
    csum::fix_ipv4_header(h.data());
    CAPTURE(seed, ihl);
    REQUIRE(static_cast<std::uint16_t>(~naive_sum(h.data(), ihl * 4)) == 0);
    // Only the checksum field changed, and nothing beyond the header.
    before[10] = h[10];
    before[11] = h[11];
    REQUIRE(before == h);
  }
  // The RFC 1071 / Wikipedia example header: checksum 0xB861.
  Bytes ex = {0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11,
              0x00, 0x00, 0xC0, 0xA8, 0x00, 0x01, 0xC0, 0xA8, 0x00, 0xC7};
  csum::fix_ipv4_header(ex.data());
  CHECK(get16(ex, 10) == 0xB861);
}

// ---- virtio-net header ---------------------------------------------------------------------

TEST_CASE("The virtio-net header is ten little-endian bytes and round-trips", "[offload][vnet]") {
  VnetHdr h;
  h.flags = 0x01;
  h.gso_type = 0x84;
  h.hdr_len = 0x1234;
  h.gso_size = 0x5678;
  h.csum_start = 0x9ABC;
  h.csum_offset = 0xDEF0;
  Bytes buf(kVnetHdrSize + 2, 0xEE);
  write_vnet_hdr(buf.data(), h);
  const Bytes expected = {0x01, 0x84, 0x34, 0x12, 0x78, 0x56, 0xBC, 0x9A, 0xF0, 0xDE, 0xEE, 0xEE};
  CHECK(buf == expected);
  const VnetHdr r = read_vnet_hdr(buf.data());
  CHECK(r.flags == h.flags);
  CHECK(r.gso_type == h.gso_type);
  CHECK(r.hdr_len == h.hdr_len);
  CHECK(r.gso_size == h.gso_size);
  CHECK(r.csum_start == h.csum_start);
  CHECK(r.csum_offset == h.csum_offset);

  // Reading arbitrary bytes and writing them back gives the same bytes.
  for (std::uint32_t seed = 0; seed < 50; ++seed) {
    const Bytes raw = random_bytes(kVnetHdrSize, seed);
    Bytes again(kVnetHdrSize);
    write_vnet_hdr(again.data(), read_vnet_hdr(raw.data()));
    REQUIRE(again == raw);
  }
  CHECK(kVnetHdrSize == 10);
}

TEST_CASE("Every offload error has a name", "[offload]") {
  CHECK(std::string(mpt::engine::to_string(OffloadError::kOk)) == "ok");
  CHECK(std::string(mpt::engine::to_string(OffloadError::kNotIp)) == "not_ip");
  CHECK(std::string(mpt::engine::to_string(OffloadError::kBadCsumRange)) == "bad_csum_range");
  CHECK(std::string(mpt::engine::to_string(OffloadError::kBadGso)) == "bad_gso");
}

// ---- Segmenter: TSO / USO ------------------------------------------------------------------

TEST_CASE("A TCP TSO super-packet is cut into MSS segments with their own headers and checksums",
          "[offload][segmenter]") {
  const std::uint16_t mss = 1448;
  for (const bool v6 : {false, true}) {
    for (const bool ecn : {false, true}) {
      for (const std::size_t plen : {std::size_t{3} * mss, std::size_t{3} * mss + 5,
                                     std::size_t{1}, std::size_t{mss}, std::size_t{45} * mss}) {
        CAPTURE(v6, ecn, plen);
        const Bytes payload = random_bytes(plen, static_cast<std::uint32_t>(plen));
        const std::uint8_t flags = kAck | kPsh | kFin | kCwr | kEce;
        const Super s = tso_super(v6, payload, mss, flags, ecn);
        Segmenter seg;
        REQUIRE(seg.init(s.packet, s.hdr) == OffloadError::kOk);
        const std::size_t n = expected_count(plen, mss);
        REQUIRE(seg.count() == n);
        const std::size_t l4 = ip_len(v6);
        const std::size_t hlen = l4 + 32;
        const std::vector<Bytes> segs = write_all(seg);
        Bytes joined;
        for (std::size_t i = 0; i < n; ++i) {
          CAPTURE(i);
          const Bytes& p = segs[i];
          const std::size_t want_payload = i + 1 < n ? mss : plen - (n - 1) * mss;
          REQUIRE(seg.length(i) == hlen + want_payload);
          REQUIRE(p.size() == hlen + want_payload);
          if (v6) {
            CHECK(get16(p, 4) == p.size() - 40);
            CHECK(slice(p, 0, 4) == slice(s.packet, 0, 4));
            CHECK(slice(p, 6, 40) == slice(s.packet, 6, 40));
          } else {
            CHECK(get16(p, 2) == p.size());
            CHECK(get16(p, 4) == static_cast<std::uint16_t>(kIpId + i));
            CHECK(naive_sum(p.data(), 20) == 0xFFFF);
            CHECK(slice(p, 0, 2) == slice(s.packet, 0, 2));
            CHECK(slice(p, 6, 10) == slice(s.packet, 6, 10));
            CHECK(slice(p, 12, 20) == slice(s.packet, 12, 20));
          }
          CHECK(get32(p, l4 + 4) == static_cast<std::uint32_t>(kSeq + i * mss));
          const std::uint8_t f = p[l4 + 13];
          CHECK((f & (kAck | kEce)) == (kAck | kEce));
          CHECK(((f & kFin) != 0) == (i + 1 == n));
          CHECK(((f & kPsh) != 0) == (i + 1 == n));
          CHECK(((f & kCwr) != 0) == (i == 0));
          CHECK(l4_verifies(p, v6, l4, 6));
          // Ports, ack, data offset, window, urgent pointer and options are the super's.
          CHECK(slice(p, l4, l4 + 4) == slice(s.packet, l4, l4 + 4));
          CHECK(slice(p, l4 + 8, l4 + 13) == slice(s.packet, l4 + 8, l4 + 13));
          CHECK(slice(p, l4 + 14, l4 + 16) == slice(s.packet, l4 + 14, l4 + 16));
          CHECK(slice(p, l4 + 18, hlen) == slice(s.packet, l4 + 18, hlen));
          joined.insert(joined.end(), p.begin() + static_cast<std::ptrdiff_t>(hlen), p.end());
        }
        CHECK(joined == payload);
      }
    }
  }
}

TEST_CASE("A TCP super-packet capped to a path's limit is cut shorter, every segment valid",
          "[offload][segmenter][cap]") {
  const std::uint16_t mss = 1448;
  for (const bool v6 : {false, true}) {
    const std::size_t l4 = ip_len(v6);
    const std::size_t hlen = l4 + 32;
    for (const std::size_t max_len : {std::size_t{1352}, hlen + Segmenter::kMinCappedPayload}) {
      for (const std::size_t plen : {std::size_t{45} * mss, std::size_t{3} * mss + 5,
                                     std::size_t{1}}) {
        CAPTURE(v6, max_len, plen);
        const Bytes payload = random_bytes(plen, static_cast<std::uint32_t>(plen) + 3);
        const Super s = tso_super(v6, payload, mss, kAck | kPsh | kFin | kCwr, false);
        Segmenter seg;
        REQUIRE(seg.init(s.packet, s.hdr) == OffloadError::kOk);
        seg.cap(max_len);
        const std::size_t cut = max_len - hlen;
        const std::size_t n = expected_count(plen, cut);
        REQUIRE(seg.count() == n);
        const std::vector<Bytes> segs = write_all(seg);
        Bytes joined;
        for (std::size_t i = 0; i < n; ++i) {
          CAPTURE(i);
          const Bytes& p = segs[i];
          REQUIRE(p.size() <= max_len);
          REQUIRE(p.size() == hlen + (i + 1 < n ? cut : plen - (n - 1) * cut));
          REQUIRE(seg.length(i) == p.size());
          if (v6) {
            CHECK(get16(p, 4) == p.size() - 40);
          } else {
            CHECK(get16(p, 2) == p.size());
            CHECK(get16(p, 4) == static_cast<std::uint16_t>(kIpId + i));
            CHECK(naive_sum(p.data(), 20) == 0xFFFF);
          }
          CHECK(get32(p, l4 + 4) == static_cast<std::uint32_t>(kSeq + i * cut));
          CHECK(((p[l4 + 13] & kPsh) != 0) == (i + 1 == n));
          CHECK(((p[l4 + 13] & kFin) != 0) == (i + 1 == n));
          CHECK(((p[l4 + 13] & kCwr) != 0) == (i == 0));
          CHECK(l4_verifies(p, v6, l4, 6));
          joined.insert(joined.end(), p.begin() + static_cast<std::ptrdiff_t>(hlen), p.end());
        }
        CHECK(joined == payload);
      }
    }
  }
}

TEST_CASE("A plain TCP packet longer than the cap is cut into valid segments; others stay",
          "[offload][segmenter][cap]") {
  for (const bool v6 : {false, true}) {
    CAPTURE(v6);
    const std::size_t l4 = ip_len(v6);
    const std::size_t hlen = l4 + 32;
    const Bytes payload = random_bytes(1400, 91);
    SegOpts o;
    o.flags = kAck | kPsh | kFin;
    const Bytes p = tcp_segment(v6, kSeq, payload, o);  // complete checksum, no virtio GSO
    const std::size_t max_len = 1000;
    Segmenter seg;
    REQUIRE(seg.init(p, VnetHdr{}) == OffloadError::kOk);
    REQUIRE_FALSE(seg.is_tcp());
    seg.cap(max_len);
    REQUIRE(seg.count() == 2);
    const std::vector<Bytes> segs = write_all(seg);
    REQUIRE(segs[0].size() == max_len);
    REQUIRE(segs[1].size() == hlen + 1400 - (max_len - hlen));
    Bytes joined;
    for (std::size_t i = 0; i < 2; ++i) {
      CAPTURE(i);
      const Bytes& q = segs[i];
      CHECK(l4_verifies(q, v6, l4, 6));
      if (!v6) CHECK(naive_sum(q.data(), 20) == 0xFFFF);
      CHECK(get32(q, l4 + 4) == static_cast<std::uint32_t>(kSeq + i * (max_len - hlen)));
      CHECK(((q[l4 + 13] & (kPsh | kFin)) != 0) == (i == 1));
      joined.insert(joined.end(), q.begin() + static_cast<std::ptrdiff_t>(hlen), q.end());
    }
    CHECK(joined == payload);
    // The same packet as the kernel hands it over: partial checksum, NEEDS_CSUM, no GSO.
    {
      Bytes partial = p;
      put16(partial, l4 + 16,
            naive_sum(pseudo(partial.data(), v6, 6, static_cast<std::uint32_t>(partial.size() - l4))));
      VnetHdr h;
      h.flags = kVnetFlagNeedsCsum;
      h.csum_start = static_cast<std::uint16_t>(l4);
      h.csum_offset = 16;
      Segmenter s4;
      REQUIRE(s4.init(partial, h) == OffloadError::kOk);
      s4.cap(max_len);
      REQUIRE(s4.count() == 2);
      const std::vector<Bytes> cut = write_all(s4);
      CHECK(cut == segs);
    }
    // Not cut: shorter than the cap, UDP, a fragment, an IP length that is not the packet's,
    // SYN / RST / URG.
    {
      Segmenter s2;
      REQUIRE(s2.init(p, VnetHdr{}) == OffloadError::kOk);
      s2.cap(p.size());
      CHECK(s2.count() == 1);
      CHECK(write_all(s2)[0] == p);
    }
    Bytes udp = ip_header(v6, 17, l4 + 8 + 1400);
    append(udp, Bytes(8 + 1400, 0x55));
    Bytes frag = p;
    if (!v6) {
      frag[6] |= 0x20;  // more fragments
      fix_v4_header_checksum(frag);
    } else {
      frag[6] = 44;  // a fragment header follows
    }
    Bytes padded = p;
    padded.push_back(0);
    std::vector<Bytes> others = {udp, frag, padded};
    for (const std::uint8_t f : {kSyn, kRst, kUrg}) {  // not data segments: never cut
      SegOpts so;
      so.flags = static_cast<std::uint8_t>(kAck | f);
      others.push_back(tcp_segment(v6, kSeq, payload, so));
    }
    for (const Bytes& other : others) {
      const Bytes* q = &other;
      Segmenter s3;
      REQUIRE(s3.init(*q, VnetHdr{}) == OffloadError::kOk);
      s3.cap(max_len);
      CHECK(s3.count() == 1);
      CHECK(write_all(s3)[0] == *q);
    }
  }
}

TEST_CASE("A cap that the segments fit, that leaves too little payload, or on UDP changes nothing",
          "[offload][segmenter][cap]") {
  const std::uint16_t mss = 1200;
  for (const bool v6 : {false, true}) {
    CAPTURE(v6);
    const std::size_t hlen = ip_len(v6) + 32;
    const Bytes payload = random_bytes(10 * mss, 77);
    const Super tcp = tso_super(v6, payload, mss, kAck, false);
    for (const std::size_t max_len : {hlen + mss, std::size_t{65535},
                                      hlen + Segmenter::kMinCappedPayload - 1, std::size_t{0}}) {
      CAPTURE(max_len);
      Segmenter seg;
      REQUIRE(seg.init(tcp.packet, tcp.hdr) == OffloadError::kOk);
      seg.cap(max_len);
      CHECK(seg.count() == 10);
      CHECK(seg.length(0) == hlen + mss);
    }
    const Super udp = uso_super(v6, payload, mss);
    Segmenter seg;
    REQUIRE(seg.init(udp.packet, udp.hdr) == OffloadError::kOk);
    CHECK_FALSE(seg.is_tcp());
    seg.cap(600);
    CHECK(seg.count() == 10);
    CHECK(seg.length(0) == ip_len(v6) + 8 + mss);
  }
}

TEST_CASE("A UDP USO super-packet is cut into datagrams with their own length and checksum",
          "[offload][segmenter]") {
  const std::uint16_t mss = 1200;
  for (const bool v6 : {false, true}) {
    for (const std::size_t plen : {std::size_t{3} * mss, std::size_t{3} * mss + 7, std::size_t{9}}) {
      CAPTURE(v6, plen);
      const Bytes payload = random_bytes(plen, static_cast<std::uint32_t>(plen) + 9);
      const Super s = uso_super(v6, payload, mss);
      Segmenter seg;
      REQUIRE(seg.init(s.packet, s.hdr) == OffloadError::kOk);
      const std::size_t n = expected_count(plen, mss);
      REQUIRE(seg.count() == n);
      const std::size_t l4 = ip_len(v6);
      const std::vector<Bytes> segs = write_all(seg);
      Bytes joined;
      for (std::size_t i = 0; i < n; ++i) {
        CAPTURE(i);
        const Bytes& p = segs[i];
        const std::size_t want_payload = i + 1 < n ? mss : plen - (n - 1) * mss;
        REQUIRE(p.size() == l4 + 8 + want_payload);
        if (v6) {
          CHECK(get16(p, 4) == p.size() - 40);
        } else {
          CHECK(get16(p, 2) == p.size());
          CHECK(get16(p, 4) == static_cast<std::uint16_t>(kIpId + i));
          CHECK(naive_sum(p.data(), 20) == 0xFFFF);
        }
        CHECK(slice(p, l4, l4 + 4) == slice(s.packet, l4, l4 + 4));
        CHECK(get16(p, l4 + 4) == 8 + want_payload);
        CHECK(get16(p, l4 + 6) != 0);
        CHECK(l4_verifies(p, v6, l4, 17));
        joined.insert(joined.end(), p.begin() + static_cast<std::ptrdiff_t>(l4 + 8), p.end());
      }
      CHECK(joined == payload);
    }
  }
}

TEST_CASE("A USO datagram whose checksum computes to zero is sent with 0xFFFF",
          "[offload][segmenter]") {
  const std::uint16_t mss = 600;
  for (const bool v6 : {false, true}) {
    CAPTURE(v6);
    Bytes payload = random_bytes(2 * mss + 11, 33);
    payload[0] = payload[1] = 0;
    const std::size_t l4 = ip_len(v6);
    // The sum of datagram 0 with its checksum field zeroed; then pick payload[0..1] so that
    // the total is one's-complement zero, which makes the computed checksum 0x0000.
    Bytes first = segment(uso_super(v6, payload, mss))[0];
    first[l4 + 6] = first[l4 + 7] = 0;
    Bytes all = pseudo(first.data(), v6, 17, static_cast<std::uint32_t>(first.size() - l4));
    all.insert(all.end(), first.begin() + static_cast<std::ptrdiff_t>(l4), first.end());
    put16(payload, 0, 0xFFFF - naive_sum(all));
    const std::vector<Bytes> segs = segment(uso_super(v6, payload, mss));
    REQUIRE(segs.size() == 3);
    CHECK(get16(segs[0], l4 + 6) == 0xFFFF);
    CHECK(l4_verifies(segs[0], v6, l4, 17));
  }
}

TEST_CASE("A TSO super-packet without payload gives one header-only segment",
          "[offload][segmenter]") {
  const Super s = tso_super(false, {}, 1448, kAck | kFin);
  const std::vector<Bytes> segs = segment(s);
  REQUIRE(segs.size() == 1);
  CHECK(segs[0].size() == 52);
  CHECK(segs[0][33] == (kAck | kFin));
  CHECK(l4_verifies(segs[0], false, 20, 6));
}

TEST_CASE("A gso_size larger than the payload gives one segment", "[offload][segmenter]") {
  const Bytes payload = random_bytes(1000, 5);
  const Super s = tso_super(true, payload, 0xFFFF, kAck | kPsh);
  const std::vector<Bytes> segs = segment(s);
  REQUIRE(segs.size() == 1);
  CHECK(segs[0].size() == s.packet.size());
  CHECK(slice(segs[0], 72, segs[0].size()) == payload);
  CHECK(l4_verifies(segs[0], true, 40, 6));
}

// ---- Segmenter: plain packets --------------------------------------------------------------

TEST_CASE("A plain packet with NEEDS_CSUM gets its checksum completed and nothing else changed",
          "[offload][segmenter]") {
  for (const bool v6 : {false, true}) {
    CAPTURE(v6);
    const std::size_t l4 = ip_len(v6);
    Bytes p = tcp_segment(v6, 1000, random_bytes(333, 3), {});  // odd length
    put16(p, l4 + 16, naive_sum(pseudo(p.data(), v6, 6, static_cast<std::uint32_t>(p.size() - l4))));
    VnetHdr h;
    h.flags = kVnetFlagNeedsCsum;
    h.csum_start = static_cast<std::uint16_t>(l4);
    h.csum_offset = 16;
    Segmenter seg;
    REQUIRE(seg.init(p, h) == OffloadError::kOk);
    REQUIRE(seg.count() == 1);
    REQUIRE(seg.length(0) == p.size());
    const Bytes out = write_all(seg)[0];
    CHECK(l4_verifies(out, v6, l4, 6));
    Bytes expect = p;
    fix_tcp_checksum(expect, v6);
    CHECK(out == expect);
  }
}

TEST_CASE("A plain UDP packet whose completed checksum computes to zero is sent with 0xFFFF",
          "[offload][segmenter]") {
  // UDP over IPv6 must not carry a zero checksum (RFC 8200 §8.1); the kernel's own
  // skb_checksum_help() writes 0xFFFF (CSUM_MANGLED_0) in that case.
  for (const bool v6 : {false, true}) {
    CAPTURE(v6);
    const std::size_t l4 = ip_len(v6);
    Bytes payload = random_bytes(101, 8);
    payload[0] = payload[1] = 0;
    auto build = [&](const Bytes& pl) {
      Bytes p = ip_header(v6, 17, l4 + 8 + pl.size());
      Bytes uh(8, 0);
      put16(uh, 0, 53);
      put16(uh, 2, 5353);
      put16(uh, 4, static_cast<std::uint32_t>(8 + pl.size()));
      append(p, uh);
      append(p, pl);
      return p;
    };
    Bytes p = build(payload);
    Bytes all = pseudo(p.data(), v6, 17, static_cast<std::uint32_t>(p.size() - l4));
    all.insert(all.end(), p.begin() + static_cast<std::ptrdiff_t>(l4), p.end());
    put16(payload, 0, 0xFFFF - naive_sum(all));
    p = build(payload);
    put16(p, l4 + 6, naive_sum(pseudo(p.data(), v6, 17, static_cast<std::uint32_t>(p.size() - l4))));
    VnetHdr h;
    h.flags = kVnetFlagNeedsCsum;
    h.csum_start = static_cast<std::uint16_t>(l4);
    h.csum_offset = 6;
    Segmenter seg;
    REQUIRE(seg.init(p, h) == OffloadError::kOk);
    const Bytes out = write_all(seg)[0];
    CHECK(get16(out, l4 + 6) == 0xFFFF);
    CHECK(l4_verifies(out, v6, l4, 17));
  }
}

TEST_CASE("A plain packet without NEEDS_CSUM is copied unchanged", "[offload][segmenter]") {
  for (const bool v6 : {false, true}) {
    Bytes p = tcp_segment(v6, 5, random_bytes(77, 4), {});
    p[ip_len(v6) + 16] ^= 0x5A;  // a wrong checksum must pass through untouched
    for (const std::uint8_t flags : {std::uint8_t{0}, mpt::engine::kVnetFlagDataValid}) {
      VnetHdr h;
      h.flags = flags;
      h.csum_start = 0xFFFF;  // ignored without NEEDS_CSUM
      h.csum_offset = 0xFFFF;
      Segmenter seg;
      REQUIRE(seg.init(p, h) == OffloadError::kOk);
      REQUIRE(seg.count() == 1);
      CHECK(write_all(seg)[0] == p);
    }
  }
  // Not even TCP/UDP: a 20-byte IPv4 header alone.
  const Bytes bare = ip_header(false, 1, 20);
  Segmenter seg;
  REQUIRE(seg.init(bare, VnetHdr{}) == OffloadError::kOk);
  CHECK(write_all(seg)[0] == bare);
}

// ---- Segmenter: rejections -----------------------------------------------------------------

TEST_CASE("The Segmenter rejects headers that do not describe the packet", "[offload][segmenter][reject]") {
  const Super good = tso_super(false, random_bytes(3000, 6), 1000, kAck);
  const Super good6 = tso_super(true, random_bytes(3000, 6), 1000, kAck);
  struct Case {
    const char* what;
    Bytes packet;
    VnetHdr hdr;
    OffloadError want;
  };
  std::vector<Case> cases;
  auto add = [&](const char* what, Bytes p, VnetHdr h, OffloadError want) {
    cases.push_back({what, std::move(p), h, want});
  };
  auto with = [](Bytes b, std::size_t off, std::uint8_t v) {
    b[off] = v;
    return b;
  };
  const VnetHdr gh = good.hdr;
  add("empty", {}, VnetHdr{}, OffloadError::kNotIp);
  add("empty with gso", {}, gh, OffloadError::kNotIp);
  add("version 5", with(good.packet, 0, 0x55), gh, OffloadError::kNotIp);
  add("version 0", with(good.packet, 0, 0x05), VnetHdr{}, OffloadError::kNotIp);
  add("IPv4 shorter than 20 bytes", slice(good.packet, 0, 19), VnetHdr{}, OffloadError::kNotIp);
  add("IPv4 IHL below 5", with(good.packet, 0, 0x44), gh, OffloadError::kNotIp);
  add("IPv4 IHL beyond the packet", with(slice(good.packet, 0, 40), 0, 0x4B), VnetHdr{},
      OffloadError::kNotIp);
  add("IPv6 shorter than 40 bytes", slice(good6.packet, 0, 39), VnetHdr{}, OffloadError::kNotIp);
  {
    VnetHdr h = gh;
    h.csum_start = static_cast<std::uint16_t>(good.packet.size());
    add("csum_start at the end", good.packet, h, OffloadError::kBadCsumRange);
    h.csum_start = 0xFFFF;
    h.csum_offset = 0xFFFF;
    add("csum_start and offset at the maximum", good.packet, h, OffloadError::kBadCsumRange);
    VnetHdr p = VnetHdr{};
    p.flags = kVnetFlagNeedsCsum;
    p.csum_start = 20;
    p.csum_offset = static_cast<std::uint16_t>(good.packet.size() - 21);  // field 1 byte past
    add("checksum field one byte past the end", good.packet, p, OffloadError::kBadCsumRange);
  }
  {
    VnetHdr h = gh;
    h.gso_size = 0;
    add("gso_size 0", good.packet, h, OffloadError::kBadGso);
    h = gh;
    h.flags = 0;
    add("GSO without NEEDS_CSUM", good.packet, h, OffloadError::kBadGso);
    h = gh;
    h.gso_type = kVnetGsoTcpV6;
    add("TCPV6 GSO on an IPv4 packet", good.packet, h, OffloadError::kBadGso);
    h = good6.hdr;
    h.gso_type = kVnetGsoTcpV4;
    add("TCPV4 GSO on an IPv6 packet", good6.packet, h, OffloadError::kBadGso);
    for (const std::uint8_t t : {std::uint8_t{2}, std::uint8_t{3}, std::uint8_t{6},
                                 std::uint8_t{0x7F}, std::uint8_t{0x83}}) {
      h = gh;
      h.gso_type = t;
      add("unknown gso type", good.packet, h, OffloadError::kBadGso);
    }
    h = gh;
    h.csum_offset = 6;
    add("TCP GSO with the UDP checksum offset", good.packet, h, OffloadError::kBadGso);
    h = gh;
    h.gso_type = kVnetGsoUdpL4;
    add("UDP GSO with the TCP checksum offset", good.packet, h, OffloadError::kBadGso);
    h = gh;
    h.csum_start = 10;
    add("L4 header inside the IPv4 header", good.packet, h, OffloadError::kBadGso);
    h.csum_start = 8;  // byte 20 (0x9C) read as a data offset of 36: a plausible header
    add("L4 header inside the IPv4 header, plausible offset", good.packet, h,
        OffloadError::kBadGso);
    h = good6.hdr;
    h.csum_start = 24;
    add("L4 header inside the IPv6 header", good6.packet, h, OffloadError::kBadGso);
    h.csum_start = 28;
    add("L4 header inside the IPv6 header, plausible offset", good6.packet, h, OffloadError::kBadGso);
  }
  add("TCP data offset 4", with(good.packet, 32, 0x40), gh, OffloadError::kBadGso);
  add("TCP data offset 0", with(good.packet, 32, 0x00), gh, OffloadError::kBadGso);
  add("TCP header beyond the packet", slice(good.packet, 0, 20 + 31), gh, OffloadError::kBadGso);
  add("TCP data offset 15 beyond the packet", with(slice(good.packet, 0, 20 + 59), 32, 0xF0), gh,
      OffloadError::kBadGso);
  {
    VnetHdr h = gh;
    h.csum_offset = 16;
    add("TCP header shorter than 20 bytes", slice(good.packet, 0, 39), h,
        OffloadError::kBadGso);
  }

  for (const Case& c : cases) {
    CAPTURE(c.what);
    const Bytes copy = c.packet;  // exact-size heap buffer
    Segmenter seg;
    CHECK(seg.init(copy, c.hdr) == c.want);
    CHECK(seg.count() == 0);
  }
}

TEST_CASE("The checksum field may end exactly at the end of the packet", "[offload][segmenter]") {
  // The field holds a partial sum the kernel left (here 0x1111); the result is complete
  // when the data with the new field, plus that partial sum, is one's-complement zero.
  Bytes p = ip_header(false, 253, 40);
  p.resize(40, 0x11);
  VnetHdr h;
  h.flags = kVnetFlagNeedsCsum;
  h.csum_start = 20;
  h.csum_offset = 18;
  Segmenter seg;
  REQUIRE(seg.init(p, h) == OffloadError::kOk);
  const Bytes out = write_all(seg)[0];
  CHECK(ones_add(naive_sum(out.data() + 20, 20), 0x1111) == 0xFFFF);
  CHECK(slice(out, 0, 38) == slice(p, 0, 38));
}

TEST_CASE("Every truncation of a valid super-packet is segmented within bounds or rejected",
          "[offload][segmenter][reject]") {
  const Super supers[] = {tso_super(false, random_bytes(1500, 10), 400, kAck | kPsh),
                          tso_super(true, random_bytes(1500, 11), 400, kAck | kCwr),
                          uso_super(false, random_bytes(1500, 12), 400),
                          uso_super(true, random_bytes(1500, 13), 400)};
  for (const Super& s : supers) {
    const bool v6 = s.packet[0] >> 4 == 6;
    const bool tcp = s.hdr.csum_offset == 16;
    const std::size_t l4 = ip_len(v6);
    const std::size_t hlen = l4 + (tcp ? 32 : 8);
    for (std::size_t n = 0; n <= s.packet.size(); ++n) {
      CAPTURE(v6, tcp, n);
      const Bytes t = slice(s.packet, 0, n);
      Segmenter seg;
      const OffloadError e = seg.init(t, s.hdr);
      REQUIRE((e == OffloadError::kOk) == (n >= hlen));
      if (e != OffloadError::kOk) {
        REQUIRE(seg.count() == 0);
        continue;
      }
      REQUIRE(seg.count() == expected_count(n - hlen, 400));
      const std::vector<Bytes> segs = write_all(seg);
      Bytes joined;
      for (const Bytes& p : segs) {
        REQUIRE(p.size() <= n);
        REQUIRE(l4_verifies(p, v6, l4, tcp ? 6 : 17));
        joined.insert(joined.end(), p.begin() + static_cast<std::ptrdiff_t>(hlen), p.end());
      }
      REQUIRE(joined == slice(t, hlen, n));
    }
  }
}

TEST_CASE("Random packets with random virtio headers are segmented within bounds or rejected",
          "[offload][segmenter][reject]") {
  std::mt19937 rng(424242);
  const std::uint8_t gso_types[] = {0, 1, 4, 5, 0x81, 0x84, 2, 3, 0xFF};
  int accepted = 0;
  for (int iter = 0; iter < 3000; ++iter) {
    Bytes p(rng() % 200);
    for (auto& b : p) b = static_cast<std::uint8_t>(rng());
    if (!p.empty()) {
      const unsigned pick = rng() % 3;
      if (pick == 0) p[0] = static_cast<std::uint8_t>(0x43 + rng() % 5);
      if (pick == 1) p[0] = 0x60;
    }
    VnetHdr h;
    h.flags = static_cast<std::uint8_t>(rng() % 4);
    h.gso_type = gso_types[rng() % std::size(gso_types)];
    h.hdr_len = static_cast<std::uint16_t>(rng());
    const unsigned gs = rng() % 4;
    h.gso_size = static_cast<std::uint16_t>(gs == 0 ? 0 : gs == 1 ? 0xFFFF : 1 + rng() % 64);
    const unsigned cs = rng() % 4;
    h.csum_start = static_cast<std::uint16_t>(cs == 0 ? 20 : cs == 1 ? 40 : cs == 2 ? rng() % 80 : 0xFFFF);
    const unsigned co = rng() % 3;
    h.csum_offset = static_cast<std::uint16_t>(co == 0 ? 6 : co == 1 ? 16 : rng() % 40);
    CAPTURE(iter, p.size(), int{h.flags}, int{h.gso_type}, h.gso_size, h.csum_start, h.csum_offset);
    Segmenter seg;
    if (seg.init(p, h) != OffloadError::kOk) {
      REQUIRE(seg.count() == 0);
      continue;
    }
    ++accepted;
    REQUIRE(seg.count() >= 1);
    const std::vector<Bytes> segs = write_all(seg);
    const std::uint8_t gso = h.gso_type & 0x7F;
    const bool v6 = p[0] >> 4 == 6;
    std::size_t payload_total = 0;
    for (std::size_t i = 0; i < segs.size(); ++i) {
      const Bytes& s = segs[i];
      REQUIRE(s.size() <= p.size());
      if (gso == kVnetGsoNone) {
        if (h.flags & kVnetFlagNeedsCsum) {
          // Complete = the data with the new field plus the partial sum the field held. (An
          // odd csum_offset puts the field across two words: meaningless, as in the kernel.)
          const std::size_t field = std::size_t{h.csum_start} + h.csum_offset;
          if (h.csum_offset % 2 == 0) {
            REQUIRE(ones_add(naive_sum(s.data() + h.csum_start, s.size() - h.csum_start),
                             get16(p, field)) == 0xFFFF);
          }
          REQUIRE(slice(s, 0, field) == slice(p, 0, field));
          REQUIRE(slice(s, field + 2, s.size()) == slice(p, field + 2, p.size()));
        } else {
          REQUIRE(s == p);
        }
        continue;
      }
      const bool tcp = gso != kVnetGsoUdpL4;
      REQUIRE(l4_verifies(s, v6, h.csum_start, tcp ? 6 : 17));
      const std::size_t hlen = h.csum_start + (tcp ? static_cast<std::size_t>(s[h.csum_start + 12] >> 4) * 4 : 8);
      if (i + 1 < segs.size()) REQUIRE(s.size() - hlen == h.gso_size);
      payload_total += s.size() - hlen;
      if (i + 1 == segs.size()) REQUIRE(payload_total == p.size() - hlen);
    }
  }
  CHECK(accepted > 100);
}

// ---- Coalescer -----------------------------------------------------------------------------

TEST_CASE("Segments of a super-packet fed back in order coalesce into that super-packet",
          "[offload][coalescer]") {
  const std::uint16_t mss = 1448;
  for (const bool v6 : {false, true}) {
    for (const std::size_t plen : {std::size_t{5} * mss + 100, std::size_t{4} * mss,
                                   std::size_t{2} * mss - 1, std::size_t{45} * mss}) {
      for (const std::uint8_t flags : {kAck, static_cast<std::uint8_t>(kAck | kPsh)}) {
        CAPTURE(v6, plen, int{flags});
        const Bytes payload = random_bytes(plen, static_cast<std::uint32_t>(plen) + 1);
        const Super s = tso_super(v6, payload, mss, flags);
        const std::vector<Bytes> segs = segment(s);
        GatherWrite buf;
        Coalescer c;
        REQUIRE(c.start(buf, segs[0]));
        for (std::size_t i = 1; i < segs.size(); ++i) {
          CAPTURE(i);
          REQUIRE(c.append(segs[i]));
        }
        const Written w = finish(c, buf);
        CHECK(w.segments == segs.size());
        const std::size_t l4 = ip_len(v6);
        CHECK(w.hdr.flags == kVnetFlagNeedsCsum);
        CHECK(w.hdr.gso_type == (v6 ? kVnetGsoTcpV6 : kVnetGsoTcpV4));
        CHECK(w.hdr.gso_size == mss);
        CHECK(w.hdr.hdr_len == l4 + 32);
        CHECK(w.hdr.csum_start == l4);
        CHECK(w.hdr.csum_offset == 16);
        const Bytes& p = w.packet;
        REQUIRE(p.size() == s.packet.size());
        if (v6) {
          CHECK(get16(p, 4) == p.size() - 40);
        } else {
          CHECK(get16(p, 2) == p.size());
          CHECK(naive_sum(p.data(), 20) == 0xFFFF);
        }
        CHECK(get16(p, l4 + 16) ==
              naive_sum(pseudo(p.data(), v6, 6, static_cast<std::uint32_t>(p.size() - l4))));
        CHECK(slice(p, l4 + 32, p.size()) == payload);
        CHECK(p[l4 + 13] == flags);
        // It is the very packet the kernel handed over, so it segments into the same segments.
        CHECK(p == s.packet);
        Segmenter again;
        REQUIRE(again.init(p, w.hdr) == OffloadError::kOk);
        CHECK(write_all(again) == segs);
      }
    }
  }
}

TEST_CASE("A segment that does not continue the super-packet is refused by append",
          "[offload][coalescer]") {
  const Bytes pl = random_bytes(1000, 20);
  for (const bool v6 : {false, true}) {
    const Bytes first = tcp_segment(v6, 5000, pl);
    const Bytes next = tcp_segment(v6, 6000, pl);
    std::vector<std::pair<const char*, Bytes>> cases;
    auto mod = [&](const char* what, const SegOpts& so, std::uint32_t seq = 6000,
                   std::size_t n = 1000) {
      cases.emplace_back(what, tcp_segment(v6, seq, random_bytes(n, 21), so));
    };
    SegOpts o;
    o.sport = 40001;
    mod("different source port", o);
    o = {};
    o.dport = 444;
    mod("different destination port", o);
    mod("gap in the sequence", {}, 6001);
    mod("sequence overlap", {}, 5999);
    mod("retransmission of the first", {}, 5000);
    o = {};
    o.ack = kAckNo + 1;
    mod("different ack", o);
    o = {};
    o.options = ts_options(0x11223345u);
    mod("different timestamp value", o);
    o = {};
    o.options = {};
    mod("no options", o);
    o = {};
    o.options = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1};
    mod("different options of the same length", o);
    for (const std::uint8_t f : {kSyn, kFin, kRst, kUrg, kEce, kCwr}) {
      o = {};
      o.flags = static_cast<std::uint8_t>(kAck | f);
      mod("extra TCP flag", o);
    }
    o = {};
    o.flags = 0;
    mod("no ACK flag", o);
    mod("larger payload than the first", {}, 6000, 1001);
    mod("no payload (pure ACK)", {}, 6000, 0);
    o = {};
    o.tos = 0x03;
    mod("ECN CE mark", o);
    o = {};
    o.ttl = 63;
    mod("different TTL / hop limit", o);
    {
      Bytes p = next;
      p[v6 ? 39 : 19] ^= 1;
      if (!v6) fix_v4_header_checksum(p);
      fix_tcp_checksum(p, v6);
      cases.emplace_back("different destination address", p);
      p = next;
      p[v6 ? 23 : 15] ^= 1;
      if (!v6) fix_v4_header_checksum(p);
      fix_tcp_checksum(p, v6);
      cases.emplace_back("different source address", p);
      // the first byte of each address too (the compare goes by words)
      p = next;
      p[v6 ? 8 : 12] ^= 0x80;
      if (!v6) fix_v4_header_checksum(p);
      fix_tcp_checksum(p, v6);
      cases.emplace_back("different source address (first byte)", p);
      p = next;
      p[v6 ? 24 : 16] ^= 0x80;
      if (!v6) fix_v4_header_checksum(p);
      fix_tcp_checksum(p, v6);
      cases.emplace_back("different destination address (first byte)", p);
      p = next;
      p[(v6 ? 40 : 20) + 31] ^= 1;  // the last option byte (timestamp echo)
      fix_tcp_checksum(p, v6);
      cases.emplace_back("different last option byte", p);
    }
    cases.emplace_back("the other IP version", tcp_segment(!v6, 6000, pl));
    if (v6) {
      Bytes p = next;
      p[3] ^= 1;
      cases.emplace_back("different flow label", p);
    } else {
      Bytes p = next;
      p[6] |= 0x20;  // MF
      fix_v4_header_checksum(p);
      cases.emplace_back("v4 fragment (more fragments)", p);
      p = next;
      p[7] = 0x10;  // fragment offset
      fix_v4_header_checksum(p);
      cases.emplace_back("v4 fragment (offset)", p);
      // The same segment with a 4-byte IP option (NOP NOP NOP EOL).
      p = next;
      p.insert(p.begin() + 20, {1, 1, 1, 0});
      p[0] = 0x46;
      put16(p, 2, static_cast<std::uint32_t>(p.size()));
      fix_v4_header_checksum(p);
      cases.emplace_back("IPv4 options", p);
    }

    for (const auto& [what, pkt] : cases) {
      CAPTURE(v6, what);
      GatherWrite buf;
      Coalescer c;
      REQUIRE(c.start(buf, first));
      CHECK_FALSE(c.append(pkt));
      // The caller finishes: the first segment goes out alone, unchanged.
      const Written w = finish(c, buf);
      CHECK(w.segments == 1);
      CHECK(w.raw_hdr == kZeroVnet);
      CHECK(w.packet == first);
    }
    // And the good continuation is accepted.
    GatherWrite buf;
    Coalescer c;
    REQUIRE(c.start(buf, first));
    CHECK(c.append(next));
    CHECK(c.segments() == 2);
  }
}

TEST_CASE("A first segment that is a fragment, has IP options or carries no payload is not coalesced",
          "[offload][coalescer]") {
  Keep keep;
  const Bytes pl = random_bytes(500, 22);
  std::vector<std::pair<const char*, Bytes>> firsts;
  {
    Bytes p = tcp_segment(false, 100, pl);
    p[6] |= 0x20;
    fix_v4_header_checksum(p);
    firsts.emplace_back("fragment", p);
    p = tcp_segment(false, 100, pl);
    p.insert(p.begin() + 20, {1, 1, 1, 0});
    p[0] = 0x46;
    put16(p, 2, static_cast<std::uint32_t>(p.size()));
    fix_v4_header_checksum(p);
    firsts.emplace_back("IP options", p);
    SegOpts o;
    o.flags = kAck | kSyn;
    firsts.emplace_back("SYN", tcp_segment(false, 100, pl, o));
    firsts.emplace_back("pure ACK", tcp_segment(true, 100, {}));
  }
  for (const auto& [what, p] : firsts) {
    CAPTURE(what);
    const bool v6 = p[0] >> 4 == 6;
    GatherWrite buf;
    Coalescer c;
    REQUIRE(c.start(buf, p));
    // Whatever follows is refused, even a perfect continuation of a plain segment.
    CHECK_FALSE(c.append(keep(tcp_segment(v6, 600, pl))));
    CHECK_FALSE(c.append(p));
    const Written w = finish(c, buf);
    CHECK(w.raw_hdr == kZeroVnet);
    CHECK(w.packet == p);
  }
}

TEST_CASE("A shorter segment closes the super-packet", "[offload][coalescer]") {
  Keep keep;
  for (const bool v6 : {false, true}) {
    CAPTURE(v6);
    GatherWrite buf;
    Coalescer c;
    REQUIRE(c.start(buf, keep(tcp_segment(v6, 0, random_bytes(1000, 1)))));
    REQUIRE(c.append(keep(tcp_segment(v6, 1000, random_bytes(1000, 2)))));
    REQUIRE(c.append(keep(tcp_segment(v6, 2000, random_bytes(600, 3)))));
    CHECK_FALSE(c.append(keep(tcp_segment(v6, 2600, random_bytes(600, 4)))));
    CHECK_FALSE(c.append(keep(tcp_segment(v6, 2600, random_bytes(1000, 4)))));
    const Written w = finish(c, buf);
    CHECK(w.segments == 3);
    CHECK(w.hdr.gso_size == 1000);
    const std::size_t hlen = ip_len(v6) + 32;
    CHECK(w.packet.size() == hlen + 2600);
    Bytes want = random_bytes(1000, 1);
    append(want, random_bytes(1000, 2));
    append(want, random_bytes(600, 3));
    CHECK(slice(w.packet, hlen, w.packet.size()) == want);
  }
}

TEST_CASE("PSH closes the super-packet and is carried into it", "[offload][coalescer]") {
  Keep keep;
  for (const bool v6 : {false, true}) {
    CAPTURE(v6);
    const std::size_t l4 = ip_len(v6);
    SegOpts psh;
    psh.flags = kAck | kPsh;
    GatherWrite buf;
    Coalescer c;
    REQUIRE(c.start(buf, keep(tcp_segment(v6, 0, random_bytes(800, 1)))));
    REQUIRE(c.append(keep(tcp_segment(v6, 800, random_bytes(800, 2), psh))));
    CHECK_FALSE(c.append(keep(tcp_segment(v6, 1600, random_bytes(800, 3)))));
    const Written w = finish(c, buf);
    CHECK(w.segments == 2);
    CHECK(w.packet[l4 + 13] == (kAck | kPsh));
    CHECK(w.hdr.gso_type == (v6 ? kVnetGsoTcpV6 : kVnetGsoTcpV4));

    // PSH on the first segment: nothing can follow.
    Coalescer c2;
    REQUIRE(c2.start(buf, keep(tcp_segment(v6, 0, random_bytes(800, 1), psh))));
    CHECK_FALSE(c2.append(keep(tcp_segment(v6, 800, random_bytes(800, 2)))));
    const Written w2 = finish(c2, buf);
    CHECK(w2.raw_hdr == kZeroVnet);
  }
}

TEST_CASE("The newest window is carried into the super-packet", "[offload][coalescer]") {
  Keep keep;
  GatherWrite buf;
  Coalescer c;
  SegOpts o;
  o.window = 100;
  REQUIRE(c.start(buf, keep(tcp_segment(false, 0, random_bytes(500, 1), o))));
  o.window = 300;
  REQUIRE(c.append(keep(tcp_segment(false, 500, random_bytes(500, 2), o))));
  const Written w = finish(c, buf);
  CHECK(get16(w.packet, 20 + 14) == 300);
}

TEST_CASE("A single non-TCP packet is written alone with an all-zero virtio header",
          "[offload][coalescer]") {
  for (const bool v6 : {false, true}) {
    CAPTURE(v6);
    const Super u = uso_super(v6, random_bytes(100, 5), 1000);
    const Bytes p = segment(u)[0];
    GatherWrite buf;
    Coalescer c;
    REQUIRE(c.start(buf, p));
    CHECK_FALSE(c.append(p));
    const Written w = finish(c, buf);
    CHECK(w.segments == 1);
    CHECK(w.raw_hdr == kZeroVnet);
    CHECK(w.packet == p);
  }
  // A single TCP segment is not touched either.
  const Bytes t = tcp_segment(true, 9, random_bytes(1000, 6));
  GatherWrite buf;
  Coalescer c;
  REQUIRE(c.start(buf, t));
  const Written w = finish(c, buf);
  CHECK(w.raw_hdr == kZeroVnet);
  CHECK(w.packet == t);
}

TEST_CASE("Coalescer start refuses what is not an IP packet", "[offload][coalescer]") {
  GatherWrite buf;
  Coalescer c;
  CHECK_FALSE(c.start(buf, {}));
  const Bytes junk = {0x55, 1, 2, 3, 4};
  CHECK_FALSE(c.start(buf, junk));
  CHECK_FALSE(c.append(junk));
}

TEST_CASE("A write gathers at most kCoalesceMaxSegments segments", "[offload][coalescer]") {
  for (const bool v6 : {false, true}) {
    CAPTURE(v6);
    const std::size_t mss = 100;
    const Bytes pl = random_bytes(mss, 40);
    std::vector<Bytes> segs;
    for (std::size_t i = 0; i <= kCoalesceMaxSegments; ++i) {
      segs.push_back(tcp_segment(v6, static_cast<std::uint32_t>(i * mss), pl));
    }
    GatherWrite buf;
    Coalescer c;
    REQUIRE(c.start(buf, segs[0]));
    for (std::size_t i = 1; i < kCoalesceMaxSegments; ++i) REQUIRE(c.append(segs[i]));
    CHECK_FALSE(c.append(segs[kCoalesceMaxSegments]));
    const Written w = finish(c, buf);
    CHECK(w.segments == kCoalesceMaxSegments);
    CHECK(buf.iov_count == kCoalesceMaxSegments + 1);
    CHECK(w.packet.size() == ip_len(v6) + 32 + kCoalesceMaxSegments * mss);
  }
}

TEST_CASE("A gathered write points into the packets: only the first headers are copied",
          "[offload][coalescer]") {
  for (const bool v6 : {false, true}) {
    CAPTURE(v6);
    const std::size_t hlen = ip_len(v6) + 32;
    const Bytes s0 = tcp_segment(v6, 0, random_bytes(500, 1));
    const Bytes s1 = tcp_segment(v6, 500, random_bytes(500, 2));
    GatherWrite buf;
    Coalescer c;
    REQUIRE(c.start(buf, s0));
    REQUIRE(c.append(s1));
    c.finish();
    REQUIRE(buf.iov_count == 3);
    CHECK(buf.iov[0].iov_base == buf.header.data());
    CHECK(buf.iov[0].iov_len == kVnetHdrSize + hlen);
    CHECK(buf.iov[1].iov_base == s0.data() + hlen);
    CHECK(buf.iov[1].iov_len == 500);
    CHECK(buf.iov[2].iov_base == s1.data() + hlen);
    CHECK(buf.iov[2].iov_len == 500);
    CHECK(buf.bytes == kVnetHdrSize + hlen + 1000);
    // A packet written alone is not copied at all: the virtio header, then the packet.
    const Bytes lone = tcp_segment(v6, 0, random_bytes(300, 3), SegOpts{.flags = kAck | kSyn});
    REQUIRE(c.start(buf, lone));
    c.finish();
    REQUIRE(buf.iov_count == 2);
    CHECK(buf.iov[0].iov_len == kVnetHdrSize);
    CHECK(buf.iov[1].iov_base == lone.data());
    CHECK(buf.iov[1].iov_len == lone.size());
    // Without a virtio header on the TUN the write is the bare packet, coalescable or not.
    for (const Bytes* p : {&s0, &lone}) {
      REQUIRE(c.start(buf, *p));
      c.finish(false);
      CHECK(buf.bytes == p->size());
      CHECK(gathered(buf) == *p);
    }
  }
}

TEST_CASE("Coalescer start refuses a packet longer than 65535 bytes", "[offload][coalescer]") {
  Bytes big(65536, 0);
  big[0] = 0x45;
  GatherWrite buf;
  Coalescer c;
  CHECK_FALSE(c.start(buf, big));
  big.pop_back();
  CHECK(c.start(buf, big));
}

TEST_CASE("The coalesced IP packet never exceeds 65535 bytes", "[offload][coalescer]") {
  Keep keep;
  for (const bool v6 : {false, true}) {
    const std::size_t hlen = ip_len(v6) + 32;
    // hlen + k * mss == 65535 exactly for v4 (52 + 11 * 5953); the largest fit otherwise.
    for (const std::size_t mss : {std::size_t{1448}, std::size_t{5953}, std::size_t{9000}}) {
      CAPTURE(v6, mss);
      const Bytes pl = random_bytes(mss, 30);
      GatherWrite buf;
      Coalescer c;
      REQUIRE(c.start(buf, keep(tcp_segment(v6, 0, pl))));
      std::size_t k = 1;
      while (c.append(keep(tcp_segment(v6, static_cast<std::uint32_t>(k * mss), pl)))) ++k;
      CHECK(k == (65535 - hlen) / mss);
      const Written w = finish(c, buf);
      CHECK(w.packet.size() == hlen + k * mss);
      CHECK(w.packet.size() <= 65535);
      if (!v6) CHECK(get16(w.packet, 2) == w.packet.size());
      // A shorter tail that still fits is accepted after the refusal.
      const std::size_t room = 65535 - hlen - k * mss;
      if (room > 0) {
        Coalescer c2;
        REQUIRE(c2.start(buf, keep(tcp_segment(v6, 0, pl))));
        for (std::size_t i = 1; i < k; ++i) {
          REQUIRE(c2.append(keep(tcp_segment(v6, static_cast<std::uint32_t>(i * mss), pl))));
        }
        CHECK(c2.append(keep(tcp_segment(v6, static_cast<std::uint32_t>(k * mss), random_bytes(room, 31)))));
        c2.finish();
        CHECK(buf.bytes == kVnetHdrSize + 65535);
      }
    }
  }
}
