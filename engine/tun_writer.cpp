#include "engine/tun_writer.h"

#include <cerrno>
#include <cstring>

#include "engine/log.h"
#include "engine/path_worker.h"

namespace mpt::engine {
namespace {
constexpr unsigned kUringEntries = 1024;
constexpr std::size_t kCqeBatch = 512;
// Writes in flight are bounded so the CQ can never overflow: the CQ has 4x the SQ entries.
constexpr std::size_t kMaxWritesInFlight = 2048;
}  // namespace

TunWriter::TunWriter(int tun_fd, std::span<PathWorker* const> paths, int stop_fd)
    : tun_fd_(tun_fd),
      paths_(paths.begin(), paths.end()),
      ring_(kUringEntries),
      returns_(paths.size()),
      returns_len_(paths.size(), 0) {
  bell_.ring_fd = ring_.fd();
  ring_.watch_stop(stop_fd);
}

void TunWriter::run() {
  std::array<io_uring_cqe, kCqeBatch> cqes;
  bool stop = false;
  while (!stop) {
    bool more = false;
    for (PathWorker* w : paths_) more = more || w->rx_ring().read_available() > 0;
    ring_.submit_and_wait(more && writes_in_flight_ < kMaxWritesInFlight ? 0 : 1);
    const std::size_t n = ring_.copy_cqes(cqes);
    for (std::size_t i = 0; i < n; ++i) {
      const io_uring_cqe& c = cqes[i];
      switch (op_of(c.user_data)) {
        case Op::kTunWrite: handle_write(c); break;
        case Op::kWake: doorbell_answered(bell_); break;
        case Op::kStop: stop = true; break;
        case Op::kMsgRing: wake_failed(c.user_data); break;
        default: break;
      }
    }
    flush_returns();
    write_batches();
  }
}

void TunWriter::handle_write(const io_uring_cqe& c) {
  PacketBuf* b = buf_of(c.user_data);
  --writes_in_flight_;
  if (c.res < 0) {
    bump(stats_.tun_write_errors);
    MPT_LOG_RATELIMITED(LogLevel::kWarn, "TUN write: %s", std::strerror(-c.res));
  } else {
    bump(stats_.tun_write_packets);
    bump(stats_.tun_write_bytes, b->length);
  }
  const std::size_t p = b->path_index;
  returns_[p][returns_len_[p]++] = b;
  if (returns_len_[p] == kBatchMax) flush_returns();
}

void TunWriter::flush_returns() {
  for (std::size_t p = 0; p < paths_.size(); ++p) {
    if (returns_len_[p] == 0) continue;
    // Cannot fail: a path's receive pool is no larger than its return ring.
    (void)paths_[p]->rx_return_ring().push(returns_[p].data(), returns_len_[p]);
    ring_doorbell(ring_, paths_[p]->doorbell());
    returns_len_[p] = 0;
  }
}

void TunWriter::write_batches() {
  std::array<PacketBuf*, kBatchMax> bufs;
  std::size_t batches = 0;
  for (PathWorker* w : paths_) {
    if (writes_in_flight_ >= kMaxWritesInFlight) break;
    const std::size_t room = std::min(bufs.size(), kMaxWritesInFlight - writes_in_flight_);
    const std::size_t n = w->rx_ring().pop(bufs.data(), room);
    for (std::size_t i = 0; i < n; ++i) {
      PacketBuf* b = bufs[i];
      io_uring_sqe* sqe = ring_.get_sqe();
      io_uring_prep_write(sqe, tun_fd_, b->data(), b->length, 0);
      io_uring_sqe_set_data64(sqe, make_user_data(Op::kTunWrite, b));
      ++writes_in_flight_;
    }
    batches += n > 0;
  }
  if (batches) bump(stats_.tun_write_batches, batches);
}

}  // namespace mpt::engine
