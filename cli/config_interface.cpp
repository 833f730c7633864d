// interface.conf: the [general] section and the [tun_N] sections.
#include <arpa/inet.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "cli/config_internal.h"
#include "engine/tunnel_spec.h"

namespace mpt::config::detail {
namespace {

TunConfig parse_tun(SectionReader& r) {
  TunConfig t;
  r.get_name("name", kMaxIfNameLen, true, t.name);
  IpPrefix p;
  if (IniEntry* e = r.get_prefix("ipv4_addr", AF_INET, p)) {
    if (!is_zero(p.addr)) {
      if (p.prefix_len == 0) {
        r.bad_value(*e, "prefix length must be 1..32");
      } else {
        t.ipv4_addr = p;
      }
    }
  }
  if (IniEntry* e = r.get_prefix("ipv6_addr", AF_INET6, p)) {
    if (!is_zero(p.addr)) {
      if (p.prefix_len == 0) {
        r.bad_value(*e, "prefix length must be 1..128");
      } else {
        t.ipv6_addr = p;
      }
    }
  }
  IniEntry* automatic = r.take("mtu");
  if (automatic && automatic->value == "auto") {
    t.mtu = 0;
  } else if (IniEntry* e = r.get_int("mtu", kMinMtu, kMaxMtu, t.mtu)) {
    if (t.ipv6_addr && t.mtu < kMinMtuIpv6) {
      r.bad_value(*e, "must be at least " + std::to_string(kMinMtuIpv6) +
                          " because the tunnel has an IPv6 address");
    }
  }
  if (IniEntry* e = r.get_int("queues", 1, engine::kMaxQueues, t.queues)) {
    t.queues_line = e->line;
  }
  r.finish();
  return t;
}

}  // namespace

InterfaceConfig parse_interface_impl(const std::string& text, FileContext& ctx) {
  InterfaceConfig ic;
  std::vector<IniSection> sections = read_ini(text, ctx);
  IniSection* general = nullptr;
  Indexed tuns;
  for (auto& s : sections) {
    if (s.name == "general") {
      general = &s;
    } else if (const auto n = section_index(s.name, "tun_")) {
      tuns.by_index[*n] = &s;
    } else {
      ctx.error(s.line, s.name,
                "unknown section [" + s.name + "] (interface.conf has [general] and [tun_N])");
    }
  }

  int count = -1;
  int count_line = 0;
  if (general == nullptr) {
    ctx.error(0, "general", "section [general] is missing");
  } else {
    SectionReader r(ctx, *general, SectionKind::kGeneral);
    if (r.require("tunnel_num")) {
      if (IniEntry* e = r.get_int("tunnel_num", 1, kMaxTuns, ic.tunnel_num)) {
        count = ic.tunnel_num;
        count_line = e->line;
        if (count > 1) {
          ctx.warning(e->line, r.qualified("tunnel_num"),
                      "mpt supports only one tun device: tunnel_num is " +
                          std::to_string(count) + ", only [tun_0] is used");
        }
      }
    }
    if (IniEntry* e = r.get_bool("accept_remote", ic.accept_remote)) {
      ic.accept_remote_line = e->line;
    }
    r.get_port("cmdport_local", 0, ic.cmdport_local);
    r.get_int("cmd_timeout", 0, kMaxCmdTimeout, ic.cmd_timeout_s);
    r.get_int("interface_num", 0, kMaxInterfaceNum, ic.interface_num);
    r.finish();
  }

  check_indexed(ctx, tuns, "tun_", count, "general:tunnel_num", count_line, kMaxTuns);
  if (count > 0) ic.tuns.resize(static_cast<std::size_t>(count));
  for (const auto& [n, s] : tuns.by_index) {
    SectionReader r(ctx, *s, SectionKind::kTun);
    TunConfig t = parse_tun(r);
    if (count > 0 && n < static_cast<std::uint64_t>(count)) ic.tuns[n] = std::move(t);
  }
  return ic;
}

}  // namespace mpt::config::detail
