"""Q&A write rules: ask, answer, vote, accept, moderate; counters never drift."""

from __future__ import annotations

import pytest
from django.conf import settings

from community.errors import ServiceError
from community.models import MemberMute, Sector
from qa import services
from qa.models import Answer, Question, Tag, Vote
from realtime.models import Event

pytestmark = pytest.mark.django_db

TITLE_MAX = settings.CONVENE["QUESTION_TITLE_MAX_CHARS"]
BODY_MAX = settings.CONVENE["POST_BODY_MAX_CHARS"]


def _stored() -> tuple[int, int, int, int]:
    return (Question.objects.count(), Answer.objects.count(), Vote.objects.count(),
            Tag.objects.count())  # fmt: skip


def _refused(call, *, code: str, status: int, field: str | None = None) -> ServiceError:
    before = _stored()
    with pytest.raises(ServiceError) as caught:
        call()
    assert caught.value.code == code, caught.value.detail
    assert caught.value.status == status
    assert caught.value.detail
    if field:
        assert field in caught.value.fields
    assert _stored() == before, "a refused write stored something"
    return caught.value


# --- asking ----------------------------------------------------------------------------


def test_ask_stores_raw_and_rendered_and_a_stream(member, sector):
    question = services.question_ask(
        member=member,
        title="  Who  funds\tpilot lines? ",
        body="We make **small batches**.",
        tags=["Funding", "sector-j", "funding"],
    )
    question.refresh_from_db()
    assert question.title == "Who funds pilot lines?"
    assert question.body == "We make **small batches**."
    assert "<strong>small batches</strong>" in question.html
    assert question.author == member
    assert question.score == 0 and question.answer_count == 0
    assert question.stream.label == f"question:{question.pk}"
    tags = {tag.slug: tag for tag in question.tags.all()}
    assert set(tags) == {"funding", "sector-j"}
    assert tags["sector-j"].sector == sector
    assert tags["sector-j"].name == sector.name


@pytest.mark.parametrize(
    ("title", "body", "code", "status", "field"),
    [
        ("", "A body", "empty", 400, "title"),
        ("   \t\n ", "A body", "empty", 400, "title"),
        ("\u200b\u200b", "A body", "empty", 400, "title"),
        ("x" * (TITLE_MAX + 1), "A body", "too_long", 413, "title"),
        (None, "A body", "invalid", 400, "title"),
        ("A title", "", "empty", 400, "body"),
        ("A title", " \n\t ", "empty", 400, "body"),
        ("A title", "y" * (BODY_MAX + 1), "too_long", 413, "body"),
        ("A title", 12, "invalid", 400, "body"),
        ("A title", "nul \x00 byte", "invalid", 400, "body"),
    ],
)
def test_ask_bad_text_is_refused_and_nothing_stored(member, title, body, code, status, field):
    _refused(
        lambda: services.question_ask(member=member, title=title, body=body, tags=["funding"]),
        code=code,
        status=status,
        field=field,
    )


def test_ask_at_the_limits_is_accepted(member):
    question = services.question_ask(
        member=member, title="t" * TITLE_MAX, body="b" * BODY_MAX, tags=["funding"]
    )
    assert len(question.title) == TITLE_MAX and len(question.body) == BODY_MAX


@pytest.mark.parametrize(
    "tags",
    [
        [],
        [""],
        "funding",
        ["machine learning"],
        ["a/b"],
        ["c#"],
        ["#funding"],
        ["🚀"],
        ["x" * 36],
        ["x" * 120],
        ["-leading-dash"],
        ["one", "two", "three", "four", "five", "six"],
        [1],
        [None],
        ["sector-z"],
        ["café"],
    ],
)
def test_bad_tags_are_refused_and_nothing_stored(member, sector, tags):
    error = _refused(
        lambda: services.question_ask(member=member, title="A title", body="A body", tags=tags),
        code="invalid",
        status=400,
        field="tags",
    )
    assert error.fields["tags"] == error.detail


def test_allowed_tag_shapes(member):
    question = services.question_ask(
        member=member, title="t", body="b", tags=["c++", "c.net", "node.js", "x" * 35, "a-b"]
    )
    assert question.tags.count() == 5


def test_sector_tags_sync_gives_every_sector_a_tag(db):
    for code, name in [("A", "Agriculture"), ("C", "Manufacturing"), ("U", "Extraterritorial")]:
        Sector.objects.create(code=code, name=name, slug=name.lower())
    assert services.sector_tags_sync() == 3
    assert services.sector_tags_sync() == 0
    assert Tag.objects.get(slug="sector-c").sector.code == "C"


