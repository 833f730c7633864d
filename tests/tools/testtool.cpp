// mpt-testtool: small traffic helpers for the integration tests and mpt-bench.
//
//   mpt-testtool tcp-recv ADDR PORT BYTES SEED   accept one TCP connection, read BYTES and
//                                               check them against the seeded byte stream
//   mpt-testtool tcp-send ADDR PORT BYTES SEED   connect and send BYTES of that stream
//   mpt-testtool garbage SRC DST PORT COUNT      send COUNT malformed GRE-in-UDP datagrams
//                                               from SRC (any port) to DST:PORT
//   (more modes for floods, spoofing and bursts below; `mpt-testtool` prints them all)
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
#include <cerrno>
#include <cstring>
#include <string>
#include <vector>

#include "engine/checksum.h"
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

// capture-control: for SECONDS, records every datagram of protocol 0x88B5 (GRE-in-UDP: mpt's
// control messages, and on a keyed connection its sealed data and repair requests) that arrives in this namespace at UDP port PORT (IPv4, raw socket:
// a copy, the daemon still gets it). FILE gets one line per datagram: source address,
// destination address, hex of the UDP payload.
int capture_control(int port, double seconds, const char* file) {
  int s = socket(AF_INET, SOCK_RAW, IPPROTO_UDP);
  if (s < 0) {
    std::perror("capture-control: socket");
    return 2;
  }
  timeval tv{0, 100000};
  setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  std::FILE* out = std::fopen(file, "w");
  if (!out) return 2;
  const auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  long n = 0;
  std::uint8_t buf[65536];
  while (std::chrono::steady_clock::now() < end) {
    const ssize_t r = recv(s, buf, sizeof buf, 0);
    if (r < 20) continue;
    const std::size_t ihl = static_cast<std::size_t>(buf[0] & 0x0F) * 4;
    if (static_cast<std::size_t>(r) < ihl + 8 + 4) continue;
    const std::uint8_t* udp = buf + ihl;
    if (((udp[2] << 8) | udp[3]) != port) continue;
    const std::uint8_t* gre = udp + 8;
    if (gre[2] != 0x88 || gre[3] != 0xB5) continue;  // any C/K/S options
    char src[INET_ADDRSTRLEN], dst[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, buf + 12, src, sizeof src);
    inet_ntop(AF_INET, buf + 16, dst, sizeof dst);
    std::fprintf(out, "%s %s ", src, dst);
    for (const std::uint8_t* q = gre; q < buf + r; ++q) std::fprintf(out, "%02x", *q);
    std::fprintf(out, "\n");
    ++n;
  }
  std::fclose(out);
  std::printf("captured %ld control datagrams\n", n);
  return 0;
}

