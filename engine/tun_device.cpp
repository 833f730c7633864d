#include "engine/tun_device.h"

#include <fcntl.h>
#include <net/if.h>
#include <linux/if_tun.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <system_error>

#include "engine/log.h"

#ifndef TUN_F_USO4
#define TUN_F_USO4 0x20
#define TUN_F_USO6 0x40
#endif

namespace mpt::engine {

TunDevice::TunDevice(const std::string& name, int queues, bool offload)
    : name_(name), vnet_hdr_(offload) {
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
    ifr.ifr_flags = IFF_TUN | IFF_NO_PI | IFF_MULTI_QUEUE | (vnet_hdr_ ? IFF_VNET_HDR : 0);
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
  if (vnet_hdr_) {
    // Most to least: TSO + ECN + USO; TSO + ECN; checksum only. The header size stays 10.
    const unsigned tso = TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6 | TUN_F_TSO_ECN;
    for (unsigned flags : {tso | TUN_F_USO4 | TUN_F_USO6, tso, unsigned{TUN_F_CSUM}, 0u}) {
      if (::ioctl(fds_[0], TUNSETOFFLOAD, static_cast<unsigned long>(flags)) == 0) {
        offload_flags_ = flags;
        break;
      }
    }
    if (offload_flags_ != (tso | TUN_F_USO4 | TUN_F_USO6)) {
      MPT_WARN("%s: the kernel refused some TUN offloads (accepted flags 0x%x of 0x%x); "
               "falling back to %s", name_.c_str(), offload_flags_, tso | TUN_F_USO4 | TUN_F_USO6,
               offload_flags_ & TUN_F_TSO4 ? "TSO without USO" : "one packet per read");
    }
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
