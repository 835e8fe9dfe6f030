"""Full-text search over questions: PostgreSQL tsvector/GIN, or SQLite FTS5.

What people type is always searched as text: `%`, `_`, quotes, `-`, `*`, `:` and
parentheses never become LIKE patterns or query syntax, and never an error.

- PostgreSQL: `websearch_to_tsquery('english', q)` against the generated
  `search_vector` column (title weight A, body weight B; GIN index, migration 0003),
  ranked with `ts_rank_cd`, snippets by `ts_headline`.
- SQLite: the FTS5 table `qa_question_fts` (porter stemmer); the text is split into
  words and each word is quoted as an FTS5 string, so no character is syntax.
  Ranked 10 for a title match plus 1 for a body match (not bm25, whose corpus statistics
  move as questions arrive and would break keyset pages); snippets by `snippet()`.

A query with no letters or digits (only punctuation, `%`, `_`) falls back to a
literal, case-insensitive substring match, which escapes `%` and `_` itself.
"""

from __future__ import annotations

import html
import json
import re

from django.db import connection
from django.db.models import BooleanField, FloatField, Q, QuerySet
from django.db.models.expressions import RawSQL

from qa.models import Question

MAX_QUERY_CHARS = 200
_WORD = re.compile(r"[^\W_]+")  # letters and digits; `_` is punctuation
_TAG = re.compile(r"<[^>]*>")
_MARK = re.compile("\x02(.*?)\x03", re.S)
START, STOP = "\x02", "\x03"

Snippet = list[tuple[str, bool]]  # (text, is it a hit); templates escape every part


def has_words(q: str) -> bool:
    return bool(_WORD.search(q))


_WORD_OR_OR = re.compile(r"(?<!\S)OR(?!\S)|[^\W_]+")


def fts5_query(q: str, *, prefix: bool = False) -> str:
    """Every word quoted: `C++ "grant" 50%` -> `"C" "grant" "50"`. Words are ANDed;
    a standalone `OR` between two words means either (as PostgreSQL's websearch does)."""
    parts: list[str] = []
    pending_or = False
    for piece in _WORD_OR_OR.findall(q)[:64]:
        if piece == "OR":
            pending_or = bool(parts) and parts[-1] != "OR"
            continue
        if pending_or:
            parts.append("OR")
            pending_or = False
        parts.append('"' + piece.replace('"', '""') + '"')
        if len([p for p in parts if p != "OR"]) >= 32:
            break
    if prefix and parts and q[-1:].isalnum():
        parts[-1] += "*"  # the word being typed
    return " ".join(parts)


def _rank_sql(q: str, *, prefix: bool = False) -> tuple[str, list]:
    if connection.vendor == "postgresql":
        if prefix:
            return (
                "ts_rank_cd(qa_question.search_vector, to_tsquery('english', %s))::float8",
                [_pg_prefix_query(q)],
            )
        return (
            "ts_rank_cd(qa_question.search_vector, websearch_to_tsquery('english', %s))::float8",
            [q],
        )
    # Not bm25: it depends on corpus statistics, so ranks would shift as questions arrive
    # and keyset pages would skip or repeat. A match in the title weighs 10, in the body 1.
    expression = fts5_query(q, prefix=prefix)
    return (
        "(CASE WHEN qa_question.id IN (SELECT rowid FROM qa_question_fts "
        "WHERE qa_question_fts MATCH %s) THEN 10.0 ELSE 0.0 END) + "
        "(CASE WHEN qa_question.id IN (SELECT rowid FROM qa_question_fts "
        "WHERE qa_question_fts MATCH %s) THEN 1.0 ELSE 0.0 END)",
        [f"title : ({expression})", f"body : ({expression})"],
    )


def _pg_prefix_query(q: str) -> str:
    """`to_tsquery` input built from words only (no user operators): w1 & w2 & w3:*."""
    words = [word.lower() for word in _WORD.findall(q)[:32]]
    parts = [f"'{word}'" for word in words]
    if parts and q[-1:].isalnum():
        parts[-1] += ":*"
    return " & ".join(parts)


def _match_sql(q: str, *, prefix: bool = False) -> tuple[str, list]:
    if connection.vendor == "postgresql":
        if prefix:
            return (
                "qa_question.search_vector @@ to_tsquery('english', %s)",
                [_pg_prefix_query(q)],
            )
        return ("qa_question.search_vector @@ websearch_to_tsquery('english', %s)", [q])
    return (
        "qa_question.id IN (SELECT rowid FROM qa_question_fts WHERE qa_question_fts MATCH %s)",
        [fts5_query(q, prefix=prefix)],
    )


def search_filter(
    questions: QuerySet[Question], q: str, *, prefix: bool = False
) -> QuerySet[Question]:
    """Questions matching `q`, annotated with `rank` (higher is better)."""
    q = q.strip()[:MAX_QUERY_CHARS]
    if not has_words(q):
        # Nothing a full-text index can use: a literal substring match instead.
        return questions.filter(Q(title__icontains=q) | Q(body__icontains=q)).annotate(
            rank=RawSQL("0.0", [], output_field=FloatField())
        )
    match, match_params = _match_sql(q, prefix=prefix)
    rank, rank_params = _rank_sql(q, prefix=prefix)
    # Both SQL texts are fixed strings from this module; what was typed is only a parameter.
    matches = RawSQL(match, match_params, output_field=BooleanField())  # noqa: S611
    ranked = RawSQL(rank, rank_params, output_field=FloatField())  # noqa: S611
    return questions.filter(matches).annotate(rank=ranked)


def scan_filter(questions: QuerySet[Question], q: str) -> QuerySet[Question]:
    """The unindexed alternative (for the benchmark): every word as a substring."""
    for word in _WORD.findall(q.strip()[:MAX_QUERY_CHARS])[:32] or [q]:
        questions = questions.filter(Q(title__icontains=word) | Q(body__icontains=word))
    return questions


def snippets(question_ids: list[int], q: str) -> dict[int, Snippet]:
    """Highlighted extracts of the bodies of these questions, in one query."""
    q = q.strip()[:MAX_QUERY_CHARS]
    if not question_ids or not has_words(q):
        return {}
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "SELECT id, ts_headline('english', regexp_replace(html, '<[^>]+>', ' ', 'g'), "
                "websearch_to_tsquery('english', %s), "
                "'StartSel=\x02, StopSel=\x03, MaxWords=30, MinWords=12, MaxFragments=2, "
                'FragmentDelimiter=" … "\') FROM qa_question WHERE id = ANY(%s)',
                [q, list(question_ids)],
            )
        else:
            cursor.execute(
                "SELECT rowid, snippet(qa_question_fts, 1, char(2), char(3), '…', 24) "
                "FROM qa_question_fts WHERE qa_question_fts MATCH %s "
                "AND rowid IN (SELECT value FROM json_each(%s))",
                [fts5_query(q), json.dumps(list(question_ids))],
            )
        rows = cursor.fetchall()
    return {pk: snippet_parts(text) for pk, text in rows if text}


def snippet_parts(text: str) -> Snippet:
    """Sentinel-marked text to (text, hit) parts; markup is dropped, nothing is marked safe."""
    text = " ".join(html.unescape(_TAG.sub(" ", text)).split())
    parts: Snippet = []
    position = 0
    for match in _MARK.finditer(text):
        if match.start() > position:
            parts.append((text[position : match.start()], False))
        parts.append((match.group(1), True))
        position = match.end()
    parts.append((text[position:], False))
    return [(part.replace(START, "").replace(STOP, ""), hit) for part, hit in parts if part]
