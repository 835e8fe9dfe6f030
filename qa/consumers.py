"""The question socket, `/ws/questions/<id>/`: websocket contract v1 on realtime's base.

Read-only: answers, votes, acceptance, comments, edits, locks and duplicate closures
arrive as durable events (`answer.created`, `score.updated`, `answer.accepted`, ...)
from the question's stream. Writes go over HTTP (forms, htmx, the JSON API), which
call the same services.
"""

from __future__ import annotations

from typing import Any

from channels.db import database_sync_to_async

from community.permissions import is_moderator
from qa.models import Question
from realtime.consumers import CLOSE_NOT_FOUND, StreamClosed, StreamConsumer


class QuestionConsumer(StreamConsumer):
    # Who is reading a question is nobody's business; no presence here.
    track_presence = False

    async def stream_resolve(self) -> int:
        raw = self.scope["url_route"]["kwargs"]["question_id"]
        if not raw.isdigit() or len(raw) > 18:
            raise StreamClosed(CLOSE_NOT_FOUND)
        self.question_id = int(raw)
        stream_id = await database_sync_to_async(self._stream_id)()
        if stream_id is None:
            raise StreamClosed(CLOSE_NOT_FOUND)
        return stream_id

    def _stream_id(self) -> int | None:
        return (
            Question.objects.filter(pk=self.question_id).values_list("stream_id", flat=True).first()
        )

    async def stream_state(self) -> dict[str, Any]:
        return await database_sync_to_async(self._state)()

    def _state(self) -> dict[str, Any]:
        question = (
            Question.objects.filter(pk=self.question_id)
            .values(
                "score",
                "answer_count",
                "accepted_answer_id",
                "is_locked",
                "duplicate_of_id",
                "author_id",
            )
            .first()
        )
        if question is None:
            return {"deleted": True}
        member = self.scope["user"]
        moderator = is_moderator(member)
        return {
            "score": question["score"],
            "answer_count": question["answer_count"],
            "accepted_answer_id": question["accepted_answer_id"],
            "locked": question["is_locked"],
            "duplicate_of": question["duplicate_of_id"],
            "can_answer": moderator or not (question["is_locked"] or question["duplicate_of_id"]),
            "can_accept": moderator or question["author_id"] == member.pk,
            "can_moderate": moderator,
        }
