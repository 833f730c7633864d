#include "scheduler/port_map.h"

#include <algorithm>
#include <bit>

namespace mpt::scheduler {

// The tables (256 KB) exist only while some path has port rules: a server with many
// clients, most without rules, must not pay for them per connection.
PortMap::PortMap() = default;

std::uint8_t PortMap::intern(PathMask m) {
  for (std::size_t i = 0; i < masks_.size(); ++i) {
    if (masks_[i] == m) return static_cast<std::uint8_t>(i);
  }
  if (masks_.size() == 256) {
    // More distinct sets than an entry can name (not seen in practice): keep the lowest
    // path only, as the original did. Single paths are always present (set_rules).
    const PathMask lowest = m & (~m + 1);
    for (std::size_t i = 0; i < masks_.size(); ++i) {
      if (masks_[i] == lowest) return static_cast<std::uint8_t>(i);
    }
    return kNone;
  }
  masks_.push_back(m);
  return static_cast<std::uint8_t>(masks_.size() - 1);
}

void PortMap::set_rules(const std::vector<PathPortRules>& rules) {
  const bool any = std::any_of(rules.begin(), rules.end(), [](const PathPortRules& r) {
    return !r.tcp_src.empty() || !r.tcp_dst.empty() || !r.udp_src.empty() || !r.udp_dst.empty();
  });
  if (!any) {
    tables_.reset();
    masks_.assign(1, 0);
    empty_ = true;
    return;
  }
  if (!tables_) tables_ = std::make_unique<Table[]>(kTables);
  for (int t = 0; t < kTables; ++t) tables_[t].fill(kNone);
  // Every single path has its set from the start, so that degrading (see intern) always
  // finds one.
  masks_.assign(1, 0);
  for (std::size_t i = 0; i < rules.size() && i < static_cast<std::size_t>(kMaxPaths); ++i) {
    masks_.push_back(PathMask{1} << i);
  }
  empty_ = true;
  auto fill = [&](int table, const std::vector<PortRange>& ranges, std::size_t path) {
    for (const PortRange& r : ranges) {
      for (std::uint32_t p = r.first; p <= r.last; ++p) {
        std::uint8_t& slot = tables_[table][p];
        slot = intern(masks_[slot] | (PathMask{1} << path));
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
  if (!tables_) return -1;
  for (std::uint8_t e : {tables_[src_table][src_port], tables_[dst_table][dst_port]}) {
    const PathMask m = masks_[e] & eligible_;
    if (m) return std::countr_zero(m);
  }
  return -1;
}

}  // namespace mpt::scheduler
