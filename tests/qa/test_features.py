"""Revisions, comments, deleting answers, views, follows, direct questions, duplicates,
tag pages, preview and QAPage markup: each through its service and its page."""

from __future__ import annotations

import json
import re

import pytest
from django.core import mail
from django.test import Client
from django.urls import reverse

from community.errors import ServiceError
from qa import selectors, services
from qa.models import Answer, Comment, Question, QuestionView, Revision, Vote

pytestmark = pytest.mark.django_db


def _refused(call, *, code: str, status: int) -> ServiceError:
    with pytest.raises(ServiceError) as caught:
        call()
    assert (caught.value.code, caught.value.status) == (code, status), caught.value.detail
    return caught.value


def _client(member=None) -> Client:
    client = Client()
    if member is not None:
        client.force_login(member)
    return client


# --- revisions -------------------------------------------------------------------------


def test_edits_keep_a_revision_history_with_a_diff(member, client_for=None):
    question = services.question_ask(
        member=member, title="How to export?", body="line one\nline two", tags=["export"]
    )
    services.question_edit(
        member=member,
        question_id=question.pk,
        title="How to export to Ireland?",
        body="line one\nline 2",
        tags=["export", "ireland"],
    )
    # An edit that changes nothing adds no revision.
    services.question_edit(
        member=member,
        question_id=question.pk,
        title="How to export to Ireland?",
        body="line one\nline 2",
        tags=["ireland", "export"],
    )
    revisions = selectors.post_revisions(question=question)
    assert [view.revision.number for view in revisions] == [2, 1]
    latest = revisions[0]
    assert latest.title_changed and latest.tags_changed
    assert ("-", "line two") in latest.diff and ("+", "line 2") in latest.diff
    assert latest.revision.author == member

    page = _client().get(reverse("qa:question_revisions", args=[question.pk]))
    text = page.content.decode()
    assert page.status_code == 200
    assert "Revision 2" in text and "Revision 1 (original)" in text
    assert "diff-del" in text and "line two" in text
    assert (
        reverse("qa:question_revisions", args=[question.pk])
        in _client().get(question.get_absolute_url()).content.decode()
    )


def test_answer_revisions(question, other_member):
    answer = services.answer_post(member=other_member, question_id=question.pk, body="First.")
    services.answer_edit(member=other_member, answer_id=answer.pk, body="First, corrected.")
    assert list(Revision.objects.filter(answer=answer).values_list("number", "body")) == [
        (1, "First."),
        (2, "First, corrected."),
    ]
    page = _client().get(reverse("qa:answer_revisions", args=[answer.pk]))
    assert page.status_code == 200 and "First, corrected." in page.content.decode()
    assert _client().get(reverse("qa:answer_revisions", args=[999999])).status_code == 404


# --- comments --------------------------------------------------------------------------


def test_comments_on_questions_and_answers(question, other_member, member, moderator):
    answer = services.answer_post(member=other_member, question_id=question.pk, body="Yes.")
    on_question = services.comment_add(
        member=other_member, target="question", target_id=question.pk, body="Which county?"
    )
    on_answer = services.comment_add(
        member=member, target="answer", target_id=answer.pk, body="Thanks, *that* helps."
    )
    assert on_answer.html.strip() == "<p>Thanks, <em>that</em> helps.</p>"
    page = _client().get(question.get_absolute_url()).content.decode()
    assert "Which county?" in page and "<em>that</em>" in page

    # Only the author or a moderator deletes a comment.
    _refused(
        lambda: services.comment_delete(member=member, comment_id=on_question.pk),
        code="forbidden",
        status=403,
    )
    services.comment_delete(member=moderator, comment_id=on_question.pk)
    services.comment_delete(member=member, comment_id=on_answer.pk)
    assert Comment.objects.count() == 0


