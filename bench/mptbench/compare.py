"""--compare: the same traffic over the raw path 0 and through mpt (all paths), side by
side, with whole-VM CPU seconds per GB: TCP 1 and 8 flows, UDP 64/512/1400 B."""
import shutil
import statistics
import tempfile

from .report import run_header
from .traffic import iperf_measure
from .tunnel import Tunnel, connection_extra_lines


COMPARE_CASES = [("tcp, 1 flow", 1, 0), ("tcp, 8 flows", 8, 0), ("udp 64 B", 1, 64),
                 ("udp 512 B", 1, 512), ("udp 1400 B", 1, 1400)]


def compare_run(args, topo, weights):
    """The same traffic over the raw path 0 and through mpt (all paths), side by side."""
    rows = []
    work = tempfile.mkdtemp(prefix="mpt-bench.")
    try:
        for name, flows, udp_len in COMPARE_CASES:
            raw = iperf_measure(topo, "10.200.1.2", args.duration, flows, 5601, udp_len)
            with Tunnel(topo, args.build, list(range(args.paths)), weights, f"{work}/{len(rows)}",
                        offload=not args.no_offload, extra_lines=connection_extra_lines(args)):
                tun = iperf_measure(topo, "10.201.0.2", args.duration, flows, 5602, udp_len)
            rows.append({"case": name, "raw": raw, "mpt": tun})
            fmt = (lambda r: f"{r['pps'] / 1e3:8.1f} kpps") if udp_len else \
                  (lambda r: f"{r['mbps']:8.1f} Mbit/s")
            print(f"  {name:12s} raw {fmt(raw)} {raw['cpu_s_per_gb'] or 0:6.2f} CPU-s/GB | "
                  f"mpt {fmt(tun)} {tun['cpu_s_per_gb'] or 0:6.2f} CPU-s/GB", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return rows


def run(args, topo, weights):
    all_rows = []
    for r in range(args.runs):
        print(f"run {r + 1}/{args.runs}:", flush=True)
        all_rows.append(compare_run(args, topo, weights))
    summary = {**run_header(args), "cases": []}
    print(f"\nmedian of {len(all_rows)} run(s):")
    print(f"  {'case':12s} {'raw':>16s} {'CPU-s/GB':>9s} {'mpt':>16s} {'CPU-s/GB':>9s} "
          f"{'mpt/raw':>8s} {'CPU x':>6s}")
    for i, (name, _, udp_len) in enumerate(COMPARE_CASES):
        key = "pps" if udp_len else "mbps"
        raw = statistics.median(rr[i]["raw"][key] for rr in all_rows)
        tun = statistics.median(rr[i]["mpt"][key] for rr in all_rows)
        rc = statistics.median(rr[i]["raw"]["cpu_s_per_gb"] or 0 for rr in all_rows)
        tc = statistics.median(rr[i]["mpt"]["cpu_s_per_gb"] or 0 for rr in all_rows)
        unit = "kpps" if udp_len else "Mbit/s"
        scale = 1e3 if udp_len else 1
        print(f"  {name:12s} {raw / scale:9.1f} {unit:6s} {rc:9.2f} {tun / scale:9.1f} {unit:6s} "
              f"{tc:9.2f} {tun / raw if raw else 0:8.3f} {tc / rc if rc else 0:6.2f}")
        summary["cases"].append({"case": name, "unit": "pps" if udp_len else "Mbit/s",
                                 "raw": raw, "mpt": tun, "ratio": tun / raw if raw else None,
                                 "raw_cpu_s_per_gb": rc, "mpt_cpu_s_per_gb": tc,
                                 "cpu_ratio": tc / rc if rc else None})
    summary["runs"] = all_rows
    return summary
