// mpt-delayline: a link emulator ("delay line") for tests and mpt-bench, where the kernel has
// no netem. It bridges two interfaces (normally veths in a middle network namespace) and
// forwards every Ethernet frame between them, shaping each direction on its own: rate with a
// bounded bottleneck queue, one-way delay, jitter without reordering, random loss, cuts. The
// rules are in delayline_link.h; the control commands in delayline_command.h.
//
//   ns a: vethI ===== --a IF [ mpt-delayline ] --b IF ===== vethI :ns b
//                      direction "ab": frames arriving on --a leave on --b; "ba" the reverse
//
// Threads: main (control socket, signals), one forwarding thread per direction ("dl-ab",
// "dl-ba"). A direction thread owns its ring, its LinkModel and its counters (single writer;
// the main thread reads them relaxed). Parameter changes go main -> thread through a mutex-
// guarded slot and a sequence number, checked once per loop turn; an eventfd wakes the
// thread. Nothing is allocated per frame: frames are received straight into ring slots.
//
// A direction thread's loop turn: take new parameters -> send everything whose release time
// has come (sendmmsg) -> drain the receive socket when needed (recvmmsg, batches of kBatch,
// each frame stamped with the kernel's receive time) and run the frames through the LinkModel
// -> wait. Release times never decrease, so nothing that arrives later can be due before the
// frames already queued: with a queue, the socket is read every 0.5 ms or when the ring runs
// low, and the thread sleeps until the head's release minus --spin-us (default 50) and spins
// the rest (at most --spin-budget, 25 % of the time); with an empty ring it waits for the
// socket. Timer slack is set to 1 ns. (This VM's ppoll wakes ~60 us late at the median and
// > 1 ms late ~0.2 % of the time; the spin removes the first, nothing but a less loaded CPU
// removes the second.)
//
// `stats` reports per direction: frames and bytes in and out, drops by reason (loss, queue,
// cut, ring full, oversize, the kernel's socket drops), and four histograms in microseconds:
// delay_err_us (send time - release time, per frame: the emulator's own error),
// wake_late_us (timer overshoot of its sleeps: the VM's floor), send_call_us (one sendmmsg,
// which runs the receiving namespace's stack inline), rx_lag_us (read time - kernel receive
// stamp: a frame that waited in the kernel's backlog longer than the configured delay is late
// before the delay line ever sees it; this happens when the VM's CPUs are saturated).
//
// Requirements on the bridged interfaces: offloads off (ethtool -K IF gro off gso off tso off
// tx-udp-segmentation off tx off) on both of them AND on their peers. A GSO/GRO super-packet
// is larger than a ring slot: it is dropped and counted as oversize_drops (with a warning),
// and one random loss would remove 64 KB at once. A peer with tx checksum offload sends frames
// whose L4 checksum is not filled in (counted as csum_partial): forwarded as they are, the
// receiving stack drops them (TcpInCsumErrors), so `tx off` is needed too. Disable IPv6 in the
// middle namespace so its own link-local traffic stays off the link.
#include <arpa/inet.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "delayline_command.h"
#include "delayline_link.h"

