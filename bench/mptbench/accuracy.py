"""--emulator-accuracy: how exact mpt-delayline is, over one emulated path (ns a -- mid -- ns b),
for every rate x delay combination:

  delay  ping every 0.2 s (idle link): RTT - 2 x delay; and the delay line's own timing error
         (send time - scheduled release, per frame) while ping runs and under TCP load
  rate   iperf3 TCP (cubic, 1 s omitted) and UDP (1400 B payload, offered 5 % above the link
         rate) goodput against the ideal for the frame size: TCP 1448 / 1514 of the rate
         (timestamps on), UDP 1400 / 1442
  cost   the delay line's CPU time (both directions) per second under TCP load
"""
import json
import os
import re
import shutil
import statistics
import subprocess
import tempfile
import time

from .emulator import LinkSpec
from .proc import cpu_busy_seconds, process_cpu_seconds, sh, stop_process
from .report import run_header
from .topology import Topology
from .traffic import wait_listening
from .units import fmt_rate, parse_bitrate, parse_ms

TCP_IDEAL = 1448 / 1514
UDP_LEN = 1400
UDP_IDEAL = UDP_LEN / (UDP_LEN + 8 + 20 + 14)


def quantile(v, q):
    s = sorted(v)
    return s[min(len(s) - 1, int(round(q * (len(s) - 1))))] if s else None


def ping_rtts(topo, count):
    out = sh(f"ip netns exec {topo.b} ping -n -c {count} -i 0.2 -W 2 10.200.1.1", capture=True,
             check=False, timeout=count * 0.2 + 20)
    return [float(x) for x in re.findall(r"time=([\d.]+) ms", out)]


