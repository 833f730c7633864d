"""Figures derived from measured series, medians over runs, and the printed tables."""
import os
import statistics
import sys
import time


def run_header(args):
    return {"command": " ".join(sys.argv),
            "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
            "machine": f"{os.cpu_count()} CPUs, kernel {os.uname().release}"}


def median_or_none(values):
    v = [x for x in values if x is not None]
    return statistics.median(v) if v else None


def event_windows(intervals, events, end_s):
    """For every applied event: the lowest goodput over 100 ms intervals and over 1 s
    (10 consecutive intervals, sliding) between it and the next event (or the end).
    intervals: [[start_s, end_s, mbps], ...] on the same clock as the events' applied_s."""
    out = []
    for k, ev in enumerate(events):
        t_ev = ev["applied_s"]
        t_next = events[k + 1]["applied_s"] if k + 1 < len(events) else end_s + 1.0
        win = [iv for iv in intervals if iv[0] >= t_ev - 0.02 and iv[1] <= t_next + 0.02]
        mins = {"event": ev["at"], "label": ev["label"], "t_s": t_ev,
                "window_s": round(min(t_next, end_s) - t_ev, 2),
                "min_100ms_mbps": min((iv[2] for iv in win), default=None),
                "min_1s_mbps": None, "mean_mbps": None}
        if len(win) >= 10:
            mins["min_1s_mbps"] = min(sum(iv[2] for iv in win[i:i + 10]) / 10
                                      for i in range(len(win) - 9))
        if win:
            mins["mean_mbps"] = sum(iv[2] for iv in win) / len(win)
        out.append(mins)
    return out


def fmt(v, spec=".1f", none="n/a"):
    return none if v is None else format(v, spec)


def event_summary_line(windows):
    """'after 5s:path1=cut: min 1 s 12.3, min 100 ms 0.0 | ...'"""
    parts = []
    for w in windows:
        parts.append(f"after {w['event']}: min 1s {fmt(w['min_1s_mbps'])}, "
                     f"min 100ms {fmt(w['min_100ms_mbps'])}")
    return " | ".join(parts)


def phase_line(label, ph, udp=False):
    s = f"  {label:34s} {ph['mbps']:8.1f} Mbit/s"
    if udp:
        s += f"  loss {fmt(ph.get('loss_pct'), '.2f')} %"
    else:
        s += f"  retr {ph['retransmits'] if ph.get('retransmits') is not None else 'n/a'}"
        if ph.get("rto") is not None:
            s += f"  rto {ph['rto']}"
    if not ph.get("ok", True):
        s += "  (iperf3 FAILED: " + " / ".join(ph.get("output_tail", [])[-2:]) + ")"
    return s


def summarize_phases(runs):
    """Medians over runs per phase name: goodput, retransmits, loss, event minima."""
    names = []
    for r in runs:
        for name in r["phases"]:
            if name not in names:
                names.append(name)
    out = {}
    for name in names:
        phs = [r["phases"][name] for r in runs if name in r["phases"]]
        s = {"label": phs[0]["label"],
             "goodput_mbps": median_or_none(p["mbps"] for p in phs),
             "goodput_runs": [p["mbps"] for p in phs],
             "retransmits": median_or_none(p.get("retransmits") for p in phs),
             "rto": median_or_none(p.get("rto") for p in phs),
             "rto_runs": [p.get("rto") for p in phs],
             "loss_pct": median_or_none(p.get("loss_pct") for p in phs)}
        if phs[0].get("event_windows"):
            s["event_windows"] = []
            for k, w in enumerate(phs[0]["event_windows"]):
                ws = [p["event_windows"][k] for p in phs if len(p.get("event_windows", [])) > k]
                s["event_windows"].append({
                    "event": w["event"], "label": w["label"],
                    "min_1s_mbps": median_or_none(x["min_1s_mbps"] for x in ws),
                    "min_100ms_mbps": median_or_none(x["min_100ms_mbps"] for x in ws)})
        if "shares" in phs[0]:
            s["shares"] = [median_or_none(p["shares"][i] for p in phs)
                           for i in range(len(phs[0]["shares"]))]
        if "subflows" in phs[0]:
            s["subflows"] = median_or_none(p["subflows"] for p in phs)
        out[name] = s
    return out


def print_phase_table(phases, udp=False):
    print(f"  {'phase':34s} {'goodput':>8s}        {'loss %' if udp else 'retr':>6s}  extra")
    for name, s in phases.items():
        extra = []
        if s.get("shares"):
            extra.append("shares " + " / ".join(f"{x * 100:.1f}" for x in s["shares"]) + " %")
        if s.get("subflows") is not None:
            extra.append(f"subflows {s['subflows']:g}")
        if not udp and s.get("rto_runs") and None not in s["rto_runs"]:
            extra.append("RTOs " + "/".join(str(x) for x in s["rto_runs"]))
        col = fmt(s["loss_pct"], ".2f") if udp else fmt(s["retransmits"], "g")
        print(f"  {s['label']:34s} {fmt(s['goodput_mbps']):>8s} Mbit/s {col:>6s}  {', '.join(extra)}")
        for w in s.get("event_windows", []):
            print(f"  {'':34s}   after {w['event']}: min 1 s {fmt(w['min_1s_mbps'])}, "
                  f"min 100 ms {fmt(w['min_100ms_mbps'])} Mbit/s")