def test_anonymous_and_muted_members_cannot_ask(member, moderator):
    from django.contrib.auth.models import AnonymousUser

    _refused(
        lambda: services.question_ask(
            member=AnonymousUser(), title="t", body="b", tags=["funding"]
        ),
        code="not_signed_in",
        status=401,
    )
    MemberMute.objects.create(member=member, created_by=moderator)
    _refused(
        lambda: services.question_ask(member=member, title="t", body="b", tags=["funding"]),
        code="muted",
        status=403,
    )


# --- answering -------------------------------------------------------------------------


def test_answer_counts_and_publishes(question, other_member):
    answer = services.answer_post(member=other_member, question_id=question.pk, body="Try *this*")
    question.refresh_from_db()
    assert question.answer_count == 1
    assert answer.html == "<p>Try <em>this</em></p>\n"
    event = Event.objects.get(stream=question.stream, kind="answer.created")
    assert event.data["id"] == answer.pk
    assert event.data["author"]["name"] == other_member.name


@pytest.mark.parametrize(
    ("body", "code", "status"),
    [("", "empty", 400), ("  \n ", "empty", 400), ("z" * (BODY_MAX + 1), "too_long", 413),
     (None, "invalid", 400)],
)  # fmt: skip
def test_bad_answers_are_refused(question, other_member, body, code, status):
    _refused(
        lambda: services.answer_post(member=other_member, question_id=question.pk, body=body),
        code=code,
        status=status,
        field="body",
    )
    question.refresh_from_db()
    assert question.answer_count == 0


@pytest.mark.parametrize("question_id", [999999, 0, -1, "1", None, True])
def test_answer_to_unknown_question_is_404(db, other_member, question_id):
    _refused(
        lambda: services.answer_post(member=other_member, question_id=question_id, body="Hi"),
        code="not_found",
        status=404,
    )


def test_locked_question_refuses_answers_except_from_moderators(question, other_member, moderator):
    services.question_lock(moderator=moderator, question_id=question.pk, reason="Off topic")
    _refused(
        lambda: services.answer_post(member=other_member, question_id=question.pk, body="Hi"),
        code="thread_locked",
        status=403,
    )
    services.answer_post(member=moderator, question_id=question.pk, body="Moderator note")
    services.question_unlock(moderator=moderator, question_id=question.pk)
    services.answer_post(member=other_member, question_id=question.pk, body="Now open")
    question.refresh_from_db()
    assert question.answer_count == 2
    kinds = list(Event.objects.filter(stream=question.stream).values_list("kind", flat=True))
    assert kinds.count("question.updated") == 2


def test_only_moderators_lock(question, member):
    _refused(
        lambda: services.question_lock(moderator=member, question_id=question.pk),
        code="forbidden",
        status=403,
    )


def test_xss_in_bodies_is_sanitised(member, other_member):
    question = services.question_ask(
        member=member,
        title="<script>alert(1)</script>",
        body="<script>alert(1)</script> [x](javascript:alert(1)) <img src=x onerror=alert(1)>",
        tags=["security"],
    )
    answer = services.answer_post(
        member=other_member,
        question_id=question.pk,
        body='[y](javascript:alert(2)) <a href="javascript:alert(3)">z</a> [ok](https://x.test)',
    )
    for html in (question.html, answer.html):
        elements = html_elements(html)
        assert {tag for tag, _ in elements} <= {"p", "a"}, elements
        for _tag, attrs in elements:
            for name, value in attrs:
                assert not name.startswith("on")
                assert not (value or "").strip().lower().startswith("javascript")
    assert '<a href="https://x.test" rel="nofollow ugc noopener">ok</a>' in answer.html
    # The raw text is kept as typed; only the rendered HTML is trusted.
    assert question.body.startswith("<script>")
    assert question.title == "<script>alert(1)</script>"


# --- voting ----------------------------------------------------------------------------


def html_elements(html: str) -> list[tuple[str, list]]:
    """The real elements in some HTML (text that merely looks like a tag is not one)."""
    from html.parser import HTMLParser

    found: list[tuple[str, list]] = []

    class Collector(HTMLParser):
        def handle_starttag(self, tag, attrs):
            found.append((tag, attrs))

    Collector().feed(html)
    return found


def _score(post) -> int:
    post.refresh_from_db()
    return post.score


