// SecureSession: one connection's session keys -- the handshake that makes them and the
// sealing and opening of control messages under them (docs/protocol.md, "Handshake" and
// "Sealed messages", has the state machine and the reasoning for each check).
//
// Handshake (version 2 messages, HMAC-SHA256 under a key derived from the pre-shared key):
//   INIT  = our session id, our ephemeral X25519 public key, our send cipher;
//   RESP  = the same, plus the INIT's public key echoed.
// Either side may send INIT (both do at start); keys come from X25519(ours, theirs) through
// HKDF, salted with the pre-shared key, one key per direction (a reflected message of ours
// never opens). A side that sent INIT in this round takes the keys when a RESP echoes its
// public key (fresh per round, so an old RESP never matches); a side that answered an INIT
// keeps the keys as a candidate and takes them only when a sealed message opens under them
// (the peer proved it holds the private key: a replayed INIT never gets that far). No clock
// and no ordering of session ids: a restarted peer is a confirmed handshake with a new
// session id.
//
// Sealed messages (version 3): AEAD, nonce space per path, counter per path, a replay window
// per path (a slow path's messages never fall out of a fast path's window); the sender's
// path index must be the path the message arrived on.
//
// Pure (no I/O; randomness from OpenSSL), owned by the control thread, fed raw network input.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <utility>
#include <string>
#include <vector>

#include "engine/aead.h"
#include "engine/session_keys.h"
#include "signaling/messages.h"

namespace mpt::signaling {

inline constexpr const char* kHandshakeInfo = "mpt handshake v2";
using PublicKey = std::array<std::uint8_t, 32>;

// An ephemeral X25519 key pair (OpenSSL EVP_PKEY).
class EphemeralKey {
 public:
  EphemeralKey();  // generates; valid() is false if OpenSSL failed
  ~EphemeralKey();
  EphemeralKey(const EphemeralKey&) = delete;
  EphemeralKey& operator=(const EphemeralKey&) = delete;
  [[nodiscard]] bool valid() const { return pkey_ != nullptr; }
  [[nodiscard]] const PublicKey& public_key() const { return public_; }
  // X25519 with the peer's public key; nullopt if it is invalid (e.g. a low-order point: an
  // all-zero shared secret is refused).
  [[nodiscard]] std::optional<std::array<std::uint8_t, 32>> agree(const PublicKey& peer) const;

 private:
  void* pkey_ = nullptr;  // EVP_PKEY*
  PublicKey public_{};
};

struct DirectionKeys {
  engine::AeadKey low_to_high{};  // control messages sent by the side whose public key sorts lower
  engine::AeadKey high_to_low{};
  engine::AeadKey data_low_to_high{};  // data and repair requests (engine/sealed_packet.h)
  engine::AeadKey data_high_to_low{};
  std::uint8_t id = 0;  // the key set's id in sealed data packets
};
// HKDF-SHA256(salt = psk_salt, IKM = shared secret, info = "mpt session v2" || the lower
// public key || the higher one) -> 129 bytes: control keys per direction, data keys per
// direction, one id byte. False on an OpenSSL error.
[[nodiscard]] bool derive_direction_keys(std::span<const std::uint8_t> psk_salt,
                                         std::span<const std::uint8_t> shared,
                                         const PublicKey& a, const PublicKey& b,
                                         DirectionKeys& out);

class SecureSession {
 public:
  struct Result {
    ParseError error = ParseError::kOk;
    bool reply = false;           // on_handshake: send `reply` back on the same path
    bool confirmed = false;       // new session keys are in use from now on
    bool peer_restarted = false;  // ... and they replaced keys of another peer session
    // open: the message is the newest of its path under the current keys (its counter is
    // above every one seen before), so its source is where the peer is now.
    bool newest = false;
  };

  // paths: how many paths the connection has (path indexes are local, 0..paths-1).
  SecureSession(const std::string& pre_shared_key, engine::Cipher send_cipher, std::size_t paths);
  ~SecureSession();

