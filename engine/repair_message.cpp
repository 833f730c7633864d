#include "engine/repair_message.h"

#include "engine/byte_order.h"

namespace mpt::engine {
namespace {

constexpr std::uint8_t kVersion = 1;
constexpr std::uint8_t kTypeNack = 1;

}  // namespace

std::size_t encode_nack(std::span<std::uint8_t> out, std::span<const NackRange> ranges) noexcept {
  const std::size_t n = ranges.size();
  if (n == 0 || n > kNackMaxRanges) return 0;
  const std::size_t size = kNackHeaderSize + n * kNackRangeSize;
  if (out.size() < size) return 0;
  std::uint8_t* p = out.data();
  p[0] = kVersion;
  p[1] = kTypeNack;
  store_be16(p + 2, static_cast<std::uint16_t>(n));
  p += kNackHeaderSize;
  for (const NackRange& r : ranges) {
    if (r.count == 0 || r.count > kNackMaxRun || r.attempt > kNackMaxAttempt ||
        r.space > kNackMaxSpace || r.space != ranges[0].space) {
      return 0;
    }
    store_be32(p, r.first);
    store_be16(p + 4, r.count);
    p[6] = r.attempt;
    p[7] = r.space;
    p += kNackRangeSize;
  }
  return size;
}

NackParsed parse_nack(std::span<const std::uint8_t> body) noexcept {
  NackParsed out;
  if (body.size() < kNackHeaderSize) {
    out.error = NackError::kTooShort;
    return out;
  }
  const std::uint8_t* p = body.data();
  if (p[0] != kVersion) {
    out.error = NackError::kBadVersion;
    return out;
  }
  if (p[1] != kTypeNack) {
    out.error = NackError::kBadType;
    return out;
  }
  const std::size_t n = load_be16(p + 2);
  if (n == 0 || n > kNackMaxRanges || body.size() != kNackHeaderSize + n * kNackRangeSize) {
    out.error = NackError::kBadLength;
    return out;
  }
  p += kNackHeaderSize;
  for (std::size_t i = 0; i < n; ++i, p += kNackRangeSize) {
    const NackRange r{load_be32(p), load_be16(p + 4), p[6], p[7]};
    if (r.count == 0 || r.count > kNackMaxRun || r.attempt > kNackMaxAttempt ||
        r.space > kNackMaxSpace || (i > 0 && r.space != out.ranges[0].space)) {
      out.error = NackError::kBadRange;
      out.count = 0;
      return out;
    }
    out.ranges[i] = r;
  }
  out.count = n;
  return out;
}

const char* to_string(NackError e) {
  switch (e) {
    case NackError::kOk: return "ok";
    case NackError::kTooShort: return "too short";
    case NackError::kBadVersion: return "unknown version";
    case NackError::kBadType: return "unknown type";
    case NackError::kBadLength: return "length does not match the range count";
    case NackError::kBadRange: return "invalid range";
  }
  return "?";
}

}  // namespace mpt::engine
