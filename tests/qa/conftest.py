"""Q&A fixtures on top of tests/conftest.py (members, moderator, sector, shared data)."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.core.management import call_command

SE_SITE = "ai.meta.stackexchange.com"


@pytest.fixture
def se_dir(shared_data) -> Path:
    path = Path(shared_data) / "qa" / SE_SITE
    if not (path / "Posts.xml").is_file() or not (path / "Votes.xml").is_file():
        pytest.fail(
            f"The Stack Exchange dump is missing: expected Posts.xml and Votes.xml in {path} "
            "(set CONVENE_SHARED_DATA to the shared data folder). It is never copied into the repo."
        )
    return path


@pytest.fixture
def imported(db, se_dir):
    """The real dump, imported once for the test."""
    from qa.importer import stackexchange_import

    return stackexchange_import(directory=se_dir)


@pytest.fixture
def make_question(db, member):
    from qa import services

    def make(
        author=None, *, title="How do we find a grant for a pilot line?", body=None, tags=None
    ):
        return services.question_ask(
            member=author or member,
            title=title,
            body=body if body is not None else "We make **small batches**; who funds pilots?",
            tags=tags if tags is not None else ["funding"],
        )

    return make


@pytest.fixture
def question(make_question):
    return make_question()


@pytest.fixture
def make_answer(db, other_member):
    from qa import services

    def make(question, author=None, *, body="Try the county's innovation voucher."):
        return services.answer_post(
            member=author or other_member, question_id=question.pk, body=body
        )

    return make


@pytest.fixture
def recount():
    def run() -> str:
        from io import StringIO

        out = StringIO()
        call_command("recount", stdout=out)
        return out.getvalue()

    return run


@pytest.fixture(autouse=True)
def notifications(monkeypatch):
    """Every Q&A notification, recorded instead of sent (community.notifications is tested
    by its owners; tests/qa/test_notify.py checks the real one end to end)."""
    sent: list[dict] = []
    monkeypatch.setattr("qa.notify._send", lambda **kwargs: sent.append(kwargs))
    return sent
