"""Traffic: iperf3 runs (whole-run JSON for --compare/--failover; live 100 ms intervals for
the aggregation phases), kernel MPTCP set-up and checks, and periodic samplers.

Aggregation phases run the iperf3 *server in ns a* and the client in ns b with -R, so data
still flows a -> b but the client reports what it *receives* every 100 ms, live
(--forceflush): the phase's clock starts when the data connection is reported connected,
events are played from there, and interval times are measured from the same moment.
"""
import json
import re
import shutil
import subprocess
import threading
import time

from .proc import TimedThread, cpu_busy_seconds, sh, stop_process


def iperf_measure(topo, server_ip, duration, flows, port, udp_len=0):
    """One iperf3 run from ns a to server_ip in ns b.

    Returns a dict: mbps (received goodput), retransmits, bytes, cpu_s (whole VM, both ends,
    during the run), cpu_s_per_gb, and for UDP pps (received datagrams per second) and loss.
    """
    srv = subprocess.Popen(["ip", "netns", "exec", topo.b, "iperf3", "-s", "-1", "-p", str(port),
                            "-B", server_ip], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(0.3)
    udp = f"-u -b 0 -l {udp_len}" if udp_len else "-C cubic"
    try:
        c0 = cpu_busy_seconds()
        out = sh(f"ip netns exec {topo.a} iperf3 -c {server_ip} -p {port} -t {duration} "
                 f"-P {flows} {udp} -J", capture=True, timeout=duration + 30)
        cpu = cpu_busy_seconds() - c0
    finally:
        try:
            srv.wait(timeout=5)
        except subprocess.TimeoutExpired:
            srv.kill()
            srv.wait()
    end = json.loads(out)["end"]
    r = {"cpu_s": cpu}
    if udp_len:
        s = end["sum"]
        got = s["packets"] - s["lost_packets"]
        r["pps"] = got / s["seconds"]
        r["loss"] = s["lost_percent"]
        r["bytes"] = got * udp_len
        r["mbps"] = r["bytes"] * 8 / s["seconds"] / 1e6
        r["retransmits"] = 0
    else:
        r["mbps"] = end["sum_received"]["bits_per_second"] / 1e6
        r["bytes"] = end["sum_received"]["bytes"]
        r["retransmits"] = end.get("sum_sent", {}).get("retransmits", 0)
    r["cpu_s_per_gb"] = cpu / (r["bytes"] / 1e9) if r["bytes"] else None
    return r


def iperf(topo, server_ip, duration, flows, port):
    """One iperf3 TCP run from ns a to server_ip in ns b; returns received Mbit/s and retransmits."""
    r = iperf_measure(topo, server_ip, duration, flows, port)
    return r["mbps"], r["retransmits"]


# "[  5]   0.10-0.20   sec   583 KBytes  47717 Kbits/sec   <rest>"  (iperf3 -f k)
_LINE = re.compile(r"^\[\s*(\d+|SUM)\]\s+([\d.]+)-([\d.]+)\s+sec\s+[\d.]+\s+\w*Bytes\s+"
                   r"([\d.]+)\s+(\w*)bits/sec(.*)$")
_UNIT = {"": 1e-3, "K": 1.0, "M": 1e3, "G": 1e6}  # -> Kbit/s


def run_stream(topo, server_ip, port, duration, flows=1, udp_bps=None, mptcp=False,
               on_start=None, timeout_extra=40):
    """One measured stream a -> b (server in ns a, client in ns b with -R).

    on_start(t0) is called when the data connection(s) are up (t0: time.monotonic()).
    Returns mbps (received), retransmits (TCP, sender side), loss_pct (UDP), intervals
    [[start_s, end_s, mbps], ...] relative to t0, ok (iperf3 exit status 0).
    """
    wrap = ["mptcpize", "run"] if mptcp else []
    # An MPTCP server listens on every address: MP_JOIN SYNs come to the other paths'
    # addresses, and a listener bound to server_ip would answer them with a reset.
    bind = [] if mptcp else ["-B", server_ip]
    srv = subprocess.Popen(["ip", "netns", "exec", topo.a, *wrap, "iperf3", "-s", "-1", "-p",
                            str(port), *bind],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_listening(topo.a, port)
    traffic = (["-u", "-b", str(udp_bps), "-l", "1200"] if udp_bps else ["-C", "cubic"])
    cmd = ["ip", "netns", "exec", topo.b, *wrap, "iperf3", "-c", server_ip, "-p", str(port),
           "-R", "-t", str(duration), "-i", "0.1", "--forceflush", "-f", "k", "-P", str(flows),
           *traffic]
    cli = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                           bufsize=1)
    killer = threading.Timer(duration + timeout_extra, cli.kill)
    killer.start()
    t_conn = None
    t_first = None
    raw_intervals = []
    summary = {}
    lines = []
    connected = 0
    try:
        for line in cli.stdout:
            now = time.monotonic()
            lines.append(line.rstrip())
            if "connected to" in line:
                connected += 1
                if connected == flows and t_conn is None:
                    t_conn = now
                    if on_start:
                        on_start(t_conn)
                continue
            m = _LINE.match(line.strip())
            if not m:
                continue
            sid, start, end, rate, unit, rest = m.groups()
            if (flows > 1) != (sid == "SUM"):
                continue
            kbps = float(rate) * _UNIT.get(unit, 1.0)
            rest = rest.strip()
            if rest.endswith("sender") or rest.endswith("receiver"):
                summary[rest.split()[-1]] = (kbps, rest)
                continue
            if t_first is None:
                t_first = now - (float(end) - float(start))
            raw_intervals.append((float(start), float(end), kbps / 1e3))
        cli.wait()
    finally:
        killer.cancel()
        stop_process(cli, timeout=5)
        stop_process(srv, timeout=5)
    if t_conn is None:
        t_conn = t_first or time.monotonic()
        if on_start:
            on_start(t_conn)
    offset = (t_first - t_conn) if t_first is not None else 0.0
    r = {"ok": cli.returncode == 0 and "receiver" in summary,
         "intervals": [[round(s + offset, 3), round(e + offset, 3), round(v, 3)]
                       for s, e, v in raw_intervals],
         "start_offset_s": round(offset, 4)}
    r["mbps"] = summary["receiver"][0] / 1e3 if "receiver" in summary else 0.0
    r["retransmits"] = None
    if not udp_bps and "sender" in summary:
        nums = re.findall(r"\d+", summary["sender"][1])
        r["retransmits"] = int(nums[0]) if nums else 0
    if udp_bps and "receiver" in summary:
        m = re.search(r"(\d+)/(\d+)\s+\(([\d.e+-]+)%\)", summary["receiver"][1])
        if m:
            r["lost_datagrams"], r["datagrams"] = int(m.group(1)), int(m.group(2))
            r["loss_pct"] = 100.0 * r["lost_datagrams"] / r["datagrams"] if r["datagrams"] else None
    if not r["ok"]:
        r["output_tail"] = lines[-8:]
    return r


def wait_listening(ns, port, timeout_s=5.0):
    """Waits until something listens on TCP `port` in namespace `ns`."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        out = sh(f"ip netns exec {ns} ss -ltnH sport = :{port}", capture=True, check=False)
        if out.strip():
            return True
        time.sleep(0.05)
    return False


class Sampler(TimedThread):
    """Calls fn() every `period` s from t0 in a thread; keeps (t - t0, value) pairs."""

    def __init__(self, fn, period=0.1, on_sample=None):
        super().__init__()
        self.fn, self.period, self.on_sample = fn, period, on_sample
        self.samples = []

    def _run(self):
        k = 0
        while True:
            v = self.fn()
            t = time.monotonic() - self.t0
            if v is not None:
                self.samples.append((t, v))
                if self.on_sample:
                    self.on_sample(self.samples)
            k += 1
            if self.stop_ev.wait(max(0.0, self.t0 + k * self.period - time.monotonic())):
                return

    def stop(self):
        self.join()
        return self.samples


def rates_from_counters(samples):
    """[(t, [counter...]), ...] -> [[t_start, t_end, [Mbit/s...]], ...] between samples."""
    out = []
    for (t0, c0), (t1, c1) in zip(samples, samples[1:]):
        dt = t1 - t0
        if dt > 0:
            out.append([round(t0, 3), round(t1, 3), [round((y - x) * 8 / dt / 1e6, 3)
                                                     for x, y in zip(c0, c1)]])
    return out


# --- kernel MPTCP ------------------------------------------------------------------------

def mptcp_missing():
    """Why kernel MPTCP cannot be measured here, or None."""
    if not shutil.which("mptcpize"):
        return "mptcpize is not installed (apt-get install mptcpd)"
    try:
        with open("/proc/sys/net/mptcp/enabled") as f:
            if f.read().strip() != "1":
                return "net.mptcp.enabled is 0"
    except OSError:
        return "the kernel has no MPTCP"
    return None


def mptcp_setup(topo):
    """Limits on both sides; the server (ns a) announces its address of every other path."""
    n = min(topo.n, 8)
    for ns in (topo.a, topo.b):
        sh(f"ip netns exec {ns} sysctl -qw net.mptcp.enabled=1", check=False)
        sh(f"ip -n {ns} mptcp limits set subflows {n} add_addr_accepted {n}")
        sh(f"ip -n {ns} mptcp endpoint flush", check=False)
    for i in range(1, topo.n):
        sh(f"ip -n {topo.a} mptcp endpoint add 10.200.{i + 1}.1 dev veth{i} signal")


def mptcp_teardown(topo):
    for ns in (topo.a, topo.b):
        sh(f"ip -n {ns} mptcp endpoint flush", check=False)


def mptcp_counters(ns):
    """MPTcpExt* counters of a namespace (absolute)."""
    out = sh(f"ip netns exec {ns} nstat -asz", capture=True, check=False)
    c = {}
    for line in out.splitlines():
        f = line.split()
        if len(f) >= 2 and f[0].startswith("MPTcpExt"):
            c[f[0][len("MPTcpExt"):]] = int(f[1])
    return c


def mptcp_subflow_counts(ns):
    """Established MPTCP subflows (TCP sockets with the mptcp ULP) per local address."""
    out = sh(f"ip netns exec {ns} ss -tniH state established", capture=True, check=False)
    counts = {}
    prev = None
    for line in out.splitlines():
        if not line.startswith((" ", "\t")):
            prev = line.split()
            continue
        if "tcp-ulp-mptcp" in line and prev and len(prev) >= 3:
            local = prev[2].rsplit(":", 1)[0]
            counts[local] = counts.get(local, 0) + 1
    return counts