namespace mpt::delayline {
namespace {

constexpr std::size_t kSlotBytes = 2048;      // > 1514 (MTU 1500 + Ethernet header) + VLAN
constexpr unsigned kBatch = 64;               // frames per recvmmsg / sendmmsg
constexpr unsigned kRxRoundsMax = 16;         // recvmmsg calls per loop turn (bounds a turn)
// With frames queued, the socket is read when the ring runs low (its last frame is due within
// kDrainLeadNs) or every kDrainIntervalNs, not on every turn: a frame read later cannot be due
// before the ones queued, its arrival time is the kernel's stamp, and at high packet rates
// this turns one recvmmsg per frame into one per ~40.
constexpr std::int64_t kDrainIntervalNs = 500'000;
constexpr std::int64_t kDrainLeadNs = 200'000;
constexpr std::size_t kCmsgBytes = 128;       // SCM_TIMESTAMPNS + PACKET_AUXDATA
// Spinning is rationed: at most --spin-budget percent of every kSpinWindowNs. At high packet
// rates every gap is shorter than --spin-us, and an unrationed thread would spin all the time,
// taking a core from the endpoints it is emulating a link for; past the budget it sleeps to
// the release time instead (~60 us late at the median on this VM, instead of ~0).
constexpr std::int64_t kSpinWindowNs = 10'000'000;

std::int64_t now_ns(clockid_t clock = CLOCK_MONOTONIC) {
  timespec ts;
  clock_gettime(clock, &ts);
  return std::int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
}

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

// Counters of one direction: written by its thread only (relaxed load + store), read relaxed.
struct Counters {
  struct C {
    std::atomic<std::uint64_t> v{0};
    void add(std::uint64_t n) { v.store(v.load(std::memory_order_relaxed) + n, std::memory_order_relaxed); }
    [[nodiscard]] std::uint64_t get() const { return v.load(std::memory_order_relaxed); }
    void zero() { v.store(0, std::memory_order_relaxed); }
  };
  C pkts_in, bytes_in, pkts_out, bytes_out, loss_drops, queue_drops, cut_drops, ring_drops,
      oversize_drops, tx_errors, csum_partial, ts_fallback;
  template <typename F>
  void for_each(F&& f) {
    f("pkts_in", pkts_in); f("bytes_in", bytes_in); f("pkts_out", pkts_out);
    f("bytes_out", bytes_out); f("loss_drops", loss_drops); f("queue_drops", queue_drops);
    f("cut_drops", cut_drops); f("ring_drops", ring_drops); f("oversize_drops", oversize_drops);
    f("tx_errors", tx_errors); f("csum_partial", csum_partial); f("ts_fallback", ts_fallback);
  }
};

// Frames held for release: slots allocated (and touched) once at start; head..tail in use.
// Owned by the direction thread; `queued` is published for the stats reader.
class Ring {
 public:
  // The vectors are value-initialised: every page is touched now, not on a frame's way.
  explicit Ring(std::size_t capacity)
      : cap_(capacity), data_(capacity * kSlotBytes), len_(capacity), release_(capacity) {}
  [[nodiscard]] std::size_t capacity() const { return cap_; }
  [[nodiscard]] std::size_t size() const { return static_cast<std::size_t>(tail_ - head_); }
  [[nodiscard]] bool empty() const { return tail_ == head_; }
  [[nodiscard]] std::uint8_t* slot(std::uint64_t seq) { return &data_[(seq % cap_) * kSlotBytes]; }
  [[nodiscard]] std::uint32_t& len(std::uint64_t seq) { return len_[seq % cap_]; }
  [[nodiscard]] std::int64_t& release(std::uint64_t seq) { return release_[seq % cap_]; }
  std::uint64_t head_ = 0;  // next to send
  std::uint64_t tail_ = 0;  // next free

 private:
  std::size_t cap_;
  std::vector<std::uint8_t> data_;
  std::vector<std::uint32_t> len_;
  std::vector<std::int64_t> release_;
};

struct Options {
  std::string if_a, if_b, control_path, command;
  ParamEdit ab, ba;
  std::uint64_t seed = 1;
  std::size_t ring_slots = 16384;
  std::int64_t spin_ns = 50'000;
  int spin_budget_pct = 25;  // most of the wall time a direction may spend spinning
  int rt_priority = 0;  // > 0: SCHED_FIFO for the direction threads
};

// One direction: frames read from rx_fd, shaped, written to tx_fd.
struct Direction {
  Direction(const char* n, std::size_t ring_slots) : name(n), ring(ring_slots) {}
  const char* name;
  int rx_fd = -1;
  int tx_fd = -1;
  int wake_fd = -1;  // eventfd: parameters changed, reset requested, or stop
  std::int64_t spin_ns = 0;
  std::int64_t spin_budget_ns = 0;  // per kSpinWindowNs
  int rt_priority = 0;
  Ring ring;
  LinkModel model;
  Counters counters;
  Histogram delay_err_us;   // send time - release time, per frame
  Histogram wake_late_us;   // end of a timed sleep - its requested end (the timer floor)
  Histogram send_call_us;   // duration of one sendmmsg (includes the receiver's softirq work)
  Histogram rx_lag_us;      // read time - kernel receive stamp: how stale frames are when read
  std::atomic<std::uint64_t> queued{0};

  // main -> thread
  std::mutex mu;
  LinkParams pending;             // guarded by mu
  std::optional<std::uint64_t> pending_seed;  // guarded by mu
  std::atomic<std::uint64_t> params_seq{0};
  std::atomic<std::uint64_t> reset_req{0};
  std::atomic<std::uint64_t> reset_done{0};
  std::uint64_t params_applied = 0;  // thread only
  LinkParams shown;                  // main thread's copy of what it set

