// Internal declarations shared by the MPT schema files (cli/config*.cpp); not a public header.
//
// The MPT schema on top of the INI reader (ini_reader.h): the limits, the keys accepted but not
// acted on, typed access to a section's keys (SectionReader) and the parsers of each file kind.
// Nothing in here throws for bad content: every problem becomes a Diagnostic.
#pragma once

#include <cstddef>
#include <cstdint>
#include <exception>
#include <filesystem>
#include <initializer_list>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "cli/config.h"
#include "cli/ini_reader.h"

namespace mpt::config::detail {

inline constexpr std::size_t kMaxFileBytes = 1024 * 1024;
inline constexpr int kMaxTuns = 64;
inline constexpr int kMaxReorderWindow = 65535;
inline constexpr int kDefaultBuffDelayMs = 100;
inline constexpr int kMaxBuffDelayMs = 60000;
inline constexpr int kMaxSourcePortCount = 64;
inline constexpr int kMaxKeepalive = 255;
inline constexpr int kMaxDeadTime = 65535;
inline constexpr int kMaxWindowSize = 65535;
inline constexpr int kMaxCmdTimeout = 86400;
inline constexpr int kMaxInterfaceNum = 1024;
inline constexpr std::size_t kMaxIfNameLen = 15;  // IFNAMSIZ - 1
inline constexpr std::size_t kMaxNameLen = 255;

enum class SectionKind { kGeneral, kTun, kConnection, kPath, kNet, kClient };

// Keys that mpt accepts (so original configurations load unchanged) but does not act on yet.
// Each one present in a file gives one warning. Remove a row when the feature lands.
// only_when_set: warn only when the value is a real address (not 0.0.0.0 / :: / the literal
// `private_ipaddr`), because the unset value already means what mpt does.
struct NotActedOn {
  SectionKind kind;
  std::string_view key;
  bool only_when_set;
  std::string_view why;
};

// The row for `key` in a section of `kind`, or null (config_section_reader.cpp).
const NotActedOn* find_not_acted_on(SectionKind kind, std::string_view key);

// ---------------------------------------------------------------------------------------------
// Diagnostics of one file, plus one warning per key that mpt does not act on yet.

class FileContext : public FileDiagnostics {
 public:
  explicit FileContext(std::string file) : FileDiagnostics(std::move(file)) {}

  // Records one use of a key mpt does not act on; flush() turns each key into one warning.
  void not_acted_on(const NotActedOn& row, const std::string& section, int line) {
    for (auto& u : unused_) {
      if (u.row == &row) {
        u.more.emplace_back(section, line);
        return;
      }
    }
    unused_.push_back(Unused{&row, section, line, {}});
  }

  // Turns each key not acted on into one warning, then sorts and appends every diagnostic of
  // the file to `out` (FileDiagnostics::flush).
  void flush(std::vector<Diagnostic>& out) {
    for (const auto& u : unused_) {
      std::string msg = "accepted but not acted on yet: " + std::string(u.row->why);
      if (!u.more.empty()) {
        msg += " (also set in";
        for (std::size_t i = 0; i < u.more.size(); ++i) {
          msg += (i == 0 ? " [" : ", [") + u.more[i].first + "] line " +
                 std::to_string(u.more[i].second);
        }
        msg += ")";
      }
      warning(u.line, u.section + ":" + std::string(u.row->key), std::move(msg));
    }
    unused_.clear();
    FileDiagnostics::flush(out);
  }

 private:
  struct Unused {
    const NotActedOn* row;
    std::string section;  // first occurrence
    int line;
    std::vector<std::pair<std::string, int>> more;  // later occurrences: section, line
  };
  std::vector<Unused> unused_;
};

// ---------------------------------------------------------------------------------------------
// Typed access to one section's keys (config_section_reader.cpp). Every getter marks the key
// used; finish() reports the keys nobody asked for as unknown and the not-acted-on keys as
// warnings.

class SectionReader {
 public:
  SectionReader(FileContext& ctx, IniSection& section, SectionKind kind)
      : ctx_(ctx), section_(section), kind_(kind) {}

  [[nodiscard]] const std::string& name() const { return section_.name; }
  [[nodiscard]] int line() const { return section_.line; }
  [[nodiscard]] std::string qualified(std::string_view key) const {
    return section_.name + ":" + std::string(key);
  }

  IniEntry* take(std::string_view key);

  // Reports a missing required key (at the section header's line). Returns false if missing.
  bool require(std::string_view key);

  void bad_value(IniEntry& e, const std::string& message);

  // A key that may not be set here at all (its value does not matter, and a key's value is
  // not repeated: it may be a secret).
  void refuse(IniEntry& e, const std::string& message);

  // Integer in lo..hi. Returns the entry when present and valid.
  IniEntry* get_int(std::string_view key, int lo, int hi, int& out);

  // One of a few allowed integers; `what` is e.g. "4 or 6".
  IniEntry* get_choice(std::string_view key, std::initializer_list<int> allowed,
                       std::string_view what, int& out);

  IniEntry* get_bool(std::string_view key, bool& out);

  IniEntry* get_port(std::string_view key, int lo, std::uint16_t& out);

