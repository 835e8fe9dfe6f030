"""Import a Stack Exchange data dump as questions, answers, votes and accepted answers,
plus, when the folder has them, authors' names, tag descriptions, comments and revisions.

Required: Posts.xml and Votes.xml. Optional: Users.xml, Tags.xml, Comments.xml and
PostHistory.xml. Every file is streamed with iterparse (each row cleared once read); the
import is idempotent (rows are keyed by their source ids; a re-run changes nothing) and
all or nothing (one transaction). Every post is credited to its source, its author and
its licence. The report says what was created, updated, unchanged, and what was skipped
and why.

- Posts: bodies are the dump's HTML, stored as-is in `body`, with `html` that HTML
  through the one sanitiser (`render_html_fragment`).
- Votes: up votes (VoteTypeId 2) +1, down votes (3) -1, on posts in the dump; votes on
  posts missing from the dump (deleted posts) are skipped and counted.
  `score = imported_score + local votes` holds throughout: a changed imported score
  moves `score` by the difference, with F().
- Users.xml: DisplayName becomes `source_author_name` of the posts the user wrote (the
  credit line shows it instead of "user N"), and the credited name of their comments and
  revisions. Only users that something imported refers to are kept in memory.
- Tags.xml: the excerpt (the body of the post ExcerptPostId names, else the start of the
  wiki post WikiPostId) becomes the plain-text `description` of tags the imported
  questions use, with `description_source` pointing at the tag's page there. Counts are
  ignored (ours are counted from our rows). A description from elsewhere is never
  overwritten.
- Comments.xml: comments on imported questions and answers. Their Text is plain text
  (Stack Exchange's comment mini-markdown), stored raw in `body` and rendered by the one
  renderer (`render_markdown`: raw HTML off, then the allow-list) into `html`.
- PostHistory.xml: revisions of imported posts. Rows sharing a RevisionGUID are one
  revision; types 1/2/3 (initial title/body/tags), 4/5/6 (edits) and 7/8/9 (rollbacks)
  map onto `Revision` (each revision holds the full title, body and tags after it, as
  ours do). A history body is the author's markdown source, so revisions show the
  markdown that was written while the post shows the dump's rendered HTML. Every other
  type (closed, reopened, deleted, locked, notices, ...) is skipped and counted. A
  post with edits gets `updated` = its last revision's date, so its page links to them.
"""

from __future__ import annotations

import html as html_lib
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

from community.markup import render_html_fragment, render_markdown
from qa.models import Answer, Comment, Question, Revision, Tag
from qa.services import TAG_MAX_CHARS, TAG_PATTERN, question_stream, question_stream_label

QUESTION, ANSWER = "1", "2"
TAG_EXCERPT, TAG_WIKI = "4", "5"
UP, DOWN = "2", "3"
# Stack Exchange moved user content from CC BY-SA 3.0 to 4.0 on this day.
LICENCE_4_FROM = datetime(2018, 5, 2, tzinfo=UTC)
_TAGS = re.compile(r"<([^<>]+)>")
_MARKUP = re.compile(r"<[^>]*>")
NAME_MAX_CHARS = 100  # Comment.source_author, Revision.source_author, *.source_author_name
DESCRIPTION_MAX_CHARS = 600