  // thread-local scratch, allocated once
  mmsghdr msgs[kBatch]{};
  iovec iovs[kBatch]{};
  alignas(cmsghdr) std::uint8_t cmsg[kBatch][kCmsgBytes]{};
  std::uint8_t overflow[kSlotBytes]{};
  std::int64_t retry_at_ns = 0;
  std::int64_t next_drain_ns = 0;
  std::int64_t spin_window_start_ns = 0;
  std::int64_t spin_used_ns = 0;  // in the current window
  bool warned_oversize = false;
};

std::atomic<bool> g_stop{false};

void wake(const Direction& d) {
  const std::uint64_t one = 1;
  [[maybe_unused]] auto r = write(d.wake_fd, &one, sizeof one);
}

// --- the direction thread -------------------------------------------------------------------

void take_control(Direction& d) {
  if (d.params_seq.load(std::memory_order_acquire) != d.params_applied) {
    std::lock_guard lock(d.mu);
    d.params_applied = d.params_seq.load(std::memory_order_relaxed);
    d.model.set_params(d.pending);
    if (d.pending_seed) d.model.reseed(*d.pending_seed);
    d.pending_seed.reset();
    if (d.pending.cut) {  // what is queued is on the wire: lost with the link
      d.counters.cut_drops.add(d.ring.size());
      d.ring.head_ = d.ring.tail_;
    }
  }
  const std::uint64_t req = d.reset_req.load(std::memory_order_acquire);
  if (req != d.reset_done.load(std::memory_order_relaxed)) {
    d.counters.for_each([](const char*, Counters::C& c) { c.zero(); });
    d.delay_err_us.reset();
    d.wake_late_us.reset();
    d.send_call_us.reset();
    d.rx_lag_us.reset();
    d.reset_done.store(req, std::memory_order_release);
  }
}

// Arrival time of received frame j in CLOCK_MONOTONIC ns: the kernel's receive stamp
// (CLOCK_REALTIME) moved by the realtime-monotonic offset read once per batch.
std::int64_t arrival_of(Direction& d, msghdr& h, std::int64_t rt_offset, std::int64_t now,
                        bool& csum_partial) {
  std::int64_t arrival = -1;
  csum_partial = false;
  for (cmsghdr* c = CMSG_FIRSTHDR(&h); c != nullptr; c = CMSG_NXTHDR(&h, c)) {
    if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_TIMESTAMPNS) {
      timespec ts;
      std::memcpy(&ts, CMSG_DATA(c), sizeof ts);
      arrival = std::int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec - rt_offset;
    } else if (c->cmsg_level == SOL_PACKET && c->cmsg_type == PACKET_AUXDATA) {
      tpacket_auxdata aux;
      std::memcpy(&aux, CMSG_DATA(c), sizeof aux);
      csum_partial = (aux.tp_status & TP_STATUS_CSUMNOTREADY) != 0;
    }
  }
  // No stamp, or one from the future or over a second old (clock step): use now.
  if (arrival < 0 || arrival > now || now - arrival > 1'000'000'000) [[unlikely]] {
    d.counters.ts_fallback.add(1);
    return now;
  }
  return arrival;
}

// Runs received frames [tail, tail+n) through the model; compacts the kept ones.
void admit_batch(Direction& d, unsigned n, bool into_overflow) {
  const std::int64_t now = now_ns();
  const std::int64_t rt_offset = now_ns(CLOCK_REALTIME) - now;
  std::uint64_t w = d.ring.tail_;
  for (unsigned j = 0; j < n; ++j) {
    msghdr& h = d.msgs[j].msg_hdr;
    const std::uint32_t len = d.msgs[j].msg_len;
    d.counters.pkts_in.add(1);
    d.counters.bytes_in.add(len);
    if ((h.msg_flags & MSG_TRUNC) != 0 || len > kSlotBytes) [[unlikely]] {
      d.counters.oversize_drops.add(1);
      if (!d.warned_oversize) {
        d.warned_oversize = true;
        std::fprintf(stderr, "mpt-delayline %s: frame larger than %zu bytes dropped: turn "
                     "offloads off (ethtool -K IF gro off gso off tso off tx-udp-segmentation "
                     "off) on the bridged veths and their peers\n", d.name, kSlotBytes);
      }
      continue;
    }
    if (into_overflow) {
      d.counters.ring_drops.add(1);
      continue;
    }
    bool partial;
    const std::int64_t arrival = arrival_of(d, h, rt_offset, now, partial);
    d.rx_lag_us.record((now - arrival) / 1000);
    if (partial) d.counters.csum_partial.add(1);
    std::int64_t release;
    switch (d.model.admit(arrival, len, release)) {
      case Verdict::kCut: d.counters.cut_drops.add(1); continue;
      case Verdict::kLoss: d.counters.loss_drops.add(1); continue;
      case Verdict::kQueue: d.counters.queue_drops.add(1); continue;
      case Verdict::kForward: break;
    }
    const std::uint64_t from = d.ring.tail_ + j;
    if (from != w) std::memcpy(d.ring.slot(w), d.ring.slot(from), len);
    d.ring.len(w) = len;
    d.ring.release(w) = release;
    ++w;
  }
  d.ring.tail_ = w;
}

// Reads what the socket holds, up to kRxRoundsMax batches. Returns frames read.
unsigned drain_rx(Direction& d) {
  unsigned total = 0;
  for (unsigned round = 0; round < kRxRoundsMax; ++round) {
    const std::size_t free_slots = d.ring.capacity() - d.ring.size();
    // With the ring full, still read (into one scratch slot) so the stamps stay fresh.
    const bool into_overflow = free_slots == 0;
    const unsigned n = into_overflow ? kBatch : static_cast<unsigned>(std::min<std::size_t>(kBatch, free_slots));
    for (unsigned j = 0; j < n; ++j) {
      d.iovs[j] = {into_overflow ? d.overflow : d.ring.slot(d.ring.tail_ + j), kSlotBytes};
      msghdr& h = d.msgs[j].msg_hdr;
      h = {};
      h.msg_iov = &d.iovs[j];
      h.msg_iovlen = 1;
      h.msg_control = d.cmsg[j];
      h.msg_controllen = kCmsgBytes;
    }
    const int r = recvmmsg(d.rx_fd, d.msgs, n, MSG_DONTWAIT | MSG_TRUNC, nullptr);
    if (r <= 0) break;  // EAGAIN: drained (other errors: retried next turn)
    admit_batch(d, static_cast<unsigned>(r), into_overflow);
    total += static_cast<unsigned>(r);
    if (static_cast<unsigned>(r) < n) break;
  }
  return total;
}

// Sends every frame whose release time has come, in batches; when the device pushes back,
// the rest waits for retry_at_ns.
void send_due(Direction& d) {
  Ring& ring = d.ring;
  while (!ring.empty()) {
    const std::int64_t now = now_ns();
    if (ring.release(ring.head_) > now || now < d.retry_at_ns) return;
    unsigned n = 0;
    while (n < kBatch && ring.head_ + n < ring.tail_ && ring.release(ring.head_ + n) <= now) {
      d.iovs[n] = {ring.slot(ring.head_ + n), ring.len(ring.head_ + n)};
      msghdr& h = d.msgs[n].msg_hdr;
      h = {};
      h.msg_iov = &d.iovs[n];
      h.msg_iovlen = 1;
      ++n;
    }
    const int r = sendmmsg(d.tx_fd, d.msgs, n, MSG_DONTWAIT);
    d.send_call_us.record((now_ns() - now) / 1000);
    const unsigned sent = r > 0 ? static_cast<unsigned>(r) : 0;
    for (unsigned j = 0; j < sent; ++j) {
      const std::uint64_t s = ring.head_ + j;
      d.delay_err_us.record((now - ring.release(s)) / 1000);
      d.counters.pkts_out.add(1);
      d.counters.bytes_out.add(ring.len(s));
    }
    ring.head_ += sent;
    if (sent < n) {
      if (r < 0 && (errno == EAGAIN || errno == ENOBUFS || errno == EINTR)) {
        d.retry_at_ns = now + 20'000;  // the device pushed back: try again in 20 us
        return;
      }
      d.counters.tx_errors.add(1);  // this frame cannot be sent (e.g. device down): drop it
      ++ring.head_;
    }
  }
}

// Waits for the next thing to do: the head's release (sleep, then spin), a frame on an
// empty ring, the next socket drain, or a wake-up from the main thread.
void wait_next(Direction& d) {
  pollfd fds[2] = {{d.wake_fd, POLLIN, 0}, {d.rx_fd, POLLIN, 0}};
  if (d.ring.empty()) {
    timespec forever_ish{1, 0};
    if (ppoll(fds, 2, &forever_ish, nullptr) > 0 && (fds[0].revents & POLLIN)) {
      std::uint64_t v;
      [[maybe_unused]] auto r = read(d.wake_fd, &v, sizeof v);
    }
    return;
  }
  const std::int64_t due = std::max(d.ring.release(d.ring.head_), d.retry_at_ns);
  std::int64_t now = now_ns();
  if (now - d.spin_window_start_ns >= kSpinWindowNs) {
    d.spin_window_start_ns = now;
    d.spin_used_ns = 0;
  }
  const std::int64_t spin_ns = d.spin_used_ns < d.spin_budget_ns ? d.spin_ns : 0;
  const std::int64_t sleep_ns = std::min(due - spin_ns, d.next_drain_ns) - now;
  if (sleep_ns > 0) {
    // Frames arriving meanwhile cannot be due earlier than the head (releases are
    // monotonic), so only the wake fd is watched; the socket is drained after.
    const timespec ts{0, static_cast<long>(sleep_ns)};
    if (ppoll(fds, 1, &ts, nullptr) > 0) {
      std::uint64_t v;
      [[maybe_unused]] auto r = read(d.wake_fd, &v, sizeof v);
      now = now_ns();
    } else {
      const std::int64_t wanted = now + sleep_ns;
      now = now_ns();
      d.wake_late_us.record((now - wanted) / 1000);
    }
  }
  if (due - now <= spin_ns && due > now) {
    std::int64_t t = now;
    while (t < due) {
      cpu_relax();
      t = now_ns();
    }
    d.spin_used_ns += t - now;
  }
}

void run_direction(Direction& d) {
  pthread_setname_np(pthread_self(), d.name[0] == 'a' ? "dl-ab" : "dl-ba");
  prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);
  if (d.rt_priority > 0) {
    sched_param sp{};
    sp.sched_priority = d.rt_priority;
    if (const int err = pthread_setschedparam(pthread_self(), SCHED_FIFO, &sp); err != 0)
      std::fprintf(stderr, "mpt-delayline %s: SCHED_FIFO: %s\n", d.name, std::strerror(err));
  }
  while (!g_stop.load(std::memory_order_relaxed)) {
    take_control(d);
    send_due(d);  // first: the head was due when the wait ended
    const std::int64_t now = now_ns();
    if (d.ring.empty() || now >= d.next_drain_ns ||
        now >= d.ring.release(d.ring.tail_ - 1) - kDrainLeadNs) {
      d.next_drain_ns = now + kDrainIntervalNs;
      if (drain_rx(d) != 0) send_due(d);
    }
    d.queued.store(d.ring.size(), std::memory_order_relaxed);
    wait_next(d);
  }
}

