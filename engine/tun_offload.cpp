#include "engine/tun_offload.h"

#include <algorithm>
#include <cassert>
#include <cstring>

#include "engine/byte_order.h"
#include "engine/checksum.h"

namespace mpt::engine {
namespace {

constexpr std::uint8_t kTcpFin = 0x01, kTcpSyn = 0x02, kTcpRst = 0x04, kTcpPsh = 0x08, kTcpAck = 0x10,
                        kTcpUrg = 0x20, kTcpCwr = 0x80;
constexpr std::size_t kMaxIpPacket = 65535;

// Sets the IP length fields of an IPv4/IPv6 packet of `total` bytes.
void set_ip_length(std::uint8_t* ip, bool v6, std::size_t total) {
  if (v6) {
    store_be16(ip + 4, static_cast<std::uint16_t>(total - 40));
  } else {
    store_be16(ip + 2, static_cast<std::uint16_t>(total));
    csum::fix_ipv4_header(ip);
  }
}

}  // namespace

VnetHdr read_vnet_hdr(const std::uint8_t* p) {
  VnetHdr h;
  h.flags = p[0];
  h.gso_type = p[1];
  h.hdr_len = load_le16(p + 2);
  h.gso_size = load_le16(p + 4);
  h.csum_start = load_le16(p + 6);
  h.csum_offset = load_le16(p + 8);
  return h;
}

void write_vnet_hdr(std::uint8_t* p, const VnetHdr& h) {
  p[0] = h.flags;
  p[1] = h.gso_type;
  store_le16(p + 2, h.hdr_len);
  store_le16(p + 4, h.gso_size);
  store_le16(p + 6, h.csum_start);
  store_le16(p + 8, h.csum_offset);
}

const char* to_string(OffloadError e) {
  switch (e) {
    case OffloadError::kOk: return "ok";
    case OffloadError::kNotIp: return "not_ip";
    case OffloadError::kBadCsumRange: return "bad_csum_range";
    case OffloadError::kBadGso: return "bad_gso";
    case OffloadError::kCount: break;
  }
  return "unknown";
}

OffloadError Segmenter::init(std::span<const std::uint8_t> p, const VnetHdr& h) {
  packet_ = p;
  hdr_ = h;
  count_ = 0;
  if (p.empty()) return OffloadError::kNotIp;
  const int version = p[0] >> 4;
  if (version == 4) {
    if (p.size() < 20 || std::size_t{p[0] & 0x0Fu} * 4 < 20 ||
        std::size_t{p[0] & 0x0Fu} * 4 > p.size()) {
      return OffloadError::kNotIp;
    }
    v6_ = false;
  } else if (version == 6) {
    if (p.size() < 40) return OffloadError::kNotIp;
    v6_ = true;
  } else {
    return OffloadError::kNotIp;
  }
  if ((h.flags & kVnetFlagNeedsCsum) &&
      std::size_t{h.csum_start} + h.csum_offset + 2 > p.size()) {
    return OffloadError::kBadCsumRange;
  }
  const std::uint8_t gso = h.gso_type & static_cast<std::uint8_t>(~kVnetGsoEcn);
  if (gso == kVnetGsoNone) {
    l4_proto_ = 0;
    header_len_ = 0;
    mss_ = last_payload_ = p.size();
    count_ = 1;
    return OffloadError::kOk;
  }
  if (h.gso_size == 0 || !(h.flags & kVnetFlagNeedsCsum)) return OffloadError::kBadGso;
  l4_off_ = h.csum_start;
  if (gso == kVnetGsoTcpV4 || gso == kVnetGsoTcpV6) {
    if ((gso == kVnetGsoTcpV6) != v6_ || h.csum_offset != 16 || l4_off_ + 20 > p.size()) {
      return OffloadError::kBadGso;
    }
    const std::size_t thlen = static_cast<std::size_t>(p[l4_off_ + 12] >> 4) * 4;
    if (thlen < 20 || l4_off_ + thlen > p.size()) return OffloadError::kBadGso;
    l4_proto_ = 6;
    header_len_ = l4_off_ + thlen;
  } else if (gso == kVnetGsoUdpL4) {
    if (h.csum_offset != 6 || l4_off_ + 8 > p.size()) return OffloadError::kBadGso;
    l4_proto_ = 17;
    header_len_ = l4_off_ + 8;
  } else {
    return OffloadError::kBadGso;
  }
  if (l4_off_ < (v6_ ? 40u : std::size_t{p[0] & 0x0Fu} * 4)) return OffloadError::kBadGso;
  mss_ = h.gso_size;
  const std::size_t payload = p.size() - header_len_;
  count_ = payload == 0 ? 1 : (payload + mss_ - 1) / mss_;
  last_payload_ = payload - (count_ - 1) * mss_;
  return OffloadError::kOk;
}

// A plain packet that is a TCP data segment straight after its IP header (IPv4: not a
// fragment; IPv6: no extension header), with an IP length that is the packet's, becomes a
// super-packet of one segment: what write() then does to it (IP length, TCP checksum in full) leaves it as it was.
bool Segmenter::promote_plain_tcp() {
  const std::span<const std::uint8_t> p = packet_;
  std::size_t l4 = 0;
  if (v6_) {
    if (p[6] != 6 || std::size_t{load_be16(&p[4])} + 40 != p.size()) return false;
    l4 = 40;
  } else {
    if (p[9] != 6 || (load_be16(&p[6]) & 0x3FFF) != 0 || load_be16(&p[2]) != p.size()) {
      return false;
    }
    l4 = std::size_t{p[0] & 0x0Fu} * 4;
  }
  if (l4 + 20 > p.size()) return false;
  const std::size_t thlen = static_cast<std::size_t>(p[l4 + 12] >> 4) * 4;
  if (thlen < 20 || l4 + thlen >= p.size()) return false;  // no payload: nothing to cut
  // Only data segments: a SYN with data (TCP Fast Open) cut in pieces would be several SYNs
  // with different sequence numbers, a RST several RSTs, an urgent pointer copied into each.
  if (p[l4 + 13] & (kTcpSyn | kTcpRst | kTcpUrg)) return false;
  l4_proto_ = 6;
  l4_off_ = l4;
  header_len_ = l4 + thlen;
  mss_ = last_payload_ = p.size() - header_len_;
  count_ = 1;
  return true;
}

void Segmenter::cap(std::size_t max_len) {
  if (l4_proto_ == 0) {
    if (packet_.size() <= max_len || max_len < 60 + 20 + kMinCappedPayload) return;
    if (!promote_plain_tcp()) return;
    if (max_len < header_len_ + kMinCappedPayload) {  // long TCP options: left whole after all
      l4_proto_ = 0;
      header_len_ = 0;
      mss_ = last_payload_ = packet_.size();
      return;
    }
  }
  if (l4_proto_ != 6 || header_len_ + mss_ <= max_len) return;
  if (max_len < header_len_ + kMinCappedPayload) return;
  mss_ = max_len - header_len_;
  const std::size_t payload = packet_.size() - header_len_;
  count_ = payload == 0 ? 1 : (payload + mss_ - 1) / mss_;
  last_payload_ = payload - (count_ - 1) * mss_;
}

void Segmenter::write(std::size_t i, std::uint8_t* out) const {
  assert(i < count_);
  if (l4_proto_ == 0) {  // a plain packet; complete a partial checksum if the kernel left one
    std::memcpy(out, packet_.data(), packet_.size());
    if (hdr_.flags & kVnetFlagNeedsCsum) {
      std::uint8_t* field = out + hdr_.csum_start + hdr_.csum_offset;
      const std::uint64_t acc = csum::add(0, out + hdr_.csum_start, packet_.size() - hdr_.csum_start);
      csum::store_final(field, acc);
      // As the kernel's skb_checksum_help (CSUM_MANGLED_0): a UDP checksum of 0 means "none"
      // (and is invalid over IPv6); 0xFFFF is the same one's-complement zero for everyone.
      if (field[0] == 0 && field[1] == 0) field[0] = field[1] = 0xFF;
    }
    return;
  }
  const std::size_t payload = i + 1 < count_ ? mss_ : last_payload_;
  std::memcpy(out, packet_.data(), header_len_);
  std::memcpy(out + header_len_, packet_.data() + header_len_ + i * mss_, payload);
  const std::size_t total = header_len_ + payload;
  if (!v6_) store_be16(out + 4, static_cast<std::uint16_t>(load_be16(out + 4) + i));  // IPv4 id
  set_ip_length(out, v6_, total);
  std::uint8_t* l4 = out + l4_off_;
  const std::size_t l4_len = total - l4_off_;
  if (l4_proto_ == 6) {
    store_be32(l4 + 4, load_be32(l4 + 4) + static_cast<std::uint32_t>(i * mss_));
    if (i + 1 < count_) l4[13] &= static_cast<std::uint8_t>(~(kTcpFin | kTcpPsh));
    if (i > 0) l4[13] &= static_cast<std::uint8_t>(~kTcpCwr);
    l4[16] = l4[17] = 0;
    csum::store_final(l4 + 16, csum::add(csum::pseudo_header(out, v6_, 6,
                                                             static_cast<std::uint32_t>(l4_len)),
                                         l4, l4_len));
  } else {
    store_be16(l4 + 4, static_cast<std::uint16_t>(l4_len));
    l4[6] = l4[7] = 0;
    csum::store_final(l4 + 6, csum::add(csum::pseudo_header(out, v6_, 17,
                                                            static_cast<std::uint32_t>(l4_len)),
                                        l4, l4_len));
    if (l4[6] == 0 && l4[7] == 0) l4[6] = l4[7] = 0xFF;  // RFC 768: 0 means "no checksum"
  }
}

namespace {

// a[0, n) == b[0, n) for n a multiple of 4 (IP addresses, TCP options): word loads inline,
// where memcmp with a run-time length is a library call per packet (1.7 % of the samples of
// a one-flow run in the TUN writer).
inline bool same_words(const std::uint8_t* a, const std::uint8_t* b, std::size_t n) {
  assert(n % 4 == 0);
  std::uint64_t diff = 0;
  std::size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    std::uint64_t x;
    std::uint64_t y;
    std::memcpy(&x, a + i, 8);
    std::memcpy(&y, b + i, 8);
    diff |= x ^ y;
  }
  if (i < n) {
    std::uint32_t x;
    std::uint32_t y;
    std::memcpy(&x, a + i, 4);
    std::memcpy(&y, b + i, 4);
    diff |= x ^ y;
  }
  return diff == 0;
}

}  // namespace

