// TunReader: the transmit side's first stage, one thread.
//
// Stages, one loop turn (run()):
//   1. reap CQEs: each multishot TUN read completion is one packet from the kernel -- with
//      IFF_VNET_HDR a virtio header and up to 64 KB (a TSO/USO super-packet);
//   2. find the connection (longest prefix match on the inner destination) and the flow key,
//      cut the packet into wire-sized inner packets (tun_offload.h Segmenter), and for each:
//      let the connection's scheduler::PathChooser pick the path, then write the GRE header
//      (sequence numbers are assigned here and only here, one counter per connection) and the
//      segment straight into that path's open send batch;
//   3. a send batch holds datagrams of one size (the last may be shorter) for one source
//      port: UDP GSO sends it with one sendmsg. Full or finished batches are pushed into the
//      path's tx ring, and the path's doorbell is rung;
//   4. take back the batches the paths have sent (tx return rings) into the send pool, and
//      recycle the read buffer into the kernel's provided ring right after segmenting;
//   5. submit and wait, one syscall.
//
// Ownership: the reader owns two pools: read buffers (always in the kernel's provided ring
// except while one is being segmented) and send batches (free, open here, in a tx ring, or
// in flight in a path worker until it returns them).
// A sent batch of a connection with several paths is not freed at once: it waits in its
// path's *history* until the peer has confirmed the path up to its send time (a probe sent
// after it was answered; PathChannel::confirmed_ns), for at most kHistoryNs, and while the send
// pool keeps a quarter free. When the control plane declares the path down, what is still in
// the history -- sent, unconfirmed, probably lost with the path -- goes out again on a live
// path (reinjection; the receiver's reorder stage discards the copies it already has), so a
// silent path death costs the inner flows a delay, not a loss.
// Overflow policy: a full tx ring or an empty send pool drops the newest packets
// (tx_drop_ring_full / tx_drop_no_buffer).
#pragma once

#include <array>
#include <atomic>
#include <memory>
#include <optional>
#include <span>
#include <vector>

#include "engine/buffer_pool.h"
#include "engine/counter_window.h"
#include "engine/gre_udp.h"
#include <deque>

#include "engine/path_state_mailbox.h"
#include "engine/session_keys.h"
#include "engine/connection_table.h"
#include "engine/stats.h"
#include "engine/tun_offload.h"
#include "engine/tunnel_spec.h"
#include "engine/uring.h"
#include "scheduler/path_chooser.h"

namespace mpt::engine {

class PathChannel;

class TunReader {
 public:
  // Send pool (one line per holder): open batches (1 per path) + closed batches waiting for a
  // push (kBatchMax per path, flushed every turn) + tx rings + batches in flight in the path
  // workers. It is no larger than a return ring, so a return push can never fail.
  // + sent batches kept for reinjection (history; trimmed when a quarter of the pool is left).
  static constexpr unsigned kSendPoolCount = 4096;
  // Repair: how many recently repaired numbers each connection remembers (see RepairSeen).
  static constexpr std::size_t kRepairSeenCount = 4096;

  // The reader of TUN queue `queue` (its fd is tun_fd): it numbers and seals what it reads in
  // the sequence and nonce space `queue` of each connection and uses the paths' ring set
  // `queue`.
  TunReader(const TunnelSpec& tunnel, int tun_fd, bool vnet_hdr,
            std::span<PathChannel* const> paths, int stop_fd, int queue = 0);
  TunReader(const TunReader&) = delete;
  TunReader& operator=(const TunReader&) = delete;

  void run();  // thread body; returns after the stop eventfd fires
  Doorbell& doorbell() { return bell_; }
  [[nodiscard]] int queue() const { return queue_; }
  TxStats& stats() { return stats_; }
  [[nodiscard]] const BufferPool& read_pool() const { return read_pool_; }
  // Read buffers free for the kernel to fill (as of the last loop turn); any thread. (They
  // live in the kernel's provided ring, not in the pool's free list.)
  [[nodiscard]] std::size_t read_pool_free() const { return read_free_.load(std::memory_order_relaxed); }
  [[nodiscard]] const BufferPool& send_pool() const { return send_pool_; }

  // Control thread: a new weight / state for a path, applied at once: the reader is woken
  // through an eventfd it polls (a path declared down has its unconfirmed sends reinjected
  // now, not at the next TUN read). The only producer is the control thread.
  void post_command(const PathCommand& c);
  // Control thread: how long a sent batch is kept at least, so that the peer's repair
  // requests (NACKs) for it still find it: about the slowest round trip plus the peer's
  // longest reorder wait. Relaxed: a stale value only keeps a few batches longer or shorter.
  void set_repair_keep(std::uint64_t ns) { repair_keep_ns_.store(ns, std::memory_order_relaxed); }
  // Engine, before start: every connection slot's session keys (keyed connections seal).
  void set_keys(const std::deque<SessionKeys>* keys) { keys_ = keys; }
  ~TunReader();

