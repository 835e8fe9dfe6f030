"""Q&A writes. Each validates (the one posting policy for text), writes in one
transaction, and appends an event to the question's stream (published after commit).

Counters (score, answer_count) change here only, with F() expressions, in the same
transaction as the row they count. `counters_recount` finds any drift.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import Count, F, IntegerField, OuterRef, Q, Subquery, Sum, Value
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.html import strip_tags

from community.errors import Forbidden, NotFound, PostingRefused, ServiceError
from community.markup import render_markdown
from community.models import Member, ModerationLog, Organisation, Sector
from community.moderation import can_post, member_mute_active, text_check
from community.payloads import iso_utc
from community.permissions import is_moderator
from qa import notify
from qa.models import Answer, Comment, Follow, Question, QuestionView, Revision, Tag, Vote
from qa.payloads import answer_payload, comment_payload
from qa.permissions import (
    access_comment_delete,
    access_post_delete,
    access_post_edit,
    access_question_accept,
)
from qa.selectors import sector_tag_slug
from realtime.events import event_append, stream_create, stream_label
from realtime.models import Stream

TAG_MAX_CHARS = 35
TAGS_MAX = 5
TAG_PATTERN = re.compile(r"[a-z0-9][a-z0-9+.-]*\Z")  # no "#": it ends a URL's path
COMMENT_MAX_CHARS = 600
SECTOR_TAG_PREFIX = "sector-"


def _title_max() -> int:
    return settings.CONVENE["QUESTION_TITLE_MAX_CHARS"]


def _body_max() -> int:
    return settings.CONVENE["POST_BODY_MAX_CHARS"]


def _on_field(error: ServiceError, field: str) -> ServiceError:
    """Attach a refusal to the form/API field it is about."""
    error.fields = {field: error.detail}
    return error


def _id_check(value: object, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise NotFound(f"No such {what}.")
    return value


def _signed_in_required(member: Member | None) -> Member:
    if member is None or not member.is_authenticated or not member.is_active:
        raise PostingRefused("not_signed_in", "Sign in first.")
    return member


def _moderator_required(member: Member | None) -> Member:
    _signed_in_required(member)
    if not is_moderator(member):
        raise Forbidden("Only moderators can do that.")
    return member


# --- tags ------------------------------------------------------------------------------


def _tags_invalid(detail: str) -> ServiceError:
    return ServiceError("invalid", detail, fields={"tags": detail})


def tags_clean(tags: object) -> list[str]:
    """Validate tag names (no writes): 1 to 5 tags, each 1 to 35 characters of
    lower-case letters, digits and `+ . -`, starting with a letter or digit.
    Upper case is folded to lower case; repeats are dropped; blanks are ignored."""
    if isinstance(tags, str) or not isinstance(tags, list | tuple):
        raise _tags_invalid("Tags must be a list of tag names.")
    if len(tags) > 50:
        raise _tags_invalid(f"Use at most {TAGS_MAX} tags.")
    names: list[str] = []
    for tag in tags:
        if not isinstance(tag, str):
            raise _tags_invalid("Each tag must be text.")
        name = tag.strip().lower()
        if not name:
            continue
        shown = name if len(name) <= 40 else name[:40] + "…"
        if len(name) > TAG_MAX_CHARS:
            raise _tags_invalid(f"The tag “{shown}” is longer than {TAG_MAX_CHARS} characters.")
        if not TAG_PATTERN.match(name):
            raise _tags_invalid(
                f"The tag “{shown}” is not allowed: use lower-case letters, digits and "
                "+ . - only (no spaces, slashes or #), starting with a letter or digit."
            )
        if name not in names:
            names.append(name)
    if not names:
        raise _tags_invalid("Add at least one tag (a sector, or a topic).")
    if len(names) > TAGS_MAX:
        raise _tags_invalid(f"Use at most {TAGS_MAX} tags; you gave {len(names)}.")
    sector_codes = {
        name.removeprefix(SECTOR_TAG_PREFIX).upper()
        for name in names
        if name.startswith(SECTOR_TAG_PREFIX)
    }
    if sector_codes:
        known = set(Sector.objects.filter(code__in=sector_codes).values_list("code", flat=True))
        unknown = sorted(sector_codes - known)
        if unknown:
            raise _tags_invalid(
                f"“{SECTOR_TAG_PREFIX}{unknown[0].lower()}” is not a sector; tags starting "
                f"“{SECTOR_TAG_PREFIX}” are kept for the sectors A to U."
            )
    return names


def _tags_resolve(names: list[str]) -> list[Tag]:
    """Existing tags by slug; unknown free tags are created, sector tags linked to their sector."""
    existing = {tag.slug: tag for tag in Tag.objects.filter(slug__in=names)}
    tags = []
    for name in names:
        tag = existing.get(name)
        if tag is None:
            if name.startswith(SECTOR_TAG_PREFIX):
                tag = _sector_tag(
                    Sector.objects.get(code=name.removeprefix(SECTOR_TAG_PREFIX).upper())
                )
            else:
                tag, _ = Tag.objects.get_or_create(slug=name, defaults={"name": name})
        tags.append(tag)
    return tags


def _sector_tag(sector: Sector) -> Tag:
    tag, created = Tag.objects.get_or_create(
        slug=sector_tag_slug(sector), defaults={"name": sector.name, "sector": sector}
    )
    if not created and (tag.sector_id != sector.pk or tag.name != sector.name):
        tag.sector, tag.name = sector, sector.name
        tag.save(update_fields=["sector", "name"])
    return tag


@transaction.atomic
def sector_tags_sync() -> int:
    """Make sure every sector has its tag (idempotent). Returns how many were created."""
    before = Tag.objects.filter(sector__isnull=False).count()
    for sector in Sector.objects.order_by("code"):
        _sector_tag(sector)
    return Tag.objects.filter(sector__isnull=False).count() - before


# --- questions -------------------------------------------------------------------------


_HAS_WORD = re.compile(r"[^\W_]")


def _title_clean(title: object) -> str:
    try:
        text_check(text=title, max_chars=_title_max(), what="Title")
    except ServiceError as error:
        raise _on_field(error, "title") from None
    if not _HAS_WORD.search(title):
        raise ServiceError(
            "empty",
            "Title has no words: write it as a question in plain text.",
            fields={"title": "Title has no words."},
        )
    return " ".join(title.split())


def _rendered_nonblank(html: str, what: str) -> str:
    """A body of only markup (`**`, `---`, `[](x)`, `<b></b>`) renders to nothing: refuse it."""
    if "<img" in html or strip_tags(html).strip():
        return html
    raise ServiceError(
        "empty",
        f"{what} has no text once its formatting is applied.",
        fields={"body": f"{what} has no text."},
    )


def _body_allowed(
    *,
    member: Member,
    body: object,
    what: str,
    thread_locked: bool = False,
    count: bool = True,
) -> str:
    """The one posting policy decides; `what` names the text in refusals ("Answer is empty.")."""
    try:
        return can_post(
            member=member,
            body=body,
            thread_locked=thread_locked,
            max_chars=_body_max(),
            count=count,
            what=what,
        )
    except PostingRefused as error:
        if error.code in {"empty", "too_long", "invalid"}:
            raise _on_field(error, "body") from None
        raise


def question_stream() -> Stream:
    """A fresh stream for a new question; labelled `question:<id>` once the id exists."""
    return stream_create(kind="question")


def question_stream_label(question: Question) -> None:
    stream_label(stream_id=question.stream_id, label=f"question:{question.pk}")


def _addressee_resolve(
    member: Member, addressed_to: object
) -> tuple[Organisation | None, Member | None]:
    """`{"kind": "organisation"|"member", "id": N}` or None."""
    if addressed_to is None:
        return None, None

    def invalid(detail: str) -> ServiceError:
        return ServiceError("invalid", detail, fields={"addressed_to": detail})

    if not isinstance(addressed_to, dict) or set(addressed_to) != {"kind", "id"}:
        raise invalid('Address a question with {"kind": "organisation" or "member", "id": N}.')
    kind, pk = addressed_to["kind"], addressed_to["id"]
    if isinstance(pk, bool) or not isinstance(pk, int) or pk < 1:
        raise invalid("The id of whom you ask must be a whole number.")
    if kind == "organisation":
        organisation = Organisation.objects.filter(pk=pk).first()
        if organisation is None:
            raise invalid("There is no such organisation.")
        if organisation.pk == member.organisation_id:
            raise invalid("You cannot address a question to your own organisation.")
        return organisation, None
    if kind == "member":
        addressee = Member.objects.filter(pk=pk, is_active=True).first()
        if addressee is None:
            raise invalid("There is no such member.")
        if addressee.pk == member.pk:
            raise invalid("You cannot address a question to yourself.")
        return None, addressee
    raise invalid('"kind" is "organisation" or "member".')


def _revision_add(
    post: Question | Answer, *, member: Member, title: str = "", tags: list[str] | None = None
) -> Revision:
    """The next revision of a post; the caller holds the question's row lock."""
    target = {"question": post} if isinstance(post, Question) else {"answer": post}
    number = Revision.objects.filter(**target).count() + 1
    return Revision.objects.create(
        **target,
        number=number,
        author=member,
        title=title,
        body=post.body,
        tags=" ".join(tags or []),
        created=post.updated or post.created,
    )


