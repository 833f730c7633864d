// LinkMonitor: the kernel's link events (RTM_NEWLINK / RTM_DELLINK on RTMGRP_LINK) through
// libmnl, read on the Asio control thread. ControlLoop uses it to take a path down the moment
// its interface loses carrier or goes, and up again when it comes back.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>

#include <array>
#include <cstdint>
#include <functional>
#include <span>

struct mnl_socket;

namespace mpt::signaling {

// One link's state in an event: up = administratively up and running (carrier).
using LinkHandler = std::function<void(int ifindex, bool up)>;

// Calls `on_link` for every link message in one netlink datagram (the kernel's; checked all
// the same: a truncated or malformed message ends the walk). Returns the messages seen.
std::size_t parse_link_events(std::span<const std::uint8_t> datagram, const LinkHandler& on_link);

class LinkMonitor {
 public:
  // Subscribes at once (so that no change between now and start() is missed); throws
  // std::system_error if the netlink socket cannot be opened.
  LinkMonitor(boost::asio::io_context& io, LinkHandler on_link);
  ~LinkMonitor();
  LinkMonitor(const LinkMonitor&) = delete;
  LinkMonitor& operator=(const LinkMonitor&) = delete;

  void start();  // reads events on the io_context's thread until destroyed

 private:
  void read_next();

  LinkHandler on_link_;
  mnl_socket* nl_ = nullptr;
  std::unique_ptr<boost::asio::posix::stream_descriptor> stream_;
  std::array<std::uint8_t, 16384> buf_{};
};

}  // namespace mpt::signaling
