// TunWriter's part of `mpt reload`: a removed path's received packets delivered and its held
// buffers copied out before its pool goes; reorder stages kept, made or retired per
// connection slot.
#include <algorithm>

#include "engine/clock.h"
#include "engine/log.h"
#include "engine/path_channel.h"
#include "engine/tun_writer.h"
#include "engine/tun_writer_detail.h"

namespace mpt::engine {

using namespace tun_writer_detail;

void TunWriter::detach_path(int slot) {
  PathChannel* w = paths_.at(static_cast<std::size_t>(slot));
  if (!w) return;
  paused_ = true;
  // What the path received before it stopped is delivered (or held) as usual ...
  const std::uint64_t now = monotonic_ns();
  while (w->rx_ring(queue_).read_available() > 0) take_from(*w, now);
  // ... and nothing held may point into its receive buffers once it is gone.
  for (auto& r : reorder_) {
    if (!r) continue;
    r->for_each_held([&](PacketRef& ref) {
      if (ref.buf->path_index != static_cast<std::uint16_t>(slot)) return;
      if (hold_pool_.free_count() == 0) hold_pool_.grow(kBatchMax);
      PacketRef copy = copy_out(ref);
      if (copy.buf == ref.buf) {
        // Longer than a hold buffer: an empty stand-in keeps its place (and is dropped when
        // its turn comes) rather than a reference into a pool that goes away.
        PacketBuf* h = hold_pool_.take();
        h->path_index = kHoldPath;
        release(ref);
        copy.buf = h;
        copy.offset = 0;
        copy.length = 0;
      }
      ref = copy;
    });
  }
  // The writes just queued read from its buffers and release them when they complete: they
  // complete here, so every buffer is home before its pool goes (Engine::retire_path), not
  // after the writer runs again, when the slot may belong to another path.
  finish_output();
  wait_for_writes();
  flush_returns();
  paths_[static_cast<std::size_t>(slot)] = nullptr;
  paused_ = false;
}

void TunWriter::reconfigure(const TunnelSpec& old, std::span<PathChannel* const> slots) {
  paused_ = true;
  // Reorder commands still queued name the old local path indices: dropped. The control
  // loop's reconfigure, which runs after this one, sends its current values again.
  DelayCommand stale;
  while (delay_commands_.pop(stale)) {
  }
  paths_.assign(slots.begin(), slots.end());
  returns_.resize(paths_.size());
  returns_len_.resize(paths_.size(), 0);
  const std::size_t conns = tunnel_.connections.size();
  reorder_.resize(std::max(conns * kSpaces, reorder_.size()));
  reorder_counters_.resize(std::max(conns, reorder_counters_.size()));
  // The control loop sends its values again after this (see above): stages made later start
  // from the configuration until then.
  stage_settings_.assign(std::max(conns, stage_settings_.size()), StageSettings{});
  std::size_t windows = 0;
  for (std::size_t k = 0; k < reorder_.size(); ++k) {
    const std::size_t c = k / kSpaces;
    const ConnectionSpec* cs = c < conns ? &tunnel_.connections[c] : nullptr;
    const bool existed = cs && c < old.connections.size() && old.connections[c].active &&
                         cs->active && old.connections[c].name == cs->name;
    const bool wants = cs && cs->active && cs->sequence_numbers && cs->reorder_window > 0;
    const std::uint32_t window = cs ? std::min(cs->reorder_window, kMaxReorderWindow) : 0;
    auto& r = reorder_[k];
    if (r && (!existed || !wants || r->window() != window)) {
      set_sink(k);
      r->flush(*this);  // a connection that goes (or changes its window) delivers what it held
      r.reset();
    }
    if (r) {
      // The same connection: map its paths' new local indices to the old ones.
      std::vector<int> old_local;
      const auto& before = old.connections[c].paths;
      for (int slot : cs->paths) {
        const auto it = std::find(before.begin(), before.end(), slot);
        old_local.push_back(it == before.end() ? -1 : static_cast<int>(it - before.begin()));
      }
      r->remap_paths(old_local, monotonic_ns());
      if (!cs->repair || cs->paths.size() < 2) {
        r->set_repair(0, 0);
      } else if (r->repair_wait() == 0) {
        default_repair(*r, *cs);
      }
      if (!cs->max_delay_derived || !old.connections[c].max_delay_derived) {
        r->set_max_delay(std::uint64_t{cs->max_delay_ms} * 1000000);
      }
    } else if (wants && k % kSpaces == static_cast<std::size_t>(queue_)) {
      r = make_stage(*cs);  // this writer's own space: at once (the others on demand)
    }
    if (k % kSpaces == 0 && (!existed || !reorder_counters_[c])) {
      reorder_counters_[c] = std::make_unique<ReorderCounters>();
    }
    if (r) windows += r->window();
  }
  pending_nacks_.assign(reorder_.size(), PendingNacks{});
  // Every window can be full at once: room for the first few now, the rest on demand.
  windows = std::min<std::size_t>(windows, kHoldPoolStartWindows * kMaxReorderWindow);
  if (hold_pool_.count() < windows) hold_pool_.grow(windows - hold_pool_.count());
  finish_output();
  flush_returns();
  build_sources();  // after the flushes above: what a removed connection held passed the old
  paused_ = false;
}

}  // namespace mpt::engine