def _revision_baseline(post: Question | Answer, *, title: str = "", tags=None) -> None:
    """Posts from before revisions were kept get their current text as revision 1."""
    target = {"question": post} if isinstance(post, Question) else {"answer": post}
    if not Revision.objects.filter(**target).exists():
        _revision_add(post, member=post.author, title=title, tags=tags)


@transaction.atomic
def question_ask(
    *,
    member: Member,
    title: object,
    body: object,
    tags: object,
    addressed_to: object = None,
) -> Question:
    _signed_in_required(member)
    title = _title_clean(title)
    names = tags_clean(tags)
    organisation, addressee = _addressee_resolve(member, addressed_to)
    body = _body_allowed(member=member, body=body, what="Question")
    now = timezone.now()
    html = _rendered_nonblank(render_markdown(body), "Question")
    question = Question.objects.create(
        title=title,
        body=body,
        html=html,
        author=member,
        created=now,
        last_activity=now,
        stream=question_stream(),
        addressed_organisation=organisation,
        addressed_member=addressee,
    )
    question_stream_label(question)
    tag_rows = _tags_resolve(names)
    question.tags.set(tag_rows)
    _revision_add(question, member=member, title=title, tags=names)
    Follow.objects.create(member=member, question=question)  # askers hear of answers
    if organisation or addressee:
        notify.question_addressed(question=question)
    notify.question_created(question=question, tag_ids=[tag.pk for tag in tag_rows])
    return question


