"""What the figures were measured on."""

import os
import platform
import re
import shutil
import subprocess
from pathlib import Path


def _read(path):
    try:
        return Path(path).read_text()
    except OSError:
        return ""


def _version(module):
    try:
        from importlib.metadata import version

        return version(module)
    except Exception:
        return None


def describe():
    cpuinfo = _read("/proc/cpuinfo")
    model = re.search(r"^model name\s*:\s*(.+)$", cpuinfo, re.MULTILINE)
    meminfo = re.search(r"^MemTotal:\s+(\d+) kB", _read("/proc/meminfo"), re.MULTILINE)
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:
        cores = os.cpu_count()
    wrk = None
    if shutil.which("wrk"):
        out = subprocess.run(["wrk", "-v"], capture_output=True, text=True, check=False)
        words = (out.stdout + out.stderr).split()
        wrk = words[1] if len(words) > 1 else "?"
    return {
        "cpu_model": model.group(1).strip() if model else platform.processor() or "unknown",
        "cores": cores,
        "ram_gib": round(int(meminfo.group(1)) / 1024 / 1024, 1) if meminfo else None,
        "python": platform.python_version(),
        "kernel": platform.release(),
        "os": platform.platform(terse=True),
        "django": _version("django"),
        "gunicorn": _version("gunicorn"),
        "requests": _version("requests"),
        "wrk": wrk,
    }
