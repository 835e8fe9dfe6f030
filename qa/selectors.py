"""Reads. Query counts stay constant however many questions, answers or tags there are."""

from __future__ import annotations

import base64
import binascii
import difflib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db.models import Case, Count, IntegerField, Q, QuerySet, Value, When

from community.errors import NotFound, ServiceError
from community.models import Member, Sector
from community.permissions import is_moderator
from qa import search
from qa.models import Answer, Comment, Follow, Question, Revision, Tag, Vote

SORTS = ("newest", "active", "votes", "unanswered", "relevance")
ANSWERED = ("yes", "no", "accepted")
DEFAULT_LIMIT = 20
MAX_LIMIT = 100

# sort -> (field the keyset runs on, is it a datetime)
_KEYSET = {
    "newest": ("created", True),
    "unanswered": ("created", True),
    "active": ("last_activity", True),
    "votes": ("score", False),
    "relevance": ("rank", False),
}


def sector_tag_slug(sector: Sector) -> str:
    """The tag that stands for a sector: `sector-c` for section C (Manufacturing)."""
    return f"sector-{sector.code.lower()}"


def sector_tag_choices() -> list[tuple[str, str]]:
    """(tag slug, label) for each sector, for the ask form. One query."""
    return [
        (sector_tag_slug(sector), f"{sector.code}: {sector.name}")
        for sector in Sector.objects.order_by("code")
    ]


@dataclass(frozen=True)
class QuestionPage:
    items: list[Question]
    next: str | None
    sort: str
    snippets: dict[int, Any] | None = None


def _questions() -> QuerySet[Question]:
    return Question.objects.select_related(
        "author__organisation",
        "addressed_organisation",
        "addressed_member",
        "duplicate_of",
        "stream",
    ).prefetch_related("tags")


def _cursor_encode(*, sort: str, question: Question) -> str:
    field, is_date = _KEYSET[sort]
    key = getattr(question, field)
    raw = json.dumps({"s": sort, "k": key.isoformat() if is_date else key, "i": question.pk})
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _cursor_decode(*, sort: str, cursor: str) -> tuple[Any, int]:
    invalid = ServiceError(
        "invalid",
        "That page cursor is not valid; start from the first page.",
        fields={"cursor": "Not a cursor from this list."},
    )
    if not isinstance(cursor, str) or len(cursor) > 200:
        raise invalid
    try:
        raw = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        if raw["s"] != sort or isinstance(raw["i"], bool) or not isinstance(raw["i"], int):
            raise invalid
        _, is_date = _KEYSET[sort]
        if is_date:
            key = datetime.fromisoformat(raw["k"])
            if key.tzinfo is None:
                raise invalid
        else:
            key = raw["k"]
            wanted = float if sort == "relevance" else int
            if isinstance(key, bool) or not isinstance(key, int | float):
                raise invalid
            key = wanted(key)
        return key, raw["i"]
    except (ValueError, KeyError, TypeError, binascii.Error, UnicodeDecodeError):
        raise invalid from None


def question_list(
    *,
    sort: str = "newest",
    tag: str | None = None,
    q: str | None = None,
    answered: str | None = None,
    limit: int | None = None,
    cursor: str | None = None,
    with_snippets: bool = False,
) -> QuestionPage:
    """One keyset page of questions (no OFFSET): items, and the cursor of the next page.

    `q` searches (qa.search: full text, never patterns or syntax); `sort="relevance"`
    orders by rank and needs `q`. `answered`: "yes" (a visible answer), "no", "accepted".
    """
    # PostgreSQL cannot compare text holding NUL bytes; they can mean nothing here anyway.
    q = q.replace("\x00", "") if q else q
    tag = tag.replace("\x00", "") if tag else tag
    q = q.strip()[: search.MAX_QUERY_CHARS] if q and q.strip() else None
    if sort == "relevance" and not q:
        sort = "newest"
    if sort not in SORTS:
        raise ServiceError(
            "invalid",
            f"Sort by one of: {', '.join(SORTS)}.",
            fields={"sort": "Unknown sort."},
        )
    limit = DEFAULT_LIMIT if limit is None else limit
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:
        raise ServiceError(
            "invalid", f"limit is 1 to {MAX_LIMIT}.", fields={"limit": "Out of range."}
        )
    field, _ = _KEYSET[sort]
    questions = _questions()
    if sort == "unanswered":
        questions = questions.filter(answer_count=0)
    if answered is not None and answered not in ANSWERED:
        raise ServiceError(
            "invalid",
            f"answered is one of: {', '.join(ANSWERED)}.",
            fields={"answered": "Unknown filter."},
        )
    if answered == "yes":
        questions = questions.filter(answer_count__gt=0)
    elif answered == "no":
        questions = questions.filter(answer_count=0)
    elif answered == "accepted":
        questions = questions.filter(accepted_answer__isnull=False)
    if tag:
        questions = questions.filter(tags__slug=tag.strip().lower())
    if q:
        questions = search.search_filter(questions, q)
    if cursor:
        key, last_id = _cursor_decode(sort=sort, cursor=cursor)
        questions = questions.filter(
            Q(**{f"{field}__lt": key}) | Q(**{field: key, "id__lt": last_id})
        )
    rows = list(questions.order_by(f"-{field}", "-id")[: limit + 1])
    items, more = rows[:limit], len(rows) > limit
    next_cursor = _cursor_encode(sort=sort, question=items[-1]) if more else None
    found = search.snippets([item.pk for item in items], q) if q and with_snippets else None
    return QuestionPage(items=items, next=next_cursor, sort=sort, snippets=found)


