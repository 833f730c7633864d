// render_metrics: every counter and gauge of the status snapshot, grouped by metric family
// (the format wants each family's samples together, after its HELP and TYPE lines).
#include "signaling/metrics_render.h"

#include <cstdio>
#include <map>
#include <string_view>
#include <utility>
#include <vector>

namespace mpt::signaling {
namespace {

using Labels = std::vector<std::pair<const char*, std::string>>;

// A label value or HELP text in the exposition format: \ " and newline escaped.
std::string escaped(std::string_view s, bool quote) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '"' && quote) {
      out += "\\\"";
    } else {
      out += c;
    }
  }
  return out;
}

std::string number(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  return buf;
}

class Exposition {
 public:
  void add(const std::string& name, bool counter, std::string_view help, const Labels& labels,
           double value) {
    const std::string full = counter ? name + "_total" : name;
    auto [it, fresh] = index_.try_emplace(full, families_.size());
    if (fresh) {
      families_.push_back({full, counter, std::string(help), {}});
    }
    std::string& out = families_[it->second].samples;
    out += full;
    if (!labels.empty()) {
      out += '{';
      bool first = true;
      for (const auto& [k, v] : labels) {
        if (!first) out += ',';
        first = false;
        out += k;
        out += "=\"";
        out += escaped(v, true);
        out += '"';
      }
      out += '}';
    }
    out += ' ';
    out += number(value);
    out += '\n';
  }
  void add(const std::string& prefix, const engine::Metric& m, std::string_view help,
           const Labels& labels) {
    add(prefix + m.name, m.kind == engine::Metric::Kind::kCounter, help, labels,
        static_cast<double>(m.value));
  }
  [[nodiscard]] std::string text() const {
    std::string out;
    for (const Family& f : families_) {
      out += "# HELP " + f.name + ' ' + escaped(f.help, false) + '\n';
      out += "# TYPE " + f.name + (f.counter ? " counter\n" : " gauge\n");
      out += f.samples;
    }
    return out;
  }

 private:
  struct Family {
    std::string name;
    bool counter;
    std::string help;
    std::string samples;
  };
  std::vector<Family> families_;
  std::map<std::string, std::size_t> index_;
};

}  // namespace

