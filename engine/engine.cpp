#include "engine/engine.h"

#include <pthread.h>
#include <signal.h>
#include <sched.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <utility>
#include <cinttypes>
#include <cstdio>
#include <system_error>

#include "engine/clock.h"
#include "engine/log.h"
#include "engine/udp_socket.h"

namespace mpt::engine {

Engine::Engine(TunnelSpec spec, int tun_read_fd, int tun_write_fd, bool vnet_hdr)
    : spec_(std::move(spec)) {
  stop_fd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (stop_fd_ < 0) throw std::system_error(errno, std::generic_category(), "eventfd");
  while (keys_.size() < spec_.connections.size()) keys_.emplace_back();
  for (std::size_t i = 0; i < spec_.paths.size(); ++i) {
    paths_.push_back(spec_.paths[i].active ? make_path(i) : nullptr);
  }
  wire_paths();
  reader_ = std::make_unique<TunReader>(spec_, tun_read_fd, vnet_hdr, path_ptrs_, stop_fd_);
  writer_ = std::make_unique<TunWriter>(spec_, tun_write_fd, vnet_hdr, path_ptrs_, stop_fd_);
  reader_->set_keys(&keys_);
  writer_->set_keys(&keys_);
  for (PathWorker* w : path_ptrs_) {
    if (w) w->connect(&reader_->doorbell(), &writer_->doorbell());
  }
  for (auto& l : listeners_) l->connect(&reader_->doorbell(), &writer_->doorbell());
}

std::unique_ptr<PathWorker> Engine::make_path(std::size_t i) {
  const PathSpec& ps = spec_.paths[i];
  if (listener_of_.size() < spec_.paths.size()) listener_of_.resize(spec_.paths.size(), -1);
  listener_of_[i] = -1;
  if (!ps.listen || ps.local_len == 0) {
    return std::make_unique<PathWorker>(spec_, static_cast<int>(i), stop_fd_);
  }
  std::size_t k = 0;
  for (; k < listeners_.size(); ++k) {
    const PathSpec& l = listeners_[k]->spec();
    if (l.interface_name == ps.interface_name && l.local_len == ps.local_len &&
        std::memcmp(&l.local, &ps.local, ps.local_len) == 0) {
      break;
    }
  }
  if (k == listeners_.size()) {
    PathSpec where = ps;
    where.name = "listener " + sockaddr_to_string(ps.local);
    where.connection = -1;
    listeners_.push_back(std::make_unique<PathWorker>(PathWorker::Listener{}, where, stop_fd_));
    if (reader_) listeners_.back()->connect(&reader_->doorbell(), &writer_->doorbell());
    MPT_INFO("%s: serving clients", where.name.c_str());
  }
  auto slot = std::make_unique<PathWorker>(spec_, static_cast<int>(i), *listeners_[k]);
  listeners_[k]->attach(slot.get());
  listener_of_[i] = static_cast<int>(k);
  return slot;
}

// Path i leaves (its sockets close; a client slot leaves its listener, which takes back the
// receive buffers it held). The object is kept until the next reload (see retired_).
void Engine::retire_path(std::size_t i) {
  PathWorker& w = *paths_[i];
  if (w.is_client_slot()) {
    listeners_.at(static_cast<std::size_t>(listener_of_.at(i)))->detach(&w);
    listener_of_[i] = -1;
  }
  w.close_sockets();
  retired_.push_back(std::move(paths_[i]));
}

void Engine::wire_paths() {
  path_ptrs_.clear();
  for (const auto& w : paths_) {
    path_ptrs_.push_back(w.get());
    if (w) w->set_keys(&keys_.at(static_cast<std::size_t>(w->spec().connection)));
  }
}

Engine::~Engine() {
  stop();
  paths_.clear();
  retired_.clear();
  ::close(stop_fd_);
}

namespace {

// A data-plane thread's body: an exception that escapes it (a defect, or memory) must not
// end the process where it stands (std::terminate: mptd's routes would stay behind). It is
// logged and the daemon is asked to stop the way SIGTERM does, which removes what it added.
template <typename F>
auto guarded(const char* what, F body) {
  return [what, body] {
    try {
      body();
    } catch (const std::exception& e) {
      MPT_ERROR("%s thread failed: %s; shutting down", what, e.what());
      ::kill(::getpid(), SIGTERM);
    } catch (...) {
      MPT_ERROR("%s thread failed; shutting down", what);
      ::kill(::getpid(), SIGTERM);
    }
  };
}

}  // namespace

void Engine::start(bool pin_cpus) {
  pin_cpus_ = pin_cpus;
  threads_.emplace_back(guarded("TUN reader", [this] { reader_->run(); }));
  pthread_setname_np(threads_.back().native_handle(), "mpt-tun-rd");
  threads_.emplace_back(guarded("TUN writer", [this] { writer_->run(); }));
  pthread_setname_np(threads_.back().native_handle(), "mpt-tun-wr");
  for (std::size_t i = 0; i < paths_.size(); ++i) {
    PathWorker* w = paths_[i].get();
    if (!w) continue;
    if (w->is_client_slot()) continue;  // its listener carries it
    threads_.emplace_back(guarded("path worker", [w] { w->run(); }));
    const std::string name = "mpt-path" + std::to_string(i);
    pthread_setname_np(threads_.back().native_handle(), name.substr(0, 15).c_str());
  }
  for (std::size_t k = 0; k < listeners_.size(); ++k) {
    PathWorker* w = listeners_[k].get();
    threads_.emplace_back(guarded("listener", [w] { w->run(); }));
    const std::string name = "mpt-listen" + std::to_string(k);
    pthread_setname_np(threads_.back().native_handle(), name.substr(0, 15).c_str());
  }
  if (!pin_cpus) return;
  cpu_set_t allowed;
  CPU_ZERO(&allowed);
  if (sched_getaffinity(0, sizeof allowed, &allowed) != 0) return;
  std::vector<int> cpus;
  for (int c = 0; c < CPU_SETSIZE; ++c) {
    if (CPU_ISSET(c, &allowed)) cpus.push_back(c);
  }
  for (std::size_t i = 0; i < threads_.size() && !cpus.empty(); ++i) {
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(cpus[i % cpus.size()], &one);
    if (pthread_setaffinity_np(threads_[i].native_handle(), sizeof one, &one) != 0) {
      MPT_WARN("could not pin thread %zu to CPU %d", i, cpus[i % cpus.size()]);
    }
  }
}

void Engine::set_path_usable(std::size_t i, bool usable, std::uint32_t weight) {
  paths_.at(i)->set_down(!usable);
  reader_->post_command({static_cast<int>(i), weight, usable});
}

void Engine::pause() {
  stop();
  std::uint64_t v = 0;
  [[maybe_unused]] ssize_t r = ::read(stop_fd_, &v, sizeof v);  // reset: the next run waits
}

void Engine::resume() {
  // A wake-up reaped by a thread's shutdown drain left its doorbell marked pending; every
  // consumer looks at all its rings when it starts, so clearing them loses nothing.
  reader_->doorbell().pending.store(false);
  writer_->doorbell().pending.store(false);
  for (PathWorker* w : path_ptrs_) {
    if (w) w->doorbell().pending.store(false);
  }
  for (auto& l : listeners_) l->doorbell().pending.store(false);
  start(pin_cpus_);
}

std::vector<std::string> Engine::reconfigure(TunnelSpec next) {
  if (next.paths.size() < spec_.paths.size() ||
      next.connections.size() < spec_.connections.size()) {
    throw std::invalid_argument("reconfigure: slots may be added or freed, never erased");
  }
  const bool running = !threads_.empty();
  const std::uint64_t t0 = monotonic_ns();
  if (running) pause();
  retired_.clear();  // every thread has reaped all it had since they were removed
  // 1. Paths that go (or change their sockets) hand back what they hold, then close.
  for (std::size_t i = 0; i < spec_.paths.size(); ++i) {
    if (!paths_[i]) continue;
    if (next.paths[i].active && same_path_sockets(spec_.paths[i], next.paths[i])) continue;
    reader_->detach_path(static_cast<int>(i));
    writer_->detach_path(static_cast<int>(i));
    MPT_INFO("path %s removed", spec_.paths[i].name.c_str());
    retire_path(i);
  }
  TunnelSpec old = std::exchange(spec_, std::move(next));
  while (keys_.size() < spec_.connections.size()) keys_.emplace_back();
  // 2. New paths open their sockets (after the old ones closed: a path may move to a new
  //    peer on the same local address and port).
  std::vector<std::string> errors;
  paths_.resize(spec_.paths.size());
  for (std::size_t i = 0; i < spec_.paths.size(); ++i) {
    PathSpec& ps = spec_.paths[i];
    if (!ps.active) continue;
    if (paths_[i]) {
      paths_[i]->update_spec(ps, spec_.connections[static_cast<std::size_t>(ps.connection)]);
      continue;
    }
    try {
      paths_[i] = make_path(i);
      paths_[i]->connect(&reader_->doorbell(), &writer_->doorbell());
      paths_[i]->set_down(true);  // until the control plane enables it (ControlLoop::reconfigure)
      MPT_INFO("path %s added", ps.name.c_str());
    } catch (const std::exception& e) {  // sockets, ring, or the pool's memory
      errors.push_back(ps.name + ": " + e.what());
      MPT_ERROR("path %s: %s (left out)", ps.name.c_str(), e.what());
      ps.active = false;
      auto& ids = spec_.connections[static_cast<std::size_t>(ps.connection)].paths;
      ids.erase(std::remove(ids.begin(), ids.end(), static_cast<int>(i)), ids.end());
    }
  }
  wire_paths();
  // 3. The reader and writer follow (schedulers, sequence counters, reorder stages).
  reader_->reconfigure(old, path_ptrs_);
  writer_->reconfigure(old, path_ptrs_);
  if (running) resume();
  MPT_INFO("reconfigured: data plane paused for %.2f ms",
           static_cast<double>(monotonic_ns() - t0) / 1e6);
  return errors;
}

void Engine::stop() {
  if (threads_.empty()) return;
  const std::uint64_t one = 1;
  [[maybe_unused]] ssize_t w = ::write(stop_fd_, &one, sizeof one);
  for (std::thread& t : threads_) t.join();
  threads_.clear();
}

namespace {
// The peer's address now, or a note that it is not known yet (learned on a keyed connection).
std::string endpoint_string(const PeerEndpoint& e) {
  sockaddr_storage a;
  return e.load(a) ? sockaddr_to_string(a) : std::string("(not known yet)");
}

void append(std::string& out, const char* fmt, ...) __attribute__((format(printf, 2, 3)));
void append(std::string& out, const char* fmt, ...) {
  char buf[512];
  va_list ap;
  va_start(ap, fmt);
  int n = std::vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  if (n > 0) out.append(buf, std::min<std::size_t>(static_cast<std::size_t>(n), sizeof buf - 1));
}
}  // namespace

nlohmann::ordered_json Engine::status() const {
  using Json = nlohmann::ordered_json;
  const TxStats& t = reader_->stats();
  const RxStats& r = writer_->stats();
  Json j;
  j["mtu"] = spec_.mtu;
  j["tx"] = {
      {"tun_read_packets", read(t.tun_read_packets)},
      {"tun_read_bytes", read(t.tun_read_bytes)},
      {"tun_read_errors", read(t.tun_read_errors)},
      {"drop_not_ip", read(t.tx_drop_not_ip)},
      {"drop_too_big", read(t.tx_drop_too_big)},
      {"drop_no_connection", read(t.tx_drop_no_connection)},
      {"drop_no_path", read(t.tx_drop_no_path)},
      {"drop_ring_full", read(t.tx_drop_ring_full)},
      {"batches", read(t.tx_batches)},
      {"read_pool_buffers", reader_->read_pool().count()},
      {"read_pool_buffer_bytes", reader_->read_pool().buf_size()},
      {"send_pool_buffers", reader_->send_pool().count()},
      {"send_pool_buffer_bytes", reader_->send_pool().buf_size()},
      {"send_pool_free_low_water", reader_->send_pool().free_low_water()},
      {"read_pool_free", reader_->read_pool_free()},
      {"send_pool_free", reader_->send_pool().free_now()},
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
  j["rx"] = {
      {"tun_writes", read(r.tun_writes)},
      {"output_pool_buffers", writer_->output_pool().count()},
      {"output_pool_free_low_water", writer_->output_pool().free_low_water()},
      {"output_pool_free", writer_->output_pool().free_now()},
      {"hold_pool_buffers", writer_->hold_pool().count()},
      {"hold_pool_free", writer_->hold_pool().free_now()},
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
  Json conns = Json::array();
  for (std::size_t c = 0; c < spec_.connections.size(); ++c) {
    const ConnectionSpec& cs = spec_.connections[c];
    if (!cs.active) continue;
    const ReorderCounters& o = writer_->reorder_counters(c);
    conns.push_back({
        {"name", cs.name},
        {"scheduler", scheduler::to_string(cs.policy)},
        {"sequence_numbers", cs.sequence_numbers},
        {"reorder_window", writer_->reorders(c) ? std::min(cs.reorder_window, kMaxReorderWindow) : 0u},
        {"max_delay_us", read(o.max_delay_us)},
        {"max_delay_derived", cs.max_delay_derived},
        {"reorder",
         {{"in_order", read(o.in_order)},
          {"reordered", read(o.reordered)},
          {"late", read(o.late)},
          {"duplicate", read(o.duplicate)},
          {"lost", read(o.lost)},
          {"timeouts", read(o.timeouts)},
          {"resyncs", read(o.resyncs)},
          {"held", read(o.held)},
          {"overflows", read(o.overflows)},
          {"nacked", read(o.nacked)},
          {"nack_retried", read(o.nack_retried)},
          {"nack_filled", read(o.nack_filled)},
          {"nack_refused", read(o.nack_refused)}}},
        {"repair", cs.repair && cs.paths.size() > 1},
    });
  }
  j["connections"] = std::move(conns);
  Json paths = Json::array();
  for (std::size_t i = 0; i < paths_.size(); ++i) {
    if (!paths_[i]) continue;
    const PathWorker& w = *paths_[i];
    const PathStats& p = w.stats();
    std::uint64_t gre_drops = 0;
    Json gre = Json::object();
    for (std::size_t e = 1; e < p.rx_drop_gre.size(); ++e) {
      gre_drops += read(p.rx_drop_gre[e]);
      gre[to_string(static_cast<GreError>(e))] = read(p.rx_drop_gre[e]);
    }
    paths.push_back({
        {"name", w.spec().name},
        {"interface", w.spec().interface_name},
        {"local", w.spec().local_len ? sockaddr_to_string(w.spec().local) : std::string()},
        {"waiting", w.spec().waiting},
        {"remote", endpoint_string(w.endpoint())},
        {"remote_configured",
         w.spec().remote_len ? sockaddr_to_string(w.spec().remote) : std::string()},
        {"up", w.spec().up},
        {"weight", w.spec().weight},
        {"source_ports", w.source_port_count()},
        {"tx_packets", read(p.tx_packets)},
        {"tx_bytes", read(p.tx_bytes)},
        {"tx_send_errors", read(p.tx_send_errors)},
        {"tx_submit_batches", read(p.tx_submit_batches)},
        {"rx_packets", read(p.rx_packets)},
        {"rx_bytes", read(p.rx_bytes)},
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
        {"rx_drop_gre", std::move(gre)},
        {"rx_pool_buffers", w.rx_pool().count()},
        {"rx_pool_buffer_bytes", w.rx_pool().buf_size()},
        {"rx_pool_free", w.rx_pool_free()},
    });
  }
  j["paths"] = std::move(paths);
  // Server mode: what each listener received from no client's address (strangers, and
  // clients that moved until their next authenticated message), and its shared pool.
  Json listeners = Json::array();
  for (const auto& l : listeners_) {
    const PathStats& p = l->stats();
    listeners.push_back({
        {"name", l->spec().name},
        {"interface", l->spec().interface_name},
        {"local", sockaddr_to_string(l->spec().local)},
        {"client_paths", l->served_count()},
        {"rx_drop_unknown_client", read(p.rx_drop_unknown_peer)},
        {"rx_drop_unsealed", read(p.rx_drop_unsealed)},
        {"rx_drop_key_mismatch", read(p.rx_drop_key_mismatch)},
        {"rx_control", read(p.rx_control)},
        {"rx_control_dropped", read(p.rx_control_dropped)},
        {"rx_control_limited", read(p.rx_control_limited)},
        {"rx_pool_buffers", l->rx_pool().count()},
        {"rx_pool_buffer_bytes", l->rx_pool().buf_size()},
        {"rx_pool_free", l->rx_pool_free()},
    });
  }
  j["listeners"] = std::move(listeners);
  // What the data plane holds per path and per connection, as allocated (pages are touched
  // as they are used: the resident size of an idle client is smaller; docs/architecture.md).
  j["memory"] = {{"path_slot_bytes", sizeof(PathWorker)}};
  return j;
}

std::string Engine::status_text() const {
  std::string s;
  const TxStats& t = reader_->stats();
  const RxStats& r = writer_->stats();
  append(s, "tunnel: mtu %d\n  tun read:  %" PRIu64 " packets, %" PRIu64 " bytes\n"
         "  tun write: %" PRIu64 " packets, %" PRIu64 " bytes\n", spec_.mtu,
         read(t.tun_read_packets), read(t.tun_read_bytes), read(r.tun_write_packets),
         read(r.tun_write_bytes));
  append(s, "  tun reads %" PRIu64 " -> %" PRIu64 " segments; tun writes %" PRIu64 "\n",
         read(t.tun_read_packets), read(t.tx_segments), read(r.tun_writes));
  append(s, "  failover: %" PRIu64 " segments moved from dead paths' queues, %" PRIu64
         " sent again (reinjected), %" PRIu64 " with no live path; %" PRIu64
         " redundant copies\n", read(t.tx_rerouted), read(t.tx_reinjected),
         read(t.tx_reinject_dropped), read(t.tx_redundant));
  append(s, "  repair: %" PRIu64 " segments sent again on request, %" PRIu64 " no longer held, %"
         PRIu64 " over budget, %" PRIu64 " replayed requests ignored; %" PRIu64
         " requests sent\n", read(t.tx_repaired), read(t.tx_repair_missing),
         read(t.tx_repair_limited), read(t.tx_repair_replayed), read(r.nack_sent));
  append(s, "  pacing: %" PRIu64 " reads held back (no bottleneck path had room), %" PRIu64
         " dropped after waiting pace_queue_ms\n", read(t.tx_paced), read(t.tx_drop_pace_queue));
  append(s, "  tun write dropped: %" PRIu64 " no output buffer, %" PRIu64 " not IP, %" PRIu64
         " above the MTU, %" PRIu64 " from a source the peer may not use; repair requests not "
         "sent: %" PRIu64 " ranges (no buffer), %" PRIu64 " messages (no path)\n",
         read(r.tun_write_drop_no_buffer), read(r.tun_write_drop_not_ip),
         read(r.tun_write_drop_too_big), read(r.tun_write_drop_inner_source),
         read(r.nack_drop_no_buffer), read(r.nack_drop_no_path));
  append(s, "  pools: read %zu x %u B, send %zu x %u B (fewest free %zu), output %zu x %u B "
         "(fewest free %zu)\n", reader_->read_pool().count(), reader_->read_pool().buf_size(),
         reader_->send_pool().count(), reader_->send_pool().buf_size(),
         reader_->send_pool().free_low_water(), writer_->output_pool().count(),
         writer_->output_pool().buf_size(), writer_->output_pool().free_low_water());
  for (std::size_t c = 0; c < spec_.connections.size(); ++c) {
    const ConnectionSpec& cs = spec_.connections[c];
    if (!cs.active) continue;
    append(s, "\nconnection %s: %zu path(s), scheduler %s, sequence numbers %s", cs.name.c_str(),
           cs.paths.size(), scheduler::to_string(cs.policy), cs.sequence_numbers ? "on" : "off");
    if (writer_->reorders(c)) {
      const ReorderCounters& o = writer_->reorder_counters(c);
      append(s, ", reorder window %u, max delay %.1f ms%s\n  reorder: %" PRIu64 " in order, %" PRIu64
             " reordered, %" PRIu64 " late, %" PRIu64 " duplicate, %" PRIu64 " lost (%" PRIu64
             " by timeout), %" PRIu64 " resyncs; %" PRIu64 " asked for again (repair %s, %" PRIu64
             " a second time), %" PRIu64 " of them came, %" PRIu64 " not asked for (over budget)\n", std::min(cs.reorder_window, kMaxReorderWindow),
             static_cast<double>(read(o.max_delay_us)) / 1000.0,
             cs.max_delay_derived ? " (derived)" : "", read(o.in_order), read(o.reordered), read(o.late),
             read(o.duplicate), read(o.lost), read(o.timeouts), read(o.resyncs), read(o.nacked),
             cs.repair && cs.paths.size() > 1 ? "on" : "off", read(o.nack_retried), read(o.nack_filled),
             read(o.nack_refused));
    } else {
      s += ", no reordering\n";
    }
  }
  for (const auto& wp : paths_) {
    if (!wp) continue;
    PathWorker& w = *wp;
    const PathStats& p = w.stats();
    std::uint64_t gre_drops = 0;
    for (std::size_t e = 1; e < p.rx_drop_gre.size(); ++e) gre_drops += read(p.rx_drop_gre[e]);
    const std::string local = w.spec().local_len ? sockaddr_to_string(w.spec().local)
                                                 : "(waiting: " + w.spec().waiting + ")";
    append(s, "\npath %s (%s): %s -> %s, %s, weight %u\n", w.spec().name.c_str(),
           w.spec().interface_name.c_str(), local.c_str(),
           endpoint_string(w.endpoint()).c_str(), w.spec().up ? "up" : "down",
           w.spec().weight);
    append(s, "  transfer: %" PRIu64 " packets / %" PRIu64 " B sent, %" PRIu64 " packets / %"
           PRIu64 " B received\n", read(p.tx_packets), read(p.tx_bytes), read(p.rx_packets),
           read(p.rx_bytes));
    append(s, "  dropped:  %" PRIu64 " unknown peer, %" PRIu64 " invalid GRE, %" PRIu64
           " truncated, %" PRIu64 " key mismatch, %" PRIu64 " ring full, %" PRIu64
           " control, %" PRIu64 " control over the new-session limit, %" PRIu64
           " repair requests, %" PRIu64 " out of receive buffers\n",
           read(p.rx_drop_unknown_peer), gre_drops, read(p.rx_drop_truncated),
           read(p.rx_drop_key_mismatch), read(p.rx_drop_ring_full), read(p.rx_control_dropped),
           read(p.rx_control_limited), read(p.rx_nack_dropped), read(p.rx_nobufs));
    append(s, "  sealed:   %" PRIu64 " accepted, %" PRIu64 " failed authentication, %" PRIu64
           " replayed, %" PRIu64 " not sealed\n", read(p.rx_accepted), read(p.rx_drop_auth),
           read(p.rx_drop_replay), read(p.rx_drop_unsealed));
    if (w.is_client_slot()) {
      append(s, "  rx pool:  shared (%s)\n",
             listeners_.at(static_cast<std::size_t>(listener_of(static_cast<std::size_t>(w.path_index()))))->spec().name.c_str());
    } else {
      append(s, "  rx pool:  %zu x %u B (%zu KiB)\n", w.rx_pool().count(), w.rx_pool().buf_size(),
             w.rx_pool().memory_bytes() / 1024);
    }
  }
  for (const auto& l : listeners_) {
    const PathStats& p = l->stats();
    append(s, "\n%s (%s): %zu client paths; from no client's address: %" PRIu64
           " dropped, %" PRIu64 " control messages taken (%" PRIu64 " over the limit); rx pool %zu x %u B\n",
           l->spec().name.c_str(), l->spec().interface_name.c_str(), l->served_count(),
           read(p.rx_drop_unknown_peer) + read(p.rx_drop_unsealed) + read(p.rx_drop_key_mismatch),
           read(p.rx_control), read(p.rx_control_limited), l->rx_pool().count(), l->rx_pool().buf_size());
  }
  return s;
}

}  // namespace mpt::engine
