#include "signaling/messages.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/kdf.h>

#include <cstring>

#include "engine/byte_order.h"

namespace mpt::signaling {
namespace {


constexpr std::size_t kProbeBodySize = 52;
constexpr std::size_t kStatusBodySize = 4;
constexpr std::size_t kWeightBodySize = 4;
constexpr std::size_t kHelloBodySize = 8;
constexpr std::size_t kHandshakeBodySize = 64;

// The body size each type must have; 0 = unknown type.
std::size_t body_size(MessageType t) {
  switch (t) {
    case MessageType::kHello:
    case MessageType::kHelloAck: return kHelloBodySize;
    case MessageType::kProbe:
    case MessageType::kProbeAck: return kProbeBodySize;
    case MessageType::kPathStatus:
    case MessageType::kPathStatusAck: return kStatusBodySize;
    case MessageType::kWeight:
    case MessageType::kWeightAck: return kWeightBodySize;
    case MessageType::kHandshakeInit:
    case MessageType::kHandshakeResp: return kHandshakeBodySize;
  }
  return 0;
}

// Writes the header and body (not the MAC or tag) of `m` with version `version` into p,
// which has room for kHeaderSize + body bytes. Returns the body size.
void put_header_and_body(const Message& m, std::uint8_t version, std::size_t body,
                         std::uint8_t* p) {
  p[0] = version;
  p[1] = static_cast<std::uint8_t>(m.header.type);
  engine::store_be16(p + 2, static_cast<std::uint16_t>(body));
  engine::store_be64(p + 4, m.header.session);
  engine::store_be64(p + 12, m.header.counter);
  engine::store_be16(p + 20, m.header.path);
  engine::store_be16(p + 22, m.header.flags);
  std::uint8_t* b = p + kHeaderSize;
  switch (m.header.type) {
    case MessageType::kHello:
    case MessageType::kHelloAck: {
      const HelloBody h = m.hello.value_or(HelloBody{});
      engine::store_be32(b, h.path_count);
      engine::store_be32(b + 4, h.probe_interval_ms);
      break;
    }
    case MessageType::kProbe:
    case MessageType::kProbeAck: {
      const ProbeBody pb = m.probe.value_or(ProbeBody{});
      engine::store_be64(b, pb.tx_time_us);
      engine::store_be64(b + 8, pb.echo_time_us);
      engine::store_be32(b + 16, pb.echo_delay_us);
      engine::store_be64(b + 20, pb.data_tx_packets);
      engine::store_be64(b + 28, pb.data_rx_packets);
      engine::store_be64(b + 36, pb.data_tx_bytes);
      engine::store_be64(b + 44, pb.data_rx_bytes);
      break;
    }
    case MessageType::kPathStatus:
    case MessageType::kPathStatusAck:
      b[0] = static_cast<std::uint8_t>(m.path_status.value_or(PathStatusBody{}).status);
      engine::store_be16(b + 1, m.path_status.value_or(PathStatusBody{}).lost_path);
      break;
    case MessageType::kWeight:
    case MessageType::kWeightAck:
      engine::store_be32(b, m.weight.value_or(WeightBody{}).weight);
      break;
    case MessageType::kHandshakeInit:
    case MessageType::kHandshakeResp: {
      const HandshakeBody h = m.handshake.value_or(HandshakeBody{});
      std::memcpy(b, h.public_key.data(), 32);
      std::memcpy(b + 32, h.echo.data(), 32);
      break;
    }
  }
}

// Reads the header fields and the body of a message whose type and length were checked.
ParseError get_header_and_body(const std::uint8_t* p, Message& out) {
  const auto type = static_cast<MessageType>(p[1]);
  out.header.type = type;
  out.header.session = engine::load_be64(p + 4);
  out.header.counter = engine::load_be64(p + 12);
  out.header.path = engine::load_be16(p + 20);
  out.header.flags = engine::load_be16(p + 22);
  const std::uint8_t* b = p + kHeaderSize;
  switch (type) {
    case MessageType::kHello:
    case MessageType::kHelloAck:
      out.hello = HelloBody{engine::load_be32(b), engine::load_be32(b + 4)};
      break;
    case MessageType::kProbe:
    case MessageType::kProbeAck:
      out.probe = ProbeBody{engine::load_be64(b),      engine::load_be64(b + 8),  engine::load_be32(b + 16), engine::load_be64(b + 20),
                            engine::load_be64(b + 28), engine::load_be64(b + 36), engine::load_be64(b + 44)};
      break;
    case MessageType::kPathStatus:
    case MessageType::kPathStatusAck:
      if (b[0] > static_cast<std::uint8_t>(PathStatus::kAdminDown)) return ParseError::kBadLength;
      out.path_status = PathStatusBody{static_cast<PathStatus>(b[0]), engine::load_be16(b + 1)};
      break;
    case MessageType::kWeight:
    case MessageType::kWeightAck:
      out.weight = WeightBody{engine::load_be32(b)};
      break;
    case MessageType::kHandshakeInit:
    case MessageType::kHandshakeResp: {
      HandshakeBody h;
      std::memcpy(h.public_key.data(), b, 32);
      std::memcpy(h.echo.data(), b + 32, 32);
      out.handshake = h;
      break;
    }
  }
  return ParseError::kOk;
}

}  // namespace

const char* to_string(ParseError e) {
  switch (e) {
    case ParseError::kOk: return "ok";
    case ParseError::kTooShort: return "too_short";
    case ParseError::kBadVersion: return "bad_version";
    case ParseError::kBadLength: return "bad_length";
    case ParseError::kUnknownType: return "unknown_type";
    case ParseError::kBadMac: return "bad_mac";
    case ParseError::kReplay: return "replay";
    case ParseError::kBadPath: return "bad_path";
    case ParseError::kNoSession: return "no_session";
    case ParseError::kReflected: return "reflected";
    case ParseError::kStale: return "stale";
    case ParseError::kCount: break;
  }
  return "unknown";
}

ControlAuth::ControlAuth(const std::string& psk, const char* info_text)
    : authenticated_(!psk.empty()) {
  if (!authenticated_) return;
  // HKDF-SHA256(salt "mpt", ikm psk, info) -> 32-byte HMAC key.
  EVP_KDF* kdf = EVP_KDF_fetch(nullptr, "HKDF", nullptr);
  EVP_KDF_CTX* ctx = kdf ? EVP_KDF_CTX_new(kdf) : nullptr;
  char digest[] = "SHA256";
  char salt[] = "mpt";
  std::string info = info_text;
  std::string ikm = psk;
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, digest, 0),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, ikm.data(), ikm.size()),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, salt, 3),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, info.data(), info.size()),
      OSSL_PARAM_construct_end()};
  const bool ok = ctx && EVP_KDF_derive(ctx, key_.data(), key_.size(), params) == 1;
  EVP_KDF_CTX_free(ctx);
  EVP_KDF_free(kdf);
  if (!ok) {
    // Never fall back to a weak key: without a derived key every MAC check fails.
    key_.fill(0);
    key_ok_ = false;
  }
}

