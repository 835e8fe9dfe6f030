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
from qa.models import Question, Vote

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
