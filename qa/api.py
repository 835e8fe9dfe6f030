"""Q&A over JSON. Thin: parse (strict types, no silent coercion), call a selector or service.

Reads are open to everyone (`auth=None`; the session user, if any, comes from
`request.user`); writes use the API's session auth, which enforces CSRF.
"""

from __future__ import annotations

from typing import Annotated

from django.http import HttpRequest
from ninja import Field, Query, Router, Schema, Status
from pydantic import ConfigDict, StrictInt, StrictStr

from community.api import AuthorOut, ErrorOut
from community.payloads import iso_utc, member_payload
from qa import selectors, services
from qa.payloads import answer_payload, comment_payload, question_payload, tag_payload

router = Router(tags=["questions"])


class StrictSchema(Schema):
    model_config = ConfigDict(extra="forbid")


ERRORS = {
    400: ErrorOut, 401: ErrorOut, 403: ErrorOut, 404: ErrorOut, 409: ErrorOut,
    413: ErrorOut, 429: ErrorOut,
}  # fmt: skip


class TagOut(Schema):
    slug: str
    name: str
    sector: bool


class SourceOut(Schema):
    site: str
    id: int | None
    url: str
    author_url: str | None
    author_name: str | None = None
    licence: str
    licence_url: str


class AnswerOut(Schema):
    id: int
    question_id: int
    author: AuthorOut | None
    body: str
    html: str
    created: str
    updated: str | None
    score: int
    accepted: bool
    hidden: bool
    source: SourceOut | None


class AddressedOut(Schema):
    kind: str
    id: int
    name: str


class CommentOut(Schema):
    id: int
    question_id: int
    target: str
    target_id: int
    author: AuthorOut | None
    source_author: str | None
    body: str
    html: str
    created: str


class QuestionOut(Schema):
    id: int
    title: str
    body: str
    html: str
    author: AuthorOut | None
    created: str
    updated: str | None
    last_activity: str
    score: int
    answer_count: int
    accepted_answer_id: int | None
    locked: bool
    tags: list[TagOut]
    source: SourceOut | None
    url: str
    view_count: int
    duplicate_of: int | None
    addressed_to: AddressedOut | None


class AnswerWithCommentsOut(AnswerOut):
    comments: list[CommentOut]


class QuestionDetailOut(QuestionOut):
    answers: list[AnswerWithCommentsOut]
    comments: list[CommentOut]
    my_vote: int


class QuestionList(Schema):
    items: list[QuestionOut]
    next: str | None


class QuestionFilters(Schema):
    sort: str = Field("newest", pattern="^(newest|active|votes|unanswered|relevance)$")
    tag: str | None = Field(None, max_length=35)
    q: str | None = Field(None, max_length=200)
    answered: str | None = Field(None, pattern="^(yes|no|accepted)$")
    limit: int = Field(selectors.DEFAULT_LIMIT, ge=1, le=selectors.MAX_LIMIT)
    cursor: str | None = Field(None, max_length=200)


class AddresseeIn(StrictSchema):
    kind: Annotated[StrictStr, Field(pattern="^(organisation|member)$")]
    id: StrictInt


class QuestionIn(StrictSchema):
    title: StrictStr
    body: StrictStr
    tags: list[StrictStr]
    addressed_to: AddresseeIn | None = None


class QuestionEditIn(StrictSchema):
    title: StrictStr
    body: StrictStr
    tags: list[StrictStr]


class CommentIn(StrictSchema):
    body: StrictStr


class FollowIn(StrictSchema):
    on: bool = True


class FollowOut(Schema):
    following: bool


class CloseIn(StrictSchema):
    duplicate_of: StrictInt


class RevisionOut(Schema):
    number: int
    author: AuthorOut | None
    created: str
    title: str
    tags: list[str]
    body: str
    diff: list[list[str]]


class TagCountOut(TagOut):
    questions: int


class DeletedOut(Schema):
    id: int
    deleted: bool


class AnswerIn(StrictSchema):
    body: StrictStr


class VoteIn(StrictSchema):
    value: StrictInt


class VoteOut(Schema):
    target: str
    id: int
    question_id: int
    value: int
    score: int


class AcceptIn(StrictSchema):
    answer_id: StrictInt | None


class LockIn(StrictSchema):
    reason: Annotated[StrictStr, Field(max_length=300)] = ""


class HideIn(StrictSchema):
    reason: Annotated[StrictStr, Field(max_length=300)] = ""


