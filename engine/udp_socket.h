// UDP sockets for one path: bound to the path's interface (SO_BINDTODEVICE) and address.
// Set-up only (main thread); the sockets are then used through the path worker's io_uring.
#pragma once

#include <sys/socket.h>

#include <cstdint>
#include <string>

namespace mpt::engine {

// Opens a blocking UDP socket of addr's family, bound to `addr` (port included) and, when
// `interface_name` is not empty, to that interface. Throws std::system_error naming the
// address and interface.
[[nodiscard]] int open_udp_socket(const sockaddr_storage& addr, socklen_t addr_len,
                                  const std::string& interface_name);

// Same address family and address (ports ignored).
[[nodiscard]] bool same_ip(const sockaddr* a, const sockaddr_storage& b);
[[nodiscard]] std::string sockaddr_to_string(const sockaddr_storage& a);
[[nodiscard]] std::uint16_t sockaddr_port(const sockaddr_storage& a);
void set_sockaddr_port(sockaddr_storage& a, std::uint16_t port);

}  // namespace mpt::engine
