// libFuzzer target for the configuration parsers (cli/config.cpp): the same input is fed to
// parse_connection_conf and parse_interface_conf. They must never crash, hang or throw, and
// every diagnostic must render. Seeds: tests/fuzz/corpus/config_fuzz/.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "cli/config.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  std::vector<mpt::config::Diagnostic> diags;
  const auto conn = mpt::config::parse_connection_conf(text, "fuzz.conf", diags);
  const auto iface = mpt::config::parse_interface_conf(text, "interface.conf", diags);
  std::size_t total = 0;
  for (const auto& d : diags) total += d.to_string().size();
  for (const auto& p : conn.paths) {
    total += p.remote_ipaddr.to_string().size() + p.tcp_dst.size();
  }
  for (const auto& n : conn.networks) total += n.dst_addr.to_string().size();
  for (const auto& t : iface.tuns) {
    if (t.ipv6_addr) total += t.ipv6_addr->to_string().size();
  }
  // The counts in the structs must agree with what was filled in.
  if (conn.path_count > 0 && conn.paths.size() != static_cast<std::size_t>(conn.path_count)) {
    __builtin_trap();
  }
  if (total == static_cast<std::size_t>(-1)) __builtin_trap();  // uses the rendered text
  return 0;
}
