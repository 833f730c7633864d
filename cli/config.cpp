// mpt configuration loader: a small INI reader that keeps line numbers, plus the validation of
// the original MPT layout (interface.conf + connections/*.conf, and in server mode
// connections/conf.template + clients/*.conf) into the structs of config.h.
//
// Why our own INI reader: every diagnostic must name the file, the line and the key, and
// Boost.PropertyTree's INI parser drops line numbers. The reader accepts what iniparser-style
// files use: `;`/`#` comment lines, blank lines, `[section]`, `key = value` with optional
// double quotes, and a trailing ` ; comment` / ` # comment` after whitespace. Keys and section
// names are case-insensitive (lowercased), as in iniparser.
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
#include <fstream>
#include <initializer_list>
#include <iterator>
#include <map>
#include <string_view>
#include <system_error>
#include <utility>

namespace mpt::config {
namespace {

constexpr std::size_t kMaxFileBytes = 1024 * 1024;
constexpr int kMaxTuns = 64;
constexpr int kMinMtu = 576;
constexpr int kMinMtuIpv6 = 1280;  // RFC 8200 §5
constexpr int kMaxMtu = 9000;
constexpr int kMaxReorderWindow = 65535;
constexpr int kDefaultBuffDelayMs = 100;
constexpr int kMaxBuffDelayMs = 60000;
constexpr int kMaxSourcePortCount = 64;
constexpr int kMaxKeepalive = 255;
constexpr int kMaxDeadTime = 65535;
constexpr int kMaxWindowSize = 65535;
constexpr int kMaxCmdTimeout = 86400;
constexpr int kMaxInterfaceNum = 1024;
constexpr std::size_t kMaxIfNameLen = 15;  // IFNAMSIZ - 1
constexpr std::size_t kMaxNameLen = 255;
constexpr std::size_t kMaxShownValue = 80;  // longer values are cut in messages

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

const NotActedOn* find_not_acted_on(SectionKind kind, std::string_view key) {
  for (const auto& row : kNotActedOn) {
    if (row.kind == kind && row.key == key) return &row;
  }
  return nullptr;
}

// ---------------------------------------------------------------------------------------------
// Small string helpers

bool is_blank(char c) { return c == ' ' || c == '\t'; }

std::string_view trim(std::string_view s) {
  while (!s.empty() && is_blank(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_blank(s.back())) s.remove_suffix(1);
  return s;
}

std::string to_lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

bool is_name_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         c == '_' || c == '-' || c == '.';
}

bool is_valid_name(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), is_name_char);
}

bool equals_ignore_case(std::string_view a, std::string_view b) {
  return a.size() == b.size() && to_lower(a) == to_lower(b);
}

// Value as shown inside a message: cut when long.
std::string shown(std::string_view value) {
  if (value.size() <= kMaxShownValue) return std::string(value);
  return std::string(value.substr(0, kMaxShownValue)) + "...";
}

// Strict unsigned decimal: digits only, no sign, no leading zero (the original read such
// numbers as octal), no trailing junk, at most 18 digits (no overflow).
std::optional<std::uint64_t> parse_decimal(std::string_view s) {
  if (s.empty() || s.size() > 18) return std::nullopt;
  if (s.size() > 1 && s.front() == '0') return std::nullopt;
  std::uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + static_cast<std::uint64_t>(c - '0');
  }
  return v;
}

// Strict hexadecimal after a "0x"/"0X" prefix, at most 16 digits.
std::optional<std::uint64_t> parse_hex(std::string_view s) {
  if (s.size() < 3 || s[0] != '0' || (s[1] != 'x' && s[1] != 'X')) return std::nullopt;
  s.remove_prefix(2);
  if (s.size() > 16) return std::nullopt;
  std::uint64_t v = 0;
  for (char c : s) {
    int d = 0;
    if (c >= '0' && c <= '9') {
      d = c - '0';
    } else if (c >= 'a' && c <= 'f') {
      d = c - 'a' + 10;
    } else if (c >= 'A' && c <= 'F') {
      d = c - 'A' + 10;
    } else {
      return std::nullopt;
    }
    v = v * 16 + static_cast<std::uint64_t>(d);
  }
  return v;
}

// "path_3" with prefix "path_" -> 3. Only canonical decimal indexes (no "path_01").
std::optional<std::uint64_t> section_index(std::string_view name, std::string_view prefix) {
  if (name.size() <= prefix.size() || name.substr(0, prefix.size()) != prefix) {
    return std::nullopt;
  }
  return parse_decimal(name.substr(prefix.size()));
}

