#include "engine/tun_writer.h"

#include <time.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "engine/clock.h"
#include "engine/log.h"
#include "engine/path_channel.h"
#include "engine/tun_writer_detail.h"

namespace mpt::engine {

using namespace tun_writer_detail;

TunWriter::TunWriter(const TunnelSpec& tunnel, int tun_fd, bool vnet_hdr,
                     std::span<PathChannel* const> paths, int stop_fd, int queue)
    : tunnel_(tunnel),
      queue_(queue),
      tun_fd_(tun_fd),
      vnet_hdr_(vnet_hdr),
      stop_fd_(stop_fd),
      paths_(paths.begin(), paths.end()),
      ring_(kUringEntries),
      output_pool_(kOutputPoolCount, kOutputBufBytes),
      // Room for a few connections' full windows at start; more as they are needed (copy_out):
      // a server with many clients does not reserve every client's window up front.
      hold_pool_(std::min<std::size_t>(std::max<std::size_t>(1, tunnel.connections.size()),
                                       kHoldPoolStartWindows) * kMaxReorderWindow,
                 static_cast<std::uint32_t>(tunnel.mtu + 64)),
      output_slots_(kOutputPoolCount),
      returns_(paths.size()),
      returns_len_(paths.size(), 0) {
  // One reorder stage per connection and sequence space this writer owns: the space of its
  // own queue now (a peer with as many queues as we have uses just that one); the others
  // when their first packet comes (a peer with more queues), see stage_for().
  reorder_.resize(tunnel.connections.size() * kSpaces);
  stage_settings_.resize(tunnel.connections.size());
  for (std::size_t c = 0; c < tunnel.connections.size(); ++c) {
    reorder_counters_.push_back(std::make_unique<ReorderCounters>());
    reorder_[c * kSpaces + static_cast<std::size_t>(queue_)] = make_stage(tunnel.connections[c]);
  }
  pending_nacks_.resize(reorder_.size());
  bell_.ring_fd = ring_.fd();
  build_sources();
}

bool TunWriter::accept_sealed(std::size_t c, const PacketRef& r) {
  if (r.space >= kDataSpaces || r.key_slot >= SessionKeys::kRxSlots) return false;
  if (replay_.size() <= c) replay_.resize(c + 1);
  if (!replay_[c]) replay_[c] = std::make_unique<ConnectionReplay>();
  return (*replay_[c])[r.key_slot][r.space].check_and_update(r.key_gen, r.counter);
}

void TunWriter::build_sources() {
  if (replay_.size() < tunnel_.connections.size()) replay_.resize(tunnel_.connections.size());
  if (nack_sealers_.size() < tunnel_.connections.size()) {
    nack_sealers_.resize(tunnel_.connections.size());
  }
  for (std::size_t c = 0; c < tunnel_.connections.size(); ++c) {
    if (tunnel_.connections[c].sealed && !replay_[c]) replay_[c] = std::make_unique<ConnectionReplay>();
  }
  sources_ = ConnectionTable();
  last_source_len_ = 0;
  for (std::size_t c = 0; c < tunnel_.connections.size(); ++c) {
    const ConnectionSpec& cs = tunnel_.connections[c];
    if (!cs.active) continue;
    for (const IpNet& n : cs.sources) sources_.add(n, static_cast<int>(c));
  }
}

void TunWriter::run() {
  std::array<io_uring_cqe, kCqeBatch> cqes;
  bool stop = false;
  stop_requested_ = false;
  ring_.watch_stop(stop_fd_);  // armed per run: Engine::reconfigure stops and restarts us
  while (!stop) {
    bool more = false;
    for (PathChannel* w : paths_) more = more || (w && w->rx_ring(queue_).read_available() > 0);
    // Only take more input while an output buffer per popped packet is certain.
    const bool room = output_pool_.free_count() > kBatchMax;
    ring_.submit_and_wait(more && room ? 0 : 1);
    const std::size_t n = ring_.copy_cqes(cqes);
    for (std::size_t i = 0; i < n; ++i) handle_cqe(cqes[i]);
    stop = stop_requested_;
    const std::uint64_t now = monotonic_ns();
    DelayCommand dc;
    while (delay_commands_.pop(dc)) apply_command(dc, now);
    if (output_pool_.free_count() > kBatchMax) take_batches(now);
    expire_and_arm_timer(now);
    send_nacks();
    finish_output();
    flush_returns();
    publish_reorder_counters();
  }
  ring_.cancel_all();
  for (int i = 0; i < 100 && (writes_in_flight_ > 0 || timers_in_flight_ > 0 || nacks_in_flight_ > 0);
       ++i) {
    ring_.wait_for_completions(10);
    const std::size_t n = ring_.copy_cqes(cqes);
    for (std::size_t k = 0; k < n; ++k) {
      if (op_of(cqes[k].user_data) == Op::kTunWrite) handle_write(cqes[k]);
      if (op_of(cqes[k].user_data) == Op::kTimer) --timers_in_flight_;
      if (op_of(cqes[k].user_data) == Op::kSend) {
        static_cast<NackBuf*>(ptr_of(cqes[k].user_data))->in_flight = false;
        --nacks_in_flight_;
      }
    }
  }
  flush_returns();
  ring_.submit_and_wait(0);  // wake-ups queued above go out now, not after a pause
}

PacketRef TunWriter::hold(const PacketRef& r) {
  // A packet inside a big GRO batch is held by reference: a window of kMaxReorderWindow
  // packets then pins at most kMaxReorderWindow / kHoldByRefSegments receive buffers (see
  // the static_assert above). Anything smaller is copied, so that single datagrams (one per
  // 64 KB buffer) can never drain a pool while they wait.
  if (r.buf->segments >= kHoldByRefSegments) return r;
  return copy_out(r);
}

PacketRef TunWriter::copy_out(const PacketRef& r) {
  // A packet longer than a hold buffer (a peer may send inner packets above our MTU) stays
  // where it is: held by reference, never copied past the buffer's end.
  if (r.length > hold_pool_.buf_size()) [[unlikely]] return r;
  PacketBuf* h = hold_pool_.take();
  if (!h) [[unlikely]] {
    // More connections hold full windows than the pool was started for: it grows (an
    // allocation, rare; bounded by the windows' total, since each window is bounded).
    hold_pool_.grow(kBatchMax);
    h = hold_pool_.take();
    if (!h) return r;  // out of memory: keep the original
  }
  std::memcpy(h->storage, r.bytes().data(), r.length);
  h->path_index = kHoldPath;
  PacketRef copy = r;
  copy.buf = h;
  copy.offset = 0;
  release(r);
  return copy;
}

void TunWriter::release(const PacketRef& r) {
  PacketBuf* b = r.buf;
  if (b->path_index == kHoldPath) {
    hold_pool_.put(b);
    return;
  }
  if (b->refs.fetch_sub(1, std::memory_order_acq_rel) != 1) return;
  const std::size_t p = b->path_index;
  returns_[p][returns_len_[p]++] = b;
  if (returns_len_[p] == kBatchMax) flush_returns();
}

bool TunWriter::source_allowed(std::span<const std::uint8_t> p) {
  // Constant sizes, so the compares are inline loads, not library calls (per packet).
  const bool v4 = p.size() >= 20 && (p[0] >> 4) == 4;
  if (!v4 && !(p.size() >= 40 && (p[0] >> 4) == 6)) return false;
  const std::uint8_t* src = p.data() + (v4 ? 12 : 8);
  if (last_source_conn_ == sink_conn_ &&
      (v4 ? last_source_len_ == 4 && std::memcmp(src, last_source_.data(), 4) == 0
          : last_source_len_ == 16 && std::memcmp(src, last_source_.data(), 16) == 0)) {
    return true;
  }
  if (sources_.lookup_source(p) != static_cast<int>(sink_conn_)) return false;
  last_source_len_ = v4 ? 4 : 16;
  std::memcpy(last_source_.data(), src, last_source_len_);
  last_source_conn_ = sink_conn_;
  return true;
}

void TunWriter::deliver(const PacketRef& r) {
  // Only what the peer may send: its tunnel address or a network routed to it (the packet's
  // sequence number was consumed by the reorder stage already, so nothing waits for it).
  if (r.length > 0 && !source_allowed(r.bytes())) [[unlikely]] {
    bump(stats_.tun_write_drop_inner_source);
    MPT_LOG_RATELIMITED(LogLevel::kWarn, "dropped an inner packet from a source address the "
                        "peer of connection %s may not use (not its tunnel address nor a "
                        "network routed to it)", tunnel_.connections[sink_conn_].name.c_str());
    release(r);
    return;
  }
  if (output_ && vnet_hdr_ && coalescer_.append(r.bytes())) {
    OutputSlot& slot = slot_of(output_);
    slot.refs[slot.ref_count++] = r;  // released when the write completes
    return;
  }
  finish_output();
  // Out of output buffers: a release of many held packets at once (a gap given up, a flush,
  // a resync) that cannot be coalesced. The writes in flight are reaped here rather than at
  // the next loop turn, so that nothing is dropped.
  if (output_pool_.free_count() == 0) wait_for_output_buffer();
  output_ = output_pool_.take();
  if (!output_) [[unlikely]] {  // bounded by take_batches; count if it ever happens
    bump(stats_.tun_write_drop_no_buffer);
    release(r);
    return;
  }
  OutputSlot& slot = slot_of(output_);
  if (!coalescer_.start(slot.write, r.bytes())) {
    bump(stats_.tun_write_drop_not_ip);
    output_pool_.put(output_);
    output_ = nullptr;
    release(r);
    return;
  }
  slot.refs[0] = r;
  slot.ref_count = 1;
}

void TunWriter::finish_output() {
  if (!output_) return;
  OutputSlot& slot = slot_of(output_);
  coalescer_.finish(vnet_hdr_);
  output_->length = static_cast<std::uint32_t>(slot.write.bytes);
  output_->segments = static_cast<std::uint16_t>(coalescer_.segments());
  io_uring_sqe* sqe = ring_.get_sqe();
  io_uring_prep_writev(sqe, tun_fd_, slot.write.iov.data(),
                       static_cast<unsigned>(slot.write.iov_count), 0);
  io_uring_sqe_set_data64(sqe, make_user_data(Op::kTunWrite, output_));
  ++writes_in_flight_;
  output_ = nullptr;
}

// Every output buffer is in a TUN write in flight (a release bigger than the pool, or a
// reload delivering what a removed path received): wait for writes to complete here, in the
// middle of the release, instead of dropping. Any other completion reaped meanwhile is
// handled as the loop would (a stop is remembered for the loop).
void TunWriter::wait_for_output_buffer() {
  std::array<io_uring_cqe, kCqeBatch> cqes;
  while (output_pool_.free_count() == 0 && writes_in_flight_ > 0) {
    ring_.submit_and_wait(1);
    const std::size_t n = ring_.copy_cqes(cqes);
    for (std::size_t i = 0; i < n; ++i) handle_cqe(cqes[i]);
  }
}

// A reload (detach_path), with the writer's thread paused: every TUN write in flight
// completes and releases what it wrote from.
void TunWriter::wait_for_writes() {
  std::array<io_uring_cqe, kCqeBatch> cqes;
  for (int i = 0; i < 1000 && writes_in_flight_ > 0; ++i) {
    ring_.wait_for_completions(10);
    const std::size_t n = ring_.copy_cqes(cqes);
    for (std::size_t k = 0; k < n; ++k) handle_cqe(cqes[k]);
  }
}

void TunWriter::handle_cqe(const io_uring_cqe& c) {
  switch (op_of(c.user_data)) {
    case Op::kTunWrite: handle_write(c); break;
    case Op::kWake: doorbell_answered(bell_); break;
    case Op::kTimer: --timers_in_flight_; break;
    case Op::kSend:
      static_cast<NackBuf*>(ptr_of(c.user_data))->in_flight = false;
      --nacks_in_flight_;
      break;
    case Op::kStop: stop_requested_ = true; break;
    case Op::kMsgRing: wake_failed(c.user_data); break;
    default: break;
  }
}

void TunWriter::handle_write(const io_uring_cqe& c) {
  PacketBuf* b = buf_of(c.user_data);
  --writes_in_flight_;
  if (c.res < 0) {
    bump(stats_.tun_write_errors);
    MPT_LOG_RATELIMITED(LogLevel::kWarn, "TUN write: %s", std::strerror(-c.res));
  } else {
    bump(stats_.tun_write_packets, b->segments);
    bump(stats_.tun_write_bytes, b->length);
    bump(stats_.tun_writes);
  }
  OutputSlot& slot = slot_of(b);
  for (std::size_t i = 0; i < slot.ref_count; ++i) release(slot.refs[i]);
  slot.ref_count = 0;
  output_pool_.put(b);
}

void TunWriter::flush_returns() {
  for (std::size_t p = 0; p < paths_.size(); ++p) {
    if (returns_len_[p] == 0) continue;
    if (!paths_[p]) {
      // A removed path's (detach_path sends all home first, so none should be here): its
      // pool is retired, and the slot's next path must never get a buffer of it.
      returns_len_[p] = 0;
      continue;
    }
    // Cannot fail: a path's receive pool is no larger than its return ring.
    (void)paths_[p]->rx_return_ring(queue_).push(returns_[p].data(), returns_len_[p]);
    // The worker takes returns on its next loop turn; only one that ran dry sleeps for them.
    if (paths_[p]->take_starving()) ring_doorbell(ring_, paths_[p]->doorbell());
    returns_len_[p] = 0;
  }
}

void TunWriter::take_batches(std::uint64_t now) {
  std::size_t batches = 0;
  for (PathChannel* w : paths_) {
    if (output_pool_.free_count() <= kBatchMax) break;
    if (!w || w->rx_ring(queue_).read_available() == 0) continue;
    ++batches;
    take_from(*w, now);
  }
  if (batches) bump(stats_.tun_write_batches, batches);
}

// One batch of w's rx ring through its connection's reorder stage.
void TunWriter::take_from(PathChannel& w, std::uint64_t now) {
  std::array<PacketRef, kBatchMax> refs;
  const std::size_t n = w.rx_ring(queue_).pop(refs.data(), refs.size());
  if (n == 0) return;
  const int conn = w.connection();
  sink_conn_ = static_cast<std::size_t>(conn);
  const auto& conn_paths = tunnel_.connections[static_cast<std::size_t>(conn)].paths;
  // Index of this path within its connection (the reorder stage tracks paths by it).
  int local = 0;
  while (conn_paths[static_cast<std::size_t>(local)] != w.path_index()) ++local;
  for (std::size_t i = 0; i < n; ++i) {
    // Sealed: once only, whatever path it came on (a replay, or the second copy of a
    // redundant or repaired packet). What passes is the path's proof of delivery.
    if (refs[i].sealed) {
      if (!accept_sealed(static_cast<std::size_t>(conn), refs[i])) {
        bump(w.stats().rx_drop_replay);
        release(refs[i]);
        continue;
      }
      bump(w.stats().rx_accepted);
    }
    // An inner packet longer than a hold buffer (MTU + 64: a peer with a larger MTU, or a
    // spoofer) is refused: held, it would pin a 64 KB receive buffer for up to max_delay,
    // and enough of them would drain the path's pool, probes included.
    if (refs[i].length > hold_pool_.buf_size()) [[unlikely]] {
      bump(stats_.tun_write_drop_too_big);
      MPT_LOG_RATELIMITED(LogLevel::kWarn,
                          "dropped an inner packet of %u bytes: above this tunnel's MTU %d "
                          "(is the peer's mtu larger?)", refs[i].length, tunnel_.mtu);
      release(refs[i]);
      continue;
    }
    // The sender's queue numbered it in its space (the sealed header or the GRE key said
    // which).
    scheduler::Reorder<PacketRef>* reorder =
        refs[i].has_seq ? stage_for(static_cast<std::size_t>(conn), refs[i].space) : nullptr;
    if (reorder) {
      reorder->push(refs[i].seq, local, now, refs[i], *this);
    } else {
      deliver(refs[i]);
    }
  }
}

void TunWriter::expire_and_arm_timer(std::uint64_t now) {
  std::uint64_t next = kNever;
  for (std::size_t k = 0; k < reorder_.size(); ++k) {
    auto& r = reorder_[k];
    if (!r || !r->held()) continue;
    set_sink(k);
    next = std::min(next, r->expire(now, *this));
  }
  if (next == kNever) return;
  // Arm a timer unless one already fires at or before `next` (timer completions just wake
  // the loop; expire() decides).
  if (timers_in_flight_ > 0 && timer_deadline_ns_ <= next && timer_deadline_ns_ > now) return;
  const std::uint64_t wait = next > now ? next - now : 0;
  timer_ts_.tv_sec = static_cast<long long>(wait / 1000000000);
  timer_ts_.tv_nsec = static_cast<long long>(wait % 1000000000);
  io_uring_sqe* sqe = ring_.get_sqe();
  io_uring_prep_timeout(sqe, &timer_ts_, 0, 0);
  io_uring_sqe_set_data64(sqe, make_user_data(Op::kTimer));
  ++timers_in_flight_;
  timer_deadline_ns_ = next;
}

void TunWriter::publish_reorder_counters() {
  // Per connection: the sum over its stages (one per sequence space) in this writer.
  for (std::size_t c = 0; c < reorder_counters_.size() && c * kSpaces < reorder_.size(); ++c) {
    scheduler::ReorderStats s{};
    std::uint64_t held = 0, max_delay = 0;
    bool any = false;
    for (std::size_t sp = 0; sp < kSpaces; ++sp) {
      const auto& r = reorder_[c * kSpaces + sp];
      if (!r) continue;
      any = true;
      s += r->stats();
      held += r->held();
      max_delay = std::max(max_delay, r->max_delay());
    }
    if (!any) continue;
    ReorderCounters& o = *reorder_counters_[c];
    o.in_order.store(s.in_order, std::memory_order_relaxed);
    o.reordered.store(s.reordered, std::memory_order_relaxed);
    o.late.store(s.late, std::memory_order_relaxed);
    o.duplicate.store(s.duplicate, std::memory_order_relaxed);
    o.lost.store(s.lost, std::memory_order_relaxed);
    o.timeouts.store(s.timeouts, std::memory_order_relaxed);
    o.resyncs.store(s.resyncs, std::memory_order_relaxed);
    o.overflows.store(s.overflows, std::memory_order_relaxed);
    o.nacked.store(s.nacked, std::memory_order_relaxed);
    o.nack_retried.store(s.nack_retried, std::memory_order_relaxed);
    o.nack_filled.store(s.nack_filled, std::memory_order_relaxed);
    o.nack_refused.store(s.nack_refused, std::memory_order_relaxed);
    o.held.store(held, std::memory_order_relaxed);
    o.max_delay_us.store(max_delay / 1000, std::memory_order_relaxed);
  }
}

std::unique_ptr<scheduler::Reorder<PacketRef>> TunWriter::make_stage(const ConnectionSpec& c) {
  if (!c.active || !c.sequence_numbers || c.reorder_window == 0) return nullptr;
  auto r = std::make_unique<scheduler::Reorder<PacketRef>>(
      std::min(c.reorder_window, kMaxReorderWindow), std::uint64_t{c.max_delay_ms} * 1000000,
      static_cast<int>(c.paths.size()), kEarlyLossGraceNs);
  default_repair(*r, c);
  return r;
}

// The stage of connection c's sequence space `space`; made on its first packet (the peer
// has more queues than we do), with the settings the control plane gave the others.
scheduler::Reorder<PacketRef>* TunWriter::stage_for(std::size_t c, std::uint8_t space) {
  if (space >= kSpaces) return nullptr;  // cannot happen: the worker checked the space
  auto& r = reorder_[c * kSpaces + space];
  if (r) [[likely]] {
    sink_stage_ = c * kSpaces + space;
    return r.get();
  }
  const ConnectionSpec& cs = tunnel_.connections[c];
  r = make_stage(cs);  // an allocation: once per space and connection
  if (!r) return nullptr;
  sink_stage_ = c * kSpaces + space;
  const StageSettings& st = stage_settings_[c];
  if (st.max_delay_ns) r->set_max_delay(*st.max_delay_ns);
  for (std::size_t p = 0; p < st.lag_floor_ns.size(); ++p) {
    if (st.lag_floor_ns[p]) r->set_lag_floor(static_cast<int>(p), *st.lag_floor_ns[p]);
  }
  if (st.repair && r->repair_wait() != 0) r->set_repair(st.repair->ns, st.repair->ns2, st.repair->ns3);
  return r.get();
}

// A control-plane command: to every stage of its connection (one per sequence space), and
// remembered for stages made later.
void TunWriter::apply_command(const DelayCommand& dc, std::uint64_t now) {
  if (dc.connection >= stage_settings_.size()) return;
  StageSettings& st = stage_settings_[dc.connection];
  switch (dc.kind) {
    case DelayCommand::kMaxDelay: st.max_delay_ns = dc.ns; break;
    case DelayCommand::kLagFloor:
      if (dc.path >= 0) {
        if (st.lag_floor_ns.size() <= static_cast<std::size_t>(dc.path)) {
          st.lag_floor_ns.resize(static_cast<std::size_t>(dc.path) + 1);
        }
        st.lag_floor_ns[static_cast<std::size_t>(dc.path)] = dc.ns;
      }
      break;
    case DelayCommand::kRepair: st.repair = dc; break;
    default: break;
  }
  for (std::size_t sp = 0; sp < kSpaces; ++sp) {
    const std::size_t k = dc.connection * kSpaces + sp;
    if (k >= reorder_.size() || !reorder_[k]) continue;
    auto& r = *reorder_[k];
    set_sink(k);
    switch (dc.kind) {
      case DelayCommand::kMaxDelay: r.set_max_delay(dc.ns); break;
      case DelayCommand::kDied: r.path_died(dc.path, now, dc.ns, *this); break;
      case DelayCommand::kLagFloor: r.set_lag_floor(dc.path, dc.ns); break;
      case DelayCommand::kRepair:
        if (r.repair_wait() != 0) r.set_repair(dc.ns, dc.ns2, dc.ns3);  // only where it is on
        break;
      case DelayCommand::kPeerRestarted: r.peer_restarted(now); break;
    }
  }
}

void TunWriter::nack(std::uint32_t first, std::uint32_t count, std::uint8_t attempt) {
  if (sink_stage_ >= pending_nacks_.size()) return;
  PendingNacks& p = pending_nacks_[sink_stage_];
  while (count > 0) {
    // Full: sent now -- unless paused (a reload is closing sockets) or out of buffers; then
    // this range is dropped and counted (the reorder stage gives the gap up after its wait).
    if (p.count == p.ranges.size() && !paused_) send_nack(sink_stage_);
    if (p.count == p.ranges.size()) {
      bump(stats_.nack_drop_no_buffer);
      return;
    }
    const auto n = static_cast<std::uint16_t>(std::min<std::uint32_t>(count, kNackMaxRun));
    p.ranges[p.count++] = NackRange{first, n, attempt, static_cast<std::uint8_t>(sink_stage_ % kSpaces)};
    first += n;
    count -= n;
  }
}

void TunWriter::send_nacks() {
  if (paused_) return;
  for (std::size_t k = 0; k < pending_nacks_.size(); ++k) {
    if (pending_nacks_[k].count > 0) send_nack(k);
  }
}

// One NACK message with the connection's pending ranges, on its two usable paths with the
// shortest one-way delay (the estimate the control plane publishes; the second in case the
// first is the one that broke), from the path's own socket (so the peer's filter on source
// address accepts it), through this thread's ring: no syscall of its own.
void TunWriter::send_nack(std::size_t stage) {
  PendingNacks& p = pending_nacks_[stage];
  if (p.count == 0) return;
  const std::size_t connection = stage / kSpaces;  // the ranges name the stage's space
  const ConnectionSpec& cs = tunnel_.connections[connection];
  int best[2] = {-1, -1};
  std::uint64_t best_delay[2] = {~0ull, ~0ull};
  for (int slot : cs.paths) {
    const PathChannel* w = paths_[static_cast<std::size_t>(slot)];
    if (!w || w->down()) continue;
    // Unmeasured paths last; a lossy path's penalty counts against it.
    const PathChannel::Estimate e = w->estimate();
    const std::uint64_t d =
        e.rate_bps > 0 ? e.one_way_delay_ns + e.penalty_ns : ~0ull - 1;
    if (d < best_delay[0]) {
      best[1] = best[0];
      best_delay[1] = best_delay[0];
      best[0] = slot;
      best_delay[0] = d;
    } else if (d < best_delay[1]) {
      best[1] = slot;
      best_delay[1] = d;
    }
  }
  GreFields f;
  f.protocol = kProtoMptRepair;
  f.checksum = cs.gre_checksum;
  f.key = cs.gre_key;
  const std::size_t hs = gre_header_size(f);
  if (best[0] < 0) {  // no usable path: nothing to send it on
    bump(stats_.nack_drop_no_path);
    p.count = 0;
    return;
  }
  // Keyed: sealed (kind 5, this thread's nonce space kRepairSpace - queue), never in clear.
  TxSealer* sealer = nullptr;
  if (cs.sealed) {
    sealer = &nack_sealers_[connection];
    if (!keys_ || !sealer->refresh((*keys_)[connection].tx)) {
      bump(stats_.nack_drop_no_key);
      p.count = 0;
      return;
    }
    f.protocol = kProtoMptControl;
  }
  const std::size_t room = sealer ? kSealedHeaderSize : 0;
  bool sent = false;
  for (int slot : best) {
    if (slot < 0) continue;
    NackBuf* nb = nullptr;
    for (NackBuf& b : nack_bufs_) {
      if (!b.in_flight) {
        nb = &b;
        break;
      }
    }
    if (!nb) break;  // every buffer in flight: kept for the next turn
    std::size_t body = encode_nack(std::span(nb->data).subspan(hs + room),
                                   std::span(p.ranges.data(), p.count));
    if (body == 0) break;  // cannot happen: ranges are built valid
    if (sealer) {
      SealedHeader sh;
      sh.kind = kSealedRepair;
      sh.key_id = sealer->id;
      sh.space = static_cast<std::uint8_t>(kRepairSpace - queue_);
      sh.counter = sealer->counter++;
      body += kSealedOverhead;
      if (!seal_body(sealer->aead, sh, f, std::span(nb->data).subspan(hs, body))) break;
    }
    encode_gre(std::span(nb->data.data(), hs + body), f);
    PathChannel* w = paths_[static_cast<std::size_t>(slot)];
    const socklen_t to_len = w->endpoint().load(nb->to);  // where the peer is now
    if (to_len == 0 || !w->has_sockets()) continue;  // nowhere to send on this path (yet)
    nb->iov = {nb->data.data(), hs + body};
    nb->msg = {};
    nb->msg.msg_name = &nb->to;
    nb->msg.msg_namelen = to_len;
    nb->msg.msg_iov = &nb->iov;
    nb->msg.msg_iovlen = 1;
    io_uring_sqe* sqe = ring_.get_sqe();
    io_uring_prep_sendmsg(sqe, w->control_socket(), &nb->msg, 0);
    io_uring_sqe_set_data64(sqe, make_user_data(Op::kSend, nb));
    nb->in_flight = true;
    ++nacks_in_flight_;
    bump(stats_.nack_sent);
    bump(w->stats().tx_nacks);
    sent = true;
  }
  if (sent) p.count = 0;
}

}  // namespace mpt::engine
