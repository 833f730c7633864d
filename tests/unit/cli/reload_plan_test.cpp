#include "cli/reload_plan.h"

#include <arpa/inet.h>

#include <catch2/catch.hpp>

using mpt::cli::plan_reload;
using mpt::engine::ConnectionSpec;
using mpt::engine::PathSpec;
using mpt::engine::TunnelSpec;

namespace {

sockaddr_storage v4(const char* ip, std::uint16_t port, socklen_t& len) {
  sockaddr_storage ss{};
  auto* sin = reinterpret_cast<sockaddr_in*>(&ss);
  sin->sin_family = AF_INET;
  sin->sin_port = htons(port);
  inet_pton(AF_INET, ip, &sin->sin_addr);
  len = sizeof(sockaddr_in);
  return ss;
}

// A spec from a compact description: connections by name, each with (interface, local,
// remote) paths, numbered densely like build_tunnel_spec does.
struct P {
  const char* ifname;
  const char* local;
  const char* remote;
  std::uint32_t weight = 1;
};
TunnelSpec spec(const std::vector<std::pair<std::string, std::vector<P>>>& conns) {
  TunnelSpec t;
  t.flow_hash_seed = 42;
  for (const auto& [name, paths] : conns) {
    ConnectionSpec c;
    c.name = name;
    for (std::size_t i = 0; i < paths.size(); ++i) {
      PathSpec ps;
      ps.name = name + "/path_" + std::to_string(i);
      ps.connection = static_cast<int>(t.connections.size());
      ps.interface_name = paths[i].ifname;
      ps.local = v4(paths[i].local, 4754, ps.local_len);
      ps.remote = v4(paths[i].remote, 4754, ps.remote_len);
      ps.weight = paths[i].weight;
      c.paths.push_back(static_cast<int>(t.paths.size()));
      t.paths.push_back(ps);
    }
    t.connections.push_back(c);
  }
  return t;
}

}  // namespace

TEST_CASE("reload with the same configuration changes nothing and keeps every slot",
          "[reload]") {
  const TunnelSpec run = spec({{"a", {{"e0", "10.0.0.1", "10.0.0.2"}, {"e1", "10.0.1.1", "10.0.1.2"}}}});
  const auto plan = plan_reload(run, run);
  CHECK(plan.changes.empty());
  CHECK(plan.path_slot == std::vector<int>{0, 1});
  CHECK(plan.next.connections.at(0).paths == std::vector<int>{0, 1});
  CHECK(plan.next.flow_hash_seed == 42);
}

TEST_CASE("reload keeps the running MTU and queue count (a change needs a restart)",
          "[reload]") {
  TunnelSpec run = spec({{"a", {{"e0", "10.0.0.1", "10.0.0.2"}}}});
  run.mtu = 1400;
  run.queues = 2;
  TunnelSpec fresh = run;
  fresh.mtu = 1440;
  fresh.queues = 4;
  const auto plan = plan_reload(run, fresh);
  CHECK(plan.changes.empty());
  CHECK(plan.next.mtu == 1400);
  CHECK(plan.next.queues == 2);
}

TEST_CASE("reload: a weight change is not structural, an added path takes a new slot",
          "[reload]") {
  const TunnelSpec run = spec({{"a", {{"e0", "10.0.0.1", "10.0.0.2"}, {"e1", "10.0.1.1", "10.0.1.2"}}}});
  const TunnelSpec fresh = spec({{"a", {{"e0", "10.0.0.1", "10.0.0.2", 5},
                                        {"e1", "10.0.1.1", "10.0.1.2"},
                                        {"e2", "10.0.2.1", "10.0.2.2"}}}});
  const auto plan = plan_reload(run, fresh);
  CHECK(plan.changes == std::vector<std::string>{"added path a/path_2"});
  CHECK(plan.path_slot == std::vector<int>{0, 1, 2});
  CHECK(plan.next.paths.at(0).weight == 5);
  CHECK(plan.next.connections.at(0).paths == std::vector<int>{0, 1, 2});
}

TEST_CASE("reload: changed port mapping rules are a change the engine must apply", "[reload]") {
  const TunnelSpec run = spec({{"a", {{"e0", "10.0.0.1", "10.0.0.2"}}}});
  TunnelSpec fresh = run;
  fresh.paths[0].ports.tcp_dst = {{22, 22}};
  const auto plan = plan_reload(run, fresh);
  CHECK(plan.changes == std::vector<std::string>{"changed port mapping of a/path_0"});
  CHECK(plan.structural());
  CHECK(plan.next.paths.at(0).ports.tcp_dst.size() == 1);
}