# PostHistoryTypeId -> the part of a revision it sets.
HISTORY_FIELDS = {
    "1": "title",
    "2": "body",
    "3": "tags",
    "4": "title",
    "5": "body",
    "6": "tags",
    "7": "title",
    "8": "body",
    "9": "tags",
}
HISTORY_ROLLBACKS = {"7", "8", "9"}
HISTORY_TYPE_NAMES = {
    "10": "closed",
    "11": "reopened",
    "12": "deleted",
    "13": "undeleted",
    "14": "locked",
    "15": "unlocked",
    "16": "community owned",
    "17": "migrated",
    "18": "question merged",
    "19": "protected",
    "20": "unprotected",
    "22": "question unmerged",
    "24": "suggested edit applied",
    "25": "tweeted",
    "31": "moved to chat",
    "33": "notice added",
    "34": "notice removed",
    "35": "migrated away",
    "36": "migrated here",
    "37": "merge source",
    "38": "merge destination",
    "50": "bumped",
    "52": "hot network question",
    "53": "hot network question removed",
}
OPTIONAL_FILES = ("Users.xml", "Tags.xml", "Comments.xml", "PostHistory.xml")


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

    @property
    def changed(self) -> int:
        return self.created + self.updated

    def __str__(self) -> str:
        return (
            f"{self.total} ({self.created} created, {self.updated} updated, "
            f"{self.unchanged} unchanged)"
        )