def _question_locked(question_id: object) -> Question:
    """The question row, locked for the rest of the transaction."""
    question_id = _id_check(question_id, "question")
    question = Question.objects.select_for_update().filter(pk=question_id).first()
    if question is None:
        raise NotFound("No such question.")
    return question


@transaction.atomic
def question_edit(
    *, member: Member, question_id: object, title: object, body: object, tags: object
) -> Question:
    _signed_in_required(member)
    question = _question_locked(question_id)
    if not access_post_edit(member, question):
        raise Forbidden(
            "Imported questions cannot be edited."
            if question.is_imported
            else "You can only edit your own questions."
        )
    title = _title_clean(title)
    names = tags_clean(tags)
    body = _body_allowed(
        member=member, body=body, what="Question", thread_locked=question.is_locked, count=False
    )
    old_tags = sorted(question.tags.values_list("slug", flat=True))
    if (title, body, sorted(names)) == (question.title, question.body, old_tags):
        return question  # nothing changed: no revision, no event
    _revision_baseline(question, title=question.title, tags=old_tags)
    html = _rendered_nonblank(render_markdown(body), "Question")
    question.title, question.body, question.html = title, body, html
    question.updated = question.last_activity = timezone.now()
    question.save(update_fields=["title", "body", "html", "updated", "last_activity"])
    question.tags.set(_tags_resolve(names))
    _revision_add(question, member=member, title=title, tags=names)
    event_append(
        stream_id=question.stream_id,
        kind="question.edited",
        data={
            "id": question.pk,
            "title": question.title,
            "body": question.body,
            "html": question.html,
            "tags": names,
            "updated": iso_utc(question.updated),
        },
    )
    return question


