#include "engine/gre_udp.h"

#include "engine/byte_order.h"
#include "engine/repair_message.h"

#include <cassert>

namespace mpt::engine {
namespace {

// Checks the inner IP packet against the protocol type.
GreError check_inner(std::uint16_t protocol, std::span<const std::uint8_t> inner) {
  if (protocol == kProtoIpv4) {
    if (inner.size() < 20) return GreError::kInnerTooShort;
    if ((inner[0] >> 4) != 4) return GreError::kInnerVersionMismatch;
    const std::size_t ihl_bytes = std::size_t{inner[0] & 0x0Fu} * 4;
    const std::size_t total = load_be16(&inner[2]);
    if (ihl_bytes < 20 || total < ihl_bytes || total != inner.size()) {
      return GreError::kInnerLengthMismatch;
    }
    return GreError::kOk;
  }
  if (protocol == kProtoIpv6) {
    if (inner.size() < 40) return GreError::kInnerTooShort;
    if ((inner[0] >> 4) != 6) return GreError::kInnerVersionMismatch;
    // Payload length 0 would mean a jumbogram (RFC 2675): never valid inside our MTU.
    const std::size_t payload = load_be16(&inner[4]);
    if (payload == 0 || payload + 40 != inner.size()) return GreError::kInnerLengthMismatch;
    return GreError::kOk;
  }
  return GreError::kOk;  // control messages are validated by their own parser
}

}  // namespace

GreError check_inner_packet(std::span<const std::uint8_t> inner) noexcept {
  if (inner.empty()) return GreError::kInnerTooShort;
  const std::uint16_t protocol = protocol_for_inner(inner);
  if (protocol == 0) return GreError::kInnerVersionMismatch;
  return check_inner(protocol, inner);
}

const char* to_string(GreError e) {
  switch (e) {
    case GreError::kOk: return "ok";
    case GreError::kTooShort: return "too_short";
    case GreError::kBadVersion: return "bad_version";
    case GreError::kReservedBits: return "reserved_bits";
    case GreError::kUnknownProtocol: return "unknown_protocol";
    case GreError::kBadChecksum: return "bad_checksum";
    case GreError::kInnerTooShort: return "inner_too_short";
    case GreError::kInnerVersionMismatch: return "inner_version_mismatch";
    case GreError::kInnerLengthMismatch: return "inner_length_mismatch";
    case GreError::kCount: break;
  }
  return "unknown";
}

std::uint16_t internet_checksum(std::span<const std::uint8_t> data) noexcept {
  std::uint64_t sum = 0;
  std::size_t i = 0;
  for (; i + 1 < data.size(); i += 2) sum += load_be16(&data[i]);
  if (i < data.size()) sum += std::uint64_t{data[i]} << 8;
  while (sum >> 16) sum = (sum & 0xFFFF) + (sum >> 16);
  return static_cast<std::uint16_t>(~sum & 0xFFFF);
}

GreParsed parse_gre(std::span<const std::uint8_t> d) noexcept {
  GreParsed r;
  if (d.size() < kGreBaseSize) {
    r.error = GreError::kTooShort;
    return r;
  }
  const std::uint8_t f0 = d[0];
  if ((d[1] & 0x07) != 0) {
    r.error = GreError::kBadVersion;
    return r;
  }
  if (f0 & kGreMustBeZero0) {
    r.error = GreError::kReservedBits;
    return r;
  }
  GreFields& f = r.fields;
  f.protocol = load_be16(&d[2]);
  f.checksum = (f0 & kGreFlagChecksum) != 0;
  std::size_t off = kGreBaseSize;
  const std::size_t need = kGreBaseSize + (f.checksum ? 4 : 0) + ((f0 & kGreFlagKey) ? 4 : 0) +
                           ((f0 & kGreFlagSeq) ? 4 : 0);
  if (d.size() < need) {
    r.error = GreError::kTooShort;
    return r;
  }
  if (f.checksum) off += 4;
  if (f0 & kGreFlagKey) {
    f.key = load_be32(&d[off]);
    off += 4;
  }
  if (f0 & kGreFlagSeq) {
    f.seq = load_be32(&d[off]);
    off += 4;
  }
  r.header_size = static_cast<std::uint8_t>(off);
  if (f.protocol != kProtoIpv4 && f.protocol != kProtoIpv6 && f.protocol != kProtoMptControl &&
      f.protocol != kProtoMptRepair) {
    r.error = GreError::kUnknownProtocol;
    return r;
  }
  // A correct checksum makes the one's-complement sum of the whole message 0xFFFF.
  if (f.checksum && internet_checksum(d) != 0) {
    r.error = GreError::kBadChecksum;
    return r;
  }
  r.error = check_inner(f.protocol, d.subspan(off));
  return r;
}

std::size_t encode_gre(std::span<std::uint8_t> p, const GreFields& f) noexcept {
  const std::size_t hs = gre_header_size(f);
  assert(p.size() >= hs);
  std::uint8_t f0 = 0;
  if (f.checksum) f0 |= kGreFlagChecksum;
  if (f.key) f0 |= kGreFlagKey;
  if (f.seq) f0 |= kGreFlagSeq;
  p[0] = f0;
  p[1] = 0;  // Reserved0 low bits and Ver 0
  store_be16(&p[2], f.protocol);
  std::size_t off = kGreBaseSize;
  if (f.checksum) {
    store_be32(&p[off], 0);  // checksum computed below, Reserved1 = 0
    off += 4;
  }
  if (f.key) {
    store_be32(&p[off], *f.key);
    off += 4;
  }
  if (f.seq) {
    store_be32(&p[off], *f.seq);
    off += 4;
  }
  if (f.checksum) store_be16(&p[4], internet_checksum(p));
  return hs;
}

std::uint16_t protocol_for_inner(std::span<const std::uint8_t> inner) noexcept {
  if (inner.empty()) return 0;
  switch (inner[0] >> 4) {
    case 4: return kProtoIpv4;
    case 6: return kProtoIpv6;
    default: return 0;
  }
}

}  // namespace mpt::engine
