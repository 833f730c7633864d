// mpt-delayline's text interface: link specs (command line) and control commands (one per
// datagram on the control socket). Pure parsing, no I/O; called by the main thread only.
//
// Spec:    key=value pairs separated by commas or spaces, e.g. "rate=50M,delay=5ms,loss=0.5%"
//   rate=R      bit/s of Ethernet frame bytes; suffix k, M, G (decimal), optional "bit"/"bps";
//               0, none, off or unlimited = no limit
//   delay=T     one-way delay; unit us, ms (default) or s; fractions allowed
//   jitter=T    uniform +-T, or normal with standard deviation T when dist=normal
//   dist=D      uniform (default) | normal  (alias jitter_dist)
//   loss=P      random loss in percent, "1%" or "1"
//   queue=Q     bottleneck buffer: a time (us/ms/s, plain number = ms) or bytes (B, KB, MB,
//               KiB, MiB; K = 1000)
//   seed=N      reseeds the loss/jitter PRNG of the direction(s)
// Commands:
//   set [dir=ab|ba|both] KEY=VALUE...     change the given keys only (dir defaults to both)
//   cut [dir=...]      drop everything (and what is queued), counted as cut drops
//   restore [dir=...]  end a cut
//   stats              counters and delay error as one JSON line
//   reset              zero the counters and the delay-error histogram
//   get                the current parameters as JSON
//   help
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "delayline_link.h"

namespace mpt::delayline {

// Keys a spec or `set` names; the rest is left as it is.
struct ParamEdit {
  std::optional<std::uint64_t> rate_bps;
  std::optional<std::int64_t> delay_ns;
  std::optional<std::int64_t> jitter_ns;
  std::optional<bool> jitter_normal;
  std::optional<double> loss;
  std::optional<std::int64_t> queue_ns;
  std::optional<std::uint64_t> queue_bytes;
  std::optional<std::uint64_t> seed;

  void apply_to(LinkParams& p) const;
};

enum class CommandKind : std::uint8_t { kSet, kCut, kRestore, kStats, kReset, kGet, kHelp };

struct Command {
  CommandKind kind = CommandKind::kHelp;
  bool ab = true;  // which directions it applies to
  bool ba = true;
  ParamEdit edit;
};

// Both return an error message naming the offending word, or an empty string on success.
[[nodiscard]] std::string parse_spec(std::string_view spec, ParamEdit& out);
[[nodiscard]] std::string parse_command(std::string_view text, Command& out);

[[nodiscard]] std::string params_json(const LinkParams& p);
[[nodiscard]] const char* command_help();

}  // namespace mpt::delayline
