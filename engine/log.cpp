#include "engine/log.h"

#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace mpt {
namespace {
std::atomic<int> g_level{static_cast<int>(LogLevel::kInfo)};
const char* level_name(LogLevel l) {
  switch (l) {
    case LogLevel::kError: return "error";
    case LogLevel::kWarn: return "warn";
    case LogLevel::kInfo: return "info";
    case LogLevel::kDebug: return "debug";
  }
  return "?";
}
// stderr is journald's stream (systemd sets JOURNAL_STREAM to its device:inode): lines carry
// the syslog priority as a "<N>" prefix (sd-daemon(3)) and no timestamp of our own.
bool stderr_is_journal() {
  const char* env = std::getenv("JOURNAL_STREAM");
  if (env == nullptr) return false;
  unsigned long long dev = 0, ino = 0;
  if (std::sscanf(env, "%llu:%llu", &dev, &ino) != 2) return false;
  struct stat st {};
  return ::fstat(2, &st) == 0 && st.st_dev == dev && st.st_ino == ino;
}
int syslog_priority(LogLevel l) {
  switch (l) {
    case LogLevel::kError: return 3;
    case LogLevel::kWarn: return 4;
    case LogLevel::kInfo: return 6;
    case LogLevel::kDebug: return 7;
  }
  return 6;
}
std::int64_t now_ms() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return std::int64_t{ts.tv_sec} * 1000 + ts.tv_nsec / 1000000;
}
}  // namespace

void set_log_level(LogLevel level) { g_level.store(static_cast<int>(level)); }
LogLevel log_level() { return static_cast<LogLevel>(g_level.load(std::memory_order_relaxed)); }

void log_message(LogLevel level, const char* fmt, ...) {
  static const bool journal = stderr_is_journal();
  char buf[1024];
  int n = 0;
  if (journal) {
    n = std::snprintf(buf, sizeof buf, "<%d>", syslog_priority(level));
  } else {
    timespec ts{};
    clock_gettime(CLOCK_REALTIME, &ts);
    tm t{};
    gmtime_r(&ts.tv_sec, &t);
    n = std::snprintf(buf, sizeof buf, "%02d:%02d:%02d.%03ld mptd[%s] ", t.tm_hour, t.tm_min,
                      t.tm_sec, ts.tv_nsec / 1000000, level_name(level));
  }
  va_list ap;
  va_start(ap, fmt);
  int m = std::vsnprintf(buf + n, sizeof buf - static_cast<std::size_t>(n) - 1, fmt, ap);
  va_end(ap);
  std::size_t len = static_cast<std::size_t>(n) + (m < 0 ? 0 : static_cast<std::size_t>(m));
  if (len > sizeof buf - 2) len = sizeof buf - 2;
  while (len > static_cast<std::size_t>(n) && buf[len - 1] == '\n') --len;  // one line end
  if (journal && std::memchr(buf + n, '\n', len - static_cast<std::size_t>(n)) != nullptr) {
    // journald makes one entry per line: a multi-line message (a reload's report) gets its
    // priority on every line.
    char out[sizeof buf + 512];
    std::size_t o = 0;
    for (std::size_t i = 0; i < len && o + 5 < sizeof out; ++i) {
      out[o++] = buf[i];
      if (buf[i] == '\n' && i + 1 < len) o += static_cast<std::size_t>(std::snprintf(out + o, 4, "<%d>", syslog_priority(level)));
    }
    out[o++] = '\n';
    [[maybe_unused]] ssize_t w = ::write(2, out, o);
    return;
  }
  buf[len++] = '\n';
  [[maybe_unused]] ssize_t w = ::write(2, buf, len);
}

bool LogRateLimit::allow() {
  const std::int64_t now = now_ms();
  std::int64_t next = next_ms_.load(std::memory_order_relaxed);
  if (now >= next && next_ms_.compare_exchange_strong(next, now + interval_ms_)) return true;
  suppressed_.fetch_add(1, std::memory_order_relaxed);
  return false;
}

}  // namespace mpt
