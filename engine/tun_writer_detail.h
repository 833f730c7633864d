// TunWriter's sizes and defaults, shared by its files (tun_writer.cpp: the loop and delivery;
// tun_writer_reconfigure.cpp: reload). Private to the TUN writer.
#pragma once

#include <cstddef>
#include <cstdint>

#include "engine/tun_writer.h"

namespace mpt::engine::tun_writer_detail {

// The hold pool starts with room for this many full reorder windows (see copy_out).
inline constexpr std::size_t kHoldPoolStartWindows = 4;
inline constexpr unsigned kUringEntries = 1024;
inline constexpr std::size_t kCqeBatch = 512;
// Output pool: TUN writes in flight plus the one being filled. A write is gathered from the
// packets where they lie (TunWriter::OutputSlot), so a buffer only names its slot.
inline constexpr std::size_t kOutputPoolCount = 512;
inline constexpr std::uint32_t kOutputBufBytes = 64;
inline constexpr std::uint64_t kNever = scheduler::Reorder<PacketRef>::kNever;
// How long a gap that every path has passed is still given before it is called lost: covers
// neighbours swapped by a queue served from two CPUs (see scheduler/reorder.h).
inline constexpr std::uint64_t kEarlyLossGraceNs = 3000000;
// Receive buffers with at least this many datagrams are held by reference (see hold()).
inline constexpr std::uint16_t kHoldByRefSegments = 16;
// A full window pins at most kMaxReorderWindow / kHoldByRefSegments buffers, all of them of
// paths that are *ahead* (their packets wait for a missing number that another path
// carries: each path is FIFO), and only until the gap fills or max_delay passes. A path whose
// pool is pinned stops receiving meanwhile -- backpressure on the path that is ahead, which
// is what a reorder stage should do -- so the bound is one pool, not a fraction of it.
static_assert(kMaxReorderWindow / kHoldByRefSegments <= kRxPoolCount,
              "held batches may pin at most one path's receive pool");
// Marks hold-pool buffers (they have no path to go home to).
inline constexpr std::uint16_t kHoldPath = 0xFFFF;
// Repair before the control plane has measured the paths (it then derives both from the
// round trips, ControlLoop::derive_reorder_delays): ask after 3 ms, wait 50 ms for it.
inline constexpr std::uint64_t kDefaultNackFloorNs = 3'000'000;
inline constexpr std::uint64_t kDefaultRepairWaitNs = 50'000'000;

inline void default_repair(scheduler::Reorder<PacketRef>& r, const ConnectionSpec& c) {
  if (c.repair && c.paths.size() > 1) {
    r.set_repair(kDefaultNackFloorNs, kDefaultRepairWaitNs);
  } else {
    r.set_repair(0, 0);
  }
}


}  // namespace mpt::engine::tun_writer_detail
