// TUN offloads: the virtio-net header, segmentation of the kernel's TSO/USO super-packets
// into wire-sized inner packets (transmit), and coalescing of consecutive TCP segments into
// super-packets for the TUN write (receive). Kept here, behind the TUN reader and writer, so
// the rest of the engine sees plain IP packets.
//
// With IFF_VNET_HDR every TUN read and write starts with a 10-byte virtio_net_hdr
// (little-endian fields). The kernel hands over up to 64 KB TCP (TSO4/TSO6) and UDP (USO)
// super-packets whose L4 checksum is partial (NEEDS_CSUM: the pseudo-header sum sits in the
// checksum field, the rest is ours to add). Segments leave with complete checksums, so the
// wire carries ordinary packets any GRE-in-UDP peer understands.
//
// Threads: pure functions and small value types; used by the TUN reader (Segmenter) and the
// TUN writer (Coalescer). Nothing allocates. Inputs from the TUN are validated: a header that
// does not describe the packet is rejected, never trusted (OffloadError).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>

#include <sys/uio.h>

namespace mpt::engine {

inline constexpr std::size_t kVnetHdrSize = 10;
inline constexpr std::uint8_t kVnetFlagNeedsCsum = 1;
inline constexpr std::uint8_t kVnetFlagDataValid = 2;
inline constexpr std::uint8_t kVnetGsoNone = 0;
inline constexpr std::uint8_t kVnetGsoTcpV4 = 1;
inline constexpr std::uint8_t kVnetGsoTcpV6 = 4;
inline constexpr std::uint8_t kVnetGsoUdpL4 = 5;
inline constexpr std::uint8_t kVnetGsoEcn = 0x80;

struct VnetHdr {
  std::uint8_t flags = 0;
  std::uint8_t gso_type = kVnetGsoNone;
  std::uint16_t hdr_len = 0;
  std::uint16_t gso_size = 0;
  std::uint16_t csum_start = 0;
  std::uint16_t csum_offset = 0;
};

[[nodiscard]] VnetHdr read_vnet_hdr(const std::uint8_t* p);
void write_vnet_hdr(std::uint8_t* p, const VnetHdr& h);

enum class OffloadError : std::uint8_t {
  kOk = 0,
  kNotIp,          // not IPv4/IPv6, or the IP header is cut off
  kBadCsumRange,   // csum_start/csum_offset outside the packet
  kBadGso,         // gso_type/gso_size that does not match the packet
  kCount
};
[[nodiscard]] const char* to_string(OffloadError e);

// Cuts one packet read from the TUN (after its virtio header) into inner packets of at most
// `gso_size` payload bytes. A packet without GSO is one segment (its partial checksum, if
// any, is completed by write()).
class Segmenter {
 public:
  [[nodiscard]] OffloadError init(std::span<const std::uint8_t> packet, const VnetHdr& h);
  [[nodiscard]] std::size_t count() const { return count_; }
  // Full length of inner packet i (IP header + L4 header + payload).
  [[nodiscard]] std::size_t length(std::size_t i) const {
    return header_len_ + (i + 1 < count_ ? mss_ : last_payload_);
  }
  // Writes inner packet i to `out` (length(i) bytes) with its own IP length, IPv4 id and
  // header checksum, TCP sequence number and flags or UDP length, and a complete L4 checksum.
  void write(std::size_t i, std::uint8_t* out) const;
  // A TCP super-packet is cut into segments of at most max_len bytes (IP + TCP headers
  // included) instead of its gso_size: a path refused datagrams that long (its path MTU).
  // TCP takes any shorter segment; a UDP super-packet's datagrams are the application's and
  // stay as they are, as does everything when max_len leaves under kMinCappedPayload.
  // A plain TCP packet (no GSO) longer than max_len is cut the same way, as a super-packet of
  // its own payload.
  void cap(std::size_t max_len);
  [[nodiscard]] bool is_tcp() const { return l4_proto_ == 6; }
  static constexpr std::size_t kMinCappedPayload = 512;

 private:
  bool promote_plain_tcp();
  std::span<const std::uint8_t> packet_;
  VnetHdr hdr_{};
  bool v6_ = false;
  std::uint8_t l4_proto_ = 0;     // 6, 17, or 0 = plain packet (no segmentation)
  std::size_t l4_off_ = 0;
  std::size_t header_len_ = 0;    // bytes copied in front of every segment's payload
  std::size_t mss_ = 0;
  std::size_t last_payload_ = 0;
  std::size_t count_ = 0;
};

// One TUN write gathered from where the packets already lie (no payload copy): `header`
// holds the virtio header and, for a TCP super-packet, the IP + TCP header of its first
// segment; iov[0] points at it, iov[1..] at the packets' bytes (a whole packet written alone,
// or each segment's payload). The caller keeps the packets in place until the write completes.
inline constexpr std::size_t kCoalesceHeaderMax = 128;  // virtio 10 + IPv6 40 + TCP 60, rounded up
inline constexpr std::size_t kCoalesceMaxSegments = 64;
struct GatherWrite {
  alignas(64) std::array<std::uint8_t, kCoalesceHeaderMax> header{};
  std::array<iovec, kCoalesceMaxSegments + 1> iov{};
  std::size_t iov_count = 0;
  std::size_t bytes = 0;  // the write's length (virtio header included when it has one)
};

// Builds one TUN write from in-order inner packets: consecutive TCP segments of one flow
// (same addresses, ports, ack, options; contiguous sequence numbers; equal payload sizes but
// for a shorter last one; only ACK/PSH flags) are merged into one super-packet with a
// virtio header asking the kernel for GSO; anything else is written alone (GSO_NONE).
// Nothing is copied but the first segment's headers: the output is a GatherWrite.
class Coalescer {
 public:
  // Starts a new output into `out` with `packet`. Returns false if `packet` is not an IP
  // packet or is longer than 65535 bytes.
  bool start(GatherWrite& out, std::span<const std::uint8_t> packet);
  // Appends `packet` if it continues the current super-packet (at most kCoalesceMaxSegments
  // segments, 65535 IP bytes); false if it does not (the caller then finish()es and start()s
  // anew with it).
  bool append(std::span<const std::uint8_t> packet);
  // Completes the headers and out.iov / iov_count / bytes. Without a virtio header on the
  // TUN (vnet_hdr false; nothing was appended then) the write is the bare packet.
  void finish(bool vnet_hdr = true);
  [[nodiscard]] std::size_t segments() const { return segments_; }

 private:
  GatherWrite* out_ = nullptr;
  std::size_t len_ = 0;          // IP packet bytes in the output
  std::size_t ip_len_ = 0;       // IP header length (v4 ihl, v6 40)
  std::size_t hdr_len_ = 0;      // IP + TCP header length
  std::size_t mss_ = 0;          // payload of the first segment
  std::uint32_t next_seq_ = 0;
  std::size_t segments_ = 0;
  bool v6_ = false;
  bool tcp_ = false;             // can coalesce at all
  bool closed_ = false;          // a shorter segment ended it
};

}  // namespace mpt::engine
