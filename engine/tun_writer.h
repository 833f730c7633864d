// TunWriter: the receive side's last stage, one thread.
//
// Stages, one loop turn (run()):
//   1. reap CQEs: a completed TUN write frees its output buffer; a timer completion means a
//      reorder deadline passed;
//   2. pop PacketRefs from every path's rx ring (producers: the path workers) and pass each
//      through its connection's reorder stage (scheduler::Reorder) -- order is restored here
//      and only here. A packet the stage must hold is copied into the hold pool first, so the
//      window never pins a path's receive buffer;
//   3. deliverable packets go to the Coalescer (tun_offload.h): consecutive TCP segments of
//      one flow become one super-packet with a virtio header (GSO), the rest go alone; each
//      output is one WRITEV on the TUN gathered from where the packets lie (receive buffers,
//      hold buffers): only the first segment's headers are copied. The packets' refs are
//      kept with the output until the write completes, then released (their refcount);
//   4. give up on gaps whose max_delay passed (expire) and arm a timer for the next deadline;
//   5. ring the doorbells of paths that got buffers back, submit and wait: one syscall.
//
// Ownership: the writer owns the output pool and the hold pool. Receive buffers are shared
// through PacketBuf::refs with their path worker: the writer drops one ref per packet copied
// or discarded, and the one that reaches zero sends the buffer home.
#pragma once

#include <linux/time_types.h>

#include <array>
#include <deque>
#include <memory>
#include <optional>
#include <span>
#include <vector>

#include "engine/buffer_pool.h"
#include "engine/connection_table.h"
#include "engine/counter_window.h"
#include "engine/sealed_packet.h"
#include "engine/session_keys.h"
#include "engine/repair_message.h"
#include "engine/stats.h"
#include "engine/tun_offload.h"
#include "engine/tunnel_spec.h"
#include "engine/uring.h"
#include "scheduler/reorder.h"

namespace mpt::engine {

class PathChannel;

// Reorder counters of one connection, published by the TUN writer once per loop turn.
struct ReorderCounters {
  Counter in_order{0}, reordered{0}, late{0}, duplicate{0}, lost{0}, timeouts{0}, resyncs{0};
  Counter held{0}, overflows{0}, nacked{0}, nack_retried{0}, nack_filled{0},
      nack_refused{0};
  Counter max_delay_us{0};  // the wait in force (configured or derived)
};

class TunWriter {
 public:
  // The writer of TUN queue `queue` (its fd is tun_fd): it takes the paths' ring set `queue`,
  // which carries the sequence spaces s with s mod queues == queue, and restores the order of
  // each (connection, space) in a reorder stage of its own.
  TunWriter(const TunnelSpec& tunnel, int tun_fd, bool vnet_hdr,
            std::span<PathChannel* const> paths, int stop_fd, int queue = 0);
  TunWriter(const TunWriter&) = delete;
  TunWriter& operator=(const TunWriter&) = delete;

  void run();  // thread body
  Doorbell& doorbell() { return bell_; }
  RxStats& stats() { return stats_; }
  [[nodiscard]] const ReorderCounters& reorder_counters(std::size_t connection) const {
    return *reorder_counters_.at(connection);
  }
  [[nodiscard]] bool reorders(std::size_t connection) const {
    for (std::size_t sp = 0; sp < kSpaces; ++sp) {
      const std::size_t k = connection * kSpaces + sp;
      if (k < reorder_.size() && reorder_[k]) return true;
    }
    return false;
  }
  [[nodiscard]] int queue() const { return queue_; }
  [[nodiscard]] const BufferPool& output_pool() const { return output_pool_; }
  [[nodiscard]] const BufferPool& hold_pool() const { return hold_pool_; }

