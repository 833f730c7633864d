#include "signaling/control_command.h"

#include <array>
#include <charconv>
#include <optional>

namespace mpt::signaling {
namespace {

constexpr std::size_t kMaxWords = 6;

bool printable_name(std::string_view w) {
  if (w.empty() || w.size() > kMaxName) return false;
  for (const char c : w) {
    if (c <= ' ' || c > '~') return false;
  }
  return true;
}

template <typename T>
std::optional<T> decimal(std::string_view w, T max) {
  if (w.empty() || w.size() > 10) return std::nullopt;
  for (const char c : w) {
    if (c < '0' || c > '9') return std::nullopt;
  }
  std::uint64_t v = 0;
  const auto [end, ec] = std::from_chars(w.data(), w.data() + w.size(), v);
  if (ec != std::errc{} || end != w.data() + w.size() || v > static_cast<std::uint64_t>(max)) return std::nullopt;
  return static_cast<T>(v);
}

std::string shown(std::string_view line) {
  std::string out;
  for (const char c : line.substr(0, 64)) out += (c >= ' ' && c <= '~') ? c : '?';
  if (line.size() > 64) out += "...";
  return out;
}

CommandParse fail(std::string error) {
  CommandParse r;
  r.error = std::move(error);
  return r;
}

}  // namespace

CommandParse parse_command(std::string_view line) {
  if (line.size() > kMaxCommandLine) return fail("request longer than 4096 bytes");
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  std::array<std::string_view, kMaxWords + 1> w{};
  std::size_t n = 0;
  for (std::size_t i = 0; i < line.size();) {
    if (line[i] == ' ' || line[i] == '\t') {
      ++i;
      continue;
    }
    std::size_t j = i;
    while (j < line.size() && line[j] != ' ' && line[j] != '\t') ++j;
    if (n == w.size()) return fail("unknown request '" + shown(line) + "' (too many words)");
    w[n++] = line.substr(i, j - i);
    i = j;
  }
  CommandParse r;
  r.ok = true;
  Command& c = r.command;
  if (n == 1 && w[0] == "status") {
    c.verb = Command::Verb::kStatus;
  } else if (n == 2 && w[0] == "show" && w[1] == "status") {
    c.verb = Command::Verb::kStatus;
  } else if (n == 2 && w[0] == "status" && (w[1] == "--json" || w[1] == "json")) {
    c.verb = Command::Verb::kStatusJson;
  } else if (n == 1 && w[0] == "reload") {
    c.verb = Command::Verb::kReload;
  } else if (n == 1 && w[0] == "save") {
    c.verb = Command::Verb::kSave;
  } else if (n >= 1 && w[0] == "path") {
    const bool weight = n >= 2 && w[1] == "weight";
    if (n < 2 || !(weight || w[1] == "up" || w[1] == "down")) {
      return fail("unknown request '" + shown(line) + "': path up|down|weight ...");
    }
    if (n != (weight ? 5u : 4u)) {
      return fail(weight ? "usage: path weight CONNECTION PATH WEIGHT"
                         : "usage: path up|down CONNECTION PATH");
    }
    if (!printable_name(w[2])) return fail("bad connection name '" + shown(w[2]) + "'");
    const auto path = decimal<int>(w[3], 65535);
    if (!path) return fail("bad path index '" + shown(w[3]) + "' (a number 0..65535)");
    c.verb = weight ? Command::Verb::kPathWeight : Command::Verb::kPathAdmin;
    c.name = std::string(w[2]);
    c.path = *path;
    if (weight) {
      const auto v = decimal<std::uint32_t>(w[4], 0xFFFFFFFFu);
      if (!v) return fail("bad weight '" + shown(w[4]) + "' (a number)");
      c.weight = *v;
    } else {
      c.up = w[1] == "up";
    }
  } else if (n >= 1 && w[0] == "int") {
    if (n != 3 || !(w[2] == "up" || w[2] == "down")) return fail("usage: int IFNAME up|down");
    if (!printable_name(w[1]) || w[1].size() > 15) {
      return fail("bad interface name '" + shown(w[1]) + "'");
    }
    c.verb = Command::Verb::kInterfaceAdmin;
    c.name = std::string(w[1]);
    c.up = w[2] == "up";
  } else {
    return fail("unknown request '" + shown(line) + "'");
  }
  return r;
}

std::string format_command(const Command& c) {
  switch (c.verb) {
    case Command::Verb::kStatus:
      return "status";
    case Command::Verb::kStatusJson:
      return "status --json";
    case Command::Verb::kReload:
      return "reload";
    case Command::Verb::kPathAdmin:
      return std::string("path ") + (c.up ? "up " : "down ") + c.name + " " +
             std::to_string(c.path);
    case Command::Verb::kPathWeight:
      return "path weight " + c.name + " " + std::to_string(c.path) + " " +
             std::to_string(c.weight);
    case Command::Verb::kInterfaceAdmin:
      return "int " + c.name + (c.up ? " up" : " down");
    case Command::Verb::kSave:
      return "save";
  }
  return {};
}

}  // namespace mpt::signaling
