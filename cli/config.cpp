// The public API of config.h: load_config_dir, the parse_* entry points, IpAddress, Diagnostic.
//
// The loader is split by concern: ini_reader.{h,cpp} (the generic INI reader, with line
// numbers), config_internal.h (the shared internal declarations), config_section_reader.cpp
// (typed access to a section's keys), config_interface.cpp (interface.conf),
// config_connection.cpp (connections/*.conf) and config_server.cpp (server mode:
// connections/conf.template + clients/*.conf).
//
// Nothing in here throws for bad content: every problem becomes a Diagnostic, and the public
// entry points catch everything else (bad_alloc, filesystem errors) at the boundary.
#include "cli/config.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <exception>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include "cli/config_internal.h"

namespace mpt::config {
namespace detail {

// ---------------------------------------------------------------------------------------------
// Addresses

const char* family_name(int family) { return family == AF_INET6 ? "IPv6" : "IPv4"; }

std::optional<IpAddress> parse_raw_address(std::string_view s) {
  if (s.empty() || s.size() > INET6_ADDRSTRLEN) return std::nullopt;
  const std::string z(s);  // NUL-terminated copy for inet_pton
  if (z.find('\0') != std::string::npos) return std::nullopt;
  IpAddress a;
  if (z.find(':') != std::string::npos) {
    if (inet_pton(AF_INET6, z.c_str(), &a.v6) != 1) return std::nullopt;
    if (IN6_IS_ADDR_V4MAPPED(&a.v6)) {
      a.family = AF_INET;
      std::memcpy(&a.v4, &a.v6.s6_addr[12], sizeof(a.v4));
      a.v6 = in6_addr{};
    } else {
      a.family = AF_INET6;
    }
    return a;
  }
  if (inet_pton(AF_INET, z.c_str(), &a.v4) != 1) return std::nullopt;
  a.family = AF_INET;
  return a;
}

bool is_zero(const IpAddress& a) {
  if (a.family == AF_INET) return a.v4.s_addr == 0;
  if (a.family == AF_INET6) return IN6_IS_ADDR_UNSPECIFIED(&a.v6);
  return true;
}

// ---------------------------------------------------------------------------------------------
// Files

std::optional<std::string> read_file(const std::string& path, FileContext& ctx) {
  // O_NONBLOCK: a FIFO named *.conf must not hang the loader; it is "not a regular file".
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) {
    ctx.error(0, "", errno == ENOENT ? std::string("file not found")
                                     : std::string("cannot open: ") + std::strerror(errno));
    return std::nullopt;
  }
  std::optional<std::string> text;
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    ctx.error(0, "", std::string("cannot stat: ") + std::strerror(errno));
  } else if (!S_ISREG(st.st_mode)) {
    ctx.error(0, "", "not a regular file");
  } else {
    std::string buf;
    char chunk[4096];
    for (;;) {
      const ssize_t n = ::read(fd, chunk, sizeof(chunk));
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {
        ctx.error(0, "", std::string("read error: ") + std::strerror(errno));
        break;
      }
      if (n == 0) {
        text = std::move(buf);
        break;
      }
      buf.append(chunk, static_cast<std::size_t>(n));
      if (buf.size() > kMaxFileBytes) {
        ctx.error(0, "", "file too large (more than " + std::to_string(kMaxFileBytes) + " bytes)");
        break;
      }
    }
  }
  ::close(fd);
  return text;
}

namespace {

bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

}  // namespace

std::vector<std::string> list_conf_files(const std::filesystem::path& dir, FileContext& ctx) {
  namespace fs = std::filesystem;
  std::vector<std::string> names;
  std::error_code ec;
  fs::directory_iterator it(dir, ec);
  if (ec) {
    ctx.error(0, "", "cannot list the directory: " + ec.message());
    return names;
  }
  for (; it != fs::directory_iterator(); it.increment(ec)) {
    const std::string name = it->path().filename().string();
    std::error_code ec2;
    if (name.size() > 5 && ends_with(name, ".conf") && it->is_regular_file(ec2)) {
      names.push_back(name);
    }
  }
  if (ec) ctx.error(0, "", "cannot list the directory: " + ec.message());
  std::sort(names.begin(), names.end());
  return names;
}

}  // namespace detail

