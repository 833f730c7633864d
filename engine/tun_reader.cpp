#include "engine/tun_reader.h"

#include <cerrno>
#include <cstring>

#include "engine/log.h"
#include "engine/path_worker.h"
#include "scheduler/flow_key.h"

namespace mpt::engine {
namespace {

// TX pool sizing (one line per holder); every buffer is in exactly one of them:
//   the kernel's provided-buffer ring (multishot TUN reads)   the rest
//   this thread's per-path staging batches                  paths * kBatchMax
//   each path's tx ring                                     kRingCapacity per path
//   each path worker's in-flight SENDMSGs and return batch  bounded by the same budget
// The pool is no larger than one return ring so that a return push can never fail.
constexpr unsigned kTxPoolCount = 2048;
static_assert(kTxPoolCount <= kReturnRingCapacity);
static_assert((kTxPoolCount & (kTxPoolCount - 1)) == 0);
constexpr std::uint16_t kTxBufferGroup = 2;
constexpr unsigned kUringEntries = 512;
constexpr std::size_t kCqeBatch = 512;

}  // namespace

TunReader::TunReader(const TunnelSpec& tunnel, int tun_fd, std::span<PathWorker* const> paths,
                     int stop_fd)
    : tunnel_(tunnel),
      tun_fd_(tun_fd),
      paths_(paths.begin(), paths.end()),
      ring_(kUringEntries),
      pool_(kTxPoolCount, kTxHeadroom + static_cast<std::uint32_t>(tunnel.mtu) + 64),
      provided_(ring_, kTxBufferGroup, kTxPoolCount),
      path_batch_(paths.size()),
      path_batch_len_(paths.size(), 0) {
  connections_.reserve(tunnel.connections.size());
  for (std::size_t c = 0; c < tunnel.connections.size(); ++c) {
    const ConnectionSpec& cs = tunnel.connections[c];
    Connection conn{scheduler::PathChooser(cs.policy), {}, 0};
    std::vector<scheduler::PathPortRules> rules;
    for (int p : cs.paths) {
      const PathSpec& ps = tunnel.paths[static_cast<std::size_t>(p)];
      conn.states.push_back({ps.weight, ps.up});
      rules.push_back(ps.ports);
    }
    conn.chooser.set_port_rules(rules);
    conn.chooser.set_paths(conn.states);
    connections_.push_back(std::move(conn));
    for (const IpNet& d : cs.destinations) table_.add(d, static_cast<int>(c));
  }
  table_.set_connection_count(static_cast<int>(tunnel.connections.size()));
  for (unsigned i = 0; i < kTxPoolCount; ++i) recycle(pool_.at(i));
  provided_.publish();
  in_kernel_low_water_ = in_kernel_;
  bell_.ring_fd = ring_.fd();
  ring_.watch_stop(stop_fd);
}

void TunReader::recycle(PacketBuf* b) {
  provided_.add(b, kTxHeadroom);
  ++in_kernel_;
}

void TunReader::arm_read() {
  // IORING_OP_READ_MULTISHOT has no liburing 2.3 helper: fill the SQE by hand. One SQE keeps
  // reading packets into provided buffers until the ring runs dry or an error ends it.
  io_uring_sqe* sqe = ring_.get_sqe();
  io_uring_prep_rw(IORING_OP_NOP, sqe, tun_fd_, nullptr, 0, 0);
  sqe->opcode = kOpReadMultishot;
  sqe->flags |= IOSQE_BUFFER_SELECT;
  sqe->buf_group = kTxBufferGroup;
  io_uring_sqe_set_data64(sqe, make_user_data(Op::kTunRead));
  read_armed_ = true;
}

void TunReader::run() {
  std::array<io_uring_cqe, kCqeBatch> cqes;
  bool stop = false;
  while (!stop) {
    if (!read_armed_ && in_kernel_ > 0) arm_read();
    ring_.submit_and_wait(1);
    const std::size_t n = ring_.copy_cqes(cqes);
    for (std::size_t i = 0; i < n; ++i) {
      const io_uring_cqe& c = cqes[i];
      switch (op_of(c.user_data)) {
        case Op::kTunRead: handle_read(c); break;
        case Op::kWake: doorbell_answered(bell_); break;
        case Op::kStop: stop = true; break;
        case Op::kMsgRing: wake_failed(c.user_data); break;
        default: break;
      }
    }
    flush_path_batches();
    drain_returns();
  }
  // Release the TUN queue synchronously: cancel the multishot read and reap it.
  ring_.cancel_all();
  for (int i = 0; i < 100 && read_armed_; ++i) {
    ring_.wait_for_completions(10);
    const std::size_t n = ring_.copy_cqes(cqes);
    for (std::size_t k = 0; k < n; ++k) {
      if (op_of(cqes[k].user_data) == Op::kTunRead) handle_read(cqes[k]);
    }
  }
}

void TunReader::set_path_state(int path, std::uint32_t weight, bool up) {
  const PathSpec& ps = tunnel_.paths.at(static_cast<std::size_t>(path));
  Connection& c = connections_.at(static_cast<std::size_t>(ps.connection));
  const auto& ids = tunnel_.connections[static_cast<std::size_t>(ps.connection)].paths;
  for (std::size_t i = 0; i < ids.size(); ++i) {
    if (ids[i] == path) c.states[i] = {weight, up};
  }
  c.chooser.set_paths(c.states);
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
  PacketBuf* b = pool_.at(c.flags >> IORING_CQE_BUFFER_SHIFT);
  --in_kernel_;
  if (in_kernel_ < in_kernel_low_water_) in_kernel_low_water_ = in_kernel_;
  b->offset = kTxHeadroom;
  b->length = static_cast<std::uint32_t>(c.res);
  bump(stats_.tun_read_packets);
  bump(stats_.tun_read_bytes, b->length);

  if (b->length > static_cast<std::uint32_t>(tunnel_.mtu)) [[unlikely]] {
    bump(stats_.tx_drop_too_big);
    recycle(b);
    return;
  }
  GreFields f;
  f.protocol = protocol_for_inner(b->bytes());
  if (f.protocol == 0) [[unlikely]] {
    bump(stats_.tx_drop_not_ip);
    recycle(b);
    return;
  }
  const int conn_index = table_.lookup(b->bytes());
  if (conn_index < 0) [[unlikely]] {
    bump(stats_.tx_drop_no_connection);
    recycle(b);
    return;
  }
  Connection& conn = connections_[static_cast<std::size_t>(conn_index)];
  const ConnectionSpec& cs = tunnel_.connections[static_cast<std::size_t>(conn_index)];
  const scheduler::FlowKey key = scheduler::extract_flow_key(b->bytes());
  scheduler::PacketInfo info;
  info.bytes = b->length;
  info.flow_hash = scheduler::flow_key_hash(key, tunnel_.flow_hash_seed);
  info.protocol = key.protocol;
  info.has_ports = key.has_ports;
  info.src_port = key.src_port;
  info.dst_port = key.dst_port;
  const int local_path = conn.chooser.choose(info);
  if (local_path < 0) [[unlikely]] {
    bump(stats_.tx_drop_no_path);
    recycle(b);
    return;
  }
  const int path = cs.paths[static_cast<std::size_t>(local_path)];
  const std::uint32_t hash = info.flow_hash;
  f.checksum = cs.gre_checksum;
  f.key = cs.gre_key;
  if (cs.sequence_numbers) f.seq = conn.next_seq++;
  const std::size_t hs = gre_header_size(f);
  b->offset -= static_cast<std::uint32_t>(hs);
  b->length += static_cast<std::uint32_t>(hs);
  encode_gre(b->bytes(), f);
  b->path_index = static_cast<std::uint16_t>(path);
  b->source_port_index = static_cast<std::uint16_t>(hash >> 16);  // worker reduces mod count
  auto& len = path_batch_len_[static_cast<std::size_t>(path)];
  path_batch_[static_cast<std::size_t>(path)][len++] = b;
  if (len == kBatchMax) flush_path_batches();
}

void TunReader::flush_path_batches() {
  for (std::size_t p = 0; p < paths_.size(); ++p) {
    std::size_t& len = path_batch_len_[p];
    if (len == 0) continue;
    bump(stats_.tx_batches);
    const std::size_t pushed = paths_[p]->tx_ring().push(path_batch_[p].data(), len);
    for (std::size_t i = pushed; i < len; ++i) {
      bump(stats_.tx_drop_ring_full);
      recycle(path_batch_[p][i]);
    }
    if (pushed) ring_doorbell(ring_, paths_[p]->doorbell());
    len = 0;
  }
}

void TunReader::drain_returns() {
  std::array<PacketBuf*, kBatchMax> bufs;
  for (PathWorker* w : paths_) {
    std::size_t n;
    while ((n = w->tx_return_ring().pop(bufs.data(), bufs.size())) > 0) {
      for (std::size_t i = 0; i < n; ++i) recycle(bufs[i]);
    }
  }
  provided_.publish();
}

}  // namespace mpt::engine
