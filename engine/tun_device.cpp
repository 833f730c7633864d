#include "engine/tun_device.h"

#include <fcntl.h>
#include <net/if.h>
#include <linux/if_tun.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <system_error>

namespace mpt::engine {

TunDevice::TunDevice(const std::string& name, int queues) : name_(name) {
  if (name.empty() || name.size() >= IFNAMSIZ) {
    throw std::system_error(EINVAL, std::generic_category(), "TUN name '" + name + "'");
  }
  for (int q = 0; q < queues; ++q) {
    int fd = ::open("/dev/net/tun", O_RDWR | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) {
      int e = errno;
      for (int f : fds_) ::close(f);
      throw std::system_error(e, std::generic_category(), "open /dev/net/tun");
    }
    ifreq ifr{};
    ifr.ifr_flags = IFF_TUN | IFF_NO_PI | IFF_MULTI_QUEUE;
    std::memcpy(ifr.ifr_name, name.c_str(), name.size());
    if (::ioctl(fd, TUNSETIFF, &ifr) < 0) {
      int e = errno;
      ::close(fd);
      for (int f : fds_) ::close(f);
      throw std::system_error(e, std::generic_category(), "TUNSETIFF " + name);
    }
    name_ = ifr.ifr_name;
    fds_.push_back(fd);
  }
  ifindex_ = static_cast<int>(if_nametoindex(name_.c_str()));
  if (ifindex_ == 0) {
    int e = errno;
    for (int f : fds_) ::close(f);
    throw std::system_error(e, std::generic_category(), "if_nametoindex " + name_);
  }
}

TunDevice::~TunDevice() {
  for (int f : fds_) ::close(f);
}

}  // namespace mpt::engine
