"""The default scenario: on the same links, in one run,
  raw_i      one TCP flow over path i without the tunnel, for every path (--skip-raw)
  mptcp      kernel MPTCP over all paths, one flow (--skip-mptcp; TCP only, N > 1)
  baseline   the best single path through the tunnel alone (mptd with only that path)
  mpt        the tunnel over all paths (--flows F)
Every phase is a `traffic.run_stream` a -> b with --at events played from its start, and a
100 ms goodput series; the mpt phase also samples B's per-path counters every 100 ms.
"""
import os
import shutil
import statistics
import tempfile
import threading

from . import plot, report
from .emulator import EventPlayer
from .traffic import (Sampler, mptcp_counters, mptcp_missing, mptcp_setup, mptcp_subflow_counts,
                      mptcp_teardown, rates_from_counters, run_stream)
from .tunnel import Tunnel, connection_extra_lines
from .proc import sh


def path_label(topo, i):
    if topo.emulated:
        return f"raw path{i} ({topo.links[i].describe()})"
    rate = topo.rates[i]
    return f"raw path{i} ({rate / 1e6:g}M)" if rate else f"raw path{i} (unshaped)"


def metrics_scraper(args, tunnel):
    """mpt-bench --metrics: a MetricsScrape for the mpt phase, or None."""
    return MetricsScrape(args, tunnel) if getattr(args, "metrics", None) else None


class MetricsScrape:
    """One scrape of A's /metrics halfway through the mpt phase, between two `status --json`,
    checked with python3-prometheus-client's parser (Debian's python): every path's byte and
    packet counters must lie between the two. The scrape is kept (next to --json, or
    ./mpt-bench-metrics.txt)."""

    def __init__(self, args, tunnel):
        self.args, self.tunnel, self.timer, self.result = args, tunnel, None, None

    def start(self, t0):
        import threading
        self.timer = threading.Timer(max(1.0, self.args.duration / 2), self._scrape)
        self.timer.start()

    def _scrape(self):
        import json
        import subprocess
        before = self.tunnel.status("a")
        text = self.tunnel.scrape_metrics()
        after = self.tunnel.status("a")
        if text is None or not before or not after:
            self.result = {"ok": False, "error": "no answer from /metrics"}
            return
        path = (os.path.splitext(self.args.json)[0] + ".metrics.txt" if self.args.json
                else "mpt-bench-metrics.txt")
        with open(path, "w") as f:
            f.write(text)
        check = subprocess.run(["/usr/bin/python3", "-c", METRICS_CHECK, path,
                                json.dumps(before), json.dumps(after)], capture_output=True, text=True)
        self.result = {"ok": check.returncode == 0, "report": (check.stdout + check.stderr).strip(),
                       "bytes": len(text), "file": path}

    def finish(self):
        if self.timer:
            self.timer.join()
        r = self.result or {"ok": False, "error": "not scraped (phase too short)"}
        print(f"metrics: {'ok' if r.get('ok') else 'FAILED'}: {r.get('report') or r.get('error')}",
              flush=True)
        return r


METRICS_CHECK = r"""
import json, sys
from prometheus_client.parser import text_string_to_metric_families
text = open(sys.argv[1]).read()
before, after = json.loads(sys.argv[2]), json.loads(sys.argv[3])
samples = {}
fams = list(text_string_to_metric_families(text))
for f in fams:
    for s in f.samples:
        samples[(s.name, s.labels.get("path"))] = s.value
n = 0
for pb, pa in zip(before["paths"], after["paths"]):
    for field in ("tx_bytes", "tx_packets", "rx_bytes", "rx_packets"):
        v = samples[("mpt_path_" + field + "_total", pb["name"])]
        assert pb[field] <= v <= pa[field], (pb["name"], field, pb[field], v, pa[field])
        n += 1
print(f"{len(fams)} families parsed by prometheus_client, {n} per-path counters between "
      f"the status before and after the scrape")
"""


