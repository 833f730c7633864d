// Unit tests for the link event parser (signaling/link_monitor.*): what the kernel sends on
// RTMGRP_LINK, and datagrams that lie about their lengths.
#include "signaling/link_monitor.h"

#include <linux/if.h>
#include <linux/rtnetlink.h>

#include <catch2/catch.hpp>
#include <cstring>
#include <utility>
#include <vector>

namespace {

void append_link(std::vector<std::uint8_t>& out, std::uint16_t type, int ifindex, unsigned flags) {
  nlmsghdr h{};
  h.nlmsg_len = NLMSG_LENGTH(sizeof(ifinfomsg));
  h.nlmsg_type = type;
  ifinfomsg ifi{};
  ifi.ifi_index = ifindex;
  ifi.ifi_flags = flags;
  const std::size_t at = out.size();
  out.resize(at + NLMSG_ALIGN(h.nlmsg_len));
  std::memcpy(out.data() + at, &h, sizeof h);
  std::memcpy(out.data() + at + NLMSG_HDRLEN, &ifi, sizeof ifi);
}

std::vector<std::pair<int, bool>> events(const std::vector<std::uint8_t>& d) {
  std::vector<std::pair<int, bool>> seen;
  mpt::signaling::parse_link_events(d, [&](int i, bool up) { seen.emplace_back(i, up); });
  return seen;
}

}  // namespace

TEST_CASE("link events: up needs IFF_UP and IFF_RUNNING; DELLINK is down") {
  std::vector<std::uint8_t> d;
  append_link(d, RTM_NEWLINK, 3, IFF_UP | IFF_RUNNING);
  append_link(d, RTM_NEWLINK, 4, IFF_UP);        // no carrier
  append_link(d, RTM_DELLINK, 5, IFF_UP | IFF_RUNNING);
  append_link(d, RTM_NEWADDR, 6, IFF_UP | IFF_RUNNING);  // not a link message: ignored
  const auto seen = events(d);
  REQUIRE(seen.size() == 3);
  CHECK(seen[0] == std::pair{3, true});
  CHECK(seen[1] == std::pair{4, false});
  CHECK(seen[2] == std::pair{5, false});
}

TEST_CASE("link events: truncated and lying lengths end the walk, never overread") {
  std::vector<std::uint8_t> d;
  append_link(d, RTM_NEWLINK, 3, IFF_UP | IFF_RUNNING);
  append_link(d, RTM_NEWLINK, 7, IFF_UP | IFF_RUNNING);
  for (std::size_t cut = 0; cut < d.size(); ++cut) {
    const std::vector<std::uint8_t> part(d.begin(), d.begin() + static_cast<long>(cut));
    CHECK(events(part).size() <= 1);
  }
  std::vector<std::uint8_t> liar = d;
  const std::uint32_t huge = 1u << 20;
  std::memcpy(liar.data(), &huge, sizeof huge);  // first message claims 1 MiB
  CHECK(events(liar).empty());
  std::vector<std::uint8_t> short_body;
  append_link(short_body, RTM_NEWLINK, 9, IFF_UP | IFF_RUNNING);
  const std::uint32_t hdr_only = NLMSG_HDRLEN;
  std::memcpy(short_body.data(), &hdr_only, sizeof hdr_only);  // no ifinfomsg
  CHECK(events(short_body).empty());
}
