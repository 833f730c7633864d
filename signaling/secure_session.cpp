#include "signaling/secure_session.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/rand.h>

#include <algorithm>
#include <cstring>

namespace mpt::signaling {
namespace {

bool hkdf(std::span<const std::uint8_t> salt, std::span<const std::uint8_t> ikm,
          std::span<const std::uint8_t> info, std::span<std::uint8_t> out) {
  EVP_KDF* kdf = EVP_KDF_fetch(nullptr, "HKDF", nullptr);
  EVP_KDF_CTX* ctx = kdf ? EVP_KDF_CTX_new(kdf) : nullptr;
  char digest[] = "SHA256";
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, digest, 0),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, const_cast<std::uint8_t*>(ikm.data()),
                                        ikm.size()),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT,
                                        const_cast<std::uint8_t*>(salt.data()), salt.size()),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO,
                                        const_cast<std::uint8_t*>(info.data()), info.size()),
      OSSL_PARAM_construct_end()};
  const bool ok = ctx && EVP_KDF_derive(ctx, out.data(), out.size(), params) == 1;
  EVP_KDF_CTX_free(ctx);
  EVP_KDF_free(kdf);
  return ok;
}

std::span<const std::uint8_t> bytes_of(const char* s) {
  return {reinterpret_cast<const std::uint8_t*>(s), std::strlen(s)};
}

bool valid_cipher(std::uint16_t v) {
  return v == static_cast<std::uint16_t>(engine::Cipher::kAes256Gcm) ||
         v == static_cast<std::uint16_t>(engine::Cipher::kChaCha20Poly1305);
}

}  // namespace

// ---- EphemeralKey --------------------------------------------------------------------------

EphemeralKey::EphemeralKey() {
  EVP_PKEY* k = EVP_PKEY_Q_keygen(nullptr, nullptr, "X25519");
  std::size_t len = public_.size();
  if (!k || EVP_PKEY_get_raw_public_key(k, public_.data(), &len) != 1 || len != public_.size()) {
    EVP_PKEY_free(k);
    return;
  }
  pkey_ = k;
}

EphemeralKey::~EphemeralKey() { EVP_PKEY_free(static_cast<EVP_PKEY*>(pkey_)); }

std::optional<std::array<std::uint8_t, 32>> EphemeralKey::agree(const PublicKey& peer) const {
  if (!pkey_) return std::nullopt;
  EVP_PKEY* theirs = EVP_PKEY_new_raw_public_key(EVP_PKEY_X25519, nullptr, peer.data(), peer.size());
  EVP_PKEY_CTX* ctx = theirs ? EVP_PKEY_CTX_new(static_cast<EVP_PKEY*>(pkey_), nullptr) : nullptr;
  std::array<std::uint8_t, 32> secret{};
  std::size_t len = secret.size();
  const bool ok = ctx && EVP_PKEY_derive_init(ctx) == 1 && EVP_PKEY_derive_set_peer(ctx, theirs) == 1 &&
                  EVP_PKEY_derive(ctx, secret.data(), &len) == 1 && len == secret.size();
  EVP_PKEY_CTX_free(ctx);
  EVP_PKEY_free(theirs);
  if (!ok) return std::nullopt;
  const std::array<std::uint8_t, 32> zero{};
  if (CRYPTO_memcmp(secret.data(), zero.data(), zero.size()) == 0) return std::nullopt;
  return secret;
}

bool derive_direction_keys(std::span<const std::uint8_t> psk_salt,
                           std::span<const std::uint8_t> shared, const PublicKey& a,
                           const PublicKey& b, DirectionKeys& out) {
  const bool a_low = std::lexicographical_compare(a.begin(), a.end(), b.begin(), b.end());
  const PublicKey& low = a_low ? a : b;
  const PublicKey& high = a_low ? b : a;
  std::vector<std::uint8_t> info;
  const auto label = bytes_of("mpt session v2");
  info.insert(info.end(), label.begin(), label.end());
  info.insert(info.end(), low.begin(), low.end());
  info.insert(info.end(), high.begin(), high.end());
  std::array<std::uint8_t, 129> okm{};
  if (!hkdf(psk_salt, shared, info, okm)) return false;
  std::copy_n(okm.begin(), 32, out.low_to_high.begin());
  std::copy_n(okm.begin() + 32, 32, out.high_to_low.begin());
  std::copy_n(okm.begin() + 64, 32, out.data_low_to_high.begin());
  std::copy_n(okm.begin() + 96, 32, out.data_high_to_low.begin());
  out.id = okm[128];
  OPENSSL_cleanse(okm.data(), okm.size());
  return true;
}

