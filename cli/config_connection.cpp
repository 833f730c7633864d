// connections/*.conf (and the server's conf.template): [connection], [path_N], [net_N], auth_key.
#include <arpa/inet.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "cli/config_internal.h"

namespace mpt::config::detail {

bool resolve_auth_key(std::string& auth_key, int line, const std::string& key,
                      FileContext& ctx) {
  if (auth_key.empty()) return false;
  if (auth_key.rfind("file:", 0) == 0) {
    std::filesystem::path path = auth_key.substr(5);
    if (path.is_relative()) path = std::filesystem::path(ctx.file()).parent_path() / path;
    auth_key.clear();
    struct stat st{};
    if (::stat(path.c_str(), &st) != 0) {
      ctx.error(line, key, "key file " + path.string() + ": " + std::strerror(errno));
      return true;
    }
    if (!S_ISREG(st.st_mode)) {
      ctx.error(line, key, "key file " + path.string() + " is not a file");
      return true;
    }
    if (st.st_mode & 077) {
      char mode[8];
      std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
      ctx.error(line, key,
                "key file " + path.string() + " has mode " + mode +
                    ": group or others may read it (chmod 600 " + path.string() + ")");
      return true;
    }
    std::ifstream in(path);
    std::string text;
    std::getline(in, text);
    while (!text.empty() &&
           (text.back() == '\r' || text.back() == ' ' || text.back() == '\t')) {
      text.pop_back();
    }
    if (!in && !in.eof()) {
      ctx.error(line, key, "key file " + path.string() + ": cannot read it");
      return true;
    }
    auth_key = text;
    if (text.empty()) {
      ctx.error(line, key, "key file " + path.string() + " is empty");
      return true;
    }
  }
  if (auth_key.size() < kMinAuthKeyLength) {
    ctx.error(line, key,
              "auth_key is too short (" + std::to_string(auth_key.size()) + " characters, at "
              "least " + std::to_string(kMinAuthKeyLength) + "): `mpt genkey` prints a good one");
    return true;
  }
  return false;
}

namespace {

PathConfig parse_path(SectionReader& r) {
  PathConfig p;
  r.get_name("interface_name", kMaxIfNameLen, true, p.interface_name);
  const int family = read_ip_ver(r, p.ip_ver);
  r.get_address("private_ipaddr", family, p.private_ipaddr);
  if (IniEntry* e = r.take("public_ipaddr")) {
    if (equals_ignore_case(e->value, "private_ipaddr")) {
      p.public_ipaddr = p.private_ipaddr;
    } else {
      r.check_address(*e, family, p.public_ipaddr);
    }
  }
  r.get_address("gw_ipaddr", family, p.gw_ipaddr);
  // Absent or unspecified (0.0.0.0, ::): learned from the peer's first authenticated
  // message, which needs auth_key (checked with the connection, load_config_dir).
  if (IniEntry* e = r.get_address("remote_ipaddr", family, p.remote_ipaddr)) p.remote_line = e->line;
  p.line = r.line();
  r.get_int("keepalive_time", 0, kMaxKeepalive, p.keepalive_time_s);
  r.get_int("dead_time", 0, kMaxDeadTime, p.dead_time_s);
  if (p.dead_time_s == 0) p.dead_time_s = 3 * p.keepalive_time_s;
  r.get_int("weight_out", 0, kMaxWeight, p.weight_out);
  r.get_int("weight_in", 0, kMaxWeight, p.weight_in);
  r.get_bool("cmd_default", p.cmd_default);
  r.get_choice("status", {0, 128}, "0 (up) or 128 (down)", p.status);
  r.get_int("window_size", 0, kMaxWindowSize, p.window_size);
  r.get_port_list("tcp_dst", p.tcp_dst);
  r.get_port_list("tcp_src", p.tcp_src);
  r.get_port_list("udp_dst", p.udp_dst);
  r.get_port_list("udp_src", p.udp_src);
  r.finish();
  return p;
}

NetConfig parse_net(SectionReader& r) {
  NetConfig n;
  const int family = read_ip_ver(r, n.ip_ver);
  if (r.require("src_addr")) r.get_prefix("src_addr", family, n.src_addr);
  if (r.require("dst_addr")) r.get_prefix("dst_addr", family, n.dst_addr);
  r.finish();
  return n;
}

// server_template: the [connection] of connections/conf.template (server mode), which serves
// every client: ip_remote and auth_key come from each clients/NAME.conf and may not be set
// here, and control_auth must be hmac (each client is keyed).
void parse_connection_section(SectionReader& r, ConnectionParse& out,
                              int& path_count, int& path_count_line, int& net_count,
                              int& net_count_line, bool server_template) {
  ConnectionConfig& c = out.config;
  // A template's name is not a connection name (each client is named by its file): it is
  // still checked, and then not used.
  if (IniEntry* e = r.get_name("name", kMaxNameLen, false, c.name)) out.name_line = e->line;
  r.get_int("permission", 0, 3, c.permission);
  const int family = read_ip_ver(r, c.ip_ver);
  out.family = family;
  IniEntry* local = nullptr;
  IniEntry* remote = nullptr;
  if (r.require("ip_local")) local = r.get_address("ip_local", family, c.ip_local);
  if (server_template) {
    if (IniEntry* e = r.take("ip_remote")) {
      r.refuse(*e, "a server template has no ip_remote: it is set per client in "
                   "clients/NAME.conf");
    }
  } else if (r.require("ip_remote")) {
    remote = r.get_address("ip_remote", family, c.ip_remote);
  }
  if (local != nullptr) {
    out.ip_local_line = local->line;
    if (!c.ip_local.is_set()) {
      r.bad_value(*local, "must be a real address, not unspecified");
      local = nullptr;
    }
  }
  if (remote != nullptr && !c.ip_remote.is_set()) {
    r.bad_value(*remote, "must be a real address, not unspecified");
    remote = nullptr;
  }
  if (local != nullptr && remote != nullptr && c.ip_local == c.ip_remote) {
    r.bad_value(*remote, "must differ from ip_local");
  }
  r.get_port("local_port", 1, c.local_port);
  r.get_port("remote_port", 1, c.remote_port);
  r.get_port("remote_cmd_port", 0, c.remote_cmd_port);
  r.get_port("local_cmd_port", 0, c.local_cmd_port);
  if (r.require("path_count")) {
    if (IniEntry* e = r.get_int("path_count", 1, kMaxPaths, c.path_count)) {
      path_count = c.path_count;
      path_count_line = e->line;
    }
  }
  if (IniEntry* e = r.get_int("network_count", 0, kMaxNetworks, c.network_count)) {
    net_count = c.network_count;
    net_count_line = e->line;
  } else if (r.take("network_count") == nullptr) {
    net_count = 0;  // absent: no networks
  }
  r.get_int("status", 0, 255, c.status);
  r.get_int("reorder_window", 0, kMaxReorderWindow, c.reorder_window);
  r.get_int("max_buffdelay_msec", 0, kMaxBuffDelayMs, c.max_buffdelay_msec);
  c.max_buffdelay_set = c.max_buffdelay_msec != 0;
  if (c.max_buffdelay_msec == 0) c.max_buffdelay_msec = kDefaultBuffDelayMs;
  IniEntry* const auth_type_entry =
      r.get_choice("auth_type", {0, 1, 2}, "0 (none), 1 or 2", c.auth_type);
  const bool auth_type_set = auth_type_entry != nullptr;
  if (IniEntry* e = r.get_string("auth_key", c.auth_key)) {
    c.auth_key_line = e->line;
    if (server_template) {
      r.refuse(*e, "a server template has no auth_key: each client has its own key: "
                   "clients/NAME.conf auth_key");
    }
  }
  r.get_int("source_port_count", 0, kMaxSourcePortCount, c.source_port_count);
  r.get_u32("gre_key", c.gre_key);
  r.get_bool("gre_checksum", c.gre_checksum);
  c.auth_type_set = auth_type_set;
  IniEntry* const control_auth_entry = r.get_string("control_auth", c.control_auth);
  if (control_auth_entry != nullptr) {
    c.control_auth = to_lower(c.control_auth);
    if (c.control_auth != "hmac" && c.control_auth != "none" && c.control_auth != "off") {
      r.bad_value(*control_auth_entry, "must be hmac, none or off");
      c.control_auth = "hmac";
    }
  }
  // The original's own "no authentication" (auth_type = 0, written out) is an explicit
  // opt-in to unauthenticated control messages, like control_auth = none. Without either, a
  // connection needs auth_key: load_config_dir refuses it otherwise.
  if (c.auth_key.empty() && auth_type_set && c.auth_type == 0) c.control_auth = "none";
  // A server accepts a client only when its handshake verifies under that client's key: a
  // template without signalling, or with unauthenticated signalling, could not tell clients
  // apart, nor keep strangers out.
  if (server_template && c.control_auth != "hmac") {
    if (control_auth_entry != nullptr &&
        !equals_ignore_case(control_auth_entry->value, "hmac")) {
      r.bad_value(*control_auth_entry,
                  "must be hmac in a server template: every client has its own key "
                  "(clients/NAME.conf auth_key)");
    } else if (auth_type_entry != nullptr) {
      r.refuse(*auth_type_entry,
               "auth_type = 0 opts out of authentication, but a server template's clients are "
               "keyed (clients/NAME.conf auth_key): leave auth_type out");
    }
  }
  r.get_int("probe_interval_ms", 1, 60000, c.probe_interval_ms);
  r.get_int("dead_misses", 1, 1000, c.dead_misses);
  r.get_int("hold_down_ms", 0, 600000, c.hold_down_ms);
  r.get_int("nat_keepalive_s", 0, 3600, c.nat_keepalive_s);
  r.get_port_list("redundant_ports", c.redundant_ports);
  r.get_dscp_list("redundant_dscp", c.redundant_dscp);
  r.get_bool("repair", c.repair);
  r.get_bool("pacing", c.pacing);
  r.get_int("pace_queue_ms", 1, 10000, c.pace_queue_ms);
  r.get_int("rekey_after_s", 1, 86400, c.rekey_after_s);
  if (IniEntry* e = r.get_string("cipher", c.cipher)) {
    c.cipher = to_lower(c.cipher);
    if (c.cipher != "auto" && c.cipher != "aes-256-gcm" && c.cipher != "chacha20-poly1305") {
      r.bad_value(*e, "must be auto, aes-256-gcm or chacha20-poly1305");
      c.cipher = "auto";
    }
  }
  if (IniEntry* e = r.get_string("scheduler", c.scheduler)) {
    c.scheduler = to_lower(c.scheduler);
    if (c.scheduler != "auto" && c.scheduler != "bytes" && c.scheduler != "packets" &&
        c.scheduler != "flow") {
      r.bad_value(*e, "must be auto, bytes, packets or flow");
      c.scheduler = "auto";
    }
  }
  r.finish();
}

}  // namespace

// server_template: connections/conf.template (see parse_connection_section).
ConnectionParse parse_connection_impl(const std::string& text, FileContext& ctx,
                                      bool server_template) {
  ConnectionParse out;
  ConnectionConfig& c = out.config;
  c.file = ctx.file();
  std::vector<IniSection> sections = read_ini(text, ctx);
  IniSection* conn = nullptr;
  Indexed paths;
  Indexed nets;
  for (auto& s : sections) {
    if (s.name == "connection") {
      conn = &s;
      out.connection_line = s.line;
    } else if (const auto n = section_index(s.name, "path_")) {
      paths.by_index[*n] = &s;
    } else if (const auto m = section_index(s.name, "net_")) {
      nets.by_index[*m] = &s;
    } else {
      ctx.error(s.line, s.name,
                "unknown section [" + s.name +
                    "] (a connection file has [connection], [path_N] and [net_N])");
    }
  }

  int path_count = -1;
  int path_count_line = 0;
  int net_count = -1;
  int net_count_line = 0;
  if (conn == nullptr) {
    ctx.error(0, "connection", "section [connection] is missing");
  } else {
    SectionReader r(ctx, *conn, SectionKind::kConnection);
    parse_connection_section(r, out, path_count, path_count_line, net_count,
                             net_count_line, server_template);
  }

  check_indexed(ctx, paths, "path_", path_count, "connection:path_count", path_count_line,
                kMaxPaths);
  check_indexed(ctx, nets, "net_", net_count, "connection:network_count", net_count_line,
                kMaxNetworks);
  if (path_count > 0) c.paths.resize(static_cast<std::size_t>(path_count));
  for (const auto& [n, s] : paths.by_index) {
    SectionReader r(ctx, *s, SectionKind::kPath);
    PathConfig p = parse_path(r);
    // Every client reaches the server from its own address (and port, after NAT): a template
    // path learns it from each client's authenticated messages.
    if (server_template && p.remote_ipaddr.is_set()) {
      ctx.error(p.remote_line, s->name + ":remote_ipaddr",
                "a server template's paths learn each client's address; leave remote_ipaddr "
                "out");
    }
    if (path_count > 0 && n < static_cast<std::uint64_t>(path_count)) c.paths[n] = std::move(p);
  }
  if (net_count > 0) c.networks.resize(static_cast<std::size_t>(net_count));
  for (const auto& [n, s] : nets.by_index) {
    SectionReader r(ctx, *s, SectionKind::kNet);
    NetConfig nc = parse_net(r);
    if (net_count > 0 && n < static_cast<std::uint64_t>(net_count)) c.networks[n] = nc;
  }
  return out;
}

// Warns when the connection's ip_local is not the tun address of the same family (the
// original silently used the interface.conf address for IPv4).
void check_against_tun(const ConnectionParse& cp, const InterfaceConfig& ic, FileContext& ctx) {
  if (ic.tuns.empty() || !cp.config.ip_local.is_set()) return;
  const TunConfig& tun = ic.tuns.front();
  const bool v4 = cp.config.ip_local.family == AF_INET;
  const std::optional<IpPrefix>& addr = v4 ? tun.ipv4_addr : tun.ipv6_addr;
  if (addr && !(addr->addr == cp.config.ip_local)) {
    ctx.warning(cp.ip_local_line, "connection:ip_local",
                "ip_local " + cp.config.ip_local.to_string() + " differs from [tun_0] " +
                    (v4 ? "ipv4_addr " : "ipv6_addr ") + addr->addr.to_string() +
                    " in interface.conf");
  }
}

}  // namespace mpt::config::detail