// --- sockets --------------------------------------------------------------------------------

bool setopt(int fd, int level, int name, int value, const char* what) {
  if (setsockopt(fd, level, name, &value, sizeof value) == 0) return true;
  std::fprintf(stderr, "mpt-delayline: setsockopt %s: %s\n", what, std::strerror(errno));
  return false;
}

// A packet socket on one interface only: created with protocol 0 (it receives nothing) and
// bound with ETH_P_ALL, so no frame of another interface slips in before the bind.
int open_packet_socket(const std::string& ifname) {
  const unsigned ifindex = if_nametoindex(ifname.c_str());
  if (ifindex == 0) {
    std::fprintf(stderr, "mpt-delayline: no interface %s\n", ifname.c_str());
    return -1;
  }
  const int fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    std::perror("mpt-delayline: socket(AF_PACKET)");
    return -1;
  }
  bool ok = setopt(fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, 1, "PACKET_IGNORE_OUTGOING") &&
            setopt(fd, SOL_SOCKET, SO_TIMESTAMPNS, 1, "SO_TIMESTAMPNS") &&
            setopt(fd, SOL_PACKET, PACKET_AUXDATA, 1, "PACKET_AUXDATA") &&
            setopt(fd, SOL_PACKET, PACKET_QDISC_BYPASS, 1, "PACKET_QDISC_BYPASS") &&
            setopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, 32 << 20, "SO_RCVBUFFORCE") &&
            setopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, 8 << 20, "SO_SNDBUFFORCE");
  sockaddr_ll sll{};
  sll.sll_family = AF_PACKET;
  sll.sll_protocol = htons(ETH_P_ALL);
  sll.sll_ifindex = static_cast<int>(ifindex);
  if (ok && bind(fd, reinterpret_cast<sockaddr*>(&sll), sizeof sll) != 0) {
    std::fprintf(stderr, "mpt-delayline: bind to %s: %s\n", ifname.c_str(), std::strerror(errno));
    ok = false;
  }
  ifreq ifr{};
  std::snprintf(ifr.ifr_name, sizeof ifr.ifr_name, "%s", ifname.c_str());
  if (ok && ioctl(fd, SIOCGIFMTU, &ifr) == 0 && ifr.ifr_mtu + 18 > static_cast<int>(kSlotBytes)) {
    std::fprintf(stderr, "mpt-delayline: %s has MTU %d; frames up to %zu bytes are supported\n",
                 ifname.c_str(), ifr.ifr_mtu, kSlotBytes - 18);
    ok = false;
  }
  if (!ok) {
    close(fd);
    return -1;
  }
  return fd;
}

