"""Smoke run of the fan-out benchmark: `python -m bench --quick` against our server and the
baseline. It asserts correctness only (every client got every message exactly once, in seq
order; every idle connection got `ready`), never timing: the figures belong in
docs/performance.md, not in a pass/fail test on a shared machine."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.live import REPO_ROOT

pytestmark = pytest.mark.e2e

CLIENTS = 20
MESSAGES = 20
IDLE = 20


def test_quick_benchmark_delivers_every_message_once_and_in_order(tmp_path):
    output = tmp_path / "bench.json"
    argv = [sys.executable, "-m", "bench", "--quick", "--layer", "inmemory"]
    argv += ["--clients", str(CLIENTS), "--messages", str(MESSAGES), "--idle", str(IDLE)]
    argv += ["--no-profile", "--output", str(output)]
    run = subprocess.run(
        argv, cwd=REPO_ROOT, capture_output=True, text=True, timeout=300, check=False
    )
    log = f"exit {run.returncode}\n{run.stdout[-4000:]}\n{run.stderr[-4000:]}"
    assert output.exists(), log
    report = json.loads(output.read_text())
    section = report["layers"]["inmemory"]
    assert section["backend"] == "channels.layers.InMemoryChannelLayer"

    (row,) = section["throughput"]
    for who in ("ours", "baseline"):
        result = row[who]
        assert result["ok"], (who, result["problem"], log)
        assert result["connected"] == CLIENTS, (who, result["failures"])
        assert result["acked"] == MESSAGES, who
        assert result["delivered"] == result["expected"] == CLIENTS * MESSAGES, who
        assert result["complete_clients"] == CLIENTS, who
        for problem in ("duplicates", "out_of_order", "gaps", "foreign", "replayed"):
            assert result[problem] == 0, (who, problem)

    (idle,) = section["idle"]
    for who in ("ours", "baseline"):
        assert idle[who]["ok"], (who, idle[who]["problem"], log)
        assert idle[who]["connected"] == IDLE, who
    assert run.returncode == 0, log
