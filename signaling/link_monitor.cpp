#include "signaling/link_monitor.h"

#include <libmnl/libmnl.h>
#include <linux/if.h>
#include <linux/rtnetlink.h>
#include <sys/socket.h>

#include <cerrno>
#include <memory>
#include <system_error>

namespace mpt::signaling {

namespace {

struct Walk {
  const LinkHandler* on_link;
  std::size_t seen = 0;
};

int on_message(const nlmsghdr* h, void* data) {
  auto& w = *static_cast<Walk*>(data);
  if (h->nlmsg_type != RTM_NEWLINK && h->nlmsg_type != RTM_DELLINK) return MNL_CB_OK;
  if (mnl_nlmsg_get_payload_len(h) < sizeof(ifinfomsg)) return MNL_CB_OK;
  const auto* ifi = static_cast<const ifinfomsg*>(mnl_nlmsg_get_payload(h));
  const bool up = h->nlmsg_type == RTM_NEWLINK && (ifi->ifi_flags & IFF_UP) &&
                  (ifi->ifi_flags & IFF_RUNNING);
  ++w.seen;
  (*w.on_link)(ifi->ifi_index, up);
  return MNL_CB_OK;
}

}  // namespace

std::size_t parse_link_events(std::span<const std::uint8_t> datagram, const LinkHandler& on_link) {
  Walk w{&on_link};
  // seq 0 and portid 0: events are not answers to a request of ours. libmnl checks every
  // length against the datagram (mnl_nlmsg_ok) and stops at the first bad one.
  (void)mnl_cb_run(datagram.data(), datagram.size(), 0, 0, on_message, &w);
  return w.seen;
}

LinkMonitor::LinkMonitor(boost::asio::io_context& io, LinkHandler on_link)
    : on_link_(std::move(on_link)) {
  nl_ = mnl_socket_open2(NETLINK_ROUTE, SOCK_CLOEXEC | SOCK_NONBLOCK);
  if (nl_ == nullptr) throw std::system_error(errno, std::generic_category(), "netlink socket");
  if (mnl_socket_bind(nl_, RTMGRP_LINK, MNL_SOCKET_AUTOPID) < 0) {
    const int e = errno;
    mnl_socket_close(nl_);
    throw std::system_error(e, std::generic_category(), "netlink bind RTMGRP_LINK");
  }
  // Asio waits for readability only; libmnl owns the descriptor and closes it.
  stream_ = std::make_unique<boost::asio::posix::stream_descriptor>(io, mnl_socket_get_fd(nl_));
}

LinkMonitor::~LinkMonitor() {
  boost::system::error_code ignored;
  stream_->cancel(ignored);
  stream_->release();
  mnl_socket_close(nl_);
}

void LinkMonitor::start() { read_next(); }

void LinkMonitor::read_next() {
  stream_->async_wait(boost::asio::posix::stream_descriptor::wait_read,
                      [this](const boost::system::error_code& ec) {
                        if (ec == boost::asio::error::operation_aborted) return;
                        for (;;) {
                          const ssize_t n = mnl_socket_recvfrom(nl_, buf_.data(), buf_.size());
                          // EAGAIN: drained. ENOBUFS: events were lost; the probes
                          // still find a dead link.
                          if (n <= 0) break;
                          parse_link_events({buf_.data(), static_cast<std::size_t>(n)}, on_link_);
                        }
                        read_next();
                      });
}

}  // namespace mpt::signaling
