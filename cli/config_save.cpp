// `mpt save`: rewriting connection files in place (see cli/config_save.h).
#include "cli/config_save.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "cli/ini_reader.h"

namespace mpt::cli {
namespace {

using config::detail::equals_ignore_case;
using config::detail::is_blank;
using config::detail::is_comment_start;
using config::detail::is_valid_name;
using config::detail::to_lower;
using config::detail::trim;

// One line of the text: [begin, begin + size) without its line end, then `eol` ("\n",
// "\r\n" or "" for a last line without one).
struct Line {
  std::size_t begin = 0;
  std::size_t size = 0;
  std::string_view eol;
  // A `key = value` line of a section (the section's first occurrence, the key's first
  // line in it): section >= 0.
  int section = -1;
  std::string key;             // lowercased
  std::size_t key_end = 0;     // offsets in the line, after the BOM when line 0 has one
  std::size_t value_begin = 0;
  std::size_t value_end = 0;   // the value: [value_begin, value_end), quotes included
};

struct Section {
  std::string name;  // lowercased
  std::size_t header = 0;                 // line index
  std::optional<std::size_t> last_key;    // line index of its last key line
  std::vector<std::pair<std::string, std::size_t>> keys;  // first line of each key
};

bool has_control_char(std::string_view s) {
  return std::any_of(s.begin(), s.end(), [](char c) {
    const auto u = static_cast<unsigned char>(c);
    return (u < 0x20 && c != '\t') || u == 0x7f;
  });
}

std::size_t leading_blanks(std::string_view s) {
  std::size_t i = 0;
  while (i < s.size() && is_blank(s[i])) ++i;
  return i;
}

// The value as the file will hold it: quoted when the reader would otherwise cut or trim it.
std::string written_value(const std::string& v) {
  const bool quote = v.empty() || is_blank(v.front()) || is_blank(v.back()) ||
                     v.find_first_of(";#") != std::string::npos || v.front() == '"';
  return quote ? "\"" + v + "\"" : v;
}

// Reads `text` as read_ini does and classifies its lines; sections in order of appearance
// (first occurrences only: the reader skips a duplicate section's keys).
void scan(std::string_view text, std::vector<Line>& lines, std::vector<Section>& sections,
          std::size_t& bom) {
  bom = text.substr(0, 3) == "\xEF\xBB\xBF" ? 3 : 0;
  int current = -1;
  for (std::size_t pos = 0; pos < text.size();) {
    Line l;
    l.begin = pos;
    std::size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) {
      end = text.size();
      pos = end;
    } else {
      pos = end + 1;
    }
    l.size = end - l.begin;
    if (l.size > 0 && text[end - 1] == '\r' && end < text.size()) {
      --l.size;
      l.eol = text.substr(end - 1, 2);
    } else {
      l.eol = text.substr(end, end < text.size() ? 1 : 0);
    }
    const std::size_t skip = lines.empty() ? bom : 0;
    std::string_view raw = text.substr(l.begin + skip, l.size - skip);
    // A CR at the very end of a file without a final newline is the reader's line end too.
    if (!raw.empty() && raw.back() == '\r') raw.remove_suffix(1);
    const std::size_t index = lines.size();
    lines.push_back(l);
    if (has_control_char(raw)) continue;  // the reader skips such a line, with an error
    const std::size_t lead = leading_blanks(raw);
    const std::string_view line = trim(raw);
    if (line.empty() || is_comment_start(line.front())) continue;
    if (line.front() == '[') {
      current = -1;
      const std::size_t close = line.find(']');
      if (close == std::string_view::npos) continue;
      const std::string_view name = trim(line.substr(1, close - 1));
      if (!is_valid_name(name)) continue;
      const std::string lower = to_lower(name);
      const bool dup = std::any_of(sections.begin(), sections.end(),
                                   [&](const Section& s) { return s.name == lower; });
      if (dup) continue;
      sections.push_back(Section{lower, index, std::nullopt, {}});
      current = static_cast<int>(sections.size() - 1);
      continue;
    }
    const std::size_t eq = line.find('=');
    if (eq == std::string_view::npos || current < 0) continue;
    const std::string_view key = trim(line.substr(0, eq));
    if (!is_valid_name(key)) continue;
    // Offsets within `raw`.
    const std::size_t eq_at = lead + eq;
    std::size_t vb = eq_at + 1;
    while (vb < raw.size() && is_blank(raw[vb])) ++vb;
    std::size_t ve = vb;
    if (vb < raw.size() && raw[vb] == '"') {
      const std::size_t close = raw.find('"', vb + 1);
      if (close == std::string_view::npos) continue;  // unterminated: an error to the reader
      ve = close + 1;
      const std::string_view after = trim(raw.substr(ve));
      if (!after.empty() && !is_comment_start(after.front())) continue;  // also an error
    } else {
      std::size_t cut = raw.size();
      for (std::size_t i = vb; i < raw.size(); ++i) {
        if (is_comment_start(raw[i]) && (i == vb || is_blank(raw[i - 1]))) {
          cut = i;
          break;
        }
      }
      ve = cut;
      while (ve > vb && is_blank(raw[ve - 1])) --ve;
    }
    Section& s = sections[static_cast<std::size_t>(current)];
    std::string lower = to_lower(key);
    s.last_key = index;
    const bool dup = std::any_of(s.keys.begin(), s.keys.end(),
                                 [&](const auto& k) { return k.first == lower; });
    if (dup) continue;  // the reader keeps the first one
    s.keys.emplace_back(lower, index);
    Line& kl = lines.back();
    kl.section = current;
    kl.key = std::move(lower);
    kl.key_end = lead + key.size();
    kl.value_begin = vb;
    kl.value_end = ve;
  }
}

}  // namespace

