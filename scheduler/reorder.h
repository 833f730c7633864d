// Reorder: the receive-side stage that restores the sender's order (GRE sequence numbers,
// RFC 2890) before packets reach the TUN device. One per connection, in exactly one place
// (the TUN writer thread).
//
// Rules (draft-lencse-tsvwg-mpt §6, with the original's defects fixed):
//  - the window holds at most `window` packets; a packet more than `window` ahead pushes the
//    head forward (what is missing there is counted lost); more than 2*window ahead, or more
//    than `window` behind, is a jump (peer restart, stale or forged number): everything held
//    is delivered and the sequence restarts at that packet -- it never black-holes traffic;
//    after the owner reports a peer restart (peer_restarted()) the next packet is a jump too,
//    wherever its number falls (a restarted peer's numbers may lie just behind the old ones);
//  - sequence numbers compare in serial arithmetic (RFC 1982), so wrap-around is seamless;
//  - a gap is declared lost as soon as every *active* path (one that delivered something in
//    the last max_delay) has delivered a number beyond it: each path is FIFO, so waiting longer
//    gains nothing; otherwise after max_delay at the latest (expire()). Two refinements keep
//    a slow path's first packets from being called lost and then delivered late: during the
//    stage's first max_delay a path that has not delivered yet counts as active and behind
//    (cold start), and after the whole connection was silent for more than max_delay every
//    path that delivered before counts as active again from the first new packet on (idle
//    resume) -- a path is idle only if the others kept delivering while it did not; An optional grace
//    (early_grace_ns, default 0) makes the early rule wait until the packet after the gap has
//    been held that long: real paths are FIFO only nearly (a veth or NIC queue served by two
//    CPUs can swap neighbours by microseconds), and a short grace avoids calling such a packet
//    lost and then delivering it late;
//  - a path that is idle (not active by the rule above) but has shown a *lag* -- its packets
//    arrived after packets numbered above them had been waiting for them -- may still bring a
//    gap it has not passed: the gap waits until the packet after it has been held that path's
//    lag before it is declared lost. A scheduler that uses a slower path only now and then
//    (earliest-arrival under a changing queue) puts each resumption behind packets that
//    overtake it on the fast path; calling it lost and then delivering it late costs TCP a
//    spurious fast retransmit. A path's lag is learnt from the packets it delivered that filled
//    a gap (how long the first packet behind the gap had waited) or came late (how long after
//    the packet behind them), as the largest sample (at most max_delay) of the current and the
//    previous 10 s epoch (a path's lag outlives its busy spells, not a long silence), and at
//    least a floor the owner may set (set_lag_floor: mptd derives it from the paths' measured
//    RTTs, so that a path that has not delivered yet -- or not for 20 s -- is waited for
//    too). The wait is 5/4 of the lag: lateness creeps up while a queue builds;
//  - repair (off unless set_repair() is called; mptd turns it on for connections with several
//    paths): a missing number is asked for again -- sink.nack(first, count, attempt) for each
//    run of missing numbers -- once the packet after it has been held for the repair delay (the
//    largest 5/4 lag of any live path, at least a floor the owner sets), or at once when
//    every active path has passed it. The sender resends it from its recent history on its
//    best other path. A gap that was asked for is given up no earlier than repair_wait after
//    the request (about the fastest path's round trip, set by the owner), or 5/4 of the
//    longest time a number took to come after it was asked for (learnt like a lag: windowed
//    max over two 10 s epochs; the repair may sit behind a queue), whichever is longer; the
//    other rules still bound it (max_delay). A head gap whose repair did not come by then is
//    asked for a second time (attempt 1; the copy may have gone into a path that broke, or
//    been dropped) if the packet after it can still wait a repair_wait; it is given up after
//    that. A filled number that was asked for teaches no
//    lag unless it came too soon to be the repair (sooner than repair_min after the request;
//    the repair may come on any path). So a random loss, or every packet a
//    path sent into a silent cut before the signalling noticed, costs the inner flows a delay
//    of about one round trip on the best path instead of a loss (TCP: no retransmission, no
//    timeout). A gap every live path has passed was lost on the way: it is asked for only
//    within a budget (kNackShare of the packets received, bursts of kNackBurst), so random
//    loss is repaired but a burst of tail drops at a full bottleneck mostly is not -- hiding
//    congestion from the inner TCP would only fill the queue further. A gap a path has not
//    passed that delivered within kCutWindowNs (silent cut, more lag than learnt) is asked
//    for regardless;
//  - a late packet (behind the head, within the window) is delivered at once and counted:
//    TCP copes with one reordered segment far better than with a loss;
//  - a duplicate -- of a held packet, or of one already delivered within the last window
//    (a bitmap over the numbers behind the head, RFC 6479 style) -- is discarded and
//    counted: the sender may send a packet twice on purpose (reinjection after a path died,
//    redundant mode), and the copy that comes second must never reach the TUN.
//
// Pure: no clock of its own (time is a parameter, in ns), no I/O, no allocation after
// construction. Item is what is held (PacketRef in the engine, an int in tests); Sink has
// deliver(Item) and discard(Item), called synchronously, and optionally Item hold(Item),
// called when an item is about to be held (the engine copies it out of its receive buffer
// there, so that the window never pins the paths' buffers).
#pragma once