def _detail(request: HttpRequest, question) -> dict:
    member = request.auth if getattr(request, "auth", None) else request.user
    answers = selectors.question_answers(question=question, member=member)
    votes = selectors.member_votes(member=member, question=question, answers=answers)
    on_question, on_answers = selectors.question_comments(question=question, answers=answers)
    payload = question_payload(question)
    payload["answers"] = [
        {
            **answer_payload(answer, accepted=answer.pk == question.accepted_answer_id),
            "comments": [
                comment_payload(c, question_id=question.pk) for c in on_answers[answer.pk]
            ],
        }
        for answer in answers
    ]
    payload["comments"] = [comment_payload(c, question_id=question.pk) for c in on_question]
    payload["my_vote"] = votes["question"]
    return payload


def _vote_out(result: services.VoteResult) -> dict:
    return {
        "target": result.target,
        "id": result.target_id,
        "question_id": result.question_id,
        "value": result.value,
        "score": result.score,
    }


@router.get("/questions/", response={200: QuestionList, **ERRORS}, auth=None)
def questions_list(request: HttpRequest, filters: Query[QuestionFilters]):
    page = selectors.question_list(
        sort=filters.sort,
        tag=filters.tag,
        q=filters.q,
        answered=filters.answered,
        limit=filters.limit,
        cursor=filters.cursor,
    )
    return {"items": [question_payload(question) for question in page.items], "next": page.next}


@router.post("/questions/", response={201: QuestionDetailOut, **ERRORS})
def question_ask(request: HttpRequest, payload: QuestionIn):
    question = services.question_ask(
        member=request.auth,
        title=payload.title,
        body=payload.body,
        tags=payload.tags,
        addressed_to=payload.addressed_to.model_dump() if payload.addressed_to else None,
    )
    return Status(201, _detail(request, selectors.question_get(question_id=question.pk)))


@router.get("/questions/{question_id}/", response={200: QuestionDetailOut, **ERRORS}, auth=None)
def question_get(request: HttpRequest, question_id: int):
    return _detail(request, selectors.question_get(question_id=question_id))


@router.post("/questions/{question_id}/answers/", response={201: AnswerOut, **ERRORS})
def answer_post(request: HttpRequest, question_id: int, payload: AnswerIn):
    answer = services.answer_post(member=request.auth, question_id=question_id, body=payload.body)
    return Status(201, answer_payload(answer))


@router.post("/questions/{question_id}/vote/", response={200: VoteOut, **ERRORS})
def question_vote(request: HttpRequest, question_id: int, payload: VoteIn):
    result = services.vote_cast(
        member=request.auth, target="question", target_id=question_id, value=payload.value
    )
    return _vote_out(result)


@router.post("/answers/{answer_id}/vote/", response={200: VoteOut, **ERRORS})
def answer_vote(request: HttpRequest, answer_id: int, payload: VoteIn):
    result = services.vote_cast(
        member=request.auth, target="answer", target_id=answer_id, value=payload.value
    )
    return _vote_out(result)


@router.post("/questions/{question_id}/accept/", response={200: QuestionDetailOut, **ERRORS})
def answer_accept(request: HttpRequest, question_id: int, payload: AcceptIn):
    services.answer_accept(
        member=request.auth, question_id=question_id, answer_id=payload.answer_id
    )
    return _detail(request, selectors.question_get(question_id=question_id))


@router.post("/questions/{question_id}/mute/", response={200: QuestionOut, **ERRORS})
def question_mute(request: HttpRequest, question_id: int, payload: LockIn | None = None):
    services.question_lock(
        moderator=request.auth, question_id=question_id, reason=payload.reason if payload else ""
    )
    return question_payload(selectors.question_get(question_id=question_id))


@router.post("/questions/{question_id}/unmute/", response={200: QuestionOut, **ERRORS})
def question_unmute(request: HttpRequest, question_id: int):
    services.question_unlock(moderator=request.auth, question_id=question_id)
    return question_payload(selectors.question_get(question_id=question_id))


@router.post("/answers/{answer_id}/hide/", response={200: AnswerOut, **ERRORS})
def answer_hide(request: HttpRequest, answer_id: int, payload: HideIn | None = None):
    answer = services.answer_hide(
        moderator=request.auth, answer_id=answer_id, reason=payload.reason if payload else ""
    )
    return answer_payload(answer)


@router.post("/answers/{answer_id}/restore/", response={200: AnswerOut, **ERRORS})
def answer_restore(request: HttpRequest, answer_id: int):
    return answer_payload(services.answer_restore(moderator=request.auth, answer_id=answer_id))