@pytest.mark.parametrize(
    ("body", "code", "status"),
    [("", "empty", 400), ("   \u200b ", "empty", 400), ("x" * 601, "too_long", 413),
     ("---", "empty", 400), (None, "invalid", 400)],
)  # fmt: skip
def test_bad_comments_are_refused(question, other_member, body, code, status):
    _refused(
        lambda: services.comment_add(
            member=other_member, target="question", target_id=question.pk, body=body
        ),
        code=code,
        status=status,
    )
    assert Comment.objects.count() == 0


def test_comments_on_missing_or_locked_posts(question, other_member, moderator):
    for target, pk in (("question", 999999), ("answer", 999999), ("question", "1")):
        _refused(
            lambda target=target, pk=pk: services.comment_add(
                member=other_member, target=target, target_id=pk, body="hi"
            ),
            code="not_found",
            status=404,
        )
    _refused(
        lambda: services.comment_add(
            member=other_member, target="post", target_id=question.pk, body="hi"
        ),
        code="invalid",
        status=400,
    )
    services.question_lock(moderator=moderator, question_id=question.pk)
    _refused(
        lambda: services.comment_add(
            member=other_member, target="question", target_id=question.pk, body="hi"
        ),
        code="thread_locked",
        status=403,
    )


def test_comment_form(question, other_member):
    client = _client(other_member)
    response = client.post(
        reverse("qa:question_comment", args=[question.pk]), {"body": "A **form** comment"}
    )
    assert response.status_code == 302
    assert Comment.objects.get().body == "A **form** comment"
    response = client.post(reverse("qa:question_comment", args=[question.pk]), {"body": "  "})
    assert response.status_code == 400 and "Comment is empty." in response.content.decode()


# --- deleting and hiding answers ---------------------------------------------------------


def test_deleting_the_accepted_answer_clears_acceptance_and_counts(
    question, member, other_member, make_member, recount
):
    answer = services.answer_post(member=other_member, question_id=question.pk, body="Yes.")
    services.vote_cast(member=member, target="answer", target_id=answer.pk, value=1)
    services.answer_accept(member=member, question_id=question.pk, answer_id=answer.pk)
    _refused(
        lambda: services.answer_delete(member=make_member(), answer_id=answer.pk),
        code="forbidden",
        status=403,
    )
    services.answer_delete(member=other_member, answer_id=answer.pk)
    question.refresh_from_db()
    assert question.accepted_answer_id is None and question.answer_count == 0
    assert not Answer.objects.exists() and not Vote.objects.filter(answer__isnull=False).exists()
    assert "drift: 0 " in recount()
    page = selectors.question_list(answered="yes")
    assert question not in page.items
    _refused(
        lambda: services.answer_delete(member=other_member, answer_id=answer.pk),
        code="not_found",
        status=404,
    )


def test_hidden_answers_do_not_make_a_question_answered(question, other_member, moderator):
    answer = services.answer_post(member=other_member, question_id=question.pk, body="Yes.")
    assert selectors.question_list(answered="yes").items == [question]
    services.answer_hide(moderator=moderator, answer_id=answer.pk)
    assert selectors.question_list(answered="yes").items == []
    assert selectors.question_list(answered="no").items == [question]
    assert selectors.question_list(sort="unanswered").items == [question]


# --- views -----------------------------------------------------------------------------


def test_views_count_once_per_member_per_day(question, member, other_member, recount):
    for _ in range(3):
        _client(other_member).get(question.get_absolute_url())
    _client(member).get(question.get_absolute_url())
    _client().get(question.get_absolute_url())  # anonymous: not counted
    question.refresh_from_db()
    assert question.view_count == 2
    assert QuestionView.objects.count() == 2
    assert "drift: 0 " in recount()
    assert "viewed 2 times" in _client().get(question.get_absolute_url()).content.decode()


# --- follows and notifications -----------------------------------------------------------