// Kernel drops at a receive socket since the last call (PACKET_STATISTICS resets on read).
std::uint64_t kernel_drops_since_last(int fd) {
  tpacket_stats st{};
  socklen_t len = sizeof st;
  if (getsockopt(fd, SOL_PACKET, PACKET_STATISTICS, &st, &len) != 0) return 0;
  return st.tp_drops;
}

// --- the main thread: control socket and stats ------------------------------------------------

struct Emulator {
  std::unique_ptr<Direction> ab, ba;
  std::int64_t start_ns = now_ns();
  std::uint64_t kernel_drops[2] = {0, 0};  // accumulated by the main thread
};

std::string histogram_json(const char* name, const Histogram& h) {
  char buf[200];
  std::snprintf(buf, sizeof buf,
                "\"%s\":{\"p50\":%" PRIu64 ",\"p99\":%" PRIu64 ",\"p999\":%" PRIu64 ",\"max\":%" PRIu64
                ",\"samples\":%" PRIu64 "},",
                name, h.quantile(0.5), h.quantile(0.99), h.quantile(0.999), h.max(), h.count());
  return buf;
}

std::string direction_json(Direction& d, std::uint64_t kernel_drops) {
  std::string s = "{";
  char buf[160];
  d.counters.for_each([&](const char* name, Counters::C& c) {
    std::snprintf(buf, sizeof buf, "\"%s\":%" PRIu64 ",", name, c.get());
    s += buf;
  });
  std::snprintf(buf, sizeof buf, "\"kernel_drops\":%" PRIu64 ",\"queued\":%" PRIu64 ",", kernel_drops,
                d.queued.load(std::memory_order_relaxed));
  s += buf;
  s += histogram_json("delay_err_us", d.delay_err_us);
  s += histogram_json("wake_late_us", d.wake_late_us);
  s += histogram_json("send_call_us", d.send_call_us);
  s += histogram_json("rx_lag_us", d.rx_lag_us);
  s += "\"config\":" + params_json(d.shown) + "}";
  return s;
}

