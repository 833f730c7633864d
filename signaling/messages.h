// mpt control messages: codec and authentication (docs/protocol.md is the byte-level spec).
//
// Control messages travel on each path exactly as its data does (same sockets, addresses and
// ports), as GRE-in-UDP with protocol type 0x88B5 (engine::kProtoMptControl), so the wire
// stays RFC 8086 conformant and probes measure the path the data takes. After the GRE
// header:
//
//    0       1       2       3       4 ...                    12 ...                    20
//   +-------+-------+-------+-------+------------------------+------------------------+
//   | ver=1 | type  |  body length  |  sender session (u64)  |  message counter (u64) |
//   +-------+-------+-------+-------+------------------------+------------------------+
//   20      22      24
//   | path  | flags | body (length bytes) ... | HMAC-SHA256 (32 bytes, over 0..24+length) |
//
// All integers big-endian. The HMAC key is derived from the configured pre-shared key with
// HKDF-SHA256 (info "mpt control v1"). Replay protection: per peer session, a sliding window
// of 128 counters (RFC 6479 style); anything older or seen before is rejected. A new peer
// session id with a valid HMAC means the peer restarted.
//
// Threads: the codec is pure; ControlAuth and ReplayWindow are owned by the control thread.
// Parsing never throws and never reads outside its input: it is fed raw network input.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "engine/aead.h"

namespace mpt::signaling {

inline constexpr std::uint8_t kProtocolVersion = 1;   // plain (unauthenticated mode only)
inline constexpr std::uint8_t kHandshakeVersion = 2;  // INIT / RESP, HMAC under the PSK
inline constexpr std::uint8_t kSealedVersion = 3;     // any other type, AEAD under session keys
inline constexpr std::size_t kHeaderSize = 24;
inline constexpr std::size_t kMacSize = 32;
inline constexpr std::size_t kMaxBody = 256;

enum class MessageType : std::uint8_t {
  kHello = 1,        // connection establishment: "this is me" (session, config digest)
  kHelloAck = 2,
  kProbe = 3,        // keepalive with timestamp and per-path counters
  kProbeAck = 4,     // echoes the probe's timestamp (RTT) and carries our counters
  kPathStatus = 5,   // the sender changed a path's state (up / down / admin down)
  kPathStatusAck = 6,
  kWeight = 7,       // the sender's weight_in for a path changed: the receiver's weight_out
  kWeightAck = 8,
  kHandshakeInit = 9,   // version 2: our ephemeral public key (docs/protocol.md, "Handshake")
  kHandshakeResp = 10,  // version 2: our ephemeral public key and the one we answer
};

enum class PathStatus : std::uint8_t { kUp = 0, kDown = 1, kAdminDown = 2 };

struct Header {
  MessageType type = MessageType::kProbe;
  std::uint64_t session = 0;
  std::uint64_t counter = 0;
  std::uint16_t path = 0;
  std::uint16_t flags = 0;
  friend bool operator==(const Header&, const Header&) = default;
};

// Bodies. Timestamps are the sender's monotonic clock in microseconds.
struct ProbeBody {
  std::uint64_t tx_time_us = 0;      // when this probe/ack was sent
  std::uint64_t echo_time_us = 0;    // ack: the probe's tx_time_us; probe: 0
  std::uint32_t echo_delay_us = 0;   // ack: time between receiving the probe and answering
  std::uint64_t data_tx_packets = 0; // data packets the sender sent on this path so far
  std::uint64_t data_rx_packets = 0; // data packets the sender received on this path so far
  std::uint64_t data_tx_bytes = 0;   // data bytes (GRE-in-UDP payloads) sent on this path so far
  std::uint64_t data_rx_bytes = 0;   // ... received on this path so far (delivery rate, at
                                     // the sender's tx_time_us)
  friend bool operator==(const ProbeBody&, const ProbeBody&) = default;
};
struct PathStatusBody {
  PathStatus status = PathStatus::kUp;
  // kDown only: which of the sender's paths lost its link (interface down or gone). Sent on
  // the connection's *other* paths, since the lost one cannot carry it (docs/protocol.md 2).
  std::uint16_t lost_path = 0;
  friend bool operator==(const PathStatusBody&, const PathStatusBody&) = default;
};
struct WeightBody {
  std::uint32_t weight = 0;
  friend bool operator==(const WeightBody&, const WeightBody&) = default;
};
struct HandshakeBody {
  std::array<std::uint8_t, 32> public_key{};  // the sender's ephemeral X25519 public key
  std::array<std::uint8_t, 32> echo{};        // RESP: the INIT's public key; INIT: zero
  friend bool operator==(const HandshakeBody&, const HandshakeBody&) = default;
};
struct HelloBody {
  std::uint32_t path_count = 0;
  std::uint32_t probe_interval_ms = 0;
  friend bool operator==(const HelloBody&, const HelloBody&) = default;
};

enum class ParseError : std::uint8_t {
  kOk = 0,
  kTooShort,
  kBadVersion,
  kBadLength,   // body length disagrees with the bytes present or the type
  kUnknownType,
  kBadMac,
  kReplay,      // counter already seen or too old
  kBadPath,     // the sender's path index is not the path it arrived on
  kNoSession,   // sealed, but no session keys (yet) to open it
  kReflected,   // a handshake message that carries our own session or public key
  kStale,       // a RESP that answers no INIT of ours (an old or replayed one)
  kCount
};
[[nodiscard]] const char* to_string(ParseError e);

struct Message {
  Header header;
  std::optional<ProbeBody> probe;
  std::optional<PathStatusBody> path_status;
  std::optional<WeightBody> weight;
  std::optional<HelloBody> hello;
  std::optional<HandshakeBody> handshake;
  friend bool operator==(const Message&, const Message&) = default;
};

// HMAC-SHA256 keyed from the pre-shared key (OpenSSL). An empty key = unauthenticated mode
// (explicit opt-in in the configuration): MACs are all-zero and not checked.
class ControlAuth {
 public:
  // info: the HKDF label -- "mpt control v1" for version-1 MACs, kHandshakeInfo for the
  // handshake (a key of one use never verifies the other's messages).
  explicit ControlAuth(const std::string& pre_shared_key, const char* info = "mpt control v1");
  [[nodiscard]] bool authenticated() const { return authenticated_; }
  void sign(std::span<const std::uint8_t> data, std::uint8_t* mac_out) const;
  [[nodiscard]] bool verify(std::span<const std::uint8_t> data, const std::uint8_t* mac) const;

