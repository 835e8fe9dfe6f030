"""Import a Stack Exchange data dump (Posts.xml, Votes.xml) as questions and answers.

Streams the XML with iterparse (clearing each row), is idempotent (posts are keyed
by (source_site, source_id); a re-run changes nothing), and credits every post to
its source and licence. Bodies are the dump's HTML: stored as-is in `body`, and
`html` is that HTML through the one sanitiser (`render_html_fragment`).

Scores come from Votes.xml: up votes (VoteTypeId 2) +1, down votes (3) -1, on
posts in the dump; votes on posts missing from the dump (deleted posts) are skipped
and counted. `score = imported_score + local votes` holds throughout: a changed
imported score moves `score` by the difference, with F().
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from django.db import transaction
from django.db.models import F

from community.markup import render_html_fragment
from qa.models import Answer, Question, Tag
from qa.services import TAG_MAX_CHARS, TAG_PATTERN, question_stream, question_stream_label

QUESTION, ANSWER = "1", "2"
UP, DOWN = "2", "3"
# Stack Exchange moved user content from CC BY-SA 3.0 to 4.0 on this day.
LICENCE_4_FROM = datetime(2018, 5, 2, tzinfo=UTC)
_TAGS = re.compile(r"<([^<>]+)>")


class ImportFailed(Exception):
    pass


@dataclass
class Tally:
    created: int = 0
    updated: int = 0
    unchanged: int = 0

    @property
    def total(self) -> int:
        return self.created + self.updated + self.unchanged

    def __str__(self) -> str:
        return (
            f"{self.total} ({self.created} created, {self.updated} updated, "
            f"{self.unchanged} unchanged)"
        )


@dataclass
class ImportReport:
    site: str
    questions: Tally = field(default_factory=Tally)
    answers: Tally = field(default_factory=Tally)
    accepted: int = 0
    accepted_changed: int = 0
    tags_created: int = 0
    tags_skipped: list[str] = field(default_factory=list)
    posts_skipped: Counter = field(default_factory=Counter)
    votes_read: int = 0
    votes_applied: int = 0
    votes_skipped_missing_post: int = 0
    votes_skipped_not_imported: int = 0
    votes_ignored_types: Counter = field(default_factory=Counter)
    answers_orphaned: int = 0

    @property
    def changed(self) -> int:
        return (
            self.questions.created
            + self.questions.updated
            + self.answers.created
            + self.answers.updated
            + self.accepted_changed
            + self.tags_created
        )

    def lines(self) -> list[str]:
        ignored = sum(self.votes_ignored_types.values())
        kinds = ", ".join(f"type {k}: {n}" for k, n in sorted(self.votes_ignored_types.items()))
        skipped_posts = ", ".join(f"type {k}: {n}" for k, n in sorted(self.posts_skipped.items()))
        lines = [
            f"site: {self.site}",
            f"questions: {self.questions.total}, answers: {self.answers.total}, "
            f"accepted: {self.accepted}, votes applied: {self.votes_applied}, "
            f"votes skipped: {self.votes_skipped_missing_post} (post not in dump)",
            f"questions {self.questions}",
            f"answers {self.answers}",
            f"accepted answers changed: {self.accepted_changed}",
            f"tags created: {self.tags_created}",
            f"votes skipped: {self.votes_skipped_not_imported} (post in dump but not a "
            "question or answer)",
            f"votes ignored: {ignored} (not an up or down vote{': ' + kinds if kinds else ''})",
            f"votes read: {self.votes_read}",
            f"posts skipped: {sum(self.posts_skipped.values())} (not a question or answer"
            f"{': ' + skipped_posts if skipped_posts else ''})",
        ]
        if self.answers_orphaned:
            lines.append(f"answers skipped: {self.answers_orphaned} (question not in dump)")
        if self.tags_skipped:
            lines.append(f"tags skipped (not valid tag names): {', '.join(self.tags_skipped)}")
        return lines


Progress = Callable[[str, int, int], None]  # (file name, bytes read, file size)
_progress: ContextVar[Progress | None] = ContextVar("import_progress", default=None)


def _rows(path: Path) -> Iterator[dict[str, str]]:
    """Each <row>'s attributes, streamed; each element is cleared once read.

    The dump is a file an operator chose, not upload input; ElementTree never fetches
    external entities, and expat >= 2.4.1 refuses entity-expansion ("billion laughs") bombs.
    """
    progress = _progress.get()
    size = path.stat().st_size
    with path.open("rb") as stream:
        for n, (_event, element) in enumerate(ET.iterparse(stream, events=("end",))):  # noqa: S314
            if element.tag == "row":
                yield dict(element.attrib)
                if progress is not None and n % 200 == 0:
                    progress(path.name, stream.tell(), size)
            element.clear()
    if progress is not None:
        progress(path.name, size, size)


def _when(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def _licence(created: datetime) -> str:
    return "CC BY-SA 4.0" if created >= LICENCE_4_FROM else "CC BY-SA 3.0"


def _int(text: str | None) -> int | None:
    try:
        return int(text) if text is not None else None
    except ValueError:
        return None


def _provenance(site: str, row: dict[str, str], *, kind: str) -> dict:
    post_id = int(row["Id"])
    owner = _int(row.get("OwnerUserId"))
    created = _when(row["CreationDate"])
    path = "q" if kind == QUESTION else "a"
    return {
        "source_url": f"https://{site}/{path}/{post_id}",
        "source_author_id": owner if owner and owner > 0 else None,
        "source_author_url": f"https://{site}/users/{owner}" if owner and owner > 0 else "",
        "licence": _licence(created),
        "created": created,
        "body": row.get("Body", ""),
        "html": render_html_fragment(row.get("Body", "")),
    }


def _sync(instance, values: dict) -> bool:
    """Set changed fields on an existing row; returns whether anything changed."""
    changed = [name for name, value in values.items() if getattr(instance, name) != value]
    for name in changed:
        setattr(instance, name, values[name])
    if changed:
        instance.save(update_fields=changed)
    return bool(changed)


def _imported_score_set(model, instance, new_score: int) -> bool:
    """Move imported_score to `new_score` and score by the same difference (F())."""
    delta = new_score - instance.imported_score
    if not delta:
        return False
    model.objects.filter(pk=instance.pk).update(
        imported_score=F("imported_score") + delta, score=F("score") + delta
    )
    return True


def _vote_scores(path: Path, post_types: dict[int, str], report: ImportReport) -> Counter:
    scores: Counter = Counter()
    for row in _rows(path):
        kind = row.get("VoteTypeId")
        post_id = _int(row.get("PostId"))
        if post_id not in post_types:
            report.votes_skipped_missing_post += 1
        elif kind not in (UP, DOWN):
            report.votes_ignored_types[kind] += 1
        elif post_types[post_id] not in (QUESTION, ANSWER):
            report.votes_skipped_not_imported += 1
        else:
            scores[post_id] += 1 if kind == UP else -1
            report.votes_applied += 1
        report.votes_read += 1
    return scores


def _tags(names: list[str], cache: dict[str, Tag], report: ImportReport) -> list[Tag]:
    tags = []
    for raw in names:
        name = raw.strip().lower()
        if len(name) > TAG_MAX_CHARS or not TAG_PATTERN.match(name):
            if raw not in report.tags_skipped:
                report.tags_skipped.append(raw)
            continue
        tag = cache.get(name)
        if tag is None:
            tag, created = Tag.objects.get_or_create(slug=name, defaults={"name": name})
            report.tags_created += int(created)
            cache[name] = tag
        tags.append(tag)
    return tags


@transaction.atomic
def stackexchange_import(
    *, directory: Path, site: str | None = None, progress: Progress | None = None
) -> ImportReport:
    """Import Posts.xml and Votes.xml from `directory`. All or nothing.

    `progress(file_name, bytes_read, size)` is called as each file streams by."""
    token = _progress.set(progress)
    try:
        return _import(directory=Path(directory), site=site)
    except ET.ParseError as error:
        raise ImportFailed(f"The dump is not valid XML: {error}") from None
    except (KeyError, ValueError) as error:
        raise ImportFailed(
            f"The dump has a malformed row ({error!r}); nothing was imported."
        ) from None
    finally:
        _progress.reset(token)


def _import(*, directory: Path, site: str | None) -> ImportReport:
    posts_path, votes_path = directory / "Posts.xml", directory / "Votes.xml"
    for path in (posts_path, votes_path):
        if not path.is_file():
            raise ImportFailed(
                f"{path} is missing: give the folder holding Posts.xml and Votes.xml."
            )
    site = site or directory.name
    report = ImportReport(site=site)

    # Pass 1: which posts exist, and of which type (ids and types only).
    post_types: dict[int, str] = {}
    try:
        for row in _rows(posts_path):
            post_types[int(row["Id"])] = row.get("PostTypeId", "")
    except ET.ParseError as error:
        raise ImportFailed(f"{posts_path} is not valid XML: {error}") from None
    try:
        scores = _vote_scores(votes_path, post_types, report)
    except ET.ParseError as error:
        raise ImportFailed(f"{votes_path} is not valid XML: {error}") from None

    # Pass 2: questions (and the accepted-answer ids, kept to set after the answers).
    accepted: dict[int, int] = {}
    tag_cache: dict[str, Tag] = {tag.slug: tag for tag in Tag.objects.all()}
    existing_q = {q.source_id: q for q in Question.objects.filter(source_site=site)}
    for row in _rows(posts_path):
        kind = row.get("PostTypeId", "")
        if kind != QUESTION:
            if kind != ANSWER:
                report.posts_skipped[kind] += 1
            continue
        source_id = int(row["Id"])
        values = _provenance(site, row, kind=QUESTION)
        values["title"] = row.get("Title", "").strip() or f"Question {source_id}"
        values["last_activity"] = _when(row.get("LastActivityDate") or row["CreationDate"])
        question = existing_q.get(source_id)
        created = question is None
        if created:
            question = Question.objects.create(
                source_site=site, source_id=source_id, stream=question_stream(), **values
            )
            question_stream_label(question)
            existing_q[source_id] = question
            changed = False
        else:
            if question.last_activity > values["last_activity"]:
                del values["last_activity"]  # activity here since the dump was taken
            changed = _sync(question, values)
        changed |= _imported_score_set(Question, question, scores[source_id])
        tags = _tags(_TAGS.findall(row.get("Tags", "")), tag_cache, report)
        if {tag.pk for tag in tags} != set(question.tags.values_list("pk", flat=True)):
            question.tags.set(tags)
            changed = True
        if _int(row.get("AcceptedAnswerId")):
            accepted[source_id] = int(row["AcceptedAnswerId"])
        _tally(report.questions, created=created, changed=changed)

    # Pass 3: answers.
    existing_a = {a.source_id: a for a in Answer.objects.filter(source_site=site)}
    for row in _rows(posts_path):
        if row.get("PostTypeId") != ANSWER:
            continue
        source_id = int(row["Id"])
        question = existing_q.get(_int(row.get("ParentId")))
        if question is None:
            report.answers_orphaned += 1
            continue
        values = _provenance(site, row, kind=ANSWER)
        answer = existing_a.get(source_id)
        created = answer is None
        if created:
            answer = Answer.objects.create(
                source_site=site, source_id=source_id, question=question, **values
            )
            Question.objects.filter(pk=question.pk).update(answer_count=F("answer_count") + 1)
            existing_a[source_id] = answer
            changed = False
        else:
            if answer.question_id != question.pk:
                raise ImportFailed(f"Answer {source_id} moved between questions; not supported.")
            changed = _sync(answer, values)
        changed |= _imported_score_set(Answer, answer, scores[source_id])
        _tally(report.answers, created=created, changed=changed)

    # Pass 4: accepted answers.
    for question_source_id, answer_source_id in accepted.items():
        question = existing_q[question_source_id]
        answer = existing_a.get(answer_source_id)
        if answer is None or answer.question_id != question.pk or answer.is_hidden:
            continue
        report.accepted += 1
        current = Question.objects.values_list("accepted_answer_id", flat=True).get(pk=question.pk)
        if current != answer.pk:
            Question.objects.filter(pk=question.pk).update(accepted_answer=answer)
            report.accepted_changed += 1
    return report


def _tally(tally: Tally, *, created: bool, changed: bool) -> None:
    if created:
        tally.created += 1
    elif changed:
        tally.updated += 1
    else:
        tally.unchanged += 1
