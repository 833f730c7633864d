#include "signaling/secure_session.h"

#include <catch2/catch.hpp>

#include <vector>

using mpt::engine::Cipher;
using mpt::signaling::ControlAuth;
using mpt::signaling::Message;
using mpt::signaling::MessageType;
using mpt::signaling::ParseError;
using mpt::signaling::SecureSession;
using Bytes = std::vector<std::uint8_t>;

namespace {

const std::string kPsk = "correct horse battery staple 42";

// What goes on the wire for a handshake message from `s`.
Bytes wire_handshake(const SecureSession& s, const Message& m) {
  Bytes out(512);
  const std::size_t n = encode(m, s.handshake_auth(), out);
  REQUIRE(n > 0);
  out.resize(n);
  return out;
}

// `to` receives a handshake message; returns its result, and the reply's bytes if any.
SecureSession::Result receive_handshake(SecureSession& to, const Bytes& wire, std::uint16_t path,
                                        Bytes* reply_wire = nullptr) {
  Message m;
  const ParseError e = decode(wire, to.handshake_auth(), m);
  if (e != ParseError::kOk) return SecureSession::Result{e};
  Message reply;
  const auto r = to.on_handshake(m, path, reply);
  if (r.reply && reply_wire) *reply_wire = wire_handshake(to, reply);
  return r;
}

Bytes sealed(SecureSession& s, MessageType type, std::uint16_t path) {
  Message m;
  m.header.type = type;
  if (type == MessageType::kHello) m.hello = mpt::signaling::HelloBody{2, 100};
  Bytes out(512);
  const std::size_t n = s.seal(m, path, out);
  REQUIRE(n > 0);
  out.resize(n);
  return out;
}

// A full handshake between a (INIT) and b (RESP), then a sealed HELLO from a that b opens.
void handshake(SecureSession& a, SecureSession& b, std::uint16_t path = 0) {
  Bytes resp;
  const auto rb = receive_handshake(b, wire_handshake(a, a.init(path)), path, &resp);
  REQUIRE(rb.error == ParseError::kOk);
  REQUIRE(rb.reply);
  const auto ra = receive_handshake(a, resp, path);
  REQUIRE(ra.error == ParseError::kOk);
  REQUIRE(ra.confirmed);
  Message out;
  const auto ob = b.open(sealed(a, MessageType::kHello, path), path, out);
  REQUIRE(ob.error == ParseError::kOk);
  REQUIRE(ob.confirmed);
}

}  // namespace

TEST_CASE("Handshake: INIT, RESP, then a sealed message confirms the answering side",
          "[secure_session]") {
  SecureSession a(kPsk, Cipher::kAes256Gcm, 2);
  SecureSession b(kPsk, Cipher::kChaCha20Poly1305, 2);
  REQUIRE(a.valid());
  REQUIRE(b.valid());
  CHECK(a.awaiting());
  CHECK_FALSE(a.established());
  handshake(a, b);
  CHECK(a.established());
  CHECK(b.established());
  CHECK_FALSE(a.awaiting());
  CHECK_FALSE(b.awaiting());
  CHECK(a.peer_session() == b.session());
  CHECK(b.peer_session() == a.session());
  // Each direction uses its sender's cipher.
  CHECK(a.receive_cipher() == Cipher::kChaCha20Poly1305);
  CHECK(b.receive_cipher() == Cipher::kAes256Gcm);
  Message m;
  const auto r = a.open(sealed(b, MessageType::kProbe, 1), 1, m);
  CHECK(r.error == ParseError::kOk);
  CHECK_FALSE(r.confirmed);
  CHECK(m.header.type == MessageType::kProbe);
  CHECK(m.header.path == 1);
}