LINK_COUNTERS = ("pkts_in", "pkts_out", "loss_drops", "queue_drops", "cut_drops", "kernel_drops",
                 "ring_drops", "oversize_drops", "delay_err_us")


def run_phase(args, topo, events, label, server_ip, port, flows=1, mptcp=False, tunnel=None,
              live=False, extra_start=None):
    """One measured stream with the events played and the links reset afterwards.
    extra_start(t0) runs when the stream has started (after the events player)."""
    if topo.emulated:
        topo.reset_links()
    player = EventPlayer(events, topo.delaylines) if events else None
    sampler = None
    if tunnel:
        def sample():
            st = tunnel.status("b")
            if not st:
                return None
            return [p["rx_bytes"] for p in st["paths"]] + [st["rx"]["tun_write_bytes"]]

        printer = live_printer(len(tunnel.paths)) if live and not args.quiet else None
        if live and getattr(args, "estimates", False):
            printer = with_estimates(printer, tunnel)
        sampler = Sampler(sample, 0.1, printer)
    rx0 = topo.rx_bytes("b")
    rto0 = tcp_timeouts(topo.a)

    def on_start(t0):
        if player:
            player.start(t0)
        if sampler:
            sampler.start(t0)
        if extra_start:
            extra_start(t0)

    ph = run_stream(topo, server_ip, port, args.duration, flows, args.udp_bps, mptcp, on_start)
    ph["label"] = label
    ph["events"] = player.stop() if player else []
    samples = sampler.stop() if sampler else []
    rx1 = topo.rx_bytes("b")
    # Retransmission timeouts of the sender (A: iperf3 runs with -R), all its TCP sockets.
    rto1 = tcp_timeouts(topo.a)
    ph["rto"] = rto1 - rto0 if rto0 is not None and rto1 is not None else None
    ph["path_rx_bytes"] = [y - x for x, y in zip(rx0, rx1)]
    if ph["events"]:
        ph["event_windows"] = report.event_windows(ph["intervals"], ph["events"], args.duration)
    if samples:
        rates = rates_from_counters(samples)
        n = len(tunnel.paths)
        ph["path_series"] = [[[s, e, v[i]] for s, e, v in rates] for i in range(n)]
        ph["tun_write_series"] = [[s, e, v[n]] for s, e, v in rates]
    if topo.emulated:
        # What each delay line did during the phase (drops by reason, timing error).
        ph["links"] = [{d: {k: st[d][k] for k in LINK_COUNTERS} for d in ("ab", "ba")}
                       for st in topo.link_stats()]
        topo.reset_links()
    return ph


def tcp_timeouts(ns):
    """The namespace's TcpExtTCPTimeouts counter (retransmission timeouts), or None."""
    out = sh(f"ip netns exec {ns} nstat -asz TcpExtTCPTimeouts", capture=True, check=False)
    for line in (out or "").splitlines():
        f = line.split()
        if len(f) >= 2 and f[0] == "TcpExtTCPTimeouts":
            return int(f[1])
    return None


def live_printer(n):
    """Prints one line per second from the 100 ms samples of B's per-path counters."""
    def on_sample(samples):
        if len(samples) < 11 or (len(samples) - 1) % 10 != 0:
            return
        (t0, c0), (t1, c1) = samples[-11], samples[-1]
        rates = [(y - x) * 8 / (t1 - t0) / 1e6 for x, y in zip(c0, c1)]
        per = "  ".join(f"p{i}={r:8.1f}" for i, r in enumerate(rates[:n]))
        print(f"  [{(len(samples) - 1) // 10:3d}s] total={rates[n]:8.1f} Mbit/s  {per}", flush=True)
    return on_sample


