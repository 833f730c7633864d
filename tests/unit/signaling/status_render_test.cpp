// Unit tests for the status renderers (signaling/status_render.*, signaling/metrics_render.*):
// one snapshot, rendered as text, JSON and Prometheus metrics, says the same numbers.
#include "signaling/metrics_render.h"
#include "signaling/status_render.h"

#include <catch2/catch.hpp>
#include <map>
#include <sstream>
#include <string>

using mpt::engine::Metric;
using mpt::signaling::StatusSnapshot;

namespace {

StatusSnapshot sample() {
  StatusSnapshot s;
  s.tunnel = "mpt0";
  s.engine.mtu = 1400;
  s.engine.tx = {{"tun_read_packets", 10}, {"read_pool_free", 7, Metric::Kind::kGauge}};
  s.engine.rx = {{"tun_write_packets", 9}, {"drop_no_buffer", 1}};
  auto& c = s.engine.connections.emplace_back();
  c.name = "we\"ird\\name\nx";
  c.scheduler = "auto";
  c.sequence_numbers = true;
  c.path_count = 2;
  c.reorders = true;
  c.reorder_window = 900;
  c.reorder = {{"max_delay_us", 3000, Metric::Kind::kGauge}, {"in_order", 5}, {"lost", 2}};
  for (int i = 0; i < 2; ++i) {
    auto& p = s.engine.paths.emplace_back();
    p.name = c.name + "/path_" + std::to_string(i);
    p.connection = c.name;
    p.interface = "veth" + std::to_string(i);
    p.local = "10.0.0.1:4754";
    p.remote = "10.0.0.2:4754";
    p.up = i == 0;
    p.weight = 1;
    p.values = {{"tx_packets", 100u + static_cast<unsigned>(i)}, {"tx_bytes", 1000},
                {"rx_pool_free", 5, Metric::Kind::kGauge}};
    p.rx_drop_gre = {{"truncated", 3}, {"bad_version", 0}};
    auto& h = s.control.health.emplace_back();
    h.path = p.name;
    h.connection = c.name;
    h.state = i == 0 ? "up" : "down";
    h.rtt_us = 1500;
    h.estimate.rate_mbps = 50;
    h.estimate.samples = 3;
  }
  auto& sg = s.control.control.emplace_back();
  sg.connection = c.name;
  sg.enabled = true;
  sg.established = true;
  sg.keyed = true;
  sg.keys = true;
  sg.cipher = sg.cipher_send = sg.cipher_receive = "aes-256-gcm";
  sg.handshakes = 4;
  s.control.rx_errors = {{"bad_mac", 6}};
  return s;
}

// The samples of a Prometheus text exposition, "name{labels}" -> value; checks the layout
// rules a scraper relies on as it goes: every family's HELP and TYPE come first, once, and
// its samples follow together.
std::map<std::string, std::string> parse_exposition(const std::string& text) {
  std::map<std::string, std::string> samples;
  std::map<std::string, bool> seen_type;
  std::string current;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    REQUIRE(!line.empty());
    if (line.rfind("# HELP ", 0) == 0) continue;
    if (line.rfind("# TYPE ", 0) == 0) {
      std::istringstream f(line.substr(7));
      std::string name, type;
      f >> name >> type;
      CHECK((type == "counter" || type == "gauge"));
      if (type == "counter") CHECK(name.size() > 6);
      if (type == "counter") CHECK(name.substr(name.size() - 6) == "_total");
      CHECK_FALSE(seen_type[name]);  // a family appears once
      seen_type[name] = true;
      current = name;
      continue;
    }
    const std::size_t brace = line.find('{');
    const std::size_t sp = line.rfind(' ');
    const std::string name = line.substr(0, std::min(brace, sp));
    CHECK(name == current);  // samples follow their own family's TYPE
    samples[line.substr(0, sp)] = line.substr(sp + 1);
  }
  return samples;
}

}  // namespace

