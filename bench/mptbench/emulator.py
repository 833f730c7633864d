"""Emulated links: --link specs, the mpt-delayline processes and their control sockets, and
--at events played during a measurement.

One mpt-delayline per emulated path runs in the middle namespace, bridging that path's two
veths (see topology.py); it takes text commands on a Unix datagram socket
(tests/tools/delayline_command.h) and answers each with one line ("ok", "error: ...", or
JSON for `stats`).
"""
import json
import os
import socket
import subprocess
import threading
import time

from .proc import TimedThread, stop_process
from .units import fmt_rate, parse_bitrate, parse_ms, parse_seconds

DEFAULT_QUEUE = "50ms"  # the delay line's bottleneck buffer unless a spec says queue=


class LinkSpec:
    """One path's emulated link, both directions: 'RATE:DELAY[:key=value...]'.

    RATE like 50M (bit/s of Ethernet frames, as tbf counts; 0 = unlimited), DELAY one-way
    like 5ms; keys jitter (e.g. 3ms), dist (uniform|normal), loss (e.g. 0.5%), queue (time
    or bytes, e.g. 50ms or 64KB).
    """
    KEYS = ("jitter", "dist", "loss", "queue")

    def __init__(self, text):
        self.text = text
        parts = [p for p in text.split(":") if p]
        if not parts:
            raise ValueError(f"empty link spec '{text}'")
        self.rate_bps = parse_bitrate(parts[0])
        self.delay_ms = 0.0
        self.extra = {}
        rest = parts[1:]
        if rest and "=" not in rest[0]:
            self.delay_ms = parse_ms(rest[0])
            rest = rest[1:]
        for kv in rest:
            if "=" not in kv:
                raise ValueError(f"link spec '{text}': expected key=value, got '{kv}'")
            k, v = kv.split("=", 1)
            if k not in self.KEYS:
                raise ValueError(f"link spec '{text}': unknown key '{k}' ({', '.join(self.KEYS)})")
            self.extra[k] = v
        if "jitter" in self.extra:
            parse_ms(self.extra["jitter"])  # validates

    def delayline_spec(self):
        """The full parameter set for the delay line (every key, so it also resets)."""
        return (f"rate={self.rate_bps} delay={self.delay_ms}ms "
                f"jitter={self.extra.get('jitter', '0')} dist={self.extra.get('dist', 'uniform')} "
                f"loss={self.extra.get('loss', '0')} queue={self.extra.get('queue', DEFAULT_QUEUE)}")

    def describe(self):
        s = f"{fmt_rate(self.rate_bps) if self.rate_bps else 'unlimited'}:{self.delay_ms:g}ms"
        return s + "".join(f":{k}={v}" for k, v in self.extra.items())

    def as_dict(self):
        return {"spec": self.text, "rate_mbps": self.rate_bps / 1e6 if self.rate_bps else None,
                "delay_ms": self.delay_ms, **self.extra}


def parse_links(text, n_paths):
    specs = [LinkSpec(s) for s in text.split(",") if s.strip()]
    if len(specs) == 1:
        specs *= n_paths
    if len(specs) != n_paths:
        raise ValueError(f"--link needs one spec per path ({n_paths}) or one for all")
    return specs


class DelayLine:
    """One mpt-delayline process in the middle namespace and a client for its control socket."""

    def __init__(self, binary, ns, if_a, if_b, spec, sock_path, extra_args=()):
        self.spec = spec
        self.sock_path = sock_path
        self.client_path = sock_path + ".client"
        self.log_path = sock_path + ".log"
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen(
            ["ip", "netns", "exec", ns, binary, "--a", if_a, "--b", if_b,
             "--both", spec.delayline_spec(), "--control", sock_path, *extra_args],
            stdout=subprocess.PIPE, stderr=self.log, text=True)
        self.lock = threading.Lock()
        self.client = None
        for _ in range(100):
            if os.path.exists(sock_path):
                break
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        if not os.path.exists(sock_path):
            self.stop()
            with open(self.log_path) as f:
                raise RuntimeError(f"mpt-delayline {if_a}<->{if_b} did not start:\n{f.read()}")
        self.client = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        if os.path.exists(self.client_path):
            os.unlink(self.client_path)
        self.client.bind(self.client_path)
        self.client.settimeout(3.0)

    def command(self, text):
        """Sends one command; returns the reply text. Raises on an 'error' reply."""
        with self.lock:
            self.client.sendto(text.encode(), self.sock_path)
            reply = self.client.recv(65536).decode()
        if reply.startswith("error"):
            raise RuntimeError(f"mpt-delayline '{text}': {reply}")
        return reply

    def stats(self):
        return json.loads(self.command("stats"))

    def wait_drained(self, timeout_s=2.0):
        """Waits until nothing is queued in either direction (frames of the last test)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            st = self.stats()
            if st["ab"]["queued"] == 0 and st["ba"]["queued"] == 0:
                return True
            time.sleep(0.02)
        return False

    def reset_link(self):
        """Back to the path's own spec, not cut, counters zeroed."""
        self.command("set dir=both " + self.spec.delayline_spec())
        self.command("restore")
        self.command("reset")

    def pid(self):
        return self.proc.pid

    def stop(self):
        """Stops the process; returns its final stats (printed on SIGTERM) or None."""
        out = stop_process(self.proc) if self.proc else None
        self.proc = None
        if self.client:
            self.client.close()
            self.client = None
        if os.path.exists(self.client_path):
            os.unlink(self.client_path)
        self.log.close()
        try:
            return json.loads(out.strip().splitlines()[-1]) if out and out.strip() else None
        except ValueError:
            return None


