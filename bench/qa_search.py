"""`python -m bench.qa_search [--questions 100000] [--quick]`: Q&A search and pages.

In one run, on a throwaway database of generated questions (deterministic seed):

- search latency, p50/p95 over ~200 queries: the app's real full-text search
  (`qa.selectors.question_list(q=..., sort="relevance")` on PostgreSQL tsvector/GIN or
  SQLite FTS5) against an unindexed scan of the same data (`qa.search.scan_filter`:
  every word as an `icontains` on title and body, i.e. LIKE), three ways:
  "first page" (the 20 questions a search page shows, with the list's related rows; the
  app ranks by relevance, the scan takes the newest 20 matches), "first page, newest"
  (both newest first, so only the finding differs) and "all matches" (the ids of every
  match, so neither side can stop early);
- requests per second of the question list page, a search page and a question page,
  against a view that touches no database (defined here, routed by this module as a
  bench-only URLconf), through Django's test Client in-process (no server, no network:
  it measures Django + the app + the database, one request at a time).

The database: SQLite in a temp file (SQLITE_PATH), or, when DATABASE_URL is set,
a fresh PostgreSQL database created next to the one DATABASE_URL names and dropped
afterwards (the named database's data is never touched). Either way it is migrated
from scratch. PostgreSQL locally:

    CI_COMMAND='.venv/bin/python -m bench.qa_search --questions 100000' bash .ci/run

`--json PATH` also writes the figures as JSON (the smoke test reads it).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

REPO_ROOT = Path(__file__).resolve().parent.parent
SEED = 20240611
PAGE = 20
NOOP_PATH = "__bench__/noop/"

# Content words: base forms only, none a substring of another (or of a filler word) and
# no two sharing a stem, so the full-text search and the substring scan find the same
# questions and the two can be checked against each other.
CONTENT = (
    "grant loan voucher subsidy tender contract invoice payroll pension insurance "
    "apprentice graduate intern recruiter mentor advisor accountant solicitor auditor "
    "export import tariff customs shipping freight courier warehouse pallet container "
    "factory workshop foundry kiln lathe robot sensor drone laser printer turbine "
    "battery solar hydrogen biomass heatpump boiler insulation retrofit carbon methane "
    "patent trademark copyright licence prototype pilot batch tooling mould casting "
    "software database cloud server firewall backup website ecommerce marketplace "
    "broadband fibre satellite antenna router cable modem ledger spreadsheet forecast "
    "budget cashflow overdraft mortgage equity investor angel crowdfund dividend "
    "revenue margin discount wholesale retail franchise startup spinout incubator "
    "accelerator campus laboratory research chemist biology genome vaccine clinic "
    "pharmacy hospital nursing dental optician veterinary livestock dairy cheese "
    "orchard vineyard brewery distillery bakery butcher fishery harbour ferry railway "
    "tram bicycle scooter lorry van forklift crane quarry timber sawmill furniture "
    "textile wool leather pottery glass ceramic plastic recycling compost landfill "
    "flood drought storm wildfire erosion hedgerow woodland meadow upland coastal "
    "tourism hotel campsite festival museum gallery theatre cinema studio podcast "
    "translation dialect signage leaflet brochure newsletter hashtag influencer "
    "branding logo slogan packaging label barcode inventory stocktake procurement "
    "supplier vendor haulier logistics depot parcel locker kiosk vending canteen "
    "catering menu recipe allergen hygiene audit permit zoning planning council "
    "mayor parliament minister regulator ombudsman tribunal lawsuit arbitration "
    "mediation insolvency merger acquisition buyout succession trustee charity "
    "volunteer cooperative mutual guild chamber network cluster hub roundtable "
    "webinar workshop seminar hackathon bootcamp curriculum diploma certificate "
    "welding plumbing roofing joinery masonry scaffolding tiling glazing plaster "
    "cyber phishing malware ransomware encryption password biometric privacy "
    "accessibility wheelchair ramp braille hearing dyslexia neurodiverse wellbeing "
    "mindfulness burnout flexitime hybrid commute carpool parking charger inverter"
).split()
FILLER = (
    "we our the a an to for of in on with how what which can do does is are any who "
    "should there this that from about need want find help get best way start looking "
    "local small new first next year team"
).split()


def _tail_words() -> list[str]:
    """The long tail real text has (places, products, firms): made-up words from syllables,
    ending in sounds no stemmer strips (-ak, -ox, -ez, ...)."""
    onsets = ("b", "br", "d", "dr", "f", "g", "gl", "k", "l", "m", "n", "p", "pl", "r", "s")
    vowels = ("a", "e", "i", "o", "u")
    codas = ("k", "x", "z", "p", "g")
    rng = random.Random(SEED - 1)
    words = {
        rng.choice(onsets) + rng.choice(vowels) + rng.choice(onsets) + rng.choice(vowels)
        + rng.choice(onsets) + rng.choice(vowels) + rng.choice(codas)
        for _ in range(3000)
    }  # fmt: skip
    return sorted(words)


@cache
def _words() -> tuple[list[str], list[str]]:
    """(content words by popularity, tail words): no word inside another word."""
    content = list(dict.fromkeys(CONTENT))
    everything = set(content) | set(FILLER)
    content = [w for w in content if not any(w != o and w in o for o in everything)]
    tail = [w for w in _tail_words() if not any(c in w for c in content)]
    tail_set = set(tail)
    tail = [w for w in tail if not any(w != o and w in o for o in tail_set)]
    return content, tail


def _vocabulary() -> list[str]:
    content, tail = _words()
    return content + tail


# --- the throwaway database -----------------------------------------------------------------


class Database:
    """A fresh database for this run: a SQLite temp file, or a new PostgreSQL database."""

    def __init__(self) -> None:
        self.admin_url = os.environ.get("DATABASE_URL", "")
        self.tempdir: str | None = None
        self.pg_name: str | None = None

    def __enter__(self) -> Database:
        if self.admin_url:
            import psycopg

            self.pg_name = f"convene_qa_bench_{os.getpid()}_{secrets.token_hex(4)}"
            with psycopg.connect(self.admin_url, autocommit=True) as conn:
                conn.execute(f'CREATE DATABASE "{self.pg_name}"')
            parts = urlsplit(self.admin_url)
            os.environ["DATABASE_URL"] = urlunsplit(parts._replace(path=f"/{self.pg_name}"))
        else:
            self.tempdir = tempfile.mkdtemp(prefix="convene-qa-bench-")
            os.environ["SQLITE_PATH"] = str(Path(self.tempdir) / "bench.sqlite3")
        return self

    def __exit__(self, *exc) -> None:
        try:
            from django.db import connections

            connections.close_all()
        except Exception:  # Django may never have been set up
            pass
        if self.pg_name:
            import psycopg

            with psycopg.connect(self.admin_url, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{self.pg_name}" WITH (FORCE)')
            os.environ["DATABASE_URL"] = self.admin_url
        if self.tempdir:
            shutil.rmtree(self.tempdir, ignore_errors=True)


def _django_setup() -> None:
    # A benchmark wants production-like settings: DEBUG off (no query log, cached
    # templates). Production settings want a secret key; this process's own is throwaway.
    os.environ["DEBUG"] = "0"
    os.environ.setdefault("SECRET_KEY", "bench-" + secrets.token_hex(32))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()


# --- generated data ---------------------------------------------------------------------------


def generate(n_questions: int, *, seed: int = SEED) -> dict[str, Any]:
    """N questions (a third with 1-3 answers), 40 tags, 200 members, in bulk. Deterministic."""
    from django.db import transaction
    from django.utils.html import escape

    from community.models import Member
    from qa.models import Answer, Question, Tag
    from realtime.models import Stream

    rng = random.Random(seed)
    words, tail = _words()
    # Popular words much more often than others (a flattened Zipf: the most common is in
    # about a quarter of the questions, the least in 2 to 3 in a hundred), and a long
    # tail of names, each in a handful of questions.
    weights = [1 / (rank + 30) for rank in range(len(words))]
    start = datetime(2022, 1, 1, tzinfo=UTC)

    def sentence(k: int) -> str:
        picked = rng.choices(words, weights, k=k)
        if rng.random() < 0.35:
            picked.append(rng.choice(tail).capitalize())
        mixed = [w for word in picked for w in (*rng.choices(FILLER, k=2), word)]
        return " ".join(mixed).capitalize() + rng.choice(".?")

    def text(sentences: int) -> str:
        return " ".join(sentence(rng.randint(2, 4)) for _ in range(sentences))

    started = time.perf_counter()
    with transaction.atomic():
        members = Member.objects.bulk_create(
            Member(
                email=f"bench{i}@example.com",
                display_name=f"Bench Member {i}",
                password="!",  # unusable
            )
            for i in range(200)
        )
        tags = Tag.objects.bulk_create(Tag(slug=w, name=w) for w in rng.sample(words, 40))
    through = Question.tags.through
    batch = 2000
    made, answers_made = 0, 0
    while made < n_questions:
        size = min(batch, n_questions - made)
        with transaction.atomic():
            streams = Stream.objects.bulk_create(Stream() for _ in range(size))
            questions = []
            answer_plan = []
            for i in range(size):
                number = made + i
                created = start + timedelta(minutes=7 * number + rng.randint(0, 6))
                body = text(rng.randint(3, 8))
                n_answers = rng.choice((0, 0, 1, 1, 2, 3)) if rng.random() < 0.5 else 0
                answer_plan.append(n_answers)
                questions.append(
                    Question(
                        title=sentence(rng.randint(2, 4))[:200],
                        body=body,
                        html=f"<p>{escape(body)}</p>",
                        author=rng.choice(members),
                        created=created,
                        last_activity=created + timedelta(hours=n_answers),
                        score=rng.randint(-2, 25),
                        answer_count=n_answers,
                        view_count=rng.randint(0, 500),
                        stream=streams[i],
                    )
                )
            Question.objects.bulk_create(questions)
            through.objects.bulk_create(
                through(question_id=q.pk, tag_id=tag.pk)
                for q in questions
                for tag in rng.sample(tags, rng.randint(1, 3))
            )
            answers = []
            for q, n_answers in zip(questions, answer_plan, strict=True):
                for k in range(n_answers):
                    body = text(rng.randint(2, 5))
                    answers.append(
                        Answer(
                            question_id=q.pk,
                            body=body,
                            html=f"<p>{escape(body)}</p>",
                            author=rng.choice(members),
                            created=q.created + timedelta(hours=k + 1),
                            score=rng.randint(-1, 10),
                        )
                    )
            Answer.objects.bulk_create(answers)
            answers_made += len(answers)
        made += size
    return {
        "questions": made,
        "answers": answers_made,
        "tags": len(tags),
        "members": len(members),
        "seconds": round(time.perf_counter() - started, 1),
    }


def queries(count: int, *, seed: int = SEED) -> list[str]:
    """Common, middling and rare words, names from the tail, and pairs, in a fixed mix."""
    rng = random.Random(seed + 1)
    words, tail = _words()
    third = len(words) // 3
    common, middling, rare = words[:third], words[third : 2 * third], words[2 * third :]
    out = []
    for i in range(count):
        kind = i % 20
        if kind < 6:
            out.append(rng.choice(common))
        elif kind < 10:
            out.append(rng.choice(middling))
        elif kind < 13:
            out.append(rng.choice(rare))
        elif kind < 16:
            out.append(rng.choice(tail))
        else:
            out.append(f"{rng.choice(common)} {rng.choice(words)}")
    return out


# --- search ----------------------------------------------------------------------------------


def _percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    cut = statistics.quantiles(ordered, n=100, method="inclusive") if len(ordered) > 1 else None

    def pick(p: int) -> float:
        return ordered[0] if cut is None else cut[p - 1]

    return {
        "p50_ms": round(pick(50) * 1000, 2),
        "p95_ms": round(pick(95) * 1000, 2),
        "mean_ms": round(statistics.fmean(ordered) * 1000, 2),
    }


def _timed_pair(
    ours: Callable[[str], Any], baseline: Callable[[str], Any], qs: list[str]
) -> tuple[list[float], list[float], list[Any], list[Any]]:
    """Each query both ways, one right after the other (alternating which goes first),
    so a burst of other work on the machine falls on both sides alike."""
    times: dict[Any, list[float]] = {ours: [], baseline: []}
    results: dict[Any, list[Any]] = {ours: [], baseline: []}
    for i, q in enumerate(qs):
        for fn in (ours, baseline) if i % 2 == 0 else (baseline, ours):
            t0 = time.perf_counter()
            result = fn(q)
            times[fn].append(time.perf_counter() - t0)
            results[fn].append(result)
    return times[ours], times[baseline], results[ours], results[baseline]


def measure_search(qs: list[str]) -> dict[str, Any]:
    from qa import search, selectors
    from qa.models import Question

    def indexed_page(q: str) -> list[int]:
        return [question.pk for question in selectors.question_list(q=q, limit=PAGE).items]

    def scan_page(q: str) -> list[int]:
        # The same related rows as the list (selectors' own queryset), newest first.
        rows = search.scan_filter(selectors._questions(), q).order_by("-created", "-id")
        return [question.pk for question in rows[:PAGE]]

    def indexed_newest(q: str) -> list[int]:
        items = selectors.question_list(q=q, sort="newest", limit=PAGE).items
        return [question.pk for question in items]

    def indexed_all(q: str) -> list[int]:
        return list(search.search_filter(Question.objects.all(), q).values_list("pk", flat=True))

    def scan_all(q: str) -> list[int]:
        return list(search.scan_filter(Question.objects.all(), q).values_list("pk", flat=True))

    results: dict[str, Any] = {}
    hits: dict[str, list[Any]] = {}
    for name, ours, baseline in (
        ("first page", indexed_page, scan_page),
        ("first page, newest", indexed_newest, scan_page),
        ("all matches", indexed_all, scan_all),
    ):
        _timed_pair(ours, baseline, qs[:5])  # warm caches and plans
        ours_t, base_t, ours_r, base_r = _timed_pair(ours, baseline, qs)
        results[name] = {"ours": _percentiles(ours_t), "baseline": _percentiles(base_t)}
        hits[name] = [ours_r, base_r]
    indexed, scanned = hits["all matches"]
    disagree = [q for q, a, b in zip(qs, indexed, scanned, strict=True) if set(a) != set(b)]
    sizes = [len(r) for r in indexed]
    results["agreement"] = {
        "queries": len(qs),
        "same_hits": len(qs) - len(disagree),
        "differing": sorted(set(disagree))[:20],
        "hits_p50": statistics.median(sizes),
        "hits_max": max(sizes),
    }
    return results


# --- pages -----------------------------------------------------------------------------------


def noop(request):
    """The baseline: the same middleware, no template, no database."""
    from django.http import HttpResponse

    return HttpResponse(b"ok", content_type="text/plain")


def __getattr__(name: str):
    """`urlpatterns`, built on first use (after django.setup()): this module is the bench's
    URLconf, the app's own plus the no-database view."""
    if name == "urlpatterns":
        from django.urls import include, path

        return [path(NOOP_PATH, noop), path("", include("config.urls"))]
    raise AttributeError(name)