TEST_CASE("Both sides sending INIT at once end with the same keys", "[secure_session]") {
  SecureSession a(kPsk, Cipher::kAes256Gcm, 1);
  SecureSession b(kPsk, Cipher::kAes256Gcm, 1);
  Bytes resp_from_b, resp_from_a;
  const Bytes init_a = wire_handshake(a, a.init(0));
  const Bytes init_b = wire_handshake(b, b.init(0));
  REQUIRE(receive_handshake(b, init_a, 0, &resp_from_b).reply);
  REQUIRE(receive_handshake(a, init_b, 0, &resp_from_a).reply);
  CHECK(receive_handshake(a, resp_from_b, 0).confirmed);
  CHECK(receive_handshake(b, resp_from_a, 0).confirmed);
  Message m;
  CHECK(b.open(sealed(a, MessageType::kProbe, 0), 0, m).error == ParseError::kOk);
  CHECK(a.open(sealed(b, MessageType::kProbe, 0), 0, m).error == ParseError::kOk);
}

TEST_CASE("Our own messages sent back to us are refused", "[secure_session]") {
  SecureSession a(kPsk, Cipher::kAes256Gcm, 1);
  SecureSession b(kPsk, Cipher::kAes256Gcm, 1);
  const Bytes init_a = wire_handshake(a, a.init(0));
  CHECK(receive_handshake(a, init_a, 0).error == ParseError::kReflected);
  handshake(a, b);
  // A sealed message of a's, reflected: sealed under a's send key, opened with its receive key.
  Message m;
  CHECK(a.open(sealed(a, MessageType::kProbe, 0), 0, m).error == ParseError::kBadMac);
  // The same with one shared key for both directions would have opened: the keys differ.
}

TEST_CASE("Replays: the same sealed message twice, and one per path with its own window",
          "[secure_session]") {
  SecureSession a(kPsk, Cipher::kAes256Gcm, 2);
  SecureSession b(kPsk, Cipher::kAes256Gcm, 2);
  handshake(a, b);
  Message m;
  const Bytes once = sealed(a, MessageType::kProbe, 0);
  CHECK(b.open(once, 0, m).error == ParseError::kOk);
  CHECK(b.open(once, 0, m).error == ParseError::kReplay);
  // A slow path's message, delayed behind 500 of a fast path's: still accepted.
  const Bytes slow = sealed(a, MessageType::kProbe, 1);
  for (int i = 0; i < 500; ++i) {
    REQUIRE(b.open(sealed(a, MessageType::kProbe, 0), 0, m).error == ParseError::kOk);
  }
  CHECK(b.open(slow, 1, m).error == ParseError::kOk);
  // A message of path 1 that arrives on path 0 (moved by an attacker) is refused.
  CHECK(b.open(sealed(a, MessageType::kProbe, 1), 0, m).error == ParseError::kBadPath);
}

TEST_CASE("A peer restart is a confirmed handshake with a new session, not a larger number",
          "[secure_session]") {
  SecureSession a(kPsk, Cipher::kAes256Gcm, 1);
  auto b = std::make_unique<SecureSession>(kPsk, Cipher::kAes256Gcm, 1);
  handshake(*b, a);
  const Bytes old_init = wire_handshake(*b, b->init(0));
  const Bytes old_probe = sealed(*b, MessageType::kProbe, 0);
  Bytes old_resp;
  {
    SecureSession c(kPsk, Cipher::kAes256Gcm, 1);  // a RESP of b's to someone else's INIT
    receive_handshake(*b, wire_handshake(c, c.init(0)), 0, &old_resp);
  }
  b = std::make_unique<SecureSession>(kPsk, Cipher::kAes256Gcm, 1);  // b restarts
  // Its new INIT and a's RESP: b confirms at once; a when b's first sealed message opens.
  Bytes resp;
  const std::uint64_t old_session = *a.peer_session();
  REQUIRE(receive_handshake(a, wire_handshake(*b, b->init(0)), 0, &resp).reply);
  CHECK(a.peer_session() != b->session());  // not yet: only a candidate
  // ... but a server that must find whose message this is knows it already (and the old one).
  CHECK(a.knows_peer_session(b->session()));
  CHECK(a.knows_peer_session(old_session));
  CHECK_FALSE(a.knows_peer_session(b->session() + 1));
  REQUIRE(receive_handshake(*b, resp, 0).confirmed);
  Message m;
  const auto r = a.open(sealed(*b, MessageType::kHello, 0), 0, m);
  CHECK(r.error == ParseError::kOk);
  CHECK(r.confirmed);
  CHECK(r.peer_restarted);
  CHECK(a.peer_session() == b->session());
  CHECK(a.peer_restarts() == 1);
  // What was recorded from the old instance does nothing now.
  CHECK(a.open(old_probe, 0, m).error == ParseError::kBadMac);
  // The old instance's INIT is stale now: a candidate from it could be confirmed by replaying
  // one of the old instance's sealed messages (found by tests/fuzz/secure_session_fuzz.cpp).
  const auto ri = receive_handshake(a, old_init, 0);
  CHECK(ri.error == ParseError::kStale);
  CHECK_FALSE(ri.confirmed);
  CHECK(a.open(old_probe, 0, m).error == ParseError::kBadMac);
  CHECK(a.peer_session() == b->session());
  CHECK(a.open(sealed(*b, MessageType::kProbe, 0), 0, m).error == ParseError::kOk);
  CHECK(receive_handshake(a, old_resp, 0).error == ParseError::kStale);
}