#include <algorithm>
#include <bit>
#include <cstdint>
#include <limits>
#include <vector>

namespace mpt::scheduler {

struct ReorderStats {
  std::uint64_t in_order = 0;    // delivered on arrival, nothing missing before it
  std::uint64_t reordered = 0;   // held, then delivered in order
  std::uint64_t late = 0;        // arrived behind the head; delivered at once
  std::uint64_t duplicate = 0;   // same number as a held packet; discarded
  std::uint64_t lost = 0;        // numbers skipped as lost (never arrived in time)
  std::uint64_t timeouts = 0;    // gaps given up by max_delay rather than early detection
  std::uint64_t resyncs = 0;     // jumps: sequence restarted
  std::uint64_t overflows = 0;   // a packet beyond the window pushed the head (part of lost)
  std::uint64_t nacked = 0;      // missing numbers asked for again (repair)
  std::uint64_t nack_retried = 0; // ... asked for a second time (the first repair did not come)
  std::uint64_t nack_filled = 0; // ... that then arrived (the original or the repair)
  std::uint64_t nack_refused = 0; // missing numbers not asked for: over the budget

  // The counters of several stages (one per sequence space) as one connection's.
  ReorderStats& operator+=(const ReorderStats& o) {
    in_order += o.in_order;
    reordered += o.reordered;
    late += o.late;
    duplicate += o.duplicate;
    lost += o.lost;
    timeouts += o.timeouts;
    resyncs += o.resyncs;
    overflows += o.overflows;
    nacked += o.nacked;
    nack_retried += o.nack_retried;
    nack_filled += o.nack_filled;
    nack_refused += o.nack_refused;
    return *this;
  }
};

[[nodiscard]] constexpr std::int32_t serial_diff(std::uint32_t a, std::uint32_t b) {
  return static_cast<std::int32_t>(a - b);  // RFC 1982 for 32-bit numbers
}

template <typename Item>
class Reorder {
 public:
  static constexpr std::uint64_t kNever = std::numeric_limits<std::uint64_t>::max();

  // window >= 1 packets; max_delay_ns > 0; paths = number of paths feeding this stage.
  Reorder(std::uint32_t window, std::uint64_t max_delay_ns, int paths,
          std::uint64_t early_grace_ns = 0)
      : window_(std::max<std::uint32_t>(window, 1)),
        max_delay_ns_(max_delay_ns),
        early_grace_ns_(std::min(early_grace_ns, max_delay_ns)),
        slots_(std::bit_ceil(window_)),
        mask_(static_cast<std::uint32_t>(slots_.size() - 1)),
        delivered_((slots_.size() + 63) / 64, 0),
        skipped_ref_(slots_.size(), kUnknown),
        nacks_(slots_.size()),
        paths_(static_cast<std::size_t>(std::max(paths, 1))) {}

  static constexpr std::uint64_t kUnknown = std::numeric_limits<std::uint64_t>::max();