const char* family_name(int family) { return family == AF_INET6 ? "IPv6" : "IPv4"; }

// Parses an address keeping its family even when it is all zeros; v4-mapped IPv6 becomes
// AF_INET (config.h: IPv4 is never kept v4-mapped).
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
// Diagnostics of one file: collected, sorted by line and appended to the caller's vector.

class FileContext {
 public:
  explicit FileContext(std::string file) : file_(std::move(file)) {}

  [[nodiscard]] const std::string& file() const { return file_; }

  void add(Diagnostic::Severity severity, int line, std::string key, std::string message) {
    Diagnostic d;
    d.severity = severity;
    d.file = file_;
    d.line = line;
    d.key = std::move(key);
    d.message = std::move(message);
    diags_.push_back(std::move(d));
  }
  void error(int line, std::string key, std::string message) {
    add(Diagnostic::Severity::kError, line, std::move(key), std::move(message));
  }
  void warning(int line, std::string key, std::string message) {
    add(Diagnostic::Severity::kWarning, line, std::move(key), std::move(message));
  }

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
    std::stable_sort(diags_.begin(), diags_.end(),
                     [](const Diagnostic& a, const Diagnostic& b) { return a.line < b.line; });
    out.insert(out.end(), std::make_move_iterator(diags_.begin()),
               std::make_move_iterator(diags_.end()));
    diags_.clear();
  }

 private:
  struct Unused {
    const NotActedOn* row;
    std::string section;  // first occurrence
    int line;
    std::vector<std::pair<std::string, int>> more;  // later occurrences: section, line
  };
  std::string file_;
  std::vector<Diagnostic> diags_;
  std::vector<Unused> unused_;
};

// ---------------------------------------------------------------------------------------------
// The INI reader

struct IniEntry {
  std::string key;
  std::string value;
  int line = 0;
  bool used = false;  // consumed by a section parser; unused entries are unknown keys
  bool bad = false;   // an error was reported for the value
};

struct IniSection {
  std::string name;
  int line = 0;
  std::vector<IniEntry> entries;
};

bool is_comment_start(char c) { return c == ';' || c == '#'; }