  // Engine::reconfigure, with every data-plane thread paused (so plain calls are safe):
  //  detach_path(): path `slot` is being removed -- takes back every batch queued for it
  //    (its tx ring and return ring) to send on another path of its connection afterwards;
  //  reconfigure(): the spec changed (`old` is the previous one; slots[i] is path i's worker
  //    or null): per-path state follows the slots, schedulers are rebuilt from the new
  //    weights and states, connections that stay keep their sequence counters.
  void detach_path(int slot);
  void reconfigure(const TunnelSpec& old, std::span<PathChannel* const> slots);

 private:
  // Repair: the numbers sent again lately, per connection (a peer's NACK may arrive on two
  // paths; the second is not served again).
  struct RepairSeen {
    std::uint32_t seq = 0;
    std::uint8_t attempt = 0;  // the request attempt served last (see RepairRequest)
    std::uint64_t ns = 0;
  };
  // A FIFO of fixed capacity, storage inside (no allocation): the send histories and the
  // pacing hold queues. entries[(head + k) % kCapacity] is the k-th oldest.
  template <class T, std::size_t N>
  struct FixedRing {
    static constexpr std::size_t kCapacity = N;
    std::array<T, N> entries{};
    std::size_t head = 0, len = 0;
    [[nodiscard]] bool full() const { return len == kCapacity; }
    [[nodiscard]] const T& front() const { return entries[head]; }
    void push(T e) { entries[(head + len++) % kCapacity] = e; }
    T pop() {
      const T e = entries[head];
      head = (head + 1) % kCapacity;
      --len;
      return e;
    }
  };
  // A TUN read held back by pacing (a read-pool buffer).
  struct Held {
    PacketBuf* buf = nullptr;
    std::uint32_t bytes = 0;
    std::uint64_t read_ns = 0;
  };
  static constexpr std::size_t kHoldCapacity = 128;  // per connection (read pool: 256)
  using HoldQueue = FixedRing<Held, kHoldCapacity>;
  struct Connection {
    scheduler::PathChooser chooser;
    std::vector<scheduler::PathState> states;  // this connection's paths, in [path_N] order
    std::uint32_t next_seq = 0;
    // The current run (see process_packet): segments of one flow kept on one path.
    int run_path = -1;
    std::uint32_t run_left = 0;
    std::uint32_t run_flow = 0;
    std::uint64_t run_until_ns = 0;
    std::vector<RepairSeen> repaired;  // indexed by seq % size (several paths only)
    double repair_tokens = 0;          // repair budget (segments), see serve_repairs
    std::uint32_t repair_refill_seq = 0;  // next_seq when the budget was last refilled
    // Pacing (tun_reader_pace.cpp): TUN reads held back, oldest first.
    HoldQueue held;
  };
  // The send batch being filled for one path.
  struct OpenBatch {
    PacketBuf* buf = nullptr;
    bool closed = false;  // a shorter datagram ended it
  };

  // A sent batch and the sequence numbers it carries.
  struct SentBatch {
    PacketBuf* buf = nullptr;
    std::uint64_t sent_ns = 0;
    std::uint32_t first_seq = 0;  // GRE sequence numbers of its first and last datagram
    std::uint32_t last_seq = 0;
  };
  // Replay windows of sealed repair requests (accept_nack), per connection slot and key
  // slot; allocated when a connection's first sealed request comes, kept across reloads.
  using NackReplay = std::array<std::array<KeyedCounterWindow<1024>, kMaxQueues>, SessionKeys::kRxSlots>;
  std::vector<std::unique_ptr<NackReplay>> nack_replay_;
  std::vector<bool> nack_accepted_;  // per path slot: the message being popped was new
  bool accept_nack(std::size_t connection, const RepairRequest& rq);
  // Sent batches of one path kept for reinjection, oldest first (fixed capacity).
  using History = FixedRing<SentBatch, 2048>;

