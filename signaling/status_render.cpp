// render_status_text / render_status_json: the one place `mpt status` is worded and its
// JSON laid out (docs/status.md).
#include "signaling/status_render.h"

#include <algorithm>
#include <cinttypes>
#include <cstdarg>
#include <cstdio>

namespace mpt::signaling {
namespace {

using engine::value_of;
using Json = nlohmann::ordered_json;

void append(std::string& out, const char* fmt, ...) __attribute__((format(printf, 2, 3)));
void append(std::string& out, const char* fmt, ...) {
  char buf[512];
  va_list ap;
  va_start(ap, fmt);
  const int n = std::vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  if (n > 0) out.append(buf, std::min<std::size_t>(static_cast<std::size_t>(n), sizeof buf - 1));
}

void put(Json& j, const engine::Metrics& m) {
  for (const engine::Metric& x : m) j[x.name] = x.value;
}

void engine_text(std::string& s, const engine::EngineSnapshot& e, const std::string& mtu_origin) {
  const engine::Metrics& t = e.tx;
  const engine::Metrics& r = e.rx;
  const std::string origin = mtu_origin.empty() ? "" : " (" + mtu_origin + ")";
  append(s, "tunnel: mtu %d%s\n  tun read:  %" PRIu64 " packets, %" PRIu64 " bytes\n"
         "  tun write: %" PRIu64 " packets, %" PRIu64 " bytes\n", e.mtu, origin.c_str(),
         value_of(t, "tun_read_packets"), value_of(t, "tun_read_bytes"),
         value_of(r, "tun_write_packets"), value_of(r, "tun_write_bytes"));
  append(s, "  tun reads %" PRIu64 " -> %" PRIu64 " segments; tun writes %" PRIu64 "\n",
         value_of(t, "tun_read_packets"), value_of(t, "segments"), value_of(r, "tun_writes"));
  if (e.queues.size() > 1) {  // each TUN queue's reader and writer (the lines above: their sum)
    for (std::size_t q = 0; q < e.queues.size(); ++q) {
      const engine::QueueSnapshot& x = e.queues[q];
      append(s, "  queue %zu: read %" PRIu64 " packets, %" PRIu64 " bytes; write %" PRIu64
             " packets, %" PRIu64 " bytes\n", q, value_of(x.tx, "tun_read_packets"),
             value_of(x.tx, "tun_read_bytes"), value_of(x.rx, "tun_write_packets"),
             value_of(x.rx, "tun_write_bytes"));
    }
  }
  append(s, "  failover: %" PRIu64 " segments moved from dead paths' queues, %" PRIu64
         " sent again (reinjected), %" PRIu64 " with no live path; %" PRIu64
         " redundant copies\n", value_of(t, "rerouted"), value_of(t, "reinjected"),
         value_of(t, "reinject_dropped"), value_of(t, "redundant"));
  append(s, "  repair: %" PRIu64 " segments sent again on request, %" PRIu64 " no longer held, %"
         PRIu64 " over budget, %" PRIu64 " replayed requests ignored; %" PRIu64
         " requests sent\n", value_of(t, "repaired"), value_of(t, "repair_missing"),
         value_of(t, "repair_limited"), value_of(t, "repair_replayed"), value_of(r, "nack_sent"));
  append(s, "  pacing: %" PRIu64 " reads held back (no bottleneck path had room), %" PRIu64
         " dropped after waiting pace_queue_ms\n", value_of(t, "paced"),
         value_of(t, "drop_pace_queue"));
  append(s, "  tun write dropped: %" PRIu64 " no output buffer, %" PRIu64 " not IP, %" PRIu64
         " above the MTU, %" PRIu64 " from a source the peer may not use; repair requests not "
         "sent: %" PRIu64 " ranges (no buffer), %" PRIu64 " messages (no path)\n",
         value_of(r, "drop_no_buffer"), value_of(r, "drop_not_ip"), value_of(r, "drop_too_big"),
         value_of(r, "drop_inner_source"), value_of(r, "nack_drop_no_buffer"),
         value_of(r, "nack_drop_no_path"));
  append(s, "  pools: read %" PRIu64 " x %" PRIu64 " B, send %" PRIu64 " x %" PRIu64
         " B (fewest free %" PRIu64 "), output %" PRIu64 " x %" PRIu64 " B (fewest free %" PRIu64
         ")\n", value_of(t, "read_pool_buffers"), value_of(t, "read_pool_buffer_bytes"),
         value_of(t, "send_pool_buffers"), value_of(t, "send_pool_buffer_bytes"),
         value_of(t, "send_pool_free_low_water"), value_of(r, "output_pool_buffers"),
         value_of(r, "output_pool_buffer_bytes"), value_of(r, "output_pool_free_low_water"));
  for (const engine::ConnectionSnapshot& c : e.connections) {
    append(s, "\nconnection %s: %zu path(s), scheduler %s, sequence numbers %s", c.name.c_str(),
           c.path_count, c.scheduler, c.sequence_numbers ? "on" : "off");
    if (!c.reorders) {
      s += ", no reordering\n";
      continue;
    }
    const engine::Metrics& o = c.reorder;
    append(s, ", reorder window %u, max delay %.1f ms%s\n  reorder: %" PRIu64 " in order, %" PRIu64
           " reordered, %" PRIu64 " late, %" PRIu64 " duplicate, %" PRIu64 " lost (%" PRIu64
           " by timeout), %" PRIu64 " resyncs; %" PRIu64 " asked for again (repair %s, %" PRIu64
           " a second time), %" PRIu64 " of them came, %" PRIu64 " not asked for (over budget)\n",
           c.reorder_window, static_cast<double>(value_of(o, "max_delay_us")) / 1000.0,
           c.max_delay_derived ? " (derived)" : "", value_of(o, "in_order"),
           value_of(o, "reordered"), value_of(o, "late"), value_of(o, "duplicate"),
           value_of(o, "lost"), value_of(o, "timeouts"), value_of(o, "resyncs"),
           value_of(o, "nacked"), c.repair ? "on" : "off", value_of(o, "nack_retried"),
           value_of(o, "nack_filled"), value_of(o, "nack_refused"));
  }
  for (const engine::PathSnapshot& p : e.paths) {
    const engine::Metrics& v = p.values;
    const std::string local = p.local.empty() ? "(waiting: " + p.waiting + ")" : p.local;
    append(s, "\npath %s (%s): %s -> %s, %s, weight %u\n", p.name.c_str(), p.interface.c_str(),
           local.c_str(), p.remote.c_str(), p.up ? "up" : "down", p.weight);
    append(s, "  transfer: %" PRIu64 " packets / %" PRIu64 " B sent, %" PRIu64 " packets / %"
           PRIu64 " B received\n", value_of(v, "tx_packets"), value_of(v, "tx_bytes"),
           value_of(v, "rx_packets"), value_of(v, "rx_bytes"));
    append(s, "  dropped:  %" PRIu64 " unknown peer, %" PRIu64 " invalid GRE, %" PRIu64
           " truncated, %" PRIu64 " key mismatch, %" PRIu64 " ring full, %" PRIu64
           " control, %" PRIu64 " control over the new-session limit, %" PRIu64
           " repair requests, %" PRIu64 " out of receive buffers\n",
           value_of(v, "rx_drop_unknown_peer"), value_of(v, "rx_drop_invalid_gre"),
           value_of(v, "rx_drop_truncated"), value_of(v, "rx_drop_key_mismatch"),
           value_of(v, "rx_drop_ring_full"), value_of(v, "rx_control_dropped"),
           value_of(v, "rx_control_limited"), value_of(v, "rx_nack_dropped"),
           value_of(v, "rx_nobufs"));
    append(s, "  sealed:   %" PRIu64 " accepted, %" PRIu64 " failed authentication, %" PRIu64
           " replayed, %" PRIu64 " not sealed\n", value_of(v, "rx_accepted"),
           value_of(v, "rx_drop_auth"), value_of(v, "rx_drop_replay"),
           value_of(v, "rx_drop_unsealed"));
    if (!p.listener.empty()) {
      append(s, "  rx pool:  shared (%s)\n", p.listener.c_str());
    } else {
      append(s, "  rx pool:  %" PRIu64 " x %" PRIu64 " B (%" PRIu64 " KiB)\n",
             value_of(v, "rx_pool_buffers"), value_of(v, "rx_pool_buffer_bytes"),
             p.rx_pool_bytes / 1024);
    }
  }
  for (const engine::ListenerSnapshot& l : e.listeners) {
    const engine::Metrics& v = l.values;
    append(s, "\n%s (%s): %zu client paths; from no client's address: %" PRIu64
           " dropped, %" PRIu64 " control messages taken (%" PRIu64 " over the limit); rx pool %"
           PRIu64 " x %" PRIu64 " B\n", l.name.c_str(), l.interface.c_str(), l.client_paths,
           value_of(v, "rx_drop_unknown_client") + value_of(v, "rx_drop_unsealed") +
               value_of(v, "rx_drop_key_mismatch"),
           value_of(v, "rx_control"), value_of(v, "rx_control_limited"),
           value_of(v, "rx_pool_buffers"), value_of(v, "rx_pool_buffer_bytes"));
  }
}

void control_text(std::string& s, const ControlSnapshot& c) {
  s += "\nsignalling:\n";
  for (const SignallingSnapshot& x : c.control) {
    s += "  " + x.connection + ": ";
    if (!x.enabled) {
      s += "off (no auth_key)\n";
      continue;
    }
    s += x.established ? "peer answered" : "waiting for peer";
    if (x.keyed) {
      s += std::string(", X25519 handshake, ") + x.cipher + (x.keys ? "" : ", no keys yet");
    } else {
      s += ", unauthenticated";
    }
    s += ", peer restarts " + std::to_string(x.peer_restarts) + "\n";
  }
  if (c.server_mode) {
    // Server mode: the clients at a glance (each is a connection above).
    append(s, "server mode: %zu clients, %zu answered; control messages from no client's "
           "address: %" PRIu64 " claimed by a client (handshake, moved), %" PRIu64
           " by none (dropped)\n", c.clients, c.answered, c.listener_claimed,
           c.listener_unclaimed);
  }
  s += "path health:\n";
  for (const PathHealthSnapshot& p : c.health) {
    append(s, "  %-20s %-10s weight %-5u tx %8.1f rx %8.1f Mbit/s  rtt %6.2f ms  loss %5.1f %%"
           "  last answer %" PRIu64 " ms ago\n", p.path.c_str(), p.state, p.weight, p.tx_mbps,
           p.rx_mbps, static_cast<double>(p.rtt_us) / 1000.0, p.loss * 100, p.ms_since_ack);
    if (p.estimate.samples > 0) {
      append(s, "  %-20s estimate: rate %8.1f Mbit/s (delivered %8.1f)  min rtt %6.2f ms  "
             "queue %6.2f ms  loss %5.2f %%%s\n", "", p.estimate.rate_mbps,
             p.estimate.delivery_mbps, static_cast<double>(p.estimate.min_rtt_us) / 1000.0,
             static_cast<double>(p.estimate.queue_delay_us) / 1000.0, p.estimate.loss * 100,
             p.estimate.saturated ? "  saturated" : "");
    }
  }
}

}  // namespace

std::string render_status_text(const StatusSnapshot& s) {
  std::string out;
  engine_text(out, s.engine, s.mtu_origin);
  control_text(out, s.control);
  return out;
}

Json render_status_json(const StatusSnapshot& s) {
  const engine::EngineSnapshot& e = s.engine;
  Json j;
  j["schema_version"] = kStatusSchemaVersion;
  j["tunnel"] = s.tunnel;
  j["mtu"] = e.mtu;
  j["mtu_auto"] = !s.mtu_origin.empty();
  if (!s.mtu_origin.empty()) j["mtu_origin"] = s.mtu_origin;
  put(j["tx"], e.tx);
  put(j["rx"], e.rx);
  Json queues = Json::array();
  for (std::size_t q = 0; q < e.queues.size(); ++q) {
    Json x = {{"queue", q}};
    // "reader" / "writer", not "tx" / "rx": the tunnel's sums keep those names to themselves.
    put(x["reader"], e.queues[q].tx);
    put(x["writer"], e.queues[q].rx);
    queues.push_back(std::move(x));
  }
  j["queues"] = std::move(queues);
  Json conns = Json::array();
  for (const engine::ConnectionSnapshot& c : e.connections) {
    Json x = {{"name", c.name},
              {"scheduler", c.scheduler},
              {"sequence_numbers", c.sequence_numbers},
              {"paths", c.path_count},
              {"reorder_window", c.reorder_window},
              {"max_delay_us", value_of(c.reorder, "max_delay_us")},
              {"max_delay_derived", c.max_delay_derived}};
    Json reorder = Json::object();
    for (const engine::Metric& m : c.reorder) {
      if (std::string_view(m.name) != "max_delay_us") reorder[m.name] = m.value;
    }
    x["reorder"] = std::move(reorder);
    x["repair"] = c.repair;
    conns.push_back(std::move(x));
  }
  j["connections"] = std::move(conns);
  Json paths = Json::array();
  for (const engine::PathSnapshot& p : e.paths) {
    Json x = {{"name", p.name},
              {"connection", p.connection},
              {"interface", p.interface},
              {"local", p.local},
              {"waiting", p.waiting},
              {"remote", p.remote},
              {"remote_configured", p.remote_configured},
              {"up", p.up},
              {"weight", p.weight},
              {"listener", p.listener}};
    put(x, p.values);
    Json gre = Json::object();
    for (const auto& [reason, n] : p.rx_drop_gre) gre[reason] = n;
    x["rx_drop_gre"] = std::move(gre);
    paths.push_back(std::move(x));
  }
  j["paths"] = std::move(paths);
  Json listeners = Json::array();
  for (const engine::ListenerSnapshot& l : e.listeners) {
    Json x = {{"name", l.name},
              {"interface", l.interface},
              {"local", l.local},
              {"client_paths", l.client_paths}};
    put(x, l.values);
    listeners.push_back(std::move(x));
  }
  j["listeners"] = std::move(listeners);
  j["memory"] = {{"path_slot_bytes", e.path_slot_bytes}};

  const ControlSnapshot& c = s.control;
  Json health = Json::array();
  for (const PathHealthSnapshot& p : c.health) {
    health.push_back({
        {"path", p.path},
        {"state", p.state},
        {"weight", p.weight},
        {"rtt_us", p.rtt_us},
        {"loss", p.loss},
        {"tx_mbps", p.tx_mbps},
        {"rx_mbps", p.rx_mbps},
        {"ms_since_ack", p.ms_since_ack},
        {"probes_sent", p.probes_sent},
        {"acks_received", p.acks_received},
        {"endpoint_moves", p.endpoint_moves},
        {"last_change_ms_ago", p.last_change_ms_ago},
        {"estimate",
         {{"rate_mbps", p.estimate.rate_mbps},
          {"delivery_mbps", p.estimate.delivery_mbps},
          {"min_rtt_us", p.estimate.min_rtt_us},
          {"srtt_us", p.estimate.srtt_us},
          {"rttvar_us", p.estimate.rttvar_us},
          {"queue_delay_us", p.estimate.queue_delay_us},
          {"pace_target_us", p.estimate.pace_target_us},
          {"loss", p.estimate.loss},
          {"saturated", p.estimate.saturated},
          {"samples", p.estimate.samples}}},
        {"connection", p.connection},
    });
  }
  j["health"] = std::move(health);
  Json control = Json::array();
  for (const SignallingSnapshot& x : c.control) {
    Json entry = {{"connection", x.connection},
                  {"signalling", x.enabled},
                  {"authenticated", x.authenticated},
                  {"established", x.established},
                  {"peer_restarts", x.peer_restarts}};
    if (x.keyed) {
      entry["session"] = {{"keys", x.keys},
                          {"cipher_send", x.cipher_send},
                          {"cipher_receive", x.cipher_receive},
                          {"handshakes", x.handshakes}};
    }
    control.push_back(std::move(entry));
  }
  j["control"] = std::move(control);
  Json errors = Json::object();
  for (const auto& [reason, n] : c.rx_errors) errors[reason] = n;
  j["control_rx_errors"] = std::move(errors);
  j["control_refused"] = {{"weight_out_of_range", c.weight_out_of_range},
                          {"peer_up_after_local_down", c.peer_up_after_local_down}};
  j["peer_paths_lost"] = c.peer_paths_lost;
  j["listener_claimed"] = c.listener_claimed;
  j["listener_unclaimed"] = c.listener_unclaimed;
  if (c.server_mode) j["server_mode"] = {{"clients", c.clients}, {"answered", c.answered}};
  return j;
}

}  // namespace mpt::signaling