def test_vote_up_change_and_undo(question, other_member, recount):
    cast = services.vote_cast
    result = cast(member=other_member, target="question", target_id=question.pk, value=1)
    assert (result.value, result.score) == (1, 1)
    # The same vote again changes nothing: one vote per member per post.
    assert cast(member=other_member, target="question", target_id=question.pk, value=1).score == 1
    assert Vote.objects.filter(member=other_member).count() == 1
    assert cast(member=other_member, target="question", target_id=question.pk, value=-1).score == -1
    assert Vote.objects.get(member=other_member).value == -1
    assert cast(member=other_member, target="question", target_id=question.pk, value=0).score == 0
    assert not Vote.objects.exists()
    assert cast(member=other_member, target="question", target_id=question.pk, value=0).score == 0
    assert _score(question) == 0
    assert "drift: 0" in recount()


def test_votes_from_several_members_add_up(question, make_answer, make_member, recount):
    answer = make_answer(question)
    voters = [make_member() for _ in range(3)]
    for voter in voters:
        services.vote_cast(member=voter, target="question", target_id=question.pk, value=1)
        services.vote_cast(member=voter, target="answer", target_id=answer.pk, value=-1)
    assert _score(question) == 3
    assert _score(answer) == -3
    assert "drift: 0" in recount()


def test_self_votes_are_refused(question, member, make_answer, other_member):
    _refused(
        lambda: services.vote_cast(
            member=member, target="question", target_id=question.pk, value=1
        ),
        code="forbidden",
        status=403,
    )
    answer = make_answer(question)
    _refused(
        lambda: services.vote_cast(
            member=other_member, target="answer", target_id=answer.pk, value=-1
        ),
        code="forbidden",
        status=403,
    )
    assert _score(question) == 0 and _score(answer) == 0


@pytest.mark.parametrize("value", [2, -2, "1", None, True, 1.0, "up"])
def test_bad_vote_values_are_refused(question, other_member, value):
    _refused(
        lambda: services.vote_cast(
            member=other_member, target="question", target_id=question.pk, value=value
        ),
        code="invalid",
        status=400,
        field="value",
    )
    assert _score(question) == 0


def test_votes_on_unknown_posts_are_404(db, other_member):
    for target in ("question", "answer"):
        _refused(
            lambda target=target: services.vote_cast(
                member=other_member, target=target, target_id=424242, value=1
            ),
            code="not_found",
            status=404,
        )
    _refused(
        lambda: services.vote_cast(member=other_member, target="comment", target_id=1, value=1),
        code="invalid",
        status=400,
    )


def test_db_allows_one_vote_per_member_per_post(question, other_member):
    from django.db import IntegrityError, transaction

    Vote.objects.create(member=other_member, question=question, value=1)
    with pytest.raises(IntegrityError), transaction.atomic():
        Vote.objects.create(member=other_member, question=question, value=-1)
    with pytest.raises(IntegrityError), transaction.atomic():
        Vote.objects.create(member=other_member, value=1)  # no target
    with pytest.raises(IntegrityError), transaction.atomic():
        Vote.objects.create(member=other_member, question=question, value=5)


def test_locked_thread_and_muted_member_cannot_vote(question, other_member, moderator):
    services.question_lock(moderator=moderator, question_id=question.pk)
    _refused(
        lambda: services.vote_cast(
            member=other_member, target="question", target_id=question.pk, value=1
        ),
        code="thread_locked",
        status=403,
    )
    services.question_unlock(moderator=moderator, question_id=question.pk)
    MemberMute.objects.create(member=other_member, created_by=moderator)
    _refused(
        lambda: services.vote_cast(
            member=other_member, target="question", target_id=question.pk, value=1
        ),
        code="muted",
        status=403,
    )


# --- accepting -------------------------------------------------------------------------


def test_asker_accepts_changes_and_unaccepts(question, member, make_answer, make_member, recount):
    first, second = make_answer(question), make_answer(question, make_member())
    services.answer_accept(member=member, question_id=question.pk, answer_id=first.pk)
    question.refresh_from_db()
    assert question.accepted_answer == first
    services.answer_accept(member=member, question_id=question.pk, answer_id=second.pk)
    question.refresh_from_db()
    assert question.accepted_answer == second
    services.answer_accept(member=member, question_id=question.pk, answer_id=None)
    question.refresh_from_db()
    assert question.accepted_answer is None
    events = Event.objects.filter(stream=question.stream, kind="answer.accepted")
    assert [event.data["answer_id"] for event in events] == [first.pk, second.pk, None]
    assert "drift: 0" in recount()


