// Engine::snapshot(): the data plane's counters, pools and identities as plain values
// (engine/status_snapshot.h). Read on the control thread while the data plane runs: relaxed
// counter loads, and sizes that change only while it is paused.
#include <algorithm>
#include <string_view>

#include "engine/clock.h"
#include "engine/engine.h"
#include "engine/udp_socket.h"

namespace mpt::engine {
namespace {

// The peer's address now, or a note that it is not known yet (learned on a keyed connection).
std::string endpoint_string(const PeerEndpoint& e) {
  sockaddr_storage a;
  return e.load(a) ? sockaddr_to_string(a) : std::string("(not known yet)");
}

constexpr Metric::Kind kGauge = Metric::Kind::kGauge;

// Adds b's values to a's of the same name (the queues' metrics into the tunnel's).
void add_metrics(Metrics& a, const Metrics& b) {
  if (a.empty()) {
    a = b;
    return;
  }
  for (std::size_t i = 0; i < a.size() && i < b.size(); ++i) {
    if (std::string_view(a[i].name).ends_with("buffer_bytes")) continue;  // a size, the same in every queue
    a[i].value += b[i].value;
  }
}

}  // namespace

Metrics Engine::reader_metrics(const TunReader& reader) const {
  const TxStats& t = const_cast<TunReader&>(reader).stats();
  const TunReader* reader_ = &reader;
  return {
      {"tun_read_packets", read(t.tun_read_packets)},
      {"tun_read_bytes", read(t.tun_read_bytes)},
      {"tun_read_errors", read(t.tun_read_errors)},
      {"drop_not_ip", read(t.tx_drop_not_ip)},
      {"drop_too_big", read(t.tx_drop_too_big)},
      {"drop_no_connection", read(t.tx_drop_no_connection)},
      {"drop_no_path", read(t.tx_drop_no_path)},
      {"drop_ring_full", read(t.tx_drop_ring_full)},
      {"batches", read(t.tx_batches)},
      {"read_pool_buffers", reader_->read_pool().count(), kGauge},
      {"read_pool_buffer_bytes", reader_->read_pool().buf_size(), kGauge},
      {"send_pool_buffers", reader_->send_pool().count(), kGauge},
      {"send_pool_buffer_bytes", reader_->send_pool().buf_size(), kGauge},
      {"send_pool_free_low_water", reader_->send_pool().free_low_water(), kGauge},
      {"read_pool_free", reader_->read_pool_free(), kGauge},
      {"send_pool_free", reader_->send_pool().free_now(), kGauge},
      {"segments", read(t.tx_segments)},
      {"drop_bad_offload", read(t.tx_drop_bad_offload)},
      {"drop_no_buffer", read(t.tx_drop_no_buffer)},
      {"rerouted", read(t.tx_rerouted)},
      {"reinjected", read(t.tx_reinjected)},
      {"reinject_dropped", read(t.tx_reinject_dropped)},
      {"redundant", read(t.tx_redundant)},
      {"repaired", read(t.tx_repaired)},
      {"repair_missing", read(t.tx_repair_missing)},
      {"repair_limited", read(t.tx_repair_limited)},
      {"repair_replayed", read(t.tx_repair_replayed)},
      {"paced", read(t.tx_paced)},
      {"drop_pace_queue", read(t.tx_drop_pace_queue)},
      {"drop_no_key", read(t.tx_drop_no_key)},
  };
}

Metrics Engine::writer_metrics(const TunWriter& writer) const {
  const RxStats& r = const_cast<TunWriter&>(writer).stats();
  const TunWriter* writer_ = &writer;
  return {
      {"tun_writes", read(r.tun_writes)},
      {"output_pool_buffers", writer_->output_pool().count(), kGauge},
      {"output_pool_buffer_bytes", writer_->output_pool().buf_size(), kGauge},
      {"output_pool_free_low_water", writer_->output_pool().free_low_water(), kGauge},
      {"output_pool_free", writer_->output_pool().free_now(), kGauge},
      {"hold_pool_buffers", writer_->hold_pool().count(), kGauge},
      {"hold_pool_free", writer_->hold_pool().free_now(), kGauge},
      {"tun_write_packets", read(r.tun_write_packets)},
      {"tun_write_bytes", read(r.tun_write_bytes)},
      {"tun_write_errors", read(r.tun_write_errors)},
      {"batches", read(r.tun_write_batches)},
      {"drop_no_buffer", read(r.tun_write_drop_no_buffer)},
      {"drop_not_ip", read(r.tun_write_drop_not_ip)},
      {"drop_too_big", read(r.tun_write_drop_too_big)},
      {"drop_inner_source", read(r.tun_write_drop_inner_source)},
      {"nack_sent", read(r.nack_sent)},
      {"nack_drop_no_buffer", read(r.nack_drop_no_buffer)},
      {"nack_drop_no_path", read(r.nack_drop_no_path)},
      {"nack_drop_no_key", read(r.nack_drop_no_key)},
  };
}

EngineSnapshot Engine::snapshot() const {
  EngineSnapshot s;
  s.mtu = spec_.mtu;
  // Per TUN queue, and their sums for the tunnel.
  for (std::size_t q = 0; q < readers_.size(); ++q) {
    QueueSnapshot& x = s.queues.emplace_back();
    x.tx = reader_metrics(*readers_[q]);
    x.rx = writer_metrics(*writers_[q]);
    add_metrics(s.tx, x.tx);
    add_metrics(s.rx, x.rx);
  }
  for (std::size_t c = 0; c < spec_.connections.size(); ++c) {
    const ConnectionSpec& cs = spec_.connections[c];
    if (!cs.active) continue;
    // The connection's reorder stages live in every queue's writer (one per sequence space):
    // their counters add up; the wait in force is the largest.
    ReorderCounters o;
    bool reorders = false;
    for (const auto& w : writers_) {
      const ReorderCounters& x = w->reorder_counters(c);
      reorders = reorders || w->reorders(c);
      for (auto [to, from] : {std::pair{&o.in_order, &x.in_order}, {&o.reordered, &x.reordered},
                              {&o.late, &x.late}, {&o.duplicate, &x.duplicate}, {&o.lost, &x.lost},
                              {&o.timeouts, &x.timeouts}, {&o.resyncs, &x.resyncs},
                              {&o.held, &x.held}, {&o.overflows, &x.overflows},
                              {&o.nacked, &x.nacked}, {&o.nack_retried, &x.nack_retried},
                              {&o.nack_filled, &x.nack_filled},
                              {&o.nack_refused, &x.nack_refused}}) {
        to->store(read(*to) + read(*from), std::memory_order_relaxed);
      }
      o.max_delay_us.store(std::max(read(o.max_delay_us), read(x.max_delay_us)),
                           std::memory_order_relaxed);
    }
    ConnectionSnapshot& x = s.connections.emplace_back();
    x.name = cs.name;
    x.scheduler = scheduler::to_string(cs.policy);
    x.sequence_numbers = cs.sequence_numbers;
    x.path_count = cs.paths.size();
    x.reorders = reorders;
    x.reorder_window = x.reorders ? std::min(cs.reorder_window, kMaxReorderWindow) : 0u;
    x.max_delay_derived = cs.max_delay_derived;
    x.repair = cs.repair && cs.paths.size() > 1;
    x.reorder = {
        {"max_delay_us", read(o.max_delay_us), kGauge},
        {"in_order", read(o.in_order)},
        {"reordered", read(o.reordered)},
        {"late", read(o.late)},
        {"duplicate", read(o.duplicate)},
        {"lost", read(o.lost)},
        {"timeouts", read(o.timeouts)},
        {"resyncs", read(o.resyncs)},
        {"held", read(o.held), kGauge},
        {"overflows", read(o.overflows)},
        {"nacked", read(o.nacked)},
        {"nack_retried", read(o.nack_retried)},
        {"nack_filled", read(o.nack_filled)},
        {"nack_refused", read(o.nack_refused)},
    };
  }
  for (std::size_t i = 0; i < paths_.size(); ++i) {
    if (!paths_[i]) continue;
    const PathWorker& w = *paths_[i];
    const PathSpec& ps = w.spec();
    const PathStats& p = w.stats();
    PathSnapshot& x = s.paths.emplace_back();
    x.name = ps.name;
    x.connection = spec_.connections.at(static_cast<std::size_t>(ps.connection)).name;
    x.interface = ps.interface_name;
    x.local = ps.local_len ? sockaddr_to_string(ps.local) : std::string();
    x.waiting = ps.waiting;
    x.remote = endpoint_string(w.endpoint());
    x.remote_configured = ps.remote_len ? sockaddr_to_string(ps.remote) : std::string();
    x.up = ps.up;
    x.weight = ps.weight;
    const int l = listener_of(i);
    if (l >= 0) x.listener = listeners_.at(static_cast<std::size_t>(l))->spec().name;
    x.rx_pool_bytes = w.rx_pool().memory_bytes();
    std::uint64_t gre_drops = 0;
    for (std::size_t e = 1; e < p.rx_drop_gre.size(); ++e) {
      gre_drops += read(p.rx_drop_gre[e]);
      x.rx_drop_gre.emplace_back(to_string(static_cast<GreError>(e)), read(p.rx_drop_gre[e]));
    }
    x.values = {
        {"source_ports", w.source_port_count(), kGauge},
        {"tx_packets", read(p.tx_packets)},
        {"tx_bytes", read(p.tx_bytes)},
        {"tx_send_errors", read(p.tx_send_errors)},
        {"tx_fragmented", read(p.tx_fragmented)},
        {"datagram_limit", w.datagram_limit(monotonic_ns()), kGauge},
        {"tx_submit_batches", read(p.tx_submit_batches)},
        {"rx_packets", read(p.rx_packets)},
        {"rx_bytes", read(p.rx_bytes)},
        {"rx_receives", read(p.rx_gro_datagrams)},
        {"rx_drop_unknown_peer", read(p.rx_drop_unknown_peer)},
        {"rx_drop_truncated", read(p.rx_drop_truncated)},
        {"rx_drop_key_mismatch", read(p.rx_drop_key_mismatch)},
        {"rx_drop_ring_full", read(p.rx_drop_ring_full)},
        {"rx_control", read(p.rx_control)},
        {"rx_control_dropped", read(p.rx_control_dropped)},
        {"rx_control_limited", read(p.rx_control_limited)},
        {"tx_unsent", read(p.tx_unsent)},
        {"rx_recv_errors", read(p.rx_recv_errors)},
        {"rx_nobufs", read(p.rx_nobufs)},
        {"rx_drop_invalid_gre", gre_drops},
        {"rx_nack_ranges", read(p.rx_nack_ranges)},
        {"rx_nack_dropped", read(p.rx_nack_dropped)},
        {"rx_drop_unsealed", read(p.rx_drop_unsealed)},
        {"rx_drop_auth", read(p.rx_drop_auth)},
        {"rx_drop_replay", read(p.rx_drop_replay)},
        {"rx_accepted", read(p.rx_accepted)},
        {"tx_nacks", read(p.tx_nacks)},
        {"rx_pool_buffers", w.rx_pool().count(), kGauge},
        {"rx_pool_buffer_bytes", w.rx_pool().buf_size(), kGauge},
        {"rx_pool_free", w.rx_pool_free(), kGauge},
    };
  }
  // Server mode: what each listener received from no client's address (strangers, and
  // clients that moved until their next authenticated message), and its shared pool.
  for (const auto& l : listeners_) {
    const PathStats& p = l->stats();
    ListenerSnapshot& x = s.listeners.emplace_back();
    x.name = l->spec().name;
    x.interface = l->spec().interface_name;
    x.local = sockaddr_to_string(l->spec().local);
    x.client_paths = l->served_count();
    x.values = {
        {"rx_drop_unknown_client", read(p.rx_drop_unknown_peer)},
        {"rx_drop_unsealed", read(p.rx_drop_unsealed)},
        {"rx_drop_key_mismatch", read(p.rx_drop_key_mismatch)},
        {"rx_control", read(p.rx_control)},
        {"rx_control_dropped", read(p.rx_control_dropped)},
        {"rx_control_limited", read(p.rx_control_limited)},
        {"rx_pool_buffers", l->rx_pool().count(), kGauge},
        {"rx_pool_buffer_bytes", l->rx_pool().buf_size(), kGauge},
        {"rx_pool_free", l->rx_pool_free(), kGauge},
    };
  }
  // What the data plane holds per path slot, as allocated (pages are touched as they are
  // used: the resident size of an idle client is smaller; docs/architecture.md).
  s.path_slot_bytes = sizeof(PathWorker);
  return s;
}

}  // namespace mpt::engine