// ---- SecureSession -------------------------------------------------------------------------

struct SecureSession::Keys {
  std::uint64_t peer_session = 0;
  PublicKey peer_public{};
  engine::Cipher peer_cipher = engine::Cipher::kNone;
  engine::Aead tx, rx;
  engine::KeyMaterial data_tx, data_rx;  // for the data plane (SessionKeys)
  std::vector<std::uint64_t> tx_counter;  // per path
  std::vector<ReplayWindow> replay;       // per path
};

SecureSession::SecureSession(const std::string& psk, engine::Cipher send_cipher, std::size_t paths)
    : hs_auth_(psk, kHandshakeInfo), cipher_(send_cipher), paths_(paths) {
  // The salt of the session keys: the pre-shared key mixed in (an attacker who breaks X25519
  // later still needs it), under a label of its own.
  const auto ikm = std::span<const std::uint8_t>(reinterpret_cast<const std::uint8_t*>(psk.data()),
                                                 psk.size());
  const bool salt_ok = !psk.empty() && hkdf(bytes_of("mpt"), ikm, bytes_of("mpt psk salt v2"), psk_salt_);
  ephemeral_ = std::make_unique<EphemeralKey>();
  const bool session_ok = RAND_bytes(reinterpret_cast<unsigned char*>(&session_), sizeof session_) == 1;
  valid_ = salt_ok && session_ok && ephemeral_->valid() && hs_auth_.authenticated() &&
           (cipher_ == engine::Cipher::kAes256Gcm || cipher_ == engine::Cipher::kChaCha20Poly1305);
  if (session_ == 0) session_ = 1;  // 0 means "no session" to the data plane's admission
}

SecureSession::~SecureSession() = default;

std::optional<std::uint64_t> SecureSession::peer_session() const {
  if (!current_) return std::nullopt;
  return current_->peer_session;
}

bool SecureSession::knows_peer_session(std::uint64_t session) const {
  if (current_ && current_->peer_session == session) return true;
  if (previous_ && previous_->peer_session == session) return true;
  return std::any_of(candidates_.begin(), candidates_.end(),
                     [&](const auto& k) { return k && k->peer_session == session; });
}

engine::Cipher SecureSession::receive_cipher() const {
  return current_ ? current_->peer_cipher : engine::Cipher::kNone;
}

void SecureSession::set_paths(std::size_t paths) {
  paths_ = paths;
  for (auto* k : {&current_}) {
    if (*k) {
      (*k)->tx_counter.resize(paths, 0);
      (*k)->replay.resize(paths);
    }
  }
  for (auto& c : candidates_) {
    if (c) {
      c->tx_counter.resize(paths, 0);
      c->replay.resize(paths);
    }
  }
}

Message SecureSession::handshake_message(MessageType type, std::uint16_t path,
                                         const PublicKey& echo) const {
  Message m;
  m.header.type = type;
  m.header.session = session_;
  m.header.path = path;
  m.header.flags = static_cast<std::uint16_t>(cipher_);  // the cipher we seal with
  HandshakeBody h;
  h.public_key = ephemeral_->public_key();
  h.echo = echo;
  m.handshake = h;
  return m;
}

Message SecureSession::init(std::uint16_t path) const {
  return handshake_message(MessageType::kHandshakeInit, path, PublicKey{});
}