  template <typename Sink>
  void push(std::uint32_t seq, int path, std::uint64_t now, Item item, Sink& sink) {
    if (!started_) {
      for (PathState& q : paths_) q.cold_until = now + max_delay_ns_;
    } else if (now > last_push_ns_ + max_delay_ns_) {
      for (PathState& q : paths_) {  // idle resume: nobody was idle *while others delivered*
        if (q.seen) q.last_arrival = now;
      }
    }
    last_push_ns_ = now;
    if (repair_wait_ns_) nack_tokens_ = std::min(kNackBurst, nack_tokens_ + kNackShare);
    PathState& ps = paths_[static_cast<std::size_t>(path) % paths_.size()];
    if (!ps.seen || serial_diff(seq, ps.last_seq) > 0) ps.last_seq = seq;
    ps.seen = true;
    ps.dead = false;
    ps.last_arrival = now;
    if (!started_) {
      started_ = true;
      next_ = seq;
      top_ = seq;
      nack_next_ = seq;
    }
    if (restart_pending_) {  // the peer restarted: its numbering starts over with this packet
      restart_pending_ = false;
      resync(seq, sink);
      ps.last_seq = seq;
    }
    if (serial_diff(seq, top_) > 0) top_ = seq;
    std::int32_t d = serial_diff(seq, next_);
    if (d < 0) {
      if (-static_cast<std::int64_t>(d) <= window_) {
        if (delivered(seq)) {
          ++stats_.duplicate;
          sink.discard(item);
          return;
        }
        ++stats_.late;
        const std::uint64_t behind = skipped_ref_[seq & mask_];
        const std::uint64_t asked = nacked_at(seq);
        if (asked) note_nack_filled(asked, now);
        if (behind != kUnknown && now > behind && !asked) learn_lag(ps, now, now - behind);
        mark_delivered(seq, true);
        sink.deliver(item);
        return;
      }
      resync(seq, sink);
      ps.last_seq = seq;
      d = 0;
    } else if (static_cast<std::uint32_t>(d) >= 2 * window_) {
      resync(seq, sink);
      ps.last_seq = seq;
      d = 0;
    } else if (static_cast<std::uint32_t>(d) >= window_) {
      ++stats_.overflows;
      advance_head(next_ + static_cast<std::uint32_t>(d) - window_ + 1, sink);
      deliver_run(sink);  // a held packet may now be at the head (and first_held_ is stale)
      d = serial_diff(seq, next_);
    }
    Slot& s = slots_[seq & mask_];
    if (s.full) {
      ++stats_.duplicate;
      sink.discard(item);
      return;
    }
    if (d == 0) {
      if (held_ > 0) {  // it filled a gap: how long had the first packet behind it waited?
        const std::uint64_t waited = slots_[first_held_ & mask_].arrival_ns;
        if (now > waited && teaches_lag(seq, now)) learn_lag(ps, now, now - waited);
      }
      if (const std::uint64_t asked = nacked_at(seq)) note_nack_filled(asked, now);
      ++stats_.in_order;
      mark_delivered(seq, true);
      sink.deliver(item);
      ++next_;
      deliver_run(sink);
    } else {
      if constexpr (requires { sink.hold(item); }) {
        s = Slot{sink.hold(item), now, seq, true};
      } else {
        s = Slot{item, now, seq, true};
      }
      ++held_;
      ++stats_.reordered;
      if (const std::uint64_t asked = nacked_at(seq)) note_nack_filled(asked, now);
      if (held_ == 1 || serial_diff(seq, first_held_) < 0) first_held_ = seq;
    }
    skip_gaps_known_lost(now, sink);
    send_nacks(now, sink);
  }

  // Gives up on gaps older than max_delay. Returns the time at which to call again (kNever if
  // nothing is held).
  template <typename Sink>
  std::uint64_t expire(std::uint64_t now, Sink& sink) {
    // Early waits (grace, an idle path's lag) end here; the rest of early detection is push's.
    if (early_wait(now) || any_dead() || repair_wait_ns_) skip_gaps_known_lost(now, sink);
    send_nacks(now, sink);
    while (held_ > 0) {
      const Slot& s = slots_[first_held_ & mask_];
      if (s.arrival_ns + max_delay_ns_ > now) return next_deadline(now);
      ++stats_.timeouts;
      advance_head(first_held_, sink);
      deliver_run(sink);
      if (early_wait(now) || any_dead() || repair_wait_ns_) skip_gaps_known_lost(now, sink);
      send_nacks(now, sink);
    }
    return kNever;
  }

