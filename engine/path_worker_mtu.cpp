// PathWorker, datagrams longer than the path carries: a GSO batch the kernel refused
// (EMSGSIZE) goes out one datagram at a time, and the kernel's path MTU is published for the
// TUN reader to cut TCP to (docs/architecture.md, "Datagrams longer than the path carries").
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "engine/clock.h"
#include "engine/log.h"
#include "engine/path_worker.h"
#include "engine/udp_socket.h"

namespace mpt::engine {

// A GSO batch the kernel refused because its datagrams are longer than the path carries:
// the path MTU it learned from an ICMPv6 Packet Too Big (IPv6 routers do not fragment), or
// the interface's own MTU under a configured `mtu` too large for it. UDP GSO never fragments,
// a single datagram may: the batch goes out one datagram at a time and the kernel fragments
// each. Slow (a system call per datagram) but nothing is lost; counted in tx_fragmented and
// named in the log, where a smaller tunnel mtu is the cure. (IPv4 paths send without DF and
// ignore learned path MTUs, udp_socket.cpp: routers fragment for them and this is rare.)
void PathWorker::send_unsegmented(PacketBuf* b, int err) {
  const int fd = tx_fd(b);
  std::uint64_t sent = 0;
  std::uint64_t bytes = 0;
  for (std::uint32_t off = 0; off < b->length; off += b->gso_size) {
    iovec iov{b->data() + off, std::min<std::uint32_t>(b->gso_size, b->length - off)};
    msghdr m{};
    m.msg_name = &peer_;
    m.msg_namelen = peer_len_;
    m.msg_iov = &iov;
    m.msg_iovlen = 1;
    if (::sendmsg(fd, &m, MSG_DONTWAIT) < 0) {
      bump(stats_.tx_send_errors);
      MPT_LOG_RATELIMITED(LogLevel::kWarn, "%s: sendmsg (one datagram): %s", spec_.name.c_str(),
                          std::strerror(errno));
      continue;
    }
    ++sent;
    bytes += iov.iov_len;
  }
  bump(stats_.tx_packets, sent);
  bump(stats_.tx_bytes, bytes);
  bump(stats_.tx_fragmented, sent);
  // What the kernel takes now, for the reader to cut TCP to (asked once per limit: batches
  // built before the reader saw it are longer than it and do not ask again).
  const std::uint64_t now = monotonic_ns();
  const std::uint32_t known = datagram_limit(now);
  // At most once a second: an error that is not the size (EINVAL has other causes) must not
  // open a socket per batch.
  if ((known == 0 || b->gso_size <= known) && now - last_mtu_query_ns_ >= 1'000'000'000) {
    last_mtu_query_ns_ = now;
    const std::uint32_t limit = kernel_datagram_limit();
    if (limit > 0 && limit < b->gso_size && (known == 0 || limit < known)) {
      publish_datagram_limit(limit, now);
      MPT_INFO("%s: the kernel sends datagrams of at most %u bytes on this path (its path MTU "
               "less the outer headers); TCP is cut to fit from now on", spec_.name.c_str(),
               static_cast<unsigned>(limit));
    }
  }
  MPT_LOG_RATELIMITED(LogLevel::kWarn,
                      "%s: the kernel refused %u-byte datagrams as larger than the path carries "
                      "(%s); sending them one at a time, fragmented -- a smaller tunnel mtu "
                      "avoids this", spec_.name.c_str(), static_cast<unsigned>(b->gso_size),
                      std::strerror(err));
}

// The path MTU the kernel uses towards the peer now (a learned one included), less the outer
// IP and UDP headers: asked of a socket connected to the peer on the path's interface.
std::uint32_t PathWorker::kernel_datagram_limit() const {
  const int family = peer_.ss_family;
  const int fd = ::socket(family, SOCK_DGRAM | SOCK_CLOEXEC, IPPROTO_UDP);
  if (fd < 0) return 0;
  int mtu = 0;
  socklen_t len = sizeof mtu;
  const bool bound = spec_.interface_name.empty() ||
                     setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, spec_.interface_name.c_str(),
                                static_cast<socklen_t>(spec_.interface_name.size())) == 0;
  // From the path's own address (port 0): with source-address routing (usual for multipath
  // set-ups) the route, and its MTU, depend on it.
  sockaddr_storage local = spec_.local;
  if (spec_.local_len > 0 && local.ss_family == family) {
    set_sockaddr_port(local, 0);
    (void)::bind(fd, reinterpret_cast<const sockaddr*>(&local), spec_.local_len);
  }
  if (bound && ::connect(fd, reinterpret_cast<const sockaddr*>(&peer_), peer_len_) == 0) {
    if (family == AF_INET6) {
      (void)getsockopt(fd, IPPROTO_IPV6, IPV6_MTU, &mtu, &len);
    } else {
      (void)getsockopt(fd, IPPROTO_IP, IP_MTU, &mtu, &len);
    }
  }
  ::close(fd);
  const int outer = (family == AF_INET6 ? 40 : 20) + 8;
  return mtu > outer ? static_cast<std::uint32_t>(mtu - outer) : 0;
}

}  // namespace mpt::engine