IniRewrite rewrite_ini(std::string_view text, const std::vector<IniUpdate>& updates) {
  IniRewrite out;
  std::vector<Line> lines;
  std::vector<Section> sections;
  std::size_t bom = 0;
  scan(text, lines, sections, bom);

  // New values of existing lines (by line), and lines to insert after a line.
  std::vector<std::optional<std::string>> replaced(lines.size());
  std::vector<std::vector<std::pair<std::string, std::string>>> inserted(lines.size());
  for (const IniUpdate& u : updates) {
    const std::string section = to_lower(u.section);
    const std::string key = to_lower(u.key);
    const auto s = std::find_if(sections.begin(), sections.end(),
                                [&](const Section& x) { return x.name == section; });
    if (s == sections.end()) {
      if (std::find(out.missing_sections.begin(), out.missing_sections.end(), u.section) ==
          out.missing_sections.end()) {
        out.missing_sections.push_back(u.section);
      }
      continue;
    }
    const auto k = std::find_if(s->keys.begin(), s->keys.end(),
                                [&](const auto& x) { return x.first == key; });
    if (k != s->keys.end()) {
      replaced[k->second] = written_value(u.value);
      continue;
    }
    auto& after = inserted[s->last_key.value_or(s->header)];
    const auto same = std::find_if(after.begin(), after.end(), [&](const auto& x) {
      return equals_ignore_case(x.first, key);
    });
    if (same != after.end()) {
      same->second = written_value(u.value);
    } else {
      after.emplace_back(u.key, written_value(u.value));
    }
  }

  std::string_view file_eol = "\n";
  for (const Line& l : lines) {
    if (!l.eol.empty()) {
      file_eol = l.eol;
      break;
    }
  }
  out.text.reserve(text.size() + 64);
  for (std::size_t i = 0; i < lines.size(); ++i) {
    const Line& l = lines[i];
    const std::size_t skip = i == 0 ? bom : 0;
    const std::string_view body = text.substr(l.begin, l.size);
    if (replaced[i]) {
      const std::size_t vb = skip + l.value_begin, ve = skip + l.value_end;
      out.text.append(body.substr(0, vb));
      if (vb == ve && vb > 0 && body[vb - 1] == '=') out.text.push_back(' ');  // "key =" had none
      out.text.append(*replaced[i]);
      // A comment right behind the old (empty) value must stay a comment.
      if (ve < body.size() && is_comment_start(body[ve])) out.text.push_back(' ');
      out.text.append(body.substr(ve));
    } else {
      out.text.append(body);
    }
    if (inserted[i].empty()) {
      out.text.append(l.eol);
      continue;
    }
    // Inserted keys copy this line's indentation and, for a key line, its spacing around '='.
    const std::string_view raw = body.substr(skip);
    const std::string indent(raw.substr(0, leading_blanks(raw)));
    std::string sep = " = ";
    if (l.section >= 0 && l.value_end > l.value_begin) {
      sep = std::string(raw.substr(l.key_end, l.value_begin - l.key_end));
      if (sep.find('=') == std::string::npos) sep = " = ";
    }
    const std::string_view eol = l.eol.empty() ? file_eol : l.eol;
    out.text.append(eol);  // this line's own end (the file's, for a last line without one)
    for (std::size_t k = 0; k < inserted[i].size(); ++k) {
      const auto& [key, value] = inserted[i][k];
      out.text.append(indent).append(key).append(sep).append(value);
      // The file's final line keeps having no line end.
      if (!l.eol.empty() || k + 1 < inserted[i].size()) out.text.append(eol);
    }
  }
  return out;
}

