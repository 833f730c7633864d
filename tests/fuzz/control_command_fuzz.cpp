// libFuzzer target for the control socket's request parser (signaling/control_command.*): the
// one line a local client sends to mptd.
//
// Checks, with a hard trap on violation:
//  - any input parses or is refused with a non-empty, bounded error text;
//  - an accepted command has a printable name of 1..kMaxName bytes (15 for an interface), a
//    path index 0..65535;
//  - format_command() of it parses back to the same command and is a fixed point;
//  - the same words separated by other blanks (tabs, several spaces, a trailing CR) give the
//    same result.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "signaling/control_command.h"

namespace {

using namespace mpt::signaling;

void check(bool ok) {
  if (!ok) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view line(reinterpret_cast<const char*>(data), size);
  const CommandParse p = parse_command(line);
  if (!p.ok) {
    check(!p.error.empty() && p.error.size() < 512);
  } else {
    const Command& c = p.command;
    check(p.error.empty());
    const bool named = c.verb == Command::Verb::kPathAdmin ||
                       c.verb == Command::Verb::kPathWeight ||
                       c.verb == Command::Verb::kInterfaceAdmin;
    if (named) {
      check(!c.name.empty() && c.name.size() <= kMaxName);
      for (const char ch : c.name) check(ch > ' ' && ch <= '~');
    } else {
      check(c.name.empty());
    }
    if (c.verb == Command::Verb::kInterfaceAdmin) check(c.name.size() <= 15);
    check(c.path >= 0 && c.path <= 65535);
    const std::string f = format_command(c);
    const CommandParse q = parse_command(f);
    check(q.ok && q.command == c);
    check(format_command(q.command) == f);
  }
  // Other blanks between the words: the same outcome.
  if (size <= kMaxCommandLine / 4) {
    std::string wide;
    for (const char ch : line) {
      if (ch == ' ') {
        wide += " \t ";
      } else {
        wide += ch;
      }
    }
    if (line.empty() || line.back() != '\r') wide += '\r';
    const CommandParse w = parse_command(wide);
    check(w.ok == p.ok);
    if (p.ok) check(w.command == p.command);
  }
  return 0;
}
