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

Engine::Engine(TunnelSpec spec, std::vector<int> tun_fds, bool vnet_hdr)
    : spec_(std::move(spec)) {
  if (spec_.queues < 1 || spec_.queues > kMaxQueues ||
      tun_fds.size() != static_cast<std::size_t>(spec_.queues)) {
    throw std::invalid_argument("Engine: one TUN fd per queue, 1.." + std::to_string(kMaxQueues));
  }
  stop_fd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (stop_fd_ < 0) throw std::system_error(errno, std::generic_category(), "eventfd");
  while (keys_.size() < spec_.connections.size()) keys_.emplace_back();
  for (std::size_t i = 0; i < spec_.paths.size(); ++i) {
    paths_.push_back(spec_.paths[i].active ? make_path(i) : nullptr);
  }
  wire_paths();
  for (int q = 0; q < spec_.queues; ++q) {
    const int fd = tun_fds[static_cast<std::size_t>(q)];
    readers_.push_back(std::make_unique<TunReader>(spec_, fd, vnet_hdr, path_ptrs_, stop_fd_, q));
    writers_.push_back(std::make_unique<TunWriter>(spec_, fd, vnet_hdr, path_ptrs_, stop_fd_, q));
    readers_.back()->set_keys(&keys_);
    writers_.back()->set_keys(&keys_);
    reader_bells_.push_back(&readers_.back()->doorbell());
    writer_bells_.push_back(&writers_.back()->doorbell());
  }
  for (const auto& w : paths_) {
    if (w) connect(*w);
  }
  for (auto& l : listeners_) connect(*l);
}

void Engine::connect(PathWorker& w) { w.connect(reader_bells_, writer_bells_); }

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
    if (!readers_.empty()) connect(*listeners_.back());
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
  for (std::size_t q = 0; q < readers_.size(); ++q) {
    // One queue keeps the names it always had; with several, each names its queue.
    const std::string suffix = readers_.size() > 1 ? std::to_string(q) : std::string();
    TunReader* r = readers_[q].get();
    TunWriter* w = writers_[q].get();
    threads_.emplace_back(guarded("TUN reader", [r] { r->run(); }));
    pthread_setname_np(threads_.back().native_handle(), ("mpt-tun-rd" + suffix).c_str());
    threads_.emplace_back(guarded("TUN writer", [w] { w->run(); }));
    pthread_setname_np(threads_.back().native_handle(), ("mpt-tun-wr" + suffix).c_str());
  }
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
  if (cpus.empty()) return;
  const std::size_t queues = readers_.size();
  for (std::size_t i = 0; i < threads_.size(); ++i) {
    // threads_ starts with each queue's reader and writer (2 per queue), then the path workers
    // and listeners. With at least as many queues as CPUs, a queue's reader and writer share
    // its CPU (queue q on CPU q mod n, as a NIC's receive queue keeps to one CPU): the kernel
    // spreads the flows over the queues, and so over the CPUs, on both ends of a tunnel alike.
    // Round robin otherwise (one queue: its reader and writer on two CPUs).
    const std::size_t slot = queues >= cpus.size() && i < 2 * queues ? i / 2 : i;
    const int cpu = cpus[slot % cpus.size()];
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(cpu, &one);
    if (pthread_setaffinity_np(threads_[i].native_handle(), sizeof one, &one) != 0) {
      MPT_WARN("could not pin thread %zu to CPU %d", i, cpu);
    }
  }
}

void Engine::set_path_usable(std::size_t i, bool usable, std::uint32_t weight) {
  paths_.at(i)->set_down(!usable);
  for (auto& r : readers_) r->post_command({static_cast<int>(i), weight, usable});
}

void Engine::pause() {
  stop();
  std::uint64_t v = 0;
  [[maybe_unused]] ssize_t r = ::read(stop_fd_, &v, sizeof v);  // reset: the next run waits
}

void Engine::resume() {
  // A wake-up reaped by a thread's shutdown drain left its doorbell marked pending; every
  // consumer looks at all its rings when it starts, so clearing them loses nothing.
  for (Doorbell* b : reader_bells_) b->pending.store(false);
  for (Doorbell* b : writer_bells_) b->pending.store(false);
  for (PathChannel* w : path_ptrs_) {
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
    for (auto& r : readers_) r->detach_path(static_cast<int>(i));
    for (auto& w : writers_) w->detach_path(static_cast<int>(i));
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
      connect(*paths_[i]);
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
  for (auto& r : readers_) r->reconfigure(old, path_ptrs_);
  for (auto& w : writers_) w->reconfigure(old, path_ptrs_);
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

}  // namespace mpt::engine
