// libFuzzer target for the repair request codec (engine/repair_message.*), which parses raw
// network input (a NACK from the peer).
//
// Checks, with a hard trap on violation (sanitizers catch memory errors on their own):
//  - parse_nack() accepts only bodies of exactly 4 + 8 n bytes with 1 <= n <= 64 and every
//    range's count in 1 .. kNackMaxRun, attempt in 0 .. kNackMaxAttempt and space in
//    0 .. kNackMaxSpace, the same in every range; a rejected body reports no ranges;
//  - an accepted body re-encodes byte for byte (the encoder writes the only valid form).
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "engine/repair_message.h"

namespace {
void check(bool ok) {
  if (!ok) __builtin_trap();
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace mpt::engine;
  const std::span<const std::uint8_t> in(data, size);
  const NackParsed p = parse_nack(in);
  if (p.error != NackError::kOk) {
    check(p.count == 0);
    return 0;
  }
  check(p.count >= 1 && p.count <= kNackMaxRanges);
  check(size == kNackHeaderSize + p.count * kNackRangeSize);
  for (std::size_t i = 0; i < p.count; ++i) {
    check(p.ranges[i].count >= 1 && p.ranges[i].count <= kNackMaxRun);
    check(p.ranges[i].attempt <= kNackMaxAttempt);
    check(p.ranges[i].space <= kNackMaxSpace && p.ranges[i].space == p.ranges[0].space);
  }
  std::vector<std::uint8_t> out(kNackMaxSize);
  const std::size_t n = encode_nack(out, std::span(p.ranges.data(), p.count));
  check(n == size);
  for (std::size_t i = 0; i < n; ++i) check(out[i] == in[i]);
  return 0;
}
