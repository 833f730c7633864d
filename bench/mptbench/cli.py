"""mpt-bench: measure mpt in network namespaces against the raw paths, in one run.

Topology (N paths):   ns mptb-<pid>-a  == vethI (10.200.I+1.1 / .2) ==  ns mptb-<pid>-b
  direct veths, tbf-shaped with --rate; or with --link an emulated link per path: a middle
  namespace where mpt-delayline bridges the path (rate, delay, jitter, loss, queue)
Through the tunnel:   mpt0 10.201.0.1  <========== mptd over all N paths ========>  mpt0 10.201.0.2

Default scenario, per run, on the same links (data always flows a -> b):
  raw_i      one TCP flow over path i without the tunnel, for every path   (--skip-raw)
  mptcp      kernel MPTCP over all paths (mptcpize, cubic), subflows checked (--skip-mptcp)
  baseline   the best single path through the tunnel alone (mptd with only that path)
  goodput    the tunnel over all paths, per-path counters sampled every 100 ms
Each phase records goodput every 100 ms; --at events (e.g. 5s:path1=cut) are played in every
phase at the same offsets from its start. --udp RATE sends constant-rate UDP instead of TCP.
--plot DIR writes one SVG per run; --json FILE writes everything.
Other scenarios: --compare (raw path vs mpt, CPU per GB), --crypto (raw, mpt plain, mpt sealed,
wireguard-go: one TCP flow, CPU per GB), --failover (cut and restore path 1),
--faults flood|flap|restart|soak (garbage floods, a flapping path, the peer killed and
restarted, a long soak with RSS and pool figures; see bench/mptbench/faults.py),
--emulator-accuracy (how exact the link emulator is; writes a markdown table), --ab OTHER_BUILD
(two builds alternated on the same namespaces: a change judged in the same minutes).
Needs root, iproute2, iperf3, mptcpize for MPTCP, and a build of mpt (default ./build;
mpt-delayline is built with the tests).
"""
import argparse
import json
import os
import shutil
import signal
import sys
import tempfile

