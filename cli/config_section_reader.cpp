// SectionReader (typed, checked access to a section's keys), the keys not acted on, ip_ver.
//
// Also the check of indexed sections ([tun_N], [path_N], [net_N]) against their count key.
#include <arpa/inet.h>

#include <algorithm>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "cli/config_internal.h"

namespace mpt::config::detail {
namespace {

constexpr std::string_view kNoSignalling =
    "mpt signals on the data paths, not on a separate control port";

constexpr NotActedOn kNotActedOn[] = {
    {SectionKind::kGeneral, "cmdport_local", false, "mpt is controlled through a Unix socket"},
    {SectionKind::kGeneral, "cmd_timeout", false, "it was read only by the original mpt client"},
    {SectionKind::kGeneral, "interface_num", false, "it was unused in the original too"},
    {SectionKind::kConnection, "permission", false,
     "runtime updates from the peer are not implemented (the original never enforced it)"},
    {SectionKind::kConnection, "status", false, "a connection is started when mptd starts"},
    {SectionKind::kConnection, "auth_type", false,
     "mpt authenticates with an X25519 handshake under auth_key and seals every packet; only "
     "auth_type = 0 without auth_key means something (no keepalive_time on any path: a plain "
     "RFC 8086 tunnel, control_auth = off; otherwise unauthenticated signalling)"},
    {SectionKind::kConnection, "remote_cmd_port", false, kNoSignalling},
    {SectionKind::kConnection, "local_cmd_port", false, kNoSignalling},
    {SectionKind::kPath, "weight_in", false, "it was used only by the original 'mpt create'"},
    {SectionKind::kPath, "cmd_default", false, kNoSignalling},
    {SectionKind::kPath, "window_size", false, "legacy key, unused in the original too"},
    {SectionKind::kNet, "src_addr", false,
     "mpt picks the connection of a packet from the tunnel by its destination (dst_addr) only; "
     "sources are checked on the way in, against the peer's networks (the inner source filter)"},
    {SectionKind::kPath, "public_ipaddr", true,
     "mpt needs no NAT discovery: a peer that leaves remote_ipaddr unset (keyed connections) "
     "learns this side's address, and follows it, from its authenticated messages"},
};

}  // namespace

const NotActedOn* find_not_acted_on(SectionKind kind, std::string_view key) {
  for (const auto& row : kNotActedOn) {
    if (row.kind == kind && row.key == key) return &row;
  }
  return nullptr;
}

// ---------------------------------------------------------------------------------------------
// Typed access to one section's keys. Every getter marks the key used; finish() reports the
// keys nobody asked for as unknown and the not-acted-on keys as warnings.

IniEntry* SectionReader::take(std::string_view key) {
  for (auto& e : section_.entries) {
    if (e.key == key) {
      e.used = true;
      return &e;
    }
  }
  return nullptr;
}

bool SectionReader::require(std::string_view key) {
  for (const auto& e : section_.entries) {
    if (e.key == key) return true;
  }
  ctx_.error(section_.line, qualified(key),
             "required key '" + std::string(key) + "' is missing in section [" +
                 section_.name + "]");
  return false;
}

void SectionReader::bad_value(IniEntry& e, const std::string& message) {
  e.bad = true;
  ctx_.error(e.line, qualified(e.key), message + " (got '" + shown(e.value) + "')");
}

void SectionReader::refuse(IniEntry& e, const std::string& message) {
  e.bad = true;
  ctx_.error(e.line, qualified(e.key), message);
}

IniEntry* SectionReader::get_int(std::string_view key, int lo, int hi, int& out) {
  IniEntry* e = take(key);
  if (e == nullptr) return nullptr;
  const auto v = parse_decimal(e->value);
  if (!v || *v < static_cast<std::uint64_t>(lo) || *v > static_cast<std::uint64_t>(hi)) {
    std::string msg =
        "must be an integer in " + std::to_string(lo) + ".." + std::to_string(hi);
    if (e->value.size() > 1 && e->value.front() == '0' &&
        std::all_of(e->value.begin(), e->value.end(),
                    [](char c) { return c >= '0' && c <= '9'; })) {
      msg += ", without leading zeros";
    }
    bad_value(*e, msg);
    return nullptr;
  }
  out = static_cast<int>(*v);
  return e;
}

IniEntry* SectionReader::get_choice(std::string_view key, std::initializer_list<int> allowed,
                                    std::string_view what, int& out) {
  IniEntry* e = take(key);
  if (e == nullptr) return nullptr;
  const auto v = parse_decimal(e->value);
  if (!v || *v > 1000000 ||
      std::find(allowed.begin(), allowed.end(), static_cast<int>(*v)) == allowed.end()) {
    bad_value(*e, "must be " + std::string(what));
    return nullptr;
  }
  out = static_cast<int>(*v);
  return e;
}

IniEntry* SectionReader::get_bool(std::string_view key, bool& out) {
  int v = 0;
  IniEntry* e = get_choice(key, {0, 1}, "0 or 1", v);
  if (e != nullptr) out = v != 0;
  return e;
}

IniEntry* SectionReader::get_port(std::string_view key, int lo, std::uint16_t& out) {
  int v = 0;
  IniEntry* e = get_int(key, lo, 65535, v);
  if (e != nullptr) out = static_cast<std::uint16_t>(v);
  return e;
}

IniEntry* SectionReader::get_u32(std::string_view key, std::optional<std::uint32_t>& out) {
  IniEntry* e = take(key);
  if (e == nullptr) return nullptr;
  auto v = parse_decimal(e->value);
  if (!v) v = parse_hex(e->value);
  if (!v || *v > 0xffffffffULL) {
    bad_value(*e, "must be an integer in 0..4294967295, decimal or 0x hexadecimal");
    return nullptr;
  }
  out = static_cast<std::uint32_t>(*v);
  return e;
}

IniEntry* SectionReader::get_name(std::string_view key, std::size_t max_len, bool if_name,
                                  std::string& out) {
  IniEntry* e = take(key);
  if (e == nullptr) return nullptr;
  if (e->value.empty() || e->value.size() > max_len) {
    bad_value(*e, "must be 1.." + std::to_string(max_len) + " characters");
    return nullptr;
  }
  if (if_name && (e->value == "." || e->value == ".." ||
                  e->value.find_first_of("/: \t") != std::string::npos)) {
    bad_value(*e, "is not a valid interface name");
    return nullptr;
  }
  out = e->value;
  return e;
}

IniEntry* SectionReader::get_string(std::string_view key, std::string& out) {
  IniEntry* e = take(key);
  if (e != nullptr) out = e->value;
  return e;
}

IniEntry* SectionReader::get_address(std::string_view key, int family, IpAddress& out) {
  IniEntry* e = take(key);
  if (e == nullptr) return nullptr;
  return check_address(*e, family, out) ? e : nullptr;
}

bool SectionReader::check_address(IniEntry& e, int family, IpAddress& out) {
  const auto a = parse_ip_address(e.value);
  if (!a) {
    bad_value(e, "must be an IPv4 or IPv6 address");
    return false;
  }
  if (a->is_set() && family != 0 && a->family != family) {
    bad_value(e, std::string("is an ") + family_name(a->family) + " address but ip_ver of [" +
                     section_.name + "] is " + (family == AF_INET6 ? "6" : "4"));
    return false;
  }
  out = *a;
  return true;
}

IniEntry* SectionReader::get_prefix(std::string_view key, int family, IpPrefix& out) {
  IniEntry* e = take(key);
  if (e == nullptr) return nullptr;
  const auto p = parse_ip_prefix(e->value);
  if (!p) {
    bad_value(*e, "must be an address with an optional prefix length, e.g. 10.1.0.0/16");
    return nullptr;
  }
  if (family != 0 && p->addr.family != family) {
    bad_value(*e, std::string("is an ") + family_name(p->addr.family) +
                      " prefix but ip_ver of [" + section_.name + "] is " +
                      (family == AF_INET6 ? "6" : "4"));
    return nullptr;
  }
  out = *p;
  return e;
}

IniEntry* SectionReader::get_port_list(std::string_view key, std::vector<PortRange>& out) {
  IniEntry* e = take(key);
  if (e == nullptr) return nullptr;
  std::vector<PortRange> list;
  const bool ok = for_each_list_item(e->value, ",;:", [&](std::string_view item) {
    const std::size_t dash = item.find('-');
    const auto first = parse_decimal(item.substr(0, dash));
    const auto last =
        dash == std::string_view::npos ? first : parse_decimal(item.substr(dash + 1));
    if (!first || !last || *first < 1 || *last > 65535 || *first > *last) {
      bad_value(*e, "item '" + shown(item) +
                        "' is not a port 1..65535 or a range A-B with A <= B; a port list is "
                        "separated by spaces, ',', ';' or ':'");
      return false;
    }
    list.push_back(PortRange{static_cast<std::uint16_t>(*first),
                             static_cast<std::uint16_t>(*last)});
    return true;
  });
  if (!ok) return nullptr;
  out = std::move(list);
  return e;
}

IniEntry* SectionReader::get_dscp_list(std::string_view key, std::vector<int>& out) {
  IniEntry* e = take(key);
  if (e == nullptr) return nullptr;
  std::vector<int> list;
  const bool ok = for_each_list_item(e->value, ",;", [&](std::string_view item) {
    const auto d = parse_decimal(item);
    if (!d || *d > 63) {
      bad_value(*e, "item '" + shown(item) +
                        "' is not a DSCP value 0..63 (e.g. 46 for EF); a list is separated by "
                        "spaces, ',' or ';'");
      return false;
    }
    list.push_back(static_cast<int>(*d));
    return true;
  });
  if (!ok) return nullptr;
  out = std::move(list);
  return e;
}

void SectionReader::finish() {
  for (const auto& e : section_.entries) {
    if (!e.used) {
      ctx_.error(e.line, qualified(e.key),
                 "unknown key '" + e.key + "' in section [" + section_.name + "]");
      continue;
    }
    if (e.bad) continue;
    const NotActedOn* row = find_not_acted_on(kind_, e.key);
    if (row == nullptr) continue;
    if (row->only_when_set) {
      const auto a = parse_ip_address(e.value);
      if (equals_ignore_case(e.value, "private_ipaddr") || (a && !a->is_set())) continue;
    }
    ctx_.not_acted_on(*row, section_.name, e.line);
  }
}

int family_of_ip_ver(int ip_ver) { return ip_ver == 6 ? AF_INET6 : AF_INET; }

int read_ip_ver(SectionReader& r, int& ip_ver) {
  if (r.take("ip_ver") == nullptr) return family_of_ip_ver(ip_ver);
  return r.get_choice("ip_ver", {4, 6}, "4 or 6", ip_ver) != nullptr ? family_of_ip_ver(ip_ver)
                                                                      : 0;
}

// ---------------------------------------------------------------------------------------------
// Indexed sections ([tun_N], [path_N], [net_N]) against their count key.

void check_indexed(FileContext& ctx, const Indexed& idx, std::string_view prefix, int count,
                   const std::string& count_key, int count_line, int max_count) {
  for (const auto& [n, s] : idx.by_index) {
    if (n >= static_cast<std::uint64_t>(max_count)) {
      ctx.error(s->line, s->name,
                "section index out of range: at most " + std::to_string(max_count) +
                    " sections [" + std::string(prefix) + "0].. are supported");
    } else if (count >= 0 && n >= static_cast<std::uint64_t>(count)) {
      ctx.error(s->line, s->name,
                "section [" + s->name + "] is beyond " + count_key + " = " +
                    std::to_string(count));
    }
  }
  if (count < 0) return;
  for (int i = 0; i < count; ++i) {
    if (idx.by_index.count(static_cast<std::uint64_t>(i)) == 0) {
      const std::string missing = std::string(prefix) + std::to_string(i);
      ctx.error(count_line, count_line > 0 ? count_key : missing,
                "section [" + missing + "] is missing (" + count_key + " = " +
                    std::to_string(count) + ")");
    }
  }
}

}  // namespace mpt::config::detail
