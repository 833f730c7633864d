// The control socket's requests: one line from `mpt` (cli/mpt.cpp) to mptd, parsed here.
//
//   status | status --json | status json | show status | reload | save
//   path up|down CONNECTION PATH
//   path weight CONNECTION PATH WEIGHT
//   int IFNAME up|down
//
// Words are separated by spaces or tabs; a trailing '\r' is ignored. PATH is a decimal
// 0..65535, WEIGHT a decimal 0..4294967295 (the control loop bounds it further), with no
// sign and no leading garbage; CONNECTION and IFNAME are printable ASCII without spaces, at
// most kMaxName bytes. Anything else is refused with an error that says what is wrong.
//
// Pure, never throws on any input (it is fuzzed: tests/fuzz/control_command_fuzz.cpp);
// format_command() writes the canonical line, which parses back to the same command.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace mpt::signaling {

struct Command {
  enum class Verb : std::uint8_t {
    kStatus,
    kStatusJson,
    kReload,
    kPathAdmin,       // connection, path, up
    kPathWeight,      // connection, path, weight
    kInterfaceAdmin,  // name (the interface), up
    kSave,            // runtime weights and states written back to the connection files
  };
  Verb verb = Verb::kStatus;
  std::string name;  // connection or interface
  int path = 0;
  std::uint32_t weight = 0;
  bool up = false;
  friend bool operator==(const Command&, const Command&) = default;
};

inline constexpr std::size_t kMaxCommandLine = 4096;
inline constexpr std::size_t kMaxName = 127;

struct CommandParse {
  bool ok = false;
  Command command;
  std::string error;  // when !ok: what is wrong, for the operator
};

[[nodiscard]] CommandParse parse_command(std::string_view line);
[[nodiscard]] std::string format_command(const Command& c);

}  // namespace mpt::signaling