TEST_CASE("A RESP that answers no INIT of this round is stale", "[secure_session]") {
  SecureSession a(kPsk, Cipher::kAes256Gcm, 1);
  SecureSession b(kPsk, Cipher::kAes256Gcm, 1);
  SecureSession c(kPsk, Cipher::kAes256Gcm, 1);
  Bytes resp_to_c;
  receive_handshake(b, wire_handshake(c, c.init(0)), 0, &resp_to_c);
  CHECK(receive_handshake(a, resp_to_c, 0).error == ParseError::kStale);  // echoes c's key
  CHECK_FALSE(a.established());
}

TEST_CASE("Handshake messages under another key, on another path, or with a bad cipher fail",
          "[secure_session]") {
  SecureSession a(kPsk, Cipher::kAes256Gcm, 2);
  SecureSession other(kPsk + "x", Cipher::kAes256Gcm, 2);
  CHECK(receive_handshake(a, wire_handshake(other, other.init(0)), 0).error == ParseError::kBadMac);
  SecureSession b(kPsk, Cipher::kAes256Gcm, 2);
  CHECK(receive_handshake(a, wire_handshake(b, b.init(1)), 0).error == ParseError::kBadPath);
  CHECK(receive_handshake(a, wire_handshake(b, b.init(2)), 2).error == ParseError::kBadPath);
  Message init = b.init(0);
  init.header.flags = 7;
  CHECK(receive_handshake(a, wire_handshake(b, init), 0).error == ParseError::kBadLength);
  // Nothing sealed opens before a handshake.
  Message m;
  Bytes junk(24 + 52 + 16, 0);
  junk[0] = mpt::signaling::kSealedVersion;
  junk[1] = static_cast<std::uint8_t>(MessageType::kProbe);
  junk[3] = 52;
  CHECK(a.open(junk, 0, m).error == ParseError::kNoSession);
}

TEST_CASE("Direction keys: the same pair of public keys gives the same keys, either order",
          "[secure_session]") {
  mpt::signaling::EphemeralKey x, y;
  REQUIRE(x.valid());
  REQUIRE(y.valid());
  const auto sx = x.agree(y.public_key());
  const auto sy = y.agree(x.public_key());
  REQUIRE(sx);
  REQUIRE(sy);
  CHECK(*sx == *sy);
  const std::array<std::uint8_t, 32> salt{};
  mpt::signaling::DirectionKeys kx, ky;
  REQUIRE(derive_direction_keys(salt, *sx, x.public_key(), y.public_key(), kx));
  REQUIRE(derive_direction_keys(salt, *sy, y.public_key(), x.public_key(), ky));
  CHECK(kx.low_to_high == ky.low_to_high);
  CHECK(kx.high_to_low == ky.high_to_low);
  CHECK(kx.low_to_high != kx.high_to_low);
  // A low-order point (all zero) gives an all-zero secret: refused.
  CHECK_FALSE(x.agree(mpt::signaling::PublicKey{}));
}

