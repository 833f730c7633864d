// Server mode (accept_remote = 1): connections/conf.template plus one client per clients/NAME.conf.
#include <arpa/inet.h>

#include <cstddef>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "cli/config_internal.h"

namespace mpt::config::detail {
namespace {

// ---------------------------------------------------------------------------------------------
// clients/*.conf (server mode): one [client] per file. The rest of the client's connection is
// the template's (connections/conf.template).

struct ClientParse {
  IpAddress ip_remote;    // unset when missing or bad
  int ip_remote_line = 0;
  std::string auth_key;   // as written: the key or file:PATH (resolve_auth_key)
  int auth_key_line = 0;
  std::vector<NetConfig> networks;
  int networks_line = 0;
};

// family: the template's inner address family (0 when unknown: not checked); ip_local: the
// template's tunnel address, which no client may have.
ClientParse parse_client_impl(const std::string& text, FileContext& ctx, int family,
                              const IpAddress& ip_local) {
  ClientParse out;
  std::vector<IniSection> sections = read_ini(text, ctx);
  IniSection* client = nullptr;
  for (auto& s : sections) {
    if (s.name == "client") {
      client = &s;
    } else {
      ctx.error(s.line, s.name,
                "unknown section [" + s.name + "] (a client file has only [client])");
    }
  }
  if (client == nullptr) {
    ctx.error(0, "client", "section [client] is missing");
    return out;
  }
  SectionReader r(ctx, *client, SectionKind::kClient);
  if (r.require("ip_remote")) {
    IniEntry* e = r.take("ip_remote");
    out.ip_remote_line = e->line;
    const auto a = parse_ip_address(e->value);
    if (!a) {
      r.bad_value(*e, "must be an IPv4 or IPv6 address");
    } else if (!a->is_set()) {
      r.bad_value(*e, "must be a real address, not unspecified");
    } else if (family != 0 && a->family != family) {
      r.bad_value(*e, std::string("is an ") + family_name(a->family) +
                          " address but ip_ver of the template's [connection] is " +
                          (family == AF_INET6 ? "6" : "4"));
    } else if (*a == ip_local) {
      r.bad_value(*e, "must differ from the template's ip_local (the server's tunnel address)");
    } else {
      out.ip_remote = *a;
    }
  }
  if (r.require("auth_key")) {
    IniEntry* e = r.get_string("auth_key", out.auth_key);
    out.auth_key_line = e->line;
    // Not optional as on a connection: a server admits a client only by its key.
    if (out.auth_key.empty()) {
      r.refuse(*e, "is empty: each client needs its own key of at least " +
                       std::to_string(kMinAuthKeyLength) +
                       " characters (`mpt genkey`), or file:PATH");
    }
  }
  // Prefixes routed to this client (its site behind it), as a connection's [net_N] dst_addr;
  // a [net_N] section per prefix would be a lot of ceremony for one line.
  if (IniEntry* e = r.take("networks")) {
    out.networks_line = e->line;
    for_each_list_item(e->value, ",", [&](std::string_view item) {
      const auto p = parse_ip_prefix(std::string(item));
      if (!p) {
        r.bad_value(*e, "item '" + shown(item) +
                            "' is not a prefix such as 10.1.5.0/24 or fd00:1::/48; a list is "
                            "separated by spaces or ','");
        out.networks.clear();
        return false;
      }
      NetConfig n;
      n.ip_ver = p->addr.family == AF_INET6 ? 6 : 4;
      n.dst_addr = *p;
      out.networks.push_back(n);
      return true;
    });
  }
  r.finish();
  return out;
}

}  // namespace

void load_server_clients(const std::filesystem::path& template_path, bool have_template,
                         const std::filesystem::path& clients_dir,
                         const std::vector<std::string>& client_names,
                         std::map<std::string, std::pair<std::string, int>>& seen_names,
                         LoadResult& result) {
  // The template: a connection file without what each client sets itself
  // (parse_connection_impl checks that). Its name is not used.
  std::optional<ConnectionParse> tmpl;
  if (have_template) {
    FileContext ctx(template_path.string());
    guarded(ctx, [&] {
      const auto text = read_file(template_path.string(), ctx);
      if (!text) return;
      tmpl = parse_connection_impl(*text, ctx, /*server_template=*/true);
      check_against_tun(*tmpl, result.config.interface, ctx);
    });
    ctx.flush(result.diagnostics);
  }
  // Every client file is checked even without a usable template (all problems at once);
  // connections are made only from a template.
  std::map<std::string, std::pair<std::string, int>> seen_clients;  // ip_remote -> file, line
  for (const auto& name : client_names) {
    const std::string path = (clients_dir / name).string();
    FileContext ctx(path);
    guarded(ctx, [&] {
      const auto text = read_file(path, ctx);
      if (!text) return;
      ClientParse cl = parse_client_impl(*text, ctx, tmpl ? tmpl->family : 0,
                                         tmpl ? tmpl->config.ip_local : IpAddress{});
      resolve_auth_key(cl.auth_key, cl.auth_key_line, "client:auth_key", ctx);
      // The file name is the connection's name (logs, mpt status, routes).
      const std::string client_name = name.substr(0, name.size() - 5);
      if (!is_valid_name(client_name)) {
        ctx.error(0, "",
                  "the file name gives the client's connection name '" + shown(client_name) +
                      "': letters, digits, '_', '-' and '.' only");
      } else {
        const auto [it, inserted] =
            seen_names.emplace(client_name, std::make_pair(path, 0));
        if (!inserted) {
          ctx.error(0, "",
                    "duplicate connection name '" + client_name +
                        "' (the client's file name; also used in " + it->second.first +
                        (it->second.second > 0 ? ":" + std::to_string(it->second.second)
                                               : "") +
                        ")");
        }
      }
      // A packet from the tunnel goes to the client whose ip_remote it is addressed to.
      if (cl.ip_remote.is_set()) {
        const auto [it, inserted] = seen_clients.emplace(
            cl.ip_remote.to_string(), std::make_pair(path, cl.ip_remote_line));
        if (!inserted) {
          ctx.error(cl.ip_remote_line, "client:ip_remote",
                    "ip_remote " + cl.ip_remote.to_string() + " is also set in " +
                        it->second.first + ":" + std::to_string(it->second.second) +
                        " (each client needs its own tunnel address)");
        }
      }
      if (!tmpl) return;
      const std::size_t net_total = tmpl->config.networks.size() + cl.networks.size();
      if (net_total > static_cast<std::size_t>(kMaxNetworks)) {
        ctx.error(cl.networks_line, "client:networks",
                  "too many networks: " + std::to_string(cl.networks.size()) +
                      " here and " + std::to_string(tmpl->config.networks.size()) +
                      " in the template, at most " + std::to_string(kMaxNetworks));
      }
      ConnectionConfig c = tmpl->config;
      c.name = client_name;
      c.file = path;
      c.ip_remote = cl.ip_remote;
      c.auth_key = std::move(cl.auth_key);
      c.auth_key_line = cl.auth_key_line;
      c.networks.insert(c.networks.end(), cl.networks.begin(), cl.networks.end());
      c.network_count = static_cast<int>(c.networks.size());
      c.server_client = true;
      result.config.connections.push_back(std::move(c));
    });
    ctx.flush(result.diagnostics);
  }
}

}  // namespace mpt::config::detail
