#include "engine/aead.h"

#include <openssl/evp.h>

#include <fstream>
#include <string>
#include <utility>

namespace mpt::engine {
namespace {

void make_nonce(std::uint32_t space, std::uint64_t counter, std::uint8_t* n) {
  for (int i = 0; i < 4; ++i) n[i] = static_cast<std::uint8_t>(space >> (24 - 8 * i));
  for (int i = 0; i < 8; ++i) n[4 + i] = static_cast<std::uint8_t>(counter >> (56 - 8 * i));
}

const EVP_CIPHER* evp_cipher(Cipher c) {
  switch (c) {
    case Cipher::kAes256Gcm: return EVP_aes_256_gcm();
    case Cipher::kChaCha20Poly1305: return EVP_chacha20_poly1305();
    case Cipher::kNone: break;
  }
  return nullptr;
}

}  // namespace

const char* to_string(Cipher c) {
  switch (c) {
    case Cipher::kAes256Gcm: return "aes-256-gcm";
    case Cipher::kChaCha20Poly1305: return "chacha20-poly1305";
    case Cipher::kNone: break;
  }
  return "none";
}

Cipher default_cipher() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("flags", 0) == 0 || line.rfind("Features", 0) == 0) {
      line += ' ';
      return line.find(" aes ") != std::string::npos ? Cipher::kAes256Gcm
                                                     : Cipher::kChaCha20Poly1305;
    }
  }
  return Cipher::kChaCha20Poly1305;
}

Aead::~Aead() { EVP_CIPHER_CTX_free(ctx_); }

Aead::Aead(Aead&& o) noexcept
    : ctx_(std::exchange(o.ctx_, nullptr)), cipher_(std::exchange(o.cipher_, Cipher::kNone)) {}

Aead& Aead::operator=(Aead&& o) noexcept {
  if (this != &o) {
    EVP_CIPHER_CTX_free(ctx_);
    ctx_ = std::exchange(o.ctx_, nullptr);
    cipher_ = std::exchange(o.cipher_, Cipher::kNone);
  }
  return *this;
}

bool Aead::set_key(Cipher cipher, const AeadKey& key) {
  EVP_CIPHER_CTX_free(ctx_);
  ctx_ = nullptr;
  cipher_ = Cipher::kNone;
  const EVP_CIPHER* c = evp_cipher(cipher);
  if (!c) return false;
  EVP_CIPHER_CTX* ctx = EVP_CIPHER_CTX_new();
  // The key is expanded once here; each packet then sets only its nonce.
  if (!ctx || EVP_CipherInit_ex(ctx, c, nullptr, key.data(), nullptr, -1) != 1) {
    EVP_CIPHER_CTX_free(ctx);
    return false;
  }
  ctx_ = ctx;
  cipher_ = cipher;
  return true;
}

// The nonce, the associated data and the text in place: what sealing and opening share.
bool Aead::process(std::uint32_t space, std::uint64_t counter, std::span<const std::uint8_t> aad,
                   std::span<std::uint8_t> text, int encrypt) {
  if (!ctx_) return false;
  std::uint8_t nonce[12];
  make_nonce(space, counter, nonce);
  int len = 0;
  if (EVP_CipherInit_ex(ctx_, nullptr, nullptr, nullptr, nonce, encrypt) != 1) return false;
  if (!aad.empty() &&
      EVP_CipherUpdate(ctx_, nullptr, &len, aad.data(), static_cast<int>(aad.size())) != 1) {
    return false;
  }
  return text.empty() || EVP_CipherUpdate(ctx_, text.data(), &len, text.data(),
                                          static_cast<int>(text.size())) == 1;
}

bool Aead::seal(std::uint32_t space, std::uint64_t counter, std::span<const std::uint8_t> aad,
                std::span<std::uint8_t> text, std::uint8_t* tag_out) {
  int len = 0;
  if (!process(space, counter, aad, text, 1)) return false;
  if (EVP_CipherFinal_ex(ctx_, text.data() + text.size(), &len) != 1) return false;
  return EVP_CIPHER_CTX_ctrl(ctx_, EVP_CTRL_AEAD_GET_TAG, static_cast<int>(kAeadTagSize),
                             tag_out) == 1;
}

bool Aead::open(std::uint32_t space, std::uint64_t counter, std::span<const std::uint8_t> aad,
                std::span<std::uint8_t> text, const std::uint8_t* tag) {
  int len = 0;
  if (!process(space, counter, aad, text, 0)) return false;
  if (EVP_CIPHER_CTX_ctrl(ctx_, EVP_CTRL_AEAD_SET_TAG, static_cast<int>(kAeadTagSize),
                          const_cast<std::uint8_t*>(tag)) != 1) {
    return false;
  }
  return EVP_CipherFinal_ex(ctx_, text.data() + text.size(), &len) == 1;
}

}  // namespace mpt::engine
