// Engine: the data plane of one tunnel -- per TUN queue a TUN reader and a TUN writer, one
// PathWorker per path, each on its own thread, wired together with SPSC rings (a set per
// queue and path, engine/path_channel.h) and doorbells.
//
// Threads: constructed, started, stopped, reconfigured and destroyed by one controlling
// thread (mptd's main thread, which is also the control thread). snapshot() may be called
// from it while running: it only reads relaxed counters and sizes that change only while the
// data plane is paused.
//
// Path and connection indices are slots: stable for the daemon's lifetime. A reload that
// removes a path leaves its slot inactive (TunnelSpec::active); one that adds a path takes a
// free slot or a new one.
#pragma once

#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <deque>

#include "engine/path_worker.h"
#include "engine/session_keys.h"
#include "engine/status_snapshot.h"
#include "engine/tun_reader.h"
#include "engine/tun_writer.h"
#include "engine/tunnel_spec.h"

namespace mpt::engine {

class Engine {
 public:
  // Opens every socket and ring; throws std::system_error with context on failure.
  // tun_fds: one per TUN queue (spec.queues of them; queue q's reader and writer use fd q).
  // vnet_hdr: the TUN fds carry virtio headers (TunDevice opened with offloads).
  Engine(TunnelSpec spec, std::vector<int> tun_fds, bool vnet_hdr);
  ~Engine();  // stops and joins if still running
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // Starts the threads. With pin_cpus, each data-plane thread is bound to one CPU, round
  // robin over the CPUs this process may use (default: the kernel schedules them freely).
  void start(bool pin_cpus = false);
  void stop();  // idempotent; returns when every thread has exited

  // `mpt reload`: runs `next` from now on. `next` keeps every slot of the running spec (a
  // path or connection that goes is marked inactive, never erased) and may add slots. Paths
  // active in both with the same sockets (interface, addresses, ports, entropy ports) keep
  // their worker, sockets, queued packets and counters; connections active in both under the
  // same name keep their sequence counter and reorder stage. Removed paths' queued batches
  // move to live paths of their connection; what they received is delivered first.
  // The data-plane threads are paused meanwhile (a few ms: the kernel queues packets in the
  // TUN and socket buffers). Returns one error per path whose sockets could not be opened
  // (that path stays inactive; everything else is applied). Controlling thread only.
  std::vector<std::string> reconfigure(TunnelSpec next);

  [[nodiscard]] const TunnelSpec& spec() const { return spec_; }

