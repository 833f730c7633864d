#include "engine/tun_reader.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/random.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "engine/clock.h"
#include "engine/log.h"
#include "engine/path_channel.h"
#include "engine/sealed_packet.h"
#include "scheduler/flow_key.h"

namespace mpt::engine {
namespace {

std::uint32_t random_u32() {
  std::uint32_t v = 0;
  if (::getrandom(&v, sizeof v, GRND_NONBLOCK) != static_cast<ssize_t>(sizeof v)) {
    v = static_cast<std::uint32_t>(monotonic_ns() * 0x9E3779B97F4A7C15ull >> 32);
  }
  return v;
}

// Read pool: buffers the kernel fills through the provided ring; each is segmented and given
// back at once, so a few hundred cover any burst. A read holds a virtio header and up to a
// 64 KB super-packet.
constexpr unsigned kReadPoolCount = 256;
static_assert((kReadPoolCount & (kReadPoolCount - 1)) == 0, "buffer ring size: power of 2");
static_assert(TunReader::kSendPoolCount <= kReturnRingCapacity);
// One UDP GSO send: at most 64 datagrams (UDP_MAX_SEGMENTS on older kernels) and under the
// 64 KB IP limit with room for the outer headers.
constexpr std::uint32_t kMaxBatchBytes = 65000;
constexpr std::uint16_t kMaxBatchSegments = 64;
constexpr std::uint32_t kSendBufBytes = 65536;
constexpr std::uint16_t kReadBufferGroup = 2;
// A run: segments of one flow sent to one path per scheduler decision, across super-packets,
// up to this many segments and this long (see process_packet).
constexpr std::uint32_t kRunSegments = 256;
constexpr std::uint64_t kRunNs = 200000;
constexpr unsigned kUringEntries = 512;
constexpr std::size_t kCqeBatch = 512;

// Redundant mode's classifier: the inner packet's DSCP, or its TCP/UDP ports.
bool is_redundant(const ConnectionSpec& cs, const scheduler::FlowKey& key,
                  std::span<const std::uint8_t> packet) {
  if (cs.redundant_dscp_mask != 0 && packet.size() >= 2) {
    const unsigned version = packet[0] >> 4;
    const unsigned tclass = version == 4   ? packet[1]
                            : version == 6 ? static_cast<unsigned>(((packet[0] & 0x0F) << 4) | (packet[1] >> 4))
                                           : 0;
    if ((version == 4 || version == 6) && ((cs.redundant_dscp_mask >> (tclass >> 2)) & 1)) return true;
  }
  if (cs.redundant_ports.empty() || !key.has_ports || (key.protocol != 6 && key.protocol != 17)) {
    return false;
  }
  return std::any_of(cs.redundant_ports.begin(), cs.redundant_ports.end(), [&](const auto& r) {
    return (key.src_port >= r.first && key.src_port <= r.last) ||
           (key.dst_port >= r.first && key.dst_port <= r.last);
  });
}

}  // namespace

TunReader::TunReader(const TunnelSpec& tunnel, int tun_fd, bool vnet_hdr,
                     std::span<PathChannel* const> paths, int stop_fd, int queue)
    : tunnel_(tunnel),
      queue_(queue),
      tun_fd_(tun_fd),
      vnet_hdr_(vnet_hdr),
      stop_fd_(stop_fd),
      paths_(paths.begin(), paths.end()),
      ring_(kUringEntries),
      read_pool_(kReadPoolCount, vnet_hdr ? static_cast<std::uint32_t>(kVnetHdrSize + 65535 + 64)
                                          : static_cast<std::uint32_t>(tunnel.mtu + 64)),
      provided_(ring_, kReadBufferGroup, kReadPoolCount),
      send_pool_(kSendPoolCount, kSendBufBytes),
      open_(paths.size()),
      to_push_(paths.size()),
      to_push_len_(paths.size(), 0),
      pace_targets_(paths.size(), 0),
      estimate_seen_(paths.size(), 0),
      history_(paths.size()),
      keeps_history_(paths.size(), false) {
  command_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (command_fd_ < 0) throw sys_error(errno, "eventfd for the TUN reader's commands");
  path_states_.resize(paths_.size());
  build_connections(nullptr);
  // Every send batch of this reader goes home to this reader (PathWorker::return_tx).
  for (unsigned i = 0; i < kSendPoolCount; ++i) send_pool_.at(i)->queue = static_cast<std::uint8_t>(queue);
  for (unsigned i = 0; i < kReadPoolCount; ++i) recycle_read(read_pool_.at(i));
  provided_.publish();
  read_free_.store(reads_in_kernel_, std::memory_order_relaxed);
  bell_.ring_fd = ring_.fd();
}

// Schedulers and the destination table from tunnel_; a connection that was active in `old`
// under the same name keeps its sequence counter (the peer's reorder stage continues).
void TunReader::build_connections(const TunnelSpec* old) {
  // What the scheduler knew of paths that stay (health, weights set at run time) carries
  // over; a path new in this spec starts unusable until the control plane says otherwise
  // (it joins after answering probes, never before the peer knows it).
  std::vector<std::pair<bool, scheduler::PathState>> known(tunnel_.paths.size());
  if (old) {
    for (std::size_t c = 0; c < connections_.size() && c < old->connections.size(); ++c) {
      const auto& ids = old->connections[c].paths;
      for (std::size_t i = 0; i < ids.size() && i < connections_[c].states.size(); ++i) {
        const auto slot = static_cast<std::size_t>(ids[i]);
        if (slot < known.size()) known[slot] = {true, connections_[c].states[i]};
      }
    }
  }
  if (sealers_.size() < tunnel_.connections.size()) sealers_.resize(tunnel_.connections.size());
  std::vector<Connection> next;
  next.reserve(tunnel_.connections.size());
  table_ = ConnectionTable();
  for (std::size_t c = 0; c < tunnel_.connections.size(); ++c) {
    const ConnectionSpec& cs = tunnel_.connections[c];
    Connection conn{scheduler::PathChooser(cs.policy), {}, 0, -1, 0, 0, 0, {}, 0, 0, {}};
    // A random first number: a restarted peer's numbers then land far from its old ones at
    // the receiver, whose reorder stage resyncs at the first of them by itself (otherwise
    // they lie just behind the old head and look like duplicates until the control plane
    // reports the new session; Reorder::peer_restarted).
    conn.next_seq = random_u32();
    if (old && c < old->connections.size() && c < connections_.size() &&
        old->connections[c].active && old->connections[c].name == cs.name) {
      conn.next_seq = connections_[c].next_seq;
    }
    conn.repair_refill_seq = conn.next_seq;
    std::vector<scheduler::PathPortRules> rules;
    for (int p : cs.paths) {
      const PathSpec& ps = tunnel_.paths[static_cast<std::size_t>(p)];
      const auto slot = static_cast<std::size_t>(p);
      const bool fresh = old && (slot >= old->paths.size() || !old->paths[slot].active);
      if (fresh) {
        conn.states.push_back({ps.weight, false});
      } else if (old && known[slot].first) {
        conn.states.push_back(known[slot].second);
      } else {
        conn.states.push_back({ps.weight, ps.up});
      }
      rules.push_back(ps.ports);
    }
    for (int p : cs.paths) {
      if (static_cast<std::size_t>(p) < keeps_history_.size()) {
        keeps_history_[static_cast<std::size_t>(p)] = cs.active && cs.sequence_numbers && cs.paths.size() > 1;
      }
    }
    if (cs.active && cs.sequence_numbers && cs.paths.size() > 1 && cs.repair) {
      conn.repaired.resize(kRepairSeenCount);
    }
    conn.chooser.set_port_rules(rules);
    conn.chooser.set_paths(conn.states);
    next.push_back(std::move(conn));
    if (!cs.active) continue;
    for (const IpNet& d : cs.destinations) table_.add(d, static_cast<int>(c));
  }
  drop_all_held();  // the connections they were held for are rebuilt
  connections_ = std::move(next);
  int only = -1, active = 0;
  for (std::size_t c = 0; c < tunnel_.connections.size(); ++c) {
    if (tunnel_.connections[c].active && ++active == 1) only = static_cast<int>(c);
  }
  table_.set_only_connection(active == 1 ? only : -1);
}

void TunReader::detach_path(int slot) {
  const auto p = static_cast<std::size_t>(slot);
  PathChannel* w = paths_.at(p);
  if (!w) return;
  const int conn = tunnel_.paths[p].connection;
  close_batch(slot);
  for (std::size_t i = 0; i < to_push_len_[p]; ++i) orphans_.emplace_back(to_push_[p][i], conn);
  to_push_len_[p] = 0;
  PacketBuf* b = nullptr;
  while (w->tx_ring(queue_).pop(b)) orphans_.emplace_back(b, conn);
  while (history_[p].len > 0) send_pool_.put(history_[p].pop().buf);  // the peer is told first
  while (w->tx_return_ring(queue_).pop(b)) {
    if (b->unsent) {
      orphans_.emplace_back(b, conn);
    } else {
      send_pool_.put(b);
    }
  }
  paths_[p] = nullptr;
}

void TunReader::reconfigure(const TunnelSpec& old, std::span<PathChannel* const> slots) {
  paths_.assign(slots.begin(), slots.end());
  path_states_.resize(paths_.size());
  for (std::size_t p = 0; p < tunnel_.paths.size(); ++p) {  // a new path in a slot, or none
    if (!tunnel_.paths[p].active || p >= old.paths.size() || !old.paths[p].active) {
      path_states_.forget(p);
    }
  }
  open_.resize(paths_.size());
  to_push_.resize(paths_.size());
  to_push_len_.resize(paths_.size(), 0);
  estimate_seen_.assign(paths_.size(), 0);  // rebuilt schedulers take every estimate again
  pace_targets_.assign(paths_.size(), 0);
  history_.resize(paths_.size());
  keeps_history_.assign(paths_.size(), false);
  build_connections(&old);
  // Queued batches of removed paths go to a live path of their connection (their sequence
  // numbers and key are the connection's), or are dropped and counted if it has none.
  for (auto [b, conn] : orphans_) {
    const bool stays = static_cast<std::size_t>(conn) < tunnel_.connections.size() &&
                       tunnel_.connections[static_cast<std::size_t>(conn)].active &&
                       old.connections[static_cast<std::size_t>(conn)].name ==
                           tunnel_.connections[static_cast<std::size_t>(conn)].name;
    if (stays) {
      reroute(b, conn, -1);
    } else {
      bump(stats_.tx_drop_no_path, b->segments);
      send_pool_.put(b);
    }
  }
  orphans_.clear();
}

TunReader::~TunReader() {
  if (command_fd_ >= 0) ::close(command_fd_);
}

void TunReader::recycle_read(PacketBuf* b) {
  provided_.add(b, 0);
  ++reads_in_kernel_;
}

void TunReader::arm_read() {
  // IORING_OP_READ_MULTISHOT has no liburing 2.3 helper: fill the SQE by hand. One SQE keeps
  // reading packets into provided buffers until the ring runs dry or an error ends it.
  io_uring_sqe* sqe = ring_.get_sqe();
  io_uring_prep_rw(IORING_OP_NOP, sqe, tun_fd_, nullptr, 0, 0);
  sqe->opcode = kOpReadMultishot;
  sqe->flags |= IOSQE_BUFFER_SELECT;
  sqe->buf_group = kReadBufferGroup;
  io_uring_sqe_set_data64(sqe, make_user_data(Op::kTunRead));
  read_armed_ = true;
}

void TunReader::run() {
  std::array<io_uring_cqe, kCqeBatch> cqes;
  bool stop = false;
  ring_.watch_stop(stop_fd_);  // armed per run: Engine::reconfigure stops and restarts us
  command_armed_ = false;     // the last run's poll was cancelled with everything else
  while (!stop) {
    if (!read_armed_ && reads_in_kernel_ > 0) arm_read();
    if (!command_armed_) {
      io_uring_sqe* sqe = ring_.get_sqe();
      io_uring_prep_poll_add(sqe, command_fd_, POLLIN);
      io_uring_sqe_set_data64(sqe, make_user_data(Op::kCommand));
      command_armed_ = true;
    }
    if (history_timers_in_flight_ == 0 && (sent_since_timer_ || histories_hold_anything())) {
      history_ts_.tv_sec = 0;
      history_ts_.tv_nsec = kHistoryTimerNs;
      io_uring_sqe* sqe = ring_.get_sqe();
      io_uring_prep_timeout(sqe, &history_ts_, 0, 0);
      io_uring_sqe_set_data64(sqe, make_user_data(Op::kTimer));
      ++history_timers_in_flight_;
      sent_since_timer_ = false;
    }
    ring_.submit_and_wait(1);
    const std::size_t n = ring_.copy_cqes(cqes);
    drain_returns();  // sent batches come back without a wake-up: take them before reading
    for (std::size_t i = 0; i < n; ++i) {
      // The command eventfd is consumed *before* the commands are applied: one posted in
      // between is then applied now, or wakes the next turn -- never lost.
      if (op_of(cqes[i].user_data) == Op::kCommand) {
        eventfd_t v;
        (void)::eventfd_read(command_fd_, &v);
        command_armed_ = false;
      }
    }
    apply_commands();
    for (std::size_t i = 0; i < n; ++i) {
      const io_uring_cqe& c = cqes[i];
      switch (op_of(c.user_data)) {
        case Op::kTunRead: handle_read(c); break;
        case Op::kWake: doorbell_answered(bell_); break;
        case Op::kCommand: break;  // consumed above
        case Op::kStop: stop = true; break;
        case Op::kMsgRing: wake_failed(c.user_data); break;
        case Op::kTimer:
          if (ptr_of(c.user_data) == &pace_ts_) {
            pace_timer_in_flight_ = false;  // release_held below
          } else {
            --history_timers_in_flight_;  // drain_returns trimmed
          }
          break;
        default: break;
      }
    }
    if (held_total_ > 0) release_held(monotonic_ns());
    // After the doorbell was answered: a repair request pushed since then rings it again.
    serve_repairs(monotonic_ns());
    for (std::size_t p = 0; p < paths_.size(); ++p) {
      if (paths_[p]) close_batch(static_cast<int>(p));
    }
    flush_tx_rings();
    drain_returns();
    provided_.publish();
    read_free_.store(reads_in_kernel_, std::memory_order_relaxed);
  }
  // Release the TUN queue synchronously: cancel the multishot read and reap it.
  ring_.cancel_all();
  for (int i = 0; i < 100 && (read_armed_ || history_timers_in_flight_ > 0 || pace_timer_in_flight_);
       ++i) {
    ring_.wait_for_completions(10);
    const std::size_t n = ring_.copy_cqes(cqes);
    for (std::size_t k = 0; k < n; ++k) {
      if (op_of(cqes[k].user_data) == Op::kTunRead && !(cqes[k].flags & IORING_CQE_F_MORE)) {
        read_armed_ = false;
      }
      if (op_of(cqes[k].user_data) == Op::kTimer) {
        if (ptr_of(cqes[k].user_data) == &pace_ts_) {
          pace_timer_in_flight_ = false;
        } else {
          --history_timers_in_flight_;
        }
      }
    }
  }
  history_timers_in_flight_ = 0;  // a completion that did not come in 1 s never will
  pace_timer_in_flight_ = false;
  ring_.submit_and_wait(0);  // wake-ups still queued go out now, not after a pause
}

void TunReader::handle_read(const io_uring_cqe& c) {
  if (!(c.flags & IORING_CQE_F_MORE)) read_armed_ = false;
  if (c.res <= 0) {
    if (c.res != -ENOBUFS && c.res != -ECANCELED && c.res != -EAGAIN) {
      bump(stats_.tun_read_errors);
      MPT_LOG_RATELIMITED(LogLevel::kWarn, "TUN read: %s", std::strerror(-c.res));
    }
    return;
  }
  if (!(c.flags & IORING_CQE_F_BUFFER)) [[unlikely]] return;
  PacketBuf* b = read_pool_.at(c.flags >> IORING_CQE_BUFFER_SHIFT);
  --reads_in_kernel_;
  const auto bytes = static_cast<std::size_t>(c.res);
  bump(stats_.tun_read_packets);
  bump(stats_.tun_read_bytes, bytes);
  if (hold(b, bytes)) return;
  consume_read(b, bytes);
}

void TunReader::consume_read(PacketBuf* b, std::size_t bytes) {
  if (vnet_hdr_) {
    if (bytes <= kVnetHdrSize) [[unlikely]] {
      bump(stats_.tx_drop_bad_offload);
    } else {
      process_packet({b->storage + kVnetHdrSize, bytes - kVnetHdrSize},
                     read_vnet_hdr(b->storage));
    }
  } else {
    process_packet({b->storage, bytes}, VnetHdr{});
  }
  recycle_read(b);  // everything was copied into send batches
}

void TunReader::process_packet(std::span<const std::uint8_t> packet, const VnetHdr& hdr) {
  GreFields f;
  f.protocol = protocol_for_inner(packet);
  if (f.protocol == 0) [[unlikely]] {
    bump(stats_.tx_drop_not_ip);
    return;
  }
  if (const OffloadError e = segmenter_.init(packet, hdr); e != OffloadError::kOk) [[unlikely]] {
    bump(stats_.tx_drop_bad_offload);
    MPT_LOG_RATELIMITED(LogLevel::kWarn, "TUN packet with an unusable virtio header (%s)",
                        to_string(e));
    return;
  }
  const int conn_index = table_.lookup(packet);
  if (conn_index < 0) [[unlikely]] {
    bump(stats_.tx_drop_no_connection, segmenter_.count());
    return;
  }
  Connection& conn = connections_[static_cast<std::size_t>(conn_index)];
  const ConnectionSpec& cs = tunnel_.connections[static_cast<std::size_t>(conn_index)];
  // Keyed: every segment is sealed (engine/sealed_packet.h) -- under GRE protocol 0x88B5, so
  // that a standard decapsulator never takes ciphertext for IP. No keys yet (the handshake
  // takes a round trip at start): nothing goes out in clear.
  TxSealer* sealer = nullptr;
  if (cs.sealed) {
    sealer = &sealers_[static_cast<std::size_t>(conn_index)];
    if (!keys_ || !sealer->refresh((*keys_)[static_cast<std::size_t>(conn_index)].tx)) [[unlikely]] {
      bump(stats_.tx_drop_no_key, segmenter_.count());
      return;
    }
    f.protocol = kProtoMptControl;
  }
  const std::size_t seal_room = sealer ? kSealedOverhead : 0;
  // The headers are the same for every segment: one flow key for the whole super-packet.
  const scheduler::FlowKey key = scheduler::extract_flow_key(packet);
  scheduler::PacketInfo info;
  info.flow_hash = scheduler::flow_key_hash(key, tunnel_.flow_hash_seed);
  info.protocol = key.protocol;
  info.has_ports = key.has_ports;
  info.src_port = key.src_port;
  info.dst_port = key.dst_port;
  const auto port_index = static_cast<std::uint16_t>(info.flow_hash >> 16);
  f.checksum = cs.gre_checksum;
  f.key = data_key(cs);
  // A path of this connection refused datagrams as too long (its path MTU): TCP is cut to
  // fit the smallest such limit, on every path of the connection (RFC 8086 section 5:
  // segment the inner packet rather than fragment the outer one).
  const std::uint64_t now = monotonic_ns();
  if (segmenter_.is_tcp() || packet.size() > Segmenter::kMinCappedPayload) {
    std::uint32_t limit = 0;
    for (int p : cs.paths) {
      const PathChannel* pc = paths_[static_cast<std::size_t>(p)];
      const std::uint32_t l = pc ? pc->datagram_limit(now) : 0;
      if (l > 0 && (limit == 0 || l < limit)) limit = l;
    }
    if (limit > 0) {
      GreFields g = f;  // the checksum and key as every segment carries them
      if (cs.sequence_numbers) g.seq = 0;
      const std::size_t wire = gre_header_size(g) + seal_room;
      if (limit > wire) segmenter_.cap(limit - wire);
    }
  }
  // Segments go to a path in runs: one scheduler decision, then up to kRunSegments segments
  // of the same flow on that path, across super-packets, for at most kRunNs. Shares stay
  // exact (every segment is charged to its path), while each path gets whole GSO batches,
  // its worker wakes once per run rather than per packet, and the receiver sees few
  // interleavings. The time bound keeps a run short in time on slow links (at 100 Mbit/s a
  // few segments), so the reorder stage never waits long for a slower path's run.
  const std::size_t count = segmenter_.count();
  if (conn.run_left > 0 &&
      (conn.run_flow != info.flow_hash || now > conn.run_until_ns)) {
    conn.run_left = 0;
  }
  std::size_t charged = 0;  // segments of this packet already charged to a path
  int local_path = conn.run_path;
  const bool auto_policy = conn.chooser.policy() == scheduler::Policy::kAuto;
  const bool redundant = is_redundant(cs, key, packet);
  for (std::size_t i = 0; i < count; ++i) {
    const std::size_t len = segmenter_.length(i);
    if (len > static_cast<std::size_t>(tunnel_.mtu)) [[unlikely]] {
      bump(stats_.tx_drop_too_big);
      continue;
    }
    int second = -1;  // redundant mode: the path of the second copy
    if (redundant) {
      // Redundant mode: a decision per segment, and a copy on the next best path.
      info.bytes = static_cast<std::uint32_t>(len);
      info.packets = 1;
      info.now_ns = now;
      local_path = conn.chooser.choose(info);
      if (local_path >= 0) second = conn.chooser.choose_other(info, local_path, conn.states);
      conn.run_left = 1;  // consumed below: the next packet is a fresh decision
    } else if (auto_policy) {
      // Adaptive: one decision per segment, or per run of about kQuantumNs at the chosen
      // path's rate (EarliestArrival::quantum_bytes); every segment is charged as it goes.
      const auto bytes = static_cast<std::uint32_t>(len);
      if (conn.run_left == 0) {
        info.bytes = bytes;
        info.packets = 1;
        info.now_ns = now;
        local_path = conn.chooser.choose(info);
        conn.run_path = local_path;
        conn.run_flow = info.flow_hash;
        conn.run_until_ns = now + kRunNs;
        conn.run_left = local_path < 0
                            ? 1
                            : std::clamp<std::uint32_t>(
                                  conn.chooser.run_bytes(local_path) / std::max(bytes, 1u), 1,
                                  kRunSegments);
      } else {
        conn.chooser.charge(local_path, bytes, 1, now);
      }
    } else if (conn.run_left == 0 || i >= charged) {
      const std::size_t n = conn.run_left == 0
                                ? std::min<std::size_t>(kRunSegments, count - i)
                                : std::min<std::size_t>(conn.run_left, count - i);
      std::size_t run_bytes = 0;
      for (std::size_t k = i; k < i + n; ++k) run_bytes += segmenter_.length(k);
      if (conn.run_left == 0) {
        info.bytes = static_cast<std::uint32_t>(run_bytes);
        info.packets = static_cast<std::uint32_t>(n);
        local_path = conn.chooser.choose(info);
        conn.run_path = local_path;
        conn.run_left = kRunSegments;
        conn.run_flow = info.flow_hash;
        conn.run_until_ns = now + kRunNs;
      } else {
        conn.chooser.charge(local_path, static_cast<std::uint32_t>(run_bytes),
                            static_cast<std::uint32_t>(n));
      }
      charged = i + n;
    }
    --conn.run_left;
    if (local_path < 0) [[unlikely]] {
      bump(stats_.tx_drop_no_path);
      continue;
    }
    const int path = cs.paths[static_cast<std::size_t>(local_path)];
    if (cs.sequence_numbers) f.seq = conn.next_seq++;
    const std::size_t hs = gre_header_size(f);
    const std::size_t size = hs + seal_room + len;
    std::uint8_t* out = reserve_datagram(path, static_cast<std::uint32_t>(size), port_index);
    if (!out) [[unlikely]] {
      bump(stats_.tx_drop_no_buffer);
      continue;
    }
    if (sealer) {
      segmenter_.write(i, out + hs + kSealedHeaderSize);
      SealedHeader sh;
      sh.kind = kSealedData;
      sh.key_id = sealer->id;
      sh.space = static_cast<std::uint8_t>(queue_);  // each TUN queue's reader: its own nonce space
      sh.counter = sealer->counter++;
      if (!seal_body(sealer->aead, sh, f, {out + hs, seal_room + len})) [[unlikely]] {
        bump(stats_.tx_drop_no_key);
        std::memset(out, 0, size);  // never plaintext on the wire; the peer drops it
      }
    } else {
      segmenter_.write(i, out + hs);
    }
    encode_gre({out, size}, f);
    bump(stats_.tx_segments);
    if (second >= 0) {
      const int path2 = cs.paths[static_cast<std::size_t>(second)];
      std::uint8_t* copy = reserve_datagram(path2, static_cast<std::uint32_t>(size), port_index);
      if (copy) {
        std::memcpy(copy, out, size);  // same GRE sequence number: the peer keeps one
        bump(stats_.tx_redundant);
      } else {
        bump(stats_.tx_drop_no_buffer);
      }
    }
  }
}

std::uint8_t* TunReader::reserve_datagram(int path, std::uint32_t size,
                                          std::uint16_t port_index) {
  OpenBatch& ob = open_[static_cast<std::size_t>(path)];
  if (ob.buf) {
    const PacketBuf& b = *ob.buf;
    const bool fits = !ob.closed && b.source_port_index == port_index && size <= b.gso_size &&
                      b.segments < kMaxBatchSegments && b.length + size <= kMaxBatchBytes;
    if (!fits) close_batch(path);
  }
  if (!ob.buf) {
    PacketBuf* b = send_pool_.take();
    if (!b) [[unlikely]] return nullptr;
    b->offset = 0;
    b->length = 0;
    b->segments = 0;
    b->unsent = false;
    b->gso_size = static_cast<std::uint16_t>(size);
    b->source_port_index = port_index;
    b->path_index = static_cast<std::uint16_t>(path);
    ob.buf = b;
    ob.closed = false;
  }
  PacketBuf* b = ob.buf;
  if (size < b->gso_size) ob.closed = true;  // UDP GSO: only the last datagram may be shorter
  std::uint8_t* out = b->storage + b->length;
  b->length += size;
  ++b->segments;
  return out;
}

void TunReader::close_batch(int path) {
  const auto p = static_cast<std::size_t>(path);
  OpenBatch& ob = open_[p];
  if (!ob.buf) return;
  to_push_[p][to_push_len_[p]++] = ob.buf;
  ob.buf = nullptr;
  if (to_push_len_[p] == kBatchMax) flush_tx_rings();
}

void TunReader::flush_tx_rings() {
  for (std::size_t p = 0; p < paths_.size(); ++p) {
    std::size_t& len = to_push_len_[p];
    if (len == 0 || !paths_[p]) continue;
    bump(stats_.tx_batches);
    const std::size_t pushed = paths_[p]->tx_ring(queue_).push(to_push_[p].data(), len);
    for (std::size_t i = pushed; i < len; ++i) {
      bump(stats_.tx_drop_ring_full, to_push_[p][i]->segments);
      send_pool_.put(to_push_[p][i]);
    }
    if (pushed) {
      ring_doorbell(ring_, paths_[p]->doorbell());
      sent_since_timer_ = true;
    }
    len = 0;
  }
}

void TunReader::drain_returns() {
  std::array<PacketBuf*, kBatchMax> bufs;
  const std::uint64_t now = monotonic_ns();
  for (PathChannel* w : paths_) {
    if (!w) continue;
    std::size_t n;
    while ((n = w->tx_return_ring(queue_).pop(bufs.data(), bufs.size())) > 0) {
      for (std::size_t i = 0; i < n; ++i) {
        if (bufs[i]->unsent) [[unlikely]] {
          reroute(bufs[i]);
        } else {
          keep_sent(bufs[i], now);
        }
      }
    }
  }
  trim_histories(now);
}

}  // namespace mpt::engine