  [[nodiscard]] bool valid() const { return valid_; }
  [[nodiscard]] std::uint64_t session() const { return session_; }
  [[nodiscard]] const ControlAuth& handshake_auth() const { return hs_auth_; }
  [[nodiscard]] bool established() const { return current_ != nullptr; }
  // True while this side's INIT of the current round has not been answered (send INITs).
  [[nodiscard]] bool awaiting() const { return awaiting_; }
  [[nodiscard]] std::optional<std::uint64_t> peer_session() const;
  // Whether `session` is the peer's under any keys held (current, previous, candidates).
  [[nodiscard]] bool knows_peer_session(std::uint64_t session) const;
  [[nodiscard]] engine::Cipher send_cipher() const { return cipher_; }
  [[nodiscard]] engine::Cipher receive_cipher() const;
  [[nodiscard]] std::uint64_t peer_restarts() const { return peer_restarts_; }
  [[nodiscard]] std::uint64_t handshakes() const { return handshakes_; }
  void set_paths(std::size_t paths);

  // A new round: a fresh ephemeral key pair, awaiting = yes (send INITs). The keys in use
  // stay until the round confirms new ones. For a side that hears nothing that opens for a
  // while (its peer lost our keys: say our RESP was lost, or its candidate was crowded out).
  void new_round();

  // Our INIT for path `path` (to be encoded with handshake_auth()).
  [[nodiscard]] Message init(std::uint16_t path) const;
  // A handshake message that decoded and verified under handshake_auth(), from path `path`.
  [[nodiscard]] Result on_handshake(const Message& m, std::uint16_t path, Message& reply);
  // Seals `m` (sets session, counter and path) into out; 0 without session keys.
  [[nodiscard]] std::size_t seal(Message& m, std::uint16_t path, std::span<std::uint8_t> out);
  // Opens a sealed message from path `path` (replay-checked). `in` is not modified.
  [[nodiscard]] Result open(std::span<const std::uint8_t> in, std::uint16_t path, Message& out);

  // The data plane's keys (engine::SessionKeys): what to seal with (the current keys), and
  // every key set the peer may be sealing with -- current, previous, candidates.
  struct DataKeys {
    engine::KeyMaterial tx;
    std::vector<engine::KeyMaterial> rx;
  };
  [[nodiscard]] DataKeys data_keys() const;

 private:
  struct Keys;
  [[nodiscard]] std::unique_ptr<Keys> make_keys(std::uint64_t peer_session,
                                                const PublicKey& peer_public,
                                                engine::Cipher peer_cipher) const;
  [[nodiscard]] Result confirm(std::unique_ptr<Keys> k);
  [[nodiscard]] Message handshake_message(MessageType type, std::uint16_t path,
                                          const PublicKey& echo) const;

  ControlAuth hs_auth_;
  std::array<std::uint8_t, 32> psk_salt_{};
  bool valid_ = false;
  engine::Cipher cipher_;
  std::size_t paths_;
  std::uint64_t session_ = 0;
  std::unique_ptr<EphemeralKey> ephemeral_;
  bool awaiting_ = true;
  std::unique_ptr<Keys> current_;
  // The keys before current_, when the same peer instance renewed them (a new round): its
  // messages sealed before it switched still open (no loss during the switch).
  std::unique_ptr<Keys> previous_;
  static constexpr std::size_t kCandidates = 4;
  std::array<std::unique_ptr<Keys>, kCandidates> candidates_;
  std::size_t next_candidate_ = 0;
  // Peer (session, public key) pairs given up: every candidate and earlier keys, when other
  // keys were confirmed. An INIT of one of them is stale: its keys could be confirmed by a
  // replayed sealed message of that time (nothing in them is fresh to us).
  [[nodiscard]] bool retired(std::uint64_t session, const PublicKey& pub) const;
  void retire(const Keys& k);
  static constexpr std::size_t kRetired = 256;
  std::array<std::pair<std::uint64_t, std::uint64_t>, kRetired> retired_{};
  std::size_t retired_next_ = 0;
  std::uint64_t peer_restarts_ = 0;
  std::uint64_t handshakes_ = 0;
};

}  // namespace mpt::signaling
