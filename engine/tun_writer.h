// TunWriter: the receive side's last stage, one thread.
//
// Stages, one loop turn (run()):
//   1. reap CQEs: each completed TUN write frees its buffer, which goes home to the path
//      worker it came from (that path's rx return ring) -- only after the kernel is done; a
//      timer completion means a reorder deadline passed;
//   2. pop a batch from every path's rx ring (producers: the path workers) and pass each
//      packet through its connection's reorder stage (scheduler::Reorder) -- order is restored
//      here and only here -- then prepare one WRITE per deliverable packet;
//   3. give up on gaps whose max_delay passed (expire) and arm a timer for the next deadline;
//   4. ring the doorbells of paths that got buffers back, submit and wait: one syscall.
//
// Ownership: a buffer is held from rx-ring pop until its write completes (or while the
// reorder stage holds it), then returned.
#pragma once

#include <linux/time_types.h>

#include <array>
#include <memory>
#include <span>
#include <vector>

#include "engine/buffer_pool.h"
#include "engine/stats.h"
#include "engine/tunnel_spec.h"
#include "engine/uring.h"
#include "scheduler/reorder.h"

namespace mpt::engine {

class PathWorker;

// Reorder counters of one connection, published by the TUN writer once per loop turn.
struct ReorderCounters {
  Counter in_order{0}, reordered{0}, late{0}, duplicate{0}, lost{0}, timeouts{0}, resyncs{0};
  Counter held{0};
};

class TunWriter {
 public:
  TunWriter(const TunnelSpec& tunnel, int tun_fd, std::span<PathWorker* const> paths,
            int stop_fd);
  TunWriter(const TunWriter&) = delete;
  TunWriter& operator=(const TunWriter&) = delete;

  void run();  // thread body
  Doorbell& doorbell() { return bell_; }
  RxStats& stats() { return stats_; }
  [[nodiscard]] const ReorderCounters& reorder_counters(std::size_t connection) const {
    return *reorder_counters_.at(connection);
  }
  [[nodiscard]] bool reorders(std::size_t connection) const {
    return reorder_.at(connection) != nullptr;
  }

  // The reorder stage's sink: deliver = write to the TUN, discard = return the buffer.
  void deliver(PacketBuf* b);
  void discard(PacketBuf* b) { give_back(b); }

 private:
  void handle_write(const io_uring_cqe& cqe);
  void give_back(PacketBuf* b);
  void flush_returns();
  void take_batches(std::uint64_t now_ns);
  void expire_and_arm_timer(std::uint64_t now_ns);
  void publish_reorder_counters();

  const TunnelSpec& tunnel_;
  const int tun_fd_;
  std::vector<PathWorker*> paths_;
  Uring ring_;
  Doorbell bell_;
  std::vector<std::array<PacketBuf*, kBatchMax>> returns_;  // per path
  std::vector<std::size_t> returns_len_;
  std::size_t writes_in_flight_ = 0;
  std::vector<std::unique_ptr<scheduler::Reorder<PacketBuf*>>> reorder_;  // per connection
  std::vector<std::unique_ptr<ReorderCounters>> reorder_counters_;
  std::uint64_t timer_deadline_ns_ = scheduler::Reorder<PacketBuf*>::kNever;
  int timers_in_flight_ = 0;
  __kernel_timespec timer_ts_{};
  RxStats stats_;
};

}  // namespace mpt::engine