std::string stats_json(Emulator& e) {
  e.kernel_drops[0] += kernel_drops_since_last(e.ab->rx_fd);
  e.kernel_drops[1] += kernel_drops_since_last(e.ba->rx_fd);
  char head[64];
  std::snprintf(head, sizeof head, "{\"uptime_s\":%.3f,",
                static_cast<double>(now_ns() - e.start_ns) / 1e9);
  return std::string(head) + "\"ab\":" + direction_json(*e.ab, e.kernel_drops[0]) +
         ",\"ba\":" + direction_json(*e.ba, e.kernel_drops[1]) + "}";
}

void publish_params(Direction& d, const LinkParams& p, std::optional<std::uint64_t> seed) {
  {
    std::lock_guard lock(d.mu);
    d.pending = p;
    if (seed) d.pending_seed = seed;
    d.params_seq.fetch_add(1, std::memory_order_release);
  }
  d.shown = p;
  wake(d);
}

// Asks both threads to zero their counters; waits (up to 1 s) until they did.
bool reset_counters(Emulator& e) {
  for (Direction* d : {e.ab.get(), e.ba.get()}) {
    d->reset_req.fetch_add(1, std::memory_order_release);
    wake(*d);
  }
  (void)kernel_drops_since_last(e.ab->rx_fd);
  (void)kernel_drops_since_last(e.ba->rx_fd);
  e.kernel_drops[0] = e.kernel_drops[1] = 0;
  for (int i = 0; i < 1000; ++i) {
    if (e.ab->reset_done.load(std::memory_order_acquire) == e.ab->reset_req.load() &&
        e.ba->reset_done.load(std::memory_order_acquire) == e.ba->reset_req.load())
      return true;
    usleep(1000);
  }
  return false;
}

std::string handle_command(Emulator& e, std::string_view text) {
  Command c;
  if (auto err = parse_command(text, c); !err.empty()) return err;
  std::vector<Direction*> dirs;
  if (c.ab) dirs.push_back(e.ab.get());
  if (c.ba) dirs.push_back(e.ba.get());
  switch (c.kind) {
    case CommandKind::kSet:
    case CommandKind::kCut:
    case CommandKind::kRestore:
      for (Direction* d : dirs) {
        LinkParams p = d->shown;
        c.edit.apply_to(p);
        if (c.kind != CommandKind::kSet) p.cut = c.kind == CommandKind::kCut;
        publish_params(*d, p, c.edit.seed);
      }
      return "ok";
    case CommandKind::kStats: return stats_json(e);
    case CommandKind::kReset: return reset_counters(e) ? "ok" : "error: reset timed out";
    case CommandKind::kGet:
      return "{\"ab\":" + params_json(e.ab->shown) + ",\"ba\":" + params_json(e.ba->shown) + "}";
    case CommandKind::kHelp: return command_help();
  }
  return "error: unhandled command";
}

int open_control_socket(const std::string& path) {
  sockaddr_un sun{};
  if (path.size() >= sizeof sun.sun_path) {
    std::fprintf(stderr, "mpt-delayline: control path too long: %s\n", path.c_str());
    return -1;
  }
  sun.sun_family = AF_UNIX;
  std::memcpy(sun.sun_path, path.c_str(), path.size());
  const int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  unlink(path.c_str());
  if (fd < 0 || bind(fd, reinterpret_cast<sockaddr*>(&sun), sizeof sun) != 0) {
    std::fprintf(stderr, "mpt-delayline: control socket %s: %s\n", path.c_str(), std::strerror(errno));
    if (fd >= 0) close(fd);
    return -1;
  }
  return fd;
}