def with_estimates(printer, tunnel):
    """Adds, once a second, a line per path with the sender's (A's) estimate of that path."""
    def on_sample(samples):
        if printer:
            printer(samples)
        if len(samples) < 11 or (len(samples) - 1) % 10 != 0:
            return
        st = tunnel.status("a")
        for h in (st or {}).get("health", []):
            e = h.get("estimate", {})
            print(f"        {h['path']:<12} {h['state']:<8} rate {e.get('rate_mbps', 0):7.1f} "
                  f"deliv {e.get('delivery_mbps', 0):7.1f}  minrtt {e.get('min_rtt_us', 0) / 1e3:6.1f} "
                  f"srtt {e.get('srtt_us', 0) / 1e3:6.1f} queue {e.get('queue_delay_us', 0) / 1e3:6.1f} target {e.get('pace_target_us', 0) / 1e3:5.1f} ms"
                  f"  loss {e.get('loss', 0) * 100:5.2f} %  {'sat' if e.get('saturated') else ''}",
                  flush=True)
    return on_sample


def mptcp_phase(args, topo, events):
    """Kernel MPTCP over all paths; checks that every path got a subflow and carried data."""
    mptcp_setup(topo)
    timers = []
    subflows = {}

    def peek(t0):
        # Subflows counted while the transfer runs (iperf3's control and data connections
        # are both MPTCP).
        t = threading.Timer(min(1.5, args.duration / 2),
                            lambda: subflows.update(mptcp_subflow_counts(topo.b)))
        timers.append(t)
        t.start()

    try:
        a0 = mptcp_counters(topo.a)
        ph = run_phase(args, topo, events, f"MPTCP ({topo.n} paths)", "10.200.1.1", 5251,
                       mptcp=True, extra_start=peek)
        for t in timers:
            t.join()
        a1 = mptcp_counters(topo.a)
    finally:
        mptcp_teardown(topo)
    joined = a1.get("MPJoinAckRx", 0) - a0.get("MPJoinAckRx", 0)
    capable = a1.get("MPCapableSYNRX", 0) - a0.get("MPCapableSYNRX", 0)
    fallback = sum(a1.get(k, 0) - a0.get(k, 0) for k in a1 if "Fallback" in k)
    ph["mptcp"] = {"mp_capable_syn_rx": capable, "mp_join_ack_rx": joined,
                   "fallbacks": fallback, "subflows_by_local_addr": subflows}
    # Subflows per MPTCP connection (the initial one plus the joins).
    ph["subflows"] = 1 + joined // max(capable, 1)
    total = sum(ph["path_rx_bytes"]) or 1
    ph["shares"] = [b / total for b in ph["path_rx_bytes"]]
    problems = []
    if capable == 0:
        problems.append("no MP_CAPABLE connection: MPTCP was not used at all")
    elif joined < (topo.n - 1) * capable:
        problems.append(f"only {joined} MP_JOINs for {capable} connection(s) over {topo.n} paths")
    if fallback:
        problems.append(f"{fallback} fallback(s) to plain TCP")
    idle = [i for i, c in enumerate(ph["shares"]) if c < 0.01]
    if idle:
        problems.append(f"path(s) {', '.join(map(str, idle))} carried < 1 % of the bytes")
    if problems:
        print("  warning: MPTCP fell back to fewer paths: " + "; ".join(problems), flush=True)
    ph["mptcp"]["problems"] = problems
    return ph


