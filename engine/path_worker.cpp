#include "engine/path_worker.h"

#include "engine/repair_message.h"

#include <netinet/in.h>
#include <netinet/udp.h>
#include <unistd.h>

#include <time.h>

#include <cerrno>
#include <cstring>
#include <system_error>

#include "engine/byte_order.h"
#include "engine/clock.h"
#include "engine/gro_split.h"
#include "engine/log.h"
#include "engine/udp_socket.h"

namespace mpt::engine {
namespace {

// Receive pool sizing (one line per holder). Every buffer starts in the kernel's provided
// ring; the ring can name all of them, so the pool size is also the ring size.
//   rx_ring to the TUN writer            any number (the ring holds every packet of the pool)
//   the writer's reorder window          <= kMaxReorderWindow (held for a missing number)
//   the writer's in-flight TUN writes    bounded by the writer (kMaxWritesInFlight)
//   the kernel's provided-buffer ring    the rest
// A pool no larger than the return ring's capacity means a return push can never fail.
static_assert(kRxPoolCount <= kReturnRingCapacity);
static_assert((kRxPoolCount & (kRxPoolCount - 1)) == 0, "buffer ring size must be a power of 2");
constexpr std::uint16_t kRxBufferGroup = 1;
constexpr unsigned kUringEntries = 1024;
constexpr std::size_t kCqeBatch = 512;

// A receive buffer holds io_uring_recvmsg_out, the source address, the UDP_GRO cmsg and a
// datagram of up to 64 KB (a GRO batch of GRE-in-UDP datagrams).
constexpr std::size_t kRxControlBytes = CMSG_SPACE(sizeof(int));
// The source address area of a receive buffer: a sockaddr_in6 rounded up to cmsghdr's
// alignment, so that the control messages after it (io_uring recvmsg layout) are aligned.
constexpr std::size_t kRxNameBytes = (sizeof(sockaddr_in6) + alignof(cmsghdr) - 1) / alignof(cmsghdr) * alignof(cmsghdr);
constexpr std::uint32_t kRxBufBytes = static_cast<std::uint32_t>(
    sizeof(io_uring_recvmsg_out) + kRxNameBytes + kRxControlBytes + 65535 + 64);

}  // namespace

PathWorker::PathWorker(const TunnelSpec& tunnel, int path_index, int stop_fd)
    : PathChannel(path_index, tunnel.paths.at(static_cast<std::size_t>(path_index)).connection,
                  tunnel.queues),
      spec_(tunnel.paths.at(static_cast<std::size_t>(path_index))),
      gre_key_(tunnel.connections.at(static_cast<std::size_t>(spec_.connection)).gre_key),
      sealed_(tunnel.connections.at(static_cast<std::size_t>(spec_.connection)).sealed),
      stop_fd_(stop_fd),
      ring_(std::make_unique<Uring>(kUringEntries)),
      rx_pool_(std::make_unique<BufferPool>(kRxPoolCount, kRxBufBytes)),
      provided_(std::make_unique<ProvidedBuffers>(*ring_, kRxBufferGroup, kRxPoolCount)) {
  endpoint_.store(spec_.remote, spec_.remote_len);
  served_.push_back(this);
  slot_of_index_.assign(static_cast<std::size_t>(path_index) + 1, nullptr);
  slot_of_index_.back() = this;
  bell_.ring_fd = ring_->fd();
  if (spec_.local_len == 0) return;  // waiting for its interface or address: no sockets
  open_sockets(tunnel.flow_hash_seed);
}

PathWorker::PathWorker(Listener, const PathSpec& where, int stop_fd)
    : PathChannel(-1, -1),
      spec_(where),
      sealed_(true),
      stop_fd_(stop_fd),
      ring_(std::make_unique<Uring>(kUringEntries)),
      rx_pool_(std::make_unique<BufferPool>(kRxPoolCount, kRxBufBytes)),
      provided_(std::make_unique<ProvidedBuffers>(*ring_, kRxBufferGroup, kRxPoolCount)) {
  listener_ = true;
  spec_.source_port_count = 0;  // clients hear from the one port they sent to
  control_listener_.store(true, std::memory_order_relaxed);
  bell_.ring_fd = ring_->fd();
  open_sockets(0);
}

PathWorker::PathWorker(const TunnelSpec& tunnel, int path_index, PathWorker& host)
    : PathChannel(path_index, tunnel.paths.at(static_cast<std::size_t>(path_index)).connection,
                  tunnel.queues),
      spec_(tunnel.paths.at(static_cast<std::size_t>(path_index))),
      gre_key_(tunnel.connections.at(static_cast<std::size_t>(spec_.connection)).gre_key),
      sealed_(tunnel.connections.at(static_cast<std::size_t>(spec_.connection)).sealed),
      stop_fd_(-1),
      host_(&host) {
  endpoint_.store(spec_.remote, spec_.remote_len);
  host_channel_ = &host;
}

void PathWorker::open_sockets(std::uint32_t flow_hash_seed) {
  recv_fd_ = open_udp_socket(spec_.local, spec_.local_len, spec_.interface_name);
  try {
    open_send_sockets(flow_hash_seed);
  } catch (...) {
    close_sockets();  // a failed path must not keep its ports bound (a reload retries it)
    throw;
  }
  for (unsigned i = 0; i < kRxPoolCount; ++i) recycle_rx(rx_pool_->at(i));
  provided_->publish();
  rx_free_.store(rx_in_kernel_, std::memory_order_relaxed);
  recv_msg_template_.msg_namelen = kRxNameBytes;  // keeps the cmsg area 8-byte aligned
  recv_msg_template_.msg_controllen = kRxControlBytes;
  // UDP GRO: the kernel may hand over several same-sized datagrams of one source as one,
  // with their size in a UDP_GRO control message.
  int one = 1;
  if (setsockopt(recv_fd_, SOL_UDP, UDP_GRO, &one, sizeof one) < 0) {
    MPT_WARN("%s: UDP_GRO refused (%s): one datagram per receive", spec_.name.c_str(),
             std::strerror(errno));
  }
}

void PathWorker::open_send_sockets(std::uint32_t flow_hash_seed) {
  source_ports_.push_back(sockaddr_port(spec_.local));
  if (spec_.source_port_count == 0) {
    send_fds_.push_back(recv_fd_);
  } else {
    source_ports_.clear();
    // Entropy ports: walk the range from a per-path starting point, skipping ports in use.
    std::uint32_t candidate = flow_hash_seed * 2654435761u + static_cast<std::uint32_t>(path_index_) * 7919u;
    for (int tries = 0; static_cast<int>(send_fds_.size()) < spec_.source_port_count; ++tries) {
      if (tries > 4096) throw std::system_error(EADDRINUSE, std::generic_category(),
                                                "no free UDP source ports for " + spec_.name);
      sockaddr_storage a = spec_.local;
      const std::uint16_t port = entropy_source_port(candidate);
      candidate += 104729;  // a prime stride spreads the ports over the range
      set_sockaddr_port(a, port);
      try {
        send_fds_.push_back(open_udp_socket(a, spec_.local_len, spec_.interface_name));
        source_ports_.push_back(port);
      } catch (const std::system_error& e) {
        if (e.code().value() != EADDRINUSE) throw;
      }
    }
  }
}

PathWorker::~PathWorker() { close_sockets(); }

void PathWorker::close_sockets() {
  for (int fd : send_fds_) {
    if (fd != recv_fd_ && fd >= 0) ::close(fd);
  }
  send_fds_.clear();
  if (recv_fd_ >= 0) ::close(recv_fd_);
  recv_fd_ = -1;
}

void PathWorker::arm_recv() {
  starving_.store(false, std::memory_order_relaxed);
  io_uring_sqe* sqe = ring_->get_sqe();
  io_uring_prep_recvmsg_multishot(sqe, recv_fd_, &recv_msg_template_, 0);
  sqe->flags |= IOSQE_BUFFER_SELECT;
  sqe->buf_group = kRxBufferGroup;
  io_uring_sqe_set_data64(sqe, make_user_data(Op::kRecv));
  recv_armed_ = true;
}

void PathWorker::run() {
  std::array<io_uring_cqe, kCqeBatch> cqes;
  bool stop = false;
  ring_->watch_stop(stop_fd_);  // armed per run: Engine::reconfigure stops and restarts us
  refresh_slots();
  if (has_sockets()) arm_recv();
  while (!stop) {
    // Sleep in the kernel only when no ring holds work for us.
    ring_->submit_and_wait(slots_have_work() ? 0 : 1);
    const std::size_t n = ring_->copy_cqes(cqes);
    refresh_slots();  // where the peers are now: the receive filter and this turn's sends
    for (std::size_t i = 0; i < n; ++i) {
      const io_uring_cqe& c = cqes[i];
      switch (op_of(c.user_data)) {
        case Op::kRecv: handle_recv(c); break;
        case Op::kSend: handle_send(c); break;
        case Op::kWake: doorbell_answered(bell_); break;
        case Op::kStop: stop = true; break;
        case Op::kMsgRing: wake_failed(c.user_data); break;
        default: break;
      }
    }
    for (PathWorker* s : served_) {
      s->flush_rx_batch();
      s->flush_tx_returns();
    }
    drain_all_rx_returns();
    rx_free_.store(rx_in_kernel_, std::memory_order_relaxed);
    // Re-arm a receive that ended -- if the kernel has buffers to receive into. With none
    // (all held downstream), announce it and look once more: the writer either sees the flag
    // and wakes us when it returns some (take_starving), or its push is seen here (fences on
    // both sides). No spin of ENOBUFS completions, no sleep with buffers available.
    if (!recv_armed_ && !stop && has_sockets()) {
      if (rx_in_kernel_ == 0) {
        starving_.store(true, std::memory_order_relaxed);
        std::atomic_thread_fence(std::memory_order_seq_cst);
        drain_all_rx_returns();
      }
      if (rx_in_kernel_ > 0) {
        starving_.store(false, std::memory_order_relaxed);
        arm_recv();
      }
    }
    if (!stop) {
      for (PathWorker* s : served_) s->send_tx_batch();
    }
  }
  // Release the sockets synchronously: cancel what is in flight and reap it.
  ring_->cancel_all();
  for (int i = 0; i < 100 && (recv_armed_ || sends_in_flight_ > 0); ++i) {
    ring_->wait_for_completions(10);
    const std::size_t n = ring_->copy_cqes(cqes);
    for (std::size_t k = 0; k < n; ++k) {
      if (op_of(cqes[k].user_data) == Op::kRecv) handle_recv(cqes[k]);
      if (op_of(cqes[k].user_data) == Op::kSend) handle_send(cqes[k]);
    }
  }
  for (PathWorker* s : served_) {
    s->flush_rx_batch();
    s->flush_tx_returns();
  }
  ring_->submit_and_wait(0);  // wake-ups queued above go out now, not after a pause
}

void PathWorker::handle_recv(const io_uring_cqe& c) {
  if (!(c.flags & IORING_CQE_F_MORE)) recv_armed_ = false;  // multishot ended: re-arm later
  if (c.res < 0) {
    if (c.res == -ENOBUFS) {
      bump(stats_.rx_nobufs);
    } else if (c.res != -ECANCELED) {
      bump(stats_.rx_recv_errors);
      MPT_LOG_RATELIMITED(LogLevel::kWarn, "%s: recvmsg: %s", spec_.name.c_str(),
                          std::strerror(-c.res));
    }
    return;
  }
  if (!(c.flags & IORING_CQE_F_BUFFER)) [[unlikely]] return;
  PacketBuf* b = rx_pool_->at(c.flags >> IORING_CQE_BUFFER_SHIFT);
  --rx_in_kernel_;
  io_uring_recvmsg_out* out =
      io_uring_recvmsg_validate(b->storage, c.res, &recv_msg_template_);
  if (!out || (out->flags & MSG_TRUNC) || out->namelen > sizeof(sockaddr_in6)) {
    bump(stats_.rx_drop_truncated);
    recycle_rx(b);
    return;
  }
  const auto* from = static_cast<const sockaddr*>(io_uring_recvmsg_name(out));
  // Without keys the source address is the only check there is. A keyed connection takes
  // control messages from any address -- the peer may have moved (NAT rebinding, a new
  // address), and the control thread follows it once an authenticated message shows where
  // it is now -- but sealed data and repair requests only from the peer's current address
  // (any port: a NAT maps the peer's entropy ports to ports of its own): from anywhere else
  // they cost a comparison and a drop, not an AEAD open (handle_datagram). A peer that
  // moved is followed within a probe (every 20 ms on a busy path; a new path carries data
  // only after it has answered), so its data is not held up.
  // A listener hands the datagram to the client slot of its source address (a GRO batch has
  // one source); from no client's address it is the listener's own (control messages only).
  PathWorker* s = this;
  if (listener_) {
    s = demux(from);
    if (s) {
      s->rx_from_known_ = true;
    } else {
      s = this;
      rx_from_known_ = false;
    }
  } else {
    rx_from_known_ = same_ip(from, peer_);
  }
  if (!s->sealed_ && !s->rx_from_known_) {
    bump(s->stats_.rx_drop_unknown_peer);
    MPT_LOG_RATELIMITED(LogLevel::kWarn, "%s: dropped datagram from an address that is not "
                        "this path's peer", s->spec_.name.c_str());
    recycle_rx(b);
    return;
  }
  s->rx_from_ = from;
  s->rx_from_len_ = out->namelen;
  auto* payload = static_cast<std::uint8_t*>(io_uring_recvmsg_payload(out, &recv_msg_template_));
  const std::uint32_t len =
      io_uring_recvmsg_payload_length(out, c.res, &recv_msg_template_);
  std::uint32_t gso_size = 0;
  for (cmsghdr* cm = io_uring_recvmsg_cmsg_firsthdr(out, &recv_msg_template_); cm;
       cm = io_uring_recvmsg_cmsg_nexthdr(out, &recv_msg_template_, cm)) {
    if (cm->cmsg_level == SOL_UDP && cm->cmsg_type == UDP_GRO) {
      int v;
      std::memcpy(&v, CMSG_DATA(cm), sizeof v);
      if (v > 0) gso_size = static_cast<std::uint32_t>(v);
    }
  }
  bump(s->stats_.rx_gro_datagrams);
  // The refs this buffer will hand out are counted up front (one extra held by this loop),
  // so a writer that finishes early cannot send it home while we are still splitting.
  b->refs.store(1, std::memory_order_relaxed);
  // Written once, before any ref is handed out: the TUN writer reads it (release) while this
  // loop may still be splitting the same batch (a full rx batch is flushed mid-split).
  // Writing it per datagram was a data race (TSan, reload_test).
  b->path_index = static_cast<std::uint16_t>(s->path_index_);  // a listener's own: never handed out
  // How many datagrams share this buffer: the TUN writer holds refs to big GRO batches in
  // its reorder window instead of copying them (bounded pinning, see TunWriter::hold).
  b->segments = static_cast<std::uint16_t>(std::min<std::uint32_t>(0xFFFF, gro_datagram_count(len, gso_size)));
  for_each_gro_datagram(payload, len, gso_size,
                        [&](std::uint8_t* d, std::uint32_t n) { s->handle_datagram(b, d, n); });
  release_ref(b);
}

void PathWorker::handle_datagram(PacketBuf* b, std::uint8_t* payload, std::uint32_t len) {
  const GreParsed p = parse_gre({payload, len});
  if (p.error != GreError::kOk) {
    bump(stats_.rx_drop_gre[static_cast<std::size_t>(p.error)]);
    MPT_LOG_RATELIMITED(LogLevel::kWarn, "%s: dropped invalid GRE-in-UDP datagram (%s)",
                        spec_.name.c_str(), to_string(p.error));
    return;
  }
  // The connection's key; plain sequenced data of the peer's other TUN queues carries its
  // sequence space in the key's low bits (space_key).
  int space = 0;
  if (p.fields.key != gre_key_) {
    space = p.fields.seq && p.fields.protocol != kProtoMptControl &&
                    p.fields.protocol != kProtoMptRepair
                ? key_space(p.fields.key, gre_key_)
                : -1;
    if (space < 0) {
      bump(stats_.rx_drop_key_mismatch);
      return;
    }
  }
  if (sealed_ && p.fields.protocol != kProtoMptControl) {
    // A keyed connection takes data and repair requests only sealed: plain ones are what a
    // spoofer without the keys would send.
    bump(stats_.rx_drop_unsealed);
    MPT_LOG_RATELIMITED(LogLevel::kWarn, "%s: dropped plain (unsealed) data on a keyed "
                        "connection", spec_.name.c_str());
    return;
  }
  if (p.fields.protocol == kProtoMptControl && len - p.header_size > 0 &&
      (payload[p.header_size] == kSealedData || payload[p.header_size] == kSealedRepair)) {
    if (!rx_from_known_) [[unlikely]] {
      bump(stats_.rx_drop_unknown_peer);
      MPT_LOG_RATELIMITED(LogLevel::kWarn, "%s: dropped sealed data from an address that is "
                          "not this path's peer", spec_.name.c_str());
      return;
    }
    handle_sealed(b, payload, len, p);
    return;
  }
  if (p.fields.protocol == kProtoMptControl) {
    const std::uint32_t n = len - p.header_size;
    ControlPacket cp;
    if (!control_listener_.load(std::memory_order_relaxed) || n > cp.data.size()) {
      bump(stats_.rx_control_dropped);
      return;
    }
    // Admission (see set_peer_session): a known version, long enough for a header and a
    // tag, and the peer's session -- or one of a few other messages per second.
    const std::uint8_t* m = payload + p.header_size;
    if (n < kControlHeaderSize + kControlMinTrailer || m[0] < kControlVersionFirst ||
        m[0] > kControlVersionLast) {
      bump(stats_.rx_control_dropped);
      return;
    }
    const std::uint64_t now_us = monotonic_us();
    const std::uint64_t known = peer_session_.load(std::memory_order_relaxed);
    if (known == 0 || load_be64(m + 4) != known) {
      new_session_tokens_ = std::min(
          kNewSessionBurst, new_session_tokens_ + static_cast<double>(now_us - new_session_refill_us_) *
                                                      kNewSessionPerSecond / 1e6);
      new_session_refill_us_ = now_us;
      if (new_session_tokens_ < 1) {
        bump(stats_.rx_control_limited);
        return;
      }
      new_session_tokens_ -= 1;
    }
    cp.rx_time_us = now_us;
    cp.from_len = std::min<socklen_t>(rx_from_len_, sizeof cp.from);
    std::memcpy(&cp.from, rx_from_, cp.from_len);
    cp.rx_packets_before = read(stats_.rx_packets);
    cp.rx_bytes_before = read(stats_.rx_bytes);
    cp.length = static_cast<std::uint16_t>(n);
    std::memcpy(cp.data.data(), payload + p.header_size, n);
    if (control_ring_.push(cp)) {
      bump(stats_.rx_control);
    } else {
      bump(stats_.rx_control_dropped);
    }
    return;
  }
  if (p.fields.protocol == kProtoMptRepair) {
    handle_nack({payload + p.header_size, len - p.header_size});
    return;
  }
  bump(stats_.rx_packets);
  bump(stats_.rx_bytes, len);
  PacketRef r;
  r.buf = b;
  r.offset = static_cast<std::uint32_t>(payload - b->storage) + p.header_size;
  r.length = len - p.header_size;
  r.has_seq = p.fields.seq.has_value();
  r.seq = p.fields.seq.value_or(0);
  r.sealed = false;
  r.space = static_cast<std::uint8_t>(space);
  push_rx(queue_of_space(r.space), r);  // the writer that owns the sender queue's space
}

int PathWorker::open_sealed(const SealedHeader& h, const GreFields& gre,
                            std::span<std::uint8_t> body) {
  if (!keys_) return -1;
  for (std::size_t s = 0; s < rx_keys_.size(); ++s) {
    CachedKey& k = rx_keys_[s];
    if (!k.refresh(keys_->rx[s]) || k.id != h.key_id) continue;
    if (open_body(k.aead, h, gre, body)) return static_cast<int>(s);
  }
  return -1;
}

// A sealed packet (kind 4 data, 5 repair request): opened in place, or dropped and counted.
// Only what opens counts as received (and, once the TUN writer's replay window took it, as
// proof that the path delivers).
void PathWorker::handle_sealed(PacketBuf* b, std::uint8_t* payload, std::uint32_t len,
                               const GreParsed& p) {
  const std::span<std::uint8_t> body{payload + p.header_size, len - p.header_size};
  const auto h = parse_sealed(body);
  const int slot = h && sealed_ ? open_sealed(*h, p.fields, body) : -1;
  if (slot < 0) {
    bump(stats_.rx_drop_auth);
    MPT_LOG_RATELIMITED(LogLevel::kWarn, "%s: dropped a sealed packet that no key opens "
                        "(forged, damaged, or under keys already given up)", spec_.name.c_str());
    return;
  }
  const std::span<std::uint8_t> text = body.subspan(kSealedHeaderSize, body.size() - kSealedOverhead);
  if (h->kind == kSealedRepair) {
    RepairRequest sealed;
    sealed.key_slot = static_cast<std::uint8_t>(slot);
    sealed.key_gen = rx_keys_[static_cast<std::size_t>(slot)].seq;
    sealed.counter = h->counter;
    sealed.nonce_space = h->space;
    handle_nack(text, sealed);
    return;
  }
  if (const GreError e = check_inner_packet(text); e != GreError::kOk) {
    bump(stats_.rx_drop_gre[static_cast<std::size_t>(e)]);
    return;
  }
  bump(stats_.rx_packets);
  bump(stats_.rx_bytes, len);
  PacketRef r;
  r.buf = b;
  r.offset = static_cast<std::uint32_t>(text.data() - b->storage);
  r.length = static_cast<std::uint32_t>(text.size());
  r.has_seq = p.fields.seq.has_value();
  r.seq = p.fields.seq.value_or(0);
  r.sealed = true;
  r.key_slot = static_cast<std::uint8_t>(slot);
  r.key_gen = rx_keys_[static_cast<std::size_t>(slot)].seq;
  r.space = h->space;
  r.counter = h->counter;
  // The sender's queue numbered it in its own sequence space: the writer that owns the
  // space restores its order.
  push_rx(queue_of_space(h->space), r);
}

// A NACK from the peer: its ranges go to the TUN reader, which holds what was sent.
void PathWorker::handle_nack(std::span<const std::uint8_t> body, RepairRequest how) {
  const NackParsed n = parse_nack(body);
  if (n.error != NackError::kOk) {
    bump(stats_.rx_nack_dropped);
    MPT_LOG_RATELIMITED(LogLevel::kWarn, "%s: dropped invalid repair request (%s)",
                        spec_.name.c_str(), to_string(n.error));
    return;
  }
  // The message's first range *that gets into the ring* carries the replay check for the
  // ones after it (TunReader::serve_repairs): were it the first range, and that one lost to a
  // full ring, the rest would ride on the previous message's verdict.
  // One message names numbers of one sequence space (the peer's reorder stage of that
  // space asked): it goes to the TUN reader that numbered them, which keeps what it sent.
  const int q = queue_of_space(n.ranges[0].space);
  bool pushed = false;
  for (std::size_t i = 0; i < n.count; ++i) {
    RepairRequest rq = how;
    rq.first = n.ranges[i].first;
    rq.count = n.ranges[i].count;
    rq.attempt = n.ranges[i].attempt;
    rq.first_of_message = !pushed;
    if (repair_ring(q).push(rq)) {
      pushed = true;
      bump(stats_.rx_nack_ranges);
      repair_wake_[static_cast<std::size_t>(q)] = true;
    } else {
      bump(stats_.rx_nack_dropped);
    }
  }
}

void PathWorker::handle_send(const io_uring_cqe& c) {
  PacketBuf* b = buf_of(c.user_data);
  --sends_in_flight_;
  PathWorker* s = b->path_index < slot_of_index_.size() ? slot_of_index_[b->path_index] : nullptr;
  (s ? s : this)->finish_send(c, b);
}

// A send completed: counted on the path that sent it, and the batch goes home.
void PathWorker::finish_send(const io_uring_cqe& c, PacketBuf* b) {
  // EMSGSIZE: longer than the path MTU or the interface (kernels before 5.x said EINVAL, which
  // a GSO send of at most 64 segments otherwise does not return).
  if ((c.res == -EMSGSIZE || c.res == -EINVAL) && b->segments > 1) [[unlikely]] {
    send_unsegmented(b, -c.res);
    return_tx(b);
    return;
  }
  if (c.res < 0) {
    bump(stats_.tx_send_errors);
    MPT_LOG_RATELIMITED(LogLevel::kWarn, "%s: sendmsg: %s", spec_.name.c_str(),
                        std::strerror(-c.res));
  } else {
    bump(stats_.tx_packets, b->segments);
    bump(stats_.tx_bytes, b->length);
  }
  return_tx(b);
}

}  // namespace mpt::engine