def measure_pages(seconds: float, qs: list[str]) -> dict[str, Any]:
    from django.test import Client, override_settings

    from qa.models import Question

    rng = random.Random(SEED + 2)
    ids = list(Question.objects.filter(answer_count__gt=0).values_list("pk", flat=True)[:5000])
    ids = ids or list(Question.objects.values_list("pk", flat=True)[:5000])
    targets: dict[str, Callable[[], str]] = {
        "no-database view (baseline)": lambda: "/" + NOOP_PATH,
        "question list (/questions/)": lambda: "/questions/",
        "search page (/questions/?q=)": lambda: f"/questions/?q={rng.choice(qs)}",
        "question page (/questions/<id>/)": lambda: f"/questions/{rng.choice(ids)}/",
    }
    # Round-robin: every target gets a slice in each round, so a burst of other work on
    # the machine falls on all of them alike rather than on whichever ran then.
    rounds = 5
    counts = dict.fromkeys(targets, 0)
    spent = dict.fromkeys(targets, 0.0)
    with override_settings(
        ROOT_URLCONF=__name__,
        ALLOWED_HOSTS=["testserver"],
        SECURE_SSL_REDIRECT=False,
    ):
        client = Client()
        for name, url in targets.items():
            for _ in range(5):  # warm up
                if client.get(url()).status_code != 200:
                    raise RuntimeError(f"{name}: not HTTP 200")
        for _ in range(rounds):
            for name, url in targets.items():
                t0 = time.perf_counter()
                while (elapsed := time.perf_counter() - t0) < seconds / rounds:
                    response = client.get(url())
                    if response.status_code != 200:
                        raise RuntimeError(f"{name}: HTTP {response.status_code}")
                    counts[name] += 1
                spent[name] += elapsed
    results: dict[str, Any] = {
        name: {"requests": counts[name], "rps": round(counts[name] / spent[name], 1)}
        for name in targets
    }
    baseline = results["no-database view (baseline)"]["rps"]
    for figures in results.values():
        figures["ratio"] = round(figures["rps"] / baseline, 4)
    return results