  // Control plane access (control thread). set_path_usable() stops or resumes sending on a
  // path (its queued batches move to live paths) and tells the scheduler, through the TUN
  // reader's command ring.
  // Slots, active or not; path(i) only for an active slot (has_path).
  [[nodiscard]] std::size_t path_count() const { return paths_.size(); }
  [[nodiscard]] bool has_path(std::size_t i) const { return i < paths_.size() && paths_[i]; }
  PathWorker& path(std::size_t i) { return *paths_.at(i); }
  // Server mode: the listeners (one per local address that client paths share; they stay
  // until mptd stops), and which one carries path i (-1: an ordinary path with its own worker).
  [[nodiscard]] std::size_t listener_count() const { return listeners_.size(); }
  PathWorker& listener(std::size_t k) { return *listeners_.at(k); }
  [[nodiscard]] int listener_of(std::size_t i) const {
    return i < listener_of_.size() ? listener_of_[i] : -1;
  }
  void set_path_usable(std::size_t i, bool usable, std::uint32_t weight);
  // The reorder stages' commands, to every queue's writer; false: a writer's command queue
  // is full, try again later (a writer that took it already gets it twice: each command
  // sets a value or is harmless repeated).
  bool set_reorder_max_delay(std::size_t connection, std::uint64_t max_delay_ns) {
    return to_writers([&](TunWriter& w) { return w.post_max_delay(connection, max_delay_ns); });
  }
  bool set_reorder_lag_floor(std::size_t connection, int local_path, std::uint64_t lag_ns) {
    return to_writers([&](TunWriter& w) { return w.post_lag_floor(connection, local_path, lag_ns); });
  }
  bool reorder_path_died(std::size_t connection, int local_path, std::uint64_t hold_ns) {
    return to_writers([&](TunWriter& w) { return w.post_path_died(connection, local_path, hold_ns); });
  }
  bool reorder_peer_restarted(std::size_t connection) {
    return to_writers([&](TunWriter& w) { return w.post_peer_restarted(connection); });
  }
  [[nodiscard]] int queue_count() const { return static_cast<int>(readers_.size()); }
  // Repair: the receive side's timing (Reorder::set_repair), and how long the transmit side
  // keeps what it sent for the peer's repair requests (TunReader::set_repair_keep).
  bool set_reorder_repair(std::size_t connection, std::uint64_t nack_floor_ns, std::uint64_t wait_ns,
                          std::uint64_t min_ns) {
    return to_writers([&](TunWriter& w) { return w.post_repair(connection, nack_floor_ns, wait_ns, min_ns); });
  }
  void set_repair_keep(std::uint64_t ns) {
    for (auto& r : readers_) r->set_repair_keep(ns);
  }
  // `mpt reload` applied a path's configured weight and state through the control plane: the
  // spec records them, so that the next reload compares the files with what they said last
  // (not with the start-up values). Controlling thread; no data-plane thread reads them.
  void note_configured(std::size_t i, std::uint32_t weight, bool up) {
    spec_.paths.at(i).weight = weight;
    spec_.paths.at(i).up = up;
  }
  // Connection c's session keys as the data plane uses them (keyed connections): written by
  // the control thread (ControlLoop::publish_keys), read by the data-plane threads.
  SessionKeys& keys(std::size_t c) { return keys_.at(c); }
  // The data plane's counters, pools and identities (`mpt status`, its JSON, the metrics).
  [[nodiscard]] EngineSnapshot snapshot() const;

 private:
  template <class F>
  bool to_writers(F post) {
    bool all = true;
    for (auto& w : writers_) all = post(*w) && all;
    return all;
  }
  [[nodiscard]] Metrics reader_metrics(const TunReader& reader) const;
  [[nodiscard]] Metrics writer_metrics(const TunWriter& writer) const;
  void connect(PathWorker& w);  // to every queue's reader and writer
  void pause();   // stops the threads and re-arms the stop eventfd
  void resume();  // starts them again
  void wire_paths();
  // The path worker for slot i: an ordinary worker, or (server mode) a client slot attached
  // to the listener on its local address, made on first use.
  std::unique_ptr<PathWorker> make_path(std::size_t i);
  void retire_path(std::size_t i);

  TunnelSpec spec_;
  // One per connection slot; a deque, so that a reload adding slots moves none (the threads
  // hold pointers).
  std::deque<SessionKeys> keys_;
  int stop_fd_ = -1;
  bool pin_cpus_ = false;
  std::vector<std::unique_ptr<PathWorker>> paths_;
  // Workers a reload removed: sockets closed, but kept until the next reload so that a
  // wake-up still addressed to them (a MSG_RING to their ring, a failure completion that
  // names their doorbell) never touches freed memory.
  std::vector<std::unique_ptr<PathWorker>> retired_;
  std::vector<PathChannel*> path_ptrs_;  // what the TUN reader and writer see of paths_
  std::vector<std::unique_ptr<PathWorker>> listeners_;
  std::vector<int> listener_of_;  // by path slot
  std::vector<std::unique_ptr<TunReader>> readers_;  // per TUN queue
  std::vector<std::unique_ptr<TunWriter>> writers_;  // per TUN queue
  std::vector<Doorbell*> reader_bells_, writer_bells_;
  std::vector<std::thread> threads_;
};

}  // namespace mpt::engine