def _question_state_publish(question: Question) -> None:
    event_append(
        stream_id=question.stream_id,
        kind="question.updated",
        data={
            "id": question.pk,
            "locked": question.is_locked,
            "duplicate_of": question.duplicate_of_id,
        },
    )


@transaction.atomic
def question_lock(*, moderator: Member, question_id: object, reason: str = "") -> Question:
    """Mute a thread: no new answers, votes, edits or acceptance except by moderators."""
    _moderator_required(moderator)
    if not isinstance(reason, str) or len(reason) > 300:
        raise ServiceError(
            "invalid",
            "A reason is text of at most 300 characters.",
            fields={"reason": "At most 300 characters."},
        )
    question = _question_locked(question_id)
    if not question.is_locked:
        question.is_locked = True
        question.save(update_fields=["is_locked"])
        ModerationLog.objects.create(
            actor=moderator,
            action="question.lock",
            target=f"question:{question.pk}",
            reason=reason.strip(),
        )
        _question_state_publish(question)
    return question


@transaction.atomic
def question_unlock(*, moderator: Member, question_id: object) -> Question:
    _moderator_required(moderator)
    question = _question_locked(question_id)
    if question.is_locked:
        question.is_locked = False
        question.save(update_fields=["is_locked"])
        ModerationLog.objects.create(
            actor=moderator, action="question.unlock", target=f"question:{question.pk}"
        )
        _question_state_publish(question)
    return question


# --- answers ---------------------------------------------------------------------------


@transaction.atomic
def answer_post(*, member: Member, question_id: object, body: object) -> Answer:
    _signed_in_required(member)
    question = _question_locked(question_id)
    _closed_check(member, question)
    body = _body_allowed(member=member, body=body, what="Answer", thread_locked=question.is_locked)
    now = timezone.now()
    html = _rendered_nonblank(render_markdown(body), "Answer")
    answer = Answer.objects.create(
        question=question, body=body, html=html, author=member, created=now
    )
    Question.objects.filter(pk=question.pk).update(
        answer_count=F("answer_count") + 1, last_activity=now
    )
    _revision_add(answer, member=member)
    event_append(stream_id=question.stream_id, kind="answer.created", data=answer_payload(answer))
    notify.answer_created(question=question, answer=answer)
    return answer


def _closed_check(member: Member, question: Question) -> None:
    if question.duplicate_of_id and not is_moderator(member):
        raise PostingRefused(
            "thread_locked", "This question is closed as a duplicate; answer the original."
        )


def _answer_locked(answer_id: object) -> tuple[Question, Answer]:
    """Lock the question row, then the answer row (always in that order: no deadlocks)."""
    answer_id = _id_check(answer_id, "answer")
    question_id = Answer.objects.filter(pk=answer_id).values_list("question_id", flat=True).first()
    if question_id is None:
        raise NotFound("No such answer.")
    question = _question_locked(question_id)
    answer = (
        Answer.objects.select_for_update(of=("self",)).select_related("author").get(pk=answer_id)
    )
    return question, answer


@transaction.atomic
def answer_edit(*, member: Member, answer_id: object, body: object) -> Answer:
    _signed_in_required(member)
    question, answer = _answer_locked(answer_id)
    if answer.is_hidden and not is_moderator(member):
        raise NotFound("No such answer.")
    if not access_post_edit(member, answer):
        raise Forbidden(
            "Imported answers cannot be edited."
            if answer.is_imported
            else "You can only edit your own answers."
        )
    body = _body_allowed(
        member=member, body=body, what="Answer", thread_locked=question.is_locked, count=False
    )
    if body == answer.body:
        return answer  # nothing changed: no revision, no event
    _revision_baseline(answer)
    html = _rendered_nonblank(render_markdown(body), "Answer")
    answer.body, answer.html, answer.updated = body, html, timezone.now()
    answer.save(update_fields=["body", "html", "updated"])
    _revision_add(answer, member=member)
    event_append(
        stream_id=question.stream_id,
        kind="answer.edited",
        data={
            "id": answer.pk,
            "body": answer.body,
            "html": answer.html,
            "updated": iso_utc(answer.updated),
        },
    )
    return answer


def _accepted_publish(question: Question, previous: int | None) -> None:
    event_append(
        stream_id=question.stream_id,
        kind="answer.accepted",
        data={
            "question_id": question.pk,
            "answer_id": question.accepted_answer_id,
            "previous_answer_id": previous,
        },
    )


