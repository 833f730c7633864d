// libFuzzer target for the GRE-in-UDP codec (engine/gre_udp.*) and the inner flow hash
// (scheduler/flow_key.*), both of which run on raw network / TUN input.
//
// Checks, with a hard trap on violation (sanitizers catch memory errors on their own):
//  - parse_gre() never reports a header larger than the input, and its header size matches
//    the fields it returns;
//  - an accepted datagram re-encodes (encode_gre over the same payload) into a datagram that
//    is accepted again with the same fields, without touching the payload;
//  - when the input's ignored bits are zero (bits 6-12, and Reserved1 when present, which
//    the checksum covers), the re-encoded header is byte-identical to the input's, except
//    that a received checksum of 0xFFFF may come back as 0x0000: both are one's-complement
//    zero and both verify (RFC 1624 §3), the encoder always writes +0;
//  - extract_flow_key()/flow_hash() on the payload (and on the raw input) are deterministic
//    and give a consistent key.
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "engine/gre_udp.h"
#include "scheduler/flow_key.h"

namespace {

void check(bool ok) {
  if (!ok) __builtin_trap();
}

void check_flow(std::span<const std::uint8_t> ip_packet) {
  using mpt::scheduler::FlowKey;
  const FlowKey key = mpt::scheduler::extract_flow_key(ip_packet);
  check(key == mpt::scheduler::extract_flow_key(ip_packet));
  if (key.ip_version == 0) check(key == FlowKey{});
  if (!key.has_ports) check(key.src_port == 0 && key.dst_port == 0);
  if (key.has_ports) {
    check(key.protocol == mpt::scheduler::kIpProtoTcp ||
          key.protocol == mpt::scheduler::kIpProtoUdp ||
          key.protocol == mpt::scheduler::kIpProtoSctp ||
          key.protocol == mpt::scheduler::kIpProtoUdpLite);
  }
  const std::uint32_t h = mpt::scheduler::flow_hash(ip_packet, 0x5EED);
  check(h == mpt::scheduler::flow_hash(ip_packet, 0x5EED));
  check(h == mpt::scheduler::flow_key_hash(key, 0x5EED));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace mpt::engine;
  const std::span<const std::uint8_t> in(data, size);
  check_flow(in);

  const GreParsed parsed = parse_gre(in);
  if (parsed.error != GreError::kOk) return 0;

  const std::size_t hs = parsed.header_size;
  check(hs == gre_header_size(parsed.fields));
  check(hs <= size);
  check(hs <= kGreHeaderMax);
  check_flow(in.subspan(hs));

  // Re-encode the parsed fields over the same payload.
  std::vector<std::uint8_t> out(in.begin(), in.end());
  check(encode_gre(out, parsed.fields) == hs);
  for (std::size_t i = hs; i < size; ++i) check(out[i] == in[i]);

  const GreParsed again = parse_gre(out);
  check(again.error == GreError::kOk);
  check(again.header_size == hs);
  check(again.fields.protocol == parsed.fields.protocol);
  check(again.fields.checksum == parsed.fields.checksum);
  check(again.fields.key == parsed.fields.key);
  check(again.fields.seq == parsed.fields.seq);

  const bool ignored_bits_zero = (in[0] & 0x03) == 0 && (in[1] & 0xF8) == 0 &&
                                 (!parsed.fields.checksum || (in[6] == 0 && in[7] == 0));
  if (!ignored_bits_zero) return 0;
  for (std::size_t i = 0; i < hs; ++i) {
    if (parsed.fields.checksum && (i == 4 || i == 5)) continue;
    check(out[i] == in[i]);
  }
  if (parsed.fields.checksum) {
    const bool same = out[4] == in[4] && out[5] == in[5];
    const bool minus_zero = in[4] == 0xFF && in[5] == 0xFF && out[4] == 0x00 && out[5] == 0x00;
    check(same || minus_zero);
  }
  return 0;
}
