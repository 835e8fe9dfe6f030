"""Q&A reads: sorts, keyset pagination, tag filter, literal search, answer order."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from community.errors import NotFound, ServiceError
from qa import selectors, services
from qa.models import Question

pytestmark = pytest.mark.django_db


def _titles(page) -> list[str]:
    return [question.title for question in page.items]


@pytest.fixture
def three(make_question, make_answer, make_member):
    """Three questions a day apart: old (2 votes, answered), mid (no answers), new (-1)."""
    old = make_question(title="old", tags=["funding"])
    mid = make_question(title="mid", tags=["export", "funding"])
    new = make_question(title="new", tags=["export"])
    now = timezone.now()
    for days, question in ((3, old), (2, mid), (1, new)):
        Question.objects.filter(pk=question.pk).update(
            created=now - timedelta(days=days), last_activity=now - timedelta(days=days)
        )
    make_answer(old)
    for _ in range(2):
        services.vote_cast(member=make_member(), target="question", target_id=old.pk, value=1)
    services.vote_cast(member=make_member(), target="question", target_id=new.pk, value=-1)
    return old, mid, new


def test_sorts(three):
    assert _titles(selectors.question_list(sort="newest")) == ["new", "mid", "old"]
    assert _titles(selectors.question_list(sort="votes")) == ["old", "mid", "new"]
    assert _titles(selectors.question_list(sort="unanswered")) == ["new", "mid"]
    # Answering makes a question active.
    assert _titles(selectors.question_list(sort="active")) == ["old", "new", "mid"]


def test_tag_filter(three):
    assert _titles(selectors.question_list(tag="export")) == ["new", "mid"]
    assert _titles(selectors.question_list(tag="FUNDING")) == ["mid", "old"]
    assert _titles(selectors.question_list(tag="nothing")) == []


@pytest.mark.parametrize("sort", ["newest", "votes", "unanswered", "active"])
def test_keyset_pages_neither_repeat_nor_skip(make_question, make_member, sort):
    questions = [make_question(title=f"q{n}") for n in range(7)]
    # Ties on the sort key (same created time, same score) are broken by id.
    same = timezone.now() - timedelta(hours=1)
    Question.objects.filter(pk__in=[q.pk for q in questions[:4]]).update(
        created=same, last_activity=same
    )
    for question in questions[::2]:
        services.vote_cast(member=make_member(), target="question", target_id=question.pk, value=1)
    everything = _titles(selectors.question_list(sort=sort, limit=100))
    seen, cursor = [], None
    while True:
        page = selectors.question_list(sort=sort, limit=3, cursor=cursor)
        seen += _titles(page)
        cursor = page.next
        if cursor is None:
            break
    assert seen == everything
    assert len(seen) == len(set(seen)) == 7


@pytest.mark.parametrize(
    "cursor", ["garbage", "eyJzIjoidm90ZXMiLCJrIjoxLCJpIjoxfQ", "x" * 300, "e30"]
)
def test_bad_cursor_is_400(db, cursor):
    with pytest.raises(ServiceError) as caught:
        selectors.question_list(sort="newest", cursor=cursor)
    assert caught.value.status == 400
    assert "cursor" in caught.value.fields


def test_bad_sort_and_limit(db):
    for kwargs in ({"sort": "random"}, {"limit": 0}, {"limit": 1000}, {"limit": True}):
        with pytest.raises(ServiceError):
            selectors.question_list(**kwargs)


def test_search_treats_percent_and_underscore_literally(make_question):
    make_question(title="Is 100% match funding real?")
    make_question(title="Using snake_case in forms")
    make_question(title="Plain question", body="nothing special here")
    assert _titles(selectors.question_list(q="100%")) == ["Is 100% match funding real?"]
    assert _titles(selectors.question_list(q="%")) == ["Is 100% match funding real?"]
    assert _titles(selectors.question_list(q="_")) == ["Using snake_case in forms"]
    assert _titles(selectors.question_list(q="snake_")) == ["Using snake_case in forms"]
    assert _titles(selectors.question_list(q="SPECIAL")) == ["Plain question"]
    assert _titles(selectors.question_list(q="\\")) == []


def test_question_get_unknown_is_not_found(db):
    for question_id in (123456, "1", None, True):
        with pytest.raises(NotFound):
            selectors.question_get(question_id=question_id)


def test_answers_accepted_first_then_score_then_oldest(
    question, member, make_answer, make_member, moderator
):
    a, b, c, d = (make_answer(question, make_member(), body=f"answer {n}") for n in range(4))
    services.vote_cast(member=make_member(), target="answer", target_id=c.pk, value=1)
    services.answer_accept(member=member, question_id=question.pk, answer_id=d.pk)
    question.refresh_from_db()
    order = selectors.question_answers(question=question, member=member)
    assert [answer.pk for answer in order] == [d.pk, c.pk, a.pk, b.pk]
    services.answer_hide(moderator=moderator, answer_id=a.pk)
    question.refresh_from_db()
    assert a.pk not in [x.pk for x in selectors.question_answers(question=question, member=member)]
    assert a.pk in [x.pk for x in selectors.question_answers(question=question, member=moderator)]


def test_list_query_count_is_constant(make_question, django_assert_num_queries):
    for n in range(3):
        make_question(title=f"q{n}", tags=["a", "b"])
    with django_assert_num_queries(2):  # questions (+ authors, organisations), tags
        list(selectors.question_list().items)
    for n in range(10):
        make_question(title=f"more{n}", tags=["a", "b", "c", "d", "e"])
    with django_assert_num_queries(2):
        list(selectors.question_list().items)
