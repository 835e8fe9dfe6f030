"""JSON shapes of Q&A objects, shared by stream events, the API and pages."""

from __future__ import annotations

from typing import Any

from community.payloads import iso_utc, member_payload
from qa.models import Answer, Question, Tag


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
    }