def questions_recent(*, limit: int = 5) -> list[Question]:
    """The newest questions, for the home page fragment."""
    return list(_questions().order_by("-created", "-id")[:limit])


def question_get(*, question_id: object) -> Question:
    if isinstance(question_id, bool) or not isinstance(question_id, int):
        raise NotFound("No such question.")
    question = _questions().filter(pk=question_id).first()
    if question is None:
        raise NotFound("No such question.")
    return question


def answer_get(*, answer_id: object, member: Member | None = None) -> Answer:
    if isinstance(answer_id, bool) or not isinstance(answer_id, int):
        raise NotFound("No such answer.")
    answer = Answer.objects.filter(pk=answer_id).first()
    if answer is None or (answer.is_hidden and not is_moderator(member)):
        raise NotFound("No such answer.")
    return answer


def question_answers(*, question: Question, member: Member | None = None) -> list[Answer]:
    """Answers shown on a question: accepted first, then by score, then oldest first.

    Hidden answers are left out, except for moderators (who see them marked, to restore).
    """
    answers = Answer.objects.filter(question=question).select_related("author__organisation")
    if not is_moderator(member):
        answers = answers.filter(is_hidden=False)
    if question.accepted_answer_id is not None:
        answers = answers.annotate(
            is_accepted=Case(
                When(pk=question.accepted_answer_id, then=Value(1)),
                default=Value(0),
                output_field=IntegerField(),
            )
        )
    else:
        answers = answers.annotate(is_accepted=Value(0, output_field=IntegerField()))
    return list(answers.order_by("-is_accepted", "-score", "created", "id"))


def member_votes(
    *, member: Member | None, question: Question, answers: list[Answer]
) -> dict[str, Any]:
    """The member's own votes on a question and its answers, in one query."""
    votes: dict[str, Any] = {"question": 0, "answers": {}}
    if not (member and member.is_authenticated):
        return votes
    answer_ids = [answer.pk for answer in answers]
    rows = Vote.objects.filter(member=member).filter(
        Q(question=question) | Q(answer_id__in=answer_ids)
    )
    for vote in rows.values("question_id", "answer_id", "value"):
        if vote["question_id"]:
            votes["question"] = vote["value"]
        else:
            votes["answers"][vote["answer_id"]] = vote["value"]
    return votes


def vote_value(*, member: Member | None, target: str, target_id: int) -> int:
    if not (member and member.is_authenticated):
        return 0
    vote = Vote.objects.filter(member=member, **{f"{target}_id": target_id}).first()
    return vote.value if vote else 0


def tag_get(*, slug: str) -> Tag | None:
    return Tag.objects.filter(slug=slug.replace("\x00", "")).first()


# --- comments, revisions, follows, duplicates -------------------------------------------


def question_comments(
    *, question: Question, answers: list[Answer]
) -> tuple[list[Comment], dict[int, list[Comment]]]:
    """Comments on the question and on each shown answer, in one query."""
    answer_ids = [answer.pk for answer in answers]
    rows = (
        Comment.objects.filter(Q(question=question) | Q(answer_id__in=answer_ids))
        .select_related("author__organisation")
        .order_by("created", "id")
    )
    on_question: list[Comment] = []
    on_answers: dict[int, list[Comment]] = {pk: [] for pk in answer_ids}
    for comment in rows:
        if comment.question_id:
            on_question.append(comment)
        else:
            on_answers[comment.answer_id].append(comment)
    return on_question, on_answers


