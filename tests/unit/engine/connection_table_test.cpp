#include "engine/connection_table.h"

#include <arpa/inet.h>
#include <sys/socket.h>

#include <catch2/catch.hpp>
#include <cstring>
#include <vector>

using mpt::engine::ConnectionTable;
using mpt::engine::IpNet;

namespace {

IpNet net(const char* addr, int len) {
  IpNet n;
  n.prefix_len = len;
  if (inet_pton(AF_INET, addr, &n.addr.v4) == 1) {
    n.addr.family = AF_INET;
  } else {
    REQUIRE(inet_pton(AF_INET6, addr, &n.addr.v6) == 1);
    n.addr.family = AF_INET6;
  }
  return n;
}

// A minimal IP header with the given destination.
std::vector<std::uint8_t> packet_to(const char* dst) {
  std::vector<std::uint8_t> p;
  std::uint8_t a[16];
  if (inet_pton(AF_INET, dst, a) == 1) {
    p.assign(20, 0);
    p[0] = 0x45;
    std::memcpy(&p[16], a, 4);
  } else {
    REQUIRE(inet_pton(AF_INET6, dst, a) == 1);
    p.assign(40, 0);
    p[0] = 0x60;
    std::memcpy(&p[24], a, 16);
  }
  return p;
}

}  // namespace

TEST_CASE("The connection table picks the longest matching prefix of the destination",
          "[connection_table]") {
  ConnectionTable t;
  t.add(net("10.201.0.2", 32), 0);       // peer tunnel address of connection 0
  t.add(net("10.201.0.3", 32), 1);       // peer tunnel address of connection 1
  t.add(net("21.1.0.0", 16), 0);         // [net_0] of connection 0
  t.add(net("21.1.1.0", 24), 1);         // a more specific [net_N] of connection 1
  t.add(net("0.0.0.0", 0), 2);           // default route through connection 2
  t.add(net("fd00:201::2", 128), 0);
  t.add(net("2001:db8::", 32), 1);
  t.set_only_connection(-1);
  CHECK(t.lookup(packet_to("10.201.0.2")) == 0);
  CHECK(t.lookup(packet_to("10.201.0.3")) == 1);
  CHECK(t.lookup(packet_to("21.1.7.9")) == 0);
  CHECK(t.lookup(packet_to("21.1.1.9")) == 1);
  CHECK(t.lookup(packet_to("8.8.8.8")) == 2);
  CHECK(t.lookup(packet_to("fd00:201::2")) == 0);
  CHECK(t.lookup(packet_to("2001:db8:1::5")) == 1);
  CHECK(t.lookup(packet_to("2001:db9::5")) == -1);  // no IPv6 default route
}

TEST_CASE("The connection table answers 0 for a single connection and -1 for junk",
          "[connection_table]") {
  ConnectionTable single;
  single.add(net("10.201.0.2", 32), 0);
  single.set_only_connection(0);
  CHECK(single.lookup(packet_to("192.0.2.1")) == 0);  // one connection: no lookup at all
  single.set_only_connection(2);  // a reload left connection slot 2 as the only one
  CHECK(single.lookup(packet_to("192.0.2.1")) == 2);

  ConnectionTable two;
  two.add(net("10.201.0.2", 32), 0);
  two.add(net("10.201.0.3", 32), 1);
  two.set_only_connection(-1);
  const std::vector<std::uint8_t> empty;
  CHECK(two.lookup(empty) == -1);
  std::vector<std::uint8_t> short_v4(10, 0x45);
  CHECK(two.lookup(short_v4) == -1);
  std::vector<std::uint8_t> not_ip(60, 0x20);
  CHECK(two.lookup(not_ip) == -1);
}

namespace {

// A minimal IP header with the given source (the destination left zero).
std::vector<std::uint8_t> packet_from(const char* src) {
  std::vector<std::uint8_t> p;
  std::uint8_t a[16];
  if (inet_pton(AF_INET, src, a) == 1) {
    p.assign(20, 0);
    p[0] = 0x45;
    std::memcpy(&p[12], a, 4);
  } else {
    REQUIRE(inet_pton(AF_INET6, src, a) == 1);
    p.assign(40, 0);
    p[0] = 0x60;
    std::memcpy(&p[8], a, 16);
  }
  return p;
}

}  // namespace

TEST_CASE("lookup_source matches the source address by prefix, even with one connection",
          "[connection_table]") {
  ConnectionTable t;
  t.add(net("10.201.0.2", 32), 0);
  t.add(net("192.168.50.0", 24), 0);
  t.add(net("fd00:201::", 64), 0);
  t.add(net("192.168.60.0", 24), 1);
  t.set_only_connection(0);  // the destination shortcut must not apply to sources
  CHECK(t.lookup_source(packet_from("10.201.0.2")) == 0);
  CHECK(t.lookup_source(packet_from("192.168.50.77")) == 0);
  CHECK(t.lookup_source(packet_from("fd00:201::2")) == 0);
  CHECK(t.lookup_source(packet_from("192.168.60.1")) == 1);
  CHECK(t.lookup_source(packet_from("10.201.0.3")) == -1);
  CHECK(t.lookup_source(packet_from("192.0.2.77")) == -1);
  CHECK(t.lookup_source(packet_from("fd00:202::2")) == -1);
  // The destination is not what counts.
  auto p = packet_from("192.0.2.77");
  std::memset(&p[16], 0, 4);
  p[16] = 10; p[17] = 201; p[19] = 2;
  CHECK(t.lookup_source(p) == -1);
  // Too short or not IP: no match.
  CHECK(t.lookup_source(std::vector<std::uint8_t>(19, 0x45)) == -1);
  CHECK(t.lookup_source(std::vector<std::uint8_t>(40, 0x20)) == -1);
}
