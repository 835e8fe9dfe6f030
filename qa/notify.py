"""Who hears about what in Q&A: followers of a question or tag, and the addressee of a
direct question. Notifications go through `community.notifications.notification_send`
(stored, then pushed on `/ws/me/` after commit); e-mail is sent after commit too.

Called only from qa.services, inside their transactions.
"""

from __future__ import annotations

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction

from community.models import Member
from community.notifications import notification_send
from qa.models import Answer, Follow, Question


def _send(**kwargs) -> None:
    notification_send(**kwargs)


def _follower_ids(question: Question) -> set[int]:
    """Members following the question or any of its tags. One query."""
    tag_ids = list(question.tags.values_list("pk", flat=True))
    rows = Follow.objects.filter(question=question) | Follow.objects.filter(tag_id__in=tag_ids)
    return set(rows.values_list("member_id", flat=True))


def answer_created(*, question: Question, answer: Answer) -> list[int]:
    """Tell followers of the question (and of its tags) about a new answer."""
    author = answer.author
    recipients = _follower_ids(question) - {answer.author_id}
    who = author.name if author else "Someone"
    for member_id in sorted(recipients):
        _send(
            member_id=member_id,
            kind="qa.answer",
            title=f"{who} answered “{question.title}”",
            url=answer.get_absolute_url(),
            data={"question_id": question.pk, "answer_id": answer.pk},
        )
    return sorted(recipients)


def question_created(*, question: Question, tag_ids: list[int]) -> list[int]:
    """Tell followers of the question's tags (not the asker, not the addressee twice)."""
    recipients = set(
        Follow.objects.filter(tag_id__in=tag_ids).values_list("member_id", flat=True)
    ) - {question.author_id}
    recipients -= set(addressees(question))
    for member_id in sorted(recipients):
        _send(
            member_id=member_id,
            kind="qa.question",
            title=f"New question: “{question.title}”",
            url=question.get_absolute_url(),
            data={"question_id": question.pk},
        )
    return sorted(recipients)


def addressees(question: Question) -> list[int]:
    if question.addressed_member_id:
        return [question.addressed_member_id]
    if question.addressed_organisation_id:
        return list(
            Member.objects.filter(
                organisation_id=question.addressed_organisation_id, is_active=True
            )
            .exclude(pk=question.author_id)
            .values_list("pk", flat=True)
        )
    return []


def question_addressed(*, question: Question) -> list[int]:
    """A direct question: each addressee is told live and by e-mail (after commit)."""
    asker = question.author.name if question.author else "Someone"
    to = (
        "you"
        if question.addressed_member_id
        else question.addressed_organisation.name
        if question.addressed_organisation_id
        else ""
    )
    recipients = addressees(question)
    url = question.get_absolute_url()
    title = f"{asker} asked {to}: “{question.title}”"
    emails = dict(Member.objects.filter(pk__in=recipients).values_list("pk", "email"))
    for member_id in recipients:
        _send(
            member_id=member_id,
            kind="qa.addressed",
            title=title,
            url=url,
            data={"question_id": question.pk},
        )
    site = getattr(settings, "SITE_URL", "").rstrip("/")
    body = (
        f"{title}\n\n{question.body[:2000]}\n\nAnswer it on Convene: {site}{url}\n\n"
        "You get this e-mail because the question was addressed to you or your organisation."
    )
    addresses = [emails[pk] for pk in recipients if emails.get(pk)]
    for address in addresses:
        transaction.on_commit(
            lambda address=address: send_mail(
                subject=f"[Convene] {title}"[:200],
                message=body,
                from_email=None,
                recipient_list=[address],
                fail_silently=True,
            )
        )
    return recipients
