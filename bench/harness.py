"""
What the benchmark scripts share: free ports, CPU and memory of a process tree from /proc,
SIPp's statistics files, and starting and stopping the processes under test.

Run by hand only; nothing here is imported by the test suite.
"""
from __future__ import annotations

import csv
import glob
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from typing import Optional

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
SCENARIOS = os.path.join(HERE, "..", "sst", "test", "scenarios")
BENCH_SCENARIOS = os.path.join(HERE, "scenarios")
KAMAILIO_CFG = os.path.join(HERE, "..", "..", "shared", "bench", "kamailio.cfg")
TICKS = os.sysconf("SC_CLK_TCK")


def freePort() -> int:
    """
    @return: a UDP port on 127.0.0.1 that was free a moment ago (also free for TCP, in
        practice, on loopback).
    """
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cpuTimes(pid: int) -> tuple[float, float]:
    """
    @return: (user, system) CPU seconds of process C{pid}.
    """
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) / TICKS, int(fields[12]) / TICKS


def cpuSeconds(pid: int) -> float:
    """
    @return: the CPU seconds (user + system) of process C{pid}.
    """
    return sum(cpuTimes(pid))


def children(pid: int) -> list[int]:
    """
    @return: the processes whose parent is C{pid}.
    """
    found = []
    for path in glob.glob("/proc/[0-9]*/stat"):
        try:
            with open(path) as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(path.split("/")[2]))
    return found


def treeCpuTimes(pid: int) -> tuple[float, float]:
    """
    @return: (user, system) CPU seconds of C{pid} and its children (Kamailio's workers).
    """
    user = system = 0.0
    for p in [pid] + children(pid):
        try:
            u, s = cpuTimes(p)
        except OSError:
            continue
        user += u
        system += s
    return user, system


def rssBytes(pid: int) -> int:
    """
    @return: the resident set size of process C{pid}.
    """
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def stop(processes: list["subprocess.Popen[bytes]"]) -> None:
    """
    Stop C{processes}: SIGTERM, then SIGKILL after 10 s.
    """
    for p in processes:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    for p in processes:
        try:
            p.wait(10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def shutdown(processes: list["subprocess.Popen[bytes]"], workdir: str) -> None:
    """
    Stop C{processes} and remove C{workdir}, unless C{KEEP_BENCH_DIR} is set.
    """
    stop(processes)
    if os.environ.get("KEEP_BENCH_DIR"):
        print("workdir", workdir)
    else:
        shutil.rmtree(workdir, ignore_errors=True)


def sippStats(path: str) -> dict[str, str]:
    """
    @return: the last row of a SIPp statistics file (C{-trace_stat -stf PATH}), by column.
    """
    if not os.path.exists(path):
        matches = glob.glob(path)
        if not matches:
            return {}
        path = matches[0]
    with open(path) as f:
        rows = list(csv.reader(f, delimiter=";"))
    if len(rows) < 2:
        return {}
    return dict(zip(rows[0], rows[-1]))


def twistd() -> str:
    """
    @return: the C{twistd} of the Python running this script.
    """
    return os.path.join(os.path.dirname(sys.executable), "twistd")


def getJSON(url: str, timeout: float = 5.0) -> Optional[dict[str, object]]:
    """
    @return: the JSON document at C{url}, or L{None} when it cannot be had.
    """
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            document = json.load(response)
    except (OSError, ValueError):
        return None
    return document if isinstance(document, dict) else None


def waitForPort(port: int, transport: str = "udp", timeout: float = 15.0) -> None:
    """
    Wait until something listens on 127.0.0.1:C{port} (UDP: the port can no longer be bound).
    """
    deadline = time.time() + timeout
    kind = socket.SOCK_DGRAM if transport == "udp" else socket.SOCK_STREAM
    while time.time() < deadline:
        with socket.socket(socket.AF_INET, kind) as s:
            try:
                if kind == socket.SOCK_STREAM:
                    s.connect(("127.0.0.1", port))
                    return
                s.bind(("127.0.0.1", port))
            except OSError:
                if kind == socket.SOCK_DGRAM:
                    return
        time.sleep(0.1)
    raise RuntimeError("nothing listens on port %d" % (port,))
