"""`make run`'s demo commands: real data, twice, changes nothing the second time."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command

from community.models import Message, Room
from qa.models import Answer, Question, Vote

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _embedded(settings):
    # Demo accounts exist only in the embedded default; pretend to be it.
    settings.DEBUG = True
    settings.EMBEDDED = True


def counts():
    return (
        Room.objects.count(),
        Message.objects.count(),
        Question.objects.count(),
        Answer.objects.count(),
        Question.objects.filter(accepted_answer__isnull=False).count(),
        Vote.objects.count(),
    )


def test_demo_commands_load_real_data_idempotently(shared_data):
    out = StringIO()
    call_command("load_demo", "--accounts", "--data", str(shared_data), stdout=out)
    call_command("load_demo_qa", "--data", str(shared_data), stdout=out)
    first = counts()
    assert first[2:5] == (141, 242, 58)
    assert first[1] == 300
    call_command("load_demo", "--accounts", "--data", str(shared_data), stdout=out)
    call_command("load_demo_qa", "--data", str(shared_data), stdout=out)
    assert counts() == first
    signins = StringIO()
    call_command("demo_signins", stdout=signins)
    assert "moderator@demo.convene.test" in signins.getvalue()
    assert "convene-demo" in signins.getvalue()


def test_builtin_questions_without_shared_data(tmp_path):
    call_command("load_demo", "--accounts", "--data", str(tmp_path / "missing"), stdout=StringIO())
    call_command("load_demo_qa", "--data", str(tmp_path / "missing"), stdout=StringIO())
    assert Question.objects.count() == 2 and Answer.objects.count() == 2
    call_command("load_demo_qa", "--data", str(tmp_path / "missing"), stdout=StringIO())
    assert Question.objects.count() == 2


def test_demo_accounts_refused_in_production(settings):
    from django.core.management.base import CommandError

    settings.EMBEDDED = False
    with pytest.raises(CommandError):
        call_command("load_demo", "--accounts", stdout=StringIO())
    with pytest.raises(CommandError):
        call_command("demo_signins", stdout=StringIO())