// replay-control: sends the datagrams of a capture-control FILE whose destination is ONLY_DST
// ("any" for all) from SRC (any port) to DST:PORT, after MUTATION: "none" (exact replay),
// "flip" (one byte of the body changed), "truncate" (the last 5 bytes cut off).
int replay_control(const char* file, const char* only_dst, const char* src, const char* dst,
                   int port, const char* mutation) {
  sockaddr_storage from, to;
  socklen_t flen, tlen;
  if (!make_addr(src, 0, from, flen) || !make_addr(dst, port, to, tlen)) return 2;
  int s = socket(to.ss_family, SOCK_DGRAM, 0);
  if (bind(s, reinterpret_cast<sockaddr*>(&from), flen) < 0) {
    std::perror("replay-control: bind");
    return 2;
  }
  std::FILE* in = std::fopen(file, "r");
  if (!in) return 2;
  char a[64], b[64];
  static char hex[140000];
  long sent = 0;
  while (std::fscanf(in, "%63s %63s %139999s", a, b, hex) == 3) {
    if (std::strcmp(only_dst, "any") != 0 && std::strcmp(only_dst, b) != 0) continue;
    std::vector<std::uint8_t> d(std::strlen(hex) / 2);
    for (std::size_t i = 0; i < d.size(); ++i) {
      unsigned v = 0;
      std::sscanf(hex + 2 * i, "%2x", &v);
      d[i] = static_cast<std::uint8_t>(v);
    }
    if (std::strcmp(mutation, "flip") == 0 && d.size() > 40) d[40] ^= 0x01;
    if (std::strcmp(mutation, "truncate") == 0 && d.size() > 5) d.resize(d.size() - 5);
    if (sendto(s, d.data(), d.size(), 0, reinterpret_cast<sockaddr*>(&to), tlen) >= 0) ++sent;
    usleep(2000);
  }
  std::fclose(in);
  std::printf("replayed %ld control datagrams\n", sent);
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

// A raw IPv4 socket for spoofed datagrams (IP_HDRINCL); -1 after saying why.
int raw_socket(const char* who) {
  const int fd = socket(AF_INET, SOCK_RAW, IPPROTO_RAW);
  if (fd < 0) std::fprintf(stderr, "%s: raw socket: %s\n", who, std::strerror(errno));
  return fd;
}

// The outer IPv4 and UDP headers of a spoofed datagram of `len` bytes in pkt (the kernel
// fills in the IP id and checksum; UDP checksum 0).
void outer_headers(std::uint8_t* pkt, std::size_t len, in_addr src, in_addr dst, int sport,
                   int dport) {
  pkt[0] = 0x45;
  pkt[2] = static_cast<std::uint8_t>(len >> 8);
  pkt[3] = static_cast<std::uint8_t>(len);
  pkt[8] = 64;
  pkt[9] = 17;
  std::memcpy(pkt + 12, &src, 4);
  std::memcpy(pkt + 16, &dst, 4);
  std::uint8_t* u = pkt + 20;
  u[0] = static_cast<std::uint8_t>(sport >> 8);
  u[1] = static_cast<std::uint8_t>(sport);
  u[2] = static_cast<std::uint8_t>(dport >> 8);
  u[3] = static_cast<std::uint8_t>(dport);
  u[4] = static_cast<std::uint8_t>((len - 20) >> 8);
  u[5] = static_cast<std::uint8_t>(len - 20);
}

// A flood of well-formed control messages (GRE protocol 0x88B5, version 1, a PROBE header,
// random session, counter and MAC) spoofed from SRC:SPORT -- the peer's own address and port,
// which the receiving path accepts -- for SECONDS at RATE per second (0: as fast as one raw
// socket sends; IPv4, IP_HDRINCL; UDP checksum 0). Prints how many it sent.
int flood_control(const char* src, int sport, const char* dst, int dport, double seconds,
                  double rate) {
  in_addr s{}, d{};
  if (inet_pton(AF_INET, src, &s) != 1 || inet_pton(AF_INET, dst, &d) != 1) return 2;
  const int fd = raw_socket("flood-control");
  if (fd < 0) return 2;
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_addr = d;
  constexpr std::size_t kBody = 36, kMsg = 24 + kBody + 32, kLen = 20 + 8 + 4 + kMsg;
  std::uint8_t pkt[kLen] = {};
  outer_headers(pkt, kLen, s, d, sport, dport);
  std::uint8_t* g = pkt + 28;
  g[2] = 0x88;
  g[3] = 0xB5;
  std::uint8_t* m = g + 4;
  Stream rnd(11);
  long sent = 0;
  const auto start = std::chrono::steady_clock::now();
  const auto end = start + std::chrono::duration<double>(seconds);
  while (std::chrono::steady_clock::now() < end) {
    if (rate > 0) {  // paced: no more than `rate` per second so far
      const double elapsed =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      if (static_cast<double>(sent) >= rate * elapsed) {
        usleep(500);
        continue;
      }
    }
    for (int k = 0; k < (rate > 0 ? 16 : 256); ++k) {
      rnd.fill(m, kMsg);
      m[0] = 1;  // version
      m[1] = 3;  // PROBE
      m[2] = 0;
      m[3] = kBody;
      if (sendto(fd, pkt, kLen, 0, reinterpret_cast<sockaddr*>(&to), sizeof to) >= 0) ++sent;
    }
  }
  std::printf("sent %ld control messages in %.1f s (%.0f per second)\n", sent, seconds,
              static_cast<double>(sent) / seconds);
  close(fd);
  return 0;
}

// A garbage flood as fast as one raw socket sends (sendmmsg, 64 per call), spoofed from
// SRC:SPORT to DST:DPORT for SECONDS: every kind of malformed GRE-in-UDP of garbage_datagram(),
// well-formed GRE data under a key the receiver does not use, and junk control messages, in
// turn (IPv4, IP_HDRINCL; UDP checksum 0; TOS kFloodTos, so that a test's qdisc can let the
// flood past a path's rate limit). Prints how many it sent and the rate.
constexpr std::uint8_t kFloodTos = 0x04;
int flood_garbage(const char* src, int sport, const char* dst, int dport, double seconds) {
  in_addr s{}, d{};
  if (inet_pton(AF_INET, src, &s) != 1 || inet_pton(AF_INET, dst, &d) != 1) return 2;
  const int fd = raw_socket("flood-garbage");
  if (fd < 0) return 2;
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_addr = d;
  constexpr std::size_t kKinds = 256, kBatch = 64;
  std::vector<std::vector<std::uint8_t>> pkts;
  Stream rnd(7);
  for (unsigned i = 0; i < kKinds; ++i) {
    std::vector<std::uint8_t> body;
    if (i % 10 < 8) {
      body = garbage_datagram(i, rnd);
    } else if (i % 10 == 8) {  // GRE data with key 0xdeadbeef and a sequence number
      body = {0x30, 0x00, 0x08, 0x00, 0xde, 0xad, 0xbe, 0xef, 0, 0, 0, static_cast<std::uint8_t>(i)};
      std::uint8_t ip[28] = {0x45, 0, 0, 28, 0, 0, 0, 0, 64, 17};
      body.insert(body.end(), ip, ip + sizeof ip);
    } else {  // a control message of a stranger session
      body = {0x00, 0x00, 0x88, 0xB5, 1, 3, 0, 36};
      std::uint8_t r[24 - 4 + 36 + 32];
      rnd.fill(r, sizeof r);
      body.insert(body.end(), r, r + sizeof r);
    }
    std::vector<std::uint8_t> pkt(28 + body.size(), 0);
    outer_headers(pkt.data(), pkt.size(), s, d, sport, dport);
    pkt[1] = kFloodTos;
    if (!body.empty()) std::memcpy(pkt.data() + 28, body.data(), body.size());
    pkts.push_back(std::move(pkt));
  }
  std::vector<iovec> iov(kBatch);
  std::vector<mmsghdr> msgs(kBatch);
  long sent = 0;
  unsigned next = 0;
  const auto start = std::chrono::steady_clock::now();
  const auto end = start + std::chrono::duration<double>(seconds);
  while (std::chrono::steady_clock::now() < end) {
    for (std::size_t k = 0; k < kBatch; ++k, ++next) {
      std::vector<std::uint8_t>& p = pkts[next % kKinds];
      iov[k] = {p.data(), p.size()};
      msgs[k] = {};
      msgs[k].msg_hdr.msg_name = &to;
      msgs[k].msg_hdr.msg_namelen = sizeof to;
      msgs[k].msg_hdr.msg_iov = &iov[k];
      msgs[k].msg_hdr.msg_iovlen = 1;
    }
    const int n = sendmmsg(fd, msgs.data(), kBatch, 0);
    if (n > 0) sent += n;
  }
  const double took = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("sent %ld garbage datagrams in %.1f s (%.0f per second)\n", sent, took,
              static_cast<double>(sent) / took);
  close(fd);
  return 0;
}

// Data datagrams that a reorder stage must hold, each carrying one inner IPv4 packet of
// INNER bytes (above the receiver's MTU: a peer with a larger MTU, or a spoofer), spoofed from
// SRC:SPORT: GRE with a sequence number, every third number left out so that the ones after
// each gap wait. COUNT datagrams, about 2000 per second. With SRC2 and DST2 (a second path),
// a small datagram with the first number goes that way every 8 datagrams: that path then has
// not passed the gaps, so they wait up to the receiver's max delay.
int flood_oversized(const char* src, int sport, const char* dst, int dport, long count, int inner,
                    const char* src2, const char* dst2) {
  in_addr s{}, d{}, s2{}, d2{};
  if (inet_pton(AF_INET, src, &s) != 1 || inet_pton(AF_INET, dst, &d) != 1) return 2;
  const bool second = src2 && dst2;
  if (second && (inet_pton(AF_INET, src2, &s2) != 1 || inet_pton(AF_INET, dst2, &d2) != 1)) return 2;
  if (inner < 28 || inner > 60000) return 2;
  const int fd = raw_socket("flood-oversized");
  if (fd < 0) return 2;
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_addr = d;
  const std::size_t len = 20 + 8 + 8 + static_cast<std::size_t>(inner);
  std::vector<std::uint8_t> pkt(len, 0);
  outer_headers(pkt.data(), len, s, d, sport, dport);
  std::uint8_t* g = &pkt[28];
  g[0] = 0x10;  // S: sequence number present
  g[2] = 0x08;  // IPv4
  std::uint8_t* ip = g + 8;  // inner: UDP 10.9.9.9 -> 10.9.9.8, total length `inner`
  ip[0] = 0x45;
  ip[2] = static_cast<std::uint8_t>(inner >> 8);
  ip[3] = static_cast<std::uint8_t>(inner);
  ip[8] = 64;
  ip[9] = 17;
  ip[12] = 10; ip[13] = 9; ip[14] = 9; ip[15] = 9;
  ip[16] = 10; ip[17] = 9; ip[18] = 9; ip[19] = 8;
  // The small datagram for the second path: same headers, 28-byte inner packet.
  std::vector<std::uint8_t> small(pkt.begin(), pkt.begin() + 20 + 8 + 8 + 28);
  if (second) {
    std::memcpy(&small[12], &s2, 4);
    std::memcpy(&small[16], &d2, 4);
    small[2] = 0;
    small[3] = static_cast<std::uint8_t>(small.size());
    small[20 + 4] = 0;
    small[20 + 5] = static_cast<std::uint8_t>(small.size() - 20);
    small[20 + 8 + 8 + 2] = 0;
    small[20 + 8 + 8 + 3] = 28;
  }
  sockaddr_in to2 = to;
  to2.sin_addr = d2;
  const auto put_seq = [](std::uint8_t* gre, std::uint32_t v) {
    gre[4] = static_cast<std::uint8_t>(v >> 24);
    gre[5] = static_cast<std::uint8_t>(v >> 16);
    gre[6] = static_cast<std::uint8_t>(v >> 8);
    gre[7] = static_cast<std::uint8_t>(v);
  };
  long sent = 0;
  const std::uint32_t first = 0x40000000;
  std::uint32_t seq = first;
  for (long i = 0; i < count; ++i) {
    if (i > 0 && i % 2 == 0) ++seq;  // a gap before every other datagram
    put_seq(g, seq++);
    if (sendto(fd, pkt.data(), len, 0, reinterpret_cast<sockaddr*>(&to), sizeof to) >= 0) ++sent;
    if (second && i % 8 == 0) {
      put_seq(&small[28], first);
      (void)sendto(fd, small.data(), small.size(), 0, reinterpret_cast<sockaddr*>(&to2), sizeof to2);
    }
    if (i % 16 == 15) usleep(8000);
  }
  std::printf("sent %ld datagrams with %d-byte inner packets\n", sent, inner);
  close(fd);
  return 0;
}

// An inner IPv4/UDP datagram with 100 zero bytes of payload (128 bytes in all) at `ip`:
// src -> dst:uport from port 12345, a valid IPv4 header checksum, UDP checksum 0.
constexpr std::size_t kInnerUdpBytes = 20 + 8 + 100;
void write_inner_udp(std::uint8_t* ip, const in_addr& src, const in_addr& dst, int uport) {
  std::memset(ip, 0, kInnerUdpBytes);
  ip[0] = 0x45;
  ip[2] = kInnerUdpBytes >> 8;
  ip[3] = kInnerUdpBytes & 0xff;
  ip[8] = 64;
  ip[9] = 17;
  std::memcpy(ip + 12, &src, 4);
  std::memcpy(ip + 16, &dst, 4);
  mpt::engine::csum::fix_ipv4_header(ip);
  std::uint8_t* udp = ip + 20;
  udp[0] = 0x30;
  udp[1] = 0x39;
  udp[2] = static_cast<std::uint8_t>(uport >> 8);
  udp[3] = static_cast<std::uint8_t>(uport);
  udp[5] = 108;
}

// COUNT inner UDP datagrams (INNER_SRC -> INNER_DST:UPORT, 100 bytes of payload, valid IPv4
// header checksum, UDP checksum 0) that a reorder stage holds and then releases all at once:
// spoofed from the peer's paths (raw socket, SRC:SPORT -> DST:DPORT on path 1, SRC2 -> DST2 on
// path 2). Path 2 first brings number N (and then again now and then), path 1 brings N + 2 ..
// N + 1 + COUNT: the gap at N + 1, which path 2 has not passed, holds them all until the
// receiver's max delay.
int burst_udp(const char* src, int sport, const char* dst, int dport, const char* src2,
              const char* dst2, long count, const char* inner_src, const char* inner_dst, int uport) {
  in_addr s{}, d{}, s2{}, d2{}, is{}, id{};
  if (inet_pton(AF_INET, src, &s) != 1 || inet_pton(AF_INET, dst, &d) != 1 ||
      inet_pton(AF_INET, src2, &s2) != 1 || inet_pton(AF_INET, dst2, &d2) != 1 ||
      inet_pton(AF_INET, inner_src, &is) != 1 || inet_pton(AF_INET, inner_dst, &id) != 1) {
    return 2;
  }
  const int fd = raw_socket("burst-udp");
  if (fd < 0) return 2;
  constexpr std::size_t kLen = 20 + 8 + 8 + kInnerUdpBytes;
  std::uint8_t pkt[kLen] = {};
  outer_headers(pkt, kLen, s, d, sport, dport);  // addresses set per path in send_on
  std::uint8_t* g = pkt + 28;
  g[0] = 0x10;  // S
  g[2] = 0x08;  // IPv4
  write_inner_udp(g + 8, is, id, uport);
  const auto send_on = [&](int path, std::uint32_t seq) {
    std::memcpy(pkt + 12, path == 1 ? &s : &s2, 4);
    std::memcpy(pkt + 16, path == 1 ? &d : &d2, 4);
    g[4] = static_cast<std::uint8_t>(seq >> 24);
    g[5] = static_cast<std::uint8_t>(seq >> 16);
    g[6] = static_cast<std::uint8_t>(seq >> 8);
    g[7] = static_cast<std::uint8_t>(seq);
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_addr = path == 1 ? d : d2;
    return sendto(fd, pkt, kLen, 0, reinterpret_cast<sockaddr*>(&to), sizeof to) >= 0;
  };
  const std::uint32_t n = 0x50000000;
  long sent = 0;
  send_on(2, n);  // delivered: starts the receiver's numbering (or lands in its window)
  usleep(20000);
  for (long i = 0; i < count; ++i) {
    if (send_on(1, n + 2 + static_cast<std::uint32_t>(i))) ++sent;
    if (i % 64 == 63) {
      send_on(2, n);  // path 2 stays active, and behind the gap
      usleep(1000);
    }
  }
  std::printf("sent %ld inner UDP datagrams behind one gap\n", sent);
  close(fd);
  return 0;
}

// Counts UDP datagrams arriving on ADDR:PORT for SECONDS; prints the count.
// spoof-data: COUNT GRE-in-UDP data packets without a sequence number (a connection with one
// path and no reorder window takes them as they come), each an inner UDP datagram INNER_SRC
// -> INNER_DST:UPORT, sent from SRC (a normal UDP socket bound to that address: the peer's,
// in its own namespace) to DST:DPORT. What the inner source filter must judge.
int spoof_data(const char* src, const char* dst, int dport, const char* inner_src,
               const char* inner_dst, int uport, long count) {
  sockaddr_storage from, to;
  socklen_t flen, tlen;
  in_addr is{}, id{};
  if (!make_addr(src, 0, from, flen) || !make_addr(dst, dport, to, tlen) ||
      inet_pton(AF_INET, inner_src, &is) != 1 || inet_pton(AF_INET, inner_dst, &id) != 1) {
    return 2;
  }
  int s = socket(to.ss_family, SOCK_DGRAM, 0);
  if (bind(s, reinterpret_cast<sockaddr*>(&from), flen) < 0) {
    std::perror("spoof-data: bind");
    return 2;
  }
  std::uint8_t pkt[4 + kInnerUdpBytes] = {};
  pkt[2] = 0x08;  // GRE, IPv4, no options
  write_inner_udp(pkt + 4, is, id, uport);
  long sent = 0;
  for (long i = 0; i < count; ++i) {
    if (sendto(s, pkt, sizeof pkt, 0, reinterpret_cast<sockaddr*>(&to), tlen) >= 0) ++sent;
    usleep(1000);
  }
  std::printf("sent %ld data packets from inner source %s\n", sent, inner_src);
  close(s);
  return 0;
}

int udp_count(const char* addr, int port, double seconds) {
  sockaddr_storage ss;
  socklen_t len;
  if (!make_addr(addr, port, ss, len)) return 2;
  const int fd = socket(ss.ss_family, SOCK_DGRAM, 0);
  const int big = 8 << 20;
  setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &big, sizeof big);
  if (bind(fd, reinterpret_cast<sockaddr*>(&ss), len) < 0) {
    std::perror("udp-count: bind");
    return 2;
  }
  timeval tv{0, 100000};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  std::printf("listening\n");
  std::fflush(stdout);
  long got = 0;
  char buf[2048];
  const auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  while (std::chrono::steady_clock::now() < end) {
    if (recv(fd, buf, sizeof buf, 0) > 0) ++got;
  }
  std::printf("received %ld\n", got);
  close(fd);
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
  if (cmd == "flood-control" && (argc == 7 || argc == 8)) {
    return flood_control(argv[2], std::atoi(argv[3]), argv[4], std::atoi(argv[5]),
                         std::atof(argv[6]), argc == 8 ? std::atof(argv[7]) : 0);
  }
  if (cmd == "flood-oversized" && (argc == 8 || argc == 10)) {
    return flood_oversized(argv[2], std::atoi(argv[3]), argv[4], std::atoi(argv[5]),
                           std::atol(argv[6]), std::atoi(argv[7]), argc == 10 ? argv[8] : nullptr,
                           argc == 10 ? argv[9] : nullptr);
  }
  if (cmd == "burst-udp" && argc == 12) {
    return burst_udp(argv[2], std::atoi(argv[3]), argv[4], std::atoi(argv[5]), argv[6], argv[7],
                     std::atol(argv[8]), argv[9], argv[10], std::atoi(argv[11]));
  }
  if (cmd == "udp-count" && argc == 5) return udp_count(argv[2], std::atoi(argv[3]), std::atof(argv[4]));
  if (cmd == "flood-garbage" && argc == 7) {
    return flood_garbage(argv[2], std::atoi(argv[3]), argv[4], std::atoi(argv[5]), std::atof(argv[6]));
  }
  if (cmd == "spoof-data" && argc == 9) {
    return spoof_data(argv[2], argv[3], std::atoi(argv[4]), argv[5], argv[6], std::atoi(argv[7]),
                      std::atol(argv[8]));
  }
  if (cmd == "capture-control" && argc == 5) {
    return capture_control(std::atoi(argv[2]), std::atof(argv[3]), argv[4]);
  }
  if (cmd == "replay-control" && argc == 8) {
    return replay_control(argv[2], argv[3], argv[4], argv[5], std::atoi(argv[6]), argv[7]);
  }
  if (cmd == "garbage" && argc == 6) {
    return garbage(argv[2], argv[3], std::atoi(argv[4]), std::atol(argv[5]));
  }
  std::fprintf(stderr,
               "usage: mpt-testtool tcp-recv|tcp-send ADDR PORT BYTES SEED\n"
               "       mpt-testtool garbage SRC DST PORT COUNT\n"
               "       mpt-testtool forge-control SRC DST PORT COUNT\n"
               "       mpt-testtool flood-garbage SRC SPORT DST DPORT SECONDS\n"
               "       mpt-testtool flood-control SRC SPORT DST DPORT SECONDS [RATE]\n"
               "       mpt-testtool flood-oversized SRC SPORT DST DPORT COUNT INNER_BYTES [SRC2 DST2]\n"
               "       mpt-testtool burst-udp SRC SPORT DST DPORT SRC2 DST2 COUNT INNER_SRC INNER_DST UDP_PORT\n"
               "       mpt-testtool udp-count ADDR PORT SECONDS\n"
               "       mpt-testtool spoof-data SRC DST DPORT INNER_SRC INNER_DST UPORT COUNT\n"
               "       mpt-testtool capture-control PORT SECONDS FILE\n"
               "       mpt-testtool replay-control FILE ONLY_DST|any SRC DST PORT none|flip|truncate\n");
  return 2;
}