std::vector<IniSection> read_ini(std::string_view text, FileContext& ctx) {
  std::vector<IniSection> sections;
  IniSection* current = nullptr;  // sections.back() or null; reset after every push_back
  bool skipping = false;  // inside a duplicate section: its keys are not read
  if (text.substr(0, 3) == "\xEF\xBB\xBF") text.remove_prefix(3);  // UTF-8 BOM

  int line_no = 0;
  std::size_t pos = 0;
  while (pos < text.size()) {
    std::size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    std::string_view raw = text.substr(pos, end - pos);
    pos = end + 1;
    ++line_no;
    if (!raw.empty() && raw.back() == '\r') raw.remove_suffix(1);

    const auto bad_char = std::find_if(raw.begin(), raw.end(), [](char c) {
      const auto u = static_cast<unsigned char>(c);
      return (u < 0x20 && c != '\t') || u == 0x7f;
    });
    if (bad_char != raw.end()) {
      static constexpr char kHex[] = "0123456789abcdef";
      const auto u = static_cast<unsigned char>(*bad_char);
      ctx.error(line_no, "",
                std::string("invalid control character 0x") + kHex[u >> 4] + kHex[u & 0xf]);
      continue;
    }

    const std::string_view line = trim(raw);
    if (line.empty() || is_comment_start(line.front())) continue;

    if (line.front() == '[') {
      const std::size_t close = line.find(']');
      if (close == std::string_view::npos) {
        ctx.error(line_no, "", "section header without ']': '" + shown(line) + "'");
        current = nullptr;
        skipping = true;
        continue;
      }
      const std::string_view name_raw = trim(line.substr(1, close - 1));
      const std::string_view after = trim(line.substr(close + 1));
      if (!after.empty() && !is_comment_start(after.front())) {
        ctx.error(line_no, "", "unexpected text after section header: '" + shown(after) + "'");
      }
      if (!is_valid_name(name_raw)) {
        ctx.error(line_no, "",
                  "invalid section name '" + shown(name_raw) +
                      "' (letters, digits, '_', '-' and '.' only)");
        current = nullptr;
        skipping = true;
        continue;
      }
      std::string name = to_lower(name_raw);
      const auto dup = std::find_if(sections.begin(), sections.end(),
                                    [&](const IniSection& s) { return s.name == name; });
      if (dup != sections.end()) {
        ctx.error(line_no, name,
                  "duplicate section (first on line " + std::to_string(dup->line) + ")");
        current = nullptr;
        skipping = true;
        continue;
      }
      sections.push_back(IniSection{std::move(name), line_no, {}});
      current = &sections.back();
      skipping = false;
      continue;
    }

    const std::size_t eq = line.find('=');
    if (eq == std::string_view::npos) {
      ctx.error(line_no, "",
                "expected '[section]', 'key = value' or a comment, got '" + shown(line) + "'");
      continue;
    }
    const std::string_view key_raw = trim(line.substr(0, eq));
    if (!is_valid_name(key_raw)) {
      ctx.error(line_no, "",
                "invalid key name '" + shown(key_raw) +
                    "' (letters, digits, '_', '-' and '.' only)");
      continue;
    }
    std::string key = to_lower(key_raw);
    const std::string qualified = current != nullptr ? current->name + ":" + key : "";
    std::string_view rest = trim(line.substr(eq + 1));
    std::string_view value;
    if (!rest.empty() && rest.front() == '"') {
      const std::size_t close = rest.find('"', 1);
      if (close == std::string_view::npos) {
        ctx.error(line_no, qualified, "unterminated quoted value");
        continue;
      }
      value = rest.substr(1, close - 1);
      const std::string_view after = trim(rest.substr(close + 1));
      if (!after.empty() && !is_comment_start(after.front())) {
        ctx.error(line_no, qualified,
                  "unexpected text after quoted value: '" + shown(after) + "'");
        continue;
      }
    } else {
      // A comment starts at ';' or '#' preceded by whitespace (or right after the '=').
      std::size_t cut = rest.size();
      for (std::size_t i = 0; i < rest.size(); ++i) {
        if (is_comment_start(rest[i]) && (i == 0 || is_blank(rest[i - 1]))) {
          cut = i;
          break;
        }
      }
      value = trim(rest.substr(0, cut));
    }

    if (skipping) continue;
    if (current == nullptr) {
      ctx.error(line_no, "", "key '" + key + "' outside any section");
      continue;
    }
    const auto dup = std::find_if(current->entries.begin(), current->entries.end(),
                                  [&](const IniEntry& e) { return e.key == key; });
    if (dup != current->entries.end()) {
      ctx.error(line_no, qualified,
                "duplicate key (first set on line " + std::to_string(dup->line) + ")");
      continue;
    }
    current->entries.push_back(IniEntry{std::move(key), std::string(value), line_no});
  }
  return sections;
}

// ---------------------------------------------------------------------------------------------
// Typed access to one section's keys. Every getter marks the key used; finish() reports the
// keys nobody asked for as unknown and the not-acted-on keys as warnings.

class SectionReader {
 public:
  SectionReader(FileContext& ctx, IniSection& section, SectionKind kind)
      : ctx_(ctx), section_(section), kind_(kind) {}

  [[nodiscard]] const std::string& name() const { return section_.name; }
  [[nodiscard]] int line() const { return section_.line; }
  [[nodiscard]] std::string qualified(std::string_view key) const {
    return section_.name + ":" + std::string(key);
  }

  IniEntry* take(std::string_view key) {
    for (auto& e : section_.entries) {
      if (e.key == key) {
        e.used = true;
        return &e;
      }
    }
    return nullptr;
  }

  // Reports a missing required key (at the section header's line). Returns false if missing.
  bool require(std::string_view key) {
    for (const auto& e : section_.entries) {
      if (e.key == key) return true;
    }
    ctx_.error(section_.line, qualified(key),
               "required key '" + std::string(key) + "' is missing in section [" +
                   section_.name + "]");
    return false;
  }

  void bad_value(IniEntry& e, const std::string& message) {
    e.bad = true;
    ctx_.error(e.line, qualified(e.key), message + " (got '" + shown(e.value) + "')");
  }

  // A key that may not be set here at all (its value does not matter, and a key's value is
  // not repeated: it may be a secret).
  void refuse(IniEntry& e, const std::string& message) {
    e.bad = true;
    ctx_.error(e.line, qualified(e.key), message);
  }

