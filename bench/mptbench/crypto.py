"""--crypto: what encryption costs. One TCP flow over path 0, in the same run and on the same
link: the raw path; mpt in plain mode (control_auth = none: nothing sealed); mpt keyed
(auth_key: data sealed, docs/protocol.md "Sealed data"); and the userspace WireGuard Debian
ships (wireguard-go, its own TUN wg<pid><side> 10.202.0.1 <-> .2 over the same veth, UDP 51820). Each
with whole-VM CPU seconds per GB."""
import os
import shutil
import statistics
import subprocess
import tempfile
import time

from .proc import sh
from .report import run_header
from .traffic import iperf_measure
from .tunnel import Tunnel, connection_extra_lines

CASES = ["raw", "mpt plain", "mpt sealed", "wireguard-go"]


class WireGuardGo:
    """wireguard-go in each namespace (foreground processes), keys made with wg genkey."""

    def __init__(self, topo, work):
        self.topo, self.work, self.procs = topo, work, []
        # wireguard-go's control socket is /var/run/wireguard/<name>.sock, one file system for
        # both namespaces: each side's device needs a name of its own.
        self.dev = {side: f"wg{os.getpid() % 100000}{side}" for side in ("a", "b")}

    def __enter__(self):
        if not shutil.which("wireguard-go") or not shutil.which("wg"):
            raise RuntimeError("wireguard-go and wg (Debian: wireguard-go, wireguard-tools) are needed")
        keys = {}
        for side in ("a", "b"):
            priv = sh("wg genkey", capture=True).strip()
            pub = subprocess.run(["wg", "pubkey"], input=priv, capture_output=True, text=True,
                                 check=True).stdout.strip()
            path = f"{self.work}/{side}.key"
            with open(path, "w") as f:
                f.write(priv + "\n")
            os.chmod(path, 0o600)
            keys[side] = (path, pub)
        env = dict(os.environ, WG_PROCESS_FOREGROUND="1")
        for side, me, peer in (("a", 1, 2), ("b", 2, 1)):
            ns = self.topo.ns(side)
            log = open(f"{self.work}/wg-{side}.log", "w")
            self.procs.append(subprocess.Popen(["ip", "netns", "exec", ns, "wireguard-go", "-f",
                                                self.dev[side]],
                                               stdout=log, stderr=log, env=env))
        for side, me, peer in (("a", 1, 2), ("b", 2, 1)):
            ns = self.topo.ns(side)
            other = "b" if side == "a" else "a"
            for _ in range(100):
                if subprocess.run(["ip", "-n", ns, "link", "show", self.dev[side]],
                                  capture_output=True).returncode == 0:
                    break
                time.sleep(0.05)
            dev = self.dev[side]
            sh(f"ip netns exec {ns} wg set {dev} private-key {keys[side][0]} listen-port 51820 "
               f"peer {keys[other][1]} allowed-ips 10.202.0.{peer}/32 "
               f"endpoint 10.200.1.{peer}:51820")
            sh(f"ip -n {ns} addr add 10.202.0.{me}/24 dev {dev}")
            sh(f"ip -n {ns} link set {dev} mtu 1420 up")
        time.sleep(0.3)
        return self

    def __exit__(self, *exc):
        for p in self.procs:
            p.terminate()
        for p in self.procs:
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        for side in ("a", "b"):
            subprocess.run(["ip", "-n", self.topo.ns(side), "link", "del", self.dev[side]],
                           capture_output=True)


def crypto_run(args, topo, weights):
    rows = {}
    work = tempfile.mkdtemp(prefix="mpt-bench.")
    try:
        rows["raw"] = iperf_measure(topo, "10.200.1.2", args.duration, 1, 5701)
        extra = connection_extra_lines(args)
        with Tunnel(topo, args.build, [0], weights, f"{work}/plain", offload=not args.no_offload,
                    extra_lines=extra):
            rows["mpt plain"] = iperf_measure(topo, "10.201.0.2", args.duration, 1, 5702)
        control = {"interval_ms": args.probe_ms, "misses": args.misses,
                   "hold_down_ms": args.hold_down_ms}
        with Tunnel(topo, args.build, [0], weights, f"{work}/sealed", offload=not args.no_offload,
                    control=control, extra_lines=extra) as t:
            for _ in range(100):  # the handshake: no data goes out before it
                st = t.status("a")
                if st and st.get("control") and st["control"][0].get("established"):
                    break
                time.sleep(0.05)
            rows["mpt sealed"] = iperf_measure(topo, "10.201.0.2", args.duration, 1, 5703)
        with WireGuardGo(topo, work):
            rows["wireguard-go"] = iperf_measure(topo, "10.202.0.2", args.duration, 1, 5704)
        for name in CASES:
            r = rows[name]
            print(f"  {name:13s} {r['mbps']:9.1f} Mbit/s {r['cpu_s_per_gb'] or 0:6.2f} CPU-s/GB "
                  f"retransmits {r['retransmits']}", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return rows


def run(args, topo, weights):
    runs = []
    for r in range(args.runs):
        print(f"run {r + 1}/{args.runs}:", flush=True)
        runs.append(crypto_run(args, topo, weights))
    summary = {**run_header(args), "cases": []}
    print(f"\nmedian of {len(runs)} run(s), one TCP flow over path 0:")
    med = {}
    for name in CASES:
        mbps = statistics.median(rr[name]["mbps"] for rr in runs)
        cpu = statistics.median(rr[name]["cpu_s_per_gb"] or 0 for rr in runs)
        med[name] = mbps
        print(f"  {name:13s} {mbps:9.1f} Mbit/s {cpu:6.2f} CPU-s/GB")
        summary["cases"].append({"case": name, "mbps": mbps, "cpu_s_per_gb": cpu})
    sealed, plain, wg = med["mpt sealed"], med["mpt plain"], med["wireguard-go"]
    print(f"  sealed / plain: {sealed / plain if plain else 0:.2f}   "
          f"sealed / wireguard-go: {sealed / wg if wg else 0:.2f}")
    summary["sealed_over_plain"] = sealed / plain if plain else None
    summary["sealed_over_wireguard_go"] = sealed / wg if wg else None
    summary["runs"] = runs
    return summary