class Event:
    """--at T:pathI=ACTION[:VALUE], e.g. 10s:path1=rate:20M, 5s:path1=cut, 3s:path0=loss:1%.
    Actions rate, delay, jitter, loss, queue change one parameter (both directions); cut drops
    everything; restore puts the path back to its own --link spec and ends a cut."""
    ACTIONS = {"rate": "rate", "delay": "delay", "jitter": "jitter", "loss": "loss",
               "queue": "queue", "cut": None, "restore": None}

    def __init__(self, text):
        self.text = text
        try:
            when, what = text.split(":", 1)
            target, action = what.split("=", 1)
        except ValueError:
            raise ValueError(f"--at '{text}': expected T:pathI=ACTION[:VALUE]") from None
        self.t_s = parse_seconds(when)
        if not target.startswith("path") or not target[4:].isdigit():
            raise ValueError(f"--at '{text}': target must be pathI (path0 is the first path)")
        self.path = int(target[4:])
        self.action, _, self.value = action.partition(":")
        if self.action not in self.ACTIONS:
            raise ValueError(f"--at '{text}': action must be one of {', '.join(self.ACTIONS)}")
        if (self.ACTIONS[self.action] is None) != (self.value == ""):
            raise ValueError(f"--at '{text}': {self.action} "
                             + ("takes no value" if self.ACTIONS[self.action] is None else "needs a value"))
        if self.action == "rate":
            self.value = str(parse_bitrate(self.value))

    def command(self):
        if self.action in ("cut", "restore"):
            return self.action
        return f"set dir=both {self.ACTIONS[self.action]}={self.value}"

    def label(self):
        return f"path{self.path} {self.action}" + (f" {self.text.split(':', 2)[-1]}" if self.value else "")

    def as_dict(self):
        return {"at": self.text, "t_s": self.t_s, "path": self.path, "action": self.action,
                "value": self.value or None}


def parse_events(texts, n_paths):
    events = sorted((Event(t) for t in texts), key=lambda e: e.t_s)
    for e in events:
        if e.path >= n_paths:
            raise ValueError(f"--at '{e.text}': there are only {n_paths} paths (path0..path{n_paths - 1})")
    return events


class EventPlayer(TimedThread):
    """Applies events at their offsets from t0 (time.monotonic()) in a thread; records when
    each was applied, relative to t0."""

    def __init__(self, events, delaylines):
        super().__init__()
        self.events = events
        self.delaylines = delaylines
        self.applied = []  # dicts: event, t_s (actual), reply

    def _run(self):
        for e in self.events:
            if self.stop_ev.wait(max(0.0, self.t0 + e.t_s - time.monotonic())):
                return
            t = time.monotonic() - self.t0
            try:
                dl = self.delaylines[e.path]
                if e.action == "restore":  # back to the path's own spec, and uncut
                    dl.command("set dir=both " + dl.spec.delayline_spec())
                dl.command(e.command())
                ok = True
            except (RuntimeError, OSError) as err:
                ok = False
                print(f"  warning: event {e.text} failed: {err}", flush=True)
            self.applied.append({**e.as_dict(), "applied_s": round(t, 4), "ok": ok,
                                 "label": e.label()})

    def stop(self):
        self.join()
        return self.applied
