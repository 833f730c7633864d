// Parsing of mpt-delayline specs and control commands (see delayline_command.h).
#include "delayline_command.h"

#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <vector>

namespace mpt::delayline {
namespace {

std::string lower(std::string_view s) {
  std::string r(s);
  for (auto& c : r) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return r;
}

// Splits on commas and whitespace, dropping empty words.
std::vector<std::string_view> split_words(std::string_view s) {
  std::vector<std::string_view> out;
  std::size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && (s[i] == ',' || std::isspace(static_cast<unsigned char>(s[i])))) ++i;
    std::size_t j = i;
    while (j < s.size() && s[j] != ',' && !std::isspace(static_cast<unsigned char>(s[j]))) ++j;
    if (j > i) out.push_back(s.substr(i, j - i));
    i = j;
  }
  return out;
}

// A non-negative finite number at the start of `s`; the rest (the unit) goes to `unit`.
bool parse_number(std::string_view s, double& value, std::string& unit) {
  std::size_t n = 0;
  while (n < s.size() && (std::isdigit(static_cast<unsigned char>(s[n])) || s[n] == '.')) ++n;
  if (n == 0) return false;
  const std::string num(s.substr(0, n));
  char* end = nullptr;
  value = std::strtod(num.c_str(), &end);
  if (end != num.c_str() + num.size() || !std::isfinite(value) || value < 0) return false;
  unit = lower(s.substr(n));
  return true;
}

bool parse_rate(std::string_view s, std::uint64_t& bps) {
  const std::string l = lower(s);
  if (l == "none" || l == "off" || l == "unlimited" || l == "inf") {
    bps = 0;
    return true;
  }
  double v;
  std::string unit;
  if (!parse_number(s, v, unit)) return false;
  for (const char* tail : {"bit/s", "bit", "bps", "b/s"}) {
    const std::string_view t(tail);
    if (unit.size() >= t.size() && unit.compare(unit.size() - t.size(), t.size(), t) == 0) {
      unit.resize(unit.size() - t.size());
      break;
    }
  }
  double mult;
  if (unit.empty()) mult = 1;
  else if (unit == "k") mult = 1e3;
  else if (unit == "m") mult = 1e6;
  else if (unit == "g") mult = 1e9;
  else return false;
  const double r = v * mult;
  if (r > 1e12 || (r > 0 && r < 1000)) return false;  // 1 kbit/s .. 1 Tbit/s
  bps = static_cast<std::uint64_t>(r);
  return true;
}

// A time; a plain number is in milliseconds.
bool parse_time_ns(std::string_view s, std::int64_t& ns) {
  double v;
  std::string unit;
  if (!parse_number(s, v, unit)) return false;
  double mult;
  if (unit.empty() || unit == "ms") mult = 1e6;
  else if (unit == "us") mult = 1e3;
  else if (unit == "s") mult = 1e9;
  else return false;
  if (v * mult > 3600e9) return false;
  ns = static_cast<std::int64_t>(std::llround(v * mult));
  return true;
}

bool parse_loss(std::string_view s, double& p) {
  if (!s.empty() && s.back() == '%') s.remove_suffix(1);
  double v;
  std::string unit;
  if (!parse_number(s, v, unit) || !unit.empty() || v > 100.0) return false;
  p = v / 100.0;
  return true;
}

// A queue limit: bytes with a byte unit, otherwise a time.
bool parse_queue(std::string_view s, ParamEdit& e) {
  double v;
  std::string unit;
  if (!parse_number(s, v, unit)) return false;
  double bytes_mult = 0;
  if (unit == "b") bytes_mult = 1;
  else if (unit == "kb" || unit == "k") bytes_mult = 1e3;
  else if (unit == "kib") bytes_mult = 1024;
  else if (unit == "mb") bytes_mult = 1e6;
  else if (unit == "mib") bytes_mult = 1048576;
  if (bytes_mult != 0) {
    if (v * bytes_mult < 1 || v * bytes_mult > 1e10) return false;
    e.queue_bytes = static_cast<std::uint64_t>(v * bytes_mult);
    e.queue_ns.reset();
    return true;
  }
  std::int64_t ns;
  if (!parse_time_ns(s, ns) || ns <= 0) return false;
  e.queue_ns = ns;
  e.queue_bytes = 0;
  return true;
}

std::string bad_value(std::string_view key, std::string_view value) {
  return "error: bad value '" + std::string(value) + "' for " + std::string(key);
}