void ControlAuth::sign(std::span<const std::uint8_t> data, std::uint8_t* mac_out) const {
  if (!authenticated_) {
    std::memset(mac_out, 0, kMacSize);
    return;
  }
  unsigned int len = 0;
  HMAC(EVP_sha256(), key_.data(), static_cast<int>(key_.size()), data.data(), data.size(),
       mac_out, &len);
}

bool ControlAuth::verify(std::span<const std::uint8_t> data, const std::uint8_t* mac) const {
  if (!authenticated_) return true;
  if (!key_ok_) return false;
  std::uint8_t expect[kMacSize];
  sign(data, expect);
  return CRYPTO_memcmp(expect, mac, kMacSize) == 0;
}

bool ReplayWindow::check_and_update(std::uint64_t counter) {
  // top_ = counter + 1 would wrap to 0 ("nothing seen"): the window would then accept every
  // old counter again, and a second 2^64-1 would loop over the whole counter space.
  if (counter == kInvalidCounter) return false;
  if (counter >= top_) {
    // Slide forward: clear the bits of the counters we skip.
    const std::uint64_t shift = counter + 1 - top_;
    if (shift >= kWindow) {
      bits_.fill(0);
    } else {
      for (std::uint64_t c = top_; c <= counter; ++c) {
        bits_[(c / 64) % bits_.size()] &= ~(std::uint64_t{1} << (c % 64));
      }
    }
    top_ = counter + 1;
  } else if (top_ - counter > kWindow) {
    return false;  // too old
  }
  std::uint64_t& word = bits_[(counter / 64) % bits_.size()];
  const std::uint64_t bit = std::uint64_t{1} << (counter % 64);
  if (word & bit) return false;  // seen
  word |= bit;
  return true;
}