std::unique_ptr<SecureSession::Keys> SecureSession::make_keys(std::uint64_t peer_session,
                                                              const PublicKey& peer_public,
                                                              engine::Cipher peer_cipher) const {
  const auto shared = ephemeral_->agree(peer_public);
  if (!shared) return nullptr;
  DirectionKeys dk;
  if (!derive_direction_keys(psk_salt_, *shared, ephemeral_->public_key(), peer_public, dk)) {
    return nullptr;
  }
  const PublicKey& ours = ephemeral_->public_key();
  const bool we_low = std::lexicographical_compare(ours.begin(), ours.end(), peer_public.begin(),
                                                   peer_public.end());
  auto k = std::make_unique<Keys>();
  k->peer_session = peer_session;
  k->peer_public = peer_public;
  k->peer_cipher = peer_cipher;
  const bool ok = k->tx.set_key(cipher_, we_low ? dk.low_to_high : dk.high_to_low) &&
                  k->rx.set_key(peer_cipher, we_low ? dk.high_to_low : dk.low_to_high);
  k->data_tx = {true, cipher_, dk.id, we_low ? dk.data_low_to_high : dk.data_high_to_low};
  k->data_rx = {true, peer_cipher, dk.id, we_low ? dk.data_high_to_low : dk.data_low_to_high};
  OPENSSL_cleanse(&dk, sizeof dk);
  if (!ok) return nullptr;
  k->tx_counter.assign(paths_, 0);
  k->replay.assign(paths_, ReplayWindow{});
  return k;
}

namespace {
std::uint64_t key_tag(const PublicKey& pub) {
  std::uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = v << 8 | pub[static_cast<std::size_t>(i)];
  return v;
}
}  // namespace

bool SecureSession::retired(std::uint64_t session, const PublicKey& pub) const {
  const auto e = std::make_pair(session, key_tag(pub));
  return std::find(retired_.begin(), retired_.end(), e) != retired_.end();
}

void SecureSession::retire(const Keys& k) {
  if (retired(k.peer_session, k.peer_public)) return;
  retired_[retired_next_++ % kRetired] = {k.peer_session, key_tag(k.peer_public)};
}

void SecureSession::new_round() {
  // Candidates stay: their keys were derived already (the old private key is not needed).
  ephemeral_ = std::make_unique<EphemeralKey>();
  awaiting_ = true;
  valid_ = valid_ && ephemeral_->valid();
}

SecureSession::Result SecureSession::confirm(std::unique_ptr<Keys> k) {
  Result r;
  r.confirmed = true;
  r.peer_restarted = current_ && current_->peer_session != k->peer_session;
  if (r.peer_restarted) ++peer_restarts_;
  ++handshakes_;
  const bool same = current_ && current_->peer_session == k->peer_session &&
                    current_->peer_public == k->peer_public;
  if (current_ && !same) retire(*current_);
  // A renewal by the same peer instance keeps the old receive keys for what is in flight; a
  // restart drops them (nothing of the dead instance is taken any more).
  previous_.reset();
  if (current_ && !r.peer_restarted) previous_ = std::move(current_);
  for (auto& c : candidates_) {
    if (c && !(c->peer_session == k->peer_session && c->peer_public == k->peer_public)) retire(*c);
    c.reset();
  }
  current_ = std::move(k);
  awaiting_ = false;
  return r;
}

SecureSession::Result SecureSession::on_handshake(const Message& m, std::uint16_t path,
                                                  Message& reply) {
  Result r;
  if (!valid_ || !m.handshake) {
    r.error = ParseError::kNoSession;
    return r;
  }
  const HandshakeBody& h = *m.handshake;
  // A message of ours sent back to us (same session id or our own public key).
  if (m.header.session == session_ || h.public_key == ephemeral_->public_key()) {
    r.error = ParseError::kReflected;
    return r;
  }
  if (m.header.path != path || path >= paths_) {
    r.error = ParseError::kBadPath;
    return r;
  }
  if (!valid_cipher(m.header.flags)) {
    r.error = ParseError::kBadLength;
    return r;
  }
  const auto peer_cipher = static_cast<engine::Cipher>(m.header.flags);
  if (m.header.type == MessageType::kHandshakeResp) {
    // Only an answer to this round's INIT: it echoes our (fresh) public key, and we still wait.
    // (The answer to our INIT after the peer's INIT already gave us these keys -- both sides
    // started at once -- is no news either way.)
    if (!awaiting_ && current_ && h.echo == ephemeral_->public_key() &&
        current_->peer_public == h.public_key && current_->peer_session == m.header.session) {
      return r;
    }
    if (!awaiting_ || h.echo != ephemeral_->public_key()) {
      r.error = ParseError::kStale;
      return r;
    }
    auto k = make_keys(m.header.session, h.public_key, peer_cipher);
    if (!k) {
      r.error = ParseError::kBadMac;
      return r;
    }
    return confirm(std::move(k));
  }
  // INIT: answer it; keep the keys as a candidate until a sealed message proves the peer.
  if (retired(m.header.session, h.public_key)) {
    r.error = ParseError::kStale;
    return r;
  }
  const bool known =
      (current_ && current_->peer_public == h.public_key && current_->peer_session == m.header.session) ||
      std::any_of(candidates_.begin(), candidates_.end(), [&](const std::unique_ptr<Keys>& c) {
        return c && c->peer_public == h.public_key && c->peer_session == m.header.session;
      });
  if (!known) {
    auto k = make_keys(m.header.session, h.public_key, peer_cipher);
    if (!k) {
      r.error = ParseError::kBadMac;
      return r;
    }
    auto& slot = candidates_[next_candidate_++ % kCandidates];
    if (slot) retire(*slot);  // crowded out: its INIT will not make a candidate again
    slot = std::move(k);
  }
  reply = handshake_message(MessageType::kHandshakeResp, path, h.public_key);
  r.reply = true;
  return r;
}