  // When expire() has something to do next: the max_delay of the first held packet, or the
  // end of its early wait (grace, idle paths' lag) if every active path has passed the gap.
  [[nodiscard]] std::uint64_t next_deadline(std::uint64_t now) const {
    if (!held_) return kNever;
    const std::uint64_t arrival = slots_[first_held_ & mask_].arrival_ns;
    std::uint64_t next = arrival + max_delay_ns_;
    if (repair_wait_ns_) next = std::min(next, std::max(nack_due_ns_, now));
    if (gap_known_lost(now)) {
      std::uint64_t until = early_until(now);
      if (repair_wait_ns_ && nacked_at(next_)) until = std::max(until, repair_until());
      if (until > now) return std::min(next, until);
    }
    return next;
  }
  // Path `path`'s learnt lag at `now` (see the rules at the top), in ns.
  [[nodiscard]] std::uint64_t lag(int path, std::uint64_t now) const {
    return paths_[static_cast<std::size_t>(path) % paths_.size()].lag_at(now);
  }
  static constexpr std::uint64_t kLagEpochNs = 10'000'000'000;
  // Repair budget for numbers lost on the way (every path passed them): 2 % of the packets
  // received, in bursts of at most 32. Random loss is repaired; a burst of tail drops at a
  // full bottleneck (congestion) mostly is not, so the inner TCP still sees it and slows down.
  static constexpr double kNackShare = 0.02;
  static constexpr double kNackBurst = 32;
  // A path silent for less than this that has not passed a gap may still bring it (or was
  // cut, declared dead or not): such gaps are asked for regardless of the budget. Covers the signalling's detection
  // time (3 probes of 20 ms) with room.
  static constexpr std::uint64_t kCutWindowNs = 150'000'000;
  // The least lag path `path` is assumed to have (e.g. half its RTT above the fastest path's).
  void set_lag_floor(int path, std::uint64_t ns) {
    if (path >= 0 && static_cast<std::size_t>(path) < paths_.size()) {
      paths_[static_cast<std::size_t>(path)].lag_floor = ns;
    }
  }
  // Path `path` died (the owner's signalling says so): nothing it sent is still coming. Its
  // lag is forgotten and it no longer counts as active; a gap it has not passed waits only
  // until now + hold_ns -- long enough for what the sender reinjects on a live path to arrive
  // -- and is given up then (or now, with hold_ns 0). A packet arriving on it revives it.
  template <typename Sink>
  void path_died(int path, std::uint64_t now, std::uint64_t hold_ns, Sink& sink) {
    if (path >= 0 && static_cast<std::size_t>(path) < paths_.size()) {
      PathState& p = paths_[static_cast<std::size_t>(path)];
      p.lag_floor = p.lag_cur = p.lag_prev = 0;
      p.dead = true;
      p.hold_until = now + hold_ns;
      skip_gaps_known_lost(now, sink);
    }
  }
  // Repair (rules at the top): a gap is asked for once the packet after it has waited
  // nack_floor_ns (or 5/4 of the lag of a live path that may still bring it, if longer), and
  // given up no earlier than wait_ns after the request; a number that was asked for and came
  // within min_ns of the request cannot be the repair (min_ns: about the fastest path's
  // propagation round trip; default wait_ns / 2). wait_ns 0 turns repair off.
  void set_repair(std::uint64_t nack_floor_ns, std::uint64_t wait_ns, std::uint64_t min_ns = 0) {
    nack_floor_ns_ = nack_floor_ns;
    repair_wait_ns_ = wait_ns;
    repair_min_ns_ = min_ns ? std::min(min_ns, wait_ns) : wait_ns / 2;
  }
  [[nodiscard]] std::uint64_t repair_wait() const { return repair_wait_ns_; }
  [[nodiscard]] std::uint32_t held() const { return held_; }
  // A new longest wait (e.g. derived from measured path delays); applies to held packets too.
  void set_max_delay(std::uint64_t max_delay_ns) {
    max_delay_ns_ = max_delay_ns;
    early_grace_ns_ = std::min(early_grace_ns_, max_delay_ns);
  }
  [[nodiscard]] std::uint64_t max_delay() const { return max_delay_ns_; }
  [[nodiscard]] const ReorderStats& stats() const { return stats_; }
  [[nodiscard]] std::uint32_t window() const { return window_; }

  // The paths feeding this stage changed (a reload added or removed some): new local path j
  // was old local path old_index[j], or is new (-1). What each kept path delivered so far
  // still counts for early loss detection; a new path counts once it delivers. Control path
  // only (allocates).
  // A new path gets the cold start rule from `now` on: its first packets may lag.
  void remap_paths(const std::vector<int>& old_index, std::uint64_t now) {
    std::vector<PathState> next(std::max<std::size_t>(old_index.size(), 1));
    for (std::size_t j = 0; j < old_index.size(); ++j) {
      const int o = old_index[j];
      if (o >= 0 && static_cast<std::size_t>(o) < paths_.size()) {
        next[j] = paths_[static_cast<std::size_t>(o)];
      } else if (started_) {
        next[j].cold_until = now + max_delay_ns_;
      }
    }
    paths_ = std::move(next);
  }
  [[nodiscard]] std::size_t path_count() const { return paths_.size(); }

  // Calls f(Item&) for every held item, which it may replace (the engine swaps a held packet
  // for a copy before the receive buffer it points into goes away).
  template <typename F>
  void for_each_held(F&& f) {
    if (held_ == 0) return;
    for (Slot& s : slots_) {
      if (s.full) f(s.item);
    }
  }