def test_followers_of_a_question_or_its_tags_hear_of_answers(
    make_question, member, other_member, make_member, notifications
):
    tag_fan, stranger, answerer = make_member(), make_member(), make_member()
    question = make_question(tags=["export"])  # the asker follows automatically
    services.follow_set(member=tag_fan, tag="export", on=True)
    services.follow_set(member=other_member, question_id=question.pk, on=True)
    services.follow_set(member=other_member, question_id=question.pk, on=True)  # idempotent
    notifications.clear()
    answer = services.answer_post(member=answerer, question_id=question.pk, body="Try this.")
    told = {sent["member_id"] for sent in notifications}
    assert told == {member.pk, other_member.pk, tag_fan.pk}
    assert stranger.pk not in told and answerer.pk not in told
    sent = notifications[0]
    assert sent["kind"] == "qa.answer" and sent["url"].endswith(f"#answer-{answer.pk}")

    services.follow_set(member=other_member, question_id=question.pk, on=False)
    notifications.clear()
    services.answer_post(member=answerer, question_id=question.pk, body="And this.")
    assert {sent["member_id"] for sent in notifications} == {member.pk, tag_fan.pk}


def test_tag_followers_hear_of_new_questions(make_question, make_member, notifications):
    fan = make_member()
    make_question(tags=["grants"])
    services.follow_set(member=fan, tag="grants", on=True)
    notifications.clear()
    question = make_question(tags=["grants", "export"])
    assert [(n["member_id"], n["kind"]) for n in notifications] == [(fan.pk, "qa.question")]
    assert notifications[0]["url"] == question.get_absolute_url()


def test_follow_bad_input(question, member):
    _refused(lambda: services.follow_set(member=member, tag="nope", on=True), code="not_found",
             status=404)  # fmt: skip
    _refused(
        lambda: services.follow_set(member=member, question_id=999999, on=True),
        code="not_found",
        status=404,
    )
    _refused(lambda: services.follow_set(member=member, on=True), code="invalid", status=400)
    _refused(
        lambda: services.follow_set(member=member, question_id=question.pk, on="yes"),
        code="invalid",
        status=400,
    )


def test_follow_buttons(question, other_member):
    client = _client(other_member)
    client.post(reverse("qa:question_follow", args=[question.pk]), {"on": "1"})
    assert selectors.question_follows(member=other_member, question=question)
    assert "Unfollow" in client.get(question.get_absolute_url()).content.decode()
    client.post(reverse("qa:tag_follow", args=["funding"]), {"on": "1"})
    page = client.get(reverse("qa:tag_detail", args=["funding"])).content.decode()
    assert "Unfollow this tag" in page
    assert client.post(reverse("qa:tag_follow", args=["nope"])).status_code == 404


# --- direct questions --------------------------------------------------------------------


def test_question_addressed_to_an_organisation(
    member, make_member, notifications, django_capture_on_commit_callbacks
):
    firm_a = make_member()
    firm_a_colleague = make_member(organisation=firm_a.organisation)
    with django_capture_on_commit_callbacks(execute=True):
        question = services.question_ask(
            member=member,
            title="Can you machine titanium?",
            body="We need 200 brackets.",
            tags=["manufacturing"],
            addressed_to={"kind": "organisation", "id": firm_a.organisation_id},
        )
    assert question.addressed_organisation == firm_a.organisation
    told = {n["member_id"] for n in notifications if n["kind"] == "qa.addressed"}
    assert told == {firm_a.pk, firm_a_colleague.pk}
    assert sorted(message.to[0] for message in mail.outbox) == sorted(
        [firm_a.email, firm_a_colleague.email]
    )
    assert "Can you machine titanium?" in mail.outbox[0].subject
    assert question.get_absolute_url() in mail.outbox[0].body

    # The organisation's profile fragment lists it, and its members' answers.
    services.answer_post(member=firm_a, question_id=question.pk, body="Yes we can.")
    fragment = (
        _client()
        .get(reverse("qa:organisation_fragment", args=[firm_a.organisation_id]))
        .content.decode()
    )
    assert "Can you machine titanium?" in fragment
    assert fragment.count(question.get_absolute_url()) == 2  # asked of it, and answered by it
    page = _client().get(question.get_absolute_url()).content.decode()
    assert f'asked of <a href="{firm_a.organisation.get_absolute_url()}"' in page


