#include "engine/connection_table.h"

#include <sys/socket.h>

#include <algorithm>

#include "engine/byte_order.h"

namespace mpt::engine {

ConnectionTable::Key ConnectionTable::masked(const std::uint8_t* addr, int addr_bytes,
                                             int prefix_len) {
  std::uint8_t b[16] = {};
  for (int i = 0; i < addr_bytes; ++i) {
    const int bits = prefix_len - i * 8;
    const std::uint8_t mask =
        bits >= 8 ? 0xFF : bits <= 0 ? 0 : static_cast<std::uint8_t>(0xFF << (8 - bits));
    b[i] = addr[i] & mask;
  }
  Key k;
  k.hi = load_be64(b);
  k.lo = load_be64(b + 8);
  return k;
}

void ConnectionTable::add(const IpNet& prefix, int connection) {
  auto& levels = prefix.addr.family == AF_INET ? v4_ : v6_;
  const int bytes = prefix.addr.family == AF_INET ? 4 : 16;
  auto it = std::find_if(levels.begin(), levels.end(),
                         [&](const Level& l) { return l.prefix_len == prefix.prefix_len; });
  if (it == levels.end()) {
    levels.push_back(Level{prefix.prefix_len, {}});
    std::sort(levels.begin(), levels.end(),
              [](const Level& a, const Level& b) { return a.prefix_len > b.prefix_len; });
    it = std::find_if(levels.begin(), levels.end(),
                      [&](const Level& l) { return l.prefix_len == prefix.prefix_len; });
  }
  it->map.emplace(masked(prefix.addr.bytes(), bytes, prefix.prefix_len), connection);
}

int ConnectionTable::lookup_family(const std::vector<Level>& levels, const std::uint8_t* addr,
                                   int addr_bytes) const {
  for (const Level& l : levels) {
    auto it = l.map.find(masked(addr, addr_bytes, l.prefix_len));
    if (it != l.map.end()) return it->second;
  }
  return -1;
}

int ConnectionTable::lookup(std::span<const std::uint8_t> p) const {
  if (only_ >= 0) return only_;
  if (p.size() >= 20 && (p[0] >> 4) == 4) return lookup_family(v4_, &p[16], 4);
  if (p.size() >= 40 && (p[0] >> 4) == 6) return lookup_family(v6_, &p[24], 16);
  return -1;
}

int ConnectionTable::lookup_source(std::span<const std::uint8_t> p) const {
  if (p.size() >= 20 && (p[0] >> 4) == 4) return lookup_family(v4_, &p[12], 4);
  if (p.size() >= 40 && (p[0] >> 4) == 6) return lookup_family(v6_, &p[8], 16);
  return -1;
}

}  // namespace mpt::engine
