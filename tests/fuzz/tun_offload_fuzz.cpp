// libFuzzer target for the TUN offload code (engine/tun_offload.*, engine/checksum.h), which
// runs on whatever the kernel hands over with IFF_VNET_HDR and on packets from the tunnel.
//
// Input: the first 10 bytes are a virtio-net header, the rest is the packet.
// Checks, with a hard trap on violation (sanitizers catch memory errors on their own):
//  - the virtio header re-encodes to the same 10 bytes;
//  - a rejected packet has no segments; an accepted one has segments no longer than the
//    packet (and so within the 64 KB a TUN read can hold), each written into a buffer of
//    exactly length(i) bytes; all but the last carry gso_size payload bytes, and the payloads
//    put together are the packet's payload;
//  - every segment of a TCP/UDP super-packet carries an L4 checksum that verifies (checked
//    with a separate naive RFC 1071 sum); a plain packet without NEEDS_CSUM is copied as is;
//  - the segments fed in order to a Coalescer (capacity kVnetHdrSize + 65535) give outputs
//    within capacity whose IP packet is at most 65535 bytes; an output of one segment is that
//    segment behind an all-zero virtio header; an output of several is a GSO super-packet
//    the Segmenter accepts and cuts back into as many segments of the same lengths and
//    payloads -- byte for byte the same segments when the input header was self-consistent
//    (TCP gso type, IP protocol TCP, L4 header straight after a 20/40-byte IP header);
//  - a TCP super-packet capped to a length from the input (Segmenter::cap) gives segments
//    within the cap (or, when the cap leaves too little payload, the uncapped ones) that
//    carry the same payload in order and verify.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <vector>

#include "engine/tun_offload.h"
#include "tests/fuzz/naive_checksum.h"

