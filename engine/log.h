// Logging with levels to stderr. Cheap enough for control paths; on the data path use
// MPT_LOG_RATELIMITED so that bad input cannot flood the log.
//
// Threads: any. Each call formats into a local buffer and writes it with one write(2), so
// lines from different threads do not interleave.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdarg>
#include <cstdint>

namespace mpt {

enum class LogLevel : int { kError = 0, kWarn = 1, kInfo = 2, kDebug = 3 };

void set_log_level(LogLevel level);
[[nodiscard]] LogLevel log_level();
void log_message(LogLevel level, const char* fmt, ...) __attribute__((format(printf, 2, 3)));

// Allows at most one message per `interval` (ms) per call site; counts what it suppressed.
class LogRateLimit {
 public:
  explicit constexpr LogRateLimit(std::int64_t interval_ms) : interval_ms_(interval_ms) {}
  [[nodiscard]] bool allow();
  [[nodiscard]] std::uint64_t take_suppressed() { return suppressed_.exchange(0); }

 private:
  std::int64_t interval_ms_;
  std::atomic<std::int64_t> next_ms_{0};
  std::atomic<std::uint64_t> suppressed_{0};
};

}  // namespace mpt

#define MPT_LOG(level, ...)                                                  \
  do {                                                                       \
    if (static_cast<int>(level) <= static_cast<int>(::mpt::log_level()))     \
      ::mpt::log_message(level, __VA_ARGS__);                                \
  } while (0)
#define MPT_ERROR(...) MPT_LOG(::mpt::LogLevel::kError, __VA_ARGS__)
#define MPT_WARN(...) MPT_LOG(::mpt::LogLevel::kWarn, __VA_ARGS__)
#define MPT_INFO(...) MPT_LOG(::mpt::LogLevel::kInfo, __VA_ARGS__)
#define MPT_DEBUG(...) MPT_LOG(::mpt::LogLevel::kDebug, __VA_ARGS__)
#define MPT_LOG_RATELIMITED(level, ...)                                      \
  do {                                                                       \
    static ::mpt::LogRateLimit mpt_rl_(1000);                                \
    if (mpt_rl_.allow()) MPT_LOG(level, __VA_ARGS__);                        \
  } while (0)