def iperf_json(topo, args_list, timeout, during=None):
    """iperf3 a -> b (client in ns b, -R); during() runs while it does. Returns its "end"."""
    srv = subprocess.Popen(["ip", "netns", "exec", topo.a, "iperf3", "-s", "-1", "-p", "5901",
                            "-B", "10.200.1.1"], stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
    wait_listening(topo.a, 5901)
    cli = subprocess.Popen(["ip", "netns", "exec", topo.b, "iperf3", "-c", "10.200.1.1", "-p",
                            "5901", "-R", "-J", *args_list], stdout=subprocess.PIPE, text=True)
    try:
        if during:
            during()
        out, _ = cli.communicate(timeout=timeout)
    finally:
        stop_process(cli, timeout=5)
        stop_process(srv, timeout=5)
    try:
        return json.loads(out)["end"]
    except (ValueError, KeyError):
        return None


def link_rate_sampler(dl, start_s, span_s, result):
    """The delay line's a->b output rate (frame bits/s) between start_s and start_s + span_s
    after the call: the emulated link's own rate while it is saturated."""
    def during():
        time.sleep(start_s)
        t0, b0 = time.monotonic(), dl.stats()["ab"]["bytes_out"]
        time.sleep(span_s)
        t1, b1 = time.monotonic(), dl.stats()["ab"]["bytes_out"]
        result["link_out_bps"] = (b1 - b0) * 8 / (t1 - t0)
    return during


def timing(dl_stats, direction):
    e = dl_stats[direction]["delay_err_us"]
    lag = dl_stats[direction].get("rx_lag_us", {})
    return {"p50_us": e["p50"], "p99_us": e["p99"], "p999_us": e["p999"], "max_us": e["max"],
            "samples": e["samples"], "rx_lag_p99_us": lag.get("p99"),
            "rx_lag_max_us": lag.get("max")}


def background_cpu(seconds=1.0):
    """Busy CPUs (0..nproc) over `seconds` while we send nothing: other work on the VM."""
    c0 = cpu_busy_seconds()
    time.sleep(seconds)
    return (cpu_busy_seconds() - c0) / seconds


def wait_until_quiet(limit=0.3, patience_s=180):
    """Waits (up to patience_s) until the VM is nearly idle; returns the last reading. Timing
    figures measured on a busy VM say more about the VM than about the delay line."""
    deadline = time.monotonic() + patience_s
    while True:
        busy = background_cpu()
        if busy <= limit or time.monotonic() >= deadline:
            return busy
        print(f"  (waiting: the VM is busy with other work, {busy:.2f} CPUs)", flush=True)
        time.sleep(4)


def measure(args, topo, dl, rate, delay_ms):
    row = {"rate_bps": rate, "delay_ms": delay_ms, "background_cpus": wait_until_quiet()}
    # Delay: an idle link, ping both ways through it.
    dl.wait_drained()
    dl.command("reset")
    rtts = ping_rtts(topo, args.accuracy_pings)
    st = dl.stats()
    excess = [r - 2 * delay_ms for r in rtts]
    row["ping"] = {"samples": len(rtts), "rtt_excess_ms_p50": quantile(excess, 0.5),
                   "rtt_excess_ms_p99": quantile(excess, 0.99),
                   "rtt_excess_ms_max": max(excess) if excess else None,
                   "delayline_ab": timing(st, "ab"), "delayline_ba": timing(st, "ba")}
    # Rate and timing under TCP load (data a -> b: direction ab).
    dl.wait_drained()
    dl.command("reset")
    cpu0, t0 = process_cpu_seconds(dl.pid()), time.monotonic()
    end = iperf_json(topo, ["-t", str(args.duration), "-O", "1", "-C", "cubic"],
                     args.duration + 40)
    cpu1, t1 = process_cpu_seconds(dl.pid()), time.monotonic()
    st = dl.stats()
    if end:
        got = end["sum_received"]["bits_per_second"]
        row["tcp"] = {"mbps": got / 1e6, "ideal_mbps": rate * TCP_IDEAL / 1e6,
                      "error_pct": (got / (rate * TCP_IDEAL) - 1) * 100,
                      "retransmits": end["sum_sent"].get("retransmits")}
    row["tcp_load"] = {"delayline_ab": timing(st, "ab"), "delayline_ba": timing(st, "ba"),
                       "queue_drops": st["ab"]["queue_drops"],
                       "kernel_drops": st["ab"]["kernel_drops"] + st["ba"]["kernel_drops"],
                       "cpu_per_s": (cpu1 - cpu0) / (t1 - t0) if cpu0 is not None and cpu1 is not None else None}
    # Rate with UDP offered above the link rate.
    dl.wait_drained()
    dl.command("reset")
    rcvbuf0 = udp_rcvbuf_errors(topo.b)
    link = {}
    end = iperf_json(topo, ["-t", str(args.duration), "-O", "1", "-u", "-b",
                            str(int(rate * 1.05)), "-l", str(UDP_LEN)], args.duration + 40,
                     link_rate_sampler(dl, 1.5, args.duration - 1.0, link))
    if end and "sum_received" in end:
        got = end["sum_received"]["bits_per_second"]
        row["udp"] = {"mbps": got / 1e6, "ideal_mbps": rate * UDP_IDEAL / 1e6,
                      "error_pct": (got / (rate * UDP_IDEAL) - 1) * 100,
                      "sent_mbps": end["sum_sent"]["bits_per_second"] / 1e6}
    if "link_out_bps" in link:
        row["udp_link_out"] = {"mbps": link["link_out_bps"] / 1e6,
                               "error_pct": (link["link_out_bps"] / rate - 1) * 100}
    # Where UDP datagrams were lost: in the delay line (queue: the 5 % excess, expected), or
    # at the receiving socket in ns b (iperf3 not reading fast enough: not the emulator).
    st = dl.stats()["ab"]
    row["udp_drops"] = {"delayline_in": st["pkts_in"], "delayline_out": st["pkts_out"],
                        "delayline_queue_drops": st["queue_drops"],
                        "delayline_kernel_drops": st["kernel_drops"],
                        "receiver_rcvbuf_errors": udp_rcvbuf_errors(topo.b) - rcvbuf0}
    return row


def udp_rcvbuf_errors(ns):
    out = sh(f"ip netns exec {ns} nstat -asz UdpRcvbufErrors", capture=True, check=False)
    m = re.search(r"UdpRcvbufErrors\s+(\d+)", out)
    return int(m.group(1)) if m else 0


def fmt_row(r):
    def g(d, k, spec=".2f"):
        return "n/a" if not d or d.get(k) is None else format(d[k], spec)
    p, tl = r["ping"], r["tcp_load"]
    pab = p["delayline_ab"]
    lab = tl["delayline_ab"]
    return (f"| {fmt_rate(r['rate_bps'])} | {r['delay_ms']:g} | {g(p, 'rtt_excess_ms_p50')} / "
            f"{g(p, 'rtt_excess_ms_p99')} / {g(p, 'rtt_excess_ms_max')} | "
            f"{pab['p50_us']} / {pab['p99_us']} / {pab['max_us']} | "
            f"{g(r.get('tcp'), 'mbps', '.1f')} ({g(r.get('tcp'), 'error_pct', '+.1f')} %) | "
            f"{g(r.get('udp'), 'mbps', '.1f')} ({g(r.get('udp'), 'error_pct', '+.1f')} %) | "
            f"{g(r.get('udp_link_out'), 'mbps', '.1f')} ({g(r.get('udp_link_out'), 'error_pct', '+.2f')} %) | "
            f"{lab['p50_us']} / {lab['p99_us']} / {lab['p999_us']} / {lab['max_us']} | "
            f"{tl['delayline_ba']['p99_us']} ({tl['delayline_ba']['rx_lag_p99_us']}) | "
            f"{g(tl, 'cpu_per_s', '.2f')} | {r['background_cpus']:.2f} |")


TABLE_HEAD = (
    "| rate | one-way delay ms | ping RTT − 2·delay, ms p50 / p99 / max | delay-line error while pinging, µs p50 / p99 / max (a→b) "
    "| TCP goodput Mbit/s (vs ideal) | UDP goodput Mbit/s (vs ideal) "
    "| link output under UDP overload, Mbit/s of frames (vs rate) "
    "| delay-line error under TCP load, µs p50 / p99 / p99.9 / max (a→b, data) "
    "| same, b→a (ACKs): p99 (p99 of frames' age when read) | delay-line CPU s/s "
    "| other load before, CPUs |\n"
    "|---|---|---|---|---|---|---|---|---|---|---|")


def run(args):
    rates = [parse_bitrate(x) for x in args.accuracy_rates.split(",")]
    delays = [parse_ms(x) for x in args.accuracy_delays.split(",")]
    args.accuracy_pings = getattr(args, "accuracy_pings", 40)
    binary = os.path.join(args.build, "tests/mpt-delayline")
    if not os.access(binary, os.X_OK):
        raise SystemExit(f"mpt-bench: {binary} is missing (cmake --build build --target mpt-delayline)")
    work = tempfile.mkdtemp(prefix="mpt-bench-acc.")
    topo = Topology(1, [0], os.getpid(), links=[LinkSpec(f"{rates[0]}:{delays[0]}ms")],
                    work=work, build=args.build, delayline_args=args.delayline_args)
    rows = []
    try:
        topo.up()
        dl = topo.delaylines[0]
        ping_rtts(topo, 2)  # ARP
        print(TABLE_HEAD, flush=True)
        for d in delays:
            for r in rates:
                dl.spec = LinkSpec(f"{r}:{d}ms")
                dl.reset_link()
                row = measure(args, topo, dl, r, d)
                rows.append(row)
                print(fmt_row(row), flush=True)
    finally:
        topo.down()
        shutil.rmtree(work, ignore_errors=True)
    tcp_err = [abs(r["tcp"]["error_pct"]) for r in rows if r.get("tcp")]
    summary = {**run_header(args), "rows": rows,
               "tcp_error_pct_median": statistics.median(tcp_err) if tcp_err else None,
               "table": "\n".join([TABLE_HEAD] + [fmt_row(r) for r in rows])}
    return summary
