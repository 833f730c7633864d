// PathStateMailbox: the latest state (usable, weight) the control thread wants for each path
// slot, for the TUN reader's scheduler. One atomic word per slot plus a "changed" flag: the
// control thread overwrites, the reader takes what is there when it wakes. A burst of changes
// (a link flapping while the TUN is idle, a reload with many paths) can therefore never be
// lost the way a full command ring lost them; the reader sees each path's latest state
// (a down-up flap it did not see in between is no change for the scheduler).
//
// Threads: post() and resize() on the control thread (resize() only while the reader is
// stopped: Engine::reconfigure); take_changed() on the reader. Lock-free, no allocation
// outside resize().
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>

namespace mpt::engine {

class PathStateMailbox {
 public:
  explicit PathStateMailbox(std::size_t slots = 0) { resize(slots); }

  [[nodiscard]] std::size_t size() const { return size_; }

  // Control thread, reader stopped: room for `slots` paths; posted states are kept.
  void resize(std::size_t slots) {
    if (slots <= size_) return;
    auto next = std::make_unique<std::atomic<std::uint64_t>[]>(slots);
    for (std::size_t i = 0; i < slots; ++i) {
      next[i].store(i < size_ ? words_[i].load(std::memory_order_relaxed) : 0,
                    std::memory_order_relaxed);
    }
    words_ = std::move(next);
    size_ = slots;
  }

  // Control thread, reader stopped: slot `slot` holds a new path (or none): what was posted
  // for the one before is no state of it.
  void forget(std::size_t slot) {
    if (slot < size_) words_[slot].store(0, std::memory_order_relaxed);
  }

  // Control thread: path `slot` should now be (up, weight). Returns false for a slot out of
  // range (nothing posted).
  bool post(std::size_t slot, bool up, std::uint32_t weight) {
    if (slot >= size_) return false;
    words_[slot].store(kPosted | (up ? kUp : 0) | weight, std::memory_order_relaxed);
    changed_.store(true, std::memory_order_release);
    return true;
  }

  // Reader: if anything was posted since the last call, calls fn(slot, up, weight) for every
  // slot that has ever been posted (the caller skips what it already has). Returns whether
  // anything was posted.
  template <typename Fn>
  bool take_changed(Fn&& fn) {
    // A plain load first: the reader asks every loop turn, and a change is rare.
    if (!changed_.load(std::memory_order_relaxed) ||
        !changed_.exchange(false, std::memory_order_acquire)) {
      return false;
    }
    for (std::size_t i = 0; i < size_; ++i) {
      const std::uint64_t w = words_[i].load(std::memory_order_relaxed);
      if (w & kPosted) fn(i, (w & kUp) != 0, static_cast<std::uint32_t>(w));
    }
    return true;
  }

 private:
  static constexpr std::uint64_t kUp = std::uint64_t{1} << 32;
  static constexpr std::uint64_t kPosted = std::uint64_t{1} << 33;
  std::unique_ptr<std::atomic<std::uint64_t>[]> words_;
  std::size_t size_ = 0;
  std::atomic<bool> changed_{false};
};

}  // namespace mpt::engine