std::string render_metrics(const StatusSnapshot& s) {
  Exposition x;
  const engine::EngineSnapshot& e = s.engine;
  const Labels tunnel = {{"tunnel", s.tunnel}};
  x.add("mpt_status_schema_version", false, "Version of the status field names (docs/status.md)",
        tunnel, kStatusSchemaVersion);
  x.add("mpt_mtu_bytes", false, "The tunnel's MTU", tunnel, e.mtu);
  for (const engine::Metric& m : e.tx) {
    x.add("mpt_tx_", m, "TUN reader (tunnel to paths), mpt status --json tx", tunnel);
  }
  for (const engine::Metric& m : e.rx) {
    x.add("mpt_rx_", m, "TUN writer (paths to tunnel), mpt status --json rx", tunnel);
  }
  for (std::size_t q = 0; q < e.queues.size(); ++q) {
    const Labels l = {{"tunnel", s.tunnel}, {"queue", std::to_string(q)}};
    for (const engine::Metric& m : e.queues[q].tx) {
      x.add("mpt_queue_tx_", m, "One TUN queue's reader, mpt status --json queues[].reader", l);
    }
    for (const engine::Metric& m : e.queues[q].rx) {
      x.add("mpt_queue_rx_", m, "One TUN queue's writer, mpt status --json queues[].writer", l);
    }
  }
  for (const engine::ConnectionSnapshot& c : e.connections) {
    const Labels l = {{"tunnel", s.tunnel}, {"connection", c.name}};
    x.add("mpt_connection_reorder_window", false, "Reorder window in packets (0: no reorder stage)",
          l, c.reorder_window);
    for (const engine::Metric& m : c.reorder) {
      x.add("mpt_reorder_", m, "Reorder stage of a connection, mpt status --json connections[].reorder", l);
    }
  }
  for (const engine::PathSnapshot& p : e.paths) {
    const Labels l = {{"tunnel", s.tunnel}, {"connection", p.connection}, {"path", p.name},
                      {"interface", p.interface}};
    x.add("mpt_path_admin_up", false, "1: the path is administratively up", l, p.up ? 1 : 0);
    x.add("mpt_path_weight", false, "The path's configured weight_out", l, p.weight);
    for (const engine::Metric& m : p.values) {
      x.add("mpt_path_", m, "Path worker, mpt status --json paths[]", l);
    }
    for (const auto& [reason, n] : p.rx_drop_gre) {
      Labels r = l;
      r.emplace_back("reason", reason);
      x.add("mpt_path_rx_drop_gre", true, "Received packets dropped as invalid GRE, by reason",
            r, static_cast<double>(n));
    }
  }
  for (const engine::ListenerSnapshot& ls : e.listeners) {
    const Labels l = {{"tunnel", s.tunnel}, {"listener", ls.name}, {"interface", ls.interface}};
    x.add("mpt_listener_client_paths", false, "Client paths a server-mode listener serves", l,
          static_cast<double>(ls.client_paths));
    for (const engine::Metric& m : ls.values) {
      x.add("mpt_listener_", m, "Server-mode listener: what came from no client's address", l);
    }
  }

  const ControlSnapshot& c = s.control;
  for (const PathHealthSnapshot& p : c.health) {
    const Labels l = {{"tunnel", s.tunnel}, {"connection", p.connection}, {"path", p.path}};
    Labels st = l;
    st.emplace_back("state", p.state);
    x.add("mpt_path_health", false, "1 for the path's health state (label state)", st, 1);
    x.add("mpt_path_rtt_seconds", false, "Probe round-trip time", l,
          static_cast<double>(p.rtt_us) / 1e6);
    x.add("mpt_path_loss_ratio", false, "Probe loss, 0..1", l, p.loss);
    x.add("mpt_path_tx_rate_bits_per_second", false, "Sent over the last second", l,
          p.tx_mbps * 1e6);
    x.add("mpt_path_rx_rate_bits_per_second", false, "Received over the last second", l,
          p.rx_mbps * 1e6);
    x.add("mpt_path_seconds_since_answer", false, "Time since the peer last answered a probe", l,
          static_cast<double>(p.ms_since_ack) / 1e3);
    x.add("mpt_path_probes_sent", true, "Probes sent", l, static_cast<double>(p.probes_sent));
    x.add("mpt_path_probe_answers", true, "Probe answers received", l,
          static_cast<double>(p.acks_received));
    x.add("mpt_path_endpoint_moves", true, "The peer's address learned or changed", l,
          static_cast<double>(p.endpoint_moves));
    x.add("mpt_path_estimated_rate_bits_per_second", false,
          "Adaptive scheduler's capacity estimate", l, p.estimate.rate_mbps * 1e6);
    x.add("mpt_path_delivery_rate_bits_per_second", false, "Last measured delivery rate", l,
          p.estimate.delivery_mbps * 1e6);
    x.add("mpt_path_min_rtt_seconds", false, "Smallest recent RTT", l,
          static_cast<double>(p.estimate.min_rtt_us) / 1e6);
    x.add("mpt_path_srtt_seconds", false, "Smoothed RTT", l,
          static_cast<double>(p.estimate.srtt_us) / 1e6);
    x.add("mpt_path_queue_delay_seconds", false, "Estimated queueing delay", l,
          static_cast<double>(p.estimate.queue_delay_us) / 1e6);
    x.add("mpt_path_estimated_loss_ratio", false, "Estimated data loss, 0..1", l,
          p.estimate.loss);
    x.add("mpt_path_saturated", false, "1: the estimator sees the path full", l,
          p.estimate.saturated ? 1 : 0);
  }
  for (const SignallingSnapshot& sg : c.control) {
    const Labels l = {{"tunnel", s.tunnel}, {"connection", sg.connection}};
    x.add("mpt_connection_established", false, "1: the peer answered", l, sg.established ? 1 : 0);
    x.add("mpt_connection_session_keys", false, "1: a keyed session has keys", l,
          sg.keys ? 1 : 0);
    x.add("mpt_connection_peer_restarts", true, "New instances of the peer seen", l,
          static_cast<double>(sg.peer_restarts));
    x.add("mpt_connection_handshakes", true, "Completed key handshakes", l,
          static_cast<double>(sg.handshakes));
  }
  for (const auto& [reason, n] : c.rx_errors) {
    x.add("mpt_control_rx_errors", true, "Control messages refused, by reason",
          {{"tunnel", s.tunnel}, {"reason", reason}}, static_cast<double>(n));
  }
  x.add("mpt_control_weight_refused", true, "WEIGHT messages out of range", tunnel,
        static_cast<double>(c.weight_out_of_range));
  x.add("mpt_control_peer_up_refused", true, "The peer's up for a path taken down here", tunnel,
        static_cast<double>(c.peer_up_after_local_down));
  x.add("mpt_control_peer_paths_lost", true, "Paths the peer reported down", tunnel,
        static_cast<double>(c.peer_paths_lost));
  if (c.server_mode) {
    x.add("mpt_server_clients", false, "Configured clients", tunnel,
          static_cast<double>(c.clients));
    x.add("mpt_server_clients_answered", false, "Clients that answered", tunnel,
          static_cast<double>(c.answered));
    x.add("mpt_server_claimed", true, "Control messages from a client's new address", tunnel,
          static_cast<double>(c.listener_claimed));
    x.add("mpt_server_unclaimed", true, "Control messages from no client (dropped)", tunnel,
          static_cast<double>(c.listener_unclaimed));
  }
  return x.text();
}

}  // namespace mpt::signaling
