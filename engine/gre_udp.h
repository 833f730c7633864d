// GRE-in-UDP codec (RFC 8086 over RFC 2784 / RFC 2890). Pure functions, no I/O.
//
// Wire layout of the UDP payload (RFC 2784 §2.1, RFC 2890 §2):
//
//    0                   1                   2                   3
//    0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//   |C| |K|S| Reserved0       | Ver |         Protocol Type         |
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//   |      Checksum (optional)      |       Reserved1 (optional)    |
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//   |                         Key (optional)                        |
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//   |                 Sequence Number (optional)                    |
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//
// Receive rules implemented by parse_gre():
//  - Ver must be 0 (RFC 2784 §2.3.1, RFC 8086 §3.1);
//  - bits 1, 4 and 5 (RFC 1701's R, s and the top of Recur) must be zero: RFC 2784 §2.3 says a
//    receiver that does not implement RFC 1701 MUST discard such packets; bits 6-12 are ignored;
//  - a present checksum must verify (Internet checksum over GRE header + payload);
//  - the protocol type must be IPv4 (0x0800), IPv6 (0x86DD), mpt's control type or mpt's
//    repair type (engine/repair_message.h); for IP the
//    inner version nibble must match and the inner length field must match the bytes present.
// parse_gre() never throws and never reads outside the span: it is fed raw network input.
//
// Threads: any; no shared state.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>

namespace mpt::engine {

inline constexpr std::uint16_t kGreInUdpPort = 4754;      // RFC 8086 §3.3 (IANA)
inline constexpr std::uint16_t kProtoIpv4 = 0x0800;
inline constexpr std::uint16_t kProtoIpv6 = 0x86DD;
// mpt signalling (docs/protocol.md) travels as GRE-in-UDP with a protocol type of its own:
// 0x88B5 is the IEEE 802 "Local Experimental EtherType 1".
inline constexpr std::uint16_t kProtoMptControl = 0x88B5;
// What the data plane reads of a control message (signaling/messages.h has the layout: the
// version at 0 -- 1 plain, 2 handshake, 3 sealed --, the sender's session id at 4..11, a
// 24-byte header, then the body and a MAC (32 bytes) or AEAD tag (16) at the end).
inline constexpr std::uint8_t kControlVersionFirst = 1;
inline constexpr std::uint8_t kControlVersionLast = 3;
inline constexpr std::size_t kControlHeaderSize = 24;
inline constexpr std::size_t kControlMinTrailer = 16;

inline constexpr std::uint16_t kEntropyPortFirst = 49152;  // RFC 8086 §3.2.1
inline constexpr std::uint16_t kEntropyPortCount = 16384;  // 49152..65535

inline constexpr std::size_t kGreBaseSize = 4;
inline constexpr std::size_t kGreHeaderMax = 16;  // base + checksum + key + sequence

inline constexpr std::uint8_t kGreFlagChecksum = 0x80;  // C
inline constexpr std::uint8_t kGreFlagKey = 0x20;       // K
inline constexpr std::uint8_t kGreFlagSeq = 0x10;       // S
// Bits that RFC 2784 §2.3 says MUST cause a discard (1, 4, 5 of the first octet).
inline constexpr std::uint8_t kGreMustBeZero0 = 0x40 | 0x08 | 0x04;

struct GreFields {
  std::uint16_t protocol = 0;
  bool checksum = false;
  std::optional<std::uint32_t> key;
  std::optional<std::uint32_t> seq;
};

[[nodiscard]] constexpr std::size_t gre_header_size(const GreFields& f) {
  return kGreBaseSize + (f.checksum ? 4 : 0) + (f.key ? 4 : 0) + (f.seq ? 4 : 0);
}

// Sequence spaces of plain data (docs/protocol.md 1): TUN queue q numbers its packets in its
// own space q (0..3) and says which in the GRE key's two low bits, as an offset from the
// connection's configured key: space 0 sends the configured key (or none) unchanged -- what
// mptd with one queue always sends -- space q the key whose low bits are the configured
// key's plus q (mod 4), the other bits kept (no key configured: key q). Sealed data carries
// its space in the sealed header and keeps the configured key.
inline constexpr unsigned kKeySpaceMask = 3;  // 2 bits: engine/tunnel_spec.h kMaxQueues = 4
[[nodiscard]] constexpr std::optional<std::uint32_t> space_key(std::optional<std::uint32_t> configured,
                                                               unsigned space) {
  if (space == 0) return configured;
  const std::uint32_t base = configured.value_or(0);
  return (base & ~kKeySpaceMask) | ((base + space) & kKeySpaceMask);
}
// The space a plain data packet's GRE key names for a connection with `configured` key, or -1
// if the key is not one of the connection's.
[[nodiscard]] constexpr int key_space(std::optional<std::uint32_t> key,
                                      std::optional<std::uint32_t> configured) {
  if (key == configured) return 0;
  if (!key) return -1;
  const std::uint32_t base = configured.value_or(0);
  if ((*key & ~kKeySpaceMask) != (base & ~kKeySpaceMask)) return -1;
  return static_cast<int>((*key - base) & kKeySpaceMask);
}

enum class GreError : std::uint8_t {
  kOk = 0,
  kTooShort,              // shorter than the header its flags announce
  kBadVersion,            // Ver != 0
  kReservedBits,          // bit 1, 4 or 5 set
  kUnknownProtocol,       // not IPv4, IPv6, mpt control or mpt repair
  kBadChecksum,           // C set and the checksum does not verify
  kInnerTooShort,         // IP payload shorter than a minimal IP header
  kInnerVersionMismatch,  // protocol type says v4 but the packet is not v4, or vice versa
  kInnerLengthMismatch,   // IP length field disagrees with the bytes present
  kCount
};

[[nodiscard]] const char* to_string(GreError e);

struct GreParsed {
  GreError error = GreError::kOk;
  std::uint8_t header_size = 0;  // payload starts here
  GreFields fields;
};

// Parses and validates one GRE-in-UDP payload (the UDP datagram's data).
[[nodiscard]] GreParsed parse_gre(std::span<const std::uint8_t> datagram) noexcept;

// Writes the GRE header for `fields` into packet[0, gre_header_size(fields)); the payload must
// already be at packet[gre_header_size(fields), packet.size()). When fields.checksum is set the
// checksum covers header and payload. Returns the header size. packet.size() must be at least
// the header size (asserted).
std::size_t encode_gre(std::span<std::uint8_t> packet, const GreFields& fields) noexcept;

// Validates an inner IP packet that came without a protocol type of its own (sealed data):
// the type from its version nibble, then the same checks as parse_gre's.
[[nodiscard]] GreError check_inner_packet(std::span<const std::uint8_t> inner) noexcept;

// The GRE protocol type for an inner IP packet, from its version nibble; 0 if it is not IP.
[[nodiscard]] std::uint16_t protocol_for_inner(std::span<const std::uint8_t> inner) noexcept;

// RFC 1071 Internet checksum of `data` (returned in network byte order as a host integer
// whose big-endian bytes go on the wire).
[[nodiscard]] std::uint16_t internet_checksum(std::span<const std::uint8_t> data) noexcept;

// RFC 8086 §3.2.1: the UDP source port for a flow hash, in 49152..65535.
[[nodiscard]] constexpr std::uint16_t entropy_source_port(std::uint32_t flow_hash) {
  return static_cast<std::uint16_t>(kEntropyPortFirst + flow_hash % kEntropyPortCount);
}

}  // namespace mpt::engine
