// mpt-delayline's link model: what one direction of an emulated link does to a frame.
//
// Pure: no I/O, no clock, no threads; times are CLOCK_MONOTONIC nanoseconds passed in. One
// LinkModel per direction, owned and called by that direction's forwarding thread only.
//
// The rules, applied to every frame in arrival order:
//   1. cut: the frame is dropped (kCut).
//   2. random loss with probability `loss` (seeded PRNG, so a run is repeatable): kLoss.
//   3. rate (0 = unlimited): the link is a bottleneck that sends one frame at a time at
//      rate_bps, counting the whole Ethernet frame as tbf does (skb->len: 14-byte header +
//      payload, no FCS or preamble). A frame waits for `link_free`, is serialized for
//      frame_bits / rate, and the link is busy until then. The frames waiting in front of it
//      are the router's bottleneck buffer: when the wait plus its own serialization would
//      exceed the queue limit (time, or bytes converted at the current rate) it is dropped
//      (kQueue). A frame that finds the link idle is never dropped for queueing.
//   4. delay and jitter: release = departure + delay + jitter sample (uniform in
//      [-jitter, +jitter], or normal with standard deviation `jitter`), never before the
//      departure, and never before the previous release of this direction: the link does
//      not reorder (a jitter sample below the previous one makes the frame wait behind it).
// Parameter changes apply to frames admitted afterwards; frames already admitted keep their
// release times (a rate cut does not reschedule what is already in flight).
#pragma once

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <limits>
#include <numbers>

namespace mpt::delayline {

inline constexpr std::int64_t kNsPerMs = 1'000'000;

struct LinkParams {
  std::uint64_t rate_bps = 0;          // 0 = unlimited
  std::int64_t delay_ns = 0;           // one-way
  std::int64_t jitter_ns = 0;          // uniform half-width, or normal standard deviation
  bool jitter_normal = false;
  double loss = 0.0;                   // probability, 0..1
  std::int64_t queue_ns = 50 * kNsPerMs;  // bottleneck buffer in time at the rate...
  std::uint64_t queue_bytes = 0;       // ...or in bytes when non-zero
  bool cut = false;
};

// splitmix64 for seeding, xoshiro256** for the stream: fast, good enough, repeatable.
class Rng {
 public:
  explicit Rng(std::uint64_t seed = 1) { reseed(seed); }
  void reseed(std::uint64_t seed) {
    for (auto& w : s_) {
      seed += 0x9E3779B97F4A7C15ull;
      std::uint64_t z = seed;
      z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
      z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
      w = z ^ (z >> 31);
    }
    has_spare_ = false;
  }
  [[nodiscard]] std::uint64_t next() {
    const std::uint64_t result = rotl(s_[1] * 5, 7) * 9;
    const std::uint64_t t = s_[1] << 17;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = rotl(s_[3], 45);
    return result;
  }
  // Uniform in [0, 1).
  [[nodiscard]] double uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }
  // Standard normal (Box-Muller; the second value of each pair is kept for the next call).
  [[nodiscard]] double normal() {
    if (has_spare_) {
      has_spare_ = false;
      return spare_;
    }
    double u1 = uniform();
    while (u1 <= 0.0) u1 = uniform();
    const double u2 = uniform();
    const double r = std::sqrt(-2.0 * std::log(u1));
    spare_ = r * std::sin(2.0 * std::numbers::pi * u2);
    has_spare_ = true;
    return r * std::cos(2.0 * std::numbers::pi * u2);
  }

 private:
  static std::uint64_t rotl(std::uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  std::uint64_t s_[4]{};
  double spare_ = 0.0;
  bool has_spare_ = false;
};

enum class Verdict : std::uint8_t { kForward, kCut, kLoss, kQueue };

class LinkModel {
 public:
  void set_params(const LinkParams& p) { p_ = p; }
  [[nodiscard]] const LinkParams& params() const { return p_; }
  void reseed(std::uint64_t seed) { rng_.reseed(seed); }