def test_question_addressed_to_a_member_from_their_profile(
    member, other_member, notifications, django_capture_on_commit_callbacks
):
    client = _client(member)
    to = f"member:{other_member.pk}"
    form = client.get(reverse("qa:question_ask") + f"?to={to}").content.decode()
    assert f"Ask {other_member.name}" in form and f'value="{to}"' in form
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse("qa:question_ask"),
            {"title": "Would you mentor us?", "body": "Six months.", "tags": "mentoring", "to": to},
        )
    assert response.status_code == 302
    question = Question.objects.get(title="Would you mentor us?")
    assert question.addressed_member == other_member
    assert [n["member_id"] for n in notifications if n["kind"] == "qa.addressed"] == [
        other_member.pk
    ]
    assert [message.to for message in mail.outbox] == [[other_member.email]]
    fragment = _client(member).get(reverse("qa:member_fragment", args=[other_member.pk]))
    assert "Would you mentor us?" in fragment.content.decode()
    assert _client().get(reverse("qa:member_fragment", args=[999999])).status_code == 404
    assert _client().get(reverse("qa:organisation_fragment", args=[999999])).status_code == 404


@pytest.mark.parametrize(
    "addressed_to",
    [
        "organisation:1",
        {"kind": "organisation"},
        {"kind": "team", "id": 1},
        {"kind": "organisation", "id": 999999},
        {"kind": "member", "id": 999999},
        {"kind": "member", "id": "1"},
        {"kind": "member", "id": True},
        {"kind": "member", "id": 1, "extra": 1},
    ],
)
def test_bad_addressees_are_refused(member, addressed_to):
    error = _refused(
        lambda: services.question_ask(
            member=member, title="A title", body="A body", tags=["x"], addressed_to=addressed_to
        ),
        code="invalid",
        status=400,
    )
    assert "addressed_to" in error.fields
    assert not Question.objects.exists()


def test_cannot_address_yourself_or_your_organisation(member):
    for addressed_to in (
        {"kind": "member", "id": member.pk},
        {"kind": "organisation", "id": member.organisation_id},
    ):
        _refused(
            lambda addressed_to=addressed_to: services.question_ask(
                member=member, title="A title", body="A body", tags=["x"],
                addressed_to=addressed_to,
            ),
            code="invalid",
            status=400,
        )  # fmt: skip


# --- duplicates --------------------------------------------------------------------------


def test_close_as_duplicate_links_both_and_stops_answers(
    make_question, moderator, other_member, member
):
    original = make_question(title="How do R&D tax credits work?")
    copy = make_question(title="R&D tax credit question")
    _refused(
        lambda: services.question_close_duplicate(
            moderator=member, question_id=copy.pk, duplicate_of=original.pk
        ),
        code="forbidden",
        status=403,
    )
    services.question_close_duplicate(
        moderator=moderator, question_id=copy.pk, duplicate_of=original.pk
    )
    copy_page = _client().get(copy.get_absolute_url()).content.decode()
    assert "closed as a duplicate of" in copy_page and original.get_absolute_url() in copy_page
    original_page = _client().get(original.get_absolute_url()).content.decode()
    assert "Asked again as" in original_page and copy.get_absolute_url() in original_page
    _refused(
        lambda: services.answer_post(member=other_member, question_id=copy.pk, body="Hi."),
        code="thread_locked",
        status=403,
    )
    # No cycles, no self-links, no unknown targets, no chains.
    third = make_question(title="Third")
    for target, pk in ((original.pk, copy.pk), (third.pk, third.pk), (third.pk, 999999),
                       (third.pk, copy.pk), (original.pk, third.pk)):  # fmt: skip
        _refused(
            lambda target=target, pk=pk: services.question_close_duplicate(
                moderator=moderator, question_id=target, duplicate_of=pk
            ),
            code="invalid",
            status=400,
        )
    services.question_reopen(moderator=moderator, question_id=copy.pk)
    services.answer_post(member=other_member, question_id=copy.pk, body="Now open.")


