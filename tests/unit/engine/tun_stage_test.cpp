// Unit tests for the TUN reader and the TUN writer as stages, without root: each runs on its
// own thread against a fake TUN (a Unix datagram socket pair: one datagram per packet, as a
// TUN queue without the virtio header) and against PathChannels the test plays itself
// (engine/path_channel.h) -- it pops the reader's batches and returns them sent or unsent,
// and pushes received packets for the writer. Covered: numbering and spreading, reroute of
// batches a dead path returns unsent, runs of one flow, a reload that removes a path with
// batches queued on it, in-order delivery with hold by reference and by copy.
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <cstring>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <thread>
#include <vector>

#include "engine/buffer_pool.h"
#include "engine/byte_order.h"
#include "engine/gre_udp.h"
#include "engine/path_channel.h"
#include "engine/session_keys.h"
#include "engine/tun_reader.h"
#include "engine/tun_writer.h"
#include "engine/uring.h"

namespace mpt::engine {
namespace {

using namespace std::chrono_literals;

// A TUN queue stand-in: `dev` is what the stage reads and writes, `app` the kernel's side.
struct FakeTun {
  int app = -1, dev = -1;
  FakeTun() {
    int fds[2];
    REQUIRE(::socketpair(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds) == 0);
    app = fds[0];
    dev = fds[1];
    const int big = 4 << 20;
    ::setsockopt(app, SOL_SOCKET, SO_SNDBUF, &big, sizeof big);
    ::setsockopt(dev, SOL_SOCKET, SO_RCVBUF, &big, sizeof big);
  }
  ~FakeTun() {
    ::close(app);
    ::close(dev);
  }
  void send(const std::vector<std::uint8_t>& p) const {
    REQUIRE(::send(app, p.data(), p.size(), 0) == static_cast<ssize_t>(p.size()));
  }
  // The next packet the stage wrote, waiting up to `wait`.
  [[nodiscard]] std::optional<std::vector<std::uint8_t>> receive(
      std::chrono::milliseconds wait = 2000ms) const {
    const auto until = std::chrono::steady_clock::now() + wait;
    std::vector<std::uint8_t> buf(70000);
    while (std::chrono::steady_clock::now() < until) {
      const ssize_t n = ::recv(app, buf.data(), buf.size(), 0);
      if (n > 0) {
        buf.resize(static_cast<std::size_t>(n));
        return buf;
      }
      std::this_thread::sleep_for(1ms);
    }
    return std::nullopt;
  }
};

// An IPv4/UDP packet 10.0.0.1:sport -> 10.0.0.2:7, payload = 4-byte id then filler.
std::vector<std::uint8_t> udp_packet(std::uint32_t id, std::uint16_t sport, std::size_t payload = 200) {
  std::vector<std::uint8_t> p(28 + payload, 0xAB);
  p[0] = 0x45;
  store_be16(&p[2], static_cast<std::uint16_t>(p.size()));
  store_be16(&p[4], static_cast<std::uint16_t>(id));
  p[8] = 64;
  p[9] = 17;
  p[10] = p[11] = 0;
  const std::uint8_t src[4] = {10, 0, 0, 1}, dst[4] = {10, 0, 0, 2};
  std::memcpy(&p[12], src, 4);
  std::memcpy(&p[16], dst, 4);
  std::uint32_t sum = 0;
  for (int i = 0; i < 20; i += 2) sum += load_be16(&p[static_cast<std::size_t>(i)]);
  while (sum >> 16) sum = (sum & 0xFFFF) + (sum >> 16);
  store_be16(&p[10], static_cast<std::uint16_t>(~sum));
  store_be16(&p[20], sport);
  store_be16(&p[22], 7);
  store_be16(&p[24], static_cast<std::uint16_t>(8 + payload));
  p[26] = p[27] = 0;  // no UDP checksum (IPv4)
  store_be32(&p[28], id);
  return p;
}
std::uint32_t id_of(std::span<const std::uint8_t> inner) { return load_be32(inner.data() + 28); }

IpNet net(std::uint8_t last, int len) {
  IpNet n;
  n.addr.family = AF_INET;
  const std::uint8_t a[4] = {10, 0, 0, last};
  std::memcpy(&n.addr.v4, a, 4);
  n.prefix_len = len;
  return n;
}

// One connection "it" to 10.0.0.2 over `paths` paths, numbered, weights 1.
TunnelSpec two_path_spec(scheduler::Policy policy, int paths = 2) {
  TunnelSpec t;
  t.mtu = 1400;
  ConnectionSpec c;
  c.name = "it";
  c.sequence_numbers = true;
  c.reorder_window = 256;
  c.max_delay_ms = 100;
  c.policy = policy;
  c.pacing = false;
  c.repair = false;
  c.destinations = {net(2, 32)};
  c.sources = {net(1, 32)};
  for (int i = 0; i < paths; ++i) {
    PathSpec p;
    p.name = "it/path_" + std::to_string(i);
    p.connection = 0;
    p.weight = 1;
    c.paths.push_back(i);
    t.paths.push_back(p);
  }
  t.connections.push_back(c);
  return t;
}

// A path the test plays: a channel, and an io_uring of its own only so that the stages'
// wake-ups (MSG_RING to the path's doorbell) have somewhere to go, and so that the test can
// wake a stage after pushing into one of its rings.
struct LoopbackPath {
  PathChannel ch;
  Uring ring{16};
  LoopbackPath(int index, int connection) : ch(index, connection) {
    ch.doorbell().ring_fd = ring.fd();
  }
  // Takes the wake-ups the stages sent (so that the next one is sent, Doorbell::pending).
  void answer() {
    std::array<io_uring_cqe, 16> cqes;
    ring.submit_and_wait(0);
    while (ring.copy_cqes(cqes) > 0) {
    }
    doorbell_answered(ch.doorbell());
  }
  void wake(Doorbell& stage) {
    ring_doorbell(ring, stage);
    ring.submit_and_wait(0);
  }
};

// A received GRE-in-UDP datagram of a send batch: its sequence number and inner packet id.
struct Sent {
  std::uint32_t seq;
  std::uint32_t id;
};
std::vector<Sent> datagrams_of(PacketBuf* b) {
  std::vector<Sent> out;
  const std::uint32_t gso = b->segments > 1 ? b->gso_size : b->length;
  for (std::uint32_t off = 0; off < b->length; off += gso) {
    const std::uint32_t len = std::min(gso, b->length - off);
    const std::span<const std::uint8_t> d(b->data() + off, len);
    const GreParsed g = parse_gre(d);
    REQUIRE(g.error == GreError::kOk);
    REQUIRE(g.fields.seq.has_value());
    out.push_back({*g.fields.seq, id_of(d.subspan(g.header_size))});
  }
  return out;
}

// Runs a stage's loop on its own thread; stop() is Engine::pause's way (stop eventfd, join,
// reset), so that the loop can run again (a reload).
class StageThread {
 public:
  StageThread() : stop_fd_(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) { REQUIRE(stop_fd_ >= 0); }
  ~StageThread() {
    stop();
    ::close(stop_fd_);
  }
  [[nodiscard]] int fd() const { return stop_fd_; }
  template <class Stage>
  void start(Stage& s) {
    thread_ = std::thread([&s] { s.run(); });
  }
  void stop() {
    if (!thread_.joinable()) return;
    const std::uint64_t one = 1;
    REQUIRE(::write(stop_fd_, &one, sizeof one) == sizeof one);
    thread_.join();
    std::uint64_t v = 0;
    (void)!::read(stop_fd_, &v, sizeof v);
  }