namespace {

using mpt::engine::Coalescer;
using mpt::engine::GatherWrite;
using mpt::engine::kVnetFlagNeedsCsum;
using mpt::engine::kVnetGsoNone;
using mpt::engine::kVnetGsoTcpV4;
using mpt::engine::kVnetGsoTcpV6;
using mpt::engine::kVnetGsoUdpL4;
using mpt::engine::kVnetHdrSize;
using mpt::engine::OffloadError;
using mpt::engine::Segmenter;
using mpt::engine::VnetHdr;
using Bytes = std::vector<std::uint8_t>;

void check(bool ok) {
  if (!ok) __builtin_trap();
}

std::size_t payload_offset(const Bytes& seg, const VnetHdr& h) {
  const std::uint8_t gso = h.gso_type & 0x7F;
  if (gso == kVnetGsoUdpL4) return std::size_t{h.csum_start} + 8;
  return std::size_t{h.csum_start} + static_cast<std::size_t>(seg[h.csum_start + 12] >> 4) * 4;
}

void flush(Coalescer& c, const GatherWrite& out, const std::vector<Bytes>& group, bool consistent) {
  c.finish();
  Bytes buf;  // the bytes the gathered TUN write hands the kernel
  for (std::size_t k = 0; k < out.iov_count; ++k) {
    const auto* p = static_cast<const std::uint8_t*>(out.iov[k].iov_base);
    buf.insert(buf.end(), p, p + out.iov[k].iov_len);
  }
  const std::size_t n = buf.size();
  check(n == out.bytes && n >= kVnetHdrSize && n - kVnetHdrSize <= 65535);
  check(c.segments() == group.size());
  const std::span<const std::uint8_t> ip(buf.data() + kVnetHdrSize, n - kVnetHdrSize);
  const VnetHdr h = mpt::engine::read_vnet_hdr(buf.data());
  if (group.size() == 1) {
    static const std::uint8_t zero[kVnetHdrSize] = {};
    check(std::memcmp(buf.data(), zero, kVnetHdrSize) == 0);
    check(ip.size() == group[0].size() && std::memcmp(ip.data(), group[0].data(), ip.size()) == 0);
    return;
  }
  check(h.flags == kVnetFlagNeedsCsum);
  check(h.gso_type == kVnetGsoTcpV4 || h.gso_type == kVnetGsoTcpV6);
  const Bytes super(ip.begin(), ip.end());  // exact-size copy
  Segmenter s;
  check(s.init(super, h) == OffloadError::kOk);
  check(s.count() == group.size());
  const std::size_t hdr = h.hdr_len;
  for (std::size_t i = 0; i < s.count(); ++i) {
    check(s.length(i) == group[i].size());
    Bytes out(s.length(i));
    s.write(i, out.data());
    check(out.size() > hdr);
    check(std::memcmp(out.data() + hdr, group[i].data() + hdr, out.size() - hdr) == 0);
    if (consistent) check(out == group[i]);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < kVnetHdrSize) return 0;
  const VnetHdr h = mpt::engine::read_vnet_hdr(data);
  std::uint8_t again[kVnetHdrSize];
  mpt::engine::write_vnet_hdr(again, h);
  check(std::memcmp(again, data, kVnetHdrSize) == 0);

  const Bytes packet(data + kVnetHdrSize, data + size);  // exact-size heap copy
  Segmenter seg;
  const OffloadError e = seg.init(packet, h);
  check(e < OffloadError::kCount);
  if (e != OffloadError::kOk) {
    check(seg.count() == 0);
    return 0;
  }
  check(seg.count() >= 1 && seg.count() <= packet.size() + 1);

  const std::uint8_t gso = h.gso_type & 0x7F;
  const bool v6 = (packet[0] >> 4) == 6;
  std::vector<Bytes> segs;
  std::size_t payload_total = 0;
  for (std::size_t i = 0; i < seg.count(); ++i) {
    const std::size_t len = seg.length(i);
    check(len >= 1 && len <= packet.size());  // so never more than a TUN read holds
    Bytes out(len);
    seg.write(i, out.data());
    if (gso == kVnetGsoNone) {
      if (!(h.flags & kVnetFlagNeedsCsum)) check(out == packet);
    } else {
      const std::size_t off = payload_offset(out, h);
      check(off <= len);
      if (i + 1 < seg.count()) check(len - off == h.gso_size);
      check(std::memcmp(out.data() + off, packet.data() + off + payload_total, len - off) == 0);
      payload_total += len - off;
      if (i + 1 == seg.count()) check(payload_total == packet.size() - off);
      check(mpt::fuzz::l4_verifies(out, v6, h.csum_start, gso == kVnetGsoUdpL4 ? 17 : 6));
    }
    segs.push_back(std::move(out));
  }

  // Capped to a path's limit (Segmenter::cap, a length taken from the input): TCP segments
  // no longer than the cap unless the cap left too little payload, the same payload bytes in
  // order, every checksum valid.
  if (seg.is_tcp()) {
    const std::size_t cap_len = 64 + (packet.size() * 7 + h.gso_size) % 1500;
    Segmenter capped;
    check(capped.init(packet, h) == OffloadError::kOk);
    capped.cap(cap_len);
    check(capped.count() >= seg.count());
    const std::size_t off = payload_offset(segs[0], h);
    std::size_t total = 0;
    for (std::size_t i = 0; i < capped.count(); ++i) {
      const std::size_t len = capped.length(i);
      check(len <= seg.length(0) && len >= off);
      // A cap that leaves enough payload is kept; one that does not changes nothing.
      if (cap_len >= off + Segmenter::kMinCappedPayload) {
        check(len <= cap_len);
      } else {
        check(capped.count() == seg.count() && len == seg.length(i));
      }
      Bytes out(len);
      capped.write(i, out.data());
      check(std::memcmp(out.data() + off, packet.data() + off + total, len - off) == 0);
      total += len - off;
      check(mpt::fuzz::l4_verifies(out, v6, h.csum_start, 6));
    }
    check(total == packet.size() - off);
  }

  // A plain packet capped: unchanged, or (TCP longer than the cap) cut into segments within
  // the cap whose TCP checksums verify and whose lengths add up to the packet's payload.
  if (gso == kVnetGsoNone) {
    const std::size_t cap_len = 64 + (packet.size() * 5 + h.hdr_len) % 1500;
    Segmenter capped;
    check(capped.init(packet, h) == OffloadError::kOk);
    capped.cap(cap_len);
    if (capped.count() > 1) {
      const std::size_t l4 = v6 ? 40 : std::size_t{packet[0] & 0x0Fu} * 4;
      const std::size_t hl = l4 + static_cast<std::size_t>(packet[l4 + 12] >> 4) * 4;
      std::size_t total = 0;
      for (std::size_t i = 0; i < capped.count(); ++i) {
        const std::size_t len = capped.length(i);
        check(len <= cap_len && len > hl);
        Bytes out(len);
        capped.write(i, out.data());
        check(std::memcmp(out.data() + hl, packet.data() + hl + total, len - hl) == 0);
        total += len - hl;
        check(mpt::fuzz::l4_verifies(out, v6, l4, 6));
        check((out[l4 + 13] & 0x26) == 0);  // only data segments are cut: no SYN, RST, URG
      }
      check(total == packet.size() - hl);
    } else {
      check(capped.count() == 1 && capped.length(0) == packet.size());
      Bytes out(packet.size());
      capped.write(0, out.data());
      if (!(h.flags & kVnetFlagNeedsCsum)) check(out == packet);  // uncut: as it came
    }
  }

  const std::size_t ip_hdr = v6 ? 40 : 20;
  const bool consistent = (gso == kVnetGsoTcpV4 || gso == kVnetGsoTcpV6) &&
                          h.csum_start == ip_hdr && packet[v6 ? 6 : 9] == 6;
  GatherWrite buf;  // points into segs, which outlive it
  Coalescer c;
  std::vector<Bytes> group;
  bool open = false;
  for (const Bytes& s : segs) {
    if (open && c.append(s)) {
      group.push_back(s);
      continue;
    }
    if (open) flush(c, buf, group, consistent);
    group.assign(1, s);
    open = c.start(buf, s);
    if (!open) check(s.size() > 65535 || (s[0] >> 4 != 4 && s[0] >> 4 != 6));
  }
  if (open) flush(c, buf, group, consistent);
  return 0;
}