@transaction.atomic
def answer_accept(*, member: Member, question_id: object, answer_id: object) -> Question:
    """The asker (or a moderator) accepts one answer, changes it, or un-accepts (None)."""
    _signed_in_required(member)
    question = _question_locked(question_id)
    if not access_question_accept(member, question):
        raise Forbidden("Only the person who asked (or a moderator) can accept an answer.")
    if question.is_locked and not is_moderator(member):
        raise PostingRefused("thread_locked", "This thread is locked.")
    answer = None
    if answer_id is not None:
        if isinstance(answer_id, bool) or not isinstance(answer_id, int):
            raise ServiceError(
                "invalid",
                "answer_id must be a whole number or null.",
                fields={"answer_id": "Not an answer id."},
            )
        answer = Answer.objects.filter(pk=answer_id, question=question, is_hidden=False).first()
        if answer is None:
            raise ServiceError(
                "invalid",
                "That is not an answer to this question.",
                fields={"answer_id": "Not an answer to this question."},
            )
    previous = question.accepted_answer_id
    new = answer.pk if answer else None
    if previous != new:
        question.accepted_answer = answer
        question.save(update_fields=["accepted_answer"])
        _accepted_publish(question, previous)
    return question


@transaction.atomic
def answer_hide(*, moderator: Member, answer_id: object, reason: str = "") -> Answer:
    """Hide an answer; it stops counting, and stops being the accepted one."""
    _moderator_required(moderator)
    question, answer = _answer_locked(answer_id)
    if answer.is_hidden:
        return answer
    answer.is_hidden = True
    answer.save(update_fields=["is_hidden"])
    was_accepted = question.accepted_answer_id == answer.pk
    changes: dict[str, Any] = {"answer_count": F("answer_count") - 1}
    if was_accepted:
        changes["accepted_answer"] = None
    Question.objects.filter(pk=question.pk).update(**changes)
    ModerationLog.objects.create(
        actor=moderator,
        action="answer.hide",
        target=f"answer:{answer.pk}",
        reason=reason.strip() if isinstance(reason, str) else "",
    )
    event_append(
        stream_id=question.stream_id,
        kind="answer.hidden",
        data={"id": answer.pk, "question_id": question.pk},
    )
    if was_accepted:
        question.accepted_answer = None
        _accepted_publish(question, answer.pk)
    return answer


@transaction.atomic
def answer_restore(*, moderator: Member, answer_id: object) -> Answer:
    _moderator_required(moderator)
    question, answer = _answer_locked(answer_id)
    if not answer.is_hidden:
        return answer
    answer.is_hidden = False
    answer.save(update_fields=["is_hidden"])
    Question.objects.filter(pk=question.pk).update(answer_count=F("answer_count") + 1)
    ModerationLog.objects.create(
        actor=moderator, action="answer.restore", target=f"answer:{answer.pk}"
    )
    event_append(
        stream_id=question.stream_id,
        kind="answer.restored",
        data=answer_payload(answer),
    )
    return answer


# --- votes -----------------------------------------------------------------------------


@dataclass(frozen=True)
class VoteResult:
    target: str
    target_id: int
    question_id: int
    value: int
    score: int


VOTE_TARGETS = {"question": Question, "answer": Answer}


