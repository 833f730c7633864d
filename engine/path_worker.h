// PathWorker: one thread and one io_uring per physical path.
//
// Stages, one loop turn (run()):
//   1. reap CQEs (copy out first, handle after -- never inside the reap loop);
//   2. send completions   -> batches go home to the TUN reader through tx_return_ring;
//      receive completions -> check source, split a UDP GRO datagram into its GRE-in-UDP
//                             datagrams, parse each, push the inner packets as PacketRefs
//                             to rx_ring (consumer: TUN writer); bad input is dropped and
//                             counted;
//   3. drain rx_return_ring (buffers the TUN writer is done with) back into the kernel's
//      provided-buffer ring;
//   4. pop send batches from tx_ring (producer: TUN reader) and prepare one SENDMSG per
//      batch, with UDP_SEGMENT (UDP GSO) when it holds several datagrams;
//   5. ring the neighbours' doorbells, submit everything and wait, all in one syscall.
//
// Ownership: the worker owns its sockets, its io_uring and its receive pool (provided to the
// kernel as a buffer ring). Transmit buffers belong to the TUN reader's pool: the worker holds
// one from tx_ring pop until its send completes. Receive buffers leave as PacketRefs through
// rx_ring; PacketBuf::refs counts the refs still out, and the thread that drops it to zero
// sends the buffer home (the writer through rx_return_ring, this thread directly).
// Overflow policy: rx_ring full -> drop the newest packets, count rx_drop_ring_full.
//
// Server mode (docs/architecture.md "Server mode"): many clients' paths share one UDP socket
// per server address. There the worker with the thread, ring, socket and pool is a
// *listener* (no path of its own), and each client path is a *client slot*: a PathWorker
// without thread, ring, socket or pool, whose rings, counters and peer endpoint the listener
// serves (host_). The listener demultiplexes what it receives by source address to its
// slots; a datagram from no slot's address is handled as the listener's own: its control
// messages go to the listener's control ring (the control thread finds the client by its
// handshake key or session), anything else is dropped and counted (rx_drop_unknown_peer).
// The per-packet code below is the same for both: it runs on the slot's object, with the
// host's ring, sockets and pool.
#pragma once

#include <array>
#include <tuple>
#include <memory>
#include <optional>
#include <span>
#include <vector>

#include "engine/buffer_pool.h"
#include "engine/path_channel.h"
#include "engine/peer_endpoint.h"
#include "engine/sealed_packet.h"
#include "engine/session_keys.h"
#include "engine/stats.h"
#include "engine/tunnel_spec.h"
#include "engine/uring.h"

namespace mpt::engine {

class PathWorker : public PathChannel {
 public:
  // Opens the sockets and the ring; throws std::system_error with context on failure.
  PathWorker(const TunnelSpec& tunnel, int path_index, int stop_fd);
  // Server mode: a listener on `where`'s local address (sockets, ring, pool, thread; no path).
  struct Listener {};
  PathWorker(Listener, const PathSpec& where, int stop_fd);
  // Server mode: client path `path_index`, carried by `host` (a listener). No thread: the
  // host serves it once attached (Engine, while the data plane is paused).
  PathWorker(const TunnelSpec& tunnel, int path_index, PathWorker& host);
  ~PathWorker();
  // Listener only, while paused: start or stop serving a client slot. detach() takes back
  // the receive buffers the slot's return ring holds.
  void attach(PathWorker* slot);
  void detach(PathWorker* slot);
  [[nodiscard]] bool is_listener() const { return listener_; }
  [[nodiscard]] bool is_client_slot() const { return host_ != this; }
  [[nodiscard]] std::size_t served_count() const { return served_.size(); }
  PathWorker(const PathWorker&) = delete;
  PathWorker& operator=(const PathWorker&) = delete;

  // Wiring, before run(): where to send wake-ups -- the TUN reader and writer of each queue.
  void connect(std::span<Doorbell* const> tun_readers, std::span<Doorbell* const> tun_writers) {
    tun_reader_bells_.assign(tun_readers.begin(), tun_readers.end());
    tun_writer_bells_.assign(tun_writers.begin(), tun_writers.end());
  }
  void run();  // thread body; returns after the stop eventfd fires
  // A reload removed the path (thread stopped): its sockets close now, so that a new path may
  // bind the same address; the object itself (ring, doorbell) stays until the next reload.
  void close_sockets();