  void build_connections(const TunnelSpec* old);
  // The GRE key this reader's data of connection cs carries: plain sequenced data says its
  // sequence space (this queue) in the key's low bits (space_key); sealed data says it in
  // the sealed header and keeps the configured key.
  [[nodiscard]] std::optional<std::uint32_t> data_key(const ConnectionSpec& cs) const {
    if (cs.sealed || !cs.sequence_numbers) return cs.gre_key;
    return space_key(cs.gre_key, static_cast<unsigned>(queue_));
  }
  const std::deque<SessionKeys>* keys_ = nullptr;
  // Per connection slot, never rebuilt (a reload must not restart a counter under a key).
  std::vector<TxSealer> sealers_;
  void keep_sent(PacketBuf* b, std::uint64_t now_ns);
  void trim_histories(std::uint64_t now_ns);
  void reinject(int path);
  void serve_repairs(std::uint64_t now_ns);
  void repair(int connection, std::uint32_t seq, std::uint8_t attempt, std::uint64_t now_ns);
  void set_path_state(int path, std::uint32_t weight, bool up);
  void apply_commands();
  void refresh_estimates();
  void reroute(PacketBuf* b);
  // Returns false if no path could take it (dropped and counted).
  bool reroute(PacketBuf* b, int connection, int from);
  void arm_read();
  void handle_read(const io_uring_cqe& cqe);
  // A TUN read, segmented and scheduled; its buffer goes back to the kernel.
  void consume_read(PacketBuf* b, std::size_t bytes);
  // Pacing (tun_reader_pace.cpp). hold(): keeps the read for later if its connection paces
  // and no bottleneck path has room (true: kept). release_held(): sends what has room now,
  // drops what waited too long, and arms the pace timer for the rest.
  bool hold(PacketBuf* b, std::size_t bytes);
  void release_held(std::uint64_t now_ns);
  void drop_all_held();
  void process_packet(std::span<const std::uint8_t> packet, const VnetHdr& hdr);
  // Where to write a datagram of `size` bytes for `path` from source port `port_index`;
  // nullptr if no send buffer is free.
  std::uint8_t* reserve_datagram(int path, std::uint32_t size, std::uint16_t port_index);
  void close_batch(int path);
  void flush_tx_rings();
  void drain_returns();
  void recycle_read(PacketBuf* b);

  const TunnelSpec& tunnel_;
  const int queue_;  // which TUN queue (and sequence space) this reader serves
  const int tun_fd_;
  const bool vnet_hdr_;
  const int stop_fd_;
  int command_fd_ = -1;        // eventfd: the control thread posted a command
  bool command_armed_ = false;
  // A timer while any history holds batches or batches went to the workers since it last
  // fired, so that they are taken back and freed on time also when no new traffic wakes this
  // thread (idle: otherwise they waited for the next packet). In flight until its completion
  // (also a cancelled one, reaped at the end of run()).
  int history_timers_in_flight_ = 0;
  bool sent_since_timer_ = false;
  __kernel_timespec history_ts_{};
  static constexpr long kHistoryTimerNs = 100'000'000;  // a third of the longest keep
  [[nodiscard]] bool histories_hold_anything() const {
    for (const auto& h : history_) {
      if (h.len > 0) return true;
    }
    return false;
  }
  // Pacing: a timer for the earliest moment a held read may go (one in flight at a time).
  bool pace_timer_in_flight_ = false;
  bool pacing_possible_ = false;  // some path has a pace target (else hold() looks no further)
  std::size_t held_total_ = 0;
  __kernel_timespec pace_ts_{};
  std::vector<PathChannel*> paths_;  // by path index; null for a slot a reload freed
  Uring ring_;
  BufferPool read_pool_;
  ProvidedBuffers provided_;
  BufferPool send_pool_;
  bool read_armed_ = false;
  std::size_t reads_in_kernel_ = 0;
  std::atomic<std::size_t> read_free_{0};  // reads_in_kernel_ as of the last loop turn (status)
  std::vector<Connection> connections_;
  ConnectionTable table_;
  Doorbell bell_;
  std::vector<OpenBatch> open_;                                 // per path
  std::vector<std::array<PacketBuf*, kBatchMax>> to_push_;      // per path, closed batches
  std::vector<std::size_t> to_push_len_;
  std::vector<std::uint64_t> pace_targets_;   // per path: the last pace target published
  std::vector<std::uint64_t> estimate_seen_;  // per path: PathChannel::estimate_version applied
  std::vector<History> history_;              // per path (reinjection)
  std::vector<bool> keeps_history_;           // per path: its connection has several paths
  // Batches taken back from removed paths (detach_path), with their connection.
  std::vector<std::pair<PacketBuf*, int>> orphans_;
  Segmenter segmenter_;
  PathStateMailbox path_states_;  // control thread -> here: each path's latest (up, weight)
  std::atomic<std::uint64_t> repair_keep_ns_{0};

  TxStats stats_;
};

}  // namespace mpt::engine
