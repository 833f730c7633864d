// TunReader, pacing (scheduler = auto, `pacing = 1`): when every bottleneck path of a connection
// already holds its target queue (EarliestArrival::has_room), a TUN read waits here -- in the
// sender, where the scheduler still decides where it goes when it leaves -- instead of in
// front of the bottlenecks, where it would sit behind everything queued, tail-drop on the path
// the scheduler happened to pick, and be out of reach when that path dies.
//
// The hold queue is per connection, FIFO, and bounded in time (pace_queue_ms): a read that
// waited longer is dropped from the head (and counted), which is how the inner flows learn
// that the paths together are full -- one queue, one drop point, like a single link's.
// Held reads are read-pool buffers: while reads are held the kernel has fewer to fill, and
// if all were held the TUN's own queue would push back (a local TCP sender is then throttled
// by its small-queue limit rather than by loss).
#include "engine/tun_reader.h"

#include <algorithm>

#include "engine/clock.h"
#include "engine/tun_offload.h"

namespace mpt::engine {

bool TunReader::hold(PacketBuf* b, std::size_t bytes) {
  if (!pacing_possible_ && held_total_ == 0) return false;
  const std::size_t off = vnet_hdr_ ? kVnetHdrSize : 0;
  if (bytes <= off) return false;
  const int ci = table_.lookup({b->storage + off, bytes - off});
  if (ci < 0) return false;
  Connection& conn = connections_[static_cast<std::size_t>(ci)];
  const ConnectionSpec& cs = tunnel_.connections[static_cast<std::size_t>(ci)];
  // One path: nothing to place, and the bottleneck's own buffer serves the flows as well.
  if (!cs.pacing || cs.paths.size() < 2 || conn.chooser.policy() != scheduler::Policy::kAuto) {
    return false;
  }
  const std::uint64_t now = monotonic_ns();
  if (conn.held.len == 0 && conn.chooser.has_room(now)) return false;
  if (conn.held.full()) {  // the oldest goes: it waited longest
    recycle_read(conn.held.pop().buf);
    --held_total_;
    bump(stats_.tx_drop_pace_queue);
  }
  conn.held.push({b, static_cast<std::uint32_t>(bytes), now});
  ++held_total_;
  bump(stats_.tx_paced);
  return true;
}

void TunReader::release_held(std::uint64_t now_ns) {
  std::uint64_t wake = 0;
  for (std::size_t c = 0; c < connections_.size(); ++c) {
    Connection& conn = connections_[c];
    if (conn.held.len == 0) continue;
    const std::uint64_t limit_ns =
        std::uint64_t{tunnel_.connections[c].pace_queue_ms} * 1'000'000;
    while (conn.held.len > 0) {
      const Held& h = conn.held.front();
      if (now_ns - h.read_ns > limit_ns) {
        recycle_read(conn.held.pop().buf);
        --held_total_;
        bump(stats_.tx_drop_pace_queue);
        continue;
      }
      if (!conn.chooser.has_room(now_ns)) break;
      const Held go = conn.held.pop();
      --held_total_;
      consume_read(go.buf, go.bytes);
    }
    if (conn.held.len > 0) {
      // The head must leave by its deadline (or be dropped then) at the latest.
      const std::uint64_t at = std::min(conn.chooser.room_at(now_ns),
                                        conn.held.front().read_ns + limit_ns + 1);
      wake = wake == 0 ? at : std::min(wake, at);
    }
  }
  if (wake == 0 || pace_timer_in_flight_) return;
  // At least 20 us: a shorter sleep costs more than it saves.
  const std::uint64_t in = std::max<std::uint64_t>(wake > now_ns ? wake - now_ns : 0, 20'000);
  pace_ts_.tv_sec = static_cast<long long>(in / 1'000'000'000);
  pace_ts_.tv_nsec = static_cast<long long>(in % 1'000'000'000);
  io_uring_sqe* sqe = ring_.get_sqe();
  io_uring_prep_timeout(sqe, &pace_ts_, 0, 0);
  io_uring_sqe_set_data64(sqe, make_user_data(Op::kTimer, &pace_ts_));
  pace_timer_in_flight_ = true;
}

void TunReader::drop_all_held() {
  for (Connection& conn : connections_) {
    while (conn.held.len > 0) {
      recycle_read(conn.held.pop().buf);
      bump(stats_.tx_drop_pace_queue);
    }
  }
  held_total_ = 0;
}

}  // namespace mpt::engine
