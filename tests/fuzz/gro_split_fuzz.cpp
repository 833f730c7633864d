// libFuzzer target for the receive path's GRO batch split (engine/gro_split.h) and what each
// datagram of a batch goes through next in PathWorker::handle_datagram: the GRE-in-UDP parser
// and, for repair requests, the NACK parser.
//
// Input: 2 bytes big-endian gso_size (what the UDP_GRO control message would say; 0 = none),
// then the batch as the kernel would hand it over (up to 64 KB).
// Checks, with a hard trap on violation (sanitizers catch reads outside the exact-size heap
// copy of the batch on their own):
//  - the datagrams tile the batch exactly, in order, none empty (but the one datagram of an
//    empty batch); with 0 < gso_size < len every one but the last is gso_size bytes and the
//    last is 1..gso_size; otherwise one datagram;
//  - their number is gro_datagram_count(), which agrees with a naive ceiling division;
//  - a datagram the GRE parser accepts has its header inside it, and for IP payloads the
//    inner length field equals the bytes after the header; a NACK body accepted by the repair
//    parser has 1..kNackMaxRanges ranges, each 1..kNackMaxRun long, attempt <= kNackMaxAttempt.
#include <cstddef>
#include <cstdint>
#include <vector>

#include "engine/gre_udp.h"
#include "engine/gro_split.h"
#include "engine/repair_message.h"

namespace {

using namespace mpt::engine;

void check(bool ok) {
  if (!ok) __builtin_trap();
}

void inspect(const std::uint8_t* d, std::uint32_t n) {
  const GreParsed g = parse_gre({d, n});
  check(g.error < GreError::kCount);
  if (g.error != GreError::kOk) return;
  check(g.header_size >= kGreBaseSize && g.header_size <= kGreHeaderMax && g.header_size <= n);
  check(g.header_size == gre_header_size(g.fields));
  const std::uint8_t* inner = d + g.header_size;
  const std::size_t inner_len = n - g.header_size;
  switch (g.fields.protocol) {
    case kProtoIpv4:
      check(inner_len >= 20 && (inner[0] >> 4) == 4);
      check((std::size_t{inner[2]} << 8 | inner[3]) == inner_len);
      break;
    case kProtoIpv6:
      check(inner_len >= 40 && (inner[0] >> 4) == 6);
      check(40 + (std::size_t{inner[4]} << 8 | inner[5]) == inner_len);
      break;
    case kProtoMptRepair: {
      const NackParsed k = parse_nack({inner, inner_len});
      if (k.error != NackError::kOk) break;
      check(k.count >= 1 && k.count <= kNackMaxRanges);
      for (std::size_t i = 0; i < k.count; ++i) {
        check(k.ranges[i].count >= 1 && k.ranges[i].count <= kNackMaxRun);
        check(k.ranges[i].attempt <= kNackMaxAttempt);
      }
      break;
    }
    case kProtoMptControl:
      break;
    default:
      check(false);  // the parser accepts no other protocol
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2 || size - 2 > 65535) return 0;
  const std::uint32_t gso = std::uint32_t{data[0]} << 8 | data[1];
  std::vector<std::uint8_t> batch(data + 2, data + size);  // exact size: reads outside trap
  const auto len = static_cast<std::uint32_t>(batch.size());
  const std::uint32_t count = gro_datagram_count(len, gso);
  const std::uint32_t naive = (gso == 0 || gso >= len) ? 1 : (len + gso - 1) / gso;
  check(count == naive);
  std::uint32_t seen = 0, off = 0;
  for_each_gro_datagram(batch.data(), len, gso, [&](std::uint8_t* d, std::uint32_t n) {
    check(d == batch.data() + off);
    check((n >= 1 || len == 0) && n <= len - off);
    if (gso != 0 && gso < len) check(n == gso || off + n == len);
    off += n;
    ++seen;
    inspect(d, n);
  });
  check(seen == count && off == len);
  return 0;
}
