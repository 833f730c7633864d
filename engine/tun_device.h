// The TUN device: IFF_TUN | IFF_NO_PI | IFF_MULTI_QUEUE, one fd per queue.
//
// Created and destroyed by the main thread. The device is not persistent: closing the last
// queue fd removes it, and with it every address and route the kernel attached to it.
// Queue fds are handed to the TUN reader (reads) and the TUN writer (writes); both only use
// them through io_uring. The fds are set O_NONBLOCK so that io_uring never parks a read in a
// kernel worker thread: it polls instead.
#pragma once

#include <string>
#include <vector>

namespace mpt::engine {

class TunDevice {
 public:
  // Creates (or attaches to) `name` with `queues` queues. Throws std::system_error.
  TunDevice(const std::string& name, int queues);
  ~TunDevice();
  TunDevice(const TunDevice&) = delete;
  TunDevice& operator=(const TunDevice&) = delete;

  [[nodiscard]] const std::string& name() const { return name_; }
  [[nodiscard]] int ifindex() const { return ifindex_; }
  [[nodiscard]] int queue_fd(int i) const { return fds_.at(static_cast<std::size_t>(i)); }
  [[nodiscard]] int queue_count() const { return static_cast<int>(fds_.size()); }

 private:
  std::string name_;
  int ifindex_ = 0;
  std::vector<int> fds_;
};

}  // namespace mpt::engine