# --- the machine, the run ---------------------------------------------------------------------


def machine() -> dict[str, Any]:
    cpu = platform.processor() or "unknown"
    mem = None
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem = round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass

    def git(*args: str) -> str:
        try:
            return subprocess.run(
                ["git", *args],
                cwd=REPO_ROOT,
                capture_output=True,
                text=True,
                check=False,
            ).stdout.strip()
        except OSError:
            return ""

    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gib": mem,
        "python": platform.python_version(),
        "kernel": platform.release(),
        "commit": git("rev-parse", "--short", "HEAD"),
        "worktree_changed": bool(git("status", "--porcelain", "--untracked-files=no")),
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        # Other work on the machine skews every figure; this says how busy it was.
        "load_average_1m": round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None,
    }


def _database_version() -> str:
    from django.db import connection

    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SHOW server_version")
            return f"PostgreSQL {cursor.fetchone()[0]}"
        cursor.execute("SELECT sqlite_version()")
        return f"SQLite {cursor.fetchone()[0]}"


def _print_report(report: dict[str, Any]) -> None:
    m = report["machine"]
    print(f"\n# Q&A search benchmark, {report['database']}")
    print(
        f"{m['cpu']}, {m['cores']} cores, {m['memory_gib']} GiB; Python {m['python']}; "
        f"commit {m['commit']}{' (+ local changes)' if m['worktree_changed'] else ''}; "
        f"{m['date']}; load average at the end {m['load_average_1m']}"
    )
    d = report["data"]
    print(
        f"data: {d['questions']:,} questions, {d['answers']:,} answers, {d['tags']} tags "
        f"(generated in {d['seconds']} s); {report['search']['agreement']['queries']} queries"
    )
    print(
        "\nsearch latency      |  index p50 |  index p95 |   scan p50 |   scan p95 "
        "| scan/index p50, p95"
    )
    for name in ("first page", "first page, newest", "all matches"):
        ours, base = report["search"][name]["ours"], report["search"][name]["baseline"]
        p50 = base["p50_ms"] / ours["p50_ms"] if ours["p50_ms"] else float("inf")
        p95 = base["p95_ms"] / ours["p95_ms"] if ours["p95_ms"] else float("inf")
        print(
            f"{name:<19} | {ours['p50_ms']:>7.2f} ms | {ours['p95_ms']:>7.2f} ms "
            f"| {base['p50_ms']:>7.2f} ms | {base['p95_ms']:>7.2f} ms | {p50:.1f}x, {p95:.1f}x"
        )
    agreement = report["search"]["agreement"]
    print(
        f"same hits from both: {agreement['same_hits']}/{agreement['queries']} queries "
        f"(hits per query: median {agreement['hits_p50']}, max {agreement['hits_max']})"
        + (f"; differing: {', '.join(agreement['differing'])}" if agreement["differing"] else "")
    )
    print("\npages (in-process test Client)   |  requests/s | share of the no-database view")
    for name, figures in report["pages"].items():
        print(f"{name:<32} | {figures['rps']:>11,.1f} | {figures['ratio']:.3f}")


