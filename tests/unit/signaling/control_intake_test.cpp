// Unit tests for the control message intake: sessions and replay (signaling/control_intake.*).
#include "signaling/control_intake.h"

#include <catch2/catch.hpp>

#include <vector>

using namespace mpt::signaling;

namespace {

std::vector<std::uint8_t> probe(const ControlAuth& auth, std::uint64_t session,
                                std::uint64_t counter) {
  Message m;
  m.header.type = MessageType::kProbe;
  m.header.session = session;
  m.header.counter = counter;
  m.probe = ProbeBody{};
  std::vector<std::uint8_t> out(kHeaderSize + kMaxBody + kMacSize);
  out.resize(encode(m, auth, out));
  return out;
}

}  // namespace

TEST_CASE("control intake: follows the peer's session, rejects replays and old sessions") {
  const ControlAuth auth("psk");
  ControlIntake in;
  Message m;
  auto r = in.accept(probe(auth, 10, 1), auth, m);
  CHECK(r.error == ParseError::kOk);
  CHECK(r.new_session);
  CHECK_FALSE(r.peer_restarted);
  CHECK(in.accept(probe(auth, 10, 1), auth, m).error == ParseError::kReplay);
  CHECK(in.accept(probe(auth, 10, 2), auth, m).error == ParseError::kOk);
  // The peer restarts: a higher session with a valid MAC.
  r = in.accept(probe(auth, 11, 1), auth, m);
  CHECK(r.error == ParseError::kOk);
  CHECK(r.peer_restarted);
  CHECK(in.peer_restarts() == 1);
  CHECK(*in.peer_session() == 11);
  // The old instance's messages are replays now, also unseen counters.
  CHECK(in.accept(probe(auth, 10, 3), auth, m).error == ParseError::kReplay);
  // A forged message (wrong key) changes nothing.
  const ControlAuth other("other");
  CHECK(in.accept(probe(other, 12, 1), auth, m).error == ParseError::kBadMac);
  CHECK(*in.peer_session() == 11);
  in.reset();
  CHECK_FALSE(in.peer_session().has_value());
  r = in.accept(probe(auth, 5, 1), auth, m);
  CHECK(r.error == ParseError::kOk);
  CHECK_FALSE(r.peer_restarted);
}
