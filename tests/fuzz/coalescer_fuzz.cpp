// libFuzzer target for the TUN writer's Coalescer (engine/tun_offload.*) on arbitrary sequences
// of inner packets -- what the reorder stage hands the writer, which comes off the wire.
//
// Input: a sequence of records. Each starts with a kind byte:
//  - even kind: a raw packet, 2-byte big-endian length then that many bytes (anything);
//  - odd kind: a TCP segment built from 9 bytes of fields (flow 0-3 of which two IPv6, a
//    sequence step that continues, repeats, skips or rewinds, payload size, flags, options,
//    ack and IPv4 id changes), with valid lengths and checksums -- so that runs of one flow
//    reach the coalescer often and mixed ones break them.
// The packets go through the Coalescer exactly as TunWriter feeds it (start, append until
// refused, finish). Checks, with a hard trap on violation:
//  - every output is gathered from the virtio/header area and slices inside the packets it
//    took, its IP packet is at most 65535 bytes and its IP length
//    field says so; segments() counts the packets taken;
//  - an output of one packet is that packet unchanged behind an all-zero virtio header;
//  - an output of several is a TCP GSO super-packet (NEEDS_CSUM, csum_start at the TCP
//    header, hdr_len = IP + TCP header) that the Segmenter accepts and cuts back into
//    packets of the same lengths, the same payloads and the same TCP sequence numbers, each
//    with an L4 checksum that verifies (checked by a naive RFC 1071 sum);
//  - start() refuses only what is not IPv4/IPv6 or is longer than 65535 bytes.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <vector>

#include "engine/checksum.h"
#include "engine/tun_offload.h"
#include "tests/fuzz/naive_checksum.h"