TEST_CASE("status render: the JSON has the schema version and every section") {
  const auto j = mpt::signaling::render_status_json(sample());
  CHECK(j["schema_version"] == mpt::signaling::kStatusSchemaVersion);
  CHECK(j["tunnel"] == "mpt0");
  CHECK(j["tx"]["tun_read_packets"] == 10);
  CHECK(j["tx"]["read_pool_free"] == 7);
  CHECK(j["connections"][0]["reorder_window"] == 900);
  CHECK(j["connections"][0]["max_delay_us"] == 3000);
  CHECK(j["connections"][0]["reorder"]["lost"] == 2);
  CHECK_FALSE(j["connections"][0]["reorder"].contains("max_delay_us"));
  CHECK(j["paths"][1]["tx_packets"] == 101);
  CHECK(j["paths"][0]["rx_drop_gre"]["truncated"] == 3);
  CHECK(j["health"][1]["state"] == "down");
  CHECK(j["control"][0]["session"]["handshakes"] == 4);
  CHECK(j["control_rx_errors"]["bad_mac"] == 6);
  // Names with quotes, backslashes and newlines round-trip through the JSON text.
  const auto back = nlohmann::json::parse(j.dump());
  CHECK(back["connections"][0]["name"] == "we\"ird\\name\nx");
  // A configured MTU: no origin; an automatic one says what limits it.
  CHECK(j["mtu_auto"] == false);
  CHECK_FALSE(j.contains("mtu_origin"));
  StatusSnapshot a = sample();
  a.mtu_origin = "auto: limited by x/path_1 (veth1 mtu 1400, overhead 60)";
  const auto ja = mpt::signaling::render_status_json(a);
  CHECK(ja["mtu_auto"] == true);
  CHECK(ja["mtu_origin"] == a.mtu_origin);
  CHECK(mpt::signaling::render_status_text(a).find(
            "tunnel: mtu 1400 (auto: limited by x/path_1 (veth1 mtu 1400, overhead 60))\n") !=
        std::string::npos);
}

TEST_CASE("status render: the text names every path and its state") {
  const std::string t = mpt::signaling::render_status_text(sample());
  CHECK(t.find("tunnel: mtu 1400") != std::string::npos);
  CHECK(t.find("reorder window 900, max delay 3.0 ms") != std::string::npos);
  CHECK(t.find("/path_1 (veth1): 10.0.0.1:4754 -> 10.0.0.2:4754, down") != std::string::npos);
  CHECK(t.find("X25519 handshake, aes-256-gcm") != std::string::npos);
  CHECK(t.find("transfer: 101 packets") != std::string::npos);
}

TEST_CASE("metrics render: families grouped, counters _total, labels escaped, values match") {
  const std::string text = mpt::signaling::render_metrics(sample());
  const auto m = parse_exposition(text);
  const std::string conn = R"(connection="we\"ird\\name\nx")";
  const std::string path1 = "{tunnel=\"mpt0\"," + conn + R"(,path="we\"ird\\name\nx/path_1",interface="veth1"})";
  CHECK(m.at("mpt_path_tx_packets_total" + path1) == "101");
  CHECK(m.at("mpt_path_rx_pool_free" + path1) == "5");
  CHECK(m.at("mpt_path_admin_up" + path1) == "0");
  CHECK(m.at("mpt_tx_tun_read_packets_total{tunnel=\"mpt0\"}") == "10");
  CHECK(m.at("mpt_tx_read_pool_free{tunnel=\"mpt0\"}") == "7");
  CHECK(m.at("mpt_reorder_lost_total{tunnel=\"mpt0\"," + conn + "}") == "2");
  CHECK(m.at("mpt_reorder_max_delay_us{tunnel=\"mpt0\"," + conn + "}") == "3000");
  CHECK(m.at(R"(mpt_control_rx_errors_total{tunnel="mpt0",reason="bad_mac"})") == "6");
  CHECK(m.at("mpt_path_rtt_seconds{tunnel=\"mpt0\"," + conn +
             R"(,path="we\"ird\\name\nx/path_0"})") == "0.0015");
  CHECK(m.at("mpt_path_health{tunnel=\"mpt0\"," + conn +
             R"(,path="we\"ird\\name\nx/path_1",state="down"})") == "1");
  CHECK(text.find("mpt_path_rx_drop_gre_total{") != std::string::npos);
}
