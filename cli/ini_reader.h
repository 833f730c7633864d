// The generic INI reader (no MPT keys): sections, keys and line numbers, diagnostics, helpers.
//
// It also holds the string and number helpers the MPT schema (config_internal.h) shares with it.
//
// Why our own INI reader: every diagnostic must name the file, the line and the key, and
// Boost.PropertyTree's INI parser drops line numbers. The reader accepts what iniparser-style
// files use: `;`/`#` comment lines, blank lines, `[section]`, `key = value` with optional
// double quotes, and a trailing ` ; comment` / ` # comment` after whitespace. Keys and section
// names are case-insensitive (lowercased), as in iniparser.
//
// Internal to mpt_config (cli/config*.cpp); not a public header.
#pragma once

#include <algorithm>
#include <cstdint>
#include <iterator>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "cli/config.h"

namespace mpt::config::detail {

// ---------------------------------------------------------------------------------------------
// Small string helpers

bool is_blank(char c);
std::string_view trim(std::string_view s);
std::string to_lower(std::string_view s);
bool is_name_char(char c);
bool is_valid_name(std::string_view s);
bool equals_ignore_case(std::string_view a, std::string_view b);

// Value as shown inside a message: cut when long.
std::string shown(std::string_view value);

// Strict unsigned decimal: digits only, no sign, no leading zero (the original read such
// numbers as octal), no trailing junk, at most 18 digits (no overflow).
std::optional<std::uint64_t> parse_decimal(std::string_view s);

// Strict hexadecimal after a "0x"/"0X" prefix, at most 16 digits.
std::optional<std::uint64_t> parse_hex(std::string_view s);

// "path_3" with prefix "path_" -> 3. Only canonical decimal indexes (no "path_01").
std::optional<std::uint64_t> section_index(std::string_view name, std::string_view prefix);

bool is_comment_start(char c);

// The items of a list value, in order: runs of characters that are neither blanks nor one of
// `separators`. Stops early when `item` returns false; returns false then.
template <class F>
bool for_each_list_item(std::string_view v, std::string_view separators, F&& item) {
  const auto is_sep = [&](char c) { return is_blank(c) || separators.find(c) != std::string_view::npos; };
  std::size_t i = 0;
  while (i < v.size()) {
    if (is_sep(v[i])) {
      ++i;
      continue;
    }
    std::size_t j = i;
    while (j < v.size() && !is_sep(v[j])) ++j;
    if (!item(v.substr(i, j - i))) return false;
    i = j;
  }
  return true;
}

// ---------------------------------------------------------------------------------------------
// Diagnostics of one file: collected, sorted by line and appended to the caller's vector.
// (FileContext in config_internal.h adds the MPT warnings for keys not acted on.)

class FileDiagnostics {
 public:
  explicit FileDiagnostics(std::string file) : file_(std::move(file)) {}

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

  // Sorts this file's diagnostics by line (stable) and appends them to `out`.
  void flush(std::vector<Diagnostic>& out) {
    std::stable_sort(diags_.begin(), diags_.end(),
                     [](const Diagnostic& a, const Diagnostic& b) { return a.line < b.line; });
    out.insert(out.end(), std::make_move_iterator(diags_.begin()),
               std::make_move_iterator(diags_.end()));
    diags_.clear();
  }

 private:
  std::string file_;
  std::vector<Diagnostic> diags_;
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

// Reads `text` (one file) into its sections; every malformed line, duplicate section or
// duplicate key is reported in `ctx` and skipped.
std::vector<IniSection> read_ini(std::string_view text, FileDiagnostics& ctx);

}  // namespace mpt::config::detail
