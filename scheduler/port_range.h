// An inclusive layer-4 port range (single port: first == last): the configuration's port
// keys (tcp_src_ports, redundant_ports, ...) and the scheduler's port rules use this one type.
#pragma once

#include <cstdint>

namespace mpt::scheduler {

struct PortRange {
  std::uint16_t first = 0;
  std::uint16_t last = 0;
  friend bool operator==(const PortRange&, const PortRange&) = default;
};

}  // namespace mpt::scheduler
