// Repair requests (NACK): the receive side asks the sender to send missing sequence numbers
// again (scheduler/reorder.h, "repair"). Pure codec, no I/O; parse_nack() is fed raw network
// input and never reads outside its span.
//
// Carried as GRE-in-UDP with protocol type 0x88B6 (IEEE 802 Local Experimental EtherType 2),
// the GRE key of the connection and no sequence number, on any path of the connection.
// Body, all integers big-endian (docs/protocol.md §2a):
//
//   offset 0  u8   version = 1
//          1  u8   type = 1 (NACK)
//          2  u16  n = number of ranges, 1 .. kNackMaxRanges
//          4  n x { u32 first sequence number, u16 count (1 .. kNackMaxRun),
//                   u8 attempt (0 .. kNackMaxAttempt), u8 space (0 .. kNackMaxSpace) }
//
// space: the sequence space the numbers belong to -- the sender's TUN queue that numbered
// them (0 with one queue; a peer from before multi-queue wrote 0 there). Every range of one
// message has the same space.
//
// attempt 0 is the first request for the range, 1 a second one after the repair did not come
// (the sender serves a second attempt even if it just served the first: that copy was lost).
//
// The body must be exactly 4 + 8 n bytes.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>

namespace mpt::engine {

inline constexpr std::uint16_t kProtoMptRepair = 0x88B6;
inline constexpr std::size_t kNackMaxRanges = 64;
inline constexpr std::uint16_t kNackMaxRun = 1024;
inline constexpr std::uint8_t kNackMaxAttempt = 1;
inline constexpr std::uint8_t kNackMaxSpace = 3;  // kMaxQueues - 1 (engine/tunnel_spec.h)
inline constexpr std::size_t kNackHeaderSize = 4;
inline constexpr std::size_t kNackRangeSize = 8;
inline constexpr std::size_t kNackMaxSize = kNackHeaderSize + kNackMaxRanges * kNackRangeSize;

struct NackRange {
  std::uint32_t first = 0;
  std::uint16_t count = 0;
  std::uint8_t attempt = 0;
  std::uint8_t space = 0;
  friend bool operator==(const NackRange&, const NackRange&) = default;
};

enum class NackError : std::uint8_t { kOk = 0, kTooShort, kBadVersion, kBadType, kBadLength,
                                      kBadRange };

struct NackParsed {
  NackError error = NackError::kOk;
  std::size_t count = 0;
  std::array<NackRange, kNackMaxRanges> ranges{};
};

// Writes the body for `ranges` (1 .. kNackMaxRanges, each count 1 .. kNackMaxRun) into out;
// returns the bytes written, or 0 if out is too small or the ranges are invalid (count 0 or
// over kNackMaxRun, attempt over kNackMaxAttempt, space over kNackMaxSpace or not the same in
// every range).
[[nodiscard]] std::size_t encode_nack(std::span<std::uint8_t> out,
                                      std::span<const NackRange> ranges) noexcept;
[[nodiscard]] NackParsed parse_nack(std::span<const std::uint8_t> body) noexcept;
[[nodiscard]] const char* to_string(NackError e);

}  // namespace mpt::engine
