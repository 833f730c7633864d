// mpt-testtool: small traffic helpers for the integration tests and mpt-bench.
//
//   mpt-testtool tcp-recv ADDR PORT BYTES SEED   accept one TCP connection, read BYTES and
//                                               check them against the seeded byte stream
//   mpt-testtool tcp-send ADDR PORT BYTES SEED   connect and send BYTES of that stream
//   mpt-testtool garbage SRC DST PORT COUNT      send COUNT malformed GRE-in-UDP datagrams
//                                               from SRC (any port) to DST:PORT
// Exit status 0 on success; tcp-recv exits 1 on any mismatch or short read.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "engine/gre_udp.h"

namespace {

// xorshift64*: a deterministic byte stream both ends can generate independently.
class Stream {
 public:
  explicit Stream(std::uint64_t seed) : s_(seed * 0x9E3779B97F4A7C15ull + 1) {}
  void fill(std::uint8_t* p, std::size_t n) {
    for (std::size_t i = 0; i < n; ++i) {
      if (left_ == 0) {
        s_ ^= s_ >> 12;
        s_ ^= s_ << 25;
        s_ ^= s_ >> 27;
        word_ = s_ * 0x2545F4914F6CDD1Dull;
        left_ = 8;
      }
      p[i] = static_cast<std::uint8_t>(word_);
      word_ >>= 8;
      --left_;
    }
  }

 private:
  std::uint64_t s_;
  std::uint64_t word_ = 0;
  int left_ = 0;
};

bool make_addr(const char* ip, int port, sockaddr_storage& ss, socklen_t& len) {
  ss = {};
  auto* s4 = reinterpret_cast<sockaddr_in*>(&ss);
  auto* s6 = reinterpret_cast<sockaddr_in6*>(&ss);
  if (inet_pton(AF_INET, ip, &s4->sin_addr) == 1) {
    s4->sin_family = AF_INET;
    s4->sin_port = htons(static_cast<std::uint16_t>(port));
    len = sizeof *s4;
    return true;
  }
  if (inet_pton(AF_INET6, ip, &s6->sin6_addr) == 1) {
    s6->sin6_family = AF_INET6;
    s6->sin6_port = htons(static_cast<std::uint16_t>(port));
    len = sizeof *s6;
    return true;
  }
  std::fprintf(stderr, "bad address %s\n", ip);
  return false;
}

double now_s() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

int tcp_recv(const char* ip, int port, std::uint64_t bytes, std::uint64_t seed) {
  sockaddr_storage ss;
  socklen_t len;
  if (!make_addr(ip, port, ss, len)) return 2;
  int ls = socket(ss.ss_family, SOCK_STREAM, 0);
  int one = 1;
  setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (bind(ls, reinterpret_cast<sockaddr*>(&ss), len) < 0 || listen(ls, 1) < 0) {
    std::perror("tcp-recv: bind/listen");
    return 2;
  }
  std::printf("listening\n");
  std::fflush(stdout);
  int c = accept(ls, nullptr, nullptr);
  if (c < 0) {
    std::perror("tcp-recv: accept");
    return 2;
  }
  Stream expect(seed);
  std::vector<std::uint8_t> buf(1 << 16), want(1 << 16);
  std::uint64_t got = 0;
  const double t0 = now_s();
  while (got < bytes) {
    ssize_t n = read(c, buf.data(), buf.size());
    if (n <= 0) break;
    expect.fill(want.data(), static_cast<std::size_t>(n));
    if (std::memcmp(buf.data(), want.data(), static_cast<std::size_t>(n)) != 0) {
      std::printf("MISMATCH at byte offset %llu\n", static_cast<unsigned long long>(got));
      return 1;
    }
    got += static_cast<std::uint64_t>(n);
  }
  const double dt = now_s() - t0;
  std::printf("received %llu of %llu bytes intact in %.2f s (%.1f Mbit/s)\n",
              static_cast<unsigned long long>(got), static_cast<unsigned long long>(bytes), dt,
              dt > 0 ? static_cast<double>(got) * 8 / dt / 1e6 : 0.0);
  return got == bytes ? 0 : 1;
}

int tcp_send(const char* ip, int port, std::uint64_t bytes, std::uint64_t seed) {
  sockaddr_storage ss;
  socklen_t len;
  if (!make_addr(ip, port, ss, len)) return 2;
  int s = -1;
  for (int attempt = 0; attempt < 50; ++attempt) {  // the receiver may still be starting
    s = socket(ss.ss_family, SOCK_STREAM, 0);
    if (connect(s, reinterpret_cast<sockaddr*>(&ss), len) == 0) break;
    close(s);
    s = -1;
    usleep(100000);
  }
  if (s < 0) {
    std::perror("tcp-send: connect");
    return 2;
  }
  Stream gen(seed);
  std::vector<std::uint8_t> buf(1 << 16);
  std::uint64_t sent = 0;
  while (sent < bytes) {
    const std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(buf.size(), bytes - sent));
    gen.fill(buf.data(), n);
    std::size_t off = 0;
    while (off < n) {
      ssize_t w = write(s, buf.data() + off, n - off);
      if (w <= 0) {
        std::perror("tcp-send: write");
        return 1;
      }
      off += static_cast<std::size_t>(w);
    }
    sent += n;
  }
  shutdown(s, SHUT_WR);
  char tmp;
  while (read(s, &tmp, 1) > 0) {
  }
  close(s);
  return 0;
}