  // The peer restarted (its signalling shows a new session): its numbering starts afresh,
  // perhaps just behind the old one, where every number would look like a duplicate. The next
  // packet resyncs the stage (counted as a resync): what is held is delivered, what was
  // delivered is forgotten, and the sequence restarts at that packet. Unless the stage
  // resynced in the last kRestartResyncNs already: senders start at a random number, so the
  // restarted peer's first packet was a jump, and a second resync would forget what the new
  // instance delivered (a repaired copy could then be delivered twice).
  static constexpr std::uint64_t kRestartResyncNs = 2'000'000'000;
  void peer_restarted(std::uint64_t now) {
    restart_pending_ = started_ && !(resynced_ && now < last_resync_ns_ + kRestartResyncNs);
  }

  // Delivers everything held, in order (shutdown, peer restart).
  template <typename Sink>
  void flush(Sink& sink) {
    while (held_ > 0) {
      advance_head(first_held_, sink);
      deliver_run(sink);
    }
  }

 private:
  struct Slot {
    Item item{};
    std::uint64_t arrival_ns = 0;
    std::uint32_t seq = 0;
    bool full = false;
  };
  struct PathState {
    std::uint32_t last_seq = 0;
    std::uint64_t last_arrival = 0;
    std::uint64_t cold_until = 0;  // not seen yet: counts as active until then
    // How late its packets came behind later ones (rules above): the largest sample of the
    // epoch lag_epoch and of the one before it.
    std::uint64_t lag_epoch = 0;
    std::uint64_t lag_cur = 0;
    std::uint64_t lag_prev = 0;
    bool seen = false;

    std::uint64_t lag_floor = 0;
    bool dead = false;             // path_died() and nothing arrived on it since
    std::uint64_t hold_until = 0;  // path_died(): its gaps wait until then

    [[nodiscard]] std::uint64_t lag_at(std::uint64_t now) const {
      const std::uint64_t e = now / kLagEpochNs;
      if (e == lag_epoch) return std::max({lag_cur, lag_prev, lag_floor});
      return std::max(e == lag_epoch + 1 ? lag_cur : 0, lag_floor);
    }
  };

  void learn_lag(PathState& p, std::uint64_t now, std::uint64_t sample) {
    sample = std::min(sample, max_delay_ns_);
    const std::uint64_t e = now / kLagEpochNs;
    if (e != p.lag_epoch) {
      p.lag_prev = e == p.lag_epoch + 1 ? p.lag_cur : 0;
      p.lag_cur = 0;
      p.lag_epoch = e;
    }
    p.lag_cur = std::max(p.lag_cur, sample);
  }

  // Moves the head to `to`, delivering held packets and counting missing numbers as lost.
  // A number skipped as lost remembers since when the first packet behind it was held (or the
  // latest push if none was): a late arrival's lag is measured from there.
  template <typename Sink>
  void advance_head(std::uint32_t to, Sink& sink) {
    const std::uint64_t ref = held_ > 0 ? slots_[first_held_ & mask_].arrival_ns : last_push_ns_;
    while (serial_diff(to, next_) > 0) {
      Slot& s = slots_[next_ & mask_];
      if (s.full && s.seq == next_) {
        take(s, sink);
      } else {
        ++stats_.lost;
        mark_delivered(next_, false);
        skipped_ref_[next_ & mask_] = ref;
      }
      ++next_;
    }
  }

  // Delivers the run of held packets starting at the head.
  template <typename Sink>
  void deliver_run(Sink& sink) {
    while (held_ > 0) {
      Slot& s = slots_[next_ & mask_];
      if (!s.full || s.seq != next_) break;
      take(s, sink);
      ++next_;
    }
    if (held_ > 0 && serial_diff(first_held_, next_) < 0) find_first_held();
  }

  template <typename Sink>
  void take(Slot& s, Sink& sink) {
    s.full = false;
    --held_;
    mark_delivered(s.seq, true);
    sink.deliver(s.item);
  }

  // The head passed `seq`: was it delivered? Bit seq & mask_ always describes the latest number
  // with that index that the head passed, i.e. one in [next_ - slots, next_): for a late
  // packet (at most window_ <= slots behind) it is that packet's own number.
  void mark_delivered(std::uint32_t seq, bool yes) {
    const std::uint32_t i = seq & mask_;
    const std::uint64_t bit = std::uint64_t{1} << (i % 64);
    if (yes) {
      delivered_[i / 64] |= bit;
    } else {
      delivered_[i / 64] &= ~bit;
    }
  }
  [[nodiscard]] bool delivered(std::uint32_t seq) const {
    const std::uint32_t i = seq & mask_;
    return (delivered_[i / 64] >> (i % 64)) & 1;
  }

