// libFuzzer target for the keyed control protocol (signaling/secure_session.*, the version-2
// and version-3 codecs of signaling/messages.*): what a path's control ring can deliver to
// side A, from a real peer B (whose keys the harness holds, so that valid handshakes and
// sealed messages occur), from earlier instances of B, and from the network at large.
//
// Input: records, each a kind byte and its fields:
//   0: raw bytes to A (1-byte path, 2-byte length mod 300, bytes) -- decoded as a handshake
//      (version 2) or opened (anything else), as ControlLoop::receive_secure does;
//   1: B seals a message (type, path) and A gets it, optionally with one bit flipped or cut;
//   2: a handshake round: B's INIT to A, A's RESP back to B, or A's INIT to B and B's RESP;
//   3: replay of an earlier delivered datagram (index), optionally with one bit flipped;
//   4: B restarts (a new SecureSession: new session id and key pair);
//   5: A or B starts a new round (key renewal: fresh key pair, INITs).
// Checks, with a hard trap on violation:
//  - no datagram is accepted twice by A (counters start over under renewed keys, so the
//    bytes, not the counter, identify a message);
//  - a datagram with a flipped bit or cut short is never accepted;
//  - A's peer session is always a session id some instance of B had, and A counts no more
//    peer restarts than B had instances;
//  - nothing A accepted came from a session id that is not one of B's.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <set>
#include <vector>

#include "signaling/secure_session.h"

namespace {

using namespace mpt::signaling;
using mpt::engine::Cipher;
using Bytes = std::vector<std::uint8_t>;

void check(bool ok) {
  if (!ok) __builtin_trap();
}

const std::string kPsk = "fuzz pre-shared key";
constexpr std::size_t kPaths = 3;

Bytes encode_handshake(const SecureSession& s, const Message& m) {
  Bytes out(512);
  out.resize(encode(m, s.handshake_auth(), out));
  return out;
}

struct Harness {
  SecureSession a{kPsk, Cipher::kAes256Gcm, kPaths};
  std::unique_ptr<SecureSession> b = std::make_unique<SecureSession>(kPsk, Cipher::kChaCha20Poly1305, kPaths);
  std::set<std::uint64_t> b_sessions{b->session()};
  std::set<Bytes> accepted;
  std::vector<std::pair<Bytes, std::uint16_t>> delivered;

  // A receives `in` on `path`; returns true if it was accepted as a message to act on.
  bool to_a(const Bytes& in, std::uint16_t path, bool mutated) {
    delivered.emplace_back(in, path);
    if (delivered.size() > 64) delivered.erase(delivered.begin());
    Message m;
    SecureSession::Result r;
    bool acted = false;
    if (!in.empty() && in[0] == kHandshakeVersion) {
      r.error = decode(in, a.handshake_auth(), m);
      Message reply;
      if (r.error == ParseError::kOk) r = a.on_handshake(m, path, reply);
      if (r.reply) {  // B gets A's answer
        Message bm;
        const Bytes rw = encode_handshake(a, reply);
        if (decode(rw, b->handshake_auth(), bm) == ParseError::kOk) {
          Message ignored;
          (void)b->on_handshake(bm, path, ignored);
        }
      }
    } else {
      r = a.open(in, path, m);
      if (r.error == ParseError::kOk) {
        acted = true;
        check(!mutated);
        check(b_sessions.count(m.header.session) == 1);
        check(accepted.insert(in).second);
      }
    }
    if (mutated && r.confirmed) check(false);
    if (const auto ps = a.peer_session()) check(b_sessions.count(*ps) == 1);
    check(a.peer_restarts() < b_sessions.size());
    return acted;
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  Harness h;
  std::size_t i = 0;
  while (i < size) {
    const std::uint8_t kind = data[i++] % 6;
    if (kind == 0) {
      if (i + 3 > size) break;
      const auto path = static_cast<std::uint16_t>(data[i] % (kPaths + 1));
      std::size_t len = ((data[i + 1] << 8) | data[i + 2]) % 300;
      i += 3;
      len = std::min(len, size - i);
      h.to_a(Bytes(data + i, data + i + len), path, false);
      i += len;
    } else if (kind == 1) {
      if (i + 3 > size) break;
      const auto type = static_cast<MessageType>(1 + data[i] % 10);
      const auto path = static_cast<std::uint16_t>(data[i + 1] % kPaths);
      const std::uint8_t how = data[i + 2];
      i += 3;
      Message m;
      m.header.type = type;
      Bytes out(512);
      out.resize(h.b->seal(m, path, out));
      if (out.empty()) continue;
      bool mutated = false;
      if (how % 4 == 1) {
        out[(how / 4) % out.size()] ^= static_cast<std::uint8_t>(1u << (how % 8));
        mutated = true;
      } else if (how % 4 == 2) {
        out.resize(out.size() - 1 - (how / 4) % out.size());
        mutated = true;
      }
      // A flipped bit in the header's path field is a different path, refused as such.
      h.to_a(out, static_cast<std::uint16_t>(how % 4 == 3 ? (path + 1) % kPaths : path), mutated || how % 4 == 3);
    } else if (kind == 2) {
      if (i + 2 > size) break;
      const auto path = static_cast<std::uint16_t>(data[i] % kPaths);
      const bool from_b = data[i + 1] & 1;
      i += 2;
      if (from_b) {
        h.to_a(encode_handshake(*h.b, h.b->init(path)), path, false);
      } else {
        Message bm, reply;
        const Bytes w = encode_handshake(h.a, h.a.init(path));
        if (decode(w, h.b->handshake_auth(), bm) == ParseError::kOk) {
          const auto r = h.b->on_handshake(bm, path, reply);
          if (r.reply) h.to_a(encode_handshake(*h.b, reply), path, false);
        }
      }
    } else if (kind == 3) {
      if (i + 2 > size || h.delivered.empty()) break;
      auto [bytes, path] = h.delivered[data[i] % h.delivered.size()];
      const std::uint8_t flip = data[i + 1];
      i += 2;
      const bool mutated = flip & 1 && !bytes.empty();
      if (mutated) bytes[(flip / 2) % bytes.size()] ^= 0x10;
      // An exact replay of a sealed message is never accepted twice (checked in to_a); a
      // handshake replay may be answered.
      h.to_a(bytes, path, mutated && !bytes.empty() && bytes[0] != kHandshakeVersion);
    } else if (kind == 5) {
      if (i + 1 > size) break;
      (data[i++] & 1 ? h.a : *h.b).new_round();
    } else {
      h.b = std::make_unique<SecureSession>(kPsk, Cipher::kChaCha20Poly1305, kPaths);
      h.b_sessions.insert(h.b->session());
    }
  }
  return 0;
}