from . import ab, accuracy, aggregate, compare, crypto, failover, faults, tunnel
from .emulator import parse_events, parse_links
from .topology import Topology
from .units import parse_bitrate, parse_rate

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def build_parser():
    ap = argparse.ArgumentParser(prog="mpt-bench", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--paths", type=int, default=1)
    ap.add_argument("--mtu", type=int, default=None,
                    help="MTU of the tunnel device (default: none written, mptd's automatic "
                         "mtu: the largest that every path carries in one datagram, 1464 "
                         "for plain data on 1500-byte IPv4 paths, 1440 sealed)")
    ap.add_argument("--queues", type=int, default=1, metavar="N",
                    help="TUN queues of both mptd (queues = N in interface.conf, 1..4; default "
                         "1). With --ab both builds get it")
    ap.add_argument("--rate", default="0", help="per-path tbf rate, e.g. 100M or 100M,300M (0 = unshaped)")
    ap.add_argument("--link", default=None, metavar="SPEC[,SPEC...]",
                    help="emulated link per path instead of --rate: RATE:DELAY[:key=value...], "
                         "keys jitter, dist, loss, queue; e.g. 50M:5ms,20M:30ms:jitter=3ms:loss=0.5%%")
    ap.add_argument("--at", action="append", default=[], metavar="T:pathI=ACTION[:VALUE]",
                    help="mid-run change of an emulated link in every phase, e.g. 10s:path1=rate:20M, "
                         "5s:path1=cut, 8s:path1=restore, 3s:path0=loss:1%%, 4s:path0=delay:40ms "
                         "(actions rate, delay, jitter, loss, queue, cut, restore = back to the path's "
                         "--link spec; needs --link)")
    ap.add_argument("--weights", default=None, help="weight_out per path, e.g. 1,3")
    ap.add_argument("--duration", type=int, default=None,
                    help="seconds per measurement (default 10; --faults: flood 10, flap 60, "
                         "restart 30, soak 1800)")
    ap.add_argument("--flows", type=int, default=1, help="parallel TCP flows through the tunnel")
    ap.add_argument("--runs", type=int, default=1, help="repeat and report the median")
    ap.add_argument("--json", default=None, help="write results to this file")
    ap.add_argument("--plot", default=None, metavar="DIR", help="write one SVG per run into DIR")
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--baseline-always", action="store_true",
                    help="measure the single-path tunnel baseline even with --paths 1")
    ap.add_argument("--skip-raw", action="store_true", help="no raw single-path phases")
    ap.add_argument("--skip-mptcp", action="store_true", help="no kernel MPTCP phase")
    ap.add_argument("--udp", default=None, metavar="RATE",
                    help="constant-rate UDP (iperf3 -u -b RATE -l 1200) instead of TCP; reports loss")
    ap.add_argument("--scheduler", default=None,
                    help="scheduler = NAME in the generated [connection] (auto, bytes, packets, flow)")
    ap.add_argument("--reorder-window", type=int, default=None, help="reorder_window = N")
    ap.add_argument("--max-buffdelay-ms", type=int, default=None, help="max_buffdelay_msec = N")
    ap.add_argument("--extra-conf", action="append", default=[], metavar="'key = value'",
                    help="an extra line for [connection] (repeatable)")
    ap.add_argument("--quiet", action="store_true", help="no per-second lines")
    ap.add_argument("--estimates", action="store_true",
                    help="print the sender's path estimates (rate, RTT, queue, loss) every second "
                         "of the mpt phase")
    ap.add_argument("--ab", default=None, metavar="OTHER_BUILD_DIR",
                    help="A/B: this build (--build, A) and OTHER_BUILD_DIR (B) alternated on the "
                         "same namespaces, TCP 1 and 8 flows, raw path measured every round; "
                         "medians of --runs rounds, B/A and CPU-s/GB against raw")
    ap.add_argument("--ab-queues", default=None, metavar="QA,QB",
                    help="A/B of queue counts: A runs with QA TUN queues, B with QB (e.g. 1,2) "
                         "(add --keyed for sealed data); use with --ab (the same build twice is fine: --ab BUILD). "
                         "Each round also prints the per-queue packet counts and reorder lost/late")
    ap.add_argument("--keyed", action="store_true",
                    help="every generated connection keyed (auth_key: data sealed), also with "
                         "one queue")
    ap.add_argument("--compare", action="store_true",
                    help="raw path vs mpt for TCP (1, 8 flows) and UDP (64/512/1400 B), "
                         "with whole-VM CPU seconds per GB")
    ap.add_argument("--crypto", action="store_true",
                    help="one TCP flow over path 0: raw, mpt plain, mpt sealed (auth_key) and "
                         "wireguard-go, with whole-VM CPU seconds per GB")
    ap.add_argument("--no-offload", action="store_true", help="run mptd with --no-offload")
    ap.add_argument("--pin-cpus", action="store_true",
                    help="run mptd with --pin-cpus (each data-plane thread bound to one CPU)")
    ap.add_argument("--metrics", type=int, default=None, metavar="PORT",
                    help="side A's mptd serves Prometheus metrics on 127.0.0.1:PORT (in its "
                         "namespace); the mpt phase scrapes it halfway, checks it with a "
                         "Prometheus parser against mpt status --json and keeps the scrape")
    ap.add_argument("--failover", choices=["link", "drop", "both"],
                    help="2 paths; cut path 1 at 3 s (link down, or nftables drop), restore at 6 s")
    ap.add_argument("--faults", choices=["flood", "flap", "restart", "soak"], default=None,
                    help="fault and attack scenarios over 2 paths (see bench/mptbench/faults.py)")
    ap.add_argument("--flap-s", type=float, default=None,
                    help="--faults flap/soak: flap period in s (default 2 = down 1 s, up 1 s; soak 10)")
    ap.add_argument("--probe-ms", type=int, default=20)
    ap.add_argument("--misses", type=int, default=3)
    ap.add_argument("--hold-down-ms", type=int, default=1000)
    ap.add_argument("--delayline-arg", action="append", default=[], metavar="ARG",
                    help="extra argument for every mpt-delayline, e.g. --delayline-arg=--spin-us=20")
    ap.add_argument("--emulator-accuracy", action="store_true",
                    help="measure the link emulator itself (ping, iperf3 TCP and UDP, its own "
                         "timing counters) over one emulated path; prints a markdown table")
    ap.add_argument("--accuracy-rates", default="20M,50M,100M,500M,1G")
    ap.add_argument("--accuracy-delays", default="5ms,30ms")
    return ap


