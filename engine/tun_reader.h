// TunReader: the transmit side's first stage, one thread.
//
// Stages, one loop turn (run()):
//   1. reap CQEs: each multishot TUN read completion is one inner packet, read into a
//      provided buffer at kTxHeadroom;
//   2. classify (IPv4/IPv6, size), find the connection (longest prefix match on the inner
//      destination), let its scheduler::PathChooser pick the path, prepend the GRE header in
//      place (sequence numbers are assigned here and only here, one counter per connection),
//      and pick the source port by flow hash;
//   3. push per-path batches into the paths' tx rings and ring their doorbells;
//   4. take back the buffers the paths have sent (tx return rings) into the provided ring;
//   5. submit and wait, one syscall.
//
// Ownership: the reader owns the TX pool; its buffers are in the kernel's provided ring,
// in a path's tx ring, or in flight in a path worker until it returns them.
// Overflow policy: a full tx ring drops the newest packets (tx_drop_ring_full).
#pragma once

#include <array>
#include <span>
#include <vector>

#include "engine/buffer_pool.h"
#include "engine/connection_table.h"
#include "scheduler/path_chooser.h"
#include "engine/stats.h"
#include "engine/tunnel_spec.h"
#include "engine/uring.h"

namespace mpt::engine {

class PathWorker;

class TunReader {
 public:
  TunReader(const TunnelSpec& tunnel, int tun_fd, std::span<PathWorker* const> paths, int stop_fd);
  TunReader(const TunReader&) = delete;
  TunReader& operator=(const TunReader&) = delete;

  void run();  // thread body; returns after the stop eventfd fires
  Doorbell& doorbell() { return bell_; }
  TxStats& stats() { return stats_; }
  [[nodiscard]] const BufferPool& pool() const { return pool_; }
  [[nodiscard]] std::size_t pool_in_kernel_low_water() const { return in_kernel_low_water_; }

 private:
  void arm_read();
  void handle_read(const io_uring_cqe& cqe);
  void flush_path_batches();
  void drain_returns();
  void recycle(PacketBuf* b);
  // Control rate: new weight / state for path `path` (global index). Not thread-safe: called
  // on this thread (signalling hands changes over through a command ring).
  void set_path_state(int path, std::uint32_t weight, bool up);

  const TunnelSpec& tunnel_;
  const int tun_fd_;
  std::vector<PathWorker*> paths_;
  Uring ring_;
  BufferPool pool_;
  ProvidedBuffers provided_;
  bool read_armed_ = false;
  struct Connection {
    scheduler::PathChooser chooser;
    std::vector<scheduler::PathState> states;  // this connection's paths, in [path_N] order
    std::uint32_t next_seq = 0;
  };
  std::vector<Connection> connections_;
  ConnectionTable table_;
  std::size_t in_kernel_ = 0;
  std::size_t in_kernel_low_water_ = 0;
  Doorbell bell_;
  // One staging batch per path.
  std::vector<std::array<PacketBuf*, kBatchMax>> path_batch_;
  std::vector<std::size_t> path_batch_len_;
  TxStats stats_;
};

}  // namespace mpt::engine
