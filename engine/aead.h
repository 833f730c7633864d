// Aead: one direction's authenticated encryption (AES-256-GCM or ChaCha20-Poly1305 through
// OpenSSL EVP), for sealed control messages today and sealed data next (docs/protocol.md,
// "Sealed messages").
//
// Nonce (96 bits) = a 32-bit nonce space || a 64-bit counter, both big-endian. Every sender
// thread owns its spaces (the control thread one per path, each TUN reader queue its own), so
// no counter is ever shared between threads; a key is fresh per handshake (ephemeral X25519),
// so a counter never repeats under a key, also not across restarts.
//
// Threads: an Aead belongs to one thread (the EVP context is reused per call). Pure; no I/O.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>

struct evp_cipher_ctx_st;

namespace mpt::engine {

enum class Cipher : std::uint8_t { kNone = 0, kAes256Gcm = 1, kChaCha20Poly1305 = 2 };

[[nodiscard]] const char* to_string(Cipher c);
// AES-256-GCM where the CPU has AES instructions (x86 "aes" / arm64 "aes" in /proc/cpuinfo),
// else ChaCha20-Poly1305 -- the faster of the two without them.
[[nodiscard]] Cipher default_cipher();

inline constexpr std::size_t kAeadKeySize = 32;
inline constexpr std::size_t kAeadTagSize = 16;
using AeadKey = std::array<std::uint8_t, kAeadKeySize>;

class Aead {
 public:
  Aead() = default;
  ~Aead();
  Aead(const Aead&) = delete;
  Aead& operator=(const Aead&) = delete;
  Aead(Aead&& o) noexcept;
  Aead& operator=(Aead&& o) noexcept;

  // Installs a key; false (and unusable) if the cipher is unknown or OpenSSL fails.
  [[nodiscard]] bool set_key(Cipher cipher, const AeadKey& key);
  [[nodiscard]] bool ready() const { return ctx_ != nullptr; }
  [[nodiscard]] Cipher cipher() const { return cipher_; }

  // Encrypts `text` in place and writes the tag. False only on an OpenSSL failure.
  [[nodiscard]] bool seal(std::uint32_t space, std::uint64_t counter,
                          std::span<const std::uint8_t> aad, std::span<std::uint8_t> text,
                          std::uint8_t* tag_out);
  // Decrypts `text` in place if the tag verifies; false (text then undefined) otherwise.
  [[nodiscard]] bool open(std::uint32_t space, std::uint64_t counter,
                          std::span<const std::uint8_t> aad, std::span<std::uint8_t> text,
                          const std::uint8_t* tag);

 private:
  [[nodiscard]] bool process(std::uint32_t space, std::uint64_t counter,
                             std::span<const std::uint8_t> aad, std::span<std::uint8_t> text,
                             int encrypt);
  evp_cipher_ctx_st* ctx_ = nullptr;
  Cipher cipher_ = Cipher::kNone;
};

}  // namespace mpt::engine