def check_args(ap, args):
    if args.paths < 1:
        ap.error("--paths must be at least 1")
    if not 1 <= args.queues <= 4:
        ap.error("--queues must be 1..4 (mptd's range)")
    if args.ab_queues is not None:
        try:
            args.ab_queues = [int(x) for x in args.ab_queues.split(",")]
        except ValueError:
            ap.error("--ab-queues takes two queue counts, e.g. 1,2")
        if len(args.ab_queues) != 2 or not all(1 <= q <= 4 for q in args.ab_queues):
            ap.error("--ab-queues takes two queue counts in 1..4, e.g. 1,2")
        if not args.ab:
            ap.error("--ab-queues needs --ab (give the same build twice to compare queue counts)")
    rates = [parse_rate(r) for r in args.rate.split(",")]
    if len(rates) == 1:
        rates *= args.paths
    weights = [int(w) for w in args.weights.split(",")] if args.weights else [1] * args.paths
    if len(rates) != args.paths or len(weights) != args.paths:
        ap.error("--rate and --weights need one value per path (or one rate for all)")
    links = None
    try:
        if args.link:
            if args.rate != "0":
                ap.error("--link and --rate exclude each other (the link spec has the rate)")
            links = parse_links(args.link, args.paths)
        events = parse_events(args.at, args.paths)
        args.udp_bps = parse_bitrate(args.udp) if args.udp else None
    except ValueError as e:
        ap.error(str(e))
    if events and not links:
        ap.error("--at needs emulated links (--link)")
    if events and (args.failover or args.compare):
        ap.error("--at applies to the default scenario only")
    if args.faults:
        if args.paths != 2 or links or events or args.failover or args.compare:
            ap.error("--faults needs --paths 2 and direct links (--rate), no --at/--failover/--compare")
        if args.flap_s is None:
            args.flap_s = 10.0 if args.faults == "soak" else 2.0
        if args.duration_given is False:
            args.duration = {"flood": 10, "flap": 60, "restart": 30, "soak": 1800}[args.faults]
    if args.ab and (args.faults or args.failover or args.compare or args.crypto or events):
        ap.error("--ab is a scenario of its own (no --faults/--failover/--compare/--crypto/--at)")
    if args.failover and args.paths != 2:
        ap.error("--failover needs --paths 2")
    if args.udp and (args.failover or args.compare):
        ap.error("--udp applies to the default scenario only")
    return rates, weights, links, events


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def main(argv=None):
    ap = build_parser()
    args = ap.parse_args(argv)
    tunnel.TUNNEL_MTU = args.mtu
    tunnel.TUNNEL_QUEUES = args.queues
    tunnel.TUNNEL_KEYED = args.keyed
    tunnel.PIN_CPUS = args.pin_cpus
    args.duration_given = args.duration is not None
    if args.duration is None:
        args.duration = 10
    # "--delayline-arg=--spin-us=20" -> ["--spin-us", "20"]
    args.delayline_args = [p for a in args.delayline_arg for p in a.split("=", 1)]
    if os.geteuid() != 0:
        sys.exit("mpt-bench: needs root (network namespaces, TUN)")
    if not shutil.which("iperf3"):
        sys.exit("mpt-bench: iperf3 is not installed (apt-get install iperf3)")
    # SIGTERM unwinds like ^C, so namespaces and daemons are always cleaned up.
    signal.signal(signal.SIGTERM, _interrupt)
    if args.emulator_accuracy:
        summary = accuracy.run(args)
        write_json(args, summary)
        return
    rates, weights, links, events = check_args(ap, args)
    for binary in ["cli/mptd", "cli/mpt"] + (["tests/mpt-delayline"] if links else []):
        if not os.access(os.path.join(args.build, binary), os.X_OK):
            sys.exit(f"mpt-bench: {args.build}/{binary} is missing (build it first)")
    work = tempfile.mkdtemp(prefix="mpt-bench-links.")
    topo = Topology(args.paths, rates, os.getpid(), links=links, work=work, build=args.build,
                    delayline_args=args.delayline_args)
    try:
        topo.up()
        if args.faults:
            summary = faults.run(args, topo)
        elif args.failover:
            summary = failover.run(args, topo, weights)
        elif args.ab:
            summary = ab.run(args, topo, weights)
        elif args.compare:
            summary = compare.run(args, topo, weights)
        elif args.crypto:
            summary = crypto.run(args, topo, weights)
        else:
            summary = aggregate.run(args, topo, rates, weights, events)
    finally:
        topo.down()
        shutil.rmtree(work, ignore_errors=True)
    write_json(args, summary)


def write_json(args, summary):
    if args.json:
        with open(args.json, "w") as f:
            json.dump(summary, f, indent=2)
        print(f"  json written to {args.json}")