  void find_first_held() {
    std::uint32_t seq = next_;
    for (std::uint32_t i = 0; i < window_; ++i, ++seq) {
      const Slot& s = slots_[seq & mask_];
      if (s.full && s.seq == seq) {
        first_held_ = seq;
        return;
      }
    }
  }

  // A path that may still bring a missing number (see the rules at the top).
  [[nodiscard]] bool active(const PathState& p, std::uint64_t now) const {
    if (p.dead) return false;
    if (!p.seen) return now < p.cold_until;  // cold start
    return p.last_arrival + max_delay_ns_ >= now;
  }

  // How long the packet behind a gap that every active path has passed still waits: the early
  // grace, or the largest lag of an idle path that has not passed the gap, whichever is longer.
  [[nodiscard]] std::uint64_t early_wait(std::uint64_t now) const {
    std::uint64_t wait = early_grace_ns_;
    for (const PathState& p : paths_) {
      if (!active(p, now) && (!p.seen || serial_diff(p.last_seq, next_) <= 0)) {
        const std::uint64_t lag = p.lag_at(now);
        wait = std::max(wait, lag + lag / 4);  // lateness creeps up as a queue builds
      }
    }
    return wait;
  }

  // Held packets only: when the early wait of the gap before the first held packet ends (0 if
  // it has none): its grace or idle paths' lag, and the hold of a dead path behind it.
  [[nodiscard]] std::uint64_t early_until(std::uint64_t now) const {
    const std::uint64_t arrival = slots_[first_held_ & mask_].arrival_ns;
    const std::uint64_t wait = std::min(early_wait(now), max_delay_ns_);
    std::uint64_t until = wait ? arrival + wait : 0;
    for (const PathState& p : paths_) {
      if (p.dead && (!p.seen || serial_diff(p.last_seq, next_) <= 0)) {
        until = std::max(until, std::min(p.hold_until, arrival + max_delay_ns_));
      }
    }
    return until;
  }
  [[nodiscard]] bool any_dead() const {
    return std::any_of(paths_.begin(), paths_.end(), [](const PathState& p) { return p.dead; });
  }

  // Every path active at `now` has delivered a number beyond the head.
  [[nodiscard]] bool gap_known_lost(std::uint64_t now) const {
    for (const PathState& p : paths_) {
      if (!active(p, now)) continue;  // idle path
      if (!p.seen || serial_diff(p.last_seq, next_) <= 0) return false;
    }
    return true;
  }