std::size_t encode(const Message& m, const ControlAuth& auth, std::span<std::uint8_t> out) {
  const std::size_t body = body_size(m.header.type);
  const std::size_t total = kHeaderSize + body + kMacSize;
  if (body == 0 || out.size() < total) return 0;
  std::uint8_t* p = out.data();
  std::memset(p, 0, total);
  put_header_and_body(m, is_handshake(m.header.type) ? kHandshakeVersion : kProtocolVersion,
                      body, p);
  auth.sign({p, kHeaderSize + body}, p + kHeaderSize + body);
  return total;
}

ParseError decode(std::span<const std::uint8_t> in, const ControlAuth& auth, Message& out) {
  out = Message{};
  if (in.size() < kHeaderSize + kMacSize) return ParseError::kTooShort;
  const std::uint8_t* p = in.data();
  if (p[0] != kProtocolVersion && p[0] != kHandshakeVersion) return ParseError::kBadVersion;
  const auto type = static_cast<MessageType>(p[1]);
  // Version 2 carries the handshake and nothing else; version 1 never carries it.
  if (p[0] == kHandshakeVersion && !is_handshake(type)) return ParseError::kBadVersion;
  const std::size_t expect = body_size(type);
  if (expect == 0 || (p[0] == kProtocolVersion && is_handshake(type))) {
    return ParseError::kUnknownType;
  }
  const std::size_t body = engine::load_be16(p + 2);
  if (body != expect || in.size() != kHeaderSize + body + kMacSize) return ParseError::kBadLength;
  if (!auth.verify({p, kHeaderSize + body}, p + kHeaderSize + body)) return ParseError::kBadMac;
  return get_header_and_body(p, out);
}

std::size_t seal(const Message& m, engine::Aead& tx, std::span<std::uint8_t> out) {
  const std::size_t body = body_size(m.header.type);
  const std::size_t total = kHeaderSize + body + kSealedTagSize;
  if (body == 0 || is_handshake(m.header.type) || out.size() < total) return 0;
  std::uint8_t* p = out.data();
  std::memset(p, 0, total);
  put_header_and_body(m, kSealedVersion, body, p);
  if (!tx.seal(kControlSpaceBase | m.header.path, m.header.counter, {p, kHeaderSize},
               {p + kHeaderSize, body}, p + kHeaderSize + body)) {
    return 0;
  }
  return total;
}

ParseError open(std::span<std::uint8_t> in, engine::Aead& rx, Message& out) {
  out = Message{};
  if (in.size() < kHeaderSize + kSealedTagSize) return ParseError::kTooShort;
  std::uint8_t* p = in.data();
  if (p[0] != kSealedVersion) return ParseError::kBadVersion;
  const auto type = static_cast<MessageType>(p[1]);
  const std::size_t expect = body_size(type);
  if (expect == 0 || is_handshake(type)) return ParseError::kUnknownType;
  const std::size_t body = engine::load_be16(p + 2);
  if (body != expect || in.size() != kHeaderSize + body + kSealedTagSize) {
    return ParseError::kBadLength;
  }
  const std::uint16_t path = engine::load_be16(p + 20);
  if (!rx.open(kControlSpaceBase | path, engine::load_be64(p + 12), {p, kHeaderSize},
               {p + kHeaderSize, body}, p + kHeaderSize + body)) {
    return ParseError::kBadMac;
  }
  return get_header_and_body(p, out);
}

}  // namespace mpt::signaling