  [[nodiscard]] const PathSpec& spec() const { return spec_; }
  // Engine::reconfigure, while this worker's thread is paused: the path's new name, weight,
  // state, port rules and connection settings. What shapes its sockets does not change.
  void update_spec(const PathSpec& spec, const ConnectionSpec& connection) {
    spec_ = spec;
    connection_ = spec.connection;
    gre_key_ = connection.gre_key;
    sealed_ = connection.sealed;
  }
  // Engine, while stopped: the connection's session keys (read on every sealed packet).
  void set_keys(const SessionKeys* keys) { keys_ = keys; }
  // The receive pool (a client slot's is its listener's, shared by all its clients).
  [[nodiscard]] const BufferPool& rx_pool() const { return *host_->rx_pool_; }
  // Receive buffers free for the kernel to fill (as of the worker's last loop turn); any thread.
  [[nodiscard]] std::size_t rx_pool_free() const {
    return host_->rx_free_.load(std::memory_order_relaxed);
  }
  [[nodiscard]] std::uint16_t source_port(std::size_t i) const { return host_->source_ports_.at(i); }
  [[nodiscard]] std::size_t source_port_count() const { return host_->source_ports_.size(); }

  // Control plane (any thread): the ring of received control messages (consumer: control
  // thread). The rest of a path's shared face (rings, state, estimates) is PathChannel's.
  ControlRing& control_ring() { return control_ring_; }
  void set_control_listener(bool on) { control_listener_.store(on, std::memory_order_relaxed); }
  // Control thread: the peer's current session id (0: none yet). Control messages that carry
  // another one (a restarted peer's HELLO -- or junk) are admitted only at
  // kNewSessionPerSecond, so a flood of them from the peer's address cannot fill the control
  // ring and crowd out the real probes (signaling/messages.h has the header layout).
  void set_peer_session(std::uint64_t session) {
    peer_session_.store(session, std::memory_order_relaxed);
  }
  static constexpr double kNewSessionPerSecond = 50;
  static constexpr double kNewSessionBurst = 16;


 private:
  void open_send_sockets(std::uint32_t flow_hash_seed);
  void arm_recv();
  void handle_recv(const io_uring_cqe& cqe);
  void handle_send(const io_uring_cqe& cqe);
  void flush_rx_batch();
  void flush_tx_returns();
  void push_tx_returns(int q, bool wake);
  std::size_t drain_rx_returns();
  void send_tx_batch();       // every queue's tx ring
  void send_tx_batch(int q);  // queue q's
  void recycle_rx(PacketBuf* b) {
    host_->provided_->add(b, 0);
    ++host_->rx_in_kernel_;
  }
  Uring& ring() { return *host_->ring_; }
  // Host: every served slot's peer copy is current; the listener rebuilds its demux table
  // when one moved.
  void refresh_slots();
  void rebuild_demux();
  [[nodiscard]] PathWorker* demux(const sockaddr* from) const;
  void drain_all_rx_returns();
  [[nodiscard]] bool slots_have_work();
  void finish_send(const io_uring_cqe& c, PacketBuf* b);
  void send_unsegmented(PacketBuf* b, int err);
  [[nodiscard]] std::uint32_t kernel_datagram_limit() const;
  std::uint64_t last_mtu_query_ns_ = 0;  // kernel_datagram_limit, rate-limited
  [[nodiscard]] int tx_fd(const PacketBuf* b) const {
    return entropy_ ? send_fds_[b->source_port_index % send_fds_.size()] : host_->recv_fd_;
  }
  void release_ref(PacketBuf* b) {
    if (b->refs.fetch_sub(1, std::memory_order_acq_rel) == 1) recycle_rx(b);
  }
  void open_sockets(std::uint32_t flow_hash_seed);
  void handle_datagram(PacketBuf* b, std::uint8_t* payload, std::uint32_t len);
  void handle_nack(std::span<const std::uint8_t> body, RepairRequest how = RepairRequest{});

