// The generic INI reader (read_ini) and its string and number helpers; see ini_reader.h.
#include "cli/ini_reader.h"

#include <algorithm>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace mpt::config::detail {
namespace {

constexpr std::size_t kMaxShownValue = 80;  // longer values are cut in messages

}  // namespace

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

std::string shown(std::string_view value) {
  if (value.size() <= kMaxShownValue) return std::string(value);
  return std::string(value.substr(0, kMaxShownValue)) + "...";
}

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

std::optional<std::uint64_t> section_index(std::string_view name, std::string_view prefix) {
  if (name.size() <= prefix.size() || name.substr(0, prefix.size()) != prefix) {
    return std::nullopt;
  }
  return parse_decimal(name.substr(prefix.size()));
}

// ---------------------------------------------------------------------------------------------
// The INI reader

bool is_comment_start(char c) { return c == ';' || c == '#'; }

std::vector<IniSection> read_ini(std::string_view text, FileDiagnostics& ctx) {
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

}  // namespace mpt::config::detail
