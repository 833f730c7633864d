// The first stage of the control message drain, per connection: decode and authenticate a
// message (messages.h), follow the peer's session and reject replays.
//
// Rules (docs/protocol.md, "Sessions and replay"):
//  - a message that does not decode or authenticate is rejected with decode()'s error;
//  - a message of a session older than the one followed is a replay (of the peer's previous
//    instance);
//  - a message of a new (higher, or the first) session with a valid MAC means the peer
//    (re)started: the new session is followed from now on, its replay window starts empty,
//    and -- if another session was followed before -- it counts as a peer restart;
//  - within the followed session, a counter seen before or older than the window is a replay.
//
// Pure, no I/O, owned by the control thread; fed raw network input (and fuzzed,
// tests/fuzz/control_drain_fuzz.cpp).
#pragma once

#include <cstdint>
#include <optional>
#include <span>

#include "signaling/messages.h"

namespace mpt::signaling {

class ControlIntake {
 public:
  struct Result {
    ParseError error = ParseError::kOk;
    bool new_session = false;    // the message started following a new peer session
    bool peer_restarted = false; // ... that replaced an earlier one
  };

  // Decodes `in` into `out` and applies the rules above.
  [[nodiscard]] Result accept(std::span<const std::uint8_t> in, const ControlAuth& auth,
                              Message& out);
  // Forget the followed session (a new key: messages under the old one stop verifying).
  void reset() {
    peer_session_.reset();
    replay_.reset();
  }
  [[nodiscard]] const std::optional<std::uint64_t>& peer_session() const { return peer_session_; }
  [[nodiscard]] std::uint64_t peer_restarts() const { return peer_restarts_; }

 private:
  std::optional<std::uint64_t> peer_session_;
  ReplayWindow replay_;
  std::uint64_t peer_restarts_ = 0;
};

}  // namespace mpt::signaling
