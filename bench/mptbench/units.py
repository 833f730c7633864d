"""Parsing and formatting of rates and times on the command line."""


def parse_rate(s):
    """A rate in bit/s for --rate: '100M', '1G', '500k'; a plain number is Mbit/s; 0 = none."""
    s = s.strip().lower()
    mult = {"k": 1e3, "m": 1e6, "g": 1e9}
    if s in ("0", "none", "unshaped", "-"):
        return 0
    if s[-1] in mult:
        return int(float(s[:-1]) * mult[s[-1]])
    return int(float(s) * 1e6)  # plain number: Mbit/s


def parse_bitrate(s):
    """A rate in bit/s where a plain number is bit/s (link specs, --udp): '20M', '8M', '1.5G'."""
    t = s.strip().lower()
    for tail in ("bit/s", "bps", "bit"):
        if t.endswith(tail):
            t = t[: -len(tail)]
    mult = {"k": 1e3, "m": 1e6, "g": 1e9}
    if t in ("0", "none", "unlimited", "-"):
        return 0
    if t and t[-1] in mult:
        return int(float(t[:-1]) * mult[t[-1]])
    return int(float(t))


def parse_seconds(s):
    """A time in seconds: '10s', '500ms', '10' (seconds)."""
    t = s.strip().lower()
    if t.endswith("ms"):
        return float(t[:-2]) / 1000
    if t.endswith("s"):
        return float(t[:-1])
    return float(t)


def parse_ms(s):
    """A time in milliseconds: '5ms', '0.5ms', '200us', '1s', '5' (ms)."""
    t = s.strip().lower()
    if t.endswith("us"):
        return float(t[:-2]) / 1000
    if t.endswith("ms"):
        return float(t[:-2])
    if t.endswith("s"):
        return float(t[:-1]) * 1000
    return float(t)


def fmt_rate(bps):
    if not bps:
        return "unshaped"
    if bps >= 1e9 and bps % 1e8 == 0:
        return f"{bps / 1e9:g}G"
    if bps >= 1e6:
        return f"{bps / 1e6:g}M"
    return f"{bps / 1e3:g}k"