def one_run(args, topo, weights, run_index, events):
    n = args.paths
    res = {"run": run_index, "phases": {}}
    phases = res["phases"]
    udp = args.udp_bps is not None
    if not args.skip_raw:
        for i in range(n):
            ph = run_phase(args, topo, events, path_label(topo, i), f"10.200.{i + 1}.1", 5201 + i)
            phases[f"raw{i}"] = ph
            print(report.phase_line(ph["label"], ph, udp), flush=True)
            if ph.get("event_windows"):
                print("    " + report.event_summary_line(ph["event_windows"]), flush=True)
        res["raw_mbps"] = [phases[f"raw{i}"]["mbps"] for i in range(n)]
        res["raw_sum_mbps"] = sum(res["raw_mbps"])
    if n > 1 and not args.skip_mptcp:
        why = "UDP traffic (--udp)" if udp else mptcp_missing()
        if why:
            print(f"  MPTCP skipped: {why}", flush=True)
        else:
            ph = mptcp_phase(args, topo, events)
            phases["mptcp"] = ph
            print(report.phase_line(ph["label"], ph) + f"  subflows {ph['subflows']}, path shares "
                  + " / ".join(f"{c * 100:.1f}" for c in ph["shares"]) + " %", flush=True)
            if ph.get("event_windows"):
                print("    " + report.event_summary_line(ph["event_windows"]), flush=True)
            res["mptcp_mbps"] = ph["mbps"]
    if "raw_mbps" in res:
        best = max(range(n), key=lambda i: res["raw_mbps"][i])
    elif topo.emulated:
        best = max(range(n), key=lambda i: topo.links[i].rate_bps or float("inf"))
    else:
        best = max(range(n), key=lambda i: topo.rates[i] or float("inf"))
    work = tempfile.mkdtemp(prefix="mpt-bench.")
    extra = connection_extra_lines(args)
    try:
        if n > 1 or args.baseline_always:
            with Tunnel(topo, args.build, [best], weights, f"{work}/base",
                        offload=not args.no_offload, extra_lines=extra) as t:
                ph = run_phase(args, topo, events, f"mpt over best single path{best}",
                               "10.201.0.1", 5301, args.flows)
            phases["baseline"] = ph
            res["baseline_mbps"] = ph["mbps"]
            print(report.phase_line(ph["label"], ph, udp), flush=True)
        with Tunnel(topo, args.build, list(range(n)), weights, f"{work}/all",
                    offload=not args.no_offload, extra_lines=extra,
                    metrics_port=getattr(args, "metrics", None)) as t:
            st0, b0 = t.status("a"), t.status("b")
            scrape = metrics_scraper(args, t)
            ph = run_phase(args, topo, events, f"mpt ({n} paths)", "10.201.0.1", 5401, args.flows,
                           tunnel=t, live=True, extra_start=scrape.start if scrape else None)
            st1, b1 = t.status("a"), t.status("b")
        if scrape:
            res["metrics"] = scrape.finish()
        phases["mpt"] = ph
        if n == 1 and "baseline_mbps" not in res:
            res["baseline_mbps"] = ph["mbps"]
        res["goodput_mbps"] = ph["mbps"]
        res["retransmits"] = ph["retransmits"]
        tx = [p1["tx_bytes"] - p0["tx_bytes"] for p0, p1 in zip(st0["paths"], st1["paths"])]
        total = sum(tx) or 1
        res["path_shares"] = ph["shares"] = [x / total for x in tx]
        raw_sum = res.get("raw_sum_mbps")
        # Constant-rate UDP: goodput / raw sum says nothing (every phase offers the same rate).
        res["efficiency"] = ph["mbps"] / raw_sum if raw_sum and not udp else None
        reorder = {}
        if b0 and b1:
            r0, r1 = b0["connections"][0]["reorder"], b1["connections"][0]["reorder"]
            reorder = {k: r1[k] - r0[k] for k in ("reordered", "lost", "late", "timeouts", "overflows",
                                                        "nacked", "nack_filled", "nack_refused")
                       if k in r0 and k in r1}
        res["reorder"] = ph["reorder"] = reorder
        if st0 and st1 and "tx" in st0 and "tx" in st1:
            ph["failover"] = {k: st1["tx"].get(k, 0) - st0["tx"].get(k, 0)
                              for k in ("rerouted", "reinjected", "reinject_dropped", "redundant", "paced", "drop_pace_queue",
                                        "repaired", "repair_missing", "repair_limited")}
        line = report.phase_line(ph["label"], ph, udp) + "  shares " + " / ".join(
            f"{x * 100:.1f}" for x in res["path_shares"]) + " %"
        if res["efficiency"] is not None:
            line += f", {res['efficiency'] * 100:.1f} % of raw sum"
        if n > 1:
            line += f", reorder {reorder}"
        if any(ph.get("failover", {}).values()):
            line += f", sender {ph['failover']}"
        print(line, flush=True)
        if ph.get("event_windows"):
            print("    " + report.event_summary_line(ph["event_windows"]), flush=True)
    finally:
        if os.environ.get("MPT_BENCH_KEEP"):
            print(f"  configs and mptd logs kept in {work} (MPT_BENCH_KEEP)", flush=True)
        else:
            shutil.rmtree(work, ignore_errors=True)
    return res