bool Coalescer::start(GatherWrite& out, std::span<const std::uint8_t> p) {
  out_ = &out;
  segments_ = 1;
  tcp_ = false;
  closed_ = false;
  out.iov_count = 0;
  out.bytes = 0;
  if (p.empty() || p.size() > kMaxIpPacket) return false;
  const int version = p[0] >> 4;
  if (version != 4 && version != 6) return false;
  std::uint8_t* const hdr = out.header.data();
  std::memset(hdr, 0, kVnetHdrSize);
  out.iov[0] = {hdr, kVnetHdrSize};
  out.iov[1] = {const_cast<std::uint8_t*>(p.data()), p.size()};  // written, never modified
  out.iov_count = 2;
  len_ = p.size();
  v6_ = version == 6;
  // Coalescable: TCP straight after a plain IP header, not a fragment, only ACK (+PSH).
  if (v6_) {
    if (p.size() < 60 || p[6] != 6) return true;
    ip_len_ = 40;
  } else {
    if (p.size() < 40 || (p[0] & 0x0F) != 5 || p[9] != 6 || (load_be16(&p[6]) & 0x3FFF) != 0) {
      return true;
    }
    ip_len_ = 20;
  }
  const std::uint8_t* th = p.data() + ip_len_;
  const std::size_t thlen = static_cast<std::size_t>(th[12] >> 4) * 4;
  if (thlen < 20 || ip_len_ + thlen >= p.size()) return true;  // no payload: nothing to merge
  const std::uint8_t flags = th[13];
  if ((flags & static_cast<std::uint8_t>(~kTcpPsh)) != kTcpAck) return true;
  hdr_len_ = ip_len_ + thlen;
  static_assert(kVnetHdrSize + 40 + 60 <= kCoalesceHeaderMax);
  // The headers are the output's own from here on (append and finish change them); the
  // payload stays where it is.
  std::memcpy(hdr + kVnetHdrSize, p.data(), hdr_len_);
  out.iov[0].iov_len = kVnetHdrSize + hdr_len_;
  out.iov[1] = {const_cast<std::uint8_t*>(p.data() + hdr_len_), p.size() - hdr_len_};
  mss_ = p.size() - hdr_len_;
  next_seq_ = load_be32(th + 4) + static_cast<std::uint32_t>(mss_);
  tcp_ = true;
  closed_ = (flags & kTcpPsh) != 0;
  return true;
}

