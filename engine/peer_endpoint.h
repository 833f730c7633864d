// PeerEndpoint: where a path's peer is now -- an IPv4 or IPv6 address and UDP port that the
// control thread may change while the data plane runs (address learning and roaming: the peer
// behind a NAT whose mapping changed, a peer whose interface got a new address; see
// docs/protocol.md "Addresses"). Unknown (length 0) until configured or learned.
//
// One writer (the control thread), any number of lock-free readers (the path worker before
// each batch of sends, the TUN writer for repair requests, the control thread): a seqlock
// over three atomic words, so no plain memory is shared (TSan-clean) and a reader never sees
// half an address.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <array>
#include <atomic>
#include <cstdint>
#include <cstring>

namespace mpt::engine {

class PeerEndpoint {
 public:
  PeerEndpoint() = default;
  PeerEndpoint(const sockaddr_storage& a, socklen_t len) { store(a, len); }

  // Writer only. len 0 (or a family other than AF_INET/AF_INET6): unknown.
  void store(const sockaddr_storage& a, socklen_t len) {
    std::uint64_t w0 = 0, w1 = 0, w2 = 0;
    if (len > 0 && a.ss_family == AF_INET) {
      const auto& v4 = reinterpret_cast<const sockaddr_in&>(a);
      w0 = pack(AF_INET, v4.sin_port, 0);
      std::memcpy(&w1, &v4.sin_addr, 4);
    } else if (len > 0 && a.ss_family == AF_INET6) {
      const auto& v6 = reinterpret_cast<const sockaddr_in6&>(a);
      w0 = pack(AF_INET6, v6.sin6_port, v6.sin6_scope_id);
      std::memcpy(&w1, v6.sin6_addr.s6_addr, 8);
      std::memcpy(&w2, v6.sin6_addr.s6_addr + 8, 8);
    }
    const std::uint64_t s = seq_.load(std::memory_order_relaxed);
    seq_.store(s + 1, std::memory_order_relaxed);
    std::atomic_thread_fence(std::memory_order_release);
    w_[0].store(w0, std::memory_order_relaxed);
    w_[1].store(w1, std::memory_order_relaxed);
    w_[2].store(w2, std::memory_order_relaxed);
    seq_.store(s + 2, std::memory_order_release);
  }

  // Any thread: the endpoint as of now into `out`; returns its length (0: unknown).
  socklen_t load(sockaddr_storage& out) const {
    std::uint64_t w0, w1, w2;
    for (;;) {
      const std::uint64_t s1 = seq_.load(std::memory_order_acquire);
      if (s1 & 1) continue;  // a store is in progress (three relaxed stores: very short)
      w0 = w_[0].load(std::memory_order_relaxed);
      w1 = w_[1].load(std::memory_order_relaxed);
      w2 = w_[2].load(std::memory_order_relaxed);
      std::atomic_thread_fence(std::memory_order_acquire);
      if (seq_.load(std::memory_order_relaxed) == s1) break;
    }
    std::memset(&out, 0, sizeof out);
    const auto family = static_cast<sa_family_t>(w0 & 0xFFFF);
    const auto port = static_cast<in_port_t>((w0 >> 16) & 0xFFFF);
    if (family == AF_INET) {
      auto& v4 = reinterpret_cast<sockaddr_in&>(out);
      v4.sin_family = AF_INET;
      v4.sin_port = port;
      std::memcpy(&v4.sin_addr, &w1, 4);
      return sizeof(sockaddr_in);
    }
    if (family == AF_INET6) {
      auto& v6 = reinterpret_cast<sockaddr_in6&>(out);
      v6.sin6_family = AF_INET6;
      v6.sin6_port = port;
      v6.sin6_scope_id = static_cast<std::uint32_t>(w0 >> 32);
      std::memcpy(v6.sin6_addr.s6_addr, &w1, 8);
      std::memcpy(v6.sin6_addr.s6_addr + 8, &w2, 8);
      return sizeof(sockaddr_in6);
    }
    return 0;
  }

  // Changes with every store (even: stable). A reader that keeps a copy refreshes it when
  // this differs from the version it copied.
  [[nodiscard]] std::uint64_t version() const { return seq_.load(std::memory_order_acquire); }

 private:
  static std::uint64_t pack(sa_family_t family, in_port_t port_be, std::uint32_t scope) {
    return std::uint64_t{family} | (std::uint64_t{port_be} << 16) | (std::uint64_t{scope} << 32);
  }
  std::atomic<std::uint64_t> seq_{0};
  std::array<std::atomic<std::uint64_t>, 3> w_{};
};

// Same address and port (IPv4 or IPv6; an IPv6 scope id counts). Unknown never matches.
[[nodiscard]] inline bool same_endpoint(const sockaddr* a, socklen_t alen,
                                        const sockaddr_storage& b, socklen_t blen) {
  if (alen == 0 || blen == 0 || a->sa_family != b.ss_family) return false;
  if (a->sa_family == AF_INET) {
    const auto* x = reinterpret_cast<const sockaddr_in*>(a);
    const auto& y = reinterpret_cast<const sockaddr_in&>(b);
    return x->sin_port == y.sin_port && x->sin_addr.s_addr == y.sin_addr.s_addr;
  }
  if (a->sa_family == AF_INET6) {
    const auto* x = reinterpret_cast<const sockaddr_in6*>(a);
    const auto& y = reinterpret_cast<const sockaddr_in6&>(b);
    return x->sin6_port == y.sin6_port && x->sin6_scope_id == y.sin6_scope_id &&
           std::memcmp(&x->sin6_addr, &y.sin6_addr, sizeof x->sin6_addr) == 0;
  }
  return false;
}

}  // namespace mpt::engine
