"""/ws/questions/<id>/: answers, votes, acceptance and moderation arrive live, in order,
and a reconnecting page resumes from the log (contract v1, through the real ASGI app)."""

from __future__ import annotations

import pytest
from asgiref.sync import sync_to_async

from qa import services
from tests.realtime.wsutil import open_socket, receive, send

pytestmark = pytest.mark.django_db(transaction=True)


def path_for(question) -> str:
    return f"/ws/questions/{question.pk}/"


async def closed_with(communicator) -> int:
    output = await communicator.receive_output(timeout=3)
    assert output["type"] == "websocket.close", output
    return output["code"]


async def test_anonymous_is_4401_and_unknown_or_malformed_ids_are_4404(member, question):
    socket, connected, _ = await open_socket(path_for(question))
    assert connected and await closed_with(socket) == 4401
    for path in ("/ws/questions/999999/", "/ws/questions/abc/", "/ws/questions/-1/"):
        socket, connected, _ = await open_socket(path, member)
        assert connected and await closed_with(socket) == 4404, path


async def test_answers_votes_and_acceptance_arrive_live(member, other_member, moderator, question):
    asker, ok, _ = await open_socket(path_for(question), member)
    assert ok
    await send(asker, {"type": "hello", "after": 0})
    ready = await receive(asker)
    assert ready["type"] == "ready"
    assert ready["state"]["can_accept"] is True and ready["state"]["answer_count"] == 0

    answer = await sync_to_async(services.answer_post)(
        member=other_member, question_id=question.pk, body="Try the **voucher**."
    )
    event = await receive(asker)
    assert event["kind"] == "answer.created"
    assert event["data"]["id"] == answer.pk
    assert "<strong>voucher</strong>" in event["data"]["html"]

    await sync_to_async(services.vote_cast)(
        member=member, target="answer", target_id=answer.pk, value=1
    )
    event = await receive(asker)
    assert event["kind"] == "score.updated"
    assert event["data"] == {"target": "answer", "id": answer.pk, "score": 1}

    await sync_to_async(services.answer_accept)(
        member=member, question_id=question.pk, answer_id=answer.pk
    )
    event = await receive(asker)
    assert event["kind"] == "answer.accepted" and event["data"]["answer_id"] == answer.pk

    await sync_to_async(services.comment_add)(
        member=other_member, target="answer", target_id=answer.pk, body="Thanks!"
    )
    event = await receive(asker)
    assert event["kind"] == "comment.created" and event["data"]["target_id"] == answer.pk

    await sync_to_async(services.question_lock)(moderator=moderator, question_id=question.pk)
    event = await receive(asker)
    assert event["kind"] == "question.updated" and event["data"]["locked"] is True
    assert event["seq"] == 5  # one event per change, in order, no gaps
    await asker.disconnect()


async def test_reconnect_resumes_without_gaps_or_repeats(member, other_member, question):
    socket, ok, _ = await open_socket(path_for(question), member)
    await send(socket, {"type": "hello", "after": 0})
    assert (await receive(socket))["type"] == "ready"
    first = await sync_to_async(services.answer_post)(
        member=other_member, question_id=question.pk, body="First answer."
    )
    seen = await receive(socket)
    assert seen["seq"] == 1 and seen["data"]["id"] == first.pk
    await socket.disconnect()

    # While the page is offline: another answer and a vote.
    second = await sync_to_async(services.answer_post)(
        member=other_member, question_id=question.pk, body="Second answer."
    )
    await sync_to_async(services.vote_cast)(
        member=member, target="answer", target_id=second.pk, value=-1
    )

    socket, ok, _ = await open_socket(path_for(question), member)
    assert ok
    await send(socket, {"type": "hello", "after": 1})
    replay = [await receive(socket) for _ in range(3)]
    assert [frame.get("seq") for frame in replay[:2]] == [2, 3]
    assert [frame.get("kind") for frame in replay[:2]] == ["answer.created", "score.updated"]
    assert replay[2]["type"] == "ready" and replay[2]["last_seq"] == 3
    assert replay[2]["state"]["answer_count"] == 2
    await socket.disconnect()
