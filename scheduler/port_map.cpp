#include "scheduler/port_map.h"

namespace mpt::scheduler {

PortMap::PortMap() : tables_(std::make_unique<Table[]>(kTables)) {
  for (int t = 0; t < kTables; ++t) tables_[t].fill(kNone);
}

void PortMap::set_rules(const std::vector<PathPortRules>& rules) {
  for (int t = 0; t < kTables; ++t) tables_[t].fill(kNone);
  empty_ = true;
  auto fill = [&](int table, const std::vector<PortRange>& ranges, std::size_t path) {
    for (const PortRange& r : ranges) {
      for (std::uint32_t p = r.first; p <= r.last; ++p) {
        std::uint8_t& slot = tables_[table][p];
        if (slot == kNone) slot = static_cast<std::uint8_t>(path);
        empty_ = false;
      }
    }
  };
  for (std::size_t i = 0; i < rules.size() && i < static_cast<std::size_t>(kMaxPaths); ++i) {
    fill(kTcpSrc, rules[i].tcp_src, i);
    fill(kTcpDst, rules[i].tcp_dst, i);
    fill(kUdpSrc, rules[i].udp_src, i);
    fill(kUdpDst, rules[i].udp_dst, i);
  }
}

int PortMap::lookup(std::uint8_t protocol, std::uint16_t src_port, std::uint16_t dst_port) const {
  int src_table, dst_table;
  if (protocol == 6) {
    src_table = kTcpSrc;
    dst_table = kTcpDst;
  } else if (protocol == 17) {
    src_table = kUdpSrc;
    dst_table = kUdpDst;
  } else {
    return -1;
  }
  for (std::uint8_t p : {tables_[src_table][src_port], tables_[dst_table][dst_port]}) {
    if (p != kNone && (eligible_ & (PathMask{1} << p))) return p;
  }
  return -1;
}

}  // namespace mpt::scheduler