@transaction.atomic
def vote_cast(*, member: Member, target: object, target_id: object, value: object) -> VoteResult:
    """Vote +1 or -1 on a post, change the vote, or undo it (0). One vote per member per post."""
    _signed_in_required(member)
    if target not in VOTE_TARGETS:
        raise ServiceError(
            "invalid", "Vote on a question or an answer.", fields={"target": "question or answer"}
        )
    if isinstance(value, bool) or not isinstance(value, int) or value not in (1, -1, 0):
        raise ServiceError(
            "invalid",
            "A vote is 1 (up), -1 (down) or 0 (undo).",
            fields={"value": "One of 1, -1 or 0."},
        )
    what = str(target)
    target_id = _id_check(target_id, what)
    if what == "question":
        question = _question_locked(target_id)
        post: Question | Answer = question
    else:
        question, post = _answer_locked(target_id)
        if post.is_hidden:
            raise NotFound("No such answer.")
    if post.author_id == member.pk:
        raise Forbidden("You cannot vote on your own post.")
    moderator = is_moderator(member)
    if not moderator:
        if member_mute_active(member=member) is not None:
            raise PostingRefused("muted", "A moderator has muted you.")
        if question.is_locked:
            raise PostingRefused("thread_locked", "This thread is locked.")
    model = VOTE_TARGETS[what]
    existing = Vote.objects.select_for_update().filter(member=member, **{what: post}).first()
    old = existing.value if existing else 0
    if value == 0:
        if existing:
            existing.delete()
    elif existing:
        if old != value:
            existing.value = value
            existing.save(update_fields=["value"])
    else:
        try:
            with transaction.atomic():
                Vote.objects.create(member=member, value=value, **{what: post})
        except IntegrityError:
            # The post row lock serialises one member's votes; this is the DB's backstop.
            raise ServiceError(
                "conflict",
                "Your vote on this post changed at the same time; try again.",
                status=409,
            ) from None
    delta = value - old
    if delta:
        model.objects.filter(pk=post.pk).update(score=F("score") + delta)
    score = model.objects.values_list("score", flat=True).get(pk=post.pk)
    if delta:
        event_append(
            stream_id=question.stream_id,
            kind="score.updated",
            data={"target": what, "id": post.pk, "score": score},
        )
    return VoteResult(
        target=what, target_id=post.pk, question_id=question.pk, value=value, score=score
    )


# --- counters --------------------------------------------------------------------------


@dataclass
class Drift:
    question_scores: list[tuple[int, int, int]]
    answer_scores: list[tuple[int, int, int]]
    answer_counts: list[tuple[int, int, int]]
    accepted: list[int]
    view_counts: list[tuple[int, int, int]] = field(default_factory=list)
    questions: int = 0
    answers: int = 0

    @property
    def total(self) -> int:
        return (
            len(self.question_scores)
            + len(self.answer_scores)
            + len(self.answer_counts)
            + len(self.accepted)
            + len(self.view_counts)
        )


def _vote_sum(field: str) -> Coalesce:
    sums = (
        Vote.objects.filter(**{field: OuterRef("pk")})
        .order_by()
        .values(field)
        .annotate(total=Sum("value"))
        .values("total")
    )
    return Coalesce(Subquery(sums, output_field=IntegerField()), Value(0))


@transaction.atomic
def counters_recount(*, fix: bool = False) -> Drift:
    """Recompute every score and answer count from the rows; report (and optionally fix) drift.

    Each drift entry is (id, stored, expected).
    """
    visible = (
        Answer.objects.filter(question=OuterRef("pk"), is_hidden=False)
        .order_by()
        .values("question")
        .annotate(n=Count("pk"))
        .values("n")
    )
    views = (
        QuestionView.objects.filter(question=OuterRef("pk"))
        .order_by()
        .values("question")
        .annotate(n=Count("pk"))
        .values("n")
    )
    questions = Question.objects.select_for_update().annotate(
        votes_total=_vote_sum("question"),
        visible_answers=Coalesce(Subquery(visible, output_field=IntegerField()), Value(0)),
        views_total=Coalesce(Subquery(views, output_field=IntegerField()), Value(0)),
    )
    drift = Drift([], [], [], [])
    for question in questions.values(
        "pk",
        "score",
        "imported_score",
        "votes_total",
        "answer_count",
        "visible_answers",
        "view_count",
        "views_total",
    ):
        if question["view_count"] != question["views_total"]:
            drift.view_counts.append(
                (question["pk"], question["view_count"], question["views_total"])
            )
        drift.questions += 1
        expected = question["imported_score"] + question["votes_total"]
        if question["score"] != expected:
            drift.question_scores.append((question["pk"], question["score"], expected))
        if question["answer_count"] != question["visible_answers"]:
            drift.answer_counts.append(
                (question["pk"], question["answer_count"], question["visible_answers"])
            )
    answers = Answer.objects.select_for_update().annotate(votes_total=_vote_sum("answer"))
    for answer in answers.values("pk", "score", "imported_score", "votes_total"):
        drift.answers += 1
        expected = answer["imported_score"] + answer["votes_total"]
        if answer["score"] != expected:
            drift.answer_scores.append((answer["pk"], answer["score"], expected))
    bad_accepts = Question.objects.filter(accepted_answer__isnull=False).filter(
        ~Q(accepted_answer__question=F("pk")) | Q(accepted_answer__is_hidden=True)
    )
    drift.accepted = list(bad_accepts.values_list("pk", flat=True))
    if fix:
        for pk, _stored, expected in drift.question_scores:
            Question.objects.filter(pk=pk).update(score=expected)
        for pk, _stored, expected in drift.answer_counts:
            Question.objects.filter(pk=pk).update(answer_count=expected)
        for pk, _stored, expected in drift.view_counts:
            Question.objects.filter(pk=pk).update(view_count=expected)
        for pk, _stored, expected in drift.answer_scores:
            Answer.objects.filter(pk=pk).update(score=expected)
        Question.objects.filter(pk__in=drift.accepted).update(accepted_answer=None)
    return drift