def test_accept_by_someone_else_is_refused(question, make_answer, other_member, make_member):
    answer = make_answer(question)
    _refused(
        lambda: services.answer_accept(
            member=other_member, question_id=question.pk, answer_id=answer.pk
        ),
        code="forbidden",
        status=403,
    )
    question.refresh_from_db()
    assert question.accepted_answer is None


def test_moderator_may_accept(question, make_answer, moderator):
    answer = make_answer(question)
    services.answer_accept(member=moderator, question_id=question.pk, answer_id=answer.pk)
    question.refresh_from_db()
    assert question.accepted_answer == answer


def test_accepting_another_questions_answer_is_400(member, make_question, make_answer):
    mine, theirs = make_question(), make_question(title="Another")
    foreign = make_answer(theirs)
    for answer_id in (foreign.pk, 999999, "1", 1.5):
        _refused(
            lambda answer_id=answer_id: services.answer_accept(
                member=member, question_id=mine.pk, answer_id=answer_id
            ),
            code="invalid",
            status=400,
            field="answer_id",
        )
    mine.refresh_from_db()
    assert mine.accepted_answer is None
    _refused(
        lambda: services.answer_accept(member=member, question_id=999999, answer_id=None),
        code="not_found",
        status=404,
    )


# --- hiding ----------------------------------------------------------------------------


def test_hiding_the_accepted_answer_clears_it(question, member, make_answer, moderator, recount):
    answer = make_answer(question)
    services.answer_accept(member=member, question_id=question.pk, answer_id=answer.pk)
    services.answer_hide(moderator=moderator, answer_id=answer.pk, reason="Spam")
    question.refresh_from_db()
    assert question.accepted_answer is None
    assert question.answer_count == 0
    # Hiding twice changes nothing; a hidden answer cannot be accepted.
    services.answer_hide(moderator=moderator, answer_id=answer.pk)
    question.refresh_from_db()
    assert question.answer_count == 0
    _refused(
        lambda: services.answer_accept(member=member, question_id=question.pk, answer_id=answer.pk),
        code="invalid",
        status=400,
    )
    services.answer_restore(moderator=moderator, answer_id=answer.pk)
    services.answer_restore(moderator=moderator, answer_id=answer.pk)
    question.refresh_from_db()
    assert question.answer_count == 1
    assert question.accepted_answer is None
    assert "drift: 0" in recount()


def test_only_moderators_hide(question, make_answer, member):
    answer = make_answer(question)
    _refused(
        lambda: services.answer_hide(moderator=member, answer_id=answer.pk),
        code="forbidden",
        status=403,
    )


# --- edits -----------------------------------------------------------------------------


def test_edits_go_through_the_posting_policy(question, member, other_member, make_answer):
    services.question_edit(
        member=member, question_id=question.pk, title="New title", body="New *body*",
        tags=["grants"],
    )  # fmt: skip
    question.refresh_from_db()
    assert (question.title, question.html) == ("New title", "<p>New <em>body</em></p>\n")
    assert question.updated is not None
    _refused(
        lambda: services.question_edit(
            member=other_member, question_id=question.pk, title="x", body="y", tags=["z"]
        ),
        code="forbidden",
        status=403,
    )
    answer = make_answer(question)
    _refused(
        lambda: services.answer_edit(member=other_member, answer_id=answer.pk, body="   "),
        code="empty",
        status=400,
    )
    services.answer_edit(member=other_member, answer_id=answer.pk, body="Better")
    answer.refresh_from_db()
    assert answer.body == "Better"


# --- counters --------------------------------------------------------------------------


def test_recount_finds_and_fixes_drift(question, make_answer, other_member):
    from io import StringIO

    from django.core.management import CommandError, call_command

    make_answer(question)
    services.vote_cast(member=other_member, target="question", target_id=question.pk, value=1)
    Question.objects.filter(pk=question.pk).update(score=7, answer_count=5)
    with pytest.raises(CommandError):
        call_command("recount", stdout=StringIO())
    out = StringIO()
    call_command("recount", "--fix", stdout=out)
    assert "drift: 2" in out.getvalue()
    question.refresh_from_db()
    assert (question.score, question.answer_count) == (1, 1)
    out = StringIO()
    call_command("recount", stdout=out)
    assert "drift: 0" in out.getvalue()
