"""Network namespaces and paths.

Direct paths (default; tbf on both ends when a --rate is given):

    ns mptb-<tag>-a  vethI 10.200.I+1.1 ================= vethI 10.200.I+1.2  ns mptb-<tag>-b

Emulated paths (--link): a middle namespace with one mpt-delayline per path

    ns ...-a  vethI 10.200.I+1.1 == aI [ns ...-m: mpt-delayline aI <-> bI] bI == vethI 10.200.I+1.2  ns ...-b

The addresses and device names in ns a and ns b are the same either way, so the mptd
configurations do not change. On emulated paths every veth has its offloads off (no GSO/TSO
super-packets: the delay line forwards frames of at most the MTU, and one emulated loss must
drop one frame, not 64 KB; tx checksum offload off so frames carry real checksums), the
middle namespace has IPv6 off (no link-local chatter on the links), and TCP buffers in ns a
and b may grow to 32 MB (a 500 Mbit/s path with 60 ms RTT needs ~4 MB in flight).
"""
import json
import os
import time

from .emulator import DelayLine
from .proc import sh

OFFLOADS_OFF = "gro off gso off tso off tx-udp-segmentation off tx off"


class Topology:
    def __init__(self, n_paths, rates, tag, links=None, work=None, build=None,
                 delayline_args=()):
        self.n = n_paths
        self.rates = rates
        self.links = links  # list of emulator.LinkSpec, or None for direct veths
        self.a = f"mptb-{tag}-a"
        self.b = f"mptb-{tag}-b"
        self.mid = f"mptb-{tag}-m"
        self.work = work
        self.build = build
        self.delayline_args = list(delayline_args)
        self.delaylines = []

    @property
    def emulated(self):
        return self.links is not None

    def ns(self, side):
        return self.a if side == "a" else self.b

    def up(self):
        self.down()
        for ns in (self.a, self.b):
            sh(f"ip netns add {ns}")
            sh(f"ip -n {ns} link set lo up")
        if self.emulated:
            self._up_emulated()
        else:
            self._up_direct()
        time.sleep(1.0)  # veth operstate lags after "up"

    def _up_direct(self):
        for i in range(self.n):
            dev = f"veth{i}"
            sh(f"ip link add {dev} netns {self.a} type veth peer name {dev} netns {self.b}")
            sh(f"ip -n {self.a} addr add 10.200.{i + 1}.1/24 dev {dev}")
            sh(f"ip -n {self.b} addr add 10.200.{i + 1}.2/24 dev {dev}")
            for ns in (self.a, self.b):
                sh(f"ip -n {ns} link set {dev} up")
                rate = self.rates[i]
                if rate:
                    # burst: 10 ms at the rate, at least 64 KB (HZ=250 needs >= 1 tick's worth)
                    burst = max(rate // 8 // 100, 65536)
                    sh(f"tc -n {ns} qdisc add dev {dev} root tbf rate {rate}bit "
                       f"burst {burst} latency 20ms")

    def _up_emulated(self):
        sh(f"ip netns add {self.mid}")
        sh(f"ip -n {self.mid} link set lo up")
        sh(f"ip netns exec {self.mid} sysctl -qw net.ipv6.conf.all.disable_ipv6=1 "
           f"net.ipv6.conf.default.disable_ipv6=1")
        for ns in (self.a, self.b):
            sh(f"ip netns exec {ns} sysctl -qw net.ipv4.tcp_rmem='4096 131072 33554432' "
               f"net.ipv4.tcp_wmem='4096 16384 33554432'")
        for i in range(self.n):
            dev = f"veth{i}"
            sh(f"ip link add {dev} netns {self.a} type veth peer name a{i} netns {self.mid}")
            sh(f"ip link add {dev} netns {self.b} type veth peer name b{i} netns {self.mid}")
            sh(f"ip -n {self.a} addr add 10.200.{i + 1}.1/24 dev {dev}")
            sh(f"ip -n {self.b} addr add 10.200.{i + 1}.2/24 dev {dev}")
            for ns, d in ((self.a, dev), (self.b, dev), (self.mid, f"a{i}"), (self.mid, f"b{i}")):
                sh(f"ip netns exec {ns} ethtool -K {d} {OFFLOADS_OFF}", check=False)
                sh(f"ip -n {ns} link set {d} up")
        for i in range(self.n):
            self.delaylines.append(DelayLine(
                f"{self.build}/tests/mpt-delayline", self.mid, f"a{i}", f"b{i}", self.links[i],
                os.path.join(self.work, f"delayline{i}.sock"), self.delayline_args))

    def reset_links(self):
        """Every emulated link back to its own spec (after a phase with events)."""
        for d in self.delaylines:
            d.reset_link()

    def link_stats(self):
        return [d.stats() for d in self.delaylines]

    def down(self):
        final = [d.stop() for d in self.delaylines]
        self.delaylines = []
        for ns in (self.a, self.b, self.mid):
            sh(f"ip netns del {ns}", check=False)
        return final

    def rx_bytes(self, side):
        """Bytes received per path device (vethI) in ns `side`."""
        out = sh(f"ip -n {self.ns(side)} -s -j link show", capture=True, check=False)
        try:
            links = {x["ifname"]: x for x in json.loads(out)}
        except ValueError:
            return [0] * self.n
        return [links.get(f"veth{i}", {}).get("stats64", {}).get("rx", {}).get("bytes", 0)
                for i in range(self.n)]