// One key=value word of a spec.
std::string parse_pair(std::string_view word, ParamEdit& e) {
  const auto eq = word.find('=');
  if (eq == std::string_view::npos || eq == 0 || eq + 1 == word.size())
    return "error: expected key=value, got '" + std::string(word) + "'";
  const std::string key = lower(word.substr(0, eq));
  const std::string_view value = word.substr(eq + 1);
  if (key == "rate") {
    std::uint64_t v;
    if (!parse_rate(value, v)) return bad_value(key, value);
    e.rate_bps = v;
  } else if (key == "delay" || key == "jitter") {
    std::int64_t v;
    if (!parse_time_ns(value, v)) return bad_value(key, value);
    (key == "delay" ? e.delay_ns : e.jitter_ns) = v;
  } else if (key == "dist" || key == "jitter_dist") {
    const std::string v = lower(value);
    if (v != "uniform" && v != "normal") return bad_value(key, value);
    e.jitter_normal = v == "normal";
  } else if (key == "loss") {
    double v;
    if (!parse_loss(value, v)) return bad_value(key, value);
    e.loss = v;
  } else if (key == "queue" || key == "limit") {
    if (!parse_queue(value, e)) return bad_value(key, value);
  } else if (key == "seed") {
    std::uint64_t v = 0;
    const auto r = std::from_chars(value.data(), value.data() + value.size(), v);
    if (r.ec != std::errc{} || r.ptr != value.data() + value.size()) return bad_value(key, value);
    e.seed = v;
  } else {
    return "error: unknown key '" + key + "' (rate, delay, jitter, dist, loss, queue, seed)";
  }
  return {};
}

std::string parse_dir(std::string_view value, Command& c) {
  const std::string v = lower(value);
  if (v == "ab") { c.ab = true; c.ba = false; }
  else if (v == "ba") { c.ab = false; c.ba = true; }
  else if (v == "both") { c.ab = c.ba = true; }
  else return "error: dir must be ab, ba or both, not '" + std::string(value) + "'";
  return {};
}

}  // namespace

void ParamEdit::apply_to(LinkParams& p) const {
  if (rate_bps) p.rate_bps = *rate_bps;
  if (delay_ns) p.delay_ns = *delay_ns;
  if (jitter_ns) p.jitter_ns = *jitter_ns;
  if (jitter_normal) p.jitter_normal = *jitter_normal;
  if (loss) p.loss = *loss;
  if (queue_ns) {
    p.queue_ns = *queue_ns;
    p.queue_bytes = 0;
  }
  if (queue_bytes) p.queue_bytes = *queue_bytes;
}

std::string parse_spec(std::string_view spec, ParamEdit& out) {
  ParamEdit e;
  for (const auto word : split_words(spec)) {
    if (auto err = parse_pair(word, e); !err.empty()) return err;
  }
  out = e;
  return {};
}

std::string parse_command(std::string_view text, Command& out) {
  const auto words = split_words(text);
  if (words.empty()) return "error: empty command (try help)";
  Command c;
  const std::string verb = lower(words[0]);
  if (verb == "set") c.kind = CommandKind::kSet;
  else if (verb == "cut") c.kind = CommandKind::kCut;
  else if (verb == "restore") c.kind = CommandKind::kRestore;
  else if (verb == "stats") c.kind = CommandKind::kStats;
  else if (verb == "reset") c.kind = CommandKind::kReset;
  else if (verb == "get") c.kind = CommandKind::kGet;
  else if (verb == "help") c.kind = CommandKind::kHelp;
  else return "error: unknown command '" + std::string(words[0]) + "' (try help)";
  const bool takes_dir = c.kind == CommandKind::kSet || c.kind == CommandKind::kCut ||
                         c.kind == CommandKind::kRestore;
  bool any_key = false;
  for (std::size_t i = 1; i < words.size(); ++i) {
    const std::string_view w = words[i];
    if (takes_dir && lower(w.substr(0, 4)) == "dir=") {
      if (auto err = parse_dir(w.substr(4), c); !err.empty()) return err;
    } else if (c.kind == CommandKind::kSet) {
      if (auto err = parse_pair(w, c.edit); !err.empty()) return err;
      any_key = true;
    } else {
      return "error: '" + verb + "' takes " + (takes_dir ? "only dir=" : "no arguments") +
             ", got '" + std::string(w) + "'";
    }
  }
  if (c.kind == CommandKind::kSet && !any_key) return "error: set needs at least one key=value";
  out = c;
  return {};
}

std::string params_json(const LinkParams& p) {
  char buf[320];
  char queue[64];
  if (p.queue_bytes != 0)
    std::snprintf(queue, sizeof queue, "\"queue_bytes\":%llu",
                  static_cast<unsigned long long>(p.queue_bytes));
  else
    std::snprintf(queue, sizeof queue, "\"queue_ms\":%.3f", static_cast<double>(p.queue_ns) / 1e6);
  std::snprintf(buf, sizeof buf,
                "{\"rate_bps\":%llu,\"delay_ms\":%.3f,\"jitter_ms\":%.3f,\"dist\":\"%s\","
                "\"loss_pct\":%.4f,%s,\"cut\":%s}",
                static_cast<unsigned long long>(p.rate_bps), static_cast<double>(p.delay_ns) / 1e6,
                static_cast<double>(p.jitter_ns) / 1e6, p.jitter_normal ? "normal" : "uniform",
                p.loss * 100.0, queue, p.cut ? "true" : "false");
  return buf;
}

const char* command_help() {
  return "commands: set [dir=ab|ba|both] rate=R delay=T jitter=T dist=uniform|normal loss=P% "
         "queue=T|BYTES seed=N; cut [dir=..]; restore [dir=..]; stats; reset; get; help";
}

}  // namespace mpt::delayline