  // Decides the fate of one frame of `frame_bytes` that arrived at `arrival_ns`; on kForward
  // `release_ns` is when it must leave. Frames must be passed in arrival order.
  [[nodiscard]] Verdict admit(std::int64_t arrival_ns, std::uint32_t frame_bytes,
                              std::int64_t& release_ns) {
    if (p_.cut) [[unlikely]] return Verdict::kCut;
    if (p_.loss > 0.0 && rng_.uniform() < p_.loss) return Verdict::kLoss;
    std::int64_t departure = arrival_ns;
    if (p_.rate_bps != 0) {
      const std::int64_t serialize_ns = static_cast<std::int64_t>(
          (std::uint64_t{frame_bytes} * 8u * 1'000'000'000u + p_.rate_bps - 1) / p_.rate_bps);
      const std::int64_t start = std::max(arrival_ns, link_free_ns_);
      const std::int64_t wait_ns = start - arrival_ns;
      if (wait_ns > 0 && wait_ns + serialize_ns > queue_limit_ns()) return Verdict::kQueue;
      link_free_ns_ = start + serialize_ns;
      departure = link_free_ns_;
    }
    std::int64_t release = departure + p_.delay_ns + jitter_sample_ns();
    release = std::max({release, departure, last_release_ns_});
    last_release_ns_ = release;
    release_ns = release;
    return Verdict::kForward;
  }

  // Bottleneck backlog in ns at `now_ns` (what a new frame would wait for the link).
  [[nodiscard]] std::int64_t backlog_ns(std::int64_t now_ns) const {
    return p_.rate_bps != 0 ? std::max<std::int64_t>(0, link_free_ns_ - now_ns) : 0;
  }

 private:
  [[nodiscard]] std::int64_t queue_limit_ns() const {
    if (p_.queue_bytes == 0) return p_.queue_ns;
    const double ns = static_cast<double>(p_.queue_bytes) * 8e9 / static_cast<double>(p_.rate_bps);
    return ns > 9e18 ? std::numeric_limits<std::int64_t>::max() : static_cast<std::int64_t>(ns);
  }
  [[nodiscard]] std::int64_t jitter_sample_ns() {
    if (p_.jitter_ns <= 0) return 0;
    const double j = static_cast<double>(p_.jitter_ns);
    return static_cast<std::int64_t>(p_.jitter_normal ? rng_.normal() * j
                                                      : (rng_.uniform() * 2.0 - 1.0) * j);
  }

  LinkParams p_;
  Rng rng_;
  std::int64_t link_free_ns_ = 0;
  std::int64_t last_release_ns_ = 0;
};

// Histogram of non-negative microsecond values: 1 us buckets below 1024 us, then 64
// sub-buckets per power of two (< 1.6 % relative error) up to ~2^31 us. One writer thread
// (plain relaxed load + store, no read-modify-write), any number of relaxed readers; a reader
// may see a record half-applied (count without its bucket), which only blurs one sample.
class Histogram {
 public:
  static constexpr int kLinear = 1024;
  static constexpr int kSub = 64;
  static constexpr int kOctaves = 22;  // 2^10 .. 2^31 us
  static constexpr int kBuckets = kLinear + kOctaves * kSub;

  void record(std::int64_t us) {
    if (us < 0) us = 0;
    bump(buckets_[index_of(static_cast<std::uint64_t>(us))]);
    bump(count_);
    if (static_cast<std::uint64_t>(us) > max_.load(std::memory_order_relaxed))
      max_.store(static_cast<std::uint64_t>(us), std::memory_order_relaxed);
  }
  void reset() {  // writer thread only
    for (auto& b : buckets_) b.store(0, std::memory_order_relaxed);
    count_.store(0, std::memory_order_relaxed);
    max_.store(0, std::memory_order_relaxed);
  }
  [[nodiscard]] std::uint64_t count() const { return count_.load(std::memory_order_relaxed); }
  [[nodiscard]] std::uint64_t max() const { return max_.load(std::memory_order_relaxed); }
  // The value below which a fraction q of the samples lie (bucket's lower bound).
  [[nodiscard]] std::uint64_t quantile(double q) const {
    std::uint64_t total = 0;
    for (const auto& b : buckets_) total += b.load(std::memory_order_relaxed);
    if (total == 0) return 0;
    const auto rank = static_cast<std::uint64_t>(std::ceil(q * static_cast<double>(total)));
    std::uint64_t seen = 0;
    for (int i = 0; i < kBuckets; ++i) {
      seen += buckets_[i].load(std::memory_order_relaxed);
      if (seen >= std::max<std::uint64_t>(rank, 1)) return lower_bound_of(i);
    }
    return max();
  }

  [[nodiscard]] static int index_of(std::uint64_t us) {
    if (us < kLinear) return static_cast<int>(us);
    const int octave = 63 - __builtin_clzll(us);  // >= 10
    if (octave >= 10 + kOctaves) return kBuckets - 1;
    const int sub = static_cast<int>((us >> (octave - 6)) & (kSub - 1));
    return kLinear + (octave - 10) * kSub + sub;
  }
  [[nodiscard]] static std::uint64_t lower_bound_of(int index) {
    if (index < kLinear) return static_cast<std::uint64_t>(index);
    const int octave = 10 + (index - kLinear) / kSub;
    const std::uint64_t sub = static_cast<std::uint64_t>((index - kLinear) % kSub);
    return (std::uint64_t{1} << octave) + (sub << (octave - 6));
  }

 private:
  static void bump(std::atomic<std::uint64_t>& a) {
    a.store(a.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  }
  std::atomic<std::uint64_t> buckets_[kBuckets]{};
  std::atomic<std::uint64_t> count_{0};
  std::atomic<std::uint64_t> max_{0};
};

}  // namespace mpt::delayline