void serve_control_datagram(Emulator& e, int fd) {
  char buf[2048];
  sockaddr_un from{};
  socklen_t from_len = sizeof from;
  const ssize_t n = recvfrom(fd, buf, sizeof buf - 1, MSG_DONTWAIT,
                             reinterpret_cast<sockaddr*>(&from), &from_len);
  if (n < 0) return;
  std::string_view text(buf, static_cast<std::size_t>(n));
  while (!text.empty() && (text.back() == '\n' || text.back() == '\0')) text.remove_suffix(1);
  const std::string reply = handle_command(e, text);
  if (from_len > sizeof(sa_family_t))  // an unbound sender cannot get an answer
    sendto(fd, reply.data(), reply.size(), MSG_DONTWAIT, reinterpret_cast<sockaddr*>(&from), from_len);
}

// --- command line -----------------------------------------------------------------------------

const char* kUsage =
    "usage: mpt-delayline --a IF --b IF [--ab SPEC] [--ba SPEC] [--both SPEC] [--control PATH]\n"
    "                     [--seed N] [--ring SLOTS] [--spin-us US] [--spin-budget PCT] [--rt PRIO]\n"
    "       mpt-delayline --control PATH --cmd 'COMMAND'   (send one command, print the reply)\n"
    "SPEC: rate=50M,delay=5ms,jitter=1ms,dist=uniform|normal,loss=0.5%,queue=50ms|64KB\n"
    "Forwards frames between IF a and IF b (direction ab: a -> b). Offloads must be off on both\n"
    "veths and their peers. SIGINT/SIGTERM: exit, printing the final stats JSON on stdout.\n"
    "--spin-us: busy-wait this long before a release instead of sleeping (default 50),\n"
    "--spin-budget: for at most this share of the time (percent, default 25).\n"
    "--rt PRIO: SCHED_FIFO for the forwarding threads (use with --spin-us 0: a spinning RT\n"
    "           thread gets throttled by the kernel's fair server, tens of ms at a time).\n";

bool parse_args(int argc, char** argv, Options& o) {
  ParamEdit both;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (i + 1 >= argc) {
      std::fprintf(stderr, "mpt-delayline: %s needs a value\n%s", a.c_str(), kUsage);
      return false;
    }
    const std::string v = argv[++i];
    std::string err;
    if (a == "--a") o.if_a = v;
    else if (a == "--b") o.if_b = v;
    else if (a == "--control") o.control_path = v;
    else if (a == "--cmd") o.command = v;
    else if (a == "--ab") err = parse_spec(v, o.ab);
    else if (a == "--ba") err = parse_spec(v, o.ba);
    else if (a == "--both") err = parse_spec(v, both);
    else if (a == "--seed") o.seed = std::strtoull(v.c_str(), nullptr, 10);
    else if (a == "--ring") o.ring_slots = std::strtoull(v.c_str(), nullptr, 10);
    else if (a == "--spin-us") o.spin_ns = std::strtoll(v.c_str(), nullptr, 10) * 1000;
    else if (a == "--spin-budget") o.spin_budget_pct = std::atoi(v.c_str());
    else if (a == "--rt") o.rt_priority = std::atoi(v.c_str());
    else err = "unknown option " + a;
    if (!err.empty()) {
      std::fprintf(stderr, "mpt-delayline: %s: %s\n%s", a.c_str(), err.c_str(), kUsage);
      return false;
    }
  }
  if (!o.command.empty()) return !o.control_path.empty();
  if (o.if_a.empty() || o.if_b.empty() || o.ring_slots < kBatch || o.spin_ns < 0 ||
      o.spin_budget_pct < 0 || o.spin_budget_pct > 100) {
    std::fputs(kUsage, stderr);
    return false;
  }
  // --both first, then the per-direction specs on top of it.
  ParamEdit ab = both, ba = both;
  auto merge = [](ParamEdit& base, const ParamEdit& over) {
    if (over.rate_bps) base.rate_bps = over.rate_bps;
    if (over.delay_ns) base.delay_ns = over.delay_ns;
    if (over.jitter_ns) base.jitter_ns = over.jitter_ns;
    if (over.jitter_normal) base.jitter_normal = over.jitter_normal;
    if (over.loss) base.loss = over.loss;
    if (over.queue_ns) { base.queue_ns = over.queue_ns; base.queue_bytes.reset(); }
    if (over.queue_bytes) { base.queue_bytes = over.queue_bytes; base.queue_ns.reset(); }
    if (over.seed) base.seed = over.seed;
  };
  merge(ab, o.ab);
  merge(ba, o.ba);
  o.ab = ab;
  o.ba = ba;
  return true;
}

