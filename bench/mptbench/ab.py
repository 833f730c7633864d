"""--ab OTHER_BUILD_DIR: two builds of mptd, alternated on the same namespaces in the same
minutes, with the raw path measured in every round. This machine's throughput drifts by up
to x2 within an hour, so a change is judged against the build before it measured beside it,
never against a table from another day.

Each round measures, per case (TCP 1 flow, TCP 8 flows): the raw path 0, then build A and
build B through mpt over the same paths -- in the order A, B on even rounds and B, A on odd
ones, so that a drift within a round favours neither. Reported: medians over the rounds of
Mbit/s and whole-VM CPU seconds per GB for raw, A and B; B/A; and each build's CPU per GB
over the raw path's of the same rounds."""
import os
import shutil
import statistics
import tempfile

from .report import run_header
from .traffic import iperf_measure
from . import tunnel as tunnel_mod
from .tunnel import Tunnel, connection_extra_lines


def queue_counters(t):
    """Per TUN queue: packets side a read from its TUN (what it sent) and side b wrote to its
    TUN (what it received), and b's reorder lost/late -- from `mpt status --json`."""
    a, b = t.status("a"), t.status("b")
    if not a or not b:
        return None
    reorder = b["connections"][0]["reorder"] if b.get("connections") else {}
    # (builds from before the reader/writer split of queues[] have the counters flat)
    return {"a_read_packets": [q.get("reader", q).get("tun_read_packets")
                               for q in a.get("queues", [])],
            "b_write_packets": [q.get("writer", q).get("tun_write_packets")
                                for q in b.get("queues", [])],
            "b_lost": reorder.get("lost"), "b_late": reorder.get("late")}

AB_CASES = [("tcp, 1 flow", 1), ("tcp, 8 flows", 8)]


def build_label(build):
    """A build directory and when its mptd was built (the binary's mtime)."""
    mptd = os.path.join(build, "cli", "mptd")
    return {"dir": os.path.abspath(build), "mptd_mtime": os.path.getmtime(mptd)}


def measure_round(args, topo, weights, work, r, paths):
    builds = [("A", args.build), ("B", args.ab)]
    order = builds if r % 2 == 0 else builds[::-1]
    rows = []
    for name, flows in AB_CASES:
        row = {"case": name, "round": r,
               "raw": iperf_measure(topo, "10.200.1.2", args.duration, flows, 5701, 0)}
        for label, build in order:
            if args.ab_queues:  # --ab-queues: the same build, A and B with their queue counts
                tunnel_mod.TUNNEL_QUEUES = args.ab_queues[0 if label == "A" else 1]
            with Tunnel(topo, build, paths, weights, f"{work}/{r}-{label}-{flows}",
                        offload=not args.no_offload, extra_lines=connection_extra_lines(args)) as t:
                row[label] = iperf_measure(topo, "10.201.0.2", args.duration, flows, 5702, 0)
                row[label]["queues"] = queue_counters(t)
        rows.append(row)
        print(f"  round {r + 1} {name:12s} raw {row['raw']['mbps']:8.1f} | "
              f"A {row['A']['mbps']:8.1f} Mbit/s {row['A']['cpu_s_per_gb'] or 0:5.2f} CPU-s/GB | "
              f"B {row['B']['mbps']:8.1f} Mbit/s {row['B']['cpu_s_per_gb'] or 0:5.2f} CPU-s/GB "
              f"(first: {order[0][0]})", flush=True)
        for label in ("A", "B"):
            qc = row[label].get("queues")
            if qc and len(qc["a_read_packets"]) > 1:
                print(f"      {label} per queue: sender read {qc['a_read_packets']} packets, "
                      f"receiver wrote {qc['b_write_packets']}; reorder lost {qc['b_lost']} "
                      f"late {qc['b_late']}", flush=True)
    return rows


def run(args, topo, weights):
    for b in (args.build, args.ab):
        if not os.access(os.path.join(b, "cli", "mptd"), os.X_OK):
            raise SystemExit(f"mpt-bench --ab: no mptd in {b}/cli")
    paths = list(range(args.paths))
    work = tempfile.mkdtemp(prefix="mpt-bench-ab.")
    rounds = []
    try:
        for r in range(args.runs):
            print(f"round {r + 1}/{args.runs}:", flush=True)
            rounds.extend(measure_round(args, topo, weights, work, r, paths))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    summary = {**run_header(args), "A": build_label(args.build), "B": build_label(args.ab),
               "ab_queues": args.ab_queues,
               "rounds": args.runs, "cases": [], "runs": rounds}
    med = statistics.median
    qa = f" queues {args.ab_queues[0]}" if args.ab_queues else ""
    qb = f" queues {args.ab_queues[1]}" if args.ab_queues else ""
    print(f"\nmedian of {args.runs} round(s); A = {args.build}{qa}, B = {args.ab}{qb}:")
    print(f"  {'case':12s} {'raw':>9s} {'A':>9s} {'B':>9s} {'B/A':>6s}   CPU-s/GB: "
          f"{'raw':>5s} {'A':>5s} {'B':>5s}  {'A/raw':>5s} {'B/raw':>5s}")
    for name, _ in AB_CASES:
        rs = [x for x in rounds if x["case"] == name]
        raw, a, b = (med(x[k]["mbps"] for x in rs) for k in ("raw", "A", "B"))
        craw, ca, cb = (med(x[k]["cpu_s_per_gb"] or 0 for x in rs) for k in ("raw", "A", "B"))
        print(f"  {name:12s} {raw:9.1f} {a:9.1f} {b:9.1f} {b / a if a else 0:6.3f}   "
              f"{'':9s} {craw:5.2f} {ca:5.2f} {cb:5.2f}  {ca / craw if craw else 0:5.2f} "
              f"{cb / craw if craw else 0:5.2f}")
        summary["cases"].append({"case": name, "raw_mbps": raw, "A_mbps": a, "B_mbps": b,
                                 "B_over_A": b / a if a else None, "raw_cpu_s_per_gb": craw,
                                 "A_cpu_s_per_gb": ca, "B_cpu_s_per_gb": cb,
                                 "A_cpu_over_raw": ca / craw if craw else None,
                                 "B_cpu_over_raw": cb / craw if craw else None})
    return summary
