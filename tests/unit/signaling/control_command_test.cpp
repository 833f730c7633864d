// Unit tests for the control socket's request parser (signaling/control_command.*).
#include "signaling/control_command.h"

#include <catch2/catch.hpp>

using mpt::signaling::Command;
using mpt::signaling::format_command;
using mpt::signaling::parse_command;

TEST_CASE("control commands: every request mpt sends parses and formats back") {
  for (const char* line : {"status", "status --json", "reload", "path up lan 0", "path down lan 3",
                           "path weight lan 1 20", "int eth0 down", "int wlan0 up"}) {
    INFO(line);
    const auto p = parse_command(line);
    REQUIRE(p.ok);
    CHECK(format_command(p.command) == line);
  }
  CHECK(parse_command("status json").command.verb == Command::Verb::kStatusJson);
  CHECK(parse_command("show status").command.verb == Command::Verb::kStatus);
  const auto p = parse_command("  path\tweight  my-conn 65535 4294967295\r");
  REQUIRE(p.ok);
  CHECK(p.command.verb == Command::Verb::kPathWeight);
  CHECK(p.command.name == "my-conn");
  CHECK(p.command.path == 65535);
  CHECK(p.command.weight == 4294967295u);
}

TEST_CASE("control commands: bad requests are refused with a reason, never misread") {
  // sscanf("%d") took "1x" as 1, "-1" as -1 and overflowed on long digit strings.
  for (const char* line : {"", "statuses", "status --yaml", "path up lan", "path up lan 1x",
                           "path up lan -1", "path up lan +1", "path up lan 65536",
                           "path up lan 99999999999999999999", "path weight lan 0 4294967296",
                           "path sideways lan 0", "path up lan 0 extra", "int eth0",
                           "int eth0 sideways", "int averyveryverylongname up",
                           "path up l\x01n 0", "reload now", "a b c d e f g h"}) {
    INFO(line);
    const auto p = parse_command(line);
    CHECK_FALSE(p.ok);
    CHECK_FALSE(p.error.empty());
  }
  CHECK_FALSE(parse_command(std::string(5000, 'x')).ok);
  CHECK(parse_command("path up lan 65536").error.find("path index") != std::string::npos);
}

TEST_CASE("control commands: save (mpt save) parses, formats back and takes no arguments") {
  for (const char* line : {"save", "  save\t", "save\r"}) {
    INFO(line);
    const auto p = parse_command(line);
    REQUIRE(p.ok);
    CHECK(p.command.verb == Command::Verb::kSave);
    CHECK(format_command(p.command) == "save");
  }
  Command c;
  c.verb = Command::Verb::kSave;
  CHECK(parse_command(format_command(c)).command == c);
  for (const char* line : {"save now", "save --json", "saves", "SAVE", "show save"}) {
    INFO(line);
    const auto p = parse_command(line);
    CHECK_FALSE(p.ok);
    CHECK_FALSE(p.error.empty());
  }
}
