#include "cli/tunnel_mtu.h"

#include <net/if.h>
#include <netinet/in.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "engine/gre_udp.h"
#include "engine/sealed_packet.h"

namespace mpt::cli {

int data_overhead(const engine::ConnectionSpec& cs, int family, int queues) {
  engine::GreFields f;
  f.checksum = cs.gre_checksum;
  if (cs.sequence_numbers) f.seq = 0;
  // Plain sequenced data of TUN queue q > 0 carries its sequence space in the GRE key
  // (engine::space_key): with several queues, a key whether or not one is configured.
  const bool space_in_key = !cs.sealed && cs.sequence_numbers && queues > 1;
  if (cs.gre_key || space_in_key) f.key = cs.gre_key.value_or(0);
  const int ip = family == AF_INET6 ? 40 : 20;
  const int udp = 8;
  const int sealed = cs.sealed ? static_cast<int>(engine::kSealedOverhead) : 0;
  return ip + udp + static_cast<int>(engine::gre_header_size(f)) + sealed;
}

AutoMtu auto_tunnel_mtu(const engine::TunnelSpec& spec, int queues,
                        const std::function<std::optional<int>(const std::string&)>& interface_mtu,
                        int lo, int hi) {
  AutoMtu best;
  bool known = false;
  for (const engine::PathSpec& p : spec.paths) {
    if (!p.active || p.local_len == 0 || p.interface_name.empty()) continue;
    const std::optional<int> link = interface_mtu(p.interface_name);
    if (!link) continue;
    const auto& cs = spec.connections.at(static_cast<std::size_t>(p.connection));
    const int overhead = data_overhead(cs, p.local.ss_family, queues);
    const int fits = *link - overhead;
    if (!known || fits < best.mtu) {
      best.mtu = fits;
      best.limited_by = p.name + " (" + p.interface_name + " mtu " + std::to_string(*link) +
                        ", overhead " + std::to_string(overhead) + ")";
      known = true;
    }
  }
  best.mtu = std::clamp(best.mtu, lo, hi);
  return best;
}

std::optional<int> interface_mtu(const std::string& name) {
  if (name.empty() || name.size() >= IFNAMSIZ) return std::nullopt;
  const int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return std::nullopt;
  ifreq ifr{};
  std::memcpy(ifr.ifr_name, name.data(), name.size());
  const int rc = ::ioctl(fd, SIOCGIFMTU, &ifr);
  ::close(fd);
  if (rc != 0) return std::nullopt;
  return ifr.ifr_mtu;
}

}  // namespace mpt::cli
