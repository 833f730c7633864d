// Unit tests of the configuration loader (cli/config.cpp): the original MPT samples, the
// examples/ configurations, the INI syntax, every kind of error with its file/line/key,
// ranges, port lists, IPv6, and the directory loader.
#include "cli/config.h"

#include <arpa/inet.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <utility>
#include <vector>

namespace {

namespace fs = std::filesystem;
using mpt::config::ConnectionConfig;
using mpt::config::Diagnostic;
using mpt::config::InterfaceConfig;
using mpt::config::IpAddress;
using mpt::config::LoadResult;
using mpt::config::PortRange;
using Catch::Matchers::Contains;

// Directory of this source file: fixtures and examples are found relative to it.
std::string source_dir() {
  const std::string f = __FILE__;
  const auto slash = f.rfind('/');
  return slash == std::string::npos ? "." : f.substr(0, slash);
}
std::string fixtures_dir() { return source_dir() + "/fixtures"; }
std::string repo_dir() { return source_dir() + "/../../.."; }

std::string dump(const std::vector<Diagnostic>& diags) {
  std::string s;
  for (const auto& d : diags) s += d.to_string() + "\n";
  return s;
}

std::vector<Diagnostic> only(const std::vector<Diagnostic>& diags, Diagnostic::Severity sev) {
  std::vector<Diagnostic> out;
  std::copy_if(diags.begin(), diags.end(), std::back_inserter(out),
               [&](const Diagnostic& d) { return d.severity == sev; });
  return out;
}
std::vector<Diagnostic> errors(const std::vector<Diagnostic>& d) {
  return only(d, Diagnostic::Severity::kError);
}
std::vector<Diagnostic> warnings(const std::vector<Diagnostic>& d) {
  return only(d, Diagnostic::Severity::kWarning);
}

// A valid connection file with one extra line in [connection] (line 7) and one in [path_0]
// (line 10), so that every error case knows its line number. The default extra line opts
// into unauthenticated signalling, which a directory load otherwise refuses without auth_key.
std::string conn_text(const std::string& conn_extra = "control_auth = none",
                      const std::string& path_extra = ";") {
  return "[connection]\n"           // 1
         "name = t\n"               // 2
         "ip_ver = 4\n"             // 3
         "ip_local = 10.200.0.1\n"  // 4
         "ip_remote = 10.200.0.2\n" // 5
         "path_count = 1\n"         // 6
         + conn_extra + "\n"        // 7
         "[path_0]\n"               // 8
         "remote_ipaddr = 10.1.1.2\n"  // 9
         + path_extra + "\n";       // 10
}

// A valid interface.conf with one extra line in [general] (line 3) and in [tun_0] (line 6).
std::string iface_text(const std::string& general_extra = ";",
                       const std::string& tun_extra = ";") {
  return "[general]\n"                // 1
         "tunnel_num = 1\n"           // 2
         + general_extra + "\n"       // 3
         "[tun_0]\n"                  // 4
         "ipv4_addr = 10.200.0.1/24\n"  // 5
         + tun_extra + "\n";          // 6
}

struct Parsed {
  ConnectionConfig config;
  std::vector<Diagnostic> diags;
};
Parsed parse_conn(const std::string& text) {
  Parsed p;
  p.config = mpt::config::parse_connection_conf(text, "c.conf", p.diags);
  return p;
}

struct ParsedIface {
  InterfaceConfig config;
  std::vector<Diagnostic> diags;
};
ParsedIface parse_iface(const std::string& text) {
  ParsedIface p;
  p.config = mpt::config::parse_interface_conf(text, "interface.conf", p.diags);
  return p;
}

IpAddress addr(const std::string& s) {
  const auto a = mpt::config::parse_ip_address(s);
  REQUIRE(a.has_value());
  return *a;
}

// A scratch configuration directory, removed at the end of the test.
class TempDir {
 public:
  TempDir() {
    static int counter = 0;
    path_ = fs::temp_directory_path() /
            ("mpt_config_test_" + std::to_string(::getpid()) + "_" + std::to_string(++counter));
    fs::remove_all(path_);
    fs::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  void write(const std::string& rel, const std::string& text) const {
    const fs::path p = path_ / rel;
    fs::create_directories(p.parent_path());
    std::ofstream(p, std::ios::binary) << text;
  }
  [[nodiscard]] std::string str() const { return path_.string(); }

 private:
  fs::path path_;
};

// The original sample configuration, copied into `dir` with its accept_remote = 1 set to 0:
// its conf.template is the original's unkeyed one (ip_remote set, auth_type = 0), which mpt's
// server mode refuses (see "The original sample with its accept_remote = 1 ...").
void copy_original_without_server(const TempDir& dir) {
  fs::copy(fixtures_dir() + "/original", dir.str(), fs::copy_options::recursive);
  std::ifstream in(dir.str() + "/interface.conf", std::ios::binary);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const auto at = text.find("accept_remote = 1");
  REQUIRE(at != std::string::npos);
  text.replace(at, 17, "accept_remote = 0");
  dir.write("interface.conf", text);
}

// A server template (connections/conf.template) with one extra line in [connection] (line 6)
// and one in [path_0] (line 10).
std::string template_text(const std::string& conn_extra = ";",
                          const std::string& path_extra = ";") {
  return "[connection]\n"                // 1
         "name = not-a-client\n"         // 2
         "ip_ver = 4\n"                  // 3
         "ip_local = 10.200.0.1\n"       // 4
         "path_count = 1\n"              // 5
         + conn_extra + "\n"             // 6
         "[path_0]\n"                    // 7
         "interface_name = eth0\n"       // 8
         "private_ipaddr = 192.0.2.1\n"  // 9
         + path_extra + "\n";            // 10
}

// A client file (clients/NAME.conf): ip_remote on line 2, auth_key on line 3, `extra` on 4.
std::string client_text(const std::string& ip_remote, const std::string& auth_key,
                        const std::string& extra = ";") {
  return "[client]\n"                        // 1
         "ip_remote = " + ip_remote + "\n"   // 2
         "auth_key = " + auth_key + "\n"     // 3
         + extra + "\n";                     // 4
}

// A server directory: accept_remote = 1 on line 3 of interface.conf (tun 10.200.0.1/24) and
// the template; the clients are up to the test.
void write_server(const TempDir& dir, const std::string& tmpl = template_text()) {
  dir.write("interface.conf", iface_text("accept_remote = 1"));
  dir.write("connections/conf.template", tmpl);
}

}  // namespace

TEST_CASE("The original MPT sample configuration loads with only warnings (accept_remote = 0)",
          "[config]") {
  TempDir dir;
  copy_original_without_server(dir);
  const LoadResult r = mpt::config::load_config_dir(dir.str());
  INFO(dump(r.diagnostics));
  REQUIRE(r.ok());
  CHECK(errors(r.diagnostics).empty());
  CHECK_FALSE(warnings(r.diagnostics).empty());

  const auto& ic = r.config.interface;
  CHECK(ic.tunnel_num == 1);
  CHECK_FALSE(ic.accept_remote);
  CHECK(ic.cmdport_local == 60456);
  CHECK(ic.cmd_timeout_s == 25);
  REQUIRE(ic.tuns.size() == 1);
  CHECK(ic.tuns[0].name == "tun0");
  CHECK(ic.tuns[0].mtu == 1440);
  REQUIRE(ic.tuns[0].ipv4_addr.has_value());
  CHECK(ic.tuns[0].ipv4_addr->to_string() == "10.0.0.2/24");
  REQUIRE(ic.tuns[0].ipv6_addr.has_value());
  CHECK(ic.tuns[0].ipv6_addr->to_string() == "fec0::2/64");

  // conf.template does not end in ".conf": only ipv4.conf is a connection (and without
  // accept_remote the template is not read).
  REQUIRE(r.config.connections.size() == 1);
  const auto& c = r.config.connections[0];
  CHECK_THAT(c.file, Contains("connections/ipv4.conf"));
  CHECK(c.name == "MPT_connection_10.0.0.2");
  CHECK(c.permission == 3);
  CHECK(c.ip_ver == 4);
  CHECK(c.ip_local == addr("10.0.0.2"));
  CHECK(c.ip_remote == addr("10.0.0.3"));
  CHECK(c.local_port == 23456);
  CHECK(c.remote_port == 23456);
  CHECK(c.remote_cmd_port == 60456);
  CHECK(c.status == 0);
  CHECK(c.reorder_window == 900);
  CHECK(c.max_buffdelay_msec == 300);
  CHECK(c.auth_type == 0);
  CHECK(c.source_port_count == 4);  // mpt default
  CHECK_FALSE(c.gre_key.has_value());
  REQUIRE(c.paths.size() == 2);
  CHECK(c.paths[0].interface_name == "eth1");
  CHECK_FALSE(c.paths[0].private_ipaddr.is_set());
  CHECK(c.paths[0].public_ipaddr == addr("10.1.1.2"));
  CHECK(c.paths[0].gw_ipaddr == addr("10.1.1.2"));
  CHECK(c.paths[0].remote_ipaddr == addr("10.1.1.3"));
  CHECK(c.paths[0].keepalive_time_s == 5);
  CHECK(c.paths[0].dead_time_s == 11);
  CHECK(c.paths[0].weight_out == 10);
  CHECK(c.paths[0].cmd_default);
  CHECK_FALSE(c.paths[1].cmd_default);
  CHECK(c.paths[1].interface_name == "eth2");
  CHECK(c.paths[1].remote_ipaddr == addr("10.2.2.3"));
  REQUIRE(c.networks.size() == 2);
  CHECK(c.networks[0].src_addr.to_string() == "11.1.1.0/24");
  CHECK(c.networks[1].dst_addr.to_string() == "22.1.1.0/24");
}

TEST_CASE("Each key that mpt does not act on yet gives exactly one warning naming it",
          "[config]") {
  TempDir dir;
  copy_original_without_server(dir);
  const LoadResult r = mpt::config::load_config_dir(dir.str());
  INFO(dump(r.diagnostics));
  std::vector<std::string> keys;
  for (const auto& d : warnings(r.diagnostics)) {
    // A warning names the key in its key field and in the rendered line.
    CHECK(d.line > 0);
    CHECK_THAT(d.to_string(), Contains(": warning: key '" + d.key + "'"));
    const std::string bare = d.key.substr(d.key.find(':') + 1);
    CHECK(std::count(keys.begin(), keys.end(), d.file + bare) == 0);
    keys.push_back(d.file + bare);
  }
  const auto has = [&](const std::string& key) {
    return std::any_of(r.diagnostics.begin(), r.diagnostics.end(),
                       [&](const Diagnostic& d) { return d.key == key; });
  };
  for (const char* k : {"general:cmdport_local", "general:cmd_timeout",
                        "connection:permission", "connection:status", "connection:auth_type",
                        "connection:remote_cmd_port", "path_0:public_ipaddr",
                        "path_0:cmd_default"}) {
    INFO(k);
    CHECK(has(k));
  }
  // path_1 repeats public_ipaddr: it is folded into the path_0 warning.
  CHECK_FALSE(has("path_1:public_ipaddr"));
  const auto pub = std::find_if(r.diagnostics.begin(), r.diagnostics.end(),
                                [](const Diagnostic& d) { return d.key == "path_0:public_ipaddr"; });
  REQUIRE(pub != r.diagnostics.end());
  CHECK_THAT(pub->message, Contains("[path_1] line"));
  // keepalive_time and dead_time set the probe interval now: no warning.
  CHECK_FALSE(has("path_0:keepalive_time"));
  CHECK_FALSE(has("path_0:dead_time"));
  // path status and gw_ipaddr (host route to the peer) are acted on: no warning.
  CHECK_FALSE(has("path_0:status"));
  CHECK_FALSE(has("path_0:gw_ipaddr"));
  // accept_remote is acted on (server mode); 0 does nothing and says nothing.
  CHECK_FALSE(has("general:accept_remote"));
}

TEST_CASE("The original sample with its accept_remote = 1: its unkeyed conf.template is "
          "refused, naming the template's lines",
          "[config]") {
  const LoadResult r = mpt::config::load_config_dir(fixtures_dir() + "/original");
  INFO(dump(r.diagnostics));
  CHECK_FALSE(r.ok());
  CHECK(r.config.interface.accept_remote);
  CHECK(r.config.interface.accept_remote_line == 20);
  const auto errs = errors(r.diagnostics);
  REQUIRE(errs.size() == 2);
  for (const auto& e : errs) {
    CHECK(e.file == fixtures_dir() + "/original/connections/conf.template");
  }
  CHECK(errs[0].line == 9);
  CHECK(errs[0].key == "connection:ip_remote");
  CHECK_THAT(errs[0].message, Contains("set per client in clients/NAME.conf"));
  CHECK(errs[1].line == 15);
  CHECK(errs[1].key == "connection:auth_type");
  CHECK_THAT(errs[1].message, Contains("clients/NAME.conf auth_key"));
  // No clients directory: a warning on the accept_remote line.
  const auto w = warnings(r.diagnostics);
  CHECK(std::any_of(w.begin(), w.end(), [](const Diagnostic& d) {
    return d.line == 20 && d.key == "general:accept_remote" &&
           d.message.find("no clients configured (clients/NAME.conf)") != std::string::npos;
  }));
  REQUIRE(r.config.connections.size() == 1);  // ipv4.conf; no clients
}

TEST_CASE("The single-path example configurations load with no errors and no warnings",
          "[config]") {
  const LoadResult a = mpt::config::load_config_dir(repo_dir() + "/examples/single-path/a");
  const LoadResult b = mpt::config::load_config_dir(repo_dir() + "/examples/single-path/b");
  INFO(dump(a.diagnostics) + dump(b.diagnostics));
  REQUIRE(a.ok());
  REQUIRE(b.ok());
  CHECK(a.diagnostics.empty());
  CHECK(b.diagnostics.empty());
  REQUIRE(a.config.connections.size() == 1);
  REQUIRE(b.config.connections.size() == 1);
  const auto& ca = a.config.connections[0];
  const auto& cb = b.config.connections[0];
  // The two sides mirror each other.
  CHECK(ca.ip_local == cb.ip_remote);
  CHECK(ca.ip_remote == cb.ip_local);
  REQUIRE(ca.paths.size() == 1);
  REQUIRE(cb.paths.size() == 1);
  CHECK(ca.paths[0].private_ipaddr == cb.paths[0].remote_ipaddr);
  CHECK(ca.paths[0].remote_ipaddr == cb.paths[0].private_ipaddr);
  CHECK(ca.local_port == cb.remote_port);
  // Inner IPv4 and IPv6 on the tun device.
  REQUIRE(a.config.interface.tuns.size() == 1);
  CHECK(a.config.interface.tuns[0].ipv4_addr.has_value());
  CHECK(a.config.interface.tuns[0].ipv6_addr.has_value());
  CHECK(b.config.interface.tuns[0].ipv6_addr->addr.family == AF_INET6);
}

TEST_CASE("Diagnostic::to_string renders FILE:LINE: severity: key 'section:key': message",
          "[config]") {
  Diagnostic d;
  d.file = "DIR/connections/a.conf";
  d.line = 12;
  d.key = "path_0:weight_out";
  d.message = "must be an integer in 0..10000 (got 'abc')";
  CHECK(d.to_string() ==
        "DIR/connections/a.conf:12: error: key 'path_0:weight_out': must be an integer in "
        "0..10000 (got 'abc')");
  d.severity = Diagnostic::Severity::kWarning;
  CHECK_THAT(d.to_string(), Contains("a.conf:12: warning: key 'path_0:weight_out'"));
  d.key = "path_3";
  CHECK_THAT(d.to_string(), Contains(": warning: section [path_3]: "));
  d.key.clear();
  d.line = 0;
  CHECK(d.to_string() ==
        "DIR/connections/a.conf: warning: must be an integer in 0..10000 (got 'abc')");
}

TEST_CASE("A bad value gives an error with exactly the original-style message", "[config]") {
  const auto p = parse_conn(conn_text(";", "weight_out = abc"));
  REQUIRE(errors(p.diags).size() == 1);
  CHECK(errors(p.diags)[0].to_string() ==
        "c.conf:10: error: key 'path_0:weight_out': must be an integer in 0..10000 (got 'abc')");
}

TEST_CASE("The INI reader accepts comments, quotes, CRLF and case-insensitive names",
          "[config]") {
  const std::string text =
      "\xEF\xBB\xBF; a comment\r\n"
      "# another comment\r\n"
      "\r\n"
      "  [Connection]   ; trailing comment after a header\r\n"
      "NAME=\"my tunnel ; not a comment\"   # comment\r\n"
      "ip_ver=4\r\n"
      "\tIp_Local   =   10.200.0.1 ; comment\r\n"
      "ip_remote = 10.200.0.2# not a comment -> bad address\r\n"
      "path_count = 1\r\n"
      "[PATH_0]\r\n"
      "remote_ipaddr = \"10.1.1.2\"\r\n"
      "auth_key = abc#def\r\n";
  const auto p = parse_conn(text);
  INFO(dump(p.diags));
  CHECK(p.config.name == "my tunnel ; not a comment");
  CHECK(p.config.ip_local == addr("10.200.0.1"));
  REQUIRE(p.config.paths.size() == 1);
  CHECK(p.config.paths[0].remote_ipaddr == addr("10.1.1.2"));
  // '#' not preceded by whitespace is part of the value.
  const auto errs = errors(p.diags);
  REQUIRE(errs.size() == 2);
  CHECK(errs[0].line == 8);
  CHECK(errs[0].key == "connection:ip_remote");
  CHECK_THAT(errs[0].message, Contains("10.200.0.2# not a comment"));
  CHECK(errs[1].line == 12);
  CHECK(errs[1].key == "path_0:auth_key");
  CHECK_THAT(errs[1].message, Contains("unknown key"));
}

TEST_CASE("Trailing comments need whitespace before ';' or '#'", "[config]") {
  CHECK(parse_conn(conn_text("auth_key = a;b")).config.auth_key == "a;b");
  CHECK(parse_conn(conn_text("auth_key = a ;b")).config.auth_key == "a");
  CHECK(parse_conn(conn_text("auth_key = a\t# b")).config.auth_key == "a");
  CHECK(parse_conn(conn_text("auth_key = ; only a comment")).config.auth_key.empty());
  CHECK(parse_conn(conn_text("auth_key = \"\"")).config.auth_key.empty());
  CHECK(parse_conn(conn_text("auth_key = \" spaced \"")).config.auth_key == " spaced ");
}

TEST_CASE("Lines that are not a comment, a section or key = value are errors with their line",
          "[config]") {
  struct Case {
    std::string line;
    std::string fragment;
  };
  const std::vector<Case> cases = {
      {"just some words", "expected '[section]', 'key = value' or a comment"},
      {"[unterminated", "section header without ']'"},
      {"[path_1] junk", "unexpected text after section header"},
      {"[bad name]", "invalid section name"},
      {"= 5", "invalid key name"},
      {"bad key = 5", "invalid key name"},
      {"auth_key = \"open", "unterminated quoted value"},
      {"auth_key = \"a\" b", "unexpected text after quoted value"},
      {std::string("auth_key = a\x01") + "b", "invalid control character 0x01"},
  };
  for (const auto& c : cases) {
    INFO(c.line);
    const auto p = parse_conn(conn_text(c.line));
    INFO(dump(p.diags));
    const auto errs = errors(p.diags);
    REQUIRE_FALSE(errs.empty());
    CHECK(errs[0].file == "c.conf");
    CHECK(errs[0].line == 7);
    CHECK_THAT(errs[0].message, Contains(c.fragment));
  }
  // A key before any section.
  const auto p = parse_conn("name = x\n" + conn_text());
  REQUIRE(errors(p.diags).size() == 1);
  CHECK(errors(p.diags)[0].line == 1);
  CHECK(errors(p.diags)[0].key.empty());
  CHECK(errors(p.diags)[0].to_string() == "c.conf:1: error: key 'name' outside any section");
}

TEST_CASE("Every bad value is an error naming the file, the line and the section:key",
          "[config]") {
  struct Case {
    bool in_path;  // the line goes into [path_0] (line 10) or [connection] (line 7)
    std::string line;
    std::string key;
    std::string fragment;
  };
  const std::vector<Case> cases = {
      {true, "weight_out = abc", "weight_out", "must be an integer in 0..10000 (got 'abc')"},
      {true, "weight_out = 10001", "weight_out", "0..10000"},
      {true, "weight_in = 10001", "weight_in", "0..10000"},
      {true, "keepalive_time = 256", "keepalive_time", "0..255"},
      {true, "dead_time = -1", "dead_time", "0..65535"},
      {true, "dead_time = 65536", "dead_time", "0..65535"},
      {true, "status = 1", "status", "0 (up) or 128 (down)"},
      {true, "cmd_default = 2", "cmd_default", "0 or 1"},
      {true, "ip_ver = 5", "ip_ver", "4 or 6 (got '5')"},
      {true, "tcp_dst = 80,x", "tcp_dst", "item 'x'"},
      {true, "udp_src = 0", "udp_src", "item '0'"},
      {true, "gw_ipaddr = fd00::1", "gw_ipaddr", "IPv6 address but ip_ver of [path_0] is 4"},
      {true, "private_ipaddr = 10.1.1", "private_ipaddr", "must be an IPv4 or IPv6 address"},
      {true, "public_ipaddr = somewhere", "public_ipaddr", "must be an IPv4 or IPv6 address"},
      {true, "interface_name = a/b", "interface_name", "not a valid interface name"},
      {true, "interface_name = abcdefghijklmnop", "interface_name", "1..15 characters"},
      {true, "window_size = 1.5", "window_size", "0..65535"},
      {true, "bogus = 1", "bogus", "unknown key 'bogus' in section [path_0]"},
      {true, "remote_ipaddr = 10.1.1.3", "remote_ipaddr", "duplicate key (first set on line 9)"},
      {false, "auth_type = 3", "auth_type", "0 (none), 1 or 2"},
      {false, "permission = 4", "permission", "0..3"},
      {false, "gre_key = 0x100000000", "gre_key", "0..4294967295"},
      {false, "gre_key = -1", "gre_key", "0..4294967295"},
      {false, "gre_checksum = yes", "gre_checksum", "0 or 1"},
      {false, "source_port_count = 65", "source_port_count", "0..64"},
      {false, "reorder_window = 65536", "reorder_window", "0..65535"},
      {false, "max_buffdelay_msec = 60001", "max_buffdelay_msec", "0..60000"},
      {false, "local_port = 0", "local_port", "1..65535"},
      {false, "remote_port = 65536", "remote_port", "1..65535"},
      {false, "remote_cmd_port = 70000", "remote_cmd_port", "0..65535"},
      {false, "network_count = 65", "network_count", "0..64"},
      {false, "status = 256", "status", "0..255"},
      {true, "interface_name =", "interface_name", "1..15 characters"},
      {false, "auth_key = \"unterminated", "auth_key", "unterminated quoted value"},
      {false, "ip_local = 10.200.0.9", "ip_local", "duplicate key (first set on line 4)"},
      {false, "unknown_key = 1", "unknown_key", "unknown key 'unknown_key' in section [connection]"},
  };
  for (const auto& c : cases) {
    INFO(c.line);
    const auto p = c.in_path ? parse_conn(conn_text(";", c.line)) : parse_conn(conn_text(c.line));
    INFO(dump(p.diags));
    const auto errs = errors(p.diags);
    REQUIRE(errs.size() == 1);
    CHECK(errs[0].file == "c.conf");
    CHECK(errs[0].line == (c.in_path ? 10 : 7));
    CHECK(errs[0].key == (c.in_path ? "path_0:" : "connection:") + c.key);
    CHECK_THAT(errs[0].message, Contains(c.fragment));
    CHECK_THAT(errs[0].to_string(),
               Contains("c.conf:" + std::to_string(errs[0].line) + ": error: key '" +
                        errs[0].key + "': "));
  }
}

TEST_CASE("A missing required key is reported at the line of its section header", "[config]") {
  const std::string text =
      "[connection]\n"           // 1
      "ip_ver = 4\n"             // 2
      "path_count = 2\n"         // 3
      "\n"                       // 4
      "[path_0]\n"               // 5
      "remote_ipaddr = 10.1.1.2\n"
      "[path_1]\n"               // 7
      "ip_ver = 4\n"
      "[net_0]\n"                // 9
      "src_addr = 10.0.0.0/8\n";
  const auto p = parse_conn(text);
  INFO(dump(p.diags));
  const auto errs = errors(p.diags);
  const auto find = [&](const std::string& key) {
    return std::find_if(errs.begin(), errs.end(), [&](const Diagnostic& d) { return d.key == key; });
  };
  for (const auto& [key, line] : std::vector<std::pair<std::string, int>>{
           {"connection:ip_local", 1}, {"connection:ip_remote", 1}, {"net_0:dst_addr", 9}}) {
    INFO(key);
    const auto it = find(key);
    REQUIRE(it != errs.end());
    CHECK(it->line == line);
    CHECK(it->file == "c.conf");
    CHECK_THAT(it->message, Contains("required key '" + key.substr(key.find(':') + 1) +
                                     "' is missing"));
  }
  // [net_0] exists but network_count is not set (0).
  const auto net = find("net_0");
  REQUIRE(net != errs.end());
  CHECK(net->line == 9);
  CHECK_THAT(net->message, Contains("beyond connection:network_count = 0"));

  const auto no_count = parse_conn("[connection]\nip_ver=4\nip_local=10.0.0.1\nip_remote=10.0.0.2\n");
  REQUIRE(errors(no_count.diags).size() == 1);
  CHECK(errors(no_count.diags)[0].key == "connection:path_count");
  CHECK(errors(no_count.diags)[0].line == 1);
}

TEST_CASE("A file without its main section is an error naming the section", "[config]") {
  const auto c = parse_conn("; empty\n");
  REQUIRE(errors(c.diags).size() == 1);
  CHECK(errors(c.diags)[0].key == "connection");
  CHECK(errors(c.diags)[0].line == 0);
  CHECK(errors(c.diags)[0].to_string() ==
        "c.conf: error: section [connection]: section [connection] is missing");

  const auto i = parse_iface("[tun_0]\nname = x\n");
  REQUIRE_FALSE(errors(i.diags).empty());
  CHECK(errors(i.diags)[0].key == "general");
}

TEST_CASE("Unknown sections are errors naming the file, the line and the section", "[config]") {
  const auto p = parse_conn(conn_text() + "[paths_1]\nx = 1\n[path_01]\n[general]\n");
  INFO(dump(p.diags));
  const auto errs = errors(p.diags);
  REQUIRE(errs.size() == 3);
  CHECK(errs[0].line == 11);
  CHECK(errs[0].key == "paths_1");
  CHECK_THAT(errs[0].message, Contains("unknown section [paths_1]"));
  CHECK(errs[1].key == "path_01");
  CHECK(errs[2].key == "general");
  CHECK(errs[2].line == 14);

  const auto i = parse_iface(iface_text() + "[connection]\n");
  REQUIRE(errors(i.diags).size() == 1);
  CHECK(errors(i.diags)[0].line == 7);
  CHECK(errors(i.diags)[0].key == "connection");
}

TEST_CASE("Duplicate keys and duplicate sections are errors", "[config]") {
  const auto p = parse_conn(conn_text("NAME = again"));
  REQUIRE(errors(p.diags).size() == 1);
  CHECK(errors(p.diags)[0].key == "connection:name");
  CHECK(errors(p.diags)[0].line == 7);
  CHECK_THAT(errors(p.diags)[0].message, Contains("first set on line 2"));
  CHECK(p.config.name == "t");  // the first value is kept

  const auto s = parse_conn(conn_text() + "[Path_0]\nremote_ipaddr = 10.1.1.9\n");
  REQUIRE(errors(s.diags).size() == 1);
  CHECK(errors(s.diags)[0].key == "path_0");
  CHECK(errors(s.diags)[0].line == 11);
  CHECK_THAT(errors(s.diags)[0].message, Contains("duplicate section (first on line 8)"));
}

TEST_CASE("path_count and network_count must match the sections exactly", "[config]") {
  SECTION("a missing path section is reported at the path_count line") {
    const auto p = parse_conn(conn_text("network_count = 1").replace(
        conn_text().find("path_count = 1"), 14, "path_count = 2"));
    INFO(dump(p.diags));
    const auto errs = errors(p.diags);
    REQUIRE(errs.size() == 2);
    CHECK(errs[0].line == 6);
    CHECK(errs[0].key == "connection:path_count");
    CHECK_THAT(errs[0].message, Contains("section [path_1] is missing (connection:path_count = 2)"));
    CHECK(errs[1].line == 7);
    CHECK(errs[1].key == "connection:network_count");
    CHECK_THAT(errs[1].message, Contains("section [net_0] is missing"));
  }
  SECTION("a section beyond the count is reported at its header") {
    const auto p = parse_conn(conn_text() + "[path_1]\nremote_ipaddr = 10.1.2.2\n");
    const auto errs = errors(p.diags);
    REQUIRE(errs.size() == 1);
    CHECK(errs[0].line == 11);
    CHECK(errs[0].key == "path_1");
    CHECK_THAT(errs[0].message, Contains("beyond connection:path_count = 1"));
    CHECK(p.config.paths.size() == 1);
  }
  SECTION("counts are range checked") {
    for (const char* bad : {"path_count = 0", "path_count = 65", "path_count = x"}) {
      INFO(bad);
      std::string text = conn_text();
      text.replace(text.find("path_count = 1"), 14, bad);
      const auto errs = errors(parse_conn(text).diags);
      REQUIRE_FALSE(errs.empty());
      CHECK(errs[0].key == "connection:path_count");
      CHECK(errs[0].line == 6);
      CHECK_THAT(errs[0].message, Contains("1..64"));
    }
  }
  SECTION("section indexes beyond the supported maximum") {
    const auto p = parse_conn(conn_text() + "[path_64]\n");
    REQUIRE_FALSE(errors(p.diags).empty());
    CHECK(errors(p.diags)[0].key == "path_64");
    CHECK_THAT(errors(p.diags)[0].message, Contains("out of range"));
  }
  SECTION("all counts at the maximum load") {
    std::string text =
        "[connection]\nip_ver=4\nip_local=10.0.0.1\nip_remote=10.0.0.2\npath_count=64\n"
        "network_count=64\n";
    for (int i = 0; i < 64; ++i) {
      text += "[path_" + std::to_string(i) + "]\nremote_ipaddr=10.1." + std::to_string(i) +
              ".2\n[net_" + std::to_string(i) + "]\nsrc_addr=10.0.0.1\ndst_addr=10.9." +
              std::to_string(i) + ".0/24\n";
    }
    const auto p = parse_conn(text);
    INFO(dump(p.diags));
    // Only the one warning that [net_N] src_addr is not acted on (naming every section).
    CHECK(errors(p.diags).empty());
    CHECK(p.diags.size() == 1);
    REQUIRE(p.config.paths.size() == 64);
    CHECK(p.config.paths[63].remote_ipaddr == addr("10.1.63.2"));
    REQUIRE(p.config.networks.size() == 64);
    CHECK(p.config.networks[63].dst_addr.to_string() == "10.9.63.0/24");
    CHECK(p.config.networks[0].src_addr.to_string() == "10.0.0.1/32");
  }
}

TEST_CASE("Numbers are parsed strictly and defaults are applied", "[config]") {
  for (const char* bad : {"weight_out = 1x", "weight_out = +1", "weight_out = 010",
                          "weight_out = 0x10", "weight_out = 1 2", "weight_out = 99999999999999999999",
                          "weight_out =", "weight_out = 1.0"}) {
    INFO(bad);
    const auto errs = errors(parse_conn(conn_text(";", bad)).diags);
    REQUIRE(errs.size() == 1);
    CHECK(errs[0].key == "path_0:weight_out");
  }
  CHECK_THAT(errors(parse_conn(conn_text(";", "weight_out = 010")).diags)[0].message,
             Contains("without leading zeros"));

  const auto limits = parse_conn(conn_text("reorder_window = 65535", "weight_out = 10000"));
  INFO(dump(limits.diags));
  CHECK(errors(limits.diags).empty());
  CHECK(limits.config.reorder_window == 65535);
  CHECK(limits.config.paths[0].weight_out == 10000);

  const auto zero = parse_conn(conn_text("max_buffdelay_msec = 0", "weight_out = 0"));
  CHECK(errors(zero.diags).empty());
  CHECK(zero.config.max_buffdelay_msec == 100);  // 0 -> 100 ms as in the original
  CHECK(zero.config.paths[0].weight_out == 0);    // standby

  const auto ka = parse_conn(conn_text(";", "keepalive_time = 7"));
  CHECK(ka.config.paths[0].dead_time_s == 21);  // 0 -> 3 * keepalive_time

  const auto defaults = parse_conn(conn_text());
  INFO(dump(defaults.diags));
  CHECK(defaults.diags.empty());
  const auto& c = defaults.config;
  CHECK(c.local_port == 4754);
  CHECK(c.remote_port == 4754);
  CHECK(c.source_port_count == 4);
  CHECK(c.reorder_window == 0);
  CHECK(c.max_buffdelay_msec == 100);
  CHECK(c.network_count == 0);
  CHECK_FALSE(c.gre_key.has_value());
  CHECK_FALSE(c.gre_checksum);
  CHECK(c.paths[0].weight_out == 1);
  CHECK(c.paths[0].ip_ver == 4);
  CHECK(c.paths[0].interface_name == "unnamed_path");
  CHECK(c.paths[0].status == 0);
}

TEST_CASE("mpt's new connection keys: source_port_count, gre_key and gre_checksum",
          "[config]") {
  const auto spc = parse_conn(conn_text("source_port_count = 0"));
  CHECK(errors(spc.diags).empty());
  CHECK(spc.config.source_port_count == 0);
  CHECK(parse_conn(conn_text("source_port_count = 64")).config.source_port_count == 64);

  CHECK(parse_conn(conn_text("gre_key = 0")).config.gre_key == 0U);
  CHECK(parse_conn(conn_text("gre_key = 4294967295")).config.gre_key == 4294967295U);
  CHECK(parse_conn(conn_text("gre_key = 0xDEADbeef")).config.gre_key == 0xdeadbeefU);
  CHECK(parse_conn(conn_text("gre_key = 0x0001")).config.gre_key == 1U);
  for (const char* bad : {"gre_key = 4294967296", "gre_key = 0x", "gre_key = 0x1g",
                          "gre_key = x1", "gre_key = 0x1ffffffff", "gre_key ="}) {
    INFO(bad);
    const auto p = parse_conn(conn_text(bad));
    REQUIRE(errors(p.diags).size() == 1);
    CHECK(errors(p.diags)[0].key == "connection:gre_key");
    CHECK_FALSE(p.config.gre_key.has_value());
  }
  CHECK(parse_conn(conn_text("gre_checksum = 1")).config.gre_checksum);
  CHECK_FALSE(parse_conn(conn_text("gre_checksum = 0")).config.gre_checksum);
  // None of them is a "not acted on" key.
  CHECK(parse_conn(conn_text("gre_checksum = 1")).diags.empty());
}

TEST_CASE("Port lists accept the original separators and mpt's ranges", "[config]") {
  const auto p = parse_conn(conn_text(";", "tcp_dst = 80 443,8080;53:22\t1000-2000"));
  INFO(dump(p.diags));
  REQUIRE(errors(p.diags).empty());
  const std::vector<PortRange> want = {{80, 80},   {443, 443}, {8080, 8080},
                                       {53, 53},   {22, 22},   {1000, 2000}};
  CHECK(p.config.paths[0].tcp_dst == want);

  const auto all =
      parse_conn(conn_text(";", "udp_src = \"1-65535 , 7\""));
  REQUIRE(errors(all.diags).empty());
  CHECK(all.config.paths[0].udp_src == std::vector<PortRange>{{1, 65535}, {7, 7}});

  const auto empty = parse_conn(conn_text(";", "udp_dst ="));
  CHECK(errors(empty.diags).empty());
  CHECK(empty.config.paths[0].udp_dst.empty());

  for (const char* bad : {"tcp_src = 0", "tcp_src = 65536", "tcp_src = 2000-1000",
                          "tcp_src = 1-", "tcp_src = -5", "tcp_src = 80 - 90", "tcp_src = 1-2-3",
                          "tcp_src = abc", "tcp_src = 08"}) {
    INFO(bad);
    const auto errs = errors(parse_conn(conn_text(";", bad)).diags);
    REQUIRE(errs.size() == 1);
    CHECK(errs[0].key == "path_0:tcp_src");
    CHECK(errs[0].line == 10);
  }
  // Port mapping is acted on: no warning.
  CHECK(warnings(p.diags).empty());
}

TEST_CASE("The signalling keys are parsed and range checked", "[config]") {
  const auto ok = parse_conn(conn_text("probe_interval_ms = 20\ndead_misses = 3\n"
                                       "hold_down_ms = 500\ncontrol_auth = none"));
  CHECK(errors(ok.diags).empty());
  CHECK(ok.config.probe_interval_ms == 20);
  CHECK(ok.config.dead_misses == 3);
  CHECK(ok.config.hold_down_ms == 500);
  CHECK(ok.config.control_auth == "none");
  for (const char* bad : {"probe_interval_ms = 0", "dead_misses = 0", "hold_down_ms = -1",
                          "control_auth = maybe"}) {
    INFO(bad);
    CHECK(errors(parse_conn(conn_text(bad)).diags).size() == 1);
  }
}

TEST_CASE("scheduler accepts auto, bytes, packets and flow, defaults to auto and rejects anything else", "[config]") {
  CHECK(parse_conn(conn_text("scheduler = packets")).config.scheduler == "packets");
  CHECK(parse_conn(conn_text("scheduler = FLOW")).config.scheduler == "flow");
  CHECK(parse_conn(conn_text("scheduler = bytes")).config.scheduler == "bytes");
  CHECK(parse_conn(conn_text("scheduler = Auto")).config.scheduler == "auto");
  CHECK(parse_conn(conn_text(";")).config.scheduler == "auto");
  const auto bad = parse_conn(conn_text("scheduler = random"));
  const auto errs = errors(bad.diags);
  REQUIRE(errs.size() == 1);
  CHECK(errs[0].key == "connection:scheduler");
  CHECK(errs[0].message.find("auto, bytes, packets or flow") != std::string::npos);
}

TEST_CASE("public_ipaddr = private_ipaddr means the same address as the private one",
          "[config]") {
  const std::string text =
      "[connection]\nip_ver=4\nip_local=10.0.0.1\nip_remote=10.0.0.2\npath_count=1\n"
      "[path_0]\nprivate_ipaddr = 10.1.1.1\npublic_ipaddr = private_ipaddr\n"
      "remote_ipaddr = 10.1.1.2\n";
  const auto p = parse_conn(text);
  INFO(dump(p.diags));
  CHECK(p.diags.empty());  // what mpt does anyway: no warning
  CHECK(p.config.paths[0].public_ipaddr == addr("10.1.1.1"));
  CHECK(p.config.paths[0].private_ipaddr == addr("10.1.1.1"));

  // public_ipaddr = 0.0.0.0 means "auto" (same as private): no warning either.
  const auto z = parse_conn(conn_text(";", "public_ipaddr = 0.0.0.0"));
  CHECK(z.diags.empty());
  const auto set = parse_conn(conn_text(";", "public_ipaddr = 192.0.2.1"));
  REQUIRE(warnings(set.diags).size() == 1);
  CHECK(warnings(set.diags)[0].key == "path_0:public_ipaddr");
}

TEST_CASE("IPv6 inner addresses, outer paths and networks are parsed", "[config]") {
  const std::string text =
      "[connection]\n"
      "ip_ver = 6\n"
      "ip_local = fd00:200::1\n"
      "ip_remote = FD00:200::2\n"
      "path_count = 2\n"
      "network_count = 1\n"
      "[path_0]\n"
      "ip_ver = 6\n"
      "private_ipaddr = 2001:db8:1::1\n"
      "remote_ipaddr = 2001:db8:1::2\n"
      "[path_1]\n"
      "private_ipaddr = 10.1.2.1\n"  // outer IPv4 on the other path
      "remote_ipaddr = 10.1.2.2\n"
      "[net_0]\n"
      "ip_ver = 6\n"
      "src_addr = fd00:1::/48\n"
      "dst_addr = ::/0\n";
  const auto p = parse_conn(text);
  INFO(dump(p.diags));
  REQUIRE(errors(p.diags).empty());
  REQUIRE(p.diags.size() == 1);
  CHECK(p.diags[0].key == "net_0:src_addr");
  CHECK_THAT(p.diags[0].message, Contains("not acted on") && Contains("destination"));
  const auto& c = p.config;
  CHECK(c.ip_ver == 6);
  CHECK(c.ip_local.family == AF_INET6);
  CHECK(c.ip_remote.to_string() == "fd00:200::2");
  CHECK(c.paths[0].ip_ver == 6);
  CHECK(c.paths[0].remote_ipaddr.to_string() == "2001:db8:1::2");
  CHECK(c.paths[1].ip_ver == 4);
  CHECK(c.paths[1].remote_ipaddr.family == AF_INET);
  CHECK(c.networks[0].src_addr.to_string() == "fd00:1::/48");
  CHECK(c.networks[0].dst_addr.addr.family == AF_INET6);
  CHECK(c.networks[0].dst_addr.prefix_len == 0);
}

TEST_CASE("An address whose family does not match the section's ip_ver is an error",
          "[config]") {
  const std::string text =
      "[connection]\n"           // 1
      "ip_ver = 6\n"             // 2
      "ip_local = 10.0.0.1\n"    // 3
      "ip_remote = fd00::2\n"    // 4
      "path_count = 1\n"
      "network_count = 1\n"
      "[path_0]\n"               // 7
      "remote_ipaddr = fd00::9\n"  // 8: path ip_ver defaults to 4
      "[net_0]\n"                // 9
      "src_addr = 10.0.0.0/8\n"
      "dst_addr = fd00::/8\n";   // 11: net ip_ver defaults to 4
  const auto p = parse_conn(text);
  INFO(dump(p.diags));
  const auto errs = errors(p.diags);
  REQUIRE(errs.size() == 3);
  CHECK(errs[0].line == 3);
  CHECK(errs[0].key == "connection:ip_local");
  CHECK_THAT(errs[0].message, Contains("is an IPv4 address but ip_ver of [connection] is 6"));
  CHECK(errs[1].line == 8);
  CHECK(errs[1].key == "path_0:remote_ipaddr");
  CHECK(errs[2].line == 11);
  CHECK(errs[2].key == "net_0:dst_addr");
  CHECK_THAT(errs[2].message, Contains("IPv6 prefix"));

  // A v4-mapped IPv6 address is an IPv4 address.
  const auto m = parse_conn(conn_text(";", "gw_ipaddr = ::ffff:10.1.1.1"));
  CHECK(errors(m.diags).empty());
  CHECK(m.config.paths[0].gw_ipaddr == addr("10.1.1.1"));

  // With a bad ip_ver the addresses are not reported a second time.
  std::string bad = conn_text();
  bad.replace(bad.find("ip_ver = 4"), 10, "ip_ver = 7");
  REQUIRE(errors(parse_conn(bad).diags).size() == 1);
}

TEST_CASE("ip_local and ip_remote must be real, different addresses", "[config]") {
  std::string text = conn_text();
  text.replace(text.find("10.200.0.2"), 10, "10.200.0.1");
  auto errs = errors(parse_conn(text).diags);
  REQUIRE(errs.size() == 1);
  CHECK(errs[0].key == "connection:ip_remote");
  CHECK_THAT(errs[0].message, Contains("must differ from ip_local"));

  text = conn_text();
  text.replace(text.find("10.200.0.1"), 10, "0.0.0.0");
  errs = errors(parse_conn(text).diags);
  REQUIRE(errs.size() == 1);
  CHECK(errs[0].key == "connection:ip_local");
  CHECK(errs[0].line == 4);

}

TEST_CASE("A peer address left open is learned, and only on a keyed connection", "[config]") {
  TempDir dir;
  dir.write("interface.conf", iface_text());
  for (const std::string open : {"remote_ipaddr = 0.0.0.0", ";"}) {
    INFO(open);
    std::string text = conn_text();
    text.replace(text.find("remote_ipaddr = 10.1.1.2"), 24, open);
    // Without a key: an error naming the file, the line and the key.
    dir.write("connections/c.conf", text);
    LoadResult r = mpt::config::load_config_dir(dir.str());
    INFO(dump(r.diagnostics));
    auto errs = errors(r.diagnostics);
    REQUIRE(errs.size() == 1);
    CHECK(errs[0].file == dir.str() + "/connections/c.conf");
    CHECK(errs[0].key == "path_0:remote_ipaddr");
    CHECK(errs[0].line == (open == ";" ? 8 : 9));
    CHECK_THAT(errs[0].message, Contains("keyed connection"));
    // With one: valid, and the path has no peer address until it is learned.
    text.replace(text.find("control_auth = none"), 19, "auth_key = 0123456789abcdef0123");
    dir.write("connections/c.conf", text);
    r = mpt::config::load_config_dir(dir.str());
    INFO(dump(r.diagnostics));
    CHECK(r.ok());
    REQUIRE(r.config.connections.size() == 1);
    CHECK_FALSE(r.config.connections[0].paths.at(0).remote_ipaddr.is_set());
  }
}

TEST_CASE("interface.conf: tun MTU, addresses and name are checked", "[config]") {
  const auto ok = parse_iface(iface_text("accept_remote = 0", "mtu = 576"));
  INFO(dump(ok.diags));
  CHECK(errors(ok.diags).empty());
  CHECK(ok.config.tuns[0].mtu == 576);
  CHECK(ok.config.tuns[0].name == "tun0");
  CHECK(parse_iface(iface_text(";", "mtu = 9000")).config.tuns[0].mtu == 9000);
  // Absent or "auto": automatic (0; mptd resolves it at start, cli/tunnel_mtu.h).
  CHECK(parse_iface(iface_text()).config.tuns[0].mtu == 0);
  const auto automatic = parse_iface(iface_text(";", "mtu = auto"));
  CHECK(errors(automatic.diags).empty());
  CHECK(automatic.config.tuns[0].mtu == 0);

  struct Case {
    std::string tun_line;
    std::string key;
    std::string fragment;
  };
  const std::vector<Case> cases = {
      {"mtu = 575", "tun_0:mtu", "576..9000"},
      {"mtu = 9001", "tun_0:mtu", "576..9000"},
      {"ipv4_addr = 10.0.0.1/24", "tun_0:ipv4_addr", "duplicate key"},
      {"ipv6_addr = 10.0.0.0/8", "tun_0:ipv6_addr", "IPv4 prefix"},
      {"ipv6_addr = fd00::1/129", "tun_0:ipv6_addr", "optional prefix length"},
      {"ipv6_addr = fd00::1/0", "tun_0:ipv6_addr", "prefix length must be 1..128"},
      {"name = way-too-long-name0", "tun_0:name", "1..15 characters"},
      {"name = a b", "tun_0:name", "not a valid interface name"},
      {"color = blue", "tun_0:color", "unknown key"},
  };
  for (const auto& c : cases) {
    INFO(c.tun_line);
    const auto p = parse_iface(iface_text(";", c.tun_line));
    INFO(dump(p.diags));
    const auto errs = errors(p.diags);
    REQUIRE(errs.size() == 1);
    CHECK(errs[0].file == "interface.conf");
    CHECK(errs[0].line == 6);
    CHECK(errs[0].key == c.key);
    CHECK_THAT(errs[0].message, Contains(c.fragment));
  }

  // An IPv6 tunnel address needs an MTU of at least 1280.
  const std::string v6 =
      "[general]\ntunnel_num = 1\n[tun_0]\nmtu = 1279\nipv6_addr = fd00::1/64\n";
  auto errs = errors(parse_iface(v6).diags);
  REQUIRE(errs.size() == 1);
  CHECK(errs[0].line == 4);
  CHECK(errs[0].key == "tun_0:mtu");
  CHECK_THAT(errs[0].message, Contains("at least 1280"));
  CHECK(errors(parse_iface(iface_text(";", "mtu = 1279")).diags).empty());  // IPv4 only

  // 0.0.0.0 means "not configured", as in the original.
  const auto unset = parse_iface(iface_text(";", "ipv6_addr = ::/0"));
  CHECK(errors(unset.diags).empty());
  CHECK_FALSE(unset.config.tuns[0].ipv6_addr.has_value());
}

TEST_CASE("interface.conf: queues is 1..4, default 1", "[config]") {
  const auto dflt = parse_iface(iface_text());
  CHECK(errors(dflt.diags).empty());
  CHECK(dflt.config.tuns[0].queues == 1);
  CHECK(dflt.config.tuns[0].queues_line == 0);
  for (const int n : {1, 2, 4}) {
    const auto p = parse_iface(iface_text(";", "queues = " + std::to_string(n)));
    INFO(dump(p.diags));
    CHECK(p.diags.empty());  // not even a warning
    CHECK(p.config.tuns[0].queues == n);
    CHECK(p.config.tuns[0].queues_line == 6);
  }
  for (const char* bad : {"0", "5", "-1", "two", "02"}) {
    INFO(bad);
    const auto p = parse_iface(iface_text(";", std::string("queues = ") + bad));
    INFO(dump(p.diags));
    const auto errs = errors(p.diags);
    REQUIRE(errs.size() == 1);
    CHECK(errs[0].file == "interface.conf");
    CHECK(errs[0].line == 6);
    CHECK(errs[0].key == "tun_0:queues");
    CHECK_THAT(errs[0].message, Contains("must be an integer in 1..4"));
    CHECK(p.config.tuns[0].queues == 1);  // the default stays
  }
  CHECK(errors(parse_iface(iface_text(";", "queues = 0")).diags)[0].to_string() ==
        "interface.conf:6: error: key 'tun_0:queues': must be an integer in 1..4 (got '0')");
  CHECK(errors(parse_iface(iface_text(";", "queues = 5")).diags)[0].to_string() ==
        "interface.conf:6: error: key 'tun_0:queues': must be an integer in 1..4 (got '5')");
}

TEST_CASE("queues > 1 loads for keyed and plain connections alike", "[config]") {
  // Sealed data carries its sequence space in the sealed header, plain data in the GRE key's
  // low bits (engine/gre_udp.h space_key): either kind of connection may have several queues.
  const std::string keyed = "auth_key = s3cret-s3cret-s3cret";
  // A second connection file (name u, its own peer address) with `extra` on line 7.
  auto second = [](const std::string& extra) {
    std::string text = conn_text(extra);
    text.replace(text.find("name = t"), 8, "name = u");
    text.replace(text.find("10.1.1.2"), 8, "10.1.1.3");
    return text;
  };
  for (const auto& [a, b] : std::vector<std::pair<std::string, std::string>>{
           {keyed, keyed}, {"control_auth = none", "control_auth = none"},
           {keyed, "control_auth = none"}}) {
    INFO(a << " / " << b);
    TempDir dir;
    dir.write("interface.conf", iface_text(";", "queues = 2"));
    dir.write("connections/a.conf", conn_text(a));
    dir.write("connections/b.conf", second(b));
    const LoadResult r = mpt::config::load_config_dir(dir.str());
    INFO(dump(r.diagnostics));
    CHECK(r.ok());
    CHECK(r.diagnostics.empty());
    CHECK(r.config.interface.tuns.at(0).queues == 2);
  }
  SECTION("without queues the default is 1") {
    TempDir dir;
    dir.write("interface.conf", iface_text());
    dir.write("connections/a.conf", conn_text());  // control_auth = none
    const LoadResult r = mpt::config::load_config_dir(dir.str());
    INFO(dump(r.diagnostics));
    CHECK(r.ok());
    CHECK(r.config.interface.tuns.at(0).queues == 1);
  }
  SECTION("server mode") {
    TempDir dir;
    dir.write("interface.conf", "[general]\ntunnel_num = 1\naccept_remote = 1\n[tun_0]\n"
                                "ipv4_addr = 10.200.0.1/24\nqueues = 3\n");
    dir.write("connections/conf.template", template_text());
    dir.write("clients/alice.conf", client_text("10.200.0.2", "alice-key-0123456789"));
    const LoadResult r = mpt::config::load_config_dir(dir.str());
    INFO(dump(r.diagnostics));
    CHECK(r.ok());
    CHECK(r.config.interface.tuns.at(0).queues == 3);
  }
}

TEST_CASE("interface.conf: tunnel_num must be at least 1 and more than one tun is a warning",
          "[config]") {
  for (const char* bad : {"tunnel_num = 0", "tunnel_num = x", "tunnel_num = 65"}) {
    INFO(bad);
    std::string text = iface_text();
    text.replace(text.find("tunnel_num = 1"), 14, bad);
    const auto p = parse_iface(text);
    REQUIRE_FALSE(errors(p.diags).empty());
    CHECK(errors(p.diags)[0].key == "general:tunnel_num");
    CHECK(errors(p.diags)[0].line == 2);
  }
  const auto missing = parse_iface("[general]\n[tun_0]\n");
  REQUIRE(errors(missing.diags).size() == 1);
  CHECK(errors(missing.diags)[0].key == "general:tunnel_num");
  CHECK(errors(missing.diags)[0].line == 1);

  std::string two = iface_text() + "[tun_1]\nname = tun1\n";
  two.replace(two.find("tunnel_num = 1"), 14, "tunnel_num = 2");
  const auto p = parse_iface(two);
  INFO(dump(p.diags));
  CHECK(errors(p.diags).empty());
  REQUIRE(warnings(p.diags).size() == 1);
  CHECK(warnings(p.diags)[0].key == "general:tunnel_num");
  CHECK_THAT(warnings(p.diags)[0].message, Contains("only [tun_0] is used"));
  REQUIRE(p.config.tuns.size() == 2);
  CHECK(p.config.tuns[1].name == "tun1");

  std::string gap = iface_text();
  gap.replace(gap.find("tunnel_num = 1"), 14, "tunnel_num = 2");
  const auto g = parse_iface(gap);
  REQUIRE(errors(g.diags).size() == 1);
  CHECK(errors(g.diags)[0].line == 2);
  CHECK_THAT(errors(g.diags)[0].message, Contains("section [tun_1] is missing"));

  const auto beyond = parse_iface(iface_text() + "[tun_1]\n");
  REQUIRE(errors(beyond.diags).size() == 1);
  CHECK(errors(beyond.diags)[0].key == "tun_1");
  CHECK(errors(beyond.diags)[0].line == 7);
}

TEST_CASE("parse_ip_address and parse_ip_prefix accept addresses and reject junk",
          "[config]") {
  using mpt::config::parse_ip_address;
  using mpt::config::parse_ip_prefix;
  CHECK(parse_ip_address("10.1.2.3")->family == AF_INET);
  CHECK(parse_ip_address("10.1.2.3")->to_string() == "10.1.2.3");
  CHECK(parse_ip_address("2001:DB8::1")->to_string() == "2001:db8::1");
  CHECK_FALSE(parse_ip_address("0.0.0.0")->is_set());
  CHECK_FALSE(parse_ip_address("::")->is_set());
  CHECK(parse_ip_address("::ffff:192.0.2.1")->family == AF_INET);
  for (const char* junk : {"", "10.1.2", "10.1.2.256", "010.1.2.3", " 10.1.2.3", "10.1.2.3 ",
                           "fe80::1%eth0", "1:2:3:4:5:6:7:8:9", "localhost", "10.0.0.1/24"}) {
    INFO(junk);
    CHECK_FALSE(parse_ip_address(junk).has_value());
  }
  CHECK_FALSE(parse_ip_address(std::string("10.0.0.1\0x", 10)).has_value());

  CHECK(parse_ip_prefix("10.0.0.0/8")->to_string() == "10.0.0.0/8");
  CHECK(parse_ip_prefix("10.0.0.1")->prefix_len == 32);
  CHECK(parse_ip_prefix("fd00::1")->prefix_len == 128);
  CHECK(parse_ip_prefix("0.0.0.0/0")->addr.family == AF_INET);  // "everything" keeps its family
  CHECK(parse_ip_prefix("::/0")->to_string() == "::/0");
  for (const char* junk : {"10.0.0.0/33", "fd00::/129", "10.0.0.0/", "/8", "10.0.0.0/08",
                           "10.0.0.0/-1", "10.0.0.0/8/8", "x/8"}) {
    INFO(junk);
    CHECK_FALSE(parse_ip_prefix(junk).has_value());
  }
}

TEST_CASE("IpAddress equality compares family and bytes", "[config]") {
  CHECK(addr("10.0.0.1") == addr("10.0.0.1"));
  CHECK_FALSE(addr("10.0.0.1") == addr("10.0.0.2"));
  CHECK(addr("fd00::1") == addr("FD00:0::1"));
  CHECK_FALSE(addr("::ffff:10.0.0.1") == addr("fd00::1"));
  CHECK(addr("::ffff:10.0.0.1") == addr("10.0.0.1"));
  CHECK(IpAddress{} == addr("0.0.0.0"));
  CHECK(IpAddress{}.to_string() == "unset");
}

TEST_CASE("load_config_dir reads only *.conf connection files, sorted by name", "[config]") {
  TempDir dir;
  dir.write("interface.conf", iface_text());
  auto conn_named = [](const std::string& name, const std::string& remote) {
    std::string t = conn_text();
    t.replace(t.find("name = t"), 8, "name = " + name);
    t.replace(t.find("10.1.1.2"), 8, remote);
    return t;
  };
  dir.write("connections/b.conf", conn_named("bee", "10.1.1.3"));
  dir.write("connections/a.conf", conn_named("ay", "10.1.1.4"));
  for (const char* ignored : {"conf.template", "x.conf.A", "x.conf~", "conf", "x.CONF"}) {
    dir.write(std::string("connections/") + ignored, "this is not a valid file\n");
  }
  fs::create_directories(dir.str() + "/connections/d.conf");  // a directory: ignored
  const LoadResult r = mpt::config::load_config_dir(dir.str());
  INFO(dump(r.diagnostics));
  CHECK(r.ok());
  CHECK(r.diagnostics.empty());
  CHECK(r.config.dir == dir.str());
  REQUIRE(r.config.connections.size() == 2);
  CHECK(r.config.connections[0].name == "ay");
  CHECK(r.config.connections[0].file == dir.str() + "/connections/a.conf");
  CHECK(r.config.connections[1].name == "bee");
}

TEST_CASE("load_config_dir reports missing files and directories", "[config]") {
  SECTION("an empty directory") {
    TempDir dir;
    const LoadResult r = mpt::config::load_config_dir(dir.str());
    INFO(dump(r.diagnostics));
    CHECK_FALSE(r.ok());
    const auto errs = errors(r.diagnostics);
    REQUIRE(errs.size() == 2);
    CHECK(errs[0].file == dir.str() + "/interface.conf");
    CHECK_THAT(errs[0].message, Contains("not found"));
    CHECK(errs[1].file == dir.str() + "/connections");
  }
  SECTION("a connections directory without *.conf files") {
    TempDir dir;
    dir.write("interface.conf", iface_text());
    dir.write("connections/conf.template", conn_text());
    const LoadResult r = mpt::config::load_config_dir(dir.str());
    const auto errs = errors(r.diagnostics);
    REQUIRE(errs.size() == 1);
    CHECK(errs[0].file == dir.str() + "/connections");
    CHECK_THAT(errs[0].to_string(), Contains("no connection files"));
  }
  SECTION("files that are not regular files or are too large") {
    TempDir dir;
    fs::create_directories(dir.str() + "/interface.conf");
    dir.write("connections/big.conf", std::string(2 * 1024 * 1024, ';'));
    REQUIRE(::mkfifo((dir.str() + "/connections/fifo.conf").c_str(), 0600) == 0);
    const LoadResult r = mpt::config::load_config_dir(dir.str());
    INFO(dump(r.diagnostics));
    const auto errs = errors(r.diagnostics);
    REQUIRE(errs.size() == 2);
    CHECK_THAT(errs[0].to_string(), Contains("interface.conf: error: not a regular file"));
    CHECK_THAT(errs[1].to_string(), Contains("big.conf: error: file too large"));
  }
  SECTION("a directory that does not exist") {
    const LoadResult r = mpt::config::load_config_dir("/nonexistent/mpt/config");
    CHECK_FALSE(r.ok());
    CHECK(errors(r.diagnostics).size() == 2);
  }
  SECTION("errors of every file are collected, in file order") {
    TempDir dir;
    dir.write("interface.conf", iface_text(";", "mtu = 1"));
    dir.write("connections/a.conf", conn_text("control_auth = none", "weight_out = abc"));
    std::string b_text = conn_text("bogus = 1");  // and no auth_key: a second error there
    b_text.replace(b_text.find("name = t"), 8, "name = u");
    dir.write("connections/b.conf", b_text);
    const LoadResult r = mpt::config::load_config_dir(dir.str());
    const auto errs = errors(r.diagnostics);
    INFO(dump(r.diagnostics));
    REQUIRE(errs.size() == 4);
    CHECK(errs[0].to_string() == dir.str() + "/interface.conf:6: error: key 'tun_0:mtu': " +
                                     "must be an integer in 576..9000 (got '1')");
    CHECK(errs[1].to_string() == dir.str() + "/connections/a.conf:10: error: key " +
                                     "'path_0:weight_out': must be an integer in 0..10000 " +
                                     "(got 'abc')");
    CHECK(errs[2].file == dir.str() + "/connections/b.conf");  // in line order within a file
    CHECK(errs[2].key == "connection:auth_key");
    CHECK(errs[2].line == 1);
    CHECK(errs[3].file == dir.str() + "/connections/b.conf");
    CHECK(errs[3].line == 7);
  }
}

TEST_CASE("A connection without auth_key is refused unless it opts into unauthenticated "
          "control messages", "[config]") {
  TempDir dir;
  dir.write("interface.conf", iface_text());
  dir.write("connections/c.conf", conn_text(";"));
  LoadResult r = mpt::config::load_config_dir(dir.str());
  auto errs = errors(r.diagnostics);
  REQUIRE(errs.size() == 1);
  CHECK(errs[0].key == "connection:auth_key");
  CHECK(errs[0].line == 1);
  CHECK_THAT(errs[0].message, Contains("control_auth = none"));
  for (const char* ok : {"auth_key = s3cret-s3cret-s3cret", "control_auth = none", "auth_type = 0"}) {
    INFO(ok);
    dir.write("connections/c.conf", conn_text(ok));
    r = mpt::config::load_config_dir(dir.str());
    CHECK(r.ok());
  }
  dir.write("connections/c.conf", conn_text("auth_type = 2"));  // SHA-256 but no key
  CHECK_FALSE(mpt::config::load_config_dir(dir.str()).ok());
  // The original's auth_type = 0: unauthenticated signalling where a path has keepalives,
  // a plain RFC 8086 tunnel (no signalling) where none has, as the original ran it.
  dir.write("connections/c.conf", conn_text("auth_type = 0", "keepalive_time = 5"));
  CHECK(mpt::config::load_config_dir(dir.str()).config.connections.at(0).control_auth == "none");
  dir.write("connections/c.conf", conn_text("auth_type = 0"));
  CHECK(mpt::config::load_config_dir(dir.str()).config.connections.at(0).control_auth == "off");
  dir.write("connections/c.conf", conn_text("control_auth = off"));
  CHECK(mpt::config::load_config_dir(dir.str()).ok());
  dir.write("connections/c.conf", conn_text("control_auth = none"));
  CHECK(mpt::config::load_config_dir(dir.str()).config.connections.at(0).control_auth == "none");
}

TEST_CASE("Two connections with the same name are an error naming both files", "[config]") {
  TempDir dir;
  dir.write("interface.conf", iface_text());
  std::string second = conn_text();
  second.replace(second.find("10.1.1.2"), 8, "10.1.1.3");
  dir.write("connections/one.conf", conn_text());
  dir.write("connections/two.conf", second);
  const LoadResult r = mpt::config::load_config_dir(dir.str());
  const auto errs = errors(r.diagnostics);
  REQUIRE(errs.size() == 1);
  CHECK(errs[0].file == dir.str() + "/connections/two.conf");
  CHECK(errs[0].line == 2);
  CHECK(errs[0].key == "connection:name");
  CHECK_THAT(errs[0].message, Contains("duplicate connection name 't'"));
  CHECK_THAT(errs[0].message, Contains("one.conf:2"));
}

TEST_CASE("An ip_local that differs from the tun address is a warning", "[config]") {
  TempDir dir;
  dir.write("interface.conf", iface_text());  // tun_0 ipv4_addr 10.200.0.1/24
  std::string text = conn_text();
  text.replace(text.find("10.200.0.1"), 10, "10.200.0.7");
  dir.write("connections/c.conf", text);
  const LoadResult r = mpt::config::load_config_dir(dir.str());
  INFO(dump(r.diagnostics));
  CHECK(r.ok());
  REQUIRE(warnings(r.diagnostics).size() == 1);
  CHECK(warnings(r.diagnostics)[0].key == "connection:ip_local");
  CHECK(warnings(r.diagnostics)[0].line == 4);
  CHECK_THAT(warnings(r.diagnostics)[0].message, Contains("10.200.0.1"));
}

TEST_CASE("Bad content never throws and always yields diagnostics", "[config]") {
  std::mt19937 rng(12345);
  const std::string alphabet = "[]=;#\"\n\r\t _-.:/,0123456789abcdefxABpathnet\x01\xff";
  for (int round = 0; round < 2000; ++round) {
    std::string text;
    const int len = static_cast<int>(rng() % 200);
    for (int i = 0; i < len; ++i) text += alphabet[rng() % alphabet.size()];
    std::vector<Diagnostic> diags;
    CHECK_NOTHROW((void)mpt::config::parse_connection_conf(text, "f", diags));
    CHECK_NOTHROW((void)mpt::config::parse_interface_conf(text, "f", diags));
    CHECK_FALSE(errors(diags).empty());  // neither main section can appear by chance
  }
  std::vector<Diagnostic> diags;
  const std::string nul_text = conn_text() + std::string("name\0 = x\n", 10);
  CHECK_NOTHROW((void)mpt::config::parse_connection_conf(nul_text, "f", diags));
  CHECK(errors(diags).size() == 1);
  CHECK(errors(diags)[0].line == 11);
}

TEST_CASE("An empty connection name is an error", "[config]") {
  std::string text = conn_text();
  text.replace(text.find("name = t"), 8, "name = \"\"");
  const auto errs = errors(parse_conn(text).diags);
  REQUIRE(errs.size() == 1);
  CHECK(errs[0].key == "connection:name");
  CHECK(errs[0].line == 2);
  CHECK_THAT(errs[0].message, Contains("1..255 characters"));
}

TEST_CASE("redundant_ports and redundant_dscp are parsed as lists, errors name the key", "[config]") {
  const auto ok = parse_conn(conn_text("redundant_ports = 5004, 6000-6010\nredundant_dscp = 46; 34 0"));
  CHECK(errors(ok.diags).empty());
  REQUIRE(ok.config.redundant_ports.size() == 2);
  CHECK(ok.config.redundant_ports[1].first == 6000);
  CHECK(ok.config.redundant_ports[1].last == 6010);
  CHECK(ok.config.redundant_dscp == std::vector<int>{46, 34, 0});
  CHECK(parse_conn(conn_text(";")).config.redundant_ports.empty());
  const auto bad = parse_conn(conn_text("redundant_dscp = 46, 64"));
  const auto errs = errors(bad.diags);
  REQUIRE(errs.size() == 1);
  CHECK(errs[0].key == "connection:redundant_dscp");
  CHECK(errs[0].message.find("'64'") != std::string::npos);
  const auto bad_port = parse_conn(conn_text("redundant_ports = 70000"));
  REQUIRE(errors(bad_port.diags).size() == 1);
  CHECK(errors(bad_port.diags)[0].key == "connection:redundant_ports");
}

TEST_CASE("auth_key: at least 16 characters, or a key file that only its owner may read",
          "[config]") {
  TempDir dir;
  dir.write("interface.conf", iface_text());
  const auto load_errors = [&](const std::string& line) {
    dir.write("connections/c.conf", conn_text(line));
    return errors(mpt::config::load_config_dir(dir.str()).diagnostics);
  };
  auto errs = load_errors("auth_key = short-key");
  REQUIRE(errs.size() == 1);
  CHECK(errs[0].key == "connection:auth_key");
  CHECK(errs[0].line == 7);
  CHECK_THAT(errs[0].message, Contains("too short") && Contains("mpt genkey"));
  CHECK_THAT(errs[0].message, !Contains("short-key"));  // a key is never echoed
  CHECK(load_errors("auth_key = 0123456789abcdef").empty());

  // A key file next to the connection file, relative or absolute.
  dir.write("connections/k.key", "0123456789abcdef-from-a-file\n");
  const std::string key_path = dir.str() + "/connections/k.key";
  ::chmod(key_path.c_str(), 0600);
  CHECK(load_errors("auth_key = file:k.key").empty());
  dir.write("connections/c.conf", conn_text("auth_key = file:" + key_path));
  const LoadResult r = mpt::config::load_config_dir(dir.str());
  REQUIRE(r.ok());
  CHECK(r.config.connections.at(0).auth_key == "0123456789abcdef-from-a-file");
  // Readable by others: refused, naming the file, its mode and the line.
  ::chmod(key_path.c_str(), 0644);
  errs = load_errors("auth_key = file:k.key");
  REQUIRE(errs.size() == 1);
  CHECK(errs[0].line == 7);
  CHECK_THAT(errs[0].message, Contains("k.key") && Contains("0644") && Contains("chmod 600"));
  ::chmod(key_path.c_str(), 0600);
  errs = load_errors("auth_key = file:missing.key");
  REQUIRE(errs.size() == 1);
  CHECK_THAT(errs[0].message, Contains("missing.key") && Contains("No such file"));
  dir.write("connections/short.key", "tiny\n");
  ::chmod((dir.str() + "/connections/short.key").c_str(), 0600);
  errs = load_errors("auth_key = file:short.key");
  REQUIRE(errs.size() == 1);
  CHECK_THAT(errs[0].message, Contains("too short"));
  dir.write("connections/empty.key", "");
  ::chmod((dir.str() + "/connections/empty.key").c_str(), 0600);
  errs = load_errors("auth_key = file:empty.key");
  REQUIRE(errs.size() == 1);
  CHECK_THAT(errs[0].message, Contains("is empty"));
}

TEST_CASE("The NAT example pair loads with no errors and no warnings; the server knows no client address",
          "[config]") {
  const LoadResult c = mpt::config::load_config_dir(repo_dir() + "/examples/nat-client");
  const LoadResult s = mpt::config::load_config_dir(repo_dir() + "/examples/nat-server");
  INFO(dump(c.diagnostics) + dump(s.diagnostics));
  REQUIRE(c.ok());
  REQUIRE(s.ok());
  CHECK(c.diagnostics.empty());
  CHECK(s.diagnostics.empty());
  REQUIRE(s.config.connections.size() == 1);
  for (const auto& p : s.config.connections[0].paths) CHECK_FALSE(p.remote_ipaddr.is_set());
  for (const auto& p : c.config.connections[0].paths) {
    CHECK(p.remote_ipaddr.is_set());
    CHECK_FALSE(p.private_ipaddr.is_set());
  }
}

// ---------------------------------------------------------------------------------------------
// Server mode: accept_remote = 1, connections/conf.template, clients/NAME.conf

TEST_CASE("Server mode: the template plus one connection per clients/NAME.conf", "[config]") {
  TempDir dir;
  write_server(dir);
  dir.write("clients/alice.conf",
            client_text("10.200.0.2", "alice-key-0123456789",
                        "networks = 10.1.5.0/24, 10.1.6.0/24 fd00:5::/64"));
  dir.write("clients/bob.conf", client_text("10.200.0.3", "file:bob.key"));
  dir.write("clients/bob.key", "bob-key-from-a-file-0123\n");
  ::chmod((dir.str() + "/clients/bob.key").c_str(), 0600);
  dir.write("clients/carol.conf", client_text("10.200.0.4", "carol-key-0123456789"));
  for (const char* ignored : {"notes.txt", "x.conf~", "x.conf.A", "conf.template"}) {
    dir.write(std::string("clients/") + ignored, "this is not a valid file\n");
  }
  LoadResult r = mpt::config::load_config_dir(dir.str());
  INFO(dump(r.diagnostics));
  REQUIRE(r.ok());
  CHECK(r.diagnostics.empty());  // no connections/*.conf is fine for a server
  CHECK(r.config.interface.accept_remote);
  REQUIRE(r.config.connections.size() == 3);
  const auto& a = r.config.connections[0];
  const auto& b = r.config.connections[1];
  const auto& c = r.config.connections[2];
  CHECK(a.name == "alice");
  CHECK(b.name == "bob");
  CHECK(c.name == "carol");
  CHECK(a.file == dir.str() + "/clients/alice.conf");
  CHECK(a.ip_remote == addr("10.200.0.2"));
  CHECK(b.ip_remote == addr("10.200.0.3"));
  CHECK(c.ip_remote == addr("10.200.0.4"));
  CHECK(a.auth_key == "alice-key-0123456789");
  CHECK(b.auth_key == "bob-key-from-a-file-0123");
  CHECK(c.auth_key == "carol-key-0123456789");
  CHECK(a.auth_key_line == 3);
  REQUIRE(a.networks.size() == 3);
  CHECK(a.network_count == 3);
  CHECK(a.networks[0].dst_addr.to_string() == "10.1.5.0/24");
  CHECK(a.networks[0].ip_ver == 4);
  CHECK_FALSE(a.networks[0].src_addr.addr.is_set());
  CHECK(a.networks[1].dst_addr.to_string() == "10.1.6.0/24");
  CHECK(a.networks[2].dst_addr.to_string() == "fd00:5::/64");
  CHECK(a.networks[2].ip_ver == 6);
  CHECK(b.networks.empty());
  CHECK(b.network_count == 0);
  for (const auto& conn : r.config.connections) {
    INFO(conn.name);
    CHECK(conn.server_client);
    // The rest is the template's.
    CHECK(conn.ip_ver == 4);
    CHECK(conn.ip_local == addr("10.200.0.1"));
    CHECK(conn.control_auth == "hmac");
    REQUIRE(conn.paths.size() == 1);
    CHECK(conn.paths[0].interface_name == "eth0");
    CHECK(conn.paths[0].private_ipaddr == addr("192.0.2.1"));
    CHECK_FALSE(conn.paths[0].remote_ipaddr.is_set());
  }

  // Normal connection files keep working alongside, and come first.
  std::string normal = conn_text("auth_key = normal-key-0123456789");
  normal.replace(normal.find("10.200.0.2"), 10, "10.200.0.9");
  dir.write("connections/site.conf", normal);
  r = mpt::config::load_config_dir(dir.str());
  INFO(dump(r.diagnostics));
  REQUIRE(r.ok());
  REQUIRE(r.config.connections.size() == 4);
  CHECK(r.config.connections[0].name == "t");
  CHECK_FALSE(r.config.connections[0].server_client);
  CHECK(r.config.connections[1].name == "alice");
  CHECK(r.config.connections[3].server_client);

  // A template path may spell "unset" out.
  write_server(dir, template_text(";", "remote_ipaddr = 0.0.0.0"));
  CHECK(mpt::config::load_config_dir(dir.str()).ok());
}

TEST_CASE("Server mode: a missing conf.template is an error on the accept_remote line",
          "[config]") {
  TempDir dir;
  dir.write("interface.conf", iface_text("accept_remote = 1"));
  fs::create_directories(dir.str() + "/connections");
  dir.write("clients/alice.conf", client_text("10.200.0.2", "alice-key-0123456789"));
  const LoadResult r = mpt::config::load_config_dir(dir.str());
  INFO(dump(r.diagnostics));
  CHECK_FALSE(r.ok());
  const auto errs = errors(r.diagnostics);
  REQUIRE(errs.size() == 1);
  CHECK(errs[0].file == dir.str() + "/interface.conf");
  CHECK(errs[0].line == 3);
  CHECK(errs[0].key == "general:accept_remote");
  CHECK_THAT(errs[0].message, Contains("accept_remote = 1 needs connections/conf.template"));
  CHECK(r.config.connections.empty());  // no template, no clients
}

TEST_CASE("Server mode: what a template may not set is an error naming the template's line",
          "[config]") {
  TempDir dir;
  const std::string tmpl = dir.str() + "/connections/conf.template";
  const auto load_errors = [&](const std::string& conn_extra, const std::string& path_extra) {
    write_server(dir, template_text(conn_extra, path_extra));
    dir.write("clients/alice.conf", client_text("10.200.0.2", "alice-key-0123456789"));
    return errors(mpt::config::load_config_dir(dir.str()).diagnostics);
  };
  CHECK(load_errors(";", ";").empty());

  auto errs = load_errors(";", "remote_ipaddr = 198.51.100.7");
  REQUIRE(errs.size() == 1);
  CHECK(errs[0].file == tmpl);
  CHECK(errs[0].line == 10);
  CHECK(errs[0].key == "path_0:remote_ipaddr");
  CHECK_THAT(errs[0].message, Contains("a server template's paths learn each client's address; "
                                       "leave remote_ipaddr out"));

  errs = load_errors("ip_remote = 10.200.0.2", ";");
  REQUIRE(errs.size() == 1);
  CHECK(errs[0].file == tmpl);
  CHECK(errs[0].line == 6);
  CHECK(errs[0].key == "connection:ip_remote");
  CHECK_THAT(errs[0].message, Contains("set per client in clients/NAME.conf"));

  errs = load_errors("auth_key = template-key-0123456789", ";");
  REQUIRE(errs.size() == 1);
  CHECK(errs[0].file == tmpl);
  CHECK(errs[0].line == 6);
  CHECK(errs[0].key == "connection:auth_key");
  CHECK_THAT(errs[0].message, Contains("each client has its own key: clients/NAME.conf auth_key"));
  CHECK_THAT(errs[0].message, !Contains("template-key"));  // a key is never echoed

  for (const char* opt_out : {"control_auth = none", "control_auth = off"}) {
    INFO(opt_out);
    errs = load_errors(opt_out, ";");
    REQUIRE(errs.size() == 1);
    CHECK(errs[0].line == 6);
    CHECK(errs[0].key == "connection:control_auth");
    CHECK_THAT(errs[0].message, Contains("must be hmac"));
  }
  errs = load_errors("auth_type = 0", ";");
  REQUIRE(errs.size() == 1);
  CHECK(errs[0].line == 6);
  CHECK(errs[0].key == "connection:auth_type");
  CHECK(load_errors("control_auth = hmac", ";").empty());
}

TEST_CASE("Server mode: a client file's errors name the client file, the line and the key",
          "[config]") {
  TempDir dir;
  write_server(dir);
  const std::string file = dir.str() + "/clients/alice.conf";
  const auto load_errors = [&](const std::string& text) {
    dir.write("clients/alice.conf", text);
    return errors(mpt::config::load_config_dir(dir.str()).diagnostics);
  };
  CHECK(load_errors(client_text("10.200.0.2", "alice-key-0123456789")).empty());

  SECTION("ip_remote missing") {
    const auto errs = load_errors("[client]\nauth_key = alice-key-0123456789\n");
    REQUIRE(errs.size() == 1);
    CHECK(errs[0].file == file);
    CHECK(errs[0].line == 1);
    CHECK(errs[0].key == "client:ip_remote");
    CHECK_THAT(errs[0].message, Contains("required key 'ip_remote' is missing"));
  }
  SECTION("ip_remote not a real address of the template's family, or the server's own") {
    for (const char* bad : {"junk", "0.0.0.0", "fd00::2", "10.200.0.1"}) {
      INFO(bad);
      const auto errs = load_errors(client_text(bad, "alice-key-0123456789"));
      REQUIRE(errs.size() == 1);
      CHECK(errs[0].file == file);
      CHECK(errs[0].line == 2);
      CHECK(errs[0].key == "client:ip_remote");
    }
  }
  SECTION("auth_key missing, empty, too short, or a bad key file") {
    auto errs = load_errors("[client]\nip_remote = 10.200.0.2\n");
    REQUIRE(errs.size() == 1);
    CHECK(errs[0].line == 1);
    CHECK(errs[0].key == "client:auth_key");
    errs = load_errors("[client]\nip_remote = 10.200.0.2\nauth_key =\n");
    REQUIRE(errs.size() == 1);
    CHECK(errs[0].line == 3);
    CHECK(errs[0].key == "client:auth_key");
    errs = load_errors(client_text("10.200.0.2", "short-key"));
    REQUIRE(errs.size() == 1);
    CHECK(errs[0].file == file);
    CHECK(errs[0].line == 3);
    CHECK(errs[0].key == "client:auth_key");
    CHECK_THAT(errs[0].message, Contains("too short") && !Contains("short-key"));
    errs = load_errors(client_text("10.200.0.2", "file:missing.key"));
    REQUIRE(errs.size() == 1);
    CHECK(errs[0].line == 3);
    CHECK_THAT(errs[0].message, Contains("clients/missing.key") && Contains("No such file"));
    // A relative key file is next to the client file; only its owner may read it.
    dir.write("clients/alice.key", "alice-key-from-a-file-01\n");
    const std::string key_path = dir.str() + "/clients/alice.key";
    ::chmod(key_path.c_str(), 0644);
    errs = load_errors(client_text("10.200.0.2", "file:alice.key"));
    REQUIRE(errs.size() == 1);
    CHECK(errs[0].line == 3);
    CHECK(errs[0].key == "client:auth_key");
    CHECK_THAT(errs[0].message, Contains("0644") && Contains("chmod 600"));
    ::chmod(key_path.c_str(), 0600);
    CHECK(load_errors(client_text("10.200.0.2", "file:alice.key")).empty());
  }
  SECTION("unknown keys and sections, a missing [client]") {
    auto errs = load_errors(client_text("10.200.0.2", "alice-key-0123456789", "colour = blue"));
    REQUIRE(errs.size() == 1);
    CHECK(errs[0].file == file);
    CHECK(errs[0].line == 4);
    CHECK(errs[0].key == "client:colour");
    CHECK_THAT(errs[0].message, Contains("unknown key"));
    errs = load_errors(client_text("10.200.0.2", "alice-key-0123456789", "[path_0]"));
    REQUIRE(errs.size() == 1);
    CHECK(errs[0].line == 4);
    CHECK(errs[0].key == "path_0");
    CHECK_THAT(errs[0].message, Contains("unknown section"));
    errs = load_errors("; nothing\n");
    REQUIRE(errs.size() == 1);
    CHECK(errs[0].key == "client");
    CHECK_THAT(errs[0].message, Contains("section [client] is missing"));
  }
  SECTION("a bad network") {
    const auto errs = load_errors(
        client_text("10.200.0.2", "alice-key-0123456789", "networks = 10.1.5.0/24 10.1.6.0/33"));
    REQUIRE(errs.size() == 1);
    CHECK(errs[0].line == 4);
    CHECK(errs[0].key == "client:networks");
    CHECK_THAT(errs[0].message, Contains("10.1.6.0/33"));
  }
  SECTION("a file name that is not a valid connection name, or a normal connection's name") {
    dir.write("clients/bad name.conf", client_text("10.200.0.3", "bad-name-key-0123456789"));
    auto errs = load_errors(client_text("10.200.0.2", "alice-key-0123456789"));
    REQUIRE(errs.size() == 1);
    CHECK(errs[0].file == dir.str() + "/clients/bad name.conf");
    CHECK_THAT(errs[0].message, Contains("'bad name'"));
    fs::remove(dir.str() + "/clients/bad name.conf");
    std::string normal = conn_text("auth_key = normal-key-0123456789");
    normal.replace(normal.find("name = t"), 8, "name = alice");
    normal.replace(normal.find("10.200.0.2"), 10, "10.200.0.9");
    dir.write("connections/site.conf", normal);
    errs = load_errors(client_text("10.200.0.2", "alice-key-0123456789"));
    REQUIRE(errs.size() == 1);
    CHECK(errs[0].file == file);
    CHECK_THAT(errs[0].message,
               Contains("duplicate connection name 'alice'") && Contains("site.conf:2"));
  }
}

TEST_CASE("Server mode: two clients with the same ip_remote are an error on the second",
          "[config]") {
  TempDir dir;
  write_server(dir);
  dir.write("clients/a.conf", client_text("10.200.0.2", "a-key-0123456789ab"));
  dir.write("clients/b.conf", client_text("10.200.0.2", "b-key-0123456789ab"));
  const LoadResult r = mpt::config::load_config_dir(dir.str());
  INFO(dump(r.diagnostics));
  const auto errs = errors(r.diagnostics);
  REQUIRE(errs.size() == 1);
  CHECK(errs[0].file == dir.str() + "/clients/b.conf");
  CHECK(errs[0].line == 2);
  CHECK(errs[0].key == "client:ip_remote");
  CHECK_THAT(errs[0].message, Contains("10.200.0.2") && Contains("a.conf:2"));
}

TEST_CASE("Server mode: no clients is a warning on the accept_remote line", "[config]") {
  TempDir dir;
  write_server(dir);
  for (int with_empty_dir = 0; with_empty_dir < 2; ++with_empty_dir) {
    if (with_empty_dir == 1) fs::create_directories(dir.str() + "/clients");
    const LoadResult r = mpt::config::load_config_dir(dir.str());
    INFO(dump(r.diagnostics));
    CHECK(r.ok());
    CHECK(r.config.connections.empty());
    REQUIRE(r.diagnostics.size() == 1);
    CHECK(r.diagnostics[0].severity == Diagnostic::Severity::kWarning);
    CHECK(r.diagnostics[0].file == dir.str() + "/interface.conf");
    CHECK(r.diagnostics[0].line == 3);
    CHECK(r.diagnostics[0].key == "general:accept_remote");
    CHECK_THAT(r.diagnostics[0].message, Contains("no clients configured (clients/NAME.conf)"));
  }
}

TEST_CASE("accept_remote = 0 (or absent) reads neither the template nor clients/", "[config]") {
  TempDir dir;
  dir.write("connections/c.conf", conn_text());
  dir.write("connections/conf.template", "this is not a valid file\n");
  dir.write("clients/alice.conf", "this is not a valid file\n");
  for (const char* general : {"accept_remote = 0", ";"}) {
    INFO(general);
    dir.write("interface.conf", iface_text(general));
    const LoadResult r = mpt::config::load_config_dir(dir.str());
    INFO(dump(r.diagnostics));
    CHECK(r.ok());
    CHECK(r.diagnostics.empty());
    CHECK_FALSE(r.config.interface.accept_remote);
    REQUIRE(r.config.connections.size() == 1);
    CHECK_FALSE(r.config.connections[0].server_client);
  }
}

TEST_CASE("The server example and its client load with no errors and no warnings",
          "[config]") {
  // As checked out (the example's keys are in its client files: git keeps no file modes).
  const LoadResult s = mpt::config::load_config_dir(repo_dir() + "/examples/server");
  const LoadResult c = mpt::config::load_config_dir(repo_dir() + "/examples/server-client");
  INFO(dump(s.diagnostics) + dump(c.diagnostics));
  REQUIRE(s.ok());
  REQUIRE(c.ok());
  CHECK(s.diagnostics.empty());
  CHECK(c.diagnostics.empty());
  REQUIRE(s.config.connections.size() == 2);
  REQUIRE(c.config.connections.size() == 1);
  const auto& alice = s.config.connections[0];
  CHECK(alice.name == "alice");
  CHECK(s.config.connections[1].name == "bob");
  CHECK(alice.server_client);
  CHECK(alice.networks.size() == 1);
  // The client is alice: her key and addresses, and the server's uplink and port.
  const auto& client = c.config.connections[0];
  CHECK_FALSE(client.server_client);
  CHECK(client.auth_key == alice.auth_key);
  CHECK(client.ip_local == alice.ip_remote);
  CHECK(client.ip_remote == alice.ip_local);
  REQUIRE(client.paths.size() == 1);
  CHECK(client.paths[0].remote_ipaddr == alice.paths[0].private_ipaddr);
  CHECK(client.remote_port == alice.local_port);
  CHECK_FALSE(alice.paths[0].remote_ipaddr.is_set());
}
