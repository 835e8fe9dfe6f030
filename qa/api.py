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
from qa import selectors, services
from qa.payloads import answer_payload, question_payload

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


class QuestionDetailOut(QuestionOut):
    answers: list[AnswerOut]
    my_vote: int


class QuestionList(Schema):
    items: list[QuestionOut]
    next: str | None


class QuestionFilters(Schema):
    sort: str = Field("newest", pattern="^(newest|active|votes|unanswered)$")
    tag: str | None = Field(None, max_length=35)
    q: str | None = Field(None, max_length=200)
    limit: int = Field(selectors.DEFAULT_LIMIT, ge=1, le=selectors.MAX_LIMIT)
    cursor: str | None = Field(None, max_length=200)


class QuestionIn(StrictSchema):
    title: StrictStr
    body: StrictStr
    tags: list[StrictStr]


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
    member = request.user
    answers = selectors.question_answers(question=question, member=member)
    votes = selectors.member_votes(member=member, question=question, answers=answers)
    payload = question_payload(question)
    payload["answers"] = [
        answer_payload(answer, accepted=answer.pk == question.accepted_answer_id)
        for answer in answers
    ]
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
        sort=filters.sort, tag=filters.tag, q=filters.q, limit=filters.limit, cursor=filters.cursor
    )
    return {"items": [question_payload(question) for question in page.items], "next": page.next}


@router.post("/questions/", response={201: QuestionDetailOut, **ERRORS})
def question_ask(request: HttpRequest, payload: QuestionIn):
    question = services.question_ask(
        member=request.auth, title=payload.title, body=payload.body, tags=payload.tags
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
