"""The Stack Exchange importer on the real ai.meta.stackexchange.com dump."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from qa.importer import LICENCE_4_FROM
from qa.models import Answer, Question, Tag

pytestmark = pytest.mark.django_db

SITE = "ai.meta.stackexchange.com"


def _snapshot() -> dict:
    return {
        "questions": list(
            Question.objects.order_by("pk").values(
                "pk", "title", "body", "html", "score", "imported_score", "answer_count",
                "accepted_answer_id", "created", "last_activity", "licence", "source_url",
                "source_author_url", "stream_id",
            )
        ),
        "answers": list(
            Answer.objects.order_by("pk").values(
                "pk", "question_id", "body", "html", "score", "imported_score", "licence"
            )
        ),
        "tags": list(Tag.objects.order_by("pk").values_list("slug", flat=True)),
        "question_tags": list(
            Question.tags.through.objects.order_by("pk").values_list("question_id", "tag_id")
        ),
    }  # fmt: skip


def test_import_counts_exactly(se_dir):
    out = StringIO()
    call_command("import_stackexchange", str(se_dir), stdout=out)
    text = out.getvalue()
    assert Question.objects.filter(source_site=SITE).count() == 141
    assert Answer.objects.filter(source_site=SITE).count() == 242
    assert Question.objects.filter(accepted_answer__isnull=False).count() == 58
    assert "questions: 141, answers: 242, accepted: 58" in text
    assert Tag.objects.count() == 31
    # Every accepted answer belongs to its question.
    for question in Question.objects.filter(accepted_answer__isnull=False).select_related(
        "accepted_answer"
    ):
        assert question.accepted_answer.question_id == question.pk


def test_votes_applied_and_skipped_are_reported(imported):
    # Votes.xml: 1,589 up and 180 down; 16 of those are on deleted posts, not in the dump.
    assert imported.votes_skipped_missing_post == 32  # 16 up/down + 16 of other types
    assert imported.votes_read == 1884
    assert (
        imported.votes_applied
        + imported.votes_skipped_missing_post
        + imported.votes_skipped_not_imported
        + sum(imported.votes_ignored_types.values())
    ) == 1884
    assert imported.votes_applied == 1589 + 180 - 16
    lines = "\n".join(imported.lines())
    assert f"votes applied: {imported.votes_applied}" in lines
    assert "votes skipped: 32 (post not in dump)" in lines
    assert "posts skipped: 10 (not a question or answer" in lines


def test_scores_match_the_dump(imported):
    # The dump's own Score attribute agrees with up minus down votes for every post.
    q4 = Question.objects.get(source_id=4)
    assert q4.title.startswith("Are all questions asked on stats and data science SE")
    assert q4.score == q4.imported_score == 20
    assert Question.objects.get(source_id=1).score == 12


def test_counters_have_no_drift_after_import(imported):
    out = StringIO()
    call_command("recount", stdout=out)
    assert "drift: 0" in out.getvalue()
    for question in Question.objects.all()[:20]:
        assert question.answer_count == question.answers.count()


def test_provenance_and_licence(imported):
    q1 = Question.objects.get(source_id=1)
    assert q1.source_url == f"https://{SITE}/q/1"
    assert q1.source_author_url == f"https://{SITE}/users/33"
    assert q1.licence == "CC BY-SA 3.0"  # 2016
    assert q1.author is None and q1.is_imported
    late = Question.objects.filter(created__gte=LICENCE_4_FROM).first()
    assert late is not None and late.licence == "CC BY-SA 4.0"
    early = Answer.objects.filter(created__lt=LICENCE_4_FROM).first()
    assert early.licence == "CC BY-SA 3.0"
    assert early.source_url == f"https://{SITE}/a/{early.source_id}"
    assert q1.stream.label == f"question:{q1.pk}"
    assert {tag.slug for tag in Question.objects.get(source_id=2).tags.all()} == {
        "support",
        "chat",
    }


def test_imported_html_is_sanitised_and_body_kept(imported):
    from community.markup import ALLOWED_TAGS

    from .test_services import html_elements

    q2 = Question.objects.get(source_id=2)
    assert "<blockquote>" in q2.body and "<blockquote>" in q2.html
    for post in [*Question.objects.all(), *Answer.objects.all()]:
        for tag, attrs in html_elements(post.html):
            assert tag in ALLOWED_TAGS
            for name, value in attrs:
                assert not name.startswith("on")
                assert not (value or "").lower().startswith("javascript")


def test_second_run_changes_nothing(imported, se_dir):
    before = _snapshot()
    out = StringIO()
    call_command("import_stackexchange", str(se_dir), "--site", SITE, stdout=out)
    text = out.getvalue()
    assert _snapshot() == before
    assert "questions: 141, answers: 242, accepted: 58" in text
    assert "questions 141 (0 created, 0 updated, 141 unchanged)" in text
    assert "answers 242 (0 created, 0 updated, 242 unchanged)" in text
    assert "accepted answers changed: 0" in text
    assert "tags created: 0" in text


def test_local_votes_survive_a_reimport(imported, se_dir, member):
    from qa import services
    from qa.importer import stackexchange_import

    q1 = Question.objects.get(source_id=1)
    services.vote_cast(member=member, target="question", target_id=q1.pk, value=-1)
    stackexchange_import(directory=se_dir)
    q1.refresh_from_db()
    assert (q1.imported_score, q1.score) == (12, 11)
    # An imported score that moved (a newer dump) moves the score by the same amount.
    Question.objects.filter(pk=q1.pk).update(imported_score=10, score=9)
    report = stackexchange_import(directory=se_dir)
    q1.refresh_from_db()
    assert (q1.imported_score, q1.score) == (12, 11)
    assert report.questions.updated == 1


def test_missing_folder_is_a_clear_error(tmp_path):
    with pytest.raises(CommandError, match=r"Posts\.xml"):
        call_command("import_stackexchange", str(tmp_path), stdout=StringIO())
    with pytest.raises(CommandError, match="not a folder"):
        call_command("import_stackexchange", str(tmp_path / "nope"), stdout=StringIO())
    assert not Question.objects.exists()


def test_broken_xml_stores_nothing(tmp_path):
    (tmp_path / "Posts.xml").write_text('<posts><row Id="1" PostTypeId="1"')
    (tmp_path / "Votes.xml").write_text("<votes></votes>")
    with pytest.raises(CommandError, match="not valid XML"):
        call_command("import_stackexchange", str(tmp_path), stdout=StringIO())
    assert not Question.objects.exists()


def test_local_answers_and_activity_survive_a_reimport(imported, se_dir, other_member, recount):
    from qa import services
    from qa.importer import stackexchange_import

    q1 = Question.objects.get(source_id=1)
    services.answer_post(member=other_member, question_id=q1.pk, body="A local answer")
    report = stackexchange_import(directory=se_dir)
    assert report.changed == 0
    q1.refresh_from_db()
    assert q1.answer_count == q1.answers.count() == 6
    assert "drift: 0" in recount()


def test_malformed_row_stores_nothing(tmp_path):
    (tmp_path / "Posts.xml").write_text(
        '<posts><row Id="1" PostTypeId="1" CreationDate="not a date" Title="t" Body="b"/></posts>'
    )
    (tmp_path / "Votes.xml").write_text("<votes></votes>")
    with pytest.raises(CommandError, match="malformed row"):
        call_command("import_stackexchange", str(tmp_path), stdout=StringIO())
    assert not Question.objects.exists()


def test_command_shows_progress_and_reports(db, se_dir):
    from io import StringIO

    from django.core.management import call_command

    out, err = StringIO(), StringIO()
    call_command("import_stackexchange", str(se_dir), stdout=out, stderr=err)
    assert "Posts.xml" in err.getvalue() and "100%" in err.getvalue()
    assert "questions" in out.getvalue()