def test_close_via_form_accepts_a_link(make_question, moderator):
    original, copy = make_question(title="Original"), make_question(title="Copy")
    response = _client(moderator).post(
        reverse("qa:question_close", args=[copy.pk]),
        {"duplicate_of": f"http://testserver{original.get_absolute_url()}"},
    )
    assert response.status_code == 302
    copy.refresh_from_db()
    assert copy.duplicate_of == original
    response = _client(moderator).post(
        reverse("qa:question_close", args=[original.pk]), {"duplicate_of": "nonsense"}
    )
    assert response.status_code == 404


# --- tags, preview, similar, schema.org ----------------------------------------------------


def test_tag_pages(make_question):
    make_question(title="Tagged one", tags=["funding", "c++"])
    index = _client().get(reverse("qa:tag_list")).content.decode()
    assert reverse("qa:tag_detail", args=["c++"]) in index
    page = _client().get(reverse("qa:tag_detail", args=["c++"]))
    assert page.status_code == 200 and "Tagged one" in page.content.decode()
    assert _client().get(reverse("qa:tag_detail", args=["missing"])).status_code == 404


def test_preview_renders_with_the_one_renderer(member):
    client = _client(member)
    response = client.post(
        reverse("qa:preview"), {"body": "**bold** <script>alert(1)</script> [x](javascript:y)"}
    )
    html = response.content.decode()
    assert "<strong>bold</strong>" in html
    assert "&lt;script&gt;" in html and "<script" not in html  # shown as text
    assert 'href="javascript' not in html
    assert _client().post(reverse("qa:preview"), {"body": "x"}).status_code == 302  # sign in


def test_similar_questions_while_typing(make_question):
    make_question(title="Where can we find export finance?")
    make_question(title="Hiring apprentices in Cumbria")
    html = _client().get(reverse("qa:similar"), {"title": "export fin"}).content.decode()
    assert "Where can we find export finance?" in html and "apprentices" not in html
    assert _client().get(reverse("qa:similar"), {"title": "%_\"'"}).status_code == 200


def test_question_page_has_qapage_markup(question, other_member, member):
    answer = services.answer_post(member=other_member, question_id=question.pk, body="Voucher.")
    other = services.answer_post(
        member=member, question_id=question.pk, body="Mine: <img src=x> & more."
    )
    services.answer_accept(member=member, question_id=question.pk, answer_id=answer.pk)
    Question.objects.filter(pk=question.pk).update(title="Tricky </script><b>title</b>")
    page = _client().get(question.get_absolute_url()).content.decode()
    block = re.search(r'<script type="application/ld\+json">(.*?)</script>', page, re.S)
    data = json.loads(block.group(1))
    assert data["@type"] == "QAPage"
    entity = data["mainEntity"]
    assert entity["@type"] == "Question" and entity["name"] == "Tricky </script><b>title</b>"
    assert entity["answerCount"] == 2
    assert entity["acceptedAnswer"]["text"] == "Voucher."
    assert entity["acceptedAnswer"]["url"].endswith(f"#answer-{answer.pk}")
    # Text, not HTML: raw markup typed by a member reads as typed, never as entities.
    assert [a["text"] for a in entity["suggestedAnswer"]] == ["Mine: <img src=x> & more."]
    assert other.pk


@pytest.mark.parametrize(
    ("title", "body", "field", "code"),
    [("***", "Body", "title", "empty"), ("<>", "Body", "title", "empty"),
     ("A title", "#", "body", "empty"), ("A title", "> ", "body", "empty"),
     ("A title", "---", "body", "empty"),
     ("A title", "[](https://example.org)", "body", "empty"),
     ("A title", "<b></b>", "body", None)],
)  # fmt: skip
def test_markup_only_titles_and_bodies(member, title, body, field, code):
    if code is None:  # raw HTML is shown as text, so it is not empty
        services.question_ask(member=member, title=title, body=body, tags=["x"])
        return
    error = _refused(
        lambda: services.question_ask(member=member, title=title, body=body, tags=["x"]),
        code=code,
        status=400,
    )
    assert field in error.fields
    assert not Question.objects.exists()
