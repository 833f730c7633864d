"""--faults flood|flap|restart|soak: mpt under faults and attack, over 2 paths (direct veths,
shaped with --rate; default 200M each). One TCP flow (iperf3, cubic) through the tunnel a -> b.

  flood    per run: the flow for --duration s without a flood, then with a garbage flood at B's
           path_0 socket from a stranger's address, then spoofed from the peer's own address
           and port (mpt-testtool flood-garbage: one raw socket, as fast as it sends, from ns a;
           TOS-marked and let past path 0's rate limit by an htb class of its own, so that it
           costs CPU, not link capacity). Goodput of each against the no-flood phase of the same
           run; what B's mptd and the kernel counted as dropped against what was sent.
  flap     path 1's link goes down for --flap-s/2 s and up for --flap-s/2 s (default 2: a
           change every second) for --duration s (default 60)
           while the flow runs: did the flow survive (no reset), goodput, retransmits, how often
           path 1 was declared down and rejoined.
  restart  the flow runs --duration s; B's mptd is killed (SIGKILL) at 1/3 and started again
           1 s later: did the flow survive, how long until goodput was back to half of what
           it was before the kill (100 ms buckets of B's TUN counter), peer restarts seen by A.
  soak     --duration s (default 1800) of flows (new iperf3 connection every 60 s) with path 1
           flapping (down 1 s every --flap-s s, default 10): both daemons' RSS and every pool's
           free count sampled every 10 s; reported at the start (idle, after set-up), their
           extremes, and at the end (idle again, 5 s after the traffic stopped). RSS grows
           once as the pools' pages are first touched (they are allocated at start, committed
           on use): the leak check is the end against the warm level (at 120 s).
"""
import json
import os
import shutil
import signal
import statistics
import subprocess
import tempfile
import threading
import time

from .proc import sh
from .report import run_header
from .traffic import iperf_measure
from .tunnel import Tunnel, connection_extra_lines

CONTROL = {"interval_ms": 20, "misses": 3, "hold_down_ms": 300}


def _tunnel(args, topo, work):
    return Tunnel(topo, args.build, [0, 1], [1, 1], work, offload=not args.no_offload,
                  control=CONTROL, extra_lines=connection_extra_lines(args))