  // Control thread: a new reorder wait for a connection, applied at the next loop turn.
  // Each post_* returns false if the command queue was full (the caller retries later).
  bool post_max_delay(std::size_t connection, std::uint64_t max_delay_ns) {
    return delay_commands_.push({connection, DelayCommand::kMaxDelay, max_delay_ns, 0, 0, -1});
  }
  // Control thread: the least lag the reorder stage assumes for local path `path`.
  bool post_lag_floor(std::size_t connection, int path, std::uint64_t lag_ns) {
    return delay_commands_.push({connection, DelayCommand::kLagFloor, lag_ns, 0, 0, path});
  }
  // Control thread: local path `path` was declared down; its gaps wait hold_ns at most.
  bool post_path_died(std::size_t connection, int path, std::uint64_t hold_ns) {
    return delay_commands_.push({connection, DelayCommand::kDied, hold_ns, 0, 0, path});
  }
  // Control thread: the repair timing (Reorder::set_repair) from the measured round trips.
  bool post_repair(std::size_t connection, std::uint64_t nack_floor_ns, std::uint64_t wait_ns,
                   std::uint64_t min_ns) {
    return delay_commands_.push({connection, DelayCommand::kRepair, nack_floor_ns, wait_ns, min_ns, -1});
  }

  // Control thread: the connection's peer restarted (a new session): the reorder stage
  // restarts its sequence at the next packet (Reorder::peer_restarted).
  bool post_peer_restarted(std::size_t connection) {
    return delay_commands_.push({connection, DelayCommand::kPeerRestarted, 0, 0, 0, -1});
  }

  // Engine::reconfigure, with every data-plane thread paused (see TunReader for the order):
  //  detach_path(): path `slot` is being removed -- what it received is processed as usual,
  //    and held packets that point into its receive buffers are copied out;
  //  reconfigure(): per-path state follows the slots; connections that stay keep their
  //    reorder stage (its per-path knowledge remapped), removed ones deliver what they hold.
  void detach_path(int slot);
  void reconfigure(const TunnelSpec& old, std::span<PathChannel* const> slots);
  // Engine, before start: every connection slot's session keys.
  void set_keys(const std::deque<SessionKeys>* keys) { keys_ = keys; }

  // The reorder stage's sink (see scheduler/reorder.h).
  void deliver(const PacketRef& r);
  void discard(const PacketRef& r) { release(r); }
  [[nodiscard]] PacketRef hold(const PacketRef& r);
  // Asks the peer for numbers first .. first + count - 1 of the connection being processed
  // (sink_conn_) again: collected per connection, sent at the end of the loop turn.
  void nack(std::uint32_t first, std::uint32_t count, std::uint8_t attempt);

 private:
  void handle_write(const io_uring_cqe& cqe);
  void wait_for_output_buffer();
  void wait_for_writes();
  void handle_cqe(const io_uring_cqe& cqe);  // one completion, as the loop handles it
  bool stop_requested_ = false;              // a kStop completion was reaped
  void release(const PacketRef& r);
  void finish_output();
  void flush_returns();
  void take_batches(std::uint64_t now_ns);
  void take_from(PathChannel& w, std::uint64_t now_ns);
  [[nodiscard]] PacketRef copy_out(const PacketRef& r);
  void expire_and_arm_timer(std::uint64_t now_ns);
  void publish_reorder_counters();
  void send_nacks();
  void send_nack(std::size_t stage);