 private:
  int stop_fd_;
  std::thread thread_;
};

// Collects what the reader sends on `paths` until `want` datagrams arrived or `wait` passed:
// each batch's datagrams by path, returned to the reader as sent -- or, for a path in
// `bounce`, returned unsent (a dead path) and the reader woken, as a PathWorker does.
std::map<int, std::vector<Sent>> collect(std::vector<LoopbackPath*> paths, TunReader& reader,
                                         std::size_t want, std::set<int> bounce = {},
                                         std::chrono::milliseconds wait = 3000ms) {
  std::map<int, std::vector<Sent>> got;
  std::size_t n = 0;
  const auto until = std::chrono::steady_clock::now() + wait;
  while (n < want && std::chrono::steady_clock::now() < until) {
    bool any = false;
    for (LoopbackPath* p : paths) {
      p->answer();
      PacketBuf* b = nullptr;
      while (p->ch.tx_ring().pop(b)) {
        any = true;
        if (bounce.count(p->ch.path_index())) {
          b->unsent = true;
          REQUIRE(p->ch.tx_return_ring().push(b));
          p->wake(reader.doorbell());
          continue;
        }
        for (const Sent& s : datagrams_of(b)) got[p->ch.path_index()].push_back(s);
        n += datagrams_of(b).size();
        REQUIRE(p->ch.tx_return_ring().push(b));
      }
    }
    if (!any) std::this_thread::sleep_for(1ms);
  }
  return got;
}

// Every id 0..count-1 once, and the sequence numbers one unbroken run.
void check_complete(const std::map<int, std::vector<Sent>>& got, std::uint32_t count) {
  std::set<std::uint32_t> ids, seqs;
  std::size_t total = 0;
  for (const auto& [path, v] : got) {
    for (const Sent& s : v) {
      ids.insert(s.id);
      seqs.insert(s.seq);
      ++total;
    }
  }
  CHECK(total == count);
  CHECK(ids.size() == count);
  REQUIRE(seqs.size() == count);
  CHECK(*seqs.rbegin() - *seqs.begin() == count - 1);
}

// The TUN reader under test, on a fake TUN, with two paths the test plays; started by the
// test (thread.start(reader)) once it has set the paths up.
struct ReaderRig {
  FakeTun tun;
  TunnelSpec spec = two_path_spec(scheduler::Policy::kPackets);
  LoopbackPath p0{0, 0}, p1{1, 0};
  std::vector<PathChannel*> slots{&p0.ch, &p1.ch};
  StageThread thread;
  std::deque<SessionKeys> keys;
  TunReader reader{spec, tun.dev, false, slots, thread.fd()};
  ReaderRig() {
    keys.emplace_back();
    reader.set_keys(&keys);
  }
};

}  // namespace

TEST_CASE("tun reader: packets leave numbered once, spread over the paths by weight",
          "[tun_stage]") {
  ReaderRig rig;
  auto& [tun, spec, p0, p1, slots, thread, keys, reader] = rig;
  thread.start(reader);
  constexpr std::uint32_t kCount = 400;
  // Many flows: a static policy decides once per run of one flow, so one flow would stay
  // on one path for its run.
  for (std::uint32_t i = 0; i < kCount; ++i) {
    tun.send(udp_packet(i, static_cast<std::uint16_t>(1000 + i)));
    if (i % 50 == 49) std::this_thread::sleep_for(2ms);
  }
  const auto got = collect({&p0, &p1}, reader, kCount);
  thread.stop();
  check_complete(got, kCount);
  // Weights 1:1 by packets, decided per run: both paths carry a fair share.
  CHECK(got.count(0));
  CHECK(got.count(1));
  if (got.count(0) && got.count(1)) {
    CHECK(got.at(0).size() > kCount / 4);
    CHECK(got.at(1).size() > kCount / 4);
  }
  CHECK(read(reader.stats().tun_read_packets) == kCount);
  CHECK(read(reader.stats().tx_drop_no_path) == 0);
}

TEST_CASE("tun reader: one flow goes as runs; a run stays on one path in order",
          "[tun_stage]") {
  ReaderRig rig;
  auto& [tun, spec, p0, p1, slots, thread, keys, reader] = rig;
  thread.start(reader);
  constexpr std::uint32_t kCount = 300;
  for (std::uint32_t i = 0; i < kCount; ++i) tun.send(udp_packet(i, 4242));
  const auto got = collect({&p0, &p1}, reader, kCount);
  thread.stop();
  check_complete(got, kCount);
  // Per path, the flow's packets keep their order (ids and numbers both rising).
  for (const auto& [path, v] : got) {
    for (std::size_t i = 1; i < v.size(); ++i) {
      CHECK(v[i].id > v[i - 1].id);
      CHECK(v[i].seq > v[i - 1].seq);
    }
  }
}

TEST_CASE("tun reader: batches a dead path returns unsent go out on the live path",
          "[tun_stage]") {
  ReaderRig rig;
  auto& [tun, spec, p0, p1, slots, thread, keys, reader] = rig;
  // Path 0 died and its worker knows (set_down), the scheduler not yet: what the reader
  // queues for it comes back unsent, and must leave on path 1 -- nothing lost, the numbers
  // they were given kept.
  p0.ch.set_down(true);
  thread.start(reader);
  constexpr std::uint32_t kCount = 300;
  for (std::uint32_t i = 0; i < kCount; ++i) {
    tun.send(udp_packet(i, static_cast<std::uint16_t>(1000 + i)));
  }
  const auto got = collect({&p0, &p1}, reader, kCount, /*bounce=*/{0});
  thread.stop();
  CHECK(got.count(0) == 0);
  check_complete(got, kCount);
  CHECK(read(reader.stats().tx_rerouted) > 0);
}

TEST_CASE("tun reader: a reload that removes a path sends what was queued for it on another",
          "[tun_stage]") {
  ReaderRig rig;
  auto& [tun, spec, p0, p1, slots, thread, keys, reader] = rig;
  thread.start(reader);
  constexpr std::uint32_t kCount = 300;
  for (std::uint32_t i = 0; i < kCount; ++i) {
    tun.send(udp_packet(i, static_cast<std::uint16_t>(1000 + i)));
  }
  // Path 1 is served; path 0 is not (its batches stay queued in its tx ring).
  auto got = collect({&p1}, reader, kCount, {}, 500ms);
  std::size_t queued = p0.ch.tx_ring().read_available();
  REQUIRE(queued > 0);
  // The reload, as Engine::reconfigure does it: pause, detach, new spec, resume.
  thread.stop();
  const TunnelSpec old = spec;
  reader.detach_path(0);
  spec.paths[0].active = false;
  spec.connections[0].paths = {1};
  slots[0] = nullptr;
  reader.reconfigure(old, slots);
  thread.start(reader);
  p1.wake(reader.doorbell());
  const std::size_t before = got.count(1) ? got.at(1).size() : 0;
  auto more = collect({&p1}, reader, kCount - before);
  thread.stop();
  for (const Sent& s : more[1]) got[1].push_back(s);
  CHECK(p0.ch.tx_ring().read_available() == 0);
  check_complete(got, kCount);
}

namespace {

// Receive buffers of the test's "path": inner packets laid in them, handed to the writer as
// PacketRefs with sequence numbers, and counted back when the writer is done with them.
struct RxSide {
  BufferPool pool{64, 70000};
  std::size_t out = 0;  // buffers with the writer

