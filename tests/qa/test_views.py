"""Q&A pages: lists, question page, forms with and without htmx, credits, query counts."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from qa import services
from qa.models import Answer, Question, Vote

pytestmark = pytest.mark.django_db

HTMX = {"HX-Request": "true"}


@pytest.fixture
def client_for():
    def make(member=None) -> Client:
        client = Client()
        if member is not None:
            client.force_login(member)
        return client

    return make


def _list_url(**params) -> str:
    from urllib.parse import urlencode

    return reverse("qa:question_list") + ("?" + urlencode(params) if params else "")


# --- reading ---------------------------------------------------------------------------


def test_anonymous_can_read_list_and_question(question, make_answer, client_for):
    make_answer(question, body="Use the *voucher*.")
    client = client_for()
    response = client.get(_list_url())
    assert response.status_code == 200
    assert question.title in response.content.decode()
    response = client.get(question.get_absolute_url())
    page = response.content.decode()
    assert response.status_code == 200
    assert "<em>small batches</em>" not in page  # markdown ** is strong
    assert "<strong>small batches</strong>" in page
    assert "Use the <em>voucher</em>." in page
    assert "Sign in to answer" in page


def test_list_sorts_tags_and_search(make_question, make_answer, client_for, other_member):
    answered = make_question(title="Answered one", tags=["export"])
    make_answer(answered)
    voted = make_question(title="Voted one", tags=["funding"])
    services.vote_cast(member=other_member, target="question", target_id=voted.pk, value=1)
    make_question(title="Fresh one", tags=["funding"])
    client = client_for()

    def titles(**params) -> list[str]:
        page = client.get(_list_url(**params)).content.decode()
        found = [t for t in ("Answered one", "Voted one", "Fresh one") if t in page]
        return sorted(found, key=page.index)

    assert titles() == ["Fresh one", "Voted one", "Answered one"]
    assert titles(sort="votes")[0] == "Voted one"
    assert titles(sort="unanswered") == ["Fresh one", "Voted one"]
    assert titles(tag="export") == ["Answered one"]
    assert titles(q="fresh") == ["Fresh one"]
    assert client.get(_list_url(sort="nonsense")).status_code == 400
    assert client.get(_list_url(cursor="nonsense")).status_code == 400


def test_list_paginates_with_an_older_link(make_question, client_for):
    for n in range(25):
        make_question(title=f"Question number {n:02d}")
    client = client_for()
    first = client.get(_list_url()).content.decode()
    assert "Question number 24" in first and "Question number 04" not in first
    assert 'rel="next"' in first
    import re

    next_url = re.search(r'<a rel="next" href="([^"]+)"', first).group(1).replace("&amp;", "&")
    second = client.get(reverse("qa:question_list") + next_url).content.decode()
    assert "Question number 04" in second and "Question number 24" not in second
    assert 'rel="next"' not in second


def test_unknown_question_is_404(client_for, member):
    assert client_for().get("/questions/999999/").status_code == 404
    client = client_for(member)
    assert client.post("/questions/999999/answers/", {"body": "hi"}).status_code == 404
    assert client.post("/questions/999999/vote/", {"value": "1"}).status_code == 404
    assert client.post("/questions/answers/999999/vote/", {"value": "1"}).status_code == 404
    assert client.post("/questions/999999/accept/", {"answer_id": ""}).status_code == 404
    assert not Answer.objects.exists()


def test_recent_fragment(make_question, client_for):
    for n in range(7):
        make_question(title=f"Recent {n}")
    response = client_for().get(reverse("qa:recent_fragment"))
    page = response.content.decode()
    assert response.status_code == 200
    assert "<html" not in page
    assert "Recent 6" in page and "Recent 1" not in page


# --- asking ----------------------------------------------------------------------------


def test_ask_needs_sign_in(client_for):
    response = client_for().get(reverse("qa:question_ask"))
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]
    response = client_for().post(reverse("qa:question_ask"), {"title": "t", "body": "b"})
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]
    assert not Question.objects.exists()


def test_ask_via_form(member, sector, client_for):
    client = client_for(member)
    page = client.get(reverse("qa:question_ask")).content.decode()
    assert 'value="sector-j"' in page
    response = client.post(
        reverse("qa:question_ask"),
        {"title": "Export paperwork help", "body": "Where do we *start*?", "sector": "sector-j",
         "tags": "export, customs"},
    )  # fmt: skip
    question = Question.objects.get()
    assert response.status_code == 302
    assert response["Location"] == question.get_absolute_url()
    assert {tag.slug for tag in question.tags.all()} == {"sector-j", "export", "customs"}


@pytest.mark.parametrize(
    ("data", "status", "message"),
    [
        ({"title": "", "body": "kept body text", "tags": "x"}, 400, "Title is empty"),
        ({"title": "kept title", "body": "   ", "tags": "x"}, 400, "Question is empty"),
        ({"title": "kept title", "body": "b" * 30001, "tags": "x"}, 413, "the limit is 30,000"),
        ({"title": "kept title", "body": "kept body text", "tags": ""}, 400, "at least one tag"),
        ({"title": "kept title", "body": "kept body text", "tags": "a/b"}, 400, "not allowed"),
        ({"title": "kept title", "body": "kept body text", "tags": "x", "sector": "sector-zz"},
         400, "valid choice"),
    ],
)  # fmt: skip
def test_ask_errors_keep_the_text(member, sector, client_for, data, status, message):
    response = client_for(member).post(reverse("qa:question_ask"), data)
    page = response.content.decode()
    assert response.status_code == status
    assert message in page
    for value in (data["title"], data["body"][:100]):
        if value.strip():
            assert value in page
    assert not Question.objects.exists()


def test_edit_offered_for_own_local_posts_only(question, member, other_member, client_for):
    page = client_for(member).get(question.get_absolute_url()).content.decode()
    assert reverse("qa:question_edit", args=[question.pk]) in page
    page = client_for(other_member).get(question.get_absolute_url()).content.decode()
    assert reverse("qa:question_edit", args=[question.pk]) not in page
    assert (
        client_for(other_member).get(reverse("qa:question_edit", args=[question.pk])).status_code
        == 404
    )
    response = client_for(member).post(
        reverse("qa:question_edit", args=[question.pk]),
        {"title": "Edited title", "body": "Edited", "tags": "funding"},
    )
    assert response.status_code == 302
    question.refresh_from_db()
    assert question.title == "Edited title"


# --- answering -------------------------------------------------------------------------


def test_answer_via_plain_form(question, other_member, client_for):
    client = client_for(other_member)
    response = client.post(
        reverse("qa:answer_create", args=[question.pk]), {"body": "Plain *form*"}
    )
    answer = Answer.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/questions/{question.pk}/#answer-{answer.pk}"
    page = client.get(question.get_absolute_url()).content.decode()
    assert "Plain <em>form</em>" in page


def test_answer_via_htmx_returns_the_answers_fragment(question, other_member, client_for):
    client = client_for(other_member)
    url = reverse("qa:answer_create", args=[question.pk])
    response = client.post(url, {"body": "Via htmx"}, headers=HTMX)
    page = response.content.decode()
    assert response.status_code == 200
    assert page.lstrip().startswith('<section id="answers"')
    assert "Via htmx" in page and "1 answer" in page
    response = client.post(url, {"body": "  "}, headers=HTMX)
    assert response.status_code == 400
    assert 'id="answers"' in response.content.decode()
    assert Answer.objects.count() == 1


def test_answer_errors_keep_the_text(question, other_member, moderator, client_for):
    client = client_for(other_member)
    url = reverse("qa:answer_create", args=[question.pk])
    long_text = "keep me " * 4000
    response = client.post(url, {"body": long_text})
    assert response.status_code == 413
    assert long_text.strip()[:200] in response.content.decode()
    services.question_lock(moderator=moderator, question_id=question.pk)
    response = client.post(url, {"body": "typed before the lock"})
    assert response.status_code == 403
    assert "typed before the lock" in response.content.decode()
    assert not Answer.objects.exists()


# --- voting and accepting --------------------------------------------------------------


def test_vote_via_plain_form_and_htmx(question, make_answer, other_member, member, client_for):
    client = client_for(other_member)
    url = reverse("qa:question_vote", args=[question.pk])
    response = client.post(url, {"value": "1"})
    assert response.status_code == 302
    assert response["Location"].endswith("#question")
    question.refresh_from_db()
    assert question.score == 1
    response = client.post(url, {"value": "0"}, headers=HTMX)
    assert response.status_code == 200
    assert f'id="vote-question-{question.pk}"' in response.content.decode()
    question.refresh_from_db()
    assert question.score == 0
    # Self-vote: refused with 403, no vote stored.
    answer = make_answer(question)
    response = client.post(reverse("qa:answer_vote", args=[answer.pk]), {"value": "1"})
    assert response.status_code == 403
    response = client.post(
        reverse("qa:answer_vote", args=[answer.pk]), {"value": "1"}, headers=HTMX
    )
    assert response.status_code == 403
    assert "own post" in response.content.decode()
    response = client.post(url, {"value": "2"})
    assert response.status_code == 400
    assert not Vote.objects.exists()


def test_accept_via_form(question, make_answer, member, other_member, client_for):
    answer = make_answer(question)
    url = reverse("qa:answer_accept", args=[question.pk])
    assert client_for(other_member).post(url, {"answer_id": answer.pk}).status_code == 403
    page = client_for(other_member).get(question.get_absolute_url()).content.decode()
    assert "Accept this answer" not in page
    client = client_for(member)
    assert "Accept this answer" in client.get(question.get_absolute_url()).content.decode()
    response = client.post(url, {"answer_id": answer.pk}, headers=HTMX)
    assert response.status_code == 200
    assert "Accepted answer" in response.content.decode()
    question.refresh_from_db()
    assert question.accepted_answer == answer
    response = client.post(url, {"answer_id": ""})
    assert response.status_code == 302
    question.refresh_from_db()
    assert question.accepted_answer is None


def test_moderator_hides_and_locks_via_forms(question, make_answer, moderator, client_for):
    answer = make_answer(question, body="Buy my stuff")
    client = client_for(moderator)
    response = client.post(reverse("qa:answer_hide", args=[answer.pk]), headers=HTMX)
    assert response.status_code == 200
    assert "Hidden by a moderator" in response.content.decode()
    assert "Buy my stuff" not in client_for().get(question.get_absolute_url()).content.decode()
    response = client.post(reverse("qa:question_lock", args=[question.pk]))
    assert response.status_code == 302
    question.refresh_from_db()
    assert question.is_locked


# --- credit ----------------------------------------------------------------------------


def test_imported_credit_on_question_and_list_pages(imported, client_for):
    q1 = Question.objects.get(source_id=1)
    page = client_for().get(q1.get_absolute_url()).content.decode()
    assert 'From <a href="https://ai.meta.stackexchange.com/q/1"' in page
    assert 'href="https://ai.meta.stackexchange.com/users/33"' in page
    assert (
        '>user 33</a>, licensed <a href="https://creativecommons.org/licenses/by-sa/3.0/"' in page
    )
    assert "CC BY-SA 3.0" in page
    footer = page[page.index('<footer class="site-footer">') :]
    assert "ai.meta.stackexchange.com" in footer
    listing = client_for().get(_list_url()).content.decode()
    footer = listing[listing.index('<footer class="site-footer">') :]
    assert "ai.meta.stackexchange.com" in footer and "CC BY-SA 4.0" in footer
    assert reverse("qa:question_edit", args=[q1.pk]) not in page


def test_no_credit_without_imported_content(question, client_for):
    listing = client_for().get(_list_url()).content.decode()
    assert "stackexchange" not in listing


# --- query counts ----------------------------------------------------------------------


def test_question_page_queries_do_not_grow(
    make_question, make_answer, make_member, member, client_for, django_assert_num_queries
):
    small, big = make_question(title="small"), make_question(title="big", tags=list("abcde"))
    for _ in range(2):
        make_answer(small, make_member())
    for n in range(10):
        voter = make_member()
        answer = make_answer(big, make_member())
        services.vote_cast(member=voter, target="answer", target_id=answer.pk, value=1)
        services.vote_cast(member=member, target="answer", target_id=answer.pk, value=-1)
        services.comment_add(member=voter, target="answer", target_id=answer.pk, body=f"c{n}")
        services.comment_add(member=voter, target="question", target_id=big.pk, body=f"q{n}")
    services.answer_accept(member=member, question_id=big.pk, answer_id=answer.pk)
    client = client_for(member)
    client.get(small.get_absolute_url())  # warm the session; today's view is counted
    client.get(big.get_absolute_url())
    # session, member, question (+ author, organisation, addressee, duplicate_of, stream),
    # tags, view (already counted today), answers, own votes, comments, follow, duplicates,
    # member's organisation (header)
    with django_assert_num_queries(11):
        client.get(small.get_absolute_url())
    with django_assert_num_queries(11):
        response = client.get(big.get_absolute_url())
    assert response.content.decode().count('class="comment"') == 20
    anonymous = client_for()
    with django_assert_num_queries(5):  # question, tags, answers, comments, duplicates
        anonymous.get(big.get_absolute_url())


def test_list_page_queries_do_not_grow(
    make_question, member, client_for, django_assert_num_queries
):
    for n in range(2):
        make_question(title=f"few {n}", tags=["a"])
    client = client_for(member)
    client.get(_list_url())
    # session, member, member's organisation (header), questions, tags, tag filter (none)
    with django_assert_num_queries(5):
        client.get(_list_url())
    for n in range(15):
        make_question(title=f"many {n}", tags=["a", "b", "c", "d", "e"])
    with django_assert_num_queries(5):
        client.get(_list_url())
    with django_assert_num_queries(6):  # + the tag's own row for the heading
        client.get(_list_url(tag="a"))


def test_rate_limited_answer_keeps_the_text(question, other_member, client_for, settings):
    settings.CONVENE = {**settings.CONVENE, "RATE_LIMIT_POSTS": 1}
    client = client_for(other_member)
    url = reverse("qa:answer_create", args=[question.pk])
    assert client.post(url, {"body": "first answer"}).status_code == 302
    response = client.post(url, {"body": "second answer, kept"})
    assert response.status_code == 429
    assert "second answer, kept" in response.content.decode()
    assert Answer.objects.count() == 1