ConnectionSave plan_connection_save(const std::string& text, const std::string& file,
                                    const config::ConnectionConfig& running,
                                    const std::vector<std::optional<PathRuntime>>& runtime) {
  ConnectionSave out;
  out.text = text;
  std::vector<config::Diagnostic> diags;
  const config::ConnectionConfig now = config::parse_connection_conf(text, file, diags);
  for (const config::Diagnostic& d : diags) {
    if (d.severity == config::Diagnostic::Severity::kError) {
      out.error = "it has errors now (" + d.to_string() + "); fix it and mpt reload";
      return out;
    }
  }
  if (now.name != running.name) {
    out.error = "its connection is named '" + now.name + "' now, not '" + running.name +
                "' (edited since it was loaded: mpt reload first)";
    return out;
  }
  if (now.paths.size() != running.paths.size()) {
    out.error = "it has " + std::to_string(now.paths.size()) + " path(s) now, mptd runs " +
                std::to_string(running.paths.size()) +
                " (edited since it was loaded: mpt reload first)";
    return out;
  }
  for (std::size_t k = 0; k < now.paths.size(); ++k) {
    const config::PathConfig& a = now.paths[k];
    const config::PathConfig& b = running.paths[k];
    if (a.interface_name != b.interface_name || a.ip_ver != b.ip_ver ||
        !(a.private_ipaddr == b.private_ipaddr) || !(a.remote_ipaddr == b.remote_ipaddr)) {
      out.error = "its [path_" + std::to_string(k) +
                  "] is not the running path any more (edited since it was loaded: mpt "
                  "reload first)";
      return out;
    }
  }
  std::vector<IniUpdate> updates;
  for (std::size_t k = 0; k < now.paths.size() && k < runtime.size(); ++k) {
    if (!runtime[k]) continue;
    const std::string section = "path_" + std::to_string(k);
    const config::PathConfig& p = now.paths[k];
    const auto weight = static_cast<int>(runtime[k]->weight);
    if (p.weight_out != weight) {
      updates.push_back({section, "weight_out", std::to_string(weight)});
      out.changes.push_back(section + " weight_out " + std::to_string(p.weight_out) + " -> " +
                            std::to_string(weight));
    }
    const int status = runtime[k]->down ? 128 : 0;
    if (p.status != status) {
      updates.push_back({section, "status", std::to_string(status)});
      out.changes.push_back(section + " status " + std::to_string(p.status) + " -> " +
                            std::to_string(status));
    }
  }
  if (updates.empty()) return out;
  IniRewrite r = rewrite_ini(text, updates);
  if (!r.missing_sections.empty()) {  // the parse above found them: not expected
    out.error = "no [" + r.missing_sections.front() + "] section found to write into";
    out.changes.clear();
    return out;
  }
  out.changed = r.text != text;
  out.text = std::move(r.text);
  return out;
}

std::string write_file_atomically(const std::string& path, std::string_view text) {
  // Follow a symbolic link: its target is what the loader read.
  std::string target = path;
  if (char* real = ::realpath(path.c_str(), nullptr)) {
    target = real;
    std::free(real);
  }
  struct stat st{};
  if (::stat(target.c_str(), &st) != 0) return target + ": " + std::strerror(errno);
  const std::size_t slash = target.rfind('/');
  const std::string dir =
      slash == std::string::npos ? "." : target.substr(0, slash == 0 ? 1 : slash);
  const std::string base = slash == std::string::npos ? target : target.substr(slash + 1);
  // A dot name not ending in ".conf": the loader never reads it as a connection file.
  std::string tmp = dir + "/." + base + ".mpt-save.XXXXXX";
  const int fd = ::mkostemp(tmp.data(), O_CLOEXEC);
  if (fd < 0) return "cannot create a temporary file in " + dir + ": " + std::strerror(errno);
  auto fail = [&](const std::string& what) {
    const std::string e = what + ": " + std::strerror(errno);
    ::close(fd);
    ::unlink(tmp.c_str());
    return e;
  };
  for (std::size_t done = 0; done < text.size();) {
    const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return fail("cannot write " + tmp);
    done += static_cast<std::size_t>(n);
  }
  if (::fchmod(fd, st.st_mode & 07777) != 0) return fail("cannot set the mode of " + tmp);
  if (st.st_uid != ::geteuid() || st.st_gid != ::getegid()) {
    (void)!::fchown(fd, st.st_uid, st.st_gid);  // as root; otherwise the file becomes ours
  }
  if (::fsync(fd) != 0) return fail("cannot flush " + tmp);
  if (::close(fd) != 0) {
    const std::string e = "cannot write " + tmp + ": " + std::strerror(errno);
    ::unlink(tmp.c_str());
    return e;
  }
  if (::rename(tmp.c_str(), target.c_str()) != 0) {
    const std::string e = "cannot rename " + tmp + " to " + target + ": " + std::strerror(errno);
    ::unlink(tmp.c_str());
    return e;
  }
  const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    (void)::fsync(dfd);
    ::close(dfd);
  }
  return {};
}

}  // namespace mpt::cli
