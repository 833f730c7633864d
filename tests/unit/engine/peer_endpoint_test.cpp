// PeerEndpoint (engine/peer_endpoint.h): a path's peer address, written by the control thread
// while the data plane reads it.
#include "engine/peer_endpoint.h"

#include <arpa/inet.h>

#include <catch2/catch.hpp>

#include <atomic>
#include <thread>

using mpt::engine::PeerEndpoint;
using mpt::engine::same_endpoint;

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

sockaddr_storage v6(const char* ip, std::uint16_t port, socklen_t& len) {
  sockaddr_storage a{};
  auto& s = reinterpret_cast<sockaddr_in6&>(a);
  s.sin6_family = AF_INET6;
  s.sin6_port = htons(port);
  s.sin6_scope_id = 7;
  REQUIRE(inet_pton(AF_INET6, ip, &s.sin6_addr) == 1);
  len = sizeof(sockaddr_in6);
  return a;
}

const sockaddr* sa(const sockaddr_storage& a) { return reinterpret_cast<const sockaddr*>(&a); }

}  // namespace

TEST_CASE("PeerEndpoint keeps IPv4 and IPv6 addresses with their ports; unknown is length 0",
          "[peer_endpoint]") {
  PeerEndpoint e;
  sockaddr_storage out;
  CHECK(e.load(out) == 0);
  socklen_t l4, l6;
  const auto a4 = v4("172.16.1.1", 50123, l4);
  const auto a6 = v6("2001:db8::1", 4754, l6);
  const auto v0 = e.version();
  e.store(a4, l4);
  CHECK(e.version() != v0);
  REQUIRE(e.load(out) == l4);
  CHECK(same_endpoint(sa(out), l4, a4, l4));
  e.store(a6, l6);
  REQUIRE(e.load(out) == l6);
  CHECK(same_endpoint(sa(out), l6, a6, l6));
  CHECK_FALSE(same_endpoint(sa(out), l6, a4, l4));
  e.store(a6, 0);
  CHECK(e.load(out) == 0);
  CHECK_FALSE(same_endpoint(sa(a4), l4, out, 0));  // unknown never matches
}

TEST_CASE("same_endpoint compares the port too (a NAT's new mapping is a new endpoint)",
          "[peer_endpoint]") {
  socklen_t l;
  const auto a = v4("172.16.1.1", 4754, l);
  const auto b = v4("172.16.1.1", 50000, l);
  const auto c = v4("172.16.1.2", 4754, l);
  CHECK(same_endpoint(sa(a), l, a, l));
  CHECK_FALSE(same_endpoint(sa(a), l, b, l));
  CHECK_FALSE(same_endpoint(sa(a), l, c, l));
}

TEST_CASE("A reader never sees half of a change (seqlock under a writer that keeps moving)",
          "[peer_endpoint]") {
  // The writer alternates between two endpoints; every load must be exactly one of them.
  socklen_t l4, l6;
  const auto a = v4("10.1.1.2", 4754, l4);
  const auto b = v6("fd00::99", 60001, l6);
  PeerEndpoint e(a, l4);
  std::atomic<bool> stop{false};
  std::thread writer([&] {
    for (int i = 0; i < 200000; ++i) {
      if (i % 2) e.store(a, l4); else e.store(b, l6);
    }
    stop = true;
  });
  long torn = 0, loads = 0;
  while (!stop.load()) {
    sockaddr_storage out;
    const socklen_t n = e.load(out);
    ++loads;
    if (!(same_endpoint(sa(out), n, a, l4) || same_endpoint(sa(out), n, b, l6))) ++torn;
  }
  writer.join();
  INFO(loads << " loads");
  CHECK(torn == 0);
}