def _start_iperf(topo, port, duration):
    srv = subprocess.Popen(["ip", "netns", "exec", topo.b, "iperf3", "-s", "-1", "-p", str(port),
                            "-B", "10.201.0.2"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(0.3)
    cli = subprocess.Popen(f"ip netns exec {topo.a} iperf3 -c 10.201.0.2 -p {port} -t {duration} "
                           f"-C cubic -J", shell=True, text=True, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE)
    return srv, cli


def _finish_iperf(srv, cli, timeout):
    try:
        out, err = cli.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        cli.kill()
        out, err = cli.communicate()
    try:
        srv.wait(timeout=5)
    except subprocess.TimeoutExpired:
        srv.kill()
        srv.wait()
    r = {"ok": cli.returncode == 0, "mbps": 0.0, "retransmits": None, "error": None}
    try:
        j = json.loads(out)
        r["error"] = j.get("error")
        end = j["end"]
        r["mbps"] = end["sum_received"]["bits_per_second"] / 1e6
        r["retransmits"] = end["sum_sent"].get("retransmits", 0)
    except (ValueError, KeyError):
        r["ok"] = False
        r["error"] = r["error"] or (err.strip()[-200:] if err else "no output")
    if r["error"]:
        r["ok"] = False
    return r


def _flood_filter(topo):
    """Path 0 in ns a: tunnel traffic keeps the configured rate, the TOS-marked flood a class
    of its own (htb), so that the flood costs the tunnel CPU, not link capacity."""
    rate = topo.rates[0] or 10_000_000_000
    sh(f"tc -n {topo.a} qdisc del dev veth0 root", check=False)
    sh(f"tc -n {topo.a} qdisc add dev veth0 root handle 1: htb default 10")
    sh(f"tc -n {topo.a} class add dev veth0 parent 1: classid 1:10 htb rate {rate}bit burst 262144")
    sh(f"tc -n {topo.a} class add dev veth0 parent 1: classid 1:20 htb rate 20gbit")
    sh(f"tc -n {topo.a} filter add dev veth0 parent 1: protocol ip u32 match ip tos 0x04 0xff "
       f"flowid 1:20")


def _udp_rcvbuf_errors(ns):
    out = sh(f"ip netns exec {ns} cat /proc/net/snmp", capture=True)
    rows = [line.split() for line in out.splitlines() if line.startswith("Udp:")]
    return int(rows[1][rows[0].index("RcvbufErrors")])


FLOOD_DROP_KEYS = ("rx_drop_invalid_gre", "rx_drop_key_mismatch", "rx_drop_unknown_peer",
                   "rx_control_dropped", "rx_control_limited", "rx_control", "rx_drop_truncated")


def _b_counted(t):
    st = t.status("b")
    return sum(st["paths"][0].get(k, 0) for k in FLOOD_DROP_KEYS) if st else 0


def run_flood(args, topo):
    _flood_filter(topo)
    tool = os.path.join(args.build, "tests/mpt-testtool")
    runs = []
    for r in range(args.runs):
        work = tempfile.mkdtemp(prefix="mpt-bench.")
        res = {}
        try:
            with _tunnel(args, topo, work) as t:
                time.sleep(1.5)
                port = 5900 + 10 * r
                res["none"] = iperf_measure(topo, "10.201.0.2", args.duration, 1, port)
                for k, (who, src, sport) in enumerate((("stranger", "10.200.1.9", 40000),
                                                       ("peer", "10.200.1.1", 4754))):
                    k0, m0 = _udp_rcvbuf_errors(topo.b), _b_counted(t)
                    fl = subprocess.Popen(["ip", "netns", "exec", topo.a, tool, "flood-garbage", src,
                                           str(sport), "10.200.1.2", "4754",
                                           str(args.duration + 2)],
                                          text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
                    try:
                        time.sleep(0.5)
                        m = iperf_measure(topo, "10.201.0.2", args.duration, 1, port + 1 + k)
                        out, _ = fl.communicate(timeout=30)
                    finally:
                        if fl.poll() is None:
                            fl.kill()
                            fl.wait()
                    time.sleep(0.5)
                    sent = int(out.split()[1]) if out.startswith("sent") else 0
                    m["flood_sent"] = sent
                    m["flood_pps"] = float(out.split("(")[1].split()[0]) if "(" in out else 0
                    m["counted_by_mptd"] = _b_counted(t) - m0
                    m["dropped_by_kernel"] = _udp_rcvbuf_errors(topo.b) - k0
                    m["ratio"] = m["mbps"] / res["none"]["mbps"] if res["none"]["mbps"] else None
                    m["alive"] = all(p.poll() is None for p in t.procs)
                    st = t.status("a")
                    m["paths_up"] = [h["state"] for h in st["health"]] if st else None
                    res[who] = m
        finally:
            shutil.rmtree(work, ignore_errors=True)
        runs.append(res)
        print(f"  run {r + 1}: no flood {res['none']['mbps']:.1f} Mbit/s; " + "; ".join(
            f"{w}: {res[w]['mbps']:.1f} Mbit/s ({100 * (res[w]['ratio'] or 0):.1f} %), "
            f"{res[w]['flood_sent']} sent at {res[w]['flood_pps']:.0f}/s, mptd counted "
            f"{res[w]['counted_by_mptd']}, kernel {res[w]['dropped_by_kernel']}, "
            f"retransmits {res[w]['retransmits']}, alive {res[w]['alive']}, paths {res[w]['paths_up']}"
            for w in ("stranger", "peer")), flush=True)
    summary = {"scenario": "flood", "runs": runs}
    for w in ("none", "stranger", "peer"):
        summary[f"median_{w}_mbps"] = statistics.median(x[w]["mbps"] for x in runs)
    for w in ("stranger", "peer"):
        summary[f"median_{w}_ratio"] = statistics.median(x[w]["ratio"] or 0 for x in runs)
    print(f"median: no flood {summary['median_none_mbps']:.1f}, stranger "
          f"{summary['median_stranger_mbps']:.1f} ({100 * summary['median_stranger_ratio']:.1f} %), "
          f"spoofed peer {summary['median_peer_mbps']:.1f} ({100 * summary['median_peer_ratio']:.1f} %)")
    return summary


def _set_link(topo, i, up):
    sh(f"ip -n {topo.a} link set veth{i} {'up' if up else 'down'}")


def run_flap(args, topo):
    duration = args.duration
    work = tempfile.mkdtemp(prefix="mpt-bench.")
    downs = 0
    states = []
    try:
        with _tunnel(args, topo, work) as t:
            time.sleep(1.5)
            srv, cli = _start_iperf(topo, 5950, duration)
            t0 = time.monotonic()
            k = 0
            while cli.poll() is None and time.monotonic() - t0 < duration:
                _set_link(topo, 1, up=(k % 2 == 1))
                k += 1
                time.sleep(args.flap_s / 4)  # a toggle every half period
                st = t.status("a")
                if st:
                    states.append(st["health"][1]["state"])
                    if k % 2 == 1 and states[-1] != "up":
                        downs += 1
                time.sleep(args.flap_s / 4)
            _set_link(topo, 1, True)
            res = _finish_iperf(srv, cli, duration + 30)
            time.sleep(2)
            st = t.status("a")
            res["path1_final"] = st["health"][1]["state"] if st else None
            res["down_phases"] = (k + 1) // 2
            res["seen_down"] = downs
            res["alive"] = all(p.poll() is None for p in t.procs)
    finally:
        _set_link(topo, 1, True)
        shutil.rmtree(work, ignore_errors=True)
    print(f"  {duration} s with path 1 flapping every {args.flap_s} s: flow survived {res['ok']} "
          f"({res['error'] or 'no error'}), goodput {res['mbps']:.1f} Mbit/s, retransmits "
          f"{res['retransmits']}, path 1 seen down in {res['seen_down']} of {res['down_phases']} "
          f"down phases, finally {res['path1_final']}, daemons alive {res['alive']}", flush=True)
    return {"scenario": "flap", "flap_s": args.flap_s, "duration_s": duration, **res}


def run_restart(args, topo):
    duration = args.duration
    work = tempfile.mkdtemp(prefix="mpt-bench.")
    timeline = []
    try:
        with _tunnel(args, topo, work) as t:
            time.sleep(1.5)
            srv, cli = _start_iperf(topo, 5960, duration)
            t0 = time.monotonic()
            kill_at, restart_at = duration / 3, duration / 3 + 1
            killed = restarted = False
            last, t_last = None, None
            while cli.poll() is None:
                now = time.monotonic() - t0
                if not killed and now >= kill_at:
                    t.procs[1].send_signal(signal.SIGKILL)
                    t.procs[1].wait()
                    os.unlink(t.sock("b")) if os.path.exists(t.sock("b")) else None
                    killed = now
                if killed and not restarted and now >= restart_at:
                    t.restart("b")
                    restarted = time.monotonic() - t0
                st = t.status("b") if (not killed or restarted) else None
                if st:
                    v, tv = st["rx"]["tun_write_bytes"], time.monotonic()
                    if last is not None and v >= last[0] and tv - t_last >= 0.1:
                        timeline.append((round(tv - t0, 2), (v - last[0]) * 8 / (tv - t_last) / 1e6))
                        last, t_last = (v,), tv
                    elif last is None or v < last[0]:
                        last, t_last = (v,), tv
                time.sleep(0.02)
            res = _finish_iperf(srv, cli, 30)
            st = t.status("a")
            ctl = st.get("control", [{}])[0] if st else {}
            res["peer_restarts_seen_by_a"] = ctl.get("peer_restarts")
            res["established_again"] = ctl.get("established")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    before = [m for ts, m in timeline if ts < kill_at]
    ref = statistics.median(before) if before else 0
    resumed = next((ts for ts, m in timeline if ts > restarted and m >= ref / 2), None)
    res.update({"kill_s": kill_at, "restart_s": restarted, "mbps_before_kill": ref,
                "back_to_half_s_after_restart": None if resumed is None else resumed - restarted,
                "timeline": timeline})
    print(f"  B killed at {kill_at:.1f} s, started again at {restarted:.1f} s: flow survived "
          f"{res['ok']} ({res['error'] or 'no error'}), goodput {res['mbps']:.1f} Mbit/s over the "
          f"run, back to half of {ref:.0f} Mbit/s "
          f"{'never' if resumed is None else f'{resumed - restarted:.2f} s'} after the restart, "
          f"peer restarts seen by A {res['peer_restarts_seen_by_a']}, established "
          f"{res['established_again']}", flush=True)
    return {"scenario": "restart", **res}


def _rss_kb(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def _pools(st):
    """Every pool's free count from one side's status: name -> (free, total)."""
    if not st:
        return {}
    tx, rx = st["tx"], st["rx"]
    p = {"read": (tx["read_pool_free"], tx["read_pool_buffers"]),
         "send": (tx["send_pool_free"], tx["send_pool_buffers"]),
         "output": (rx["output_pool_free"], rx["output_pool_buffers"]),
         "hold": (rx["hold_pool_free"], rx["hold_pool_buffers"])}
    for path in st["paths"]:
        p["rx " + path["name"]] = (path["rx_pool_free"], path["rx_pool_buffers"])
    return p


def _snapshot(t):
    snap = {}
    for i, side in enumerate(("a", "b")):
        snap[side] = {"rss_kb": _rss_kb(t.procs[i].pid), "pools": _pools(t.status(side))}
    return snap


def run_soak(args, topo):
    duration = args.duration
    work = tempfile.mkdtemp(prefix="mpt-bench.")
    samples = []
    flows = []
    stop = threading.Event()
    try:
        with _tunnel(args, topo, work) as t:
            time.sleep(2)
            start = _snapshot(t)
            t0 = time.monotonic()

            def traffic():
                port = 6000
                while not stop.is_set():
                    left = duration - (time.monotonic() - t0)
                    if left < 5:
                        break
                    srv, cli = _start_iperf(topo, port, int(min(60, left - 2)))
                    flows.append(_finish_iperf(srv, cli, 120))
                    port += 1

            th = threading.Thread(target=traffic, daemon=True)
            th.start()
            next_flap, next_sample = t0 + args.flap_s, t0
            while time.monotonic() - t0 < duration:
                now = time.monotonic()
                if now >= next_flap:
                    _set_link(topo, 1, False)
                    time.sleep(1)
                    _set_link(topo, 1, True)
                    next_flap += args.flap_s
                if now >= next_sample:
                    s = _snapshot(t)
                    s["t"] = round(now - t0, 1)
                    samples.append(s)
                    next_sample += 10
                    if not args.quiet and len(samples) % 6 == 1:
                        print(f"    t={s['t']:7.1f}s  rss a {s['a']['rss_kb']} kB, b "
                              f"{s['b']['rss_kb']} kB; flows so far {len(flows)}, broken "
                              f"{sum(not f['ok'] for f in flows)}", flush=True)
                time.sleep(0.2)
            stop.set()
            th.join(timeout=150)
            time.sleep(5)
            end = _snapshot(t)
            alive = all(p.poll() is None for p in t.procs)
    finally:
        _set_link(topo, 1, True)
        shutil.rmtree(work, ignore_errors=True)
    res = {"scenario": "soak", "duration_s": duration, "flap_s": args.flap_s, "start": start,
           "end": end, "alive": alive, "flows": len(flows),
           "flows_broken": sum(not f["ok"] for f in flows),
           "median_flow_mbps": statistics.median(f["mbps"] for f in flows) if flows else 0,
           "samples": samples}
    print(f"  soak {duration} s, path 1 down 1 s every {args.flap_s} s: {len(flows)} flows, "
          f"{res['flows_broken']} broken, median {res['median_flow_mbps']:.1f} Mbit/s; daemons alive {alive}")
    for side in ("a", "b"):
        rss = [s[side]["rss_kb"] for s in samples if s[side]["rss_kb"]]
        warm = next((s[side]["rss_kb"] for s in samples if s["t"] >= min(120, duration / 4)), None)
        print(f"  {side}: RSS start {start[side]['rss_kb']} kB (idle), warm {warm} kB (at "
              f"{min(120, duration / 4):.0f} s: the pools' pages touched), max "
              f"{max(rss) if rss else None} kB, end {end[side]['rss_kb']} kB")
        for name, (free0, total0) in start[side]["pools"].items():
            lows = [s[side]["pools"].get(name, (None, None))[0] for s in samples]
            lows = [x for x in lows if x is not None]
            free1, total1 = end[side]["pools"].get(name, (None, None))
            print(f"     pool {name:<14} free start {free0}/{total0}, lowest sampled "
                  f"{min(lows) if lows else None}, end {free1}/{total1}")
    return res


def run(args, topo):
    if args.paths != 2:
        raise SystemExit("--faults needs --paths 2")
    fn = {"flood": run_flood, "flap": run_flap, "restart": run_restart, "soak": run_soak}[args.faults]
    summary = fn(args, topo)
    return {**run_header(args), **summary}