def _reasons(counter: Counter) -> str:
    return "; ".join(f"{n} {reason}" for reason, n in sorted(counter.items()))


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
    # Optional files: which were read, and what came of each.
    files_read: list[str] = field(default_factory=list)
    users_read: int = 0
    users_named: int = 0
    users_skipped: Counter = field(default_factory=Counter)
    tag_descriptions: Tally = field(default_factory=Tally)
    tag_rows_skipped: Counter = field(default_factory=Counter)
    comments: Tally = field(default_factory=Tally)
    comments_skipped: Counter = field(default_factory=Counter)
    revisions: Tally = field(default_factory=Tally)
    history_rows_read: int = 0
    history_skipped: Counter = field(default_factory=Counter)
    posts_edit_dates_changed: int = 0

    @property
    def changed(self) -> int:
        return (
            self.questions.changed
            + self.answers.changed
            + self.accepted_changed
            + self.tags_created
            + self.tag_descriptions.changed
            + self.comments.changed
            + self.revisions.changed
            + self.posts_edit_dates_changed
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
        absent = [name for name in OPTIONAL_FILES if name not in self.files_read]
        if "Users.xml" in self.files_read:
            lines.append(
                f"users: {self.users_read} read, {self.users_named} credited by name, "
                f"{sum(self.users_skipped.values())} skipped"
                + (f" ({_reasons(self.users_skipped)})" if self.users_skipped else "")
            )
        if "Tags.xml" in self.files_read:
            lines.append(f"tag descriptions {self.tag_descriptions}")
            lines.append(
                f"tag rows skipped: {sum(self.tag_rows_skipped.values())}"
                + (f" ({_reasons(self.tag_rows_skipped)})" if self.tag_rows_skipped else "")
            )
        if "Comments.xml" in self.files_read:
            lines.append(f"comments {self.comments}")
            lines.append(
                f"comments skipped: {sum(self.comments_skipped.values())}"
                + (f" ({_reasons(self.comments_skipped)})" if self.comments_skipped else "")
            )
        if "PostHistory.xml" in self.files_read:
            lines.append(f"revisions {self.revisions}")
            lines.append(f"post history rows read: {self.history_rows_read}")
            lines.append(
                f"post history rows skipped: {sum(self.history_skipped.values())}"
                + (f" ({_reasons(self.history_skipped)})" if self.history_skipped else "")
            )
            lines.append(f"posts' edit dates changed: {self.posts_edit_dates_changed}")
        if absent:
            lines.append(f"not in the folder (nothing imported from them): {', '.join(absent)}")
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
        try:
            for n, (_event, element) in enumerate(ET.iterparse(stream, events=("end",))):  # noqa: S314
                if element.tag == "row":
                    yield dict(element.attrib)
                    if progress is not None and n % 200 == 0:
                        progress(path.name, stream.tell(), size)
                element.clear()
        except ET.ParseError as error:
            raise ImportFailed(f"{path} is not valid XML: {error}") from None
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


def _tag_names(text: str) -> list[str]:
    """`<a><b>` (classic dumps) or `|a|b|` (dumps from 2024 on)."""
    if "<" in text:
        return _TAGS.findall(text)
    return [name for name in text.split("|") if name]


def _plain(text: str) -> str:
    """HTML or text to one line of plain text (markup dropped, entities decoded)."""
    return " ".join(html_lib.unescape(_MARKUP.sub(" ", text)).split())


def _shorten(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    cut = text[: limit - 1].rsplit(" ", 1)[0]
    return cut + "…"


def _name(row: dict[str, str], names: dict[int, str], *, user_key: str, display_key: str) -> str:
    """The credited name: the user's DisplayName in Users.xml, else the row's own name."""
    user = _int(row.get(user_key))
    name = names.get(user) if user is not None else None
    return (name or row.get(display_key, "").strip())[:NAME_MAX_CHARS]


def _credit(name: str, user: int | None) -> str:
    """How a comment or revision author is shown (they have no profile link)."""
    if name:
        return name
    return f"user {user}" if user and user > 0 else "a community user"


def _provenance(site: str, row: dict[str, str], *, kind: str, names: dict[int, str]) -> dict:
    post_id = int(row["Id"])
    owner = _int(row.get("OwnerUserId"))
    created = _when(row["CreationDate"])
    path = "q" if kind == QUESTION else "a"
    return {
        "source_url": f"https://{site}/{path}/{post_id}",
        "source_author_id": owner if owner and owner > 0 else None,
        "source_author_url": f"https://{site}/users/{owner}" if owner and owner > 0 else "",
        "source_author_name": _name(
            row, names, user_key="OwnerUserId", display_key="OwnerDisplayName"
        ),
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
    """Import a dump folder (see the module's docstring). All or nothing.

    `progress(file_name, bytes_read, size)` is called as each file streams by."""
    token = _progress.set(progress)
    try:
        return _Import(directory=Path(directory), site=site).run()
    except ET.ParseError as error:
        raise ImportFailed(f"The dump is not valid XML: {error}") from None
    except (KeyError, ValueError) as error:
        raise ImportFailed(
            f"The dump has a malformed row ({error!r}); nothing was imported."
        ) from None
    finally:
        _progress.reset(token)


class _Import:
    def __init__(self, *, directory: Path, site: str | None) -> None:
        self.directory = directory
        self.site = site or directory.name
        self.report = ImportReport(site=self.site)
        self.post_types: dict[int, str] = {}
        self.wiki_bodies: dict[int, str] = {}  # tag excerpt and wiki posts: id -> body
        self.names: dict[int, str] = {}  # Users.xml: only the users something refers to
        self.questions: dict[int, Question] = {}  # by source id
        self.answers: dict[int, Answer] = {}
        self.site_tags: set[str] = set()  # slugs the imported questions carry

    def path(self, name: str) -> Path | None:
        path = self.directory / name
        return path if path.is_file() else None

    def run(self) -> ImportReport:
        posts_path, votes_path = self.directory / "Posts.xml", self.directory / "Votes.xml"
        for path in (posts_path, votes_path):
            if not path.is_file():
                raise ImportFailed(
                    f"{path} is missing: give the folder holding Posts.xml and Votes.xml."
                )
        referenced = self.posts_scan(posts_path)
        scores = _vote_scores(votes_path, self.post_types, self.report)
        if users_path := self.path("Users.xml"):
            self.users(users_path, referenced)
        self.import_questions(posts_path, scores)
        self.import_answers(posts_path, scores)
        self.accepted_answers()
        if tags_path := self.path("Tags.xml"):
            self.tag_descriptions(tags_path)
        if comments_path := self.path("Comments.xml"):
            self.comments(comments_path)
        if history_path := self.path("PostHistory.xml"):
            self.history(history_path)
        return self.report

    # --- Posts, pass 1: which posts exist, their types; tag wiki text; who wrote them ----

    def posts_scan(self, path: Path) -> set[int]:
        owners: set[int] = set()
        for row in _rows(path):
            post_id, kind = int(row["Id"]), row.get("PostTypeId", "")
            self.post_types[post_id] = kind
            if kind in (QUESTION, ANSWER):
                owner = _int(row.get("OwnerUserId"))
                if owner is not None:
                    owners.add(owner)
            elif kind in (TAG_EXCERPT, TAG_WIKI):
                self.wiki_bodies[post_id] = row.get("Body", "")
        return owners

    # --- Users.xml ----------------------------------------------------------------------

    def users(self, path: Path, referenced: set[int]) -> None:
        """Keep the DisplayName of every user a post, comment or revision refers to."""
        self.report.files_read.append(path.name)
        for name in ("Comments.xml", "PostHistory.xml"):
            if other := self.path(name):
                for row in _rows(other):
                    if _int(row.get("PostId")) in self.post_types:
                        user = _int(row.get("UserId"))
                        if user is not None:
                            referenced.add(user)
        for row in _rows(path):
            self.report.users_read += 1
            user = int(row["Id"])
            name = row.get("DisplayName", "").strip()
            if user not in referenced:
                self.report.users_skipped["not the author of anything imported"] += 1
            elif not name:
                self.report.users_skipped["no DisplayName"] += 1
            else:
                self.names[user] = name[:NAME_MAX_CHARS]
                self.report.users_named += 1

    # --- Posts, pass 2: questions ---------------------------------------------------------

    def import_questions(self, path: Path, scores: Counter) -> None:
        report, site = self.report, self.site
        self.accepted: dict[int, int] = {}
        tag_cache: dict[str, Tag] = {tag.slug: tag for tag in Tag.objects.all()}
        self.questions = {q.source_id: q for q in Question.objects.filter(source_site=site)}
        for row in _rows(path):
            kind = row.get("PostTypeId", "")
            if kind != QUESTION:
                if kind != ANSWER:
                    report.posts_skipped[kind] += 1
                continue
            source_id = int(row["Id"])
            values = _provenance(site, row, kind=QUESTION, names=self.names)
            values["title"] = row.get("Title", "").strip() or f"Question {source_id}"
            values["last_activity"] = _when(row.get("LastActivityDate") or row["CreationDate"])
            question = self.questions.get(source_id)
            created = question is None
            if created:
                question = Question.objects.create(
                    source_site=site, source_id=source_id, stream=question_stream(), **values
                )
                question_stream_label(question)
                self.questions[source_id] = question
                changed = False
            else:
                if question.last_activity > values["last_activity"]:
                    del values["last_activity"]  # activity here since the dump was taken
                changed = _sync(question, values)
            changed |= _imported_score_set(Question, question, scores[source_id])
            tags = _tags(_tag_names(row.get("Tags", "")), tag_cache, report)
            self.site_tags.update(tag.slug for tag in tags)
            if {tag.pk for tag in tags} != set(question.tags.values_list("pk", flat=True)):
                question.tags.set(tags)
                changed = True
            if _int(row.get("AcceptedAnswerId")):
                self.accepted[source_id] = int(row["AcceptedAnswerId"])
            _tally(report.questions, created=created, changed=changed)

    # --- Posts, pass 3: answers -----------------------------------------------------------

    def import_answers(self, path: Path, scores: Counter) -> None:
        report, site = self.report, self.site
        self.answers = {a.source_id: a for a in Answer.objects.filter(source_site=site)}
        for row in _rows(path):
            if row.get("PostTypeId") != ANSWER:
                continue
            source_id = int(row["Id"])
            question = self.questions.get(_int(row.get("ParentId")))
            if question is None:
                report.answers_orphaned += 1
                continue
            values = _provenance(site, row, kind=ANSWER, names=self.names)
            answer = self.answers.get(source_id)
            created = answer is None
            if created:
                answer = Answer.objects.create(
                    source_site=site, source_id=source_id, question=question, **values
                )
                Question.objects.filter(pk=question.pk).update(answer_count=F("answer_count") + 1)
                self.answers[source_id] = answer
                changed = False
            else:
                if answer.question_id != question.pk:
                    raise ImportFailed(
                        f"Answer {source_id} moved between questions; not supported."
                    )
                changed = _sync(answer, values)
            changed |= _imported_score_set(Answer, answer, scores[source_id])
            _tally(report.answers, created=created, changed=changed)

    # --- Posts, pass 4: accepted answers ------------------------------------------------

    def accepted_answers(self) -> None:
        report = self.report
        for question_source_id, answer_source_id in self.accepted.items():
            question = self.questions[question_source_id]
            answer = self.answers.get(answer_source_id)
            if answer is None or answer.question_id != question.pk or answer.is_hidden:
                continue
            report.accepted += 1
            current = Question.objects.values_list("accepted_answer_id", flat=True).get(
                pk=question.pk
            )
            if current != answer.pk:
                Question.objects.filter(pk=question.pk).update(accepted_answer=answer)
                report.accepted_changed += 1

    # --- Tags.xml -----------------------------------------------------------------------

    def tag_descriptions(self, path: Path) -> None:
        report = self.report
        report.files_read.append(path.name)
        for row in _rows(path):
            name = row.get("TagName", "").strip().lower()
            if len(name) > TAG_MAX_CHARS or not TAG_PATTERN.match(name):
                report.tag_rows_skipped["not a valid tag name"] += 1
                continue
            if name not in self.site_tags:
                report.tag_rows_skipped["no imported question uses it"] += 1
                continue
            text = _plain(self.wiki_bodies.get(_int(row.get("ExcerptPostId")), ""))
            if not text:
                text = _plain(self.wiki_bodies.get(_int(row.get("WikiPostId")), ""))
            if not text:
                report.tag_rows_skipped["no excerpt or wiki text in the dump"] += 1
                continue
            source = f"https://{self.site}/tags/{name}/info"
            tag = Tag.objects.get(slug=name)
            if tag.description and tag.description_source != source:
                report.tag_rows_skipped["already has a description from elsewhere"] += 1
                continue
            created = not tag.description
            changed = _sync(
                tag,
                {
                    "description": _shorten(text, DESCRIPTION_MAX_CHARS),
                    "description_source": source,
                },
            )
            _tally(report.tag_descriptions, created=created and changed, changed=changed)

    # --- Comments.xml -------------------------------------------------------------------

    def _target(self, post_id: int | None, skipped: Counter) -> Question | Answer | None:
        """The imported question or answer with this source id; else count why not."""
        if post_id in self.questions:
            return self.questions[post_id]
        if post_id in self.answers:
            return self.answers[post_id]
        if post_id not in self.post_types:
            skipped["post not in dump"] += 1
        elif self.post_types[post_id] in (TAG_EXCERPT, TAG_WIKI):
            skipped["on a tag wiki, not a question or answer"] += 1
        elif self.post_types[post_id] == ANSWER:
            skipped["on an answer whose question is not in dump"] += 1
        else:
            skipped[f"on a post of type {self.post_types[post_id]}"] += 1
        return None

    def comments(self, path: Path) -> None:
        report, site = self.report, self.site
        report.files_read.append(path.name)
        existing = {c.source_id: c for c in Comment.objects.filter(source_site=site)}
        for row in _rows(path):
            source_id = int(row["Id"])
            post = self._target(_int(row.get("PostId")), report.comments_skipped)
            if post is None:
                continue
            text = row.get("Text", "")
            rendered = render_markdown(text.strip())
            if not _plain(rendered):
                report.comments_skipped["empty text"] += 1
                continue
            user = _int(row.get("UserId"))
            values = {
                "question_id": post.pk if isinstance(post, Question) else None,
                "answer_id": post.pk if isinstance(post, Answer) else None,
                "body": text,
                "html": rendered,
                "created": _when(row["CreationDate"]),
                "source_author": _credit(
                    _name(row, self.names, user_key="UserId", display_key="UserDisplayName"),
                    user,
                ),
            }
            comment = existing.get(source_id)
            if comment is None:
                existing[source_id] = Comment.objects.create(
                    source_site=site, source_id=source_id, **values
                )
                _tally(report.comments, created=True, changed=True)
            else:
                _tally(report.comments, created=False, changed=_sync(comment, values))

    # --- PostHistory.xml ----------------------------------------------------------------

    def history(self, path: Path) -> None:
        """Rows to revisions: rows of one revision (one RevisionGUID) are written together,
        so each post keeps one pending revision, flushed when the next one starts."""
        report = self.report
        report.files_read.append(path.name)
        states: dict[tuple[str, int], _PostHistory] = {}
        for row in _rows(path):
            report.history_rows_read += 1
            kind = row.get("PostHistoryTypeId", "")
            post_id = _int(row.get("PostId"))
            post = self._target(post_id, report.history_skipped)
            if post is None:
                continue
            part = HISTORY_FIELDS.get(kind)
            if part is None:
                label = HISTORY_TYPE_NAMES.get(kind, "not a title, body or tags change")
                report.history_skipped[f"type {kind} ({label})"] += 1
                continue
            if isinstance(post, Answer) and part != "body":
                report.history_skipped[f"type {kind} ({part} of an answer)"] += 1
                continue
            key = ("question" if isinstance(post, Question) else "answer", post.pk)
            state = states.get(key)
            if state is None:
                state = states[key] = _PostHistory(post, target_field=key[0])
            guid = row.get("RevisionGUID") or f"row-{row['Id']}"
            if state.pending is not None and state.pending["guid"] != guid:
                state.flush(report)
            if state.pending is None:
                user = _int(row.get("UserId"))
                summary = row.get("Comment", "").strip()
                if kind in HISTORY_ROLLBACKS:
                    summary = "Rolled back" + (f" to {summary}" if summary else "")
                state.pending = {
                    "guid": guid,
                    "created": _when(row["CreationDate"]),
                    "source_author": _credit(
                        _name(row, self.names, user_key="UserId", display_key="UserDisplayName"),
                        user,
                    ),
                    "summary": summary[:300],
                }
            text = row.get("Text", "")
            if part == "tags":
                text = " ".join(name.strip().lower() for name in _tag_names(text))[:300]
            elif part == "title":
                text = text.strip()[:300]
            state.current[part] = text
        for state in states.values():
            if state.pending is not None:
                state.flush(report)
            if state.number > 1:  # edited: the post's page links to its revisions
                last = state.last_created
                if _sync(state.post, {"updated": last}):
                    report.posts_edit_dates_changed += 1


class _PostHistory:
    """One imported post's revisions as PostHistory.xml rebuilds them."""

    def __init__(self, post: Question | Answer, *, target_field: str) -> None:
        self.post = post
        self.target = {target_field: post}
        self.existing = {r.number: r for r in Revision.objects.filter(**self.target)}
        self.current = {"title": "", "body": "", "tags": ""}
        self.pending: dict | None = None
        self.number = 0
        self.last_created: datetime | None = None

    def flush(self, report: ImportReport) -> None:
        pending, self.pending = self.pending, None
        self.number += 1
        self.last_created = pending["created"]
        values = {
            "title": self.current["title"] if "question" in self.target else "",
            "body": self.current["body"],
            "tags": self.current["tags"] if "question" in self.target else "",
            "created": pending["created"],
            "source_author": pending["source_author"],
            "summary": pending["summary"],
            "author_id": None,
        }
        revision = self.existing.get(self.number)
        if revision is None:
            self.existing[self.number] = Revision.objects.create(
                **self.target, number=self.number, **values
            )
            _tally(report.revisions, created=True, changed=True)
        else:
            _tally(report.revisions, created=False, changed=_sync(revision, values))


def _tally(tally: Tally, *, created: bool, changed: bool) -> None:
    if created:
        tally.created += 1
    elif changed:
        tally.updated += 1
    else:
        tally.unchanged += 1