  IniEntry* get_u32(std::string_view key, std::optional<std::uint32_t>& out);

  // Non-empty string of at most max_len bytes; if_name adds the Linux interface name rules.
  IniEntry* get_name(std::string_view key, std::size_t max_len, bool if_name, std::string& out);

  IniEntry* get_string(std::string_view key, std::string& out);

  // family: AF_INET / AF_INET6 the address must have, or 0 when unknown (ip_ver was bad).
  IniEntry* get_address(std::string_view key, int family, IpAddress& out);

  bool check_address(IniEntry& e, int family, IpAddress& out);

  IniEntry* get_prefix(std::string_view key, int family, IpPrefix& out);

  // Port list: ports or A-B ranges separated by spaces, ',', ';' or ':'.
  IniEntry* get_port_list(std::string_view key, std::vector<PortRange>& out);

  // DSCP list: values 0..63 separated by spaces, ',' or ';'.
  IniEntry* get_dscp_list(std::string_view key, std::vector<int>& out);

  void finish();

 private:
  FileContext& ctx_;
  IniSection& section_;
  SectionKind kind_;
};

int family_of_ip_ver(int ip_ver);

// Reads the section's ip_ver (keeping the default when absent). Returns the address family
// the section's addresses must have, or 0 when ip_ver is bad (so that every address is not
// reported a second time).
int read_ip_ver(SectionReader& r, int& ip_ver);

// ---------------------------------------------------------------------------------------------
// Indexed sections ([tun_N], [path_N], [net_N]) against their count key.

struct Indexed {
  std::map<std::uint64_t, IniSection*> by_index;
};

// Checks that sections prefix0..prefix{count-1} exist and none is beyond. count < 0 = unknown.
void check_indexed(FileContext& ctx, const Indexed& idx, std::string_view prefix, int count,
                   const std::string& count_key, int count_line, int max_count);

// ---------------------------------------------------------------------------------------------
// Addresses (config.cpp)

const char* family_name(int family);

// Parses an address keeping its family even when it is all zeros; v4-mapped IPv6 becomes
// AF_INET (config.h: IPv4 is never kept v4-mapped).
std::optional<IpAddress> parse_raw_address(std::string_view s);

bool is_zero(const IpAddress& a);

// ---------------------------------------------------------------------------------------------
// interface.conf (config_interface.cpp)

InterfaceConfig parse_interface_impl(const std::string& text, FileContext& ctx);

// ---------------------------------------------------------------------------------------------
// connections/*.conf (config_connection.cpp)

// auth_key = file:PATH -> the key in that file (mode checked, like wg's key files); then the
// length check. A relative PATH is from the directory of the file that names it (ctx). Errors
// name the file, the line and `key` ("connection:auth_key", "client:auth_key"), never the key.
// Returns true if it reported an error.
bool resolve_auth_key(std::string& auth_key, int line, const std::string& key,
                      FileContext& ctx);

struct ConnectionParse {
  ConnectionConfig config;
  int name_line = 0;
  int ip_local_line = 0;
  int connection_line = 0;  // the [connection] header
  // Address family of ip_local / ip_remote (from ip_ver); 0 when ip_ver is bad. A server
  // template's clients check their ip_remote against it.
  int family = 0;
};

// server_template: connections/conf.template (see parse_connection_section).
ConnectionParse parse_connection_impl(const std::string& text, FileContext& ctx,
                                      bool server_template = false);

// Warns when the connection's ip_local is not the tun address of the same family (the
// original silently used the interface.conf address for IPv4).
void check_against_tun(const ConnectionParse& cp, const InterfaceConfig& ic, FileContext& ctx);

// ---------------------------------------------------------------------------------------------
// Server mode (config_server.cpp)

// accept_remote = 1: parses connections/conf.template (if have_template) and every
// clients/NAME.conf in client_names, and appends one connection per client to result. Client
// names join seen_names (connection name -> file, line).
void load_server_clients(const std::filesystem::path& template_path, bool have_template,
                         const std::filesystem::path& clients_dir,
                         const std::vector<std::string>& client_names,
                         std::map<std::string, std::pair<std::string, int>>& seen_names,
                         LoadResult& result);

// ---------------------------------------------------------------------------------------------
// Files (config.cpp)

// Runs `body`, turning any exception into an error diagnostic of `ctx`.
template <typename F>
void guarded(FileContext& ctx, F&& body) {
  try {
    body();
  } catch (const std::exception& ex) {
    ctx.error(0, "", std::string("internal error while loading: ") + ex.what());
  } catch (...) {
    ctx.error(0, "", "internal error while loading");
  }
}

// Reads a whole file; on failure returns nullopt and reports the reason. Plain POSIX I/O:
// exact errno in the message, and no iostream buffering to reason about.
std::optional<std::string> read_file(const std::string& path, FileContext& ctx);

// The regular files of `dir` whose names end exactly in ".conf" (not ".conf" alone), sorted;
// other names (conf.template, x.conf.A, x.conf~) are skipped, as in the original. Listing
// errors are reported in ctx.
std::vector<std::string> list_conf_files(const std::filesystem::path& dir, FileContext& ctx);

}  // namespace mpt::config::detail
