// SessionKeys: one connection's session keys as the data plane sees them, published by the
// control thread (signaling::SecureSession makes them; ControlLoop::publish_keys writes them
// here) and read by the data-plane threads without locks.
//
// A slot is a seqlock: the control thread (the only writer) makes `seq` odd, stores the
// fields (atomics: relaxed), makes it even again (release). A reader loads `seq` (acquire),
// copies, and loads it again; equal and even = a consistent copy. Readers keep their own
// engine::Aead per slot and compare `seq` on every packet (one acquire load) to notice a new
// key. `seq` also serves as the slot's generation for the replay windows (TunWriter).
//
// Slots: `tx` is what this side seals data and repair requests with; `rx` are the keys the
// peer may be sealing with -- the current ones, the previous ones (a renewal in flight), and
// candidates (a handshake this side answered: the peer sends under them as soon as it has our
// answer, before our control thread has seen its first sealed message).
#pragma once

#include <array>
#include <atomic>
#include <cstdint>

#include "engine/aead.h"

namespace mpt::engine {

struct KeyMaterial {
  bool valid = false;
  Cipher cipher = Cipher::kNone;
  std::uint8_t id = 0;  // carried in every sealed packet (docs/protocol.md, "Sealed data")
  AeadKey key{};
  friend bool operator==(const KeyMaterial&, const KeyMaterial&) = default;
};

class KeySlot {
 public:
  // Control thread only.
  void publish(const KeyMaterial& m) {
    const std::uint32_t s = seq_.load(std::memory_order_relaxed);
    seq_.store(s + 1, std::memory_order_relaxed);
    std::atomic_thread_fence(std::memory_order_release);
    valid_.store(m.valid, std::memory_order_relaxed);
    cipher_.store(static_cast<std::uint8_t>(m.cipher), std::memory_order_relaxed);
    id_.store(m.id, std::memory_order_relaxed);
    for (std::size_t i = 0; i < words_.size(); ++i) {
      std::uint64_t w = 0;
      for (std::size_t b = 0; b < 8; ++b) w |= std::uint64_t{m.key[i * 8 + b]} << (8 * b);
      words_[i].store(w, std::memory_order_relaxed);
    }
    seq_.store(s + 2, std::memory_order_release);
  }
  [[nodiscard]] std::uint32_t seq() const { return seq_.load(std::memory_order_acquire); }
  // Any thread: a consistent copy, and the generation it belongs to.
  [[nodiscard]] std::uint32_t read(KeyMaterial& out) const {
    for (;;) {
      const std::uint32_t s1 = seq_.load(std::memory_order_acquire);
      if (s1 & 1) continue;
      out.valid = valid_.load(std::memory_order_relaxed);
      out.cipher = static_cast<Cipher>(cipher_.load(std::memory_order_relaxed));
      out.id = id_.load(std::memory_order_relaxed);
      for (std::size_t i = 0; i < words_.size(); ++i) {
        const std::uint64_t w = words_[i].load(std::memory_order_relaxed);
        for (std::size_t b = 0; b < 8; ++b) out.key[i * 8 + b] = static_cast<std::uint8_t>(w >> (8 * b));
      }
      std::atomic_thread_fence(std::memory_order_acquire);
      if (seq_.load(std::memory_order_relaxed) == s1) return s1;
    }
  }

 private:
  std::atomic<std::uint32_t> seq_{0};
  std::atomic<bool> valid_{false};
  std::atomic<std::uint8_t> cipher_{0};
  std::atomic<std::uint8_t> id_{0};
  std::array<std::atomic<std::uint64_t>, 4> words_{};
};

struct SessionKeys {
  static constexpr std::size_t kRxSlots = 6;  // current, previous, up to 4 candidates
  KeySlot tx;
  std::array<KeySlot, kRxSlots> rx;
};

// A reader's own copy of one slot: its Aead, re-keyed when the slot's generation changes.
struct CachedKey {
  std::uint32_t seq = ~0u;
  bool valid = false;
  std::uint8_t id = 0;
  Aead aead;
  // Brings the copy up to date with `slot` (one acquire load when nothing changed). Returns
  // whether a usable key is there.
  bool refresh(const KeySlot& slot) {
    const std::uint32_t s = slot.seq();
    if (s == seq) return valid;
    KeyMaterial m;
    seq = slot.read(m);
    valid = m.valid && aead.set_key(m.cipher, m.key);
    id = m.id;
    return valid;
  }
};

// A sending thread's key and counter for one connection and nonce space. The counter starts
// at 0 only under key *material* it has not used before: a slot republished with the same key
// (or a connection rebuilt by a reload) must never reuse a nonce.
struct TxSealer {
  std::uint32_t seq = ~0u;
  bool valid = false;
  std::uint8_t id = 0;
  AeadKey key{};
  std::uint64_t counter = 0;
  Aead aead;
  // Up to date with `slot`; false when there is no usable key (or the counter ran out: the
  // control thread renews keys long before 2^40 packets).
  bool refresh(const KeySlot& slot) {
    const std::uint32_t s = slot.seq();
    if (s != seq) {
      KeyMaterial m;
      seq = slot.read(m);
      if (!m.valid) {
        valid = false;
      } else if (m.key != key || !aead.ready() || m.cipher != aead.cipher()) {
        valid = aead.set_key(m.cipher, m.key);
        key = m.key;
        counter = 0;
      } else {
        valid = true;
      }
      id = m.id;
    }
    return valid && counter < (std::uint64_t{1} << 40);
  }
};

}  // namespace mpt::engine