using namespace detail;

// ---------------------------------------------------------------------------------------------
// Public API

std::string Diagnostic::to_string() const {
  std::string s = file;
  if (line > 0) s += ":" + std::to_string(line);
  s += severity == Severity::kError ? ": error: " : ": warning: ";
  if (!key.empty()) {
    if (key.find(':') != std::string::npos) {
      s += "key '" + key + "': ";
    } else {
      s += "section [" + key + "]: ";
    }
  }
  s += message;
  return s;
}

bool LoadResult::ok() const {
  return std::none_of(diagnostics.begin(), diagnostics.end(), [](const Diagnostic& d) {
    return d.severity == Diagnostic::Severity::kError;
  });
}

std::optional<IpAddress> parse_ip_address(const std::string& s) {
  auto a = parse_raw_address(s);
  if (a && is_zero(*a)) return IpAddress{};
  return a;
}

std::optional<IpPrefix> parse_ip_prefix(const std::string& s) {
  const std::size_t slash = s.rfind('/');
  const auto addr = parse_raw_address(std::string_view(s).substr(0, slash));
  if (!addr) return std::nullopt;
  IpPrefix p;
  p.addr = *addr;
  const int max_len = addr->family == AF_INET6 ? 128 : 32;
  if (slash == std::string::npos) {
    p.prefix_len = max_len;
    return p;
  }
  const auto len = parse_decimal(std::string_view(s).substr(slash + 1));
  if (!len || *len > static_cast<std::uint64_t>(max_len)) return std::nullopt;
  p.prefix_len = static_cast<int>(*len);
  return p;
}

InterfaceConfig parse_interface_conf(const std::string& text, const std::string& file,
                                     std::vector<Diagnostic>& diags) {
  FileContext ctx(file);
  InterfaceConfig ic;
  guarded(ctx, [&] { ic = parse_interface_impl(text, ctx); });
  try {
    ctx.flush(diags);
  } catch (...) {  // only bad_alloc is possible here; nothing sensible left to report
  }
  return ic;
}

ConnectionConfig parse_connection_conf(const std::string& text, const std::string& file,
                                       std::vector<Diagnostic>& diags) {
  FileContext ctx(file);
  ConnectionConfig c;
  c.file = file;
  guarded(ctx, [&] { c = parse_connection_impl(text, ctx).config; });
  try {
    ctx.flush(diags);
  } catch (...) {  // only bad_alloc is possible here; nothing sensible left to report
  }
  return c;
}

