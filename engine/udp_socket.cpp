#include "engine/udp_socket.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <system_error>

namespace mpt::engine {

std::string sockaddr_to_string(const sockaddr_storage& a) {
  char buf[INET6_ADDRSTRLEN] = "?";
  if (a.ss_family == AF_INET) {
    const auto& s = reinterpret_cast<const sockaddr_in&>(a);
    inet_ntop(AF_INET, &s.sin_addr, buf, sizeof buf);
    return std::string(buf) + ":" + std::to_string(ntohs(s.sin_port));
  }
  if (a.ss_family == AF_INET6) {
    const auto& s = reinterpret_cast<const sockaddr_in6&>(a);
    inet_ntop(AF_INET6, &s.sin6_addr, buf, sizeof buf);
    return "[" + std::string(buf) + "]:" + std::to_string(ntohs(s.sin6_port));
  }
  return "?";
}

std::uint16_t sockaddr_port(const sockaddr_storage& a) {
  if (a.ss_family == AF_INET) return ntohs(reinterpret_cast<const sockaddr_in&>(a).sin_port);
  return ntohs(reinterpret_cast<const sockaddr_in6&>(a).sin6_port);
}

void set_sockaddr_port(sockaddr_storage& a, std::uint16_t port) {
  if (a.ss_family == AF_INET) {
    reinterpret_cast<sockaddr_in&>(a).sin_port = htons(port);
  } else {
    reinterpret_cast<sockaddr_in6&>(a).sin6_port = htons(port);
  }
}

bool same_ip(const sockaddr* a, const sockaddr_storage& b) {
  if (a->sa_family != b.ss_family) return false;
  if (a->sa_family == AF_INET) {
    return reinterpret_cast<const sockaddr_in*>(a)->sin_addr.s_addr ==
           reinterpret_cast<const sockaddr_in&>(b).sin_addr.s_addr;
  }
  if (a->sa_family == AF_INET6) {
    return std::memcmp(&reinterpret_cast<const sockaddr_in6*>(a)->sin6_addr,
                       &reinterpret_cast<const sockaddr_in6&>(b).sin6_addr, 16) == 0;
  }
  return false;
}

int open_udp_socket(const sockaddr_storage& addr, socklen_t addr_len,
                    const std::string& interface_name) {
  const std::string where = sockaddr_to_string(addr) +
                            (interface_name.empty() ? "" : " on " + interface_name);
  int fd = ::socket(addr.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, IPPROTO_UDP);
  if (fd < 0) throw std::system_error(errno, std::generic_category(), "socket " + where);
  auto fail = [&](const char* what) {
    int e = errno;
    ::close(fd);
    throw std::system_error(e, std::generic_category(), std::string(what) + " " + where);
  };
  int one = 1;
  if (addr.ss_family == AF_INET6 &&
      setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one) < 0) {
    fail("IPV6_V6ONLY");
  }
  if (addr.ss_family == AF_INET) {
    // No DF, and no path MTU learned from ICMP: a GSO send uses the interface's MTU, so a
    // smaller MTU further along the path is fragmented by the router there. With the default
    // (DF on single datagrams, learned MTUs obeyed), one full-size single datagram drew an
    // ICMP "fragmentation needed" and every later GSO send failed with EMSGSIZE for ten
    // minutes -- the path stalled, and a forged ICMP could do the same. OMIT is Linux 3.15+;
    // DONT (no DF, learned MTUs still obeyed) before that.
    int omit = IP_PMTUDISC_OMIT;
    if (setsockopt(fd, IPPROTO_IP, IP_MTU_DISCOVER, &omit, sizeof omit) < 0) {
      int dont = IP_PMTUDISC_DONT;
      (void)setsockopt(fd, IPPROTO_IP, IP_MTU_DISCOVER, &dont, sizeof dont);
    }
  }
  if (!interface_name.empty() &&
      setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, interface_name.c_str(),
                 static_cast<socklen_t>(interface_name.size())) < 0) {
    fail("SO_BINDTODEVICE");
  }
  // Large socket buffers absorb bursts between two loop turns. FORCE needs CAP_NET_ADMIN,
  // which mptd has; fall back to the capped variant otherwise.
  int bytes = 8 << 20;
  if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &bytes, sizeof bytes) < 0) {
    (void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &bytes, sizeof bytes);
  }
  if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &bytes, sizeof bytes) < 0) {
    (void)setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &bytes, sizeof bytes);
  }
  if (::bind(fd, reinterpret_cast<const sockaddr*>(&addr), addr_len) < 0) fail("bind");
  return fd;
}

}  // namespace mpt::engine