  const TunnelSpec& tunnel_;
  const int queue_;  // which TUN queue this writer serves
  const int tun_fd_;
  const bool vnet_hdr_;
  const int stop_fd_;
  std::vector<PathChannel*> paths_;  // by path index; null for a slot a reload freed
  Uring ring_;
  Doorbell bell_;
  BufferPool output_pool_;  // one TUN write each; its index names its OutputSlot
  BufferPool hold_pool_;    // copies of packets the reorder stage holds
  PacketBuf* output_ = nullptr;  // being filled by coalescer_
  // What an output buffer's write consists of: the gathered iovecs (with the copied headers)
  // and the packets it points into, released when the write completes.
  struct OutputSlot {
    GatherWrite write;
    std::array<PacketRef, kCoalesceMaxSegments> refs{};
    std::size_t ref_count = 0;
  };
  std::vector<OutputSlot> output_slots_;  // by output buffer index
  [[nodiscard]] OutputSlot& slot_of(const PacketBuf* b) { return output_slots_[b->index]; }
  Coalescer coalescer_;
  std::vector<std::array<PacketBuf*, kBatchMax>> returns_;  // per path
  std::vector<std::size_t> returns_len_;
  std::size_t writes_in_flight_ = 0;
  bool paused_ = false;  // Engine::reconfigure is running us from the control thread
  // Reorder stages by connection and sequence space: reorder_[c * kSpaces + space] (null for
  // spaces this writer does not own, or has seen nothing of yet).
  static constexpr std::size_t kSpaces = static_cast<std::size_t>(kMaxQueues);
  std::vector<std::unique_ptr<scheduler::Reorder<PacketRef>>> reorder_;
  std::size_t sink_stage_ = 0;  // the stage running (nack())
  void set_sink(std::size_t stage) {
    sink_stage_ = stage;
    sink_conn_ = stage / kSpaces;
  }
  [[nodiscard]] std::unique_ptr<scheduler::Reorder<PacketRef>> make_stage(const ConnectionSpec& c);
  [[nodiscard]] scheduler::Reorder<PacketRef>* stage_for(std::size_t connection, std::uint8_t space);
  std::vector<std::unique_ptr<ReorderCounters>> reorder_counters_;
  std::uint64_t timer_deadline_ns_ = scheduler::Reorder<PacketRef>::kNever;
  int timers_in_flight_ = 0;
  __kernel_timespec timer_ts_{};
  struct DelayCommand {
    enum Kind : std::uint8_t { kMaxDelay, kLagFloor, kDied, kRepair, kPeerRestarted };
    std::size_t connection = 0;
    Kind kind = kMaxDelay;
    std::uint64_t ns = 0;   // the max delay, the lag floor of `path`, its hold (died), or the
                            // repair's NACK floor
    std::uint64_t ns2 = 0;  // the repair wait
    std::uint64_t ns3 = 0;  // the repair's least round trip
    int path = -1;
  };
  // Repair requests being collected (per reorder stage) and the buffers NACKs are sent from
  // (each in flight until its send completes; none free: the NACK is dropped and counted).
  struct PendingNacks {
    std::array<NackRange, kNackMaxRanges> ranges{};
    std::size_t count = 0;
  };
  std::vector<PendingNacks> pending_nacks_;  // per reorder stage (connection, space)
  std::size_t sink_conn_ = 0;  // the connection whose reorder stage is running (nack())
  // Keyed connections: the replay window per (connection, key slot, nonce space), checked
  // before the reorder stage (take_from) -- a sealed packet opened by a path worker is
  // delivered only once, whichever path it came on; and the repair requests' sealers.
  static constexpr std::size_t kDataSpaces = 4;
  static constexpr std::size_t kReplayBits = 16384;  // 2 x kMaxReorderWindow
  using ConnectionReplay =
      std::array<std::array<KeyedCounterWindow<kReplayBits>, kDataSpaces>, SessionKeys::kRxSlots>;
  std::vector<std::unique_ptr<ConnectionReplay>> replay_;
  std::vector<TxSealer> nack_sealers_;
  const std::deque<SessionKeys>* keys_ = nullptr;
  [[nodiscard]] bool accept_sealed(std::size_t connection, const PacketRef& r);
  // Inner source filter: which connection may send from which inner source (deliver()).
  ConnectionTable sources_;
  void build_sources();
  // The last inner source that passed and its connection: a stream's packets skip the table.
  std::array<std::uint8_t, 16> last_source_{};
  std::size_t last_source_len_ = 0;  // 0: none (after build_sources)
  std::size_t last_source_conn_ = 0;
  [[nodiscard]] bool source_allowed(std::span<const std::uint8_t> p);
  struct NackBuf {
    std::array<std::uint8_t, kGreHeaderMax + kSealedOverhead + kNackMaxSize> data{};
    msghdr msg{};
    iovec iov{};
    sockaddr_storage to{};
    bool in_flight = false;
  };
  std::array<NackBuf, 64> nack_bufs_{};
  int nacks_in_flight_ = 0;
  boost::lockfree::spsc_queue<DelayCommand, boost::lockfree::capacity<64>> delay_commands_;
  void apply_command(const DelayCommand& dc, std::uint64_t now);
  // What the control plane last said per connection, for stages made later (stage_for).
  struct StageSettings {
    std::optional<std::uint64_t> max_delay_ns;
    std::vector<std::optional<std::uint64_t>> lag_floor_ns;  // per local path
    std::optional<DelayCommand> repair;
  };
  std::vector<StageSettings> stage_settings_;
  RxStats stats_;
};

}  // namespace mpt::engine
