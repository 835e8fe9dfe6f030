"""JSON shapes of Q&A objects, shared by stream events, the API and pages."""

from __future__ import annotations

from typing import Any

from community.payloads import iso_utc, member_payload
from qa.models import Answer, Comment, Question, Tag


def tag_payload(tag: Tag) -> dict[str, Any]:
    return {"slug": tag.slug, "name": tag.name, "sector": tag.sector_id is not None}


def source_payload(post: Question | Answer) -> dict[str, Any] | None:
    if not post.is_imported:
        return None
    return {
        "site": post.source_site,
        "id": post.source_id,
        "url": post.source_url,
        "author_url": post.source_author_url or None,
        "author_name": post.source_author_name or None,
        "licence": post.licence,
        "licence_url": post.licence_url,
    }


def answer_payload(answer: Answer, *, accepted: bool = False) -> dict[str, Any]:
    return {
        "id": answer.pk,
        "question_id": answer.question_id,
        "author": member_payload(answer.author) if answer.author else None,
        "body": answer.body,
        "html": answer.html,
        "created": iso_utc(answer.created),
        "updated": iso_utc(answer.updated),
        "score": answer.score,
        "accepted": accepted,
        "hidden": answer.is_hidden,
        "source": source_payload(answer),
    }


def question_payload(question: Question) -> dict[str, Any]:
    """Tags must be prefetched (`prefetch_related("tags")`) to keep query counts flat."""
    return {
        "id": question.pk,
        "title": question.title,
        "body": question.body,
        "html": question.html,
        "author": member_payload(question.author) if question.author else None,
        "created": iso_utc(question.created),
        "updated": iso_utc(question.updated),
        "last_activity": iso_utc(question.last_activity),
        "score": question.score,
        "answer_count": question.answer_count,
        "accepted_answer_id": question.accepted_answer_id,
        "locked": question.is_locked,
        "tags": [tag_payload(tag) for tag in question.tags.all()],
        "source": source_payload(question),
        "url": question.get_absolute_url(),
        "view_count": question.view_count,
        "duplicate_of": question.duplicate_of_id,
        "addressed_to": addressed_payload(question),
    }


def addressed_payload(question: Question) -> dict[str, Any] | None:
    """select_related("addressed_organisation", "addressed_member") keeps this query-free."""
    if question.addressed_organisation_id:
        organisation = question.addressed_organisation
        return {"kind": "organisation", "id": organisation.pk, "name": organisation.name}
    if question.addressed_member_id:
        member = question.addressed_member
        return {"kind": "member", "id": member.pk, "name": member.name}
    return None


def comment_payload(comment: Comment, *, question_id: int | None = None) -> dict[str, Any]:
    return {
        "id": comment.pk,
        "question_id": question_id if question_id is not None else comment.question_id,
        "target": "answer" if comment.answer_id else "question",
        "target_id": comment.answer_id or comment.question_id,
        "author": member_payload(comment.author) if comment.author else None,
        "source_author": comment.source_author or None,
        "body": comment.body,
        "html": comment.html,
        "created": iso_utc(comment.created),
    }
