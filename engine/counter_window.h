// CounterWindow: a sliding anti-replay window over 64-bit counters, kBits wide (RFC 6479's
// bitmap, without its block trick): a counter is accepted once, and not when it is kBits or
// more behind the highest seen. Owned by one thread; no allocation.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

namespace mpt::engine {

template <std::size_t kBits>
class CounterWindow {
  static_assert(kBits % 64 == 0 && kBits >= 64);

 public:
  // True if `counter` is new (and records it).
  [[nodiscard]] bool check_and_update(std::uint64_t counter) {
    if (counter >= top_) {
      const std::uint64_t shift = counter + 1 - top_;
      if (shift >= kBits) {
        bits_.fill(0);
      } else {
        // Clear the words the window slides over (word by word, then the bits of the first).
        for (std::uint64_t c = top_; c <= counter;) {
          if (c % 64 == 0 && c + 63 <= counter) {
            bits_[(c / 64) % bits_.size()] = 0;
            c += 64;
          } else {
            bits_[(c / 64) % bits_.size()] &= ~(std::uint64_t{1} << (c % 64));
            ++c;
          }
        }
      }
      top_ = counter + 1;
    } else if (top_ - counter > kBits) {
      return false;  // too old
    }
    std::uint64_t& word = bits_[(counter / 64) % bits_.size()];
    const std::uint64_t bit = std::uint64_t{1} << (counter % 64);
    if (word & bit) return false;
    word |= bit;
    return true;
  }
  void reset() {
    top_ = 0;
    bits_.fill(0);
  }

 private:
  std::uint64_t top_ = 0;  // highest counter seen + 1 (0 = none)
  std::array<std::uint64_t, kBits / 64> bits_{};
};

// A CounterWindow for one receive key slot, whose key material changes over time
// (SessionKeys): each change bumps the slot's generation. A newer generation starts the
// window afresh; a packet opened under an older one (just before the slot changed) is
// refused. Used for sealed data (TunWriter) and sealed repair requests (TunReader).
template <std::size_t kBits>
class KeyedCounterWindow {
 public:
  [[nodiscard]] bool check_and_update(std::uint32_t generation, std::uint64_t counter) {
    if (!used_ || generation > generation_) {
      used_ = true;
      generation_ = generation;
      window_.reset();
    } else if (generation < generation_) {
      return false;
    }
    return window_.check_and_update(counter);
  }

 private:
  std::uint32_t generation_ = 0;
  bool used_ = false;
  CounterWindow<kBits> window_;
};

}  // namespace mpt::engine
