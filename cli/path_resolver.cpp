#include "cli/path_resolver.h"

#include <libmnl/libmnl.h>
#include <linux/rtnetlink.h>
#include <unistd.h>

#include <system_error>

#include "engine/log.h"

namespace mpt::cli {

PathResolver::PathResolver(boost::asio::io_context& io, std::function<void()> on_change)
    : on_change_(std::move(on_change)), settle_(io), poll_(io) {
  nl_ = mnl_socket_open2(NETLINK_ROUTE, SOCK_NONBLOCK | SOCK_CLOEXEC);
  if (!nl_) throw std::system_error(errno, std::generic_category(), "netlink socket (links)");
  if (mnl_socket_bind(nl_, RTMGRP_LINK | RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR,
                      MNL_SOCKET_AUTOPID) < 0) {
    const int e = errno;
    mnl_socket_close(nl_);
    throw std::system_error(e, std::generic_category(), "netlink bind (link and address events)");
  }
  // Asio owns a duplicate; the original stays with libmnl (closed in the destructor).
  fd_ = std::make_unique<boost::asio::posix::stream_descriptor>(io, ::dup(mnl_socket_get_fd(nl_)));
  read();
  poll();
}

PathResolver::~PathResolver() {
  fd_.reset();
  if (nl_) mnl_socket_close(nl_);
}

void PathResolver::read() {
  fd_->async_wait(boost::asio::posix::stream_descriptor::wait_read,
                  [this](const boost::system::error_code& ec) {
                    if (ec) return;  // cancelled: shutting down
                    // Drain everything queued; the content does not matter (the callback
                    // looks at the host as it is), only that something changed.
                    bool any = false;
                    for (;;) {
                      const ssize_t n = mnl_socket_recvfrom(nl_, buf_.data(), buf_.size());
                      if (n > 0) {
                        any = true;
                        continue;
                      }
                      // ENOBUFS: events were lost -- resolve anyway.
                      if (n < 0 && errno == ENOBUFS) {
                        any = true;
                        continue;
                      }
                      break;
                    }
                    if (any) {
                      ++events_;
                      settle();
                    }
                    read();
                  });
}

void PathResolver::settle() {
  if (settling_) return;
  settling_ = true;
  settle_.expires_after(kSettle);
  settle_.async_wait([this](const boost::system::error_code& ec) {
    settling_ = false;
    if (!ec) on_change_();
  });
}

void PathResolver::poll() {
  poll_.expires_after(kPoll);
  poll_.async_wait([this](const boost::system::error_code& ec) {
    if (ec) return;
    on_change_();
    poll();
  });
}

}  // namespace mpt::cli