bool Coalescer::append(std::span<const std::uint8_t> p) {
  if (!tcp_ || closed_ || p.size() <= hdr_len_ || segments_ >= kCoalesceMaxSegments) return false;
  const std::uint8_t* first = out_->header.data() + kVnetHdrSize;
  const std::size_t payload = p.size() - hdr_len_;
  if (payload > mss_ || len_ + payload > kMaxIpPacket) return false;
  if ((p[0] >> 4) != (v6_ ? 6 : 4)) return false;
  if (v6_) {
    // version/class/flow label, next header, hop limit, addresses
    if (!same_words(p.data(), first, 4) || p[6] != first[6] || p[7] != first[7] ||
        !same_words(p.data() + 8, first + 8, 32)) {
      return false;
    }
  } else {
    if (p[0] != first[0] || p[1] != first[1] || p[8] != first[8] || p[9] != first[9] ||
        (load_be16(&p[6]) & 0x3FFF) != 0 || !same_words(p.data() + 12, first + 12, 8)) {
      return false;
    }
  }
  const std::uint8_t* th = p.data() + ip_len_;
  const std::uint8_t* fth = first + ip_len_;
  const std::size_t thlen = hdr_len_ - ip_len_;
  if (static_cast<std::size_t>(th[12] >> 4) * 4 != thlen) return false;
  if ((th[13] & static_cast<std::uint8_t>(~kTcpPsh)) != kTcpAck) return false;
  if (!same_words(th, fth, 4) || !same_words(th + 8, fth + 8, 4)) return false;  // ports, ack
  if (!same_words(th + 20, fth + 20, thlen - 20)) return false;                // options
  if (load_be32(th + 4) != next_seq_) return false;
  out_->iov[out_->iov_count++] = {const_cast<std::uint8_t*>(p.data() + hdr_len_), payload};
  len_ += payload;
  next_seq_ += static_cast<std::uint32_t>(payload);
  ++segments_;
  std::uint8_t* out_th = out_->header.data() + kVnetHdrSize + ip_len_;
  std::memcpy(out_th + 14, th + 14, 2);  // the newest window
  if (th[13] & kTcpPsh) {
    out_th[13] |= kTcpPsh;
    closed_ = true;
  }
  if (payload < mss_) closed_ = true;
  return true;
}

