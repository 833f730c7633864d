// PathChannel: what the TUN reader and the TUN writer see of a path -- its rings, its
// doorbell, its state flags and estimates, its counters -- and nothing of its sockets,
// io_uring or thread. PathWorker is one (it derives from it and serves the rings); a unit
// test makes its own and plays the path itself (tests/unit/engine/tun_stage_test.cpp):
// pops the reader's batches, returns them sent or unsent, pushes received packets for the
// writer, without root, sockets or a TUN device.
//
// Rings (each single producer, single consumer), one set per TUN queue q: the reader and
// writer of queue q use set q only, the path worker serves every set.
//   tx_ring          TUN reader q -> path   send batches
//   tx_return_ring   path -> TUN reader q   batches sent (or returned unsent: PacketBuf::unsent)
//   rx_ring          path -> TUN writer q   received inner packets (PacketRef) of the
//                                           sequence spaces writer q owns (space mod queues)
//   rx_return_ring   TUN writer q -> path   receive buffers it is done with
//   repair_ring      path -> TUN reader q   the peer's repair requests (NACK) for space q
// A client slot in server mode shares its listener's doorbell, socket and starving flag
// (host_channel_), and has its own rings.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <vector>

#include "engine/buffer_pool.h"
#include "engine/peer_endpoint.h"
#include "engine/stats.h"
#include "engine/uring.h"

namespace mpt::engine {

class PathChannel {
 public:
  // A channel of path slot `path_index` of connection `connection`. Standalone (a test's),
  // it has its own doorbell (ring_fd -1 until set) and no socket.
  // With `queues` TUN queues it has one ring set per queue.
  PathChannel(int path_index, int connection, int queues = 1)
      : path_index_(path_index), connection_(connection) {
    // Default-initialized, not value-initialized (make_unique would zero the ~1.4 MB of ring
    // storage and make every page resident: a server's client slots would each cost that).
    for (int q = 0; q < queues; ++q) rings_.push_back(std::unique_ptr<QueueRings>(new QueueRings));
  }
  PathChannel(const PathChannel&) = delete;
  PathChannel& operator=(const PathChannel&) = delete;

  [[nodiscard]] int queue_count() const { return static_cast<int>(rings_.size()); }
  DataRing& tx_ring(int q = 0) { return rings_[static_cast<std::size_t>(q)]->tx; }
  ReturnRing& tx_return_ring(int q = 0) { return rings_[static_cast<std::size_t>(q)]->tx_return; }
  RefRing& rx_ring(int q = 0) { return rings_[static_cast<std::size_t>(q)]->rx; }
  ReturnRing& rx_return_ring(int q = 0) { return rings_[static_cast<std::size_t>(q)]->rx_return; }
  RepairRing& repair_ring(int q = 0) { return rings_[static_cast<std::size_t>(q)]->repair; }
  Doorbell& doorbell() { return host_channel_->bell_; }
  PathStats& stats() { return stats_; }
  [[nodiscard]] const PathStats& stats() const { return stats_; }
  [[nodiscard]] int path_index() const { return path_index_; }
  [[nodiscard]] int connection() const { return connection_; }

  // Where the peer is now (any thread reads; the control thread writes).
  PeerEndpoint& endpoint() { return endpoint_; }
  [[nodiscard]] const PeerEndpoint& endpoint() const { return endpoint_; }
  // The socket control messages and repair requests are sent on (-1: none, a path that
  // waits for its interface, or a test's channel).
  [[nodiscard]] int control_socket() const { return host_channel_->recv_fd_; }
  [[nodiscard]] bool has_sockets() const { return host_channel_->recv_fd_ >= 0; }

  // The path's usability as the control thread decided it. While down, the path returns
  // the batches it pops unsent.
  void set_down(bool down) { down_.store(down, std::memory_order_release); }
  [[nodiscard]] bool down() const { return down_.load(std::memory_order_acquire); }

  // TUN writer: the path ran out of receive buffers and sleeps until some come back -- the
  // one case where returning buffers must wake it. Call after pushing the returns: the
  // fences here and in the path (flag store, fence, drain) make sure that either the path's
  // drain sees the push or this sees the flag.
  [[nodiscard]] bool take_starving() {
    std::atomic_thread_fence(std::memory_order_seq_cst);
    std::atomic<bool>& s = host_channel_->starving_;
    return s.load(std::memory_order_relaxed) && s.exchange(false, std::memory_order_acq_rel);
  }