  // Integer in lo..hi. Returns the entry when present and valid.
  IniEntry* get_int(std::string_view key, int lo, int hi, int& out) {
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

  // One of a few allowed integers; `what` is e.g. "4 or 6".
  IniEntry* get_choice(std::string_view key, std::initializer_list<int> allowed,
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

  IniEntry* get_bool(std::string_view key, bool& out) {
    int v = 0;
    IniEntry* e = get_choice(key, {0, 1}, "0 or 1", v);
    if (e != nullptr) out = v != 0;
    return e;
  }

  IniEntry* get_port(std::string_view key, int lo, std::uint16_t& out) {
    int v = 0;
    IniEntry* e = get_int(key, lo, 65535, v);
    if (e != nullptr) out = static_cast<std::uint16_t>(v);
    return e;
  }

  IniEntry* get_u32(std::string_view key, std::optional<std::uint32_t>& out) {
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

  // Non-empty string of at most max_len bytes; if_name adds the Linux interface name rules.
  IniEntry* get_name(std::string_view key, std::size_t max_len, bool if_name, std::string& out) {
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

  IniEntry* get_string(std::string_view key, std::string& out) {
    IniEntry* e = take(key);
    if (e != nullptr) out = e->value;
    return e;
  }

  // family: AF_INET / AF_INET6 the address must have, or 0 when unknown (ip_ver was bad).
  IniEntry* get_address(std::string_view key, int family, IpAddress& out) {
    IniEntry* e = take(key);
    if (e == nullptr) return nullptr;
    return check_address(*e, family, out) ? e : nullptr;
  }

  bool check_address(IniEntry& e, int family, IpAddress& out) {
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

  IniEntry* get_prefix(std::string_view key, int family, IpPrefix& out) {
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

  // Port list: ports or A-B ranges separated by spaces, ',', ';' or ':'.
  IniEntry* get_port_list(std::string_view key, std::vector<PortRange>& out) {
    IniEntry* e = take(key);
    if (e == nullptr) return nullptr;
    std::vector<PortRange> list;
    const std::string_view v = e->value;
    std::size_t i = 0;
    while (i < v.size()) {
      const auto is_sep = [](char c) { return is_blank(c) || c == ',' || c == ';' || c == ':'; };
      if (is_sep(v[i])) {
        ++i;
        continue;
      }
      std::size_t j = i;
      while (j < v.size() && !is_sep(v[j])) ++j;
      const std::string_view item = v.substr(i, j - i);
      i = j;
      const std::size_t dash = item.find('-');
      const auto first = parse_decimal(item.substr(0, dash));
      const auto last =
          dash == std::string_view::npos ? first : parse_decimal(item.substr(dash + 1));
      if (!first || !last || *first < 1 || *last > 65535 || *first > *last) {
        bad_value(*e, "item '" + shown(item) +
                          "' is not a port 1..65535 or a range A-B with A <= B; a port list is "
                          "separated by spaces, ',', ';' or ':'");
        return nullptr;
      }
      list.push_back(PortRange{static_cast<std::uint16_t>(*first),
                               static_cast<std::uint16_t>(*last)});
    }
    out = std::move(list);
    return e;
  }

  // DSCP list: values 0..63 separated by spaces, ',' or ';'.
  IniEntry* get_dscp_list(std::string_view key, std::vector<int>& out) {
    IniEntry* e = take(key);
    if (e == nullptr) return nullptr;
    std::vector<int> list;
    const std::string_view v = e->value;
    std::size_t i = 0;
    while (i < v.size()) {
      const auto is_sep = [](char c) { return is_blank(c) || c == ',' || c == ';'; };
      if (is_sep(v[i])) {
        ++i;
        continue;
      }
      std::size_t j = i;
      while (j < v.size() && !is_sep(v[j])) ++j;
      const std::string_view item = v.substr(i, j - i);
      i = j;
      const auto d = parse_decimal(item);
      if (!d || *d > 63) {
        bad_value(*e, "item '" + shown(item) +
                          "' is not a DSCP value 0..63 (e.g. 46 for EF); a list is separated by "
                          "spaces, ',' or ';'");
        return nullptr;
      }
      list.push_back(static_cast<int>(*d));
    }
    out = std::move(list);
    return e;
  }

  void finish() {
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

 private:
  FileContext& ctx_;
  IniSection& section_;
  SectionKind kind_;
};

int family_of_ip_ver(int ip_ver) { return ip_ver == 6 ? AF_INET6 : AF_INET; }

// Reads the section's ip_ver (keeping the default when absent). Returns the address family
// the section's addresses must have, or 0 when ip_ver is bad (so that every address is not
// reported a second time).
int read_ip_ver(SectionReader& r, int& ip_ver) {
  if (r.take("ip_ver") == nullptr) return family_of_ip_ver(ip_ver);
  return r.get_choice("ip_ver", {4, 6}, "4 or 6", ip_ver) != nullptr ? family_of_ip_ver(ip_ver)
                                                                      : 0;
}

// ---------------------------------------------------------------------------------------------
// Indexed sections ([tun_N], [path_N], [net_N]) against their count key.

struct Indexed {
  std::map<std::uint64_t, IniSection*> by_index;
};

// Checks that sections prefix0..prefix{count-1} exist and none is beyond. count < 0 = unknown.
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

// ---------------------------------------------------------------------------------------------
// interface.conf

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
  if (IniEntry* e = r.get_int("mtu", kMinMtu, kMaxMtu, t.mtu)) {
    if (t.ipv6_addr && t.mtu < kMinMtuIpv6) {
      r.bad_value(*e, "must be at least " + std::to_string(kMinMtuIpv6) +
                          " because the tunnel has an IPv6 address");
    }
  }
  r.finish();
  return t;
}

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

// ---------------------------------------------------------------------------------------------
// connections/*.conf

// auth_key = file:PATH -> the key in that file (mode checked, like wg's key files); then the
// length check. A relative PATH is from the directory of the file that names it (ctx). Errors
// name the file, the line and `key` ("connection:auth_key", "client:auth_key"), never the key.
// Returns true if it reported an error.
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

struct ConnectionParse {
  ConnectionConfig config;
  int name_line = 0;
  int ip_local_line = 0;
  int connection_line = 0;  // the [connection] header
  // Address family of ip_local / ip_remote (from ip_ver); 0 when ip_ver is bad. A server
  // template's clients check their ip_remote against it.
  int family = 0;
};

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

// server_template: connections/conf.template (see parse_connection_section).
ConnectionParse parse_connection_impl(const std::string& text, FileContext& ctx,
                                      bool server_template = false) {
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
    const std::string_view v = e->value;
    const auto is_sep = [](char c) { return is_blank(c) || c == ','; };
    std::size_t i = 0;
    while (i < v.size()) {
      if (is_sep(v[i])) {
        ++i;
        continue;
      }
      std::size_t j = i;
      while (j < v.size() && !is_sep(v[j])) ++j;
      const std::string_view item = v.substr(i, j - i);
      i = j;
      const auto p = parse_ip_prefix(std::string(item));
      if (!p) {
        r.bad_value(*e, "item '" + shown(item) +
                            "' is not a prefix such as 10.1.5.0/24 or fd00:1::/48; a list is "
                            "separated by spaces or ','");
        out.networks.clear();
        break;
      }
      NetConfig n;
      n.ip_ver = p->addr.family == AF_INET6 ? 6 : 4;
      n.dst_addr = *p;
      out.networks.push_back(n);
    }
  }
  r.finish();
  return out;
}

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

bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

// The regular files of `dir` whose names end exactly in ".conf" (not ".conf" alone), sorted;
// other names (conf.template, x.conf.A, x.conf~) are skipped, as in the original. Listing
// errors are reported in ctx.
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

}  // namespace

// ---------------------------------------------------------------------------------------------
// Public API

std::string IpAddress::to_string() const {
  char buf[INET6_ADDRSTRLEN] = {};
  if (family == AF_INET) {
    if (inet_ntop(AF_INET, &v4, buf, sizeof(buf)) != nullptr) return buf;
  } else if (family == AF_INET6) {
    if (inet_ntop(AF_INET6, &v6, buf, sizeof(buf)) != nullptr) return buf;
  }
  return "unset";
}

bool operator==(const IpAddress& a, const IpAddress& b) {
  if (a.family != b.family) return false;
  if (a.family == AF_INET) return a.v4.s_addr == b.v4.s_addr;
  if (a.family == AF_INET6) return std::memcmp(&a.v6, &b.v6, sizeof(a.v6)) == 0;
  return true;
}

std::string IpPrefix::to_string() const {
  return addr.to_string() + "/" + std::to_string(prefix_len);
}

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
