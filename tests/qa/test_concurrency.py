"""Votes racing on one post: the row lock and the unique constraint keep counts exact.

On SQLite, immediate transactions serialise the writers; on PostgreSQL
(DATABASE_URL set) the post row's SELECT ... FOR UPDATE does. Either way no vote
is lost or doubled, and no race becomes a 500.
"""

from __future__ import annotations

import threading

import pytest
from django.db import connection

from qa import services
from qa.models import Answer, Question, Vote

pytestmark = pytest.mark.django_db(transaction=True)


def _race(calls) -> list[BaseException]:
    errors: list[BaseException] = []
    barrier = threading.Barrier(len(calls))

    def run(call):
        try:
            barrier.wait()
            call()
        except BaseException as error:  # collected and asserted on below
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(call,)) for call in calls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return errors


def test_concurrent_votes_are_counted_exactly(make_question, make_member):
    question = make_question()
    voters = [make_member() for _ in range(6)]
    repeat = make_member()
    calls = [
        lambda voter=voter: services.vote_cast(
            member=voter, target="question", target_id=question.pk, value=1
        )
        for voter in voters
    ] + [
        lambda: services.vote_cast(
            member=repeat, target="question", target_id=question.pk, value=-1
        )
        for _ in range(4)
    ]
    errors = _race(calls)
    assert errors == []
    question = Question.objects.get(pk=question.pk)
    assert Vote.objects.filter(member=repeat).count() == 1
    assert question.score == 6 - 1
    assert services.counters_recount().total == 0


def test_one_member_racing_different_values_leaves_one_vote(make_question, make_member, recount):
    """Up, down, undo and up again from one member at once: one row (or none), exact score."""
    question = make_question()
    voter = make_member()
    answer = services.answer_post(member=make_member(), question_id=question.pk, body="An answer.")
    values = [1, -1, 0, 1, -1, 1, 0, 1]
    calls = [
        lambda value=value, target=target, pk=pk: services.vote_cast(
            member=voter, target=target, target_id=pk, value=value
        )
        for value in values
        for target, pk in (("question", question.pk), ("answer", answer.pk))
    ]
    assert _race(calls) == []
    for model, field, pk in ((Question, "question", question.pk), (Answer, "answer", answer.pk)):
        votes = list(
            Vote.objects.filter(member=voter, **{field: pk}).values_list("value", flat=True)
        )
        assert len(votes) <= 1
        assert model.objects.get(pk=pk).score == sum(votes)
    assert "drift: 0 " in recount()


def test_concurrent_views_count_once_a_day(make_question, make_member):
    question = make_question()
    viewers = [make_member() for _ in range(3)]
    calls = [
        lambda viewer=viewer: services.question_view_record(member=viewer, question_id=question.pk)
        for viewer in viewers
        for _ in range(3)
    ]
    assert _race(calls) == []
    assert Question.objects.get(pk=question.pk).view_count == 3
    assert services.counters_recount().total == 0