@router.put("/questions/{question_id}/", response={200: QuestionDetailOut, **ERRORS})
def question_edit(request: HttpRequest, question_id: int, payload: QuestionEditIn):
    services.question_edit(
        member=request.auth,
        question_id=question_id,
        title=payload.title,
        body=payload.body,
        tags=payload.tags,
    )
    return _detail(request, selectors.question_get(question_id=question_id))


@router.put("/answers/{answer_id}/", response={200: AnswerOut, **ERRORS})
def answer_edit(request: HttpRequest, answer_id: int, payload: AnswerIn):
    return answer_payload(
        services.answer_edit(member=request.auth, answer_id=answer_id, body=payload.body)
    )


@router.delete("/answers/{answer_id}/", response={200: DeletedOut, **ERRORS})
def answer_delete(request: HttpRequest, answer_id: int):
    return {"id": services.answer_delete(member=request.auth, answer_id=answer_id), "deleted": True}


@router.post("/questions/{question_id}/comments/", response={201: CommentOut, **ERRORS})
def question_comment(request: HttpRequest, question_id: int, payload: CommentIn):
    comment = services.comment_add(
        member=request.auth, target="question", target_id=question_id, body=payload.body
    )
    return Status(201, comment_payload(comment))


@router.post("/answers/{answer_id}/comments/", response={201: CommentOut, **ERRORS})
def answer_comment(request: HttpRequest, answer_id: int, payload: CommentIn):
    comment = services.comment_add(
        member=request.auth, target="answer", target_id=answer_id, body=payload.body
    )
    return Status(201, comment_payload(comment, question_id=comment.answer.question_id))


@router.delete("/comments/{comment_id}/", response={200: DeletedOut, **ERRORS})
def comment_delete(request: HttpRequest, comment_id: int):
    return {
        "id": services.comment_delete(member=request.auth, comment_id=comment_id),
        "deleted": True,
    }


def _revisions_out(views) -> list[dict]:
    return [
        {
            "number": view.revision.number,
            "author": member_payload(view.revision.author) if view.revision.author else None,
            "created": iso_utc(view.revision.created),
            "title": view.revision.title,
            "tags": view.revision.tags.split(),
            "body": view.revision.body,
            "diff": [[mark, line] for mark, line in view.diff],
        }
        for view in views
    ]


@router.get(
    "/questions/{question_id}/revisions/", response={200: list[RevisionOut], **ERRORS}, auth=None
)
def question_revisions(request: HttpRequest, question_id: int):
    question = selectors.question_get(question_id=question_id)
    return _revisions_out(selectors.post_revisions(question=question))


@router.get(
    "/answers/{answer_id}/revisions/", response={200: list[RevisionOut], **ERRORS}, auth=None
)
def answer_revisions(request: HttpRequest, answer_id: int):
    answer = selectors.answer_get(answer_id=answer_id, member=request.user)
    return _revisions_out(selectors.post_revisions(answer=answer))


@router.post("/questions/{question_id}/follow/", response={200: FollowOut, **ERRORS})
def question_follow(request: HttpRequest, question_id: int, payload: FollowIn | None = None):
    on = payload.on if payload else True
    return {"following": services.follow_set(member=request.auth, question_id=question_id, on=on)}


@router.post("/tags/{slug}/follow/", response={200: FollowOut, **ERRORS})
def tag_follow(request: HttpRequest, slug: str, payload: FollowIn | None = None):
    on = payload.on if payload else True
    return {"following": services.follow_set(member=request.auth, tag=slug[:35], on=on)}


@router.get("/tags/", response={200: list[TagCountOut], **ERRORS}, auth=None)
def tags_list(request: HttpRequest):
    return [{**tag_payload(tag), "questions": tag.used} for tag in selectors.tags_popular()]


@router.post("/questions/{question_id}/close/", response={200: QuestionOut, **ERRORS})
def question_close(request: HttpRequest, question_id: int, payload: CloseIn):
    services.question_close_duplicate(
        moderator=request.auth, question_id=question_id, duplicate_of=payload.duplicate_of
    )
    return question_payload(selectors.question_get(question_id=question_id))


@router.post("/questions/{question_id}/reopen/", response={200: QuestionOut, **ERRORS})
def question_reopen(request: HttpRequest, question_id: int):
    services.question_reopen(moderator=request.auth, question_id=question_id)
    return question_payload(selectors.question_get(question_id=question_id))
