"""Reads. Query counts stay constant however many questions, answers or tags there are."""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db.models import Case, IntegerField, Q, QuerySet, Value, When

from community.errors import NotFound, ServiceError
from community.models import Member, Sector
from community.permissions import is_moderator
from qa.models import Answer, Question, Tag, Vote

SORTS = ("newest", "active", "votes", "unanswered")
DEFAULT_LIMIT = 20
MAX_LIMIT = 100

# sort -> (field the keyset runs on, is it a datetime)
_KEYSET = {
    "newest": ("created", True),
    "unanswered": ("created", True),
    "active": ("last_activity", True),
    "votes": ("score", False),
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


def _questions() -> QuerySet[Question]:
    return Question.objects.select_related("author__organisation").prefetch_related("tags")


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
            if isinstance(key, bool) or not isinstance(key, int):
                raise invalid
        return key, raw["i"]
    except (ValueError, KeyError, TypeError, binascii.Error, UnicodeDecodeError):
        raise invalid from None


def question_list(
    *,
    sort: str = "newest",
    tag: str | None = None,
    q: str | None = None,
    limit: int | None = None,
    cursor: str | None = None,
) -> QuestionPage:
    """One keyset page of questions (no OFFSET): items, and the cursor of the next page."""
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
    if tag:
        questions = questions.filter(tags__slug=tag.strip().lower())
    if q and q.strip():
        # icontains escapes % and _ itself, so they match literally.
        text = q.strip()[:200]
        questions = questions.filter(Q(title__icontains=text) | Q(body__icontains=text))
    if cursor:
        key, last_id = _cursor_decode(sort=sort, cursor=cursor)
        questions = questions.filter(
            Q(**{f"{field}__lt": key}) | Q(**{field: key, "id__lt": last_id})
        )
    rows = list(questions.order_by(f"-{field}", "-id")[: limit + 1])
    items, more = rows[:limit], len(rows) > limit
    next_cursor = _cursor_encode(sort=sort, question=items[-1]) if more else None
    return QuestionPage(items=items, next=next_cursor, sort=sort)


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
    return Tag.objects.filter(slug=slug).first()
