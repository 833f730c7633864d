// rtnetlink through libmnl: link MTU/state, addresses and routes. No shelling out.
//
// Used from the main thread at start-up and shutdown only (never on the data path).
// Every call sends one request and waits for the kernel's ACK; errors come back as
// std::error_code (errno values) so the caller can decide: EEXIST on a route we wanted to add
// means "someone else owns it -- do not delete it on shutdown".
#pragma once

#include <netinet/in.h>

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <system_error>

#include "engine/ip_address.h"

struct mnl_socket;

namespace mpt::engine {

class Netlink {
 public:
  Netlink();  // throws std::system_error if the socket cannot be opened
  ~Netlink();
  Netlink(const Netlink&) = delete;
  Netlink& operator=(const Netlink&) = delete;

  [[nodiscard]] std::error_code set_link(int ifindex, std::optional<int> mtu, bool up);
  [[nodiscard]] std::error_code add_address(int ifindex, const IpNet& addr);
  // dst/prefix via `oif`, optionally via `gateway` (same family as dst).
  [[nodiscard]] std::error_code add_route(const IpNet& dst, int oif,
                                          const std::optional<IpNet>& gateway);
  [[nodiscard]] std::error_code del_route(const IpNet& dst, int oif,
                                          const std::optional<IpNet>& gateway);

 private:
  [[nodiscard]] std::error_code route_request(int type, int flags, const IpNet& dst, int oif,
                                              const std::optional<IpNet>& gateway);
  [[nodiscard]] std::error_code talk(void* nlh);
  ::mnl_socket* nl_ = nullptr;
  unsigned port_id_ = 0;
  unsigned seq_ = 1;
};

}  // namespace mpt::engine