  // A buffer holding the packets `ids` (sequence number = id) of path `path`, pushed.
  PacketBuf* push(LoopbackPath& path, TunWriter& writer, const std::vector<std::uint32_t>& ids) {
    PacketBuf* b = pool.take();
    REQUIRE(b);
    b->path_index = static_cast<std::uint16_t>(path.ch.path_index());
    b->refs.store(static_cast<std::uint32_t>(ids.size()));
    b->segments = static_cast<std::uint16_t>(ids.size());  // a GRO batch of that many
    std::uint32_t off = 0;
    std::vector<PacketRef> refs;
    for (std::uint32_t id : ids) {
      const auto p = udp_packet(id, 4242, 100);
      std::memcpy(b->storage + off, p.data(), p.size());
      PacketRef r;
      r.buf = b;
      r.offset = off;
      r.length = static_cast<std::uint32_t>(p.size());
      r.seq = id;
      r.has_seq = true;
      refs.push_back(r);
      off += static_cast<std::uint32_t>(p.size());
    }
    for (const PacketRef& r : refs) REQUIRE(path.ch.rx_ring().push(r));
    ++out;
    path.wake(writer.doorbell());
    return b;
  }
  // Buffers the writer sent home since the last call.
  std::set<PacketBuf*> returned(LoopbackPath& path) {
    std::set<PacketBuf*> got;
    PacketBuf* b = nullptr;
    path.answer();
    while (path.ch.rx_return_ring().pop(b)) {
      got.insert(b);
      pool.put(b);
      --out;
    }
    return got;
  }
};

std::vector<std::uint32_t> delivered(const FakeTun& tun, std::size_t want) {
  std::vector<std::uint32_t> ids;
  while (ids.size() < want) {
    const auto p = tun.receive();
    if (!p) break;
    ids.push_back(id_of(*p));
  }
  return ids;
}

// The TUN writer under test on its thread, on a fake TUN, with two paths the test plays.
struct WriterRig {
  FakeTun tun;
  TunnelSpec spec;
  LoopbackPath p0{0, 0}, p1{1, 0};
  std::vector<PathChannel*> slots{&p0.ch, &p1.ch};
  StageThread thread;
  std::deque<SessionKeys> keys;
  TunWriter writer;
  explicit WriterRig(std::uint32_t max_delay_ms)
      : spec(with_max_delay(two_path_spec(scheduler::Policy::kPackets), max_delay_ms)),
        writer(spec, tun.dev, false, slots, thread.fd()) {
    keys.emplace_back();
    writer.set_keys(&keys);
    thread.start(writer);
  }
  static TunnelSpec with_max_delay(TunnelSpec t, std::uint32_t ms) {
    t.connections[0].max_delay_ms = ms;
    return t;
  }
};

std::vector<std::uint32_t> range(std::uint32_t first, std::uint32_t end) {
  std::vector<std::uint32_t> v;
  for (std::uint32_t i = first; i < end; ++i) v.push_back(i);
  return v;
}

}  // namespace

TEST_CASE("tun writer: packets from two paths reach the TUN in sequence order",
          "[tun_stage]") {
  WriterRig rig(100);
  auto& [tun, spec, p0, p1, slots, thread, keys, writer] = rig;
  RxSide rx;
  // The stage learns where the sequence starts from the first packet: 0.
  rx.push(p0, writer, {0});
  REQUIRE(delivered(tun, 1) == std::vector<std::uint32_t>{0});
  // Path 1 is ahead: 5..8 arrive before 1..4 (each path FIFO), then 9..12 on path 0.
  rx.push(p1, writer, {5, 6, 7, 8});
  rx.push(p0, writer, {1, 2, 3, 4});
  rx.push(p0, writer, {9, 10, 11, 12});
  const auto ids = delivered(tun, 12);
  CHECK(ids == range(1, 13));
  // Every buffer comes home (refs dropped to zero) -- to the path it came from.
  std::size_t home = 0;
  for (int tries = 0; tries < 200 && home < 4; ++tries) {
    home += rx.returned(p0).size() + rx.returned(p1).size();
    std::this_thread::sleep_for(2ms);
  }
  thread.stop();
  CHECK(home == 4);
  // (Whether the stage had to hold 5..8 depends on timing: when both pushes land before the
  // writer's turn it drains path 0's ring first and sees no gap. So the delivered order is
  // the assertion, not the reorder counters.)
}

TEST_CASE("tun writer: a held GRO batch is held by reference, single datagrams by copy",
          "[tun_stage]") {
  // The gap waits for the test, not a timeout.
  WriterRig rig(2000);
  auto& [tun, spec, p0, p1, slots, thread, keys, writer] = rig;
  RxSide rx;
  // The stage learns where the sequence starts from the first packet: 0.
  rx.push(p0, writer, {0});
  REQUIRE(delivered(tun, 1) == std::vector<std::uint32_t>{0});
  // 1 is missing. Path 1 brings 2..21 as one GRO batch (20 datagrams, >= 16: held where it
  // is) and 22 alone (copied into the hold pool: its buffer goes home at once).
  PacketBuf* batch = rx.push(p1, writer, range(2, 22));
  PacketBuf* single = rx.push(p1, writer, {22});
  std::set<PacketBuf*> home;
  for (int tries = 0; tries < 200 && !home.count(single); ++tries) {
    for (PacketBuf* b : rx.returned(p1)) home.insert(b);
    std::this_thread::sleep_for(2ms);
  }
  CHECK(home.count(single) == 1);  // copied out, sent home while 1 is still missing
  CHECK(home.count(batch) == 0);   // held by reference: pinned until the gap fills
  CHECK_FALSE(tun.receive(50ms).has_value());  // nothing delivered past the gap
  rx.push(p0, writer, {1});
  const auto ids = delivered(tun, 22);
  CHECK(ids == range(1, 23));
  for (int tries = 0; tries < 200 && !home.count(batch); ++tries) {
    for (PacketBuf* b : rx.returned(p1)) home.insert(b);
    rx.returned(p0);
    std::this_thread::sleep_for(2ms);
  }
  thread.stop();
  CHECK(home.count(batch) == 1);
  CHECK(read(writer.reorder_counters(0).lost) == 0);
}

TEST_CASE("tun writer: a path removed by a reload gets every buffer back before it goes, "
          "and its slot's next path none of them", "[tun_stage]") {
  WriterRig rig(100);
  auto& [tun, spec, p0, p1, slots, thread, keys, writer] = rig;
  RxSide rx;
  rx.push(p0, writer, {0});
  REQUIRE(delivered(tun, 1) == std::vector<std::uint32_t>{0});
  for (int tries = 0; tries < 200 && rx.out > 0; ++tries) {
    rx.returned(p0);
    std::this_thread::sleep_for(2ms);
  }
  REQUIRE(rx.out == 0);
  // The reload, as Engine::reconfigure does it: pause; path 0 received more meanwhile (in
  // order: delivered, not held); detach it, which writes them to the TUN.
  thread.stop();
  rx.push(p0, writer, {1, 2, 3});
  rx.push(p0, writer, {4});
  writer.detach_path(0);
  // Its pool goes away after this (Engine::retire_path): every buffer must be home now, not
  // when the TUN writes complete after the writer runs again.
  rx.returned(p0);
  CHECK(rx.out == 0);
  // A later reload gives slot 0 to a new path: nothing of the old one's reaches it.
  const TunnelSpec old = spec;
  LoopbackPath fresh{0, 0};
  slots[0] = &fresh.ch;
  writer.reconfigure(old, slots);
  thread.start(writer);
  CHECK(delivered(tun, 4) == range(1, 5));
  rx.push(p1, writer, {5});
  CHECK(delivered(tun, 1) == std::vector<std::uint32_t>{5});
  thread.stop();
  PacketBuf* b = nullptr;
  CHECK_FALSE(fresh.ch.rx_return_ring().pop(b));
}

}  // namespace mpt::engine
