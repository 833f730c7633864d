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
  // Creates (or attaches to) `name` with `queues` queues. With `offload`, opens it with
  // IFF_VNET_HDR and asks for TSO4/TSO6/ECN and USO (TUNSETOFFLOAD); what the kernel refuses
  // is logged and left off. Throws std::system_error.
  TunDevice(const std::string& name, int queues, bool offload);
  ~TunDevice();
  TunDevice(const TunDevice&) = delete;
  TunDevice& operator=(const TunDevice&) = delete;

  [[nodiscard]] const std::string& name() const { return name_; }
  [[nodiscard]] int ifindex() const { return ifindex_; }
  [[nodiscard]] int queue_fd(int i) const { return fds_.at(static_cast<std::size_t>(i)); }
  [[nodiscard]] int queue_count() const { return static_cast<int>(fds_.size()); }
  // Every read and write carries a virtio_net_hdr (engine/tun_offload.h).
  [[nodiscard]] bool vnet_hdr() const { return vnet_hdr_; }
  // TUN_F_* flags the kernel accepted.
  [[nodiscard]] unsigned offload_flags() const { return offload_flags_; }

 private:
  std::string name_;
  int ifindex_ = 0;
  bool vnet_hdr_ = false;
  unsigned offload_flags_ = 0;
  std::vector<int> fds_;
};

}  // namespace mpt::engine
