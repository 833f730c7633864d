#include "cli/tunnel_mtu.h"

#include <netinet/in.h>

#include <catch2/catch.hpp>
#include <map>

namespace mpt::cli {
namespace {

engine::PathSpec path(const std::string& name, const std::string& ifname, int family, int conn = 0) {
  engine::PathSpec p;
  p.name = name;
  p.interface_name = ifname;
  p.connection = conn;
  p.local.ss_family = static_cast<sa_family_t>(family);
  p.local_len = family == AF_INET6 ? sizeof(sockaddr_in6) : sizeof(sockaddr_in);
  return p;
}

engine::ConnectionSpec plain_multipath() {
  engine::ConnectionSpec c;
  c.sequence_numbers = true;
  return c;
}

}  // namespace

TEST_CASE("tunnel mtu: what the wire adds per packet", "[tunnel_mtu]") {
  engine::ConnectionSpec c = plain_multipath();
  // IPv4 20 + UDP 8 + GRE 4 + sequence number 4.
  CHECK(data_overhead(c, AF_INET, 1) == 36);
  CHECK(data_overhead(c, AF_INET6, 1) == 56);
  // Several queues: plain data says its sequence space in the GRE key.
  CHECK(data_overhead(c, AF_INET, 2) == 40);
  c.gre_key = 7;
  CHECK(data_overhead(c, AF_INET, 1) == 40);
  c.gre_checksum = true;
  CHECK(data_overhead(c, AF_INET, 1) == 44);
  // Sealed: the 8-byte sealed header and the 16-byte tag; the space is in the sealed header.
  engine::ConnectionSpec s = plain_multipath();
  s.sealed = true;
  CHECK(data_overhead(s, AF_INET, 1) == 60);
  CHECK(data_overhead(s, AF_INET, 4) == 60);
  // One path without a reorder window: no sequence number.
  engine::ConnectionSpec single;
  CHECK(data_overhead(single, AF_INET, 1) == 32);
}

TEST_CASE("tunnel mtu: the largest inner packet every path carries", "[tunnel_mtu]") {
  engine::TunnelSpec spec;
  spec.connections.push_back(plain_multipath());
  engine::ConnectionSpec sealed = plain_multipath();
  sealed.sealed = true;
  spec.connections.push_back(sealed);
  spec.paths.push_back(path("a/path_0", "eth0", AF_INET));
  spec.paths.push_back(path("a/path_1", "wlan0", AF_INET));
  std::map<std::string, int> links{{"eth0", 1500}, {"wlan0", 1500}, {"lte0", 1428}};
  const auto lookup = [&](const std::string& n) -> std::optional<int> {
    const auto it = links.find(n);
    if (it == links.end()) return std::nullopt;
    return it->second;
  };

  SECTION("plain IPv4 over 1500-byte links: 1464") {
    const AutoMtu m = auto_tunnel_mtu(spec, 1, lookup, 576, 9000);
    CHECK(m.mtu == 1464);
    CHECK(m.limited_by == "a/path_0 (eth0 mtu 1500, overhead 36)");
  }
  SECTION("the smallest path decides") {
    spec.paths.push_back(path("a/path_2", "lte0", AF_INET));
    CHECK(auto_tunnel_mtu(spec, 1, lookup, 576, 9000).mtu == 1428 - 36);
  }
  SECTION("a sealed connection's path and an IPv6 path need more room") {
    spec.paths.push_back(path("b/path_0", "eth0", AF_INET, 1));
    CHECK(auto_tunnel_mtu(spec, 1, lookup, 576, 9000).mtu == 1440);
    spec.paths.back() = path("a/path_3", "wlan0", AF_INET6);
    CHECK(auto_tunnel_mtu(spec, 1, lookup, 576, 9000).mtu == 1444);
  }
  SECTION("freed slots, waiting paths and unknown interfaces do not count") {
    spec.paths.push_back(path("a/path_2", "lte0", AF_INET));
    spec.paths.back().active = false;
    spec.paths.push_back(path("a/path_3", "ppp0", AF_INET));  // not there
    spec.paths.push_back(path("a/path_4", "lte0", AF_INET));
    spec.paths.back().local_len = 0;  // waits for its address
    CHECK(auto_tunnel_mtu(spec, 1, lookup, 576, 9000).mtu == 1464);
  }
  SECTION("no interface known: the fallback; the result stays within the bounds") {
    links.clear();
    const AutoMtu m = auto_tunnel_mtu(spec, 1, lookup, 576, 9000);
    CHECK(m.mtu == kFallbackMtu);
    CHECK(m.limited_by.empty());
    links = {{"eth0", 65536}, {"wlan0", 65536}};  // loopback-like
    CHECK(auto_tunnel_mtu(spec, 1, lookup, 576, 9000).mtu == 9000);
    links = {{"eth0", 1300}, {"wlan0", 1300}};
    CHECK(auto_tunnel_mtu(spec, 1, lookup, 1280, 9000).mtu == 1280);
  }
}

TEST_CASE("tunnel mtu: the kernel's interface MTU", "[tunnel_mtu]") {
  CHECK(interface_mtu("lo").value_or(0) > 0);
  CHECK_FALSE(interface_mtu("no-such-if0").has_value());
  CHECK_FALSE(interface_mtu("").has_value());
}

}  // namespace mpt::cli