TEST_CASE("Renewed keys: what was sealed before the switch still opens, nothing twice",
          "[secure_session]") {
  SecureSession a(kPsk, Cipher::kAes256Gcm, 1);
  SecureSession b(kPsk, Cipher::kChaCha20Poly1305, 1);
  handshake(a, b);
  const Bytes in_flight = sealed(b, MessageType::kProbe, 0);  // b -> a, still on its way
  a.new_round();
  CHECK(a.awaiting());
  CHECK(a.established());  // the old keys stay in use until the round confirms
  Bytes resp;
  REQUIRE(receive_handshake(b, wire_handshake(a, a.init(0)), 0, &resp).reply);
  const auto ra = receive_handshake(a, resp, 0);
  REQUIRE(ra.confirmed);
  CHECK_FALSE(ra.peer_restarted);  // same peer instance
  Message m;
  // b still seals with the old keys until a's first message under the new ones opens.
  const Bytes old_keys = sealed(b, MessageType::kProbe, 0);
  CHECK(a.open(in_flight, 0, m).error == ParseError::kOk);
  CHECK(a.open(old_keys, 0, m).error == ParseError::kOk);
  CHECK(a.open(in_flight, 0, m).error == ParseError::kReplay);
  const auto rb = b.open(sealed(a, MessageType::kHello, 0), 0, m);
  CHECK(rb.error == ParseError::kOk);
  CHECK(rb.confirmed);
  CHECK_FALSE(rb.peer_restarted);
  CHECK(a.open(sealed(b, MessageType::kProbe, 0), 0, m).error == ParseError::kOk);
  CHECK(a.peer_restarts() == 0);
  CHECK(b.peer_restarts() == 0);
  CHECK(a.handshakes() == 2);
}

TEST_CASE("Restarts are recognised whether the new session id is higher or lower (no clock)",
          "[secure_session]") {
  SecureSession a(kPsk, Cipher::kAes256Gcm, 1);
  auto b = std::make_unique<SecureSession>(kPsk, Cipher::kAes256Gcm, 1);
  handshake(*b, a);
  int lower = 0;
  for (int round = 1; round <= 24; ++round) {
    const std::uint64_t before = b->session();
    b = std::make_unique<SecureSession>(kPsk, Cipher::kAes256Gcm, 1);  // restarted
    if (b->session() < before) ++lower;  // e.g. a peer whose clock stepped back
    handshake(*b, a);
    CHECK(a.peer_session() == b->session());
    CHECK(a.peer_restarts() == static_cast<std::uint64_t>(round));
  }
  CHECK(lower > 0);  // random ids: about half of them were lower (P(none) = 2^-24)
}

TEST_CASE("Only the newest message of a path under the current keys may show where the peer is",
          "[secure_session]") {
  SecureSession a(kPsk, Cipher::kAes256Gcm, 2);
  SecureSession b(kPsk, Cipher::kAes256Gcm, 2);
  // The message that confirms the answering side's keys is the newest there is.
  Bytes resp;
  REQUIRE(receive_handshake(b, wire_handshake(a, a.init(0)), 0, &resp).reply);
  REQUIRE(receive_handshake(a, resp, 0).confirmed);
  Message m;
  const auto first = b.open(sealed(a, MessageType::kHello, 0), 0, m);
  REQUIRE(first.confirmed);
  CHECK(first.newest);
  // In order: each one is the newest.
  const Bytes held = sealed(a, MessageType::kProbe, 0);  // held back by an attacker...
  const Bytes next = sealed(a, MessageType::kProbe, 0);
  const auto r1 = b.open(next, 0, m);
  CHECK(r1.error == ParseError::kOk);
  CHECK(r1.newest);
  // ... and sent later (from elsewhere): new to the replay window, so it opens, but it is
  // older than what came, so it moves nothing.
  const auto r2 = b.open(held, 0, m);
  CHECK(r2.error == ParseError::kOk);
  CHECK_FALSE(r2.newest);
  // Another path's messages count on their own.
  const auto r3 = b.open(sealed(a, MessageType::kProbe, 1), 1, m);
  CHECK(r3.error == ParseError::kOk);
  CHECK(r3.newest);
  // Refused messages are never the newest.
  const auto r4 = b.open(next, 0, m);
  CHECK(r4.error == ParseError::kReplay);
  CHECK_FALSE(r4.newest);
}
