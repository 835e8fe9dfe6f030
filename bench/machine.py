"""What the figures were measured on: CPU, cores, memory, Python, kernel, versions, commit."""

from __future__ import annotations

import os
import platform
import subprocess
from importlib import metadata
from pathlib import Path

from bench.servers import REPO_ROOT

PACKAGES = ("Django", "channels", "channels-redis", "daphne", "Twisted", "websockets", "redis")


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _mem_total_gib() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    return None


def _redis_version() -> str | None:
    try:
        out = subprocess.run(
            ["redis-server", "--version"], capture_output=True, text=True, timeout=5, check=False
        ).stdout
    except OSError:
        return None
    for part in out.split():
        if part.startswith("v="):
            return part[2:]
    return out.strip() or None


def machine() -> dict:
    try:
        cores_usable = len(os.sched_getaffinity(0))
    except AttributeError:
        cores_usable = os.cpu_count()
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    versions["redis-server"] = _redis_version()
    return {
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "cores_usable": cores_usable,
        "ram_gib": _mem_total_gib(),
        "python": platform.python_version(),
        "kernel": platform.release(),
        "os": platform.platform(terse=True),
        "versions": versions,
    }


def git_commit() -> dict:
    def git(*args: str) -> str:
        try:
            return subprocess.run(
                ["git", *args], cwd=REPO_ROOT, capture_output=True, text=True, check=False
            ).stdout.strip()
        except OSError:
            return ""

    return {
        "commit": git("rev-parse", "--short", "HEAD") or "unknown",
        # Other engineers edit the tree while the benchmark runs: say which files differ.
        "dirty": [line[3:] for line in git("status", "--porcelain").splitlines()],
    }


APP_PATHS = ("config", "community", "realtime", "qa", "templates")


def code_stamp() -> dict:
    """The commit our server runs, and which app files differ from it (uncommitted edits)."""
    stamp = git_commit()
    return {
        "commit": stamp["commit"],
        "dirty_app_files": sorted(
            path for path in stamp["dirty"] if path.split("/", 1)[0] in APP_PATHS
        ),
    }
