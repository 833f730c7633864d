// Server mode's listener (engine/path_worker.h): one socket, ring and pool carrying several
// client path slots. Real UDP on loopback (127.0.0.x; no root needed): a datagram reaches
// the slot of its source address, a stranger's is dropped and counted on the listener, and
// a slot sends from the listener's socket to its own client.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include <array>
#include <chrono>
#include <memory>
#include <thread>

#include "engine/gre_udp.h"
#include "engine/path_worker.h"
#include "engine/stats.h"
#include "engine/uring.h"

using namespace mpt::engine;

namespace {

sockaddr_storage v4(const char* ip, std::uint16_t port, socklen_t& len) {
  sockaddr_storage a{};
  auto& s = reinterpret_cast<sockaddr_in&>(a);
  s.sin_family = AF_INET;
  s.sin_port = htons(port);
  REQUIRE(inet_pton(AF_INET, ip, &s.sin_addr) == 1);
  len = sizeof(sockaddr_in);
  return a;
}

// A UDP socket bound to ip (any port); returns the fd and its port.
int bound_socket(const char* ip, std::uint16_t& port) {
  const int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  REQUIRE(fd >= 0);
  socklen_t len;
  sockaddr_storage a = v4(ip, 0, len);
  REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&a), len) == 0);
  sockaddr_in got{};
  socklen_t gl = sizeof got;
  REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&got), &gl) == 0);
  port = ntohs(got.sin_port);
  return fd;
}

// A GRE-in-UDP datagram carrying a minimal IPv4 packet (20-byte header, no payload).
std::array<std::uint8_t, 24> data_datagram() {
  std::array<std::uint8_t, 24> d{};
  d[4] = 0x45;
  d[7] = 20;  // total length
  GreFields f;
  f.protocol = kProtoIpv4;
  REQUIRE(encode_gre(d, f) == 4);
  return d;
}

bool wait_until(const std::function<bool()>& f) {
  for (int i = 0; i < 200; ++i) {
    if (f()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return false;
}

}  // namespace

TEST_CASE("A listener hands each datagram to the client slot of its source; strangers are counted",
          "[listener]") {
  // Probe for a free port on 127.0.0.1 for the listener.
  std::uint16_t lport = 0;
  ::close(bound_socket("127.0.0.1", lport));

  TunnelSpec spec;
  for (int c = 0; c < 2; ++c) {
    ConnectionSpec cs;
    cs.name = "client" + std::to_string(c);
    cs.paths = {c};
    spec.connections.push_back(cs);
    PathSpec ps;
    ps.name = cs.name + "/path_0";
    ps.connection = c;
    ps.local = v4("127.0.0.1", lport, ps.local_len);
    ps.listen = true;
    spec.paths.push_back(ps);
  }
  const int stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  REQUIRE(stop_fd >= 0);
  Uring bells_ring(8);
  Doorbell reader_bell, writer_bell;
  reader_bell.ring_fd = bells_ring.fd();
  writer_bell.ring_fd = bells_ring.fd();

  Doorbell* const reader_bells[] = {&reader_bell};
  Doorbell* const writer_bells[] = {&writer_bell};
  PathWorker listener(PathWorker::Listener{}, spec.paths[0], stop_fd);
  listener.connect(reader_bells, writer_bells);
  PathWorker a(spec, 0, listener);
  PathWorker b(spec, 1, listener);
  a.connect(reader_bells, writer_bells);
  b.connect(reader_bells, writer_bells);
  listener.attach(&a);
  listener.attach(&b);
  CHECK(a.is_client_slot());
  CHECK(listener.is_listener());
  CHECK(a.control_socket() == listener.control_socket());
  CHECK(&a.rx_pool() == &listener.rx_pool());

  // Clients: A at 127.0.0.2, B at 127.0.0.3; a stranger at 127.0.0.4.
  std::uint16_t pa = 0, pb = 0, ps = 0;
  const int fa = bound_socket("127.0.0.2", pa);
  const int fb = bound_socket("127.0.0.3", pb);
  const int fs = bound_socket("127.0.0.4", ps);
  socklen_t len = 0;
  const sockaddr_storage ea = v4("127.0.0.2", pa, len);
  a.endpoint().store(ea, len);
  const sockaddr_storage eb = v4("127.0.0.3", pb, len);
  b.endpoint().store(eb, len);

  std::thread t([&] { listener.run(); });
  sockaddr_storage to = v4("127.0.0.1", lport, len);
  const auto d = data_datagram();
  const auto send_from = [&](int fd, int n) {
    for (int i = 0; i < n; ++i) {
      REQUIRE(::sendto(fd, d.data(), d.size(), 0, reinterpret_cast<sockaddr*>(&to), len) ==
              static_cast<ssize_t>(d.size()));
    }
  };
  send_from(fa, 3);
  send_from(fb, 2);
  send_from(fs, 4);
  CHECK(wait_until([&] { return read(a.stats().rx_packets) == 3 && read(b.stats().rx_packets) == 2; }));
  // The stranger's plain data: the listener's own, dropped (a keyed-only listener).
  CHECK(wait_until([&] { return read(listener.stats().rx_drop_unsealed) == 4; }));
  CHECK(a.rx_ring().read_available() == 3);
  CHECK(b.rx_ring().read_available() == 2);

  // Client A moves (roaming: the control thread stores its new endpoint): its datagrams
  // from there now reach A; from its old address nothing is A's any more... unless it is
  // the only client at that address (NAT-mapped ports): same IP, another port still maps.
  std::uint16_t pa2 = 0;
  const int fa2 = bound_socket("127.0.0.2", pa2);
  send_from(fa2, 1);  // same address as A's endpoint, other port: A's (the only client there)
  CHECK(wait_until([&] { return read(a.stats().rx_packets) == 4; }));
  const sockaddr_storage moved = v4("127.0.0.5", 4000, len);
  a.endpoint().store(moved, len);
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  send_from(fb, 1);  // a wake-up for the listener's loop: it refreshes its table
  CHECK(wait_until([&] { return read(b.stats().rx_packets) == 3; }));
  send_from(fa, 2);  // A's old address: nobody's now
  CHECK(wait_until([&] { return read(listener.stats().rx_drop_unsealed) == 6; }));
  CHECK(read(a.stats().rx_packets) == 4);

  const std::uint64_t one = 1;
  REQUIRE(::write(stop_fd, &one, sizeof one) == sizeof one);
  t.join();
  // Receive buffers still referenced by the slots' rx rings go home through their return
  // rings; detach takes them back.
  PacketRef r;
  for (PathWorker* s : {&a, &b}) {
    while (s->rx_ring().pop(r)) {
      if (r.buf->refs.fetch_sub(1) == 1) REQUIRE(s->rx_return_ring().push(r.buf));
    }
  }
  listener.detach(&a);
  listener.detach(&b);
  CHECK(listener.served_count() == 0);
  for (int fd : {fa, fb, fs, fa2, stop_fd}) ::close(fd);
}