LoadResult load_config_dir(const std::string& dir) {
  namespace fs = std::filesystem;
  LoadResult result;
  try {
    result.config.dir = dir;
    const std::string iface_path = (fs::path(dir) / "interface.conf").string();
    const fs::path conn_dir = fs::path(dir) / "connections";
    const fs::path template_path = conn_dir / "conf.template";
    const fs::path clients_dir = fs::path(dir) / "clients";
    bool have_template = false;
    std::vector<std::string> client_names;
    {
      FileContext ctx(iface_path);
      FileContext clients_ctx(clients_dir.string());
      guarded(ctx, [&] {
        if (const auto text = read_file(iface_path, ctx)) {
          result.config.interface = parse_interface_impl(*text, ctx);
        }
        const InterfaceConfig& ic = result.config.interface;
        if (!ic.accept_remote) return;
        // Server mode: what it lacks is reported on the line that asks for it.
        std::error_code ec;
        have_template = fs::exists(template_path, ec);
        if (!have_template) {
          ctx.error(ic.accept_remote_line, "general:accept_remote",
                    "accept_remote = 1 needs connections/conf.template (the server's side of "
                    "every client: paths, scheduler, probes); " + template_path.string() +
                        " not found");
        }
        if (fs::is_directory(clients_dir, ec)) {
          client_names = list_conf_files(clients_dir, clients_ctx);
        }
        // A server without clients serves nobody: not wrong, but more likely a mistake in
        // the layout than meant.
        if (client_names.empty()) {
          ctx.warning(ic.accept_remote_line, "general:accept_remote",
                      "no clients configured (clients/NAME.conf): " + clients_dir.string() +
                          " is missing or holds no *.conf file");
        }
      });
      ctx.flush(result.diagnostics);
      clients_ctx.flush(result.diagnostics);
    }
    const bool server_mode = result.config.interface.accept_remote;

    std::vector<std::string> names;
    {
      FileContext ctx(conn_dir.string());
      guarded(ctx, [&] {
        std::error_code ec;
        if (!fs::is_directory(conn_dir, ec)) {
          ctx.error(0, "", "connections directory not found");
          return;
        }
        names = list_conf_files(conn_dir, ctx);
        // A server may serve only clients: its connections/ holds just the template.
        if (names.empty() && !server_mode) {
          ctx.error(0, "", "no connection files (*.conf) found");
        }
      });
      ctx.flush(result.diagnostics);
    }

    std::map<std::string, std::pair<std::string, int>> seen_names;  // name -> file, line
    for (const auto& name : names) {
      const std::string path = (conn_dir / name).string();
      FileContext ctx(path);
      guarded(ctx, [&] {
        const auto text = read_file(path, ctx);
        if (!text) return;
        ConnectionParse cp = parse_connection_impl(*text, ctx);
        check_against_tun(cp, result.config.interface, ctx);
        const bool key_reported = resolve_auth_key(cp.config.auth_key, cp.config.auth_key_line,
                                                   "connection:auth_key", ctx);
        // The original's auth_type = 0 with no keepalives on any path: a plain RFC 8086
        // tunnel (no signalling at all), as the original ran it.
        if (cp.config.auth_key.empty() && cp.config.auth_type_set && cp.config.auth_type == 0 &&
            cp.config.control_auth == "none" &&
            std::all_of(cp.config.paths.begin(), cp.config.paths.end(),
                        [](const PathConfig& p) { return p.keepalive_time_s == 0; })) {
          cp.config.control_auth = "off";
        }
        if (!key_reported && cp.config.auth_key.empty() && cp.config.control_auth == "hmac") {
          ctx.error(cp.connection_line, "connection:auth_key",
                    "no auth_key: control messages must be authenticated; set auth_key, or opt "
                    "into unauthenticated signalling with control_auth = none (auth_type = 0 "
                    "in original MPT files), or into a plain RFC 8086 tunnel without "
                    "signalling with control_auth = off");
        }
        // A learned peer address must come from a message that authenticated.
        if (cp.config.auth_key.empty() && !key_reported) {
          for (std::size_t i = 0; i < cp.config.paths.size(); ++i) {
            const PathConfig& pc = cp.config.paths[i];
            if (pc.remote_ipaddr.is_set()) continue;
            ctx.error(pc.remote_line ? pc.remote_line : pc.line,
                      "path_" + std::to_string(i) + ":remote_ipaddr",
                      "the peer's address may be left open (learned from the peer) only on a "
                      "keyed connection: set auth_key, or give the peer's address");
          }
        }
        const auto [it, inserted] =
            seen_names.emplace(cp.config.name, std::make_pair(path, cp.name_line));
        if (!inserted) {
          ctx.error(cp.name_line, "connection:name",
                    "duplicate connection name '" + shown(cp.config.name) + "' (also used in " +
                        it->second.first +
                        (it->second.second > 0 ? ":" + std::to_string(it->second.second) : "") +
                        ")");
        }
        result.config.connections.push_back(std::move(cp.config));
      });
      ctx.flush(result.diagnostics);
    }

    if (server_mode) {
      load_server_clients(template_path, have_template, clients_dir, client_names, seen_names,
                          result);
    }

  } catch (const std::exception& ex) {
    result.diagnostics.push_back(Diagnostic{Diagnostic::Severity::kError, dir, 0, "",
                                            std::string("internal error while loading: ") +
                                                ex.what()});
  } catch (...) {
    result.diagnostics.push_back(
        Diagnostic{Diagnostic::Severity::kError, dir, 0, "", "internal error while loading"});
  }
  return result;
}

}  // namespace mpt::config