  // When number `seq` was asked for again (0: not asked, or no longer known).
  [[nodiscard]] std::uint64_t nacked_at(std::uint32_t seq) const {
    const Nack& n = nacks_[seq & mask_];
    return n.seq == seq ? n.ns : 0;
  }
  // A gap filled by `seq` at `now` is a lag sample unless seq was asked for and this may be the
  // repair: it can come no sooner than repair_min after the request (the owner's bound, about
  // the fastest path's propagation round trip). Learning from a repair would feed back: the
  // lag sets when a gap is asked for, and the repair comes a round trip after that.
  [[nodiscard]] bool teaches_lag(std::uint32_t seq, std::uint64_t now) const {
    const std::uint64_t asked = nacked_at(seq);
    return !asked || now < asked + repair_min_ns_;
  }
  // How long the packet after a gap from `seq` on waits before the gap is asked for: the
  // floor, or 5/4 of the lag of a live path that has not passed `seq` (one that has cannot
  // bring it: paths are FIFO), whichever is longer.
  [[nodiscard]] std::uint64_t nack_after(std::uint64_t now, std::uint32_t seq) const {
    std::uint64_t wait = std::max(nack_floor_ns_, early_grace_ns_);
    for (const PathState& p : paths_) {
      if (p.dead || (p.seen && serial_diff(p.last_seq, seq) > 0)) continue;
      const std::uint64_t lag = p.lag_at(now);
      wait = std::max(wait, lag + lag / 4);
    }
    return std::min(wait, max_delay_ns_);
  }
  // Held packets only: the head gap, once asked for, is not given up before this.
  [[nodiscard]] std::uint64_t repair_until() const {
    const std::uint64_t asked = nacked_at(next_);
    if (!asked) return kNever;
    const std::uint64_t e = asked / kLagEpochNs;
    const std::uint64_t learnt =
        e == repair_epoch_ ? std::max(repair_cur_, repair_prev_) : e == repair_epoch_ + 1 ? repair_cur_ : 0;
    return asked + std::min(std::max(repair_wait_ns_, learnt + learnt / 4), max_delay_ns_);
  }
  // A number that was asked for came: how long after the request (if it can be the repair,
  // i.e. not sooner than half the configured wait) -- the longest such time, per epoch.
  void note_nack_filled(std::uint64_t asked, std::uint64_t now) {
    ++stats_.nack_filled;
    if (now < asked + repair_min_ns_) return;
    const std::uint64_t sample = std::min(now - asked, max_delay_ns_);
    const std::uint64_t e = now / kLagEpochNs;
    if (e != repair_epoch_) {
      repair_prev_ = e == repair_epoch_ + 1 ? repair_cur_ : 0;
      repair_cur_ = 0;
      repair_epoch_ = e;
    }
    repair_cur_ = std::max(repair_cur_, sample);
  }
  template <typename Sink>
  void nack_run(std::uint32_t first, std::uint32_t count, std::uint64_t now, Sink& sink,
                std::uint8_t attempt = 0) {
    if (count == 0) return;
    for (std::uint32_t i = 0; i < count; ++i) nacks_[(first + i) & mask_] = {first + i, now, attempt};
    if (attempt == 0) {
      stats_.nacked += count;
    } else {
      stats_.nack_retried += count;
    }
    if constexpr (requires { sink.nack(first, count, attempt); }) sink.nack(first, count, attempt);
  }
  // The head gap [next_, first_held_) was asked for and its wait is over: the numbers in it
  // that were asked for once are asked for a second time, if the first held packet can still
  // wait a repair_wait (max_delay); returns whether the head number was (it then waits
  // again).
  template <typename Sink>
  bool retry_run(std::uint64_t now, Sink& sink) {
    const std::uint64_t arrival = slots_[first_held_ & mask_].arrival_ns;
    if (now + repair_wait_ns_ >= arrival + max_delay_ns_) return false;
    const auto once = [&](std::uint32_t s) {
      const Nack& n = nacks_[s & mask_];
      return n.seq == s && n.ns != 0 && n.attempt == 0;
    };
    std::uint32_t first = next_;
    for (std::uint32_t s = next_; s != first_held_; ++s) {
      if (!once(s)) {
        nack_run(first, s - first, now, sink, 1);
        first = s + 1;
      }
    }
    nack_run(first, first_held_ - first, now, sink, 1);
    return nacked_at(next_) == now;
  }
  // Asks for the missing numbers in [from, to) that were not asked for yet. `budgeted`: only
  // if the budget has room for all of them (else none is asked for, and they are counted).
  template <typename Sink>
  void ask_run(std::uint32_t from, std::uint32_t to, std::uint64_t now, Sink& sink, bool budgeted) {
    std::uint32_t count = 0;
    for (std::uint32_t s = from; s != to; ++s) count += nacked_at(s) ? 0 : 1;
    if (count == 0) return;
    if (budgeted) {
      if (nack_tokens_ < count) {
        stats_.nack_refused += count;
        return;
      }
      nack_tokens_ -= count;
    }
    std::uint32_t first = from;
    for (std::uint32_t s = from; s != to; ++s) {
      if (nacked_at(s)) {
        nack_run(first, s - first, now, sink);
        first = s + 1;
      }
    }
    nack_run(first, to - first, now, sink);
  }
  // Asks for every run of missing numbers whose next held packet has waited nack_after(),
  // oldest first; remembers where it stopped (nack_next_) and when the next run is due.
  template <typename Sink>
  void send_nacks(std::uint64_t now, Sink& sink) {
    nack_due_ns_ = kNever;
    if (!repair_wait_ns_ || held_ == 0) return;
    if (serial_diff(nack_next_, next_) < 0) nack_next_ = next_;
    std::uint32_t seq = nack_next_;
    while (serial_diff(seq, top_) < 0) {
      if (is_held(seq)) {
        ++seq;
        continue;
      }
      std::uint32_t end = seq;  // the run [seq, end) is missing; top_ is held
      while (!is_held(end) && serial_diff(end, top_) < 0) ++end;
      if (!is_held(end)) break;
      const std::uint64_t arrival = slots_[end & mask_].arrival_ns;
      const std::uint64_t wait = nack_after(now, seq);
      if (arrival + wait > now) {
        nack_due_ns_ = arrival + wait;
        break;
      }
      ask_run(seq, end, now, sink, !may_come(seq, now));
      seq = end + 1;
    }
    nack_next_ = seq;
  }
  // A path that has not passed `seq` and delivered within kCutWindowNs may still bring it,
  // or was cut with it (a silent cut, declared or not, or more lag than learnt): such a gap
  // is asked for without the budget; otherwise it was lost on the way (an idle path's lag
  // has passed by the time a gap is asked for: nack_after waited for it).
  [[nodiscard]] bool may_come(std::uint32_t seq, std::uint64_t now) const {
    for (const PathState& p : paths_) {
      if ((active(p, now) || (p.seen && now <= p.last_arrival + kCutWindowNs)) &&
          (!p.seen || serial_diff(p.last_seq, seq) <= 0)) {
        return true;
      }
    }
    return false;
  }
  [[nodiscard]] bool is_held(std::uint32_t seq) const {
    const Slot& s = slots_[seq & mask_];
    return s.full && s.seq == seq;
  }