# --- deleting answers ------------------------------------------------------------------


@transaction.atomic
def answer_delete(*, member: Member, answer_id: object) -> int:
    """The author (or a moderator) deletes an answer for good: its votes, comments and
    revisions go with it; it stops counting; if it was accepted, nothing is accepted."""
    _signed_in_required(member)
    question, answer = _answer_locked(answer_id)
    if answer.is_hidden and not is_moderator(member):
        raise NotFound("No such answer.")
    if not access_post_delete(member, answer):
        raise Forbidden("You can only delete your own answers.")
    if question.is_locked and not is_moderator(member):
        raise PostingRefused("thread_locked", "This thread is locked.")
    pk = answer.pk
    was_accepted = question.accepted_answer_id == pk
    changes: dict[str, Any] = {}
    if not answer.is_hidden:
        changes["answer_count"] = F("answer_count") - 1
    if was_accepted:
        changes["accepted_answer"] = None
    if changes:
        Question.objects.filter(pk=question.pk).update(**changes)
    answer.delete()
    if is_moderator(member) and answer.author_id != member.pk:
        ModerationLog.objects.create(actor=member, action="answer.delete", target=f"answer:{pk}")
    event_append(
        stream_id=question.stream_id,
        kind="answer.deleted",
        data={"id": pk, "question_id": question.pk},
    )
    if was_accepted:
        question.accepted_answer = None
        _accepted_publish(question, pk)
    return pk


# --- comments --------------------------------------------------------------------------


def _comment_target(target: object, target_id: object) -> tuple[Question, Answer | None]:
    if target == "question":
        return _question_locked(target_id), None
    if target == "answer":
        question, answer = _answer_locked(target_id)
        if answer.is_hidden:
            raise NotFound("No such answer.")
        return question, answer
    raise ServiceError(
        "invalid", "Comment on a question or an answer.", fields={"target": "question or answer"}
    )


@transaction.atomic
def comment_add(*, member: Member, target: object, target_id: object, body: object) -> Comment:
    """A short comment (at most 600 characters) on a question or an answer."""
    _signed_in_required(member)
    question, answer = _comment_target(target, target_id)
    try:
        body = can_post(
            member=member,
            body=body,
            thread_locked=question.is_locked,
            max_chars=COMMENT_MAX_CHARS,
            what="Comment",
        )
    except PostingRefused as error:
        if error.code in {"empty", "too_long", "invalid"}:
            raise _on_field(error, "body") from None
        raise
    comment = Comment.objects.create(
        question=None if answer else question,
        answer=answer,
        author=member,
        body=body.strip(),
        html=_rendered_nonblank(render_markdown(body.strip()), "Comment"),
    )
    event_append(
        stream_id=question.stream_id,
        kind="comment.created",
        data=comment_payload(comment, question_id=question.pk),
    )
    return comment


@transaction.atomic
def comment_delete(*, member: Member, comment_id: object) -> int:
    _signed_in_required(member)
    comment_id = _id_check(comment_id, "comment")
    found = Comment.objects.filter(pk=comment_id).values("question_id", "answer__question_id")
    row = found.first()
    if row is None:
        raise NotFound("No such comment.")
    question = _question_locked(row["question_id"] or row["answer__question_id"])
    comment = Comment.objects.select_for_update().get(pk=comment_id)
    if not access_comment_delete(member, comment):
        raise Forbidden("You can only delete your own comments.")
    comment.delete()
    event_append(
        stream_id=question.stream_id,
        kind="comment.deleted",
        data={"id": comment_id, "question_id": question.pk},
    )
    return comment_id


