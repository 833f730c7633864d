#include "engine/netlink.h"

#include <arpa/inet.h>
#include <libmnl/libmnl.h>
#include <linux/if.h>
#include <linux/if_addr.h>
#include <linux/rtnetlink.h>

#include <cerrno>
#include <vector>

namespace mpt::engine {
namespace {
// Requests are a header and a few attributes; replies are ACKs.
constexpr std::size_t kRequestBytes = 1024;
}  // namespace

Netlink::Netlink() {
  nl_ = mnl_socket_open(NETLINK_ROUTE);
  if (!nl_) throw std::system_error(errno, std::generic_category(), "mnl_socket_open");
  if (mnl_socket_bind(nl_, 0, MNL_SOCKET_AUTOPID) < 0) {
    int e = errno;
    mnl_socket_close(nl_);
    throw std::system_error(e, std::generic_category(), "mnl_socket_bind");
  }
  port_id_ = mnl_socket_get_portid(nl_);
}

Netlink::~Netlink() { mnl_socket_close(nl_); }

std::error_code Netlink::talk(void* msg) {
  auto* nlh = static_cast<nlmsghdr*>(msg);
  nlh->nlmsg_seq = seq_++;
  nlh->nlmsg_flags |= NLM_F_ACK;
  if (mnl_socket_sendto(nl_, nlh, nlh->nlmsg_len) < 0) return {errno, std::generic_category()};
  std::vector<char> buf(16384);
  for (;;) {
    ssize_t n = mnl_socket_recvfrom(nl_, buf.data(), buf.size());
    if (n < 0) return {errno, std::generic_category()};
    int r = mnl_cb_run(buf.data(), static_cast<std::size_t>(n), nlh->nlmsg_seq, port_id_,
                       nullptr, nullptr);
    if (r == MNL_CB_ERROR) return {errno, std::generic_category()};
    if (r <= MNL_CB_STOP) return {};
  }
}

std::error_code Netlink::set_link(int ifindex, std::optional<int> mtu, bool up) {
  alignas(nlmsghdr) char buf[kRequestBytes];
  nlmsghdr* nlh = mnl_nlmsg_put_header(buf);
  nlh->nlmsg_type = RTM_NEWLINK;
  nlh->nlmsg_flags = NLM_F_REQUEST;
  auto* ifm = static_cast<ifinfomsg*>(mnl_nlmsg_put_extra_header(nlh, sizeof(ifinfomsg)));
  ifm->ifi_family = AF_UNSPEC;
  ifm->ifi_index = ifindex;
  ifm->ifi_change = IFF_UP;
  ifm->ifi_flags = up ? IFF_UP : 0;
  if (mtu) mnl_attr_put_u32(nlh, IFLA_MTU, static_cast<std::uint32_t>(*mtu));
  return talk(nlh);
}

std::error_code Netlink::add_address(int ifindex, const IpNet& a) {
  alignas(nlmsghdr) char buf[kRequestBytes];
  nlmsghdr* nlh = mnl_nlmsg_put_header(buf);
  nlh->nlmsg_type = RTM_NEWADDR;
  nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_CREATE | NLM_F_REPLACE;
  auto* ifa = static_cast<ifaddrmsg*>(mnl_nlmsg_put_extra_header(nlh, sizeof(ifaddrmsg)));
  ifa->ifa_family = static_cast<std::uint8_t>(a.addr.family);
  ifa->ifa_prefixlen = static_cast<std::uint8_t>(a.prefix_len);
  ifa->ifa_scope = RT_SCOPE_UNIVERSE;
  ifa->ifa_index = static_cast<std::uint32_t>(ifindex);
  const std::size_t len = a.addr.family == AF_INET ? 4 : 16;
  mnl_attr_put(nlh, IFA_LOCAL, len, a.addr.bytes());
  mnl_attr_put(nlh, IFA_ADDRESS, len, a.addr.bytes());
  // A point-to-point tunnel needs no duplicate address detection; without NODAD the v6
  // address stays "tentative" for a second or two and cannot be used.
  if (a.addr.family == AF_INET6) mnl_attr_put_u32(nlh, IFA_FLAGS, IFA_F_NODAD);
  return talk(nlh);
}

std::error_code Netlink::route_request(int type, int flags, const IpNet& dst, int oif,
                                       const std::optional<IpNet>& gw) {
  alignas(nlmsghdr) char buf[kRequestBytes];
  nlmsghdr* nlh = mnl_nlmsg_put_header(buf);
  nlh->nlmsg_type = static_cast<std::uint16_t>(type);
  nlh->nlmsg_flags = static_cast<std::uint16_t>(NLM_F_REQUEST | flags);
  auto* rtm = static_cast<rtmsg*>(mnl_nlmsg_put_extra_header(nlh, sizeof(rtmsg)));
  rtm->rtm_family = static_cast<std::uint8_t>(dst.addr.family);
  rtm->rtm_dst_len = static_cast<std::uint8_t>(dst.prefix_len);
  rtm->rtm_table = RT_TABLE_MAIN;
  rtm->rtm_protocol = RTPROT_STATIC;
  rtm->rtm_scope = gw ? RT_SCOPE_UNIVERSE : RT_SCOPE_LINK;
  rtm->rtm_type = RTN_UNICAST;
  const std::size_t len = dst.addr.family == AF_INET ? 4 : 16;
  mnl_attr_put(nlh, RTA_DST, len, dst.addr.bytes());
  mnl_attr_put_u32(nlh, RTA_OIF, static_cast<std::uint32_t>(oif));
  if (gw) mnl_attr_put(nlh, RTA_GATEWAY, len, gw->addr.bytes());
  return talk(nlh);
}

std::error_code Netlink::add_route(const IpNet& dst, int oif, const std::optional<IpNet>& gw) {
  return route_request(RTM_NEWROUTE, NLM_F_CREATE | NLM_F_EXCL, dst, oif, gw);
}

std::error_code Netlink::del_route(const IpNet& dst, int oif, const std::optional<IpNet>& gw) {
  return route_request(RTM_DELROUTE, 0, dst, oif, gw);
}

}  // namespace mpt::engine