SecureSession::DataKeys SecureSession::data_keys() const {
  DataKeys d;
  if (current_) {
    d.tx = current_->data_tx;
    d.rx.push_back(current_->data_rx);
  }
  if (previous_) d.rx.push_back(previous_->data_rx);
  for (const auto& c : candidates_) {
    if (c) d.rx.push_back(c->data_rx);
  }
  return d;
}

std::size_t SecureSession::seal(Message& m, std::uint16_t path, std::span<std::uint8_t> out) {
  if (!current_ || path >= current_->tx_counter.size()) return 0;
  m.header.session = session_;
  m.header.path = path;
  m.header.flags = 0;
  m.header.counter = current_->tx_counter[path]++;
  return signaling::seal(m, current_->tx, out);
}

SecureSession::Result SecureSession::open(std::span<const std::uint8_t> in, std::uint16_t path,
                                          Message& out) {
  Result r;
  std::array<std::uint8_t, kHeaderSize + kMaxBody + kSealedTagSize> buf;
  if (in.size() > buf.size()) {
    r.error = ParseError::kBadLength;
    return r;
  }
  // Opening decrypts in place: each attempt works on a fresh copy.
  const auto attempt = [&](Keys& k) {
    std::copy(in.begin(), in.end(), buf.begin());
    return signaling::open({buf.data(), in.size()}, k.rx, out);
  };
  Keys* keys = nullptr;
  std::size_t candidate = kCandidates;
  ParseError e = ParseError::kNoSession;
  if (current_) {
    e = attempt(*current_);
    if (e == ParseError::kOk) keys = current_.get();
  }
  if (!keys && previous_ && (e == ParseError::kBadMac || e == ParseError::kNoSession)) {
    e = attempt(*previous_);
    if (e == ParseError::kOk) keys = previous_.get();
  }
  for (std::size_t i = 0; !keys && i < kCandidates && e != ParseError::kTooShort &&
                          e != ParseError::kBadVersion && e != ParseError::kBadLength &&
                          e != ParseError::kUnknownType;
       ++i) {
    if (!candidates_[i]) continue;
    e = attempt(*candidates_[i]);
    if (e == ParseError::kOk) {
      keys = candidates_[i].get();
      candidate = i;
    }
  }
  if (!keys) {
    r.error = e;
    return r;
  }
  // Authentic from here on: the header is the AEAD's associated data.
  if (out.header.path != path || path >= keys->replay.size()) {
    r.error = ParseError::kBadPath;
    return r;
  }
  if (out.header.session != keys->peer_session) {
    r.error = ParseError::kStale;
    return r;
  }
  // Newer than anything of this path under these keys (not merely inside the window):
  // only such a message may move the path's peer address (ControlLoop::learn_endpoint), so
  // an old message held back by an attacker and sent from elsewhere later cannot.
  const bool newest = out.header.counter >= keys->replay[path].top();
  if (!keys->replay[path].check_and_update(out.header.counter)) {
    r.error = ParseError::kReplay;
    return r;
  }
  if (candidate < kCandidates) {
    r = confirm(std::move(candidates_[candidate]));
    r.newest = newest;
    return r;
  }
  r.newest = newest && keys == current_.get();
  return r;
}

}  // namespace mpt::signaling
