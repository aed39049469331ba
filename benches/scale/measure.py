#!/usr/bin/env python3
"""The scale benchmark's measurements (benches/scale/run.sh sets up the state and calls this).

Starts the real `aclgate serve` on a generated state and reports, as `name: value` lines:
start time, resident memory after start and after RELOADS reloads (SIGHUP), reload time, CLI
write times (`acl modify`, `user token add`, `user token remove`), and revocation-to-refusal
time: a token is created with the CLI, used through the gateway over one keep-alive TLS
connection until it is accepted, removed with the CLI, and the time from the command's return
to the gateway's first 401 is recorded (with how often the very first request was refused),
and the ACL entry is deleted again. How many snapshots and full loads the CLI writes caused, and
the gateway's CPU per write, show whether the writes were applied incrementally.

Wall times suffer when the machine is shared; each figure also comes with the CPU time spent
(the gateway's for start and reloads, the command's for CLI writes), which does not.

Usage: measure.py BIN WORKDIR PORT ADMIN_PORT RELOADS REVOCATIONS
"""

import http.client
import json
import os
import resource
import signal
import ssl
import statistics
import subprocess
import sys
import time

BIN, WORK, PORT, ADMIN, RELOADS, REVOKES = sys.argv[1], sys.argv[2], int(sys.argv[3]), \
    int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6])
STATE = os.path.join(WORK, "state")
CONFIG = os.path.join(WORK, "aclgate.toml")
PERM_PATH = "/api2/json/access/permissions?path=/vms/100"
# Seconds to wait after a start or reload before reading resident memory (the old snapshot is
# freed on another thread after the swap).
SETTLE = float(os.environ.get("SETTLE", "2"))


def children_cpu():
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def cli(*args):
    """Run one CLI command against the state; answers ((wall, cpu) seconds, stdout)."""
    t0, c0 = time.monotonic(), children_cpu()
    out = subprocess.run([BIN, "--state-dir", STATE, *args], check=True,
                         capture_output=True, text=True).stdout
    return (time.monotonic() - t0, children_cpu() - c0), out