namespace {

using namespace mpt::engine;
using Bytes = std::vector<std::uint8_t>;

void check(bool ok) {
  if (!ok) __builtin_trap();
}

std::uint32_t be32(const std::uint8_t* p) {
  return std::uint32_t{p[0]} << 24 | std::uint32_t{p[1]} << 16 | std::uint32_t{p[2]} << 8 | p[3];
}
void put16(std::uint8_t* p, std::uint32_t v) {
  p[0] = static_cast<std::uint8_t>(v >> 8);
  p[1] = static_cast<std::uint8_t>(v);
}
void put32(std::uint8_t* p, std::uint32_t v) {
  put16(p, v >> 16);
  put16(p + 2, v);
}

// Per-flow state of the synthesizer.
struct Flow {
  std::uint32_t seq = 1000;
  std::uint32_t ack = 7;
  std::uint16_t id = 1;
  std::uint32_t last_payload = 0;
};

Bytes make_tcp(Flow* flows, const std::uint8_t* f) {
  const unsigned which = f[0] & 3;
  Flow& fl = flows[which];
  const bool v6 = which >= 2;
  const unsigned step = f[1] & 3;  // 0 continue, 1 repeat, 2 skip ahead, 3 rewind
  std::uint32_t payload = (std::uint32_t{f[2]} << 8 | f[3]) % 1461;
  if (f[1] & 4) payload = fl.last_payload ? fl.last_payload : payload;  // same size as before
  const std::uint8_t flags = (f[4] & 0x80) ? f[4] : static_cast<std::uint8_t>(0x10 | (f[4] & 0x08));
  const std::size_t opts = (f[5] & 1) ? 12 : 0;
  if (f[5] & 2) fl.ack += f[6];
  const std::uint16_t id_step = (f[5] & 4) ? f[7] : 1;
  if (step == 1) fl.seq -= fl.last_payload;
  if (step == 2) fl.seq += 1 + f[8];
  if (step == 3) fl.seq -= 1 + f[8] * 100u;
  const std::size_t ip = v6 ? 40 : 20, tcp = 20 + opts;
  Bytes p(ip + tcp + payload, 0);
  if (v6) {
    p[0] = 0x60;
    put16(&p[4], static_cast<std::uint32_t>(tcp + payload));
    p[6] = 6;
    p[7] = 64;
    p[8] = 0xfd;
    p[23] = static_cast<std::uint8_t>(which);
    p[24] = 0xfd;
    p[39] = 0x10;
  } else {
    p[0] = 0x45;
    put16(&p[2], static_cast<std::uint32_t>(p.size()));
    put16(&p[4], fl.id);
    p[6] = 0x40;  // DF
    p[8] = 64;
    p[9] = 6;
    p[12] = 10;
    p[15] = static_cast<std::uint8_t>(which);
    p[16] = 10;
    p[19] = 0x10;
    csum::fix_ipv4_header(p.data());
  }
  std::uint8_t* t = p.data() + ip;
  put16(t, 40000 + which);
  put16(t + 2, 5201);
  put32(t + 4, fl.seq);
  put32(t + 8, fl.ack);
  t[12] = static_cast<std::uint8_t>((tcp / 4) << 4);
  t[13] = flags;
  put16(t + 14, 512);
  if (opts) {
    t[20] = 1;
    t[21] = 1;
    t[22] = 8;
    t[23] = 10;
    put32(t + 24, 12345);
    put32(t + 28, 678);
  }
  for (std::uint32_t i = 0; i < payload; ++i) t[tcp + i] = static_cast<std::uint8_t>(fl.seq + i);
  csum::store_final(t + 16, csum::add(csum::pseudo_header(p.data(), v6, 6, static_cast<std::uint32_t>(tcp + payload)),
                                      t, tcp + payload));
  fl.seq += payload;
  fl.id = static_cast<std::uint16_t>(fl.id + id_step);
  fl.last_payload = payload;
  return p;
}

// group: copies of the packets taken; srcs: the packets themselves (the write points into them).
void flush(Coalescer& c, const GatherWrite& out, const std::vector<Bytes>& group,
           const std::vector<const Bytes*>& srcs) {
  c.finish();
  // The bytes the TUN write would take, gathered; each slice must lie inside its packet.
  Bytes buf;
  check(out.iov_count >= 1 && out.iov_count <= group.size() + 1);
  check(out.iov[0].iov_base == out.header.data() && out.iov[0].iov_len <= out.header.size());
  for (std::size_t k = 0; k < out.iov_count; ++k) {
    const auto* p = static_cast<const std::uint8_t*>(out.iov[k].iov_base);
    if (k > 0) {
      const Bytes& src = *srcs[k - 1];
      check(p >= src.data() && p + out.iov[k].iov_len <= src.data() + src.size());
    }
    buf.insert(buf.end(), p, p + out.iov[k].iov_len);
  }
  const std::size_t n = buf.size();
  check(n == out.bytes);
  check(n >= kVnetHdrSize && n - kVnetHdrSize <= 65535);
  check(c.segments() == group.size());
  const std::uint8_t* ip = buf.data() + kVnetHdrSize;
  const std::size_t ip_size = n - kVnetHdrSize;
  const VnetHdr h = read_vnet_hdr(buf.data());
  if (group.size() == 1) {
    static const std::uint8_t zero[kVnetHdrSize] = {};
    check(std::memcmp(buf.data(), zero, kVnetHdrSize) == 0);
    check(ip_size == group[0].size() && std::memcmp(ip, group[0].data(), ip_size) == 0);
    return;
  }
  const bool v6 = (ip[0] >> 4) == 6;
  check(h.flags == kVnetFlagNeedsCsum);
  check(h.gso_type == (v6 ? kVnetGsoTcpV6 : kVnetGsoTcpV4));
  check(ip_size >= 40);
  const std::size_t ip_len_field = v6 ? 40u + (std::size_t{ip[4]} << 8 | ip[5]) : (std::size_t{ip[2]} << 8 | ip[3]);
  check(ip_len_field == ip_size);
  const Bytes super(ip, ip + ip_size);
  Segmenter s;
  check(s.init(super, h) == OffloadError::kOk);
  check(s.count() == group.size());
  const std::size_t hdr = h.hdr_len;
  check(h.csum_start == (v6 ? 40 : std::size_t{ip[0] & 0x0Fu} * 4));
  check(hdr == h.csum_start + std::size_t{static_cast<std::uint8_t>(ip[h.csum_start + 12] >> 4)} * 4);
  for (std::size_t i = 0; i < s.count(); ++i) {
    check(s.length(i) == group[i].size());
    Bytes out(s.length(i));
    s.write(i, out.data());
    check(out.size() >= hdr);
    check(std::memcmp(out.data() + hdr, group[i].data() + hdr, out.size() - hdr) == 0);
    check(be32(out.data() + h.csum_start + 4) == be32(group[i].data() + h.csum_start + 4));
    check(mpt::fuzz::l4_verifies(out, v6, h.csum_start, 6));
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::vector<Bytes> packets;
  Flow flows[4];
  std::size_t i = 0;
  while (i < size && packets.size() < 512) {
    const std::uint8_t kind = data[i++];
    if (kind & 1) {
      std::uint8_t f[9] = {};
      std::memcpy(f, data + i, std::min<std::size_t>(9, size - i));
      i += std::min<std::size_t>(9, size - i);
      packets.push_back(make_tcp(flows, f));
    } else {
      if (size - i < 2) break;
      std::size_t len = std::size_t{data[i]} << 8 | data[i + 1];
      i += 2;
      len = std::min(len, size - i);
      packets.emplace_back(data + i, data + i + len);
      i += len;
    }
  }
  GatherWrite buf;
  Coalescer c;
  std::vector<Bytes> group;
  std::vector<const Bytes*> srcs;
  bool open = false;
  for (const Bytes& p : packets) {
    if (open && c.append(p)) {
      group.push_back(p);
      srcs.push_back(&p);
      continue;
    }
    if (open) flush(c, buf, group, srcs);
    group.assign(1, p);
    srcs.assign(1, &p);
    open = c.start(buf, p);
    if (!open) check(p.empty() || p.size() > 65535 || (p[0] >> 4 != 4 && p[0] >> 4 != 6));
  }
  if (open) flush(c, buf, group, srcs);
  return 0;
}