def main(argv: list[str] | None = None) -> int:
    # A TERM (e.g. a CI timeout) still drops the throwaway database.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    parser = argparse.ArgumentParser(prog="python -m bench.qa_search", description=__doc__)
    parser.add_argument("--questions", type=int, default=None, help="default 100,000")
    parser.add_argument("--quick", action="store_true", help="5,000 questions, shorter runs")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=None, help="per page (default 5; 2)")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = parser.parse_args(argv)
    n = args.questions or (5000 if args.quick else 100_000)
    seconds = args.seconds if args.seconds is not None else (2.0 if args.quick else 5.0)

    with Database():
        _django_setup()
        from django.core.management import call_command
        from django.db import connection

        print("migrating a fresh database ...", file=sys.stderr)
        call_command("migrate", verbosity=0, interactive=False)
        print(f"generating {n:,} questions ...", file=sys.stderr)
        data = generate(n)
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("ANALYZE")
        else:
            with connection.cursor() as cursor:
                cursor.execute("ANALYZE")
                cursor.execute("INSERT INTO qa_question_fts(qa_question_fts) VALUES ('optimize')")
        qs = queries(args.queries)
        load_before = round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None
        print(f"searching ({len(qs)} queries, each way) ...", file=sys.stderr)
        search_figures = measure_search(qs)
        print(f"requesting pages ({seconds:g} s each) ...", file=sys.stderr)
        page_figures = measure_pages(seconds, qs)
        report = {
            "load_average_1m_before_measuring": load_before,
            "database": _database_version(),
            "machine": machine(),
            "data": data,
            "search": search_figures,
            "pages": page_figures,
            "client": "django.test.Client, in-process, one request at a time",
        }
    _print_report(report)
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