  // The adaptive scheduler's view of this path (signaling's PathEstimator), control thread ->
  // TUN reader. Latest value wins: no ring, nothing to lose when the reader sleeps. The
  // fields are independent relaxed stores; the version is stored last with release, so a
  // reader that sees a new version (acquire) sees at least the fields written with it.
  struct Estimate {
    double rate_bps = 0;               // 0 = no estimate yet
    std::uint64_t one_way_delay_ns = 0;
    std::uint64_t penalty_ns = 0;      // extra expected delay (loss)
    std::uint64_t queue_ns = 0;        // queue the probes measured (smoothed RTT - min RTT)
    std::uint64_t pace_target_ns = 0;  // queue to keep at its bottleneck (0 = not one)
  };
  void publish_estimate(const Estimate& e) {
    est_rate_bps_.store(e.rate_bps, std::memory_order_relaxed);
    est_delay_ns_.store(e.one_way_delay_ns, std::memory_order_relaxed);
    est_penalty_ns_.store(e.penalty_ns, std::memory_order_relaxed);
    est_queue_ns_.store(e.queue_ns, std::memory_order_relaxed);
    est_pace_target_ns_.store(e.pace_target_ns, std::memory_order_relaxed);
    est_version_.fetch_add(1, std::memory_order_release);
  }
  [[nodiscard]] std::uint64_t estimate_version() const {
    return est_version_.load(std::memory_order_acquire);
  }
  [[nodiscard]] Estimate estimate() const {
    return {est_rate_bps_.load(std::memory_order_relaxed),
            est_delay_ns_.load(std::memory_order_relaxed),
            est_penalty_ns_.load(std::memory_order_relaxed),
            est_queue_ns_.load(std::memory_order_relaxed),
            est_pace_target_ns_.load(std::memory_order_relaxed)};
  }
  // Control thread -> TUN reader: everything this path sent before `ns` (CLOCK_MONOTONIC)
  // has reached the peer or was lost on the way -- a probe sent then has been answered, and
  // the path is FIFO. The reader keeps what was sent later for reinjection (relaxed: a stale
  // value only keeps a few batches longer).
  void publish_confirmed(std::uint64_t ns) { confirmed_ns_.store(ns, std::memory_order_relaxed); }
  [[nodiscard]] std::uint64_t confirmed_ns() const {
    return confirmed_ns_.load(std::memory_order_relaxed);
  }
  // Path worker -> TUN reader: the longest UDP payload the kernel sends on this path, learned
  // when it refused longer ones (EMSGSIZE: a path MTU from an ICMPv6 Packet Too Big, or an
  // interface smaller than the tunnel mtu); the reader cuts TCP super-packets to fit
  // (Segmenter::cap). It holds for kDatagramLimitNs, as long as the kernel keeps a learned
  // path MTU: then full-size datagrams are tried again (and refused and learned again if the
  // path still cannot carry them) -- a forged Packet Too Big costs no more than the kernel's.
  static constexpr std::uint64_t kDatagramLimitNs = 600'000'000'000;
  void publish_datagram_limit(std::uint32_t bytes, std::uint64_t now_ns) {
    datagram_limit_until_ns_.store(now_ns + kDatagramLimitNs, std::memory_order_relaxed);
    datagram_limit_.store(bytes, std::memory_order_relaxed);
  }
  // 0: no limit (none refused, or it expired).
  [[nodiscard]] std::uint32_t datagram_limit(std::uint64_t now_ns) const {
    const std::uint32_t l = datagram_limit_.load(std::memory_order_relaxed);
    if (l == 0 || now_ns >= datagram_limit_until_ns_.load(std::memory_order_relaxed)) return 0;
    return l;
  }

 protected:
  struct QueueRings {
    DataRing tx;
    ReturnRing tx_return;
    RefRing rx;
    ReturnRing rx_return;
    RepairRing repair;
  };
  std::vector<std::unique_ptr<QueueRings>> rings_;  // per TUN queue, fixed at construction
  Doorbell bell_;
  std::atomic<bool> starving_{false};
  int recv_fd_ = -1;                      // the receive socket (host's for a client slot)
  PathChannel* host_channel_ = this;      // who carries this path: itself, or a listener
  PeerEndpoint endpoint_;
  PathStats stats_;
  int path_index_;
  int connection_;
  std::atomic<bool> down_{false};
  std::atomic<double> est_rate_bps_{0};
  std::atomic<std::uint64_t> est_delay_ns_{0};
  std::atomic<std::uint64_t> est_penalty_ns_{0};
  std::atomic<std::uint64_t> est_pace_target_ns_{0};
  std::atomic<std::uint64_t> est_queue_ns_{0};
  std::atomic<std::uint64_t> est_version_{0};
  std::atomic<std::uint64_t> confirmed_ns_{0};
  std::atomic<std::uint32_t> datagram_limit_{0};
  std::atomic<std::uint64_t> datagram_limit_until_ns_{0};
};

}  // namespace mpt::engine
