#include "signaling/control_intake.h"

namespace mpt::signaling {

ControlIntake::Result ControlIntake::accept(std::span<const std::uint8_t> in,
                                            const ControlAuth& auth, Message& out) {
  Result r;
  r.error = decode(in, auth, out);
  if (r.error != ParseError::kOk) return r;
  const std::uint64_t session = out.header.session;
  if (peer_session_ && session < *peer_session_) {
    r.error = ParseError::kReplay;  // a message of an earlier session of the peer
    return r;
  }
  if (!peer_session_ || *peer_session_ != session) {
    r.new_session = true;
    r.peer_restarted = peer_session_.has_value();
    if (r.peer_restarted) ++peer_restarts_;
    peer_session_ = session;
    replay_.reset();
  }
  if (!replay_.check_and_update(out.header.counter)) r.error = ParseError::kReplay;
  return r;
}

}  // namespace mpt::signaling