  PathSpec spec_;
  std::optional<std::uint32_t> gre_key_;  // the connection's GRE key (checked on receive)
  bool sealed_ = false;                    // keyed: only sealed data and repair requests
  // This thread's copy of endpoint_ (refreshed each loop turn when its version moved): the
  // destination of the sends it prepares and, on a connection without keys, the only source
  // it accepts datagrams from.
  sockaddr_storage peer_{};
  socklen_t peer_len_ = 0;
  std::uint64_t peer_version_ = ~std::uint64_t{0};
  bool refresh_peer() {
    const std::uint64_t v = endpoint_.version();
    if (v == peer_version_) return false;
    peer_len_ = endpoint_.load(peer_);
    peer_version_ = v;
    // Entropy source ports only toward the configured address: a peer we learned (or that
    // moved) may be behind a NAT, which passes back only what comes from the port its
    // mapping was made for -- the receive socket's.
    entropy_ = send_fds_.size() > 1 || (send_fds_.size() == 1 && send_fds_[0] != recv_fd_);
    entropy_ = entropy_ && same_endpoint(reinterpret_cast<const sockaddr*>(&peer_), peer_len_,
                                         spec_.remote, spec_.remote_len);
    return true;
  }
  bool entropy_ = false;  // send from the entropy sockets (else from the receive socket)
  const SessionKeys* keys_ = nullptr;
  std::array<CachedKey, SessionKeys::kRxSlots> rx_keys_;  // this thread's copies
  // Opens a sealed packet in place with whichever of the peer's keys carries its key id.
  // Returns the slot that opened it, or -1.
  int open_sealed(const SealedHeader& h, const GreFields& gre, std::span<std::uint8_t> body);
  void handle_sealed(PacketBuf* b, std::uint8_t* payload, std::uint32_t len,
                     const GreParsed& p);
  const int stop_fd_;
  std::vector<int> send_fds_;            // [0] = recv_fd_ when no entropy sockets
  std::vector<std::uint16_t> source_ports_;
  // Host resources (null in a client slot: it uses its host's).
  std::unique_ptr<Uring> ring_;
  std::unique_ptr<BufferPool> rx_pool_;
  std::unique_ptr<ProvidedBuffers> provided_;
  PathWorker* host_ = this;   // who carries this path: itself, or a listener
  bool listener_ = false;
  // Host: the paths it serves, in loop order ({this} for an ordinary worker); by path index
  // (send completions); the listener's demux table, sorted by address.
  std::vector<PathWorker*> served_;
  std::vector<PathWorker*> slot_of_index_;
  struct DemuxEntry {
    std::array<std::uint8_t, 16> ip{};
    std::uint16_t port = 0;
    std::uint8_t family = 0;
    PathWorker* slot = nullptr;
    [[nodiscard]] auto key() const { return std::tie(family, ip, port); }
  };
  std::vector<DemuxEntry> demux_;
  bool demux_stale_ = true;
  msghdr recv_msg_template_{};           // describes the recvmsg_out layout of rx buffers
  bool recv_armed_ = false;

  ControlRing control_ring_;
  std::atomic<std::uint64_t> peer_session_{0};
  double new_session_tokens_ = kNewSessionBurst;  // worker thread only
  std::uint64_t new_session_refill_us_ = 0;
  // Per queue: a repair request was pushed this turn, ring that queue's reader.
  std::array<bool, kMaxQueues> repair_wake_{};
  std::atomic<bool> control_listener_{false};
  std::size_t rx_in_kernel_ = 0;  // receive buffers in the kernel's provided ring
  std::atomic<std::size_t> rx_free_{0};  // rx_in_kernel_ as of the last loop turn (status)
  std::vector<Doorbell*> tun_reader_bells_;  // per TUN queue
  std::vector<Doorbell*> tun_writer_bells_;

  const sockaddr* rx_from_ = nullptr;  // source of the datagram being handled
  socklen_t rx_from_len_ = 0;
  bool rx_from_known_ = false;         // ... and it is the peer's current address
  // Received packets and sent batches on their way to the TUN writer / reader of each queue.
  std::array<std::array<PacketRef, kBatchMax>, kMaxQueues> rx_batch_{};
  std::array<std::size_t, kMaxQueues> rx_batch_len_{};
  std::array<std::array<PacketBuf*, kBatchMax>, kMaxQueues> tx_returns_{};
  std::array<std::size_t, kMaxQueues> tx_returns_len_{};
  // The TUN queue whose writer takes a received data packet of sequence space `space`.
  [[nodiscard]] int queue_of_space(std::uint8_t space) const {
    return static_cast<int>(space % static_cast<unsigned>(queue_count()));
  }
  void push_rx(int q, const PacketRef& r);
  void return_tx(PacketBuf* b);
  std::size_t sends_in_flight_ = 0;
};

}  // namespace mpt::engine
