// `mpt save` (the original MPT's verb): the running weights and administrative states of a
// connection's paths written back into its connection file, everything else in the file --
// comments, blank lines, unknown keys, spacing, line ends -- byte for byte as it was.
//
//   rewrite_ini()          pure text edit: given (section, key, value) triples, set each
//                          `key = value` line of that section to the value (indentation and a
//                          trailing comment kept), or insert the key after the section's last
//                          key line when it is missing
//   plan_connection_save() pure: what one connection file becomes, from its current text, the
//                          connection as mptd runs it and each path's runtime state
//   write_file_atomically() the I/O: a temporary file in the same directory, renamed over it
//
// mptd (cli/mptd.cpp, the control socket's "save") calls them; tests/unit/cli/config_save_test.cpp.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cli/config.h"

namespace mpt::cli {

struct IniUpdate {
  std::string section;  // "path_1"; matched without regard to case, as the loader does
  std::string key;      // "weight_out"; likewise
  std::string value;    // written as is (quoted when it holds blanks, ';' or '#', or is empty)
};

struct IniRewrite {
  std::string text;
  // Sections of updates that the text does not have (those updates are not applied; no
  // section is ever added).
  std::vector<std::string> missing_sections;
};

// Applies `updates` to INI text as cli/ini_reader.cpp reads it (docs/configuration.md, "File
// syntax"):
//  - the first `key = value` line of the key in the first occurrence of the section gets the
//    new value; what precedes the value (indentation, the key's spelling, the spaces around
//    '=') and what follows it (blanks, a trailing comment, a CR) is kept; a quoted value is
//    replaced with its quotes;
//  - a key the section lacks is inserted right after the section's last key line (after its
//    header when it has none), with that line's indentation, spacing around '=' and line end;
//  - every other byte (comments, blank lines, unknown keys and sections, a UTF-8 BOM, CRLF or
//    LF line ends, a missing final newline) is unchanged.
// Never throws on any input.
[[nodiscard]] IniRewrite rewrite_ini(std::string_view text, const std::vector<IniUpdate>& updates);

// What one path runs with now: its weight_out and whether this side has it administratively
// down (`status = 128`).
struct PathRuntime {
  std::uint32_t weight = 1;
  bool down = false;
};

struct ConnectionSave {
  std::string error;  // non-empty: the file is to be left alone, and why
  std::string text;   // the file's new text (the same as the input when nothing changes)
  bool changed = false;
  std::vector<std::string> changes;  // "path_1 weight_out 1 -> 7", "path_0 status 0 -> 128"
};

// Connection file `file` (its current content `text`), with runtime[k] written into
// [path_k] (nullopt or past the end: [path_k] left as it is). Only values that differ from
// what the file says are written, so a key the file leaves out is added only when the
// running value is not its default. `running` is the connection as mptd runs it: when the
// file no longer loads, or its paths are no longer the running ones (edited since mptd
// loaded it: another path_count, or a path's interface, ip_ver or addresses), nothing is
// written and `error` says so (mpt reload first).
[[nodiscard]] ConnectionSave plan_connection_save(
    const std::string& text, const std::string& file, const config::ConnectionConfig& running,
    const std::vector<std::optional<PathRuntime>>& runtime);

// Replaces the file at `path` with `text`: written to a temporary file in the same directory
// (with the mode, and when possible the owner, of the file it replaces), flushed to disk,
// renamed over it, and the directory flushed. A symbolic link is followed: its target is
// replaced and the link stays. Returns an error text, empty on success.
[[nodiscard]] std::string write_file_atomically(const std::string& path, std::string_view text);

}  // namespace mpt::cli