def run(args, topo, rates, weights, events):
    runs = []
    for r in range(args.runs):
        print(f"run {r + 1}/{args.runs}:", flush=True)
        res = one_run(args, topo, weights, r + 1, events)
        runs.append(res)
        if args.plot:
            os.makedirs(args.plot, exist_ok=True)
            name = os.path.join(args.plot, f"mpt-bench-run{r + 1}.svg")
            links = ", ".join(l.describe() for l in topo.links) if topo.emulated else args.rate
            plot.write_run_svg(name, f"run {r + 1}: {args.paths} paths ({links})"
                               + (f", UDP {args.udp}" if args.udp else ""), res, args.duration)
            print(f"  plot written to {name}", flush=True)
    return summarize(args, topo, rates, weights, events, runs)


def summarize(args, topo, rates, weights, events, runs):
    def med(key):
        return report.median_or_none(x.get(key) for x in runs)

    phases = report.summarize_phases(runs)
    n = args.paths
    summary = {
        **report.run_header(args),
        "paths": [{"index": i,
                   "rate_mbps": (topo.links[i].rate_bps / 1e6 if topo.links[i].rate_bps else None)
                   if topo.emulated else (rates[i] / 1e6 if rates[i] else None),
                   "link": topo.links[i].as_dict() if topo.emulated else None,
                   "weight": weights[i],
                   "raw_mbps": statistics.median(x["raw_mbps"][i] for x in runs)
                   if all("raw_mbps" in x for x in runs) else None,
                   "share": statistics.median(x["path_shares"][i] for x in runs)}
                  for i in range(n)],
        "goodput_mbps": med("goodput_mbps"),
        "raw_sum_mbps": med("raw_sum_mbps"),
        "mptcp_mbps": med("mptcp_mbps"),
        "efficiency": med("efficiency"),
        "baseline_mbps": med("baseline_mbps"),
        "retransmits": med("retransmits"),
        "flows": args.flows,
        "duration_s": args.duration,
        "udp_rate": args.udp,
        "scheduler": args.scheduler,
        "queues": args.queues,
        "connection_extra": connection_extra_lines(args),
        "events": [e.as_dict() for e in events],
        "phases": phases,
        "runs": runs,
    }
    print("\nmedian of %d run(s):" % len(runs))
    print(f"  {'path':>4} {'link':>22} {'weight':>6} {'raw Mbit/s':>11} {'mpt share':>9}")
    for p in summary["paths"]:
        link = p["link"]["spec"] if p["link"] else (f"{p['rate_mbps']:g}M" if p["rate_mbps"] else "unshaped")
        print(f"  {p['index']:>4} {link:>22} {p['weight']:>6} {report.fmt(p['raw_mbps']):>11} "
              f"{p['share'] * 100:>8.1f}%")
    report.print_phase_table(phases, udp=args.udp_bps is not None)
    print(f"  goodput through mpt : {report.fmt(summary['goodput_mbps'])} Mbit/s ({args.flows} flow(s))")
    print(f"  raw sum             : {report.fmt(summary['raw_sum_mbps'])} Mbit/s")
    if summary["mptcp_mbps"] is not None:
        print(f"  kernel MPTCP        : {report.fmt(summary['mptcp_mbps'])} Mbit/s")
    if summary["efficiency"] is not None:
        print(f"  efficiency          : {summary['efficiency'] * 100:.1f} % of raw sum")
    print(f"  baseline (best single path through mpt): {report.fmt(summary['baseline_mbps'])} Mbit/s")
    print(f"  retransmits         : {report.fmt(summary['retransmits'], 'g')}")
    return summary