void Coalescer::finish(bool vnet_hdr) {
  GatherWrite& out = *out_;
  std::uint8_t* const hdr = out.header.data();
  VnetHdr h;
  if (tcp_ && segments_ > 1) {
    std::uint8_t* ip = hdr + kVnetHdrSize;
    set_ip_length(ip, v6_, len_);
    std::uint8_t* th = ip + ip_len_;
    th[16] = th[17] = 0;
    // CHECKSUM_PARTIAL: the pseudo-header sum over the whole TCP length, as the kernel's own
    // TSO packets carry it; GSO fixes the length per segment when it has to segment.
    csum::store_partial(th + 16, csum::pseudo_header(ip, v6_, 6,
                                                     static_cast<std::uint32_t>(len_ - ip_len_)));
    h.flags = kVnetFlagNeedsCsum;
    h.gso_type = v6_ ? kVnetGsoTcpV6 : kVnetGsoTcpV4;
    h.gso_size = static_cast<std::uint16_t>(mss_);
    h.hdr_len = static_cast<std::uint16_t>(hdr_len_);
    h.csum_start = static_cast<std::uint16_t>(ip_len_);
    h.csum_offset = 16;
  }
  write_vnet_hdr(hdr, h);
  out.bytes = kVnetHdrSize + len_;
  if (!vnet_hdr) {
    assert(segments_ == 1);
    out.bytes = len_;
    out.iov[0].iov_base = hdr + kVnetHdrSize;
    out.iov[0].iov_len -= kVnetHdrSize;
    if (out.iov[0].iov_len == 0) {  // nothing copied: the packet alone
      out.iov[0] = out.iov[1];
      out.iov_count = 1;
    }
  }
}

}  // namespace mpt::engine
