// PathResolver: tells mptd when the host's links or addresses changed, so that paths whose
// interface or address came or went are resolved again (cli/host_network.h,
// build_tunnel_spec): a waiting path joins when its interface has its address, a path
// whose interface went away (Wi-Fi out of range, an LTE modem unplugged) or whose address
// changed is replaced -- through the same plan as `mpt reload` (cli/reload_plan.h).
//
// Sources: rtnetlink multicast (link, IPv4 and IPv6 address groups) read through Asio; a
// burst of events (an interface brought up with addresses and routes) is coalesced into one
// call after kSettle; and a poll every kPoll, in case events were lost (a full socket
// buffer drops them). The callback decides whether anything changed for mpt.
//
// Threads: the control thread (the io_context's).
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>

#include <array>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>

struct mnl_socket;

namespace mpt::cli {

class PathResolver {
 public:
  static constexpr std::chrono::milliseconds kSettle{20};
  static constexpr std::chrono::milliseconds kPoll{1000};

  // Throws std::system_error if the netlink socket cannot be opened.
  PathResolver(boost::asio::io_context& io, std::function<void()> on_change);
  ~PathResolver();
  PathResolver(const PathResolver&) = delete;
  PathResolver& operator=(const PathResolver&) = delete;

  [[nodiscard]] std::uint64_t events() const { return events_; }

 private:
  void read();
  void settle();
  void poll();

  std::function<void()> on_change_;
  mnl_socket* nl_ = nullptr;
  std::unique_ptr<boost::asio::posix::stream_descriptor> fd_;
  boost::asio::steady_timer settle_;
  boost::asio::steady_timer poll_;
  bool settling_ = false;
  std::uint64_t events_ = 0;
  std::array<std::uint8_t, 16384> buf_{};
};

}  // namespace mpt::cli
