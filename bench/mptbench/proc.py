"""Running commands (in namespaces) and reading whole-VM CPU time."""
import os
import subprocess
import threading


def sh(cmd, check=True, capture=False, timeout=None):
    """Runs a shell command; returns stdout (capture) or the exit code; raises on failure."""
    r = subprocess.run(cmd, shell=True, check=False, text=True, timeout=timeout,
                       stdout=subprocess.PIPE if capture else subprocess.DEVNULL,
                       stderr=subprocess.PIPE if capture else subprocess.DEVNULL)
    if check and r.returncode != 0:
        raise RuntimeError(f"command failed ({r.returncode}): {cmd}\n{r.stderr if capture else ''}")
    return r.stdout if capture else r.returncode


def cpu_busy_seconds():
    """Whole-VM busy CPU time (all processes and the kernel, every CPU) from /proc/stat."""
    with open("/proc/stat") as f:
        fields = f.readline().split()[1:]
    user, nice, system, idle, iowait, irq, softirq, steal = (int(x) for x in fields[:8])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def process_cpu_seconds(pid):
    """User + system CPU seconds of one process (all its threads), or None if it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def stop_process(p, timeout=10):
    """SIGTERM, then SIGKILL after `timeout`; returns its stdout if it was captured."""
    if p.poll() is None:
        p.terminate()
    try:
        out, _ = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        out, _ = p.communicate()
    return out


class TimedThread:
    """A daemon thread that runs self._run() from start(t0) (t0: time.monotonic()) until
    stop(); _run waits with self.stop_ev.wait(...) and returns when it is set."""

    def __init__(self):
        self.stop_ev = threading.Event()
        self.thread = None
        self.t0 = 0.0

    def start(self, t0):
        self.t0 = t0
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        raise NotImplementedError

    def join(self):
        self.stop_ev.set()
        if self.thread:
            self.thread.join()