  // A missing head number is lost once every active path has delivered beyond it (and the
  // packet after the gap has been held for the early grace). With repair, it is asked for
  // first (if it was not yet) and given up repair_wait after that.
  template <typename Sink>
  void skip_gaps_known_lost(std::uint64_t now, Sink& sink) {
    while (held_ > 0) {
      if (!gap_known_lost(now)) return;
      if (early_until(now) > now) return;
      if (repair_wait_ns_) {
        // Every active path passed it: asked for (within the budget if it was lost on the
        // way, see may_come); refused, it is given up now, as without repair.
        if (!nacked_at(next_)) ask_run(next_, first_held_, now, sink, !may_come(next_, now));
        if (nacked_at(next_) && repair_until() > now) return;
        if (nacked_at(next_) && retry_run(now, sink)) return;
      }
      // Every active path is past the head: everything missing up to the first held packet
      // is lost -- but only up to the lowest number any active path has reached.
      std::uint32_t limit = first_held_;
      for (const PathState& p : paths_) {
        if (!active(p, now)) continue;
        if (!p.seen) return;  // cannot happen: gap_known_lost said no
        if (serial_diff(p.last_seq + 1, limit) < 0) limit = p.last_seq + 1;
      }
      if (serial_diff(limit, next_) <= 0) return;
      advance_head(limit, sink);
      deliver_run(sink);
    }
  }

  template <typename Sink>
  void resync(std::uint32_t seq, Sink& sink) {
    ++stats_.resyncs;
    resynced_ = true;
    last_resync_ns_ = last_push_ns_;  // resync runs in push, after last_push_ns_ = now
    flush(sink);
    next_ = seq;
    std::fill(delivered_.begin(), delivered_.end(), 0);  // old numbering: says nothing now
    std::fill(skipped_ref_.begin(), skipped_ref_.end(), kUnknown);
    std::fill(nacks_.begin(), nacks_.end(), Nack{});
    top_ = seq;
    nack_next_ = seq;
    // What the paths delivered before the jump says nothing about the new numbers (after a
    // peer restart their old, higher numbers would count as "beyond" every new gap): each
    // path stays as active as it was, but has not delivered anything past the new head yet.
    for (PathState& p : paths_) p.last_seq = seq - 1;
  }

  std::uint32_t window_;
  std::uint64_t max_delay_ns_;
  std::uint64_t early_grace_ns_;
  std::vector<Slot> slots_;
  std::uint32_t mask_;
  std::vector<std::uint64_t> delivered_;  // bit per slot index: delivered (see mark_delivered)
  std::vector<std::uint64_t> skipped_ref_;  // per slot index: see advance_head
  struct Nack {
    std::uint32_t seq = 0;
    std::uint64_t ns = 0;  // when it was asked for (0: never)
    std::uint8_t attempt = 0;  // 1: asked for a second time
  };
  std::vector<Nack> nacks_;  // per slot index: the latest number with that index asked for
  std::uint64_t nack_floor_ns_ = 0;
  std::uint64_t repair_wait_ns_ = 0;  // 0: repair off
  std::uint64_t repair_min_ns_ = 0;   // a repair never comes sooner after its request
  double nack_tokens_ = kNackBurst;   // the budget for numbers lost on the way (repair rules)
  std::uint64_t repair_epoch_ = 0;    // the longest time a repair took (see repair_until)
  std::uint64_t repair_cur_ = 0;
  std::uint64_t repair_prev_ = 0;
  std::uint64_t nack_due_ns_ = kNever;  // when send_nacks has the next run to ask for
  std::uint32_t nack_next_ = 0;  // missing numbers below it were considered by send_nacks
  std::uint32_t top_ = 0;        // the highest number pushed
  std::vector<PathState> paths_;
  bool started_ = false;
  bool restart_pending_ = false;   // see peer_restarted()
  bool resynced_ = false;
  std::uint64_t last_resync_ns_ = 0;
  std::uint64_t last_push_ns_ = 0; // latest push (idle resume rule)
  std::uint32_t next_ = 0;        // the number expected at the head
  std::uint32_t held_ = 0;
  std::uint32_t first_held_ = 0;  // lowest held number (valid when held_ > 0)
  ReorderStats stats_;
};

}  // namespace mpt::scheduler