// Datagrams that are not valid GRE-in-UDP, one of each kind the decapsulator rejects.
std::vector<std::uint8_t> garbage_datagram(unsigned i, Stream& rnd) {
  std::vector<std::uint8_t> d;
  std::uint8_t r[64];
  rnd.fill(r, sizeof r);
  switch (i % 8) {
    case 0: d.assign(r, r + (r[0] % 4)); break;                         // too short
    case 1: d = {0x00, 0x01, 0x08, 0x00}; d.insert(d.end(), r, r + 40); break;  // version 1
    case 2: d = {0x40, 0x00, 0x08, 0x00}; d.insert(d.end(), r, r + 40); break;  // reserved bit
    case 3: d = {0x00, 0x00, 0x12, 0x34}; d.insert(d.end(), r, r + 40); break;  // protocol
    case 4: d = {0x80, 0x00, 0x08, 0x00, 0xde, 0xad, 0, 0}; d.insert(d.end(), r, r + 40); break;
    case 5: {  // inner length mismatch: IPv4 header claiming 1000 bytes
      d = {0x00, 0x00, 0x08, 0x00, 0x45, 0, 0x03, 0xe8};
      d.insert(d.end(), r, r + 32);
      break;
    }
    case 6: d = {0x00, 0x00, 0x86, 0xdd, 0x45}; d.insert(d.end(), r, r + 50); break;  // v4 as v6
    default: d.assign(r, r + 16 + r[1] % 48); break;                     // random bytes
  }
  return d;
}

int garbage(const char* src, const char* dst, int port, long count) {
  sockaddr_storage from, to;
  socklen_t flen, tlen;
  if (!make_addr(src, 0, from, flen) || !make_addr(dst, port, to, tlen)) return 2;
  int s = socket(to.ss_family, SOCK_DGRAM, 0);
  if (bind(s, reinterpret_cast<sockaddr*>(&from), flen) < 0) {
    std::perror("garbage: bind");
    return 2;
  }
  Stream rnd(42);
  long sent = 0;
  for (long i = 0; i < count; ++i) {
    auto d = garbage_datagram(static_cast<unsigned>(i), rnd);
    if (sendto(s, d.data(), d.size(), 0, reinterpret_cast<sockaddr*>(&to), tlen) >= 0) ++sent;
    if (i % 64 == 63) usleep(1000);
  }
  std::printf("sent %ld garbage datagrams\n", sent);
  return 0;
}

// Control messages (GRE protocol 0x88B5) that must all be rejected: random MACs on a
// well-formed header, truncations, bad versions and types, wrong length fields, and exact
// replays of one forged message.
int forge_control(const char* src, const char* dst, int port, long count) {
  sockaddr_storage from, to;
  socklen_t flen, tlen;
  if (!make_addr(src, 0, from, flen) || !make_addr(dst, port, to, tlen)) return 2;
  int s = socket(to.ss_family, SOCK_DGRAM, 0);
  if (bind(s, reinterpret_cast<sockaddr*>(&from), flen) < 0) {
    std::perror("forge-control: bind");
    return 2;
  }
  Stream rnd(7);
  long sent = 0;
  for (long i = 0; i < count; ++i) {
    std::uint8_t d[4 + 24 + 36 + 32];
    rnd.fill(d, sizeof d);
    d[0] = 0; d[1] = 0; d[2] = 0x88; d[3] = 0xB5;    // GRE, protocol 0x88B5
    std::uint8_t* m = d + 4;
    m[0] = 1;                                         // version
    m[1] = 3;                                         // PROBE
    m[2] = 0; m[3] = 36;                              // body length
    std::size_t len = sizeof d;
    switch (i % 5) {
      case 0: break;                                  // random MAC
      case 1: len = 4 + (static_cast<std::size_t>(i) % 60); break;  // truncated
      case 2: m[0] = 9; break;                        // bad version
      case 3: m[1] = 77; break;                       // unknown type
      default: m[3] = 35; break;                      // wrong body length
    }
    if (sendto(s, d, len, 0, reinterpret_cast<sockaddr*>(&to), tlen) >= 0) ++sent;
    if (i % 64 == 63) usleep(2000);
  }
  std::printf("sent %ld forged control messages\n", sent);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string cmd = argc > 1 ? argv[1] : "";
  if ((cmd == "tcp-recv" || cmd == "tcp-send") && argc == 6) {
    const std::uint64_t bytes = std::strtoull(argv[4], nullptr, 10);
    const std::uint64_t seed = std::strtoull(argv[5], nullptr, 10);
    return cmd == "tcp-recv" ? tcp_recv(argv[2], std::atoi(argv[3]), bytes, seed)
                             : tcp_send(argv[2], std::atoi(argv[3]), bytes, seed);
  }
  if (cmd == "forge-control" && argc == 6) {
    return forge_control(argv[2], argv[3], std::atoi(argv[4]), std::atol(argv[5]));
  }
  if (cmd == "garbage" && argc == 6) {
    return garbage(argv[2], argv[3], std::atoi(argv[4]), std::atol(argv[5]));
  }
  std::fprintf(stderr,
               "usage: mpt-testtool tcp-recv|tcp-send ADDR PORT BYTES SEED\n"
               "       mpt-testtool garbage SRC DST PORT COUNT\n"
               "       mpt-testtool forge-control SRC DST PORT COUNT\n");
  return 2;
}
