"""--failover: one TCP flow through mpt over 2 paths; path 1 is cut at 3 s (link down, or
every packet dropped by nftables) and restored at 6 s; detection, regain and rejoin times
from a 100 ms timeline of B's counters."""
import json
import shutil
import statistics
import subprocess
import tempfile
import time

from .proc import sh
from .report import run_header
from .traffic import iperf
from .tunnel import Tunnel, connection_extra_lines


def cut_path(topo, i, how, restore=False):
    """Cuts path i (both sides): link down, or every packet dropped by nftables."""
    dev = f"veth{i}"
    for ns in (topo.a, topo.b):
        if how == "link":
            sh(f"ip -n {ns} link set {dev} {'up' if restore else 'down'}")
        elif restore:
            sh(f"ip netns exec {ns} nft delete table netdev mptcut", check=False)
        else:
            sh(f"ip netns exec {ns} nft add table netdev mptcut")
            sh(f"ip netns exec {ns} nft 'add chain netdev mptcut in {{ type filter hook ingress "
               f"device {dev} priority 0; policy drop; }}'")


def failover_run(args, topo, weights, how):
    """One TCP flow over 2 paths; path 1 is cut at t=cut_s and restored at t=restore_s."""
    control = {"interval_ms": args.probe_ms, "misses": args.misses, "hold_down_ms": args.hold_down_ms}
    work = tempfile.mkdtemp(prefix="mpt-bench.")
    cut_s, restore_s, duration = 3.0, 6.0, args.duration
    samples = []  # (t, total Mbit/s, [per path], path1 state)
    events = {}
    try:
        with Tunnel(topo, args.build, [0, 1], weights, work, offload=not args.no_offload,
                    control=control, extra_lines=connection_extra_lines(args)) as t:
            time.sleep(1.5)  # probes settle
            srv = subprocess.Popen(["ip", "netns", "exec", topo.b, "iperf3", "-s", "-1", "-p",
                                    "5701", "-B", "10.201.0.2"], stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL)
            time.sleep(0.3)
            cli = subprocess.Popen(f"ip netns exec {topo.a} iperf3 -c 10.201.0.2 -p 5701 -t "
                                   f"{duration} -C cubic -J", shell=True, text=True,
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            t0 = time.monotonic()
            last, t_last = None, t0
            cut_done = restore_done = False
            state_prev = "up"
            while cli.poll() is None:
                now = time.monotonic() - t0
                if not cut_done and now >= cut_s:
                    cut_path(topo, 1, how)
                    events["cut"] = time.monotonic() - t0
                    cut_done = True
                if cut_done and not restore_done and now >= restore_s:
                    cut_path(topo, 1, how, restore=True)
                    events["restore"] = time.monotonic() - t0
                    restore_done = True
                st = t.status("a")
                rx_st = t.status("b")
                if st and rx_st:
                    tnow = time.monotonic()
                    # What arrives: per-path bytes received at B; the total is what B's TUN
                    # got (goodput), not what A sent into a possibly dead path.
                    tx = [p["rx_bytes"] for p in rx_st["paths"]] + [rx_st["rx"]["tun_write_bytes"]]
                    state = st["health"][1]["state"]
                    if state != state_prev:
                        key = "detected" if state_prev == "up" else f"state_{state}"
                        events.setdefault(key if cut_done else "early_" + state,
                                          tnow - t0)
                        if state == "up" and restore_done:
                            events.setdefault("rejoined", tnow - t0)
                        state_prev = state
                    if last is not None and tnow - t_last >= 0.1:
                        rates = [(x - y) * 8 / (tnow - t_last) / 1e6 for x, y in zip(tx, last)]
                        samples.append((round(tnow - t0, 2), rates[-1], rates[:-1], state))
                        last, t_last = tx, tnow
                    elif last is None:
                        last, t_last = tx, tnow
                time.sleep(0.01)
            out, err = cli.communicate()
            srv.wait(timeout=10)
    finally:
        cut_path(topo, 1, how, restore=True)
        shutil.rmtree(work, ignore_errors=True)
    broke = cli.returncode != 0
    try:
        end = json.loads(out)["end"]
        goodput = end["sum_received"]["bits_per_second"] / 1e6
        retr = end["sum_sent"].get("retransmits", 0)
    except (ValueError, KeyError):
        goodput, retr, broke = 0.0, 0, True
    # Surviving path rate: path 0's mean rate while path 1 was healthy is not it; use the raw
    # single-path rate measured in the same run (args.raw0).
    target = 0.9 * args.raw0
    regained = None
    if "cut" in events:
        # A bucket counts only if it began after the cut: one that straddles it still holds
        # the traffic of both paths from before.
        prev_ts = None
        for (ts, total, _, _) in samples:
            if prev_ts is not None and prev_ts >= events["cut"] and total >= target:
                regained = ts - events["cut"]
                break
            prev_ts = ts
    carried_after = None
    if "rejoined" in events:
        for (ts, _, rates, _) in samples:
            if ts > events["rejoined"] and rates[1] > 1.0:
                carried_after = ts - events["rejoined"]
                break
    res = {"how": how, "detect_ms": (events["detected"] - events["cut"]) * 1000
           if "detected" in events and "cut" in events else None,
           "regain_ms": regained * 1000 if regained is not None else None,
           "rejoin_after_restore_ms": (events["rejoined"] - events["restore"]) * 1000
           if "rejoined" in events else None,
           "carries_after_rejoin_ms": carried_after * 1000 if carried_after is not None else None,
           "connection_broke": broke, "goodput_mbps": goodput, "retransmits": retr,
           "events": events, "timeline": samples}
    return res


def run(args, topo, weights):
    """Every requested cut kind, --runs times; returns the summary (medians per kind)."""
    hows = ["link", "drop"] if args.failover == "both" else [args.failover]
    results = []
    args.raw0, _ = iperf(topo, "10.200.1.2", 4, 1, 5801)
    print(f"raw path 0: {args.raw0:.1f} Mbit/s", flush=True)

    def ms(v):
        return "n/a" if v is None else f"{v:.0f} ms"

    for how in hows:
        for r in range(args.runs):
            res = failover_run(args, topo, weights, how)
            results.append(res)
            print(f"  {how} run {r + 1}: detect {ms(res['detect_ms'])}, regain 90 % "
                  f"{ms(res['regain_ms'])}, rejoin after restore "
                  f"{ms(res['rejoin_after_restore_ms'])}, carries "
                  f"{ms(res['carries_after_rejoin_ms'])} after rejoin, broke "
                  f"{res['connection_broke']}, goodput {res['goodput_mbps']:.0f} Mbit/s",
                  flush=True)
            if not args.quiet:
                for ts, total, rr, st in res["timeline"]:
                    print(f"    t={ts:6.2f}s total {total:8.1f}  p0 {rr[0]:8.1f}  "
                          f"p1 {rr[1]:8.1f}  path1 {st}")
    summary = {**run_header(args), "raw_path0_mbps": args.raw0, "results": results}
    print("\nmedian per cut kind:")
    for how in hows:
        rs = [r for r in results if r["how"] == how]

        def med(k):
            v = [r[k] for r in rs if r[k] is not None]
            return statistics.median(v) if v else None
        summary[how] = {k: med(k) for k in ("detect_ms", "regain_ms", "rejoin_after_restore_ms",
                                            "carries_after_rejoin_ms")}
        summary[how]["any_connection_broke"] = any(r["connection_broke"] for r in rs)
        print(f"  {how}: {summary[how]}")
    return summary
