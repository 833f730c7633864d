// ControlLoop, the receive side's reorder parameters: what the probes measured, turned into
// the reorder stage's longest wait, each path's lag floor, and a path's death (posted to the
// TUN writer through its command queue; see scheduler/reorder.h for what they do there).
#include <algorithm>

#include "signaling/control_loop.h"

namespace mpt::signaling {

// The reorder stage's longest wait, when the configuration leaves it to mptd: twice the RTT
// of the slowest usable path plus 10 ms (draft-lencse-tsvwg-mpt §6: "a few RTTs of the
// slowest path"), within 10 ms .. 1 s. Sent only when it moves by more than 10 %.
void ControlLoop::derive_reorder_delays() {
  derive_reorder_lag_floors();
  derive_repair();
  for (std::size_t c = 0; c < connections_.size(); ++c) {
    Connection& conn = connections_[c];
    if (!conn.active || !conn.cfg.enabled || !engine_.spec().connections[c].max_delay_derived) continue;
    std::uint64_t max_rtt_us = 0;
    for (const Path& p : paths_) {
      if (p.active && p.connection == static_cast<int>(c) && p.health.usable()) {
        max_rtt_us = std::max(max_rtt_us, p.health.rtt_us());
      }
    }
    if (max_rtt_us == 0) continue;
    const std::uint64_t ns =
        std::clamp<std::uint64_t>((2 * max_rtt_us + 10000) * 1000, 10000000, 1000000000);
    const std::uint64_t old = conn.reorder_delay_ns;
    if ((old == 0 || ns * 10 > old * 11 || ns * 11 < old * 10) &&
        engine_.set_reorder_max_delay(c, ns)) {
      conn.reorder_delay_ns = ns;
    }
  }
}

// The reorder stage waits for an idle path that may still bring a gap as long as that path's
// packets are known to lag (scheduler/reorder.h); before it has seen any, it assumes half the
// path's RTT above the fastest usable path's (the one-way skew, queues included). Sent when it
// moves by more than 1 ms and 10 %.
void ControlLoop::derive_reorder_lag_floors() {
  for (std::size_t c = 0; c < connections_.size(); ++c) {
    const Connection& conn = connections_[c];
    if (!conn.active || !conn.cfg.enabled) continue;
    std::uint64_t min_rtt_us = 0;
    for (const Path& p : paths_) {
      if (p.active && p.connection == static_cast<int>(c) && p.health.usable() &&
          p.health.rtt_us() > 0) {
        min_rtt_us = min_rtt_us ? std::min(min_rtt_us, p.health.rtt_us()) : p.health.rtt_us();
      }
    }
    if (min_rtt_us == 0) continue;
    for (Path& p : paths_) {
      if (!p.active || p.connection != static_cast<int>(c)) continue;
      const HealthState st = p.health.state();
      if (st == HealthState::kDown || st == HealthState::kLinkDown) {
        if (p.reorder_live) {
          // It died: its gaps wait only for what the peer reinjects on the fastest live path
          // (the peer detects the death within about a probe interval of us).
          const std::uint64_t hold_us =
              min_rtt_us * 5 / 8 + std::min<std::uint64_t>(conn.cfg.health.probe_interval_us, 100000);
          if (engine_.reorder_path_died(c, p.local_index, hold_us * 1000)) {
            p.reorder_live = false;
            p.reorder_lag_floor_ns = 0;
          }
        }
        continue;
      }
      // Demoted or taken down by the operator: the peer may still have data on it in flight
      // (or keep sending), so its gaps keep waiting for its lag.
      if (!p.health.usable()) continue;
      p.reorder_live = true;
      const std::uint64_t rtt = p.health.rtt_us();
      const std::uint64_t ns = rtt > min_rtt_us ? (rtt - min_rtt_us) * 1000 / 2 : 0;
      const std::uint64_t old = p.reorder_lag_floor_ns;
      const std::uint64_t diff = ns > old ? ns - old : old - ns;
      if (diff > 1000000 && diff * 10 > old &&
          engine_.set_reorder_lag_floor(c, p.local_index, ns)) {
        p.reorder_lag_floor_ns = ns;
      }
    }
  }
}

// Repair (scheduler/reorder.h): a gap is asked for again once it is 2 ms + 1/8 of the lowest
// propagation RTT (min RTT) older than the paths' learnt lateness (scheduling jitter between
// path threads, a little queue variation); the repair is waited for 5/4 of the highest smoothed
// RTT + 4 ms (it comes back on the best path other than the one that lost it, behind whatever
// is queued there; the reorder stage also learns how long repairs really take); and a number that comes within 3/4 of the
// lowest min RTT of its request is the original, not the repair. Sent when the wait moves by
// more than 1 ms and 10 %.
// The transmit side keeps what it sent for as long as the peer may ask for it: the slowest
// usable path's RTT (the packet's way there, the NACK's way back) plus the longest reorder
// wait (how long the peer may wait before asking), at most 300 ms (TunReader's history).
void ControlLoop::derive_repair() {
  std::uint64_t keep_ns = 0;
  for (std::size_t c = 0; c < connections_.size(); ++c) {
    Connection& conn = connections_[c];
    if (!conn.active || !conn.cfg.enabled) continue;
    const engine::ConnectionSpec& cs = engine_.spec().connections[c];
    if (!cs.repair || cs.paths.size() < 2) continue;
    std::uint64_t min_rtt_us = 0, max_rtt_us = 0, base_rtt_us = 0;
    for (const Path& p : paths_) {
      if (p.active && p.connection == static_cast<int>(c) && p.health.usable() &&
          p.health.rtt_us() > 0) {
        min_rtt_us = min_rtt_us ? std::min(min_rtt_us, p.health.rtt_us()) : p.health.rtt_us();
        max_rtt_us = std::max(max_rtt_us, p.health.rtt_us());
        if (p.estimator.has_rtt()) {
          const std::uint64_t b = p.estimator.min_rtt_us();
          base_rtt_us = base_rtt_us ? std::min(base_rtt_us, b) : b;
        }
      }
    }
    if (min_rtt_us == 0) continue;
    if (base_rtt_us == 0) base_rtt_us = min_rtt_us;
    const std::uint64_t max_delay_ns =
        conn.reorder_delay_ns ? conn.reorder_delay_ns : std::uint64_t{cs.max_delay_ms} * 1000000;
    keep_ns = std::max(keep_ns, max_rtt_us * 1000 + max_delay_ns);
    const std::uint64_t floor_ns = 2000000 + base_rtt_us * 1000 / 8;
    const std::uint64_t wait_ns = max_rtt_us * 1000 * 5 / 4 + 4000000;
    const std::uint64_t least_ns = base_rtt_us * 1000 * 3 / 4;
    const std::uint64_t old = conn.repair_wait_ns;
    const std::uint64_t diff = wait_ns > old ? wait_ns - old : old - wait_ns;
    if ((old == 0 || (diff > 1000000 && diff * 10 > old)) &&
        engine_.set_reorder_repair(c, floor_ns, wait_ns, least_ns)) {
      conn.repair_wait_ns = wait_ns;
    }
  }
  engine_.set_repair_keep(std::min<std::uint64_t>(keep_ns, 300000000));
}

}  // namespace mpt::signaling