def process_cpu(pid):
    """User + system CPU seconds of `pid` so far."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_kib(pid):
    """VmRSS and VmHWM of `pid`, in KiB."""
    got = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                got[key] = int(rest.split()[0])
    return got["VmRSS"], got["VmHWM"]


def metric(prefix):
    """The first /metrics sample starting with `prefix` (None while the admin port is closed)."""
    try:
        conn = http.client.HTTPConnection("127.0.0.1", ADMIN, timeout=5)
        conn.request("GET", "/metrics")
        body = conn.getresponse().read().decode()
        conn.close()
    except OSError:
        return None
    for line in body.splitlines():
        if line.startswith(prefix):
            return int(float(line.split()[-1]))
    return None


def generation():
    """The snapshot generation (None while the admin port is closed)."""
    return metric("aclgate_snapshot_generation")


def full_loads():
    """Successful full loads so far (a writer's change applied incrementally is not one)."""
    return metric('aclgate_reloads_total{result="ok"}') or 0


class Gateway:
    """One keep-alive TLS connection to the gateway."""

    def __init__(self):
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        self.ctx = ctx
        self.conn = None

    def status(self, token, secret):
        for _ in range(3):
            try:
                if self.conn is None:
                    self.conn = http.client.HTTPSConnection("127.0.0.1", PORT, context=self.ctx,
                                                            timeout=30)
                self.conn.request("GET", PERM_PATH,
                                  headers={"Authorization": f"PVEAPIToken={token}={secret}"})
                resp = self.conn.getresponse()
                resp.read()
                return resp.status
            except (OSError, http.client.HTTPException):
                self.conn = None
        raise RuntimeError("gateway unreachable")


def ms(seconds):
    return f"{seconds * 1000:.0f} ms"


def main():
    report = []

    def say(name, value):
        report.append((name, value))
        print(f"{name}: {value}", flush=True)

    t0 = time.monotonic()
    gw = subprocess.Popen([BIN, "serve", "--config", CONFIG],
                          stdout=subprocess.DEVNULL, stderr=open(os.path.join(WORK, "gw.log"), "w"))
    try:
        while generation() is None:
            if gw.poll() is not None:
                raise RuntimeError("gateway exited; see gw.log")
            time.sleep(0.01)
        say("start (to first snapshot served; wall, gateway CPU)",
            f"{ms(time.monotonic() - t0)}, {ms(process_cpu(gw.pid))}")
        rss, _ = rss_kib(gw.pid)
        say("resident after start", f"{rss / 1024:.0f} MiB")

        time.sleep(SETTLE)
        rss, _ = rss_kib(gw.pid)
        say(f"resident after start, {SETTLE:.0f} s later", f"{rss / 1024:.0f} MiB")

        reload_times, reload_cpu, trend = [], [], []
        for _ in range(RELOADS):
            before = generation()
            t0, c0 = time.monotonic(), process_cpu(gw.pid)
            os.kill(gw.pid, signal.SIGHUP)
            while generation() == before:
                time.sleep(0.005)
            reload_times.append(time.monotonic() - t0)
            reload_cpu.append(process_cpu(gw.pid) - c0)
            # The swapped-out snapshot is freed (and trimmed) on a blocking thread after the
            # swap: measure once that is done, so the trend shows what stays, not what is
            # being freed.
            time.sleep(SETTLE)
            trend.append(rss_kib(gw.pid)[0] // 1024)
        if reload_times:
            say(f"reload (SIGHUP to new generation, median of {RELOADS}; wall, gateway CPU)",
                f"{ms(statistics.median(reload_times))}, {ms(statistics.median(reload_cpu))}")
            rss, hwm = rss_kib(gw.pid)
            say(f"resident after {RELOADS} reloads ({SETTLE:.0f} s after the last)",
                f"{rss / 1024:.0f} MiB (peak {hwm / 1024:.0f} MiB)")
            say("resident after each reload (MiB)", " ".join(str(r) for r in trend))

        writes = {"acl modify": [], "user token add": [], "user token remove": [],
                  "acl delete": []}
        gateway = Gateway()
        revocations, refused_at_once = [], 0
        loads0, gen0, gw_cpu0 = full_loads(), generation(), process_cpu(gw.pid)
        for i in range(REVOKES):
            secs, _ = cli("acl", "modify", f"/vms/{1000 + i}", "--users", "bench@pve",
                          "--roles", "PVEAuditor")
            writes["acl modify"].append(secs)
            secs, out = cli("user", "token", "add", "bench@pve", f"rv{i}", "--privsep", "0",
                            "--output-format", "json")
            writes["user token add"].append(secs)
            secret = json.loads(out)["value"]
            token = f"bench@pve!rv{i}"
            t0 = time.monotonic()
            while gateway.status(token, secret) != 200:
                if time.monotonic() - t0 > 120:
                    raise RuntimeError("new token never accepted")
                time.sleep(0.002)
            secs, _ = cli("user", "token", "remove", "bench@pve", f"rv{i}")
            writes["user token remove"].append(secs)
            returned = time.monotonic()
            first = gateway.status(token, secret)
            refused_at_once += first == 401
            while first != 401 and gateway.status(token, secret) != 401:
                pass
            revocations.append(time.monotonic() - returned)
            secs, _ = cli("acl", "delete", f"/vms/{1000 + i}", "--users", "bench@pve",
                          "--roles", "PVEAuditor")
            writes["acl delete"].append(secs)
        commands = sum(len(t) for t in writes.values())
        if commands:
            # Let the file watch see the last writes (their events need no load: the gateway
            # already holds those files).
            time.sleep(1)
            say(f"CLI writes: snapshots, full loads, gateway CPU per write ({commands} writes)",
                f"{generation() - gen0}, {full_loads() - loads0}, "
                f"{ms((process_cpu(gw.pid) - gw_cpu0) / commands)}")
        for name, times in writes.items():
            if times:
                wall = [w for w, _ in times]
                cpu = [c for _, c in times]
                say(f"CLI `{name}` (median of {len(times)}: wall, CPU; max wall)",
                    f"{ms(statistics.median(wall))}, {ms(statistics.median(cpu))}; {ms(max(wall))}")
        if revocations:
            say(f"token removed with the CLI -> refused (median of {len(revocations)}, max)",
                f"{ms(statistics.median(revocations))}, {ms(max(revocations))}")
            say("refused on the first request after the command returned",
                f"{refused_at_once} of {len(revocations)}")
        rss, hwm = rss_kib(gw.pid)
        say("resident at the end", f"{rss / 1024:.0f} MiB (peak {hwm / 1024:.0f} MiB)")
    finally:
        gw.send_signal(signal.SIGTERM)
        try:
            gw.wait(timeout=30)
        except subprocess.TimeoutExpired:
            gw.kill()


if __name__ == "__main__":
    main()