# --- views and follows -----------------------------------------------------------------


def question_view_record(*, member: Member | None, question_id: int) -> bool:
    """Count a view once per member per day (London date). Anonymous views are not counted.

    One query when the view is already counted today (INSERT ... ON CONFLICT DO NOTHING
    RETURNING, on PostgreSQL and SQLite alike), two when it is new.
    """
    if member is None or not member.is_authenticated:
        return False
    table = QuestionView._meta.db_table
    with transaction.atomic(savepoint=False), connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (question_id, member_id, day) VALUES (%s, %s, %s) "  # noqa: S608
            "ON CONFLICT DO NOTHING RETURNING id",
            [question_id, member.pk, timezone.localdate()],
        )
        if cursor.fetchone() is None:
            return False
        Question.objects.filter(pk=question_id).update(view_count=F("view_count") + 1)
    return True


@transaction.atomic
def follow_set(*, member: Member, on: bool, question_id: object = None, tag: object = None) -> bool:
    """Follow (on=True) or unfollow a question or a tag. Returns whether now following."""
    _signed_in_required(member)
    if not isinstance(on, bool):
        raise ServiceError("invalid", "on is true or false.", fields={"on": "true or false"})
    if (question_id is None) == (tag is None):
        raise ServiceError("invalid", "Follow a question or a tag.")
    if question_id is not None:
        question = _question_locked(question_id)
        target: dict[str, Any] = {"question": question}
    else:
        usable = isinstance(tag, str) and "\x00" not in tag  # PostgreSQL refuses NUL in text
        found = Tag.objects.filter(slug=tag).first() if usable else None
        if found is None:
            raise NotFound("No such tag.")
        target = {"tag": found}
    if on:
        Follow.objects.get_or_create(member=member, **target)
    else:
        Follow.objects.filter(member=member, **target).delete()
    return on


# --- closing as a duplicate ------------------------------------------------------------


@transaction.atomic
def question_close_duplicate(
    *, moderator: Member, question_id: object, duplicate_of: object
) -> Question:
    """Close a question as a duplicate of another: a link shown on both, no new answers."""
    _moderator_required(moderator)
    duplicate_of = _id_check(duplicate_of, "question")
    question = _question_locked(question_id)
    if duplicate_of == question.pk:
        raise ServiceError(
            "invalid",
            "A question cannot be a duplicate of itself.",
            fields={"duplicate_of": "Choose another question."},
        )
    original = Question.objects.filter(pk=duplicate_of).values("pk", "duplicate_of_id").first()
    if original is None:
        raise ServiceError(
            "invalid",
            "There is no question with that id.",
            fields={"duplicate_of": "No such question."},
        )
    if original["duplicate_of_id"] is not None:
        raise ServiceError(
            "invalid",
            "That question is itself closed as a duplicate; link to its original.",
            fields={"duplicate_of": "Closed as a duplicate itself."},
        )
    if question.duplicates.exists():
        raise ServiceError(
            "invalid",
            "Other questions are closed as duplicates of this one; it stays open.",
            fields={"duplicate_of": "This question is an original."},
        )
    question.duplicate_of_id = duplicate_of
    question.closed = timezone.now()
    question.save(update_fields=["duplicate_of", "closed"])
    ModerationLog.objects.create(
        actor=moderator,
        action="question.duplicate",
        target=f"question:{question.pk}",
        reason=f"duplicate of question:{duplicate_of}",
    )
    _question_state_publish(question)
    return question


@transaction.atomic
def question_reopen(*, moderator: Member, question_id: object) -> Question:
    _moderator_required(moderator)
    question = _question_locked(question_id)
    if question.duplicate_of_id is not None:
        question.duplicate_of_id, question.closed = None, None
        question.save(update_fields=["duplicate_of", "closed"])
        ModerationLog.objects.create(
            actor=moderator, action="question.reopen", target=f"question:{question.pk}"
        )
        _question_state_publish(question)
    return question
