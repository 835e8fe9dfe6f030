"""bench/qa_search.py runs to the end on a tiny data set, and both searches agree.

No timing assertions: the figures belong in docs/performance.md, not in a test."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]


def test_bench_completes_and_the_index_finds_what_the_scan_finds(tmp_path):
    out = tmp_path / "figures.json"
    env = {
        k: v for k, v in os.environ.items() if k not in ("SQLITE_PATH", "DJANGO_SETTINGS_MODULE")
    }
    # On PostgreSQL (DATABASE_URL set) the bench makes and drops its own database.
    result = subprocess.run(
        [sys.executable, "-m", "bench.qa_search", "--quick", "--questions", "300",
         "--queries", "20", "--seconds", "0.2", "--json", str(out)],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    figures = json.loads(out.read_text())
    assert figures["data"]["questions"] == 300
    agreement = figures["search"]["agreement"]
    assert agreement["queries"] == 20
    assert agreement["same_hits"] == 20, agreement["differing"]
    assert agreement["hits_max"] > 0
    for name in ("first page", "first page, newest", "all matches"):
        assert set(figures["search"][name]) == {"ours", "baseline"}
    pages = figures["pages"]
    assert "no-database view (baseline)" in pages and len(pages) == 4
    assert all(page["requests"] > 0 for page in pages.values())
    assert "search latency" in result.stdout and "requests/s" in result.stdout


@pytest.mark.django_db
def test_generated_queries_are_words_the_generator_uses():
    from bench.qa_search import FILLER, _vocabulary, queries

    words = set(_vocabulary())
    for q in queries(40):
        assert set(q.split()) <= words
    # No query word hides inside another word, so substring scans cannot over-match.
    for word in words:
        assert not any(word != other and word in other for other in words | set(FILLER))
