// PortMap: MPT's layer-4 port mapping ([flow] branch, draft §5.2) -- packets whose TCP/UDP
// source or destination port is listed for a path go to that path.
//
// Four 64 Ki-entry tables (tcp_src, tcp_dst, udp_src, udp_dst), 256 KiB per connection,
// filled from lists of ports and ranges (ranges are mpt's addition). Each entry names the set
// of paths the port is mapped to (an index into a small table of distinct path masks).
// Lookup order as in the original: TCP source before TCP destination, UDP source before UDP
// destination; within a set, the lowest path that is up. Unlike the original, a mapped path
// that is down is not used: the next path the port is mapped to takes over, and if none is
// up lookup() returns -1 and the normal choice applies. Pure; one thread; lookup() is two
// table loads and two mask loads.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <vector>

#include "scheduler/path_set.h"
#include "scheduler/port_range.h"

namespace mpt::scheduler {

struct PathPortRules {
  std::vector<PortRange> tcp_src, tcp_dst, udp_src, udp_dst;
  friend bool operator==(const PathPortRules&, const PathPortRules&) = default;
};

class PortMap {
 public:
  PortMap();
  // rules[i] are path i's lists. A port listed for several paths goes to the lowest index
  // that is up.
  void set_rules(const std::vector<PathPortRules>& rules);
  // A rule follows its path's up/down state only: a port pinned to a standby (weight 0) path
  // uses it while it is up, even when weighted paths are up too.
  void set_paths(const std::vector<PathState>& paths) { eligible_ = up_mask(paths); }
  [[nodiscard]] bool empty() const { return empty_; }

  // protocol: IPPROTO_TCP (6) or IPPROTO_UDP (17); other protocols never match.
  [[nodiscard]] int lookup(std::uint8_t protocol, std::uint16_t src_port,
                           std::uint16_t dst_port) const;

 private:
  static constexpr std::uint8_t kNone = 0;  // masks_[0] == 0: no path
  using Table = std::array<std::uint8_t, 65536>;
  enum { kTcpSrc, kTcpDst, kUdpSrc, kUdpDst, kTables };
  [[nodiscard]] std::uint8_t intern(PathMask m);
  std::unique_ptr<Table[]> tables_;
  std::vector<PathMask> masks_{0};  // distinct path sets, at most 256
  PathMask eligible_ = ~PathMask{0};
  bool empty_ = true;
};

}  // namespace mpt::scheduler
