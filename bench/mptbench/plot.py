"""Hand-written SVG line charts (no plotting library): goodput over time per phase, with
event markers. One file per scenario run."""
import html
import math

COLORS = ["#1f77b4", "#2ca02c", "#9467bd", "#8c564b", "#17becf", "#bcbd22", "#7f7f7f", "#e377c2"]


def _nice_step(span, ticks=6):
    raw = span / ticks if span > 0 else 1
    mag = 10 ** math.floor(math.log10(raw))
    for m in (1, 2, 2.5, 5, 10):
        if raw <= m * mag:
            return m * mag
    return 10 * mag


def step_points(intervals):
    """[[start, end, v], ...] -> [(x, y), ...] drawn as steps."""
    pts = []
    for s, e, v in intervals:
        pts += [(s, v), (e, v)]
    return pts


def write_svg(path, title, series, events=(), x_max=None):
    """series: [{"name", "points": [(t, mbps)...], "color", "width", "dash"}];
    events: [{"t_s", "label"}]."""
    W, H = 1040, 440
    L, R, T, B = 64, 290, 40, 48
    pw, ph = W - L - R, H - T - B
    all_pts = [p for s in series for p in s["points"]]
    xm = x_max or max((x for x, _ in all_pts), default=1.0)
    ym = max((y for _, y in all_pts), default=1.0) * 1.08 or 1.0
    ystep = _nice_step(ym)
    ym = math.ceil(ym / ystep) * ystep
    xstep = _nice_step(xm, 10)

    def X(x):
        return L + pw * min(max(x, 0.0), xm) / xm

    def Y(y):
        return T + ph * (1 - min(max(y, 0.0), ym) / ym)

    o = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" '
         f'font-family="sans-serif" font-size="12">',
         f'<rect width="{W}" height="{H}" fill="white"/>',
         f'<text x="{L}" y="22" font-size="14" font-weight="bold">{html.escape(title)}</text>']
    y = 0.0
    while y <= ym + 1e-9:
        o.append(f'<line x1="{L}" y1="{Y(y):.1f}" x2="{L + pw}" y2="{Y(y):.1f}" stroke="#ddd"/>')
        o.append(f'<text x="{L - 6}" y="{Y(y) + 4:.1f}" text-anchor="end">{y:g}</text>')
        y += ystep
    x = 0.0
    while x <= xm + 1e-9:
        o.append(f'<line x1="{X(x):.1f}" y1="{T + ph}" x2="{X(x):.1f}" y2="{T + ph + 4}" stroke="#333"/>')
        o.append(f'<text x="{X(x):.1f}" y="{T + ph + 18}" text-anchor="middle">{x:g}</text>')
        x += xstep
    o.append(f'<rect x="{L}" y="{T}" width="{pw}" height="{ph}" fill="none" stroke="#333"/>')
    o.append(f'<text x="{L + pw / 2}" y="{H - 8}" text-anchor="middle">time since the '
             f'phase started (s)</text>')
    o.append(f'<text x="16" y="{T + ph / 2}" transform="rotate(-90 16 {T + ph / 2})" '
             f'text-anchor="middle">goodput (Mbit/s)</text>')
    for ev in events:
        ex = X(ev["t_s"])
        o.append(f'<line x1="{ex:.1f}" y1="{T}" x2="{ex:.1f}" y2="{T + ph}" stroke="#d62728" '
                 f'stroke-dasharray="4 3"/>')
        o.append(f'<text x="{ex + 3:.1f}" y="{T + 12}" fill="#d62728" font-size="11">'
                 f'{html.escape(ev["label"])}</text>')
    for s in series:
        if not s["points"]:
            continue
        pts = " ".join(f"{X(px):.1f},{Y(py):.1f}" for px, py in s["points"])
        dash = f' stroke-dasharray="{s["dash"]}"' if s.get("dash") else ""
        o.append(f'<polyline fill="none" stroke="{s["color"]}" stroke-width="{s.get("width", 1.5)}"'
                 f'{dash} points="{pts}"/>')
    for k, s in enumerate(series):
        ly = T + 10 + 18 * k
        dash = f' stroke-dasharray="{s["dash"]}"' if s.get("dash") else ""
        o.append(f'<line x1="{L + pw + 12}" y1="{ly}" x2="{L + pw + 36}" y2="{ly}" '
                 f'stroke="{s["color"]}" stroke-width="{s.get("width", 1.5)}"{dash}/>')
        o.append(f'<text x="{L + pw + 42}" y="{ly + 4}">{html.escape(s["name"])}</text>')
    o.append("</svg>")
    with open(path, "w") as f:
        f.write("\n".join(o) + "\n")


def write_run_svg(path, title, run, duration):
    """One aggregation run: raw paths, MPTCP, mpt total and mpt per path."""
    series = []
    phases = run["phases"]
    k = 0
    for name, ph in phases.items():
        if name.startswith("raw"):
            series.append({"name": ph["label"], "points": step_points(ph["intervals"]),
                           "color": COLORS[k % len(COLORS)], "width": 1.2, "dash": "2 2"})
            k += 1
    if "mptcp" in phases:
        series.append({"name": "MPTCP", "points": step_points(phases["mptcp"]["intervals"]),
                       "color": "#ff7f0e", "width": 2})
    if "baseline" in phases:
        series.append({"name": phases["baseline"]["label"],
                       "points": step_points(phases["baseline"]["intervals"]),
                       "color": "#aaaaaa", "width": 1.2})
    if "mpt" in phases:
        series.append({"name": "mpt total", "points": step_points(phases["mpt"]["intervals"]),
                       "color": "#000000", "width": 2.2})
        for i, per in enumerate(phases["mpt"].get("path_series", [])):
            series.append({"name": f"mpt path{i}", "points": step_points(per),
                           "color": COLORS[i % len(COLORS)], "width": 1.2, "dash": "6 3"})
    events = []
    for ph in phases.values():
        if ph.get("events"):
            events = [{"t_s": e["applied_s"], "label": e["label"]} for e in ph["events"]]
            break
    write_svg(path, title, series, events, x_max=duration + 0.5)