 private:
  bool authenticated_ = false;
  bool key_ok_ = true;  // false if the key could not be derived: every MAC check fails
  std::array<std::uint8_t, 32> key_{};
};

// Sliding replay window for one peer session.
class ReplayWindow {
 public:
  static constexpr std::uint64_t kWindow = 128;
  // Never accepted (a sender never gets there; counters start low and only grow).
  static constexpr std::uint64_t kInvalidCounter = ~std::uint64_t{0};
  // True if `counter` is new (and records it); false if seen, older than the window, or
  // kInvalidCounter.
  [[nodiscard]] bool check_and_update(std::uint64_t counter);
  void reset() { *this = ReplayWindow{}; }
  // The highest counter accepted + 1 (0: none yet).
  [[nodiscard]] std::uint64_t top() const { return top_; }

 private:
  std::uint64_t top_ = 0;  // highest counter seen + 1 (0 = nothing yet)
  std::array<std::uint64_t, kWindow / 64> bits_{};
};

// The version byte a message of this type is sent with under a key (handshake or sealed).
[[nodiscard]] constexpr bool is_handshake(MessageType t) {
  return t == MessageType::kHandshakeInit || t == MessageType::kHandshakeResp;
}

// Encodes a message (header + body + MAC) into out; returns the size, 0 if out is too small.
// Handshake types get version 2, the others version 1.
[[nodiscard]] std::size_t encode(const Message& m, const ControlAuth& auth,
                                 std::span<std::uint8_t> out);

// Parses and authenticates (but does not replay-check) one control message of version 1 or 2.
[[nodiscard]] ParseError decode(std::span<const std::uint8_t> in, const ControlAuth& auth,
                                Message& out);

// Sealed messages (version 3): the same 24-byte header in clear (authenticated as associated
// data), the body encrypted, a 16-byte AEAD tag instead of the MAC. Nonce: space
// kControlSpaceBase | path, counter = header.counter (per path, see docs/protocol.md).
inline constexpr std::uint32_t kControlSpaceBase = 0xC0000000u;
inline constexpr std::size_t kSealedTagSize = 16;
[[nodiscard]] std::size_t seal(const Message& m, engine::Aead& tx, std::span<std::uint8_t> out);
// Parses and opens one sealed message (no replay check). `in` is modified (decrypted in place).
[[nodiscard]] ParseError open(std::span<std::uint8_t> in, engine::Aead& rx, Message& out);

}  // namespace mpt::signaling