// Client mode: one command to a running delay line, the reply on stdout. The client socket
// is a file next to the control socket: abstract names are per network namespace, and the
// delay line usually runs in another one.
int send_command(const Options& o) {
  const int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  sockaddr_un me{};
  me.sun_family = AF_UNIX;
  const int len = std::snprintf(me.sun_path, sizeof me.sun_path, "%s.cli-%d", o.control_path.c_str(),
                                getpid());
  if (fd < 0 || len >= static_cast<int>(sizeof me.sun_path)) {
    std::fprintf(stderr, "mpt-delayline: control path too long\n");
    return 2;
  }
  unlink(me.sun_path);
  if (bind(fd, reinterpret_cast<sockaddr*>(&me), sizeof me) != 0) {
    std::fprintf(stderr, "mpt-delayline: bind %s: %s\n", me.sun_path, std::strerror(errno));
    return 2;
  }
  int rc = 2;
  sockaddr_un to{};
  to.sun_family = AF_UNIX;
  std::snprintf(to.sun_path, sizeof to.sun_path, "%s", o.control_path.c_str());
  pollfd p{fd, POLLIN, 0};
  char buf[65536];
  if (sendto(fd, o.command.data(), o.command.size(), 0, reinterpret_cast<sockaddr*>(&to), sizeof to) < 0) {
    std::fprintf(stderr, "mpt-delayline: send to %s: %s\n", o.control_path.c_str(), std::strerror(errno));
  } else if (poll(&p, 1, 3000) <= 0) {
    std::fprintf(stderr, "mpt-delayline: no reply from %s\n", o.control_path.c_str());
  } else if (const ssize_t n = recv(fd, buf, sizeof buf, 0); n >= 0) {
    std::printf("%.*s\n", static_cast<int>(n), buf);
    rc = std::strncmp(buf, "error", 5) == 0 ? 1 : 0;
  }
  close(fd);
  unlink(me.sun_path);
  return rc;
}

int run(const Options& o) {
  Emulator e;
  e.ab = std::make_unique<Direction>("ab", o.ring_slots);
  e.ba = std::make_unique<Direction>("ba", o.ring_slots);
  const int fd_a = open_packet_socket(o.if_a);
  const int fd_b = open_packet_socket(o.if_b);
  if (fd_a < 0 || fd_b < 0) return 2;
  e.ab->rx_fd = e.ba->tx_fd = fd_a;
  e.ba->rx_fd = e.ab->tx_fd = fd_b;
  int i = 0;
  for (Direction* d : {e.ab.get(), e.ba.get()}) {
    d->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    d->spin_ns = o.spin_ns;
    d->spin_budget_ns = kSpinWindowNs * o.spin_budget_pct / 100;
    d->rt_priority = o.rt_priority;
    LinkParams p;
    (i == 0 ? o.ab : o.ba).apply_to(p);
    const std::uint64_t seed = (i == 0 ? o.ab : o.ba).seed.value_or(o.seed * 2 + static_cast<std::uint64_t>(i));
    publish_params(*d, p, seed);
    ++i;
  }
  const int ctl = o.control_path.empty() ? -1 : open_control_socket(o.control_path);
  if (!o.control_path.empty() && ctl < 0) return 2;

  sigset_t sigs;
  sigemptyset(&sigs);
  sigaddset(&sigs, SIGINT);
  sigaddset(&sigs, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &sigs, nullptr);  // before the threads start: they inherit it
  const int sfd = signalfd(-1, &sigs, SFD_CLOEXEC);

  std::thread t_ab(run_direction, std::ref(*e.ab));
  std::thread t_ba(run_direction, std::ref(*e.ba));
  std::fprintf(stderr, "mpt-delayline: %s <-> %s, ab %s, ba %s\n", o.if_a.c_str(), o.if_b.c_str(),
               params_json(e.ab->shown).c_str(), params_json(e.ba->shown).c_str());
  pollfd fds[2] = {{sfd, POLLIN, 0}, {ctl, POLLIN, 0}};
  while (true) {
    if (poll(fds, ctl >= 0 ? 2 : 1, -1) < 0 && errno != EINTR) break;
    if (fds[0].revents & POLLIN) break;
    if (ctl >= 0 && (fds[1].revents & POLLIN)) serve_control_datagram(e, ctl);
  }
  g_stop.store(true);
  wake(*e.ab);
  wake(*e.ba);
  t_ab.join();
  t_ba.join();
  std::printf("%s\n", stats_json(e).c_str());
  if (ctl >= 0) {
    close(ctl);
    unlink(o.control_path.c_str());
  }
  close(fd_a);
  close(fd_b);
  return 0;
}

}  // namespace
}  // namespace mpt::delayline

int main(int argc, char** argv) {
  mpt::delayline::Options o;
  if (!mpt::delayline::parse_args(argc, argv, o)) return 2;
  if (!o.command.empty()) return mpt::delayline::send_command(o);
  return mpt::delayline::run(o);
}
