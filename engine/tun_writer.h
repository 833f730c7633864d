// TunWriter: the receive side's last stage, one thread.
//
// Stages, one loop turn (run()):
//   1. reap CQEs: each completed TUN write frees its buffer, which goes home to the path
//      worker it came from (that path's rx return ring) -- only after the kernel is done;
//   2. pop a batch from every path's rx ring (producers: the path workers) and prepare one
//      WRITE per packet (the reorder stage of the multipath work goes here, in one place);
//   3. ring the doorbells of paths that got buffers back, submit and wait: one syscall.
//
// Ownership: a buffer is held from rx-ring pop until its write completes, then returned.
#pragma once

#include <array>
#include <span>
#include <vector>

#include "engine/buffer_pool.h"
#include "engine/stats.h"
#include "engine/uring.h"

namespace mpt::engine {

class PathWorker;

class TunWriter {
 public:
  TunWriter(int tun_fd, std::span<PathWorker* const> paths, int stop_fd);
  TunWriter(const TunWriter&) = delete;
  TunWriter& operator=(const TunWriter&) = delete;

  void run();  // thread body
  Doorbell& doorbell() { return bell_; }
  RxStats& stats() { return stats_; }

 private:
  void handle_write(const io_uring_cqe& cqe);
  void flush_returns();
  void write_batches();

  const int tun_fd_;
  std::vector<PathWorker*> paths_;
  Uring ring_;
  Doorbell bell_;
  std::vector<std::array<PacketBuf*, kBatchMax>> returns_;  // per path
  std::vector<std::size_t> returns_len_;
  std::size_t writes_in_flight_ = 0;
  RxStats stats_;
};

}  // namespace mpt::engine
