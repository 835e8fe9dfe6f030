"""py-spy while our server is under load, and a text summary of where its time goes.

py-spy samples the Daphne process from outside (it needs no change to the server); we
record collapsed stacks (`--format raw`, one "frame;frame;... count" line per stack, which
speedscope and flamegraph.pl read too) and an SVG flame graph, both without pausing the
process (`--nonblocking`).
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

from bench.servers import REPO_ROOT


def py_spy_binary() -> str | None:
    beside = Path(sys.executable).with_name("py-spy")
    if beside.exists():
        return str(beside)
    return shutil.which("py-spy")


class Profiler:
    """Two py-spy samplers on one pid: raw stacks (for the summary) and an SVG."""

    def __init__(self, pid: int, raw_path: Path, svg_path: Path, rate: int = 100) -> None:
        self.pid = pid
        self.raw_path = raw_path
        self.svg_path = svg_path
        self.rate = rate
        self.processes: list[subprocess.Popen] = []
        self.log_path = raw_path.with_suffix(".log")

    def start(self) -> None:
        binary = py_spy_binary()
        if binary is None:
            raise RuntimeError("py-spy is not installed (pip install py-spy)")
        common = [binary, "record", "--pid", str(self.pid), "--rate", str(self.rate)]
        common += ["--nonblocking", "--duration", "900"]
        with self.log_path.open("wb") as log:
            for fmt, path, extra in (
                ("raw", self.raw_path, ["--threads"]),
                ("flamegraph", self.svg_path, []),
            ):
                argv = [*common, *extra, "--format", fmt, "-o", str(path)]
                self.processes.append(
                    subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, cwd=REPO_ROOT)
                )

    def stop(self) -> None:
        """Ctrl-C makes py-spy write what it has sampled so far."""
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGINT)
        for process in self.processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _short(frame: str) -> str:
    """`func (path/to/file.py:123)` -> `func (pkg/file.py)`: one name per function."""
    name, _, location = frame.partition(" (")
    location = location.rstrip(")")
    path = location.rsplit(":", 1)[0]
    for marker in ("site-packages/", "lib/python3."):
        if marker in path:
            path = path.split(marker, 1)[1]
            if marker == "lib/python3.":
                path = "stdlib/" + path.split("/", 1)[-1]
            break
    else:
        root = str(REPO_ROOT) + "/"
        if path.startswith(root):
            path = path[len(root) :]
    return f"{name} ({path})"


def summarise(raw_path: Path, pid: int, top: int = 25) -> dict:
    """Self and inclusive sample shares per function, and the split between threads."""
    self_counts: Counter[str] = Counter()
    total_counts: Counter[str] = Counter()
    modules: Counter[str] = Counter()
    threads: Counter[str] = Counter()
    samples = 0
    for line in raw_path.read_text(errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = stack.split(";")
        if frames and frames[0].startswith("thread ("):
            thread = frames.pop(0)
            tid = thread[len("thread (") :].split(")")[0]
            threads["main thread (event loop)" if tid == str(pid) else "other threads"] += count
        if not frames:
            continue
        samples += count
        short = [_short(f) for f in frames]
        self_counts[short[-1]] += count
        for name in set(short):
            total_counts[name] += count
        leaf_path = short[-1].rsplit("(", 1)[-1].rstrip(")")
        modules[leaf_path.split("/")[0]] += count

    def share(counter: Counter[str]) -> list[tuple[str, float]]:
        return [(name, round(100 * n / samples, 1)) for name, n in counter.most_common(top)]

    return {
        "samples": samples,
        "threads": {
            k: round(100 * v / max(1, sum(threads.values())), 1) for k, v in threads.items()
        },
        "self": share(self_counts),
        "inclusive": share(total_counts),
        "self_by_package": share(modules),
    }


def summary_text(summary: dict, title: str) -> str:
    lines = [f"# {title}", f"samples: {summary['samples']}", ""]
    if summary["threads"]:
        lines.append("threads: " + ", ".join(f"{k} {v}%" for k, v in summary["threads"].items()))
        lines.append("")
    for key, heading in (
        ("self_by_package", "self time by top-level package (leaf frame)"),
        ("self", "self time (leaf frame), % of samples"),
        ("inclusive", "inclusive time (function anywhere on the stack), % of samples"),
    ):
        lines.append(f"## {heading}")
        lines.extend(f"{pct:6.1f}%  {name}" for name, pct in summary[key])
        lines.append("")
    return "\n".join(lines)
