"""A pair of mptd (one in ns a: mpt0 10.201.0.1, one in ns b: mpt0 10.201.0.2) over some
of the topology's paths, with generated MPT-layout configurations, and `mpt status --json`."""
import json
import os
import socket
import subprocess
import time

from .proc import sh

# The tunnel device's MTU in the generated configurations (mpt-bench --mtu); None: no `mtu`
# line, mptd's automatic MTU.
TUNNEL_MTU = None
# TUN queues in the generated configurations (mpt-bench --queues): `queues = N` in both ends'
# interface.conf when N > 1 (1 is mptd's default and is left out, so that a build without the
# key still loads the files).
TUNNEL_QUEUES = 1
# mpt-bench --keyed (and --ab-queues): every generated connection has an auth_key (data
# sealed), also with one queue -- so that one and several queues are compared alike.
TUNNEL_KEYED = False
# mpt-bench --pin-cpus: every mptd binds each data-plane thread to one CPU.
PIN_CPUS = False


def connection_extra_lines(args):
    """[connection] lines from --scheduler, --reorder-window, --max-buffdelay-ms and
    --extra-conf; nothing for an option that was not given (mptd's defaults apply)."""
    lines = []
    if getattr(args, "scheduler", None):
        lines.append(f"scheduler = {args.scheduler}")
    if getattr(args, "reorder_window", None) is not None:
        lines.append(f"reorder_window = {args.reorder_window}")
    if getattr(args, "max_buffdelay_ms", None) is not None:
        lines.append(f"max_buffdelay_msec = {args.max_buffdelay_ms}")
    lines.extend(getattr(args, "extra_conf", None) or [])
    return lines


def write_config(d, me, peer, paths, weights, control=None, extra_lines=()):
    os.makedirs(f"{d}/connections", exist_ok=True)
    with open(f"{d}/interface.conf", "w") as f:
        f.write(f"[general]\ntunnel_num = 1\n[tun_0]\nname = mpt0\n"
                f"ipv4_addr = 10.201.0.{me}/24\nipv6_addr = fd00:201::{me}/64\n")
        if TUNNEL_MTU is not None:
            f.write(f"mtu = {TUNNEL_MTU}\n")
        if TUNNEL_QUEUES != 1:
            f.write(f"queues = {TUNNEL_QUEUES}\n")
    with open(f"{d}/connections/bench.conf", "w") as f:
        f.write(f"[connection]\nname = bench\nip_ver = 4\nip_local = 10.201.0.{me}\n"
                f"ip_remote = 10.201.0.{peer}\npath_count = {len(paths)}\n")
        if control:
            f.write(f"auth_key = mpt-bench-key-0001\nprobe_interval_ms = {control['interval_ms']}\n"
                    f"dead_misses = {control['misses']}\nhold_down_ms = {control['hold_down_ms']}\n")
        elif TUNNEL_KEYED:
            f.write("auth_key = mpt-bench-key-0001\n")  # queues > 1 needs a keyed connection
        else:
            f.write("control_auth = none\n")
        for line in extra_lines:
            f.write(line.strip() + "\n")
        for k, i in enumerate(paths):
            f.write(f"[path_{k}]\ninterface_name = veth{i}\nip_ver = 4\n"
                    f"private_ipaddr = 10.200.{i + 1}.{me}\nremote_ipaddr = 10.200.{i + 1}.{peer}\n"
                    f"weight_out = {weights[i]}\n")


class Tunnel:
    def __init__(self, topo, build, paths, weights, work, offload=True, control=None,
                 extra_lines=(), metrics_port=None):
        self.topo, self.build, self.paths, self.work = topo, build, paths, work
        self.offload = offload
        self.metrics_port = metrics_port  # side A serves /metrics on 127.0.0.1 in its namespace
        self.procs = []
        # Keyed only because of --keyed: no data goes out before the handshake, which the
        # scenario does not wait for itself (as --crypto's sealed phase and --failover do).
        self.await_handshake = control is None and TUNNEL_KEYED
        for side, me, peer in (("a", 1, 2), ("b", 2, 1)):
            write_config(f"{work}/{side}", me, peer, paths, weights, control, extra_lines)

    def sock(self, side):
        return f"{self.work}/{side}.sock"

    def _spawn(self, side, mode="w"):
        log = open(f"{self.work}/{side}.log", mode)
        return subprocess.Popen(["ip", "netns", "exec", self.topo.ns(side),
                                 f"{self.build}/cli/mptd", "--config", f"{self.work}/{side}",
                                 "--socket", self.sock(side), "--log-level", "warn"]
                                + ([] if self.offload else ["--no-offload"])
                                + (["--pin-cpus"] if PIN_CPUS else [])
                                + (["--metrics", str(self.metrics_port)]
                                   if self.metrics_port and side == "a" else []),
                                stdout=log, stderr=log)

    def restart(self, side):
        """Starts side's mptd again (after it was killed); waits for its control socket."""
        i = 0 if side == "a" else 1
        self.procs[i] = self._spawn(side, "a")
        for _ in range(100):
            if os.path.exists(self.sock(side)):
                return
            time.sleep(0.05)
        raise RuntimeError(f"mptd {side} did not start again")

    def __enter__(self):
        for side in ("a", "b"):
            self.procs.append(self._spawn(side))
        for side in ("a", "b"):
            for _ in range(100):
                if os.path.exists(self.sock(side)):
                    break
                time.sleep(0.05)
            else:
                self.__exit__()
                with open(f"{self.work}/{side}.log") as f:
                    log = f.read()
                raise RuntimeError(f"mptd {side} did not start:\n{log}")
        time.sleep(0.3)
        if self.await_handshake:
            for _ in range(100):
                st = self.status("a")
                if st and st.get("control") and st["control"][0].get("established"):
                    break
                time.sleep(0.05)
        return self

    def scrape_metrics(self):
        """GET /metrics of side A's mptd (curl in its namespace): the text, or None."""
        r = subprocess.run(["ip", "netns", "exec", self.topo.ns("a"), "curl", "-s", "-f", "-m", "5",
                            f"http://127.0.0.1:{self.metrics_port}/metrics"],
                           capture_output=True, text=True)
        return r.stdout if r.returncode == 0 else None

    def status(self, side):
        """`mpt status --json` of side's mptd, asked over its control socket directly (one
        line, the answer until EOF: cli/mpt.cpp's protocol). Sampled every 100 ms during a
        phase: spawning `sh` + `mpt` for it cost ~10 % of the 2 vCPUs (perf), a handicap
        only the mpt phases carried."""
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as c:
                c.settimeout(2)
                c.connect(self.sock(side))
                c.sendall(b"status --json\n")
                chunks = []
                while True:
                    b = c.recv(65536)
                    if not b:
                        break
                    chunks.append(b)
            return json.loads(b"".join(chunks))
        except (OSError, ValueError):
            return None

    def __exit__(self, *exc):
        for p in self.procs:
            p.terminate()
        for p in self.procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
        self.procs = []