TEST_CASE("reload: removing path_0 renumbers the others but keeps their slots", "[reload]") {
  const TunnelSpec run = spec({{"a", {{"e0", "10.0.0.1", "10.0.0.2"},
                                      {"e1", "10.0.1.1", "10.0.1.2"},
                                      {"e2", "10.0.2.1", "10.0.2.2"}}}});
  const TunnelSpec fresh = spec({{"a", {{"e1", "10.0.1.1", "10.0.1.2"}, {"e2", "10.0.2.1", "10.0.2.2"}}}});
  const auto plan = plan_reload(run, fresh);
  CHECK(plan.path_slot == std::vector<int>{1, 2});
  CHECK_FALSE(plan.next.paths.at(0).active);
  CHECK(plan.next.paths.at(1).name == "a/path_0");
  CHECK(plan.next.connections.at(0).paths == std::vector<int>{1, 2});
  CHECK(std::find(plan.changes.begin(), plan.changes.end(), "removed path a/path_0") !=
        plan.changes.end());

  // A later reload that adds a path reuses the free slot 0; one in the same reload does not.
  const TunnelSpec again = spec({{"a", {{"e1", "10.0.1.1", "10.0.1.2"},
                                        {"e2", "10.0.2.1", "10.0.2.2"},
                                        {"e3", "10.0.3.1", "10.0.3.2"}}}});
  const auto plan2 = plan_reload(plan.next, again);
  CHECK(plan2.path_slot == std::vector<int>{1, 2, 0});
  CHECK(plan2.next.paths.at(0).active);
  CHECK(plan2.next.paths.at(0).interface_name == "e3");
}

TEST_CASE("reload: a path whose peer address changes is replaced, not kept", "[reload]") {
  const TunnelSpec run = spec({{"a", {{"e0", "10.0.0.1", "10.0.0.2"}}}});
  const TunnelSpec fresh = spec({{"a", {{"e0", "10.0.0.1", "10.0.0.9"}}}});
  const auto plan = plan_reload(run, fresh);
  CHECK(plan.path_slot == std::vector<int>{1});  // not slot 0: it is freed by this reload
  CHECK_FALSE(plan.next.paths.at(0).active);
  CHECK(plan.next.paths.at(1).active);
  CHECK(plan.changes.size() == 2);
}

TEST_CASE("reload: connections are matched by name; added and removed ones use slots",
          "[reload]") {
  const TunnelSpec run = spec({{"a", {{"e0", "10.0.0.1", "10.0.0.2"}}},
                               {"b", {{"e1", "10.0.1.1", "10.0.1.2"}}}});
  const TunnelSpec fresh = spec({{"b", {{"e1", "10.0.1.1", "10.0.1.2"}}},
                                 {"c", {{"e2", "10.0.2.1", "10.0.2.2"}}}});
  const auto plan = plan_reload(run, fresh);
  CHECK(plan.connection_slot == std::vector<int>{1, 2});
  CHECK_FALSE(plan.next.connections.at(0).active);
  CHECK(plan.next.connections.at(0).paths.empty());
  CHECK(plan.next.connections.at(1).name == "b");
  CHECK(plan.next.connections.at(2).name == "c");
  CHECK(plan.path_slot == std::vector<int>{1, 2});
  CHECK_FALSE(plan.next.paths.at(0).active);
  CHECK(plan.next.paths.at(2).connection == 2);
  // A connection's own settings changing is reported too.
  TunnelSpec keyed = fresh;
  keyed.connections[0].gre_key = 7;
  const auto plan2 = plan_reload(plan.next, keyed);
  CHECK(plan2.changes == std::vector<std::string>{"changed connection b"});
}

TEST_CASE("reload plan: the control plane's part -- leaving paths, updates, routes to remove",
          "[reload]") {
  const TunnelSpec run = spec({{"a", {{"e0", "10.0.0.1", "10.0.0.2"},
                                      {"e1", "10.0.1.1", "10.0.1.2"},
                                      {"e2", "10.0.2.1", "10.0.2.2"}}},
                               {"b", {{"e3", "10.0.3.1", "10.0.3.2"}}}});
  // a/path_0 goes; a/path_2 (now a/path_1) gets weight 4 and is taken down; b goes.
  TunnelSpec fresh = spec({{"a", {{"e1", "10.0.1.1", "10.0.1.2"}, {"e2", "10.0.2.1", "10.0.2.2", 4}}}});
  fresh.paths[1].up = false;
  const auto plan = plan_reload(run, fresh);
  // Leaving paths are named as the running spec numbers them (what the peer knows now).
  REQUIRE(plan.leaving.size() == 2);
  CHECK(plan.leaving[0].connection == "a");
  CHECK(plan.leaving[0].local == 0);
  CHECK(plan.leaving[0].slot == 0);
  CHECK(plan.leaving[1].connection == "b");
  CHECK(plan.leaving[1].local == 0);
  CHECK(plan.leaving[1].slot == 3);
  // Updates are named as the new spec numbers them (what the peer knows after its reload).
  REQUIRE(plan.updates.size() == 1);
  const auto& u = plan.updates[0];
  CHECK(u.path.connection == "a");
  CHECK(u.path.local == 1);
  CHECK(u.path.slot == 2);
  CHECK(u.path.name == "a/path_1");
  CHECK(u.old_weight == 1);
  CHECK(u.weight == 4);
  CHECK(u.old_up);
  CHECK_FALSE(u.up);
  CHECK(plan.removed_connections == std::vector<std::string>{"b"});
  // Unchanged kept paths and added paths are no updates.
  const auto same = plan_reload(run, run);
  CHECK(same.updates.empty());
  CHECK(same.leaving.empty());
  CHECK(same.removed_connections.empty());
}