def question_follows(*, member: Member | None, question: Question) -> bool:
    if not (member and member.is_authenticated):
        return False
    return Follow.objects.filter(member=member, question=question).exists()


def tag_follows(*, member: Member | None, tag: Tag) -> bool:
    if not (member and member.is_authenticated):
        return False
    return Follow.objects.filter(member=member, tag=tag).exists()


def question_duplicates(*, question: Question) -> list[Question]:
    """Questions closed as duplicates of this one (shown on the original). One query."""
    # Ordered by id, not the model's -created: SQLite's planner (after ANALYZE) would
    # otherwise walk the whole newest-first index instead of the duplicate_of index.
    duplicates = Question.objects.filter(duplicate_of=question).order_by("id")
    return list(duplicates.only("id", "title")[:20])


@dataclass(frozen=True)
class RevisionView:
    revision: Revision
    title_changed: bool
    tags_changed: bool
    diff: list[tuple[str, str]]  # (" ", "+", "-" or "@", line)


def _diff_lines(old: str, new: str) -> list[tuple[str, str]]:
    lines: list[tuple[str, str]] = []
    diff = difflib.unified_diff(old.splitlines(), new.splitlines(), lineterm="", n=2)
    for line in list(diff)[2:]:  # skip the ---/+++ headers
        mark = line[:1]
        lines.append(("@" if mark == "@" else mark, line[1:] if mark != "@" else "…"))
    return lines


def post_revisions(*, question: Question | None = None, answer: Answer | None = None):
    """Every revision of a post, newest first, each with a line diff against the one before."""
    target = {"question": question} if question is not None else {"answer": answer}
    revisions = list(Revision.objects.filter(**target).select_related("author").order_by("number"))
    views: list[RevisionView] = []
    previous: Revision | None = None
    for revision in revisions:
        if previous is None:
            diff = [("+", line) for line in revision.body.splitlines()]
        else:
            diff = _diff_lines(previous.body, revision.body)
        views.append(
            RevisionView(
                revision=revision,
                title_changed=previous is not None and previous.title != revision.title,
                tags_changed=previous is not None and previous.tags != revision.tags,
                diff=diff,
            )
        )
        previous = revision
    views.reverse()
    return views


# --- similar questions, tags, addressed questions ----------------------------------------


def questions_similar(*, title: str, limit: int = 5, exclude: int | None = None) -> list[Question]:
    """Existing questions like a title being typed (prefix match on the last word)."""
    title = (title or "").replace("\x00", "").strip()[: search.MAX_QUERY_CHARS]
    if len(title) < 4 or not search.has_words(title):
        return []
    found = search.search_filter(Question.objects.all(), title, prefix=True)
    if exclude:
        found = found.exclude(pk=exclude)
    return list(found.only("id", "title", "answer_count", "score").order_by("-rank", "-id")[:limit])


def tags_popular(*, limit: int = 100) -> list[Tag]:
    """Tags with their question counts, most used first. One query."""
    return list(
        Tag.objects.annotate(used=Count("questions"))
        .filter(Q(used__gt=0) | Q(sector__isnull=False))
        .order_by("-used", "slug")[:limit]
    )


def organisation_qa(*, organisation_id: int, limit: int = 10) -> dict[str, Any]:
    """Questions addressed to an organisation, and answers its members gave. Two queries."""
    addressed = list(
        _questions()
        .filter(addressed_organisation_id=organisation_id)
        .order_by("-created", "-id")[:limit]
    )
    answers = list(
        Answer.objects.filter(author__organisation_id=organisation_id, is_hidden=False)
        .select_related("question", "author")
        .order_by("-created", "-id")[:limit]
    )
    return {"addressed": addressed, "answers": answers}


def member_qa(*, member_id: int, limit: int = 10) -> dict[str, Any]:
    addressed = list(
        _questions().filter(addressed_member_id=member_id).order_by("-created", "-id")[:limit]
    )
    answers = list(
        Answer.objects.filter(author_id=member_id, is_hidden=False)
        .select_related("question", "author")
        .order_by("-created", "-id")[:limit]
    )
    return {"addressed": addressed, "answers": answers}
