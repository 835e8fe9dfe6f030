"""The importer's optional files (Users.xml, Tags.xml, Comments.xml, PostHistory.xml) on a
small made-up dump in the real Stack Exchange format, built here in tmp_path."""

from __future__ import annotations

from io import StringIO
from pathlib import Path
from xml.sax.saxutils import quoteattr

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse

from qa.importer import stackexchange_import
from qa.models import Answer, Comment, Question, Revision, Tag

pytestmark = pytest.mark.django_db

SITE = "grants.example.stackexchange.com"


def _xml(root: str, rows: list[dict]) -> str:
    lines = ['\ufeff<?xml version="1.0" encoding="utf-8"?>', f"<{root}>"]
    for row in rows:
        attrs = " ".join(f"{name}={quoteattr(str(value))}" for name, value in row.items())
        lines.append(f"  <row {attrs} />")
    lines.append(f"</{root}>")
    return "\n".join(lines) + "\n"


POSTS = [
    {"Id": 10, "PostTypeId": 1, "AcceptedAnswerId": 12, "CreationDate": "2019-03-01T10:00:00.000",
     "Score": 2, "ViewCount": 40, "Body": "<p>Which fund pays for a <em>pilot line</em>?</p>",
     "OwnerUserId": 101, "LastActivityDate": "2019-03-06T09:00:00.000",
     "Title": "Which fund pays for a pilot line?", "Tags": "<funding><export>",
     "AnswerCount": 2, "CommentCount": 1},
    {"Id": 11, "PostTypeId": 2, "ParentId": 10, "CreationDate": "2019-03-02T08:00:00.000",
     "Score": -1, "Body": "<p>Ask the county.</p>", "OwnerUserId": 102,
     "LastActivityDate": "2019-03-02T08:00:00.000", "CommentCount": 1},
    {"Id": 12, "PostTypeId": 2, "ParentId": 10, "CreationDate": "2019-03-03T08:00:00.000",
     "Score": 1, "Body": "<p>The innovation voucher covers it.</p>", "OwnerUserId": 103,
     "LastActivityDate": "2019-03-03T08:00:00.000"},
    {"Id": 20, "PostTypeId": 1, "CreationDate": "2019-04-01T10:00:00.000", "Score": 0,
     "Body": "<p>Where do we start?</p>", "OwnerDisplayName": "Former Fran",
     "LastActivityDate": "2019-04-01T10:00:00.000", "Title": "Where do we start?",
     "Tags": "<lonely>", "AnswerCount": 0, "CommentCount": 1},
    {"Id": 30, "PostTypeId": 4, "CreationDate": "2019-01-01T00:00:00.000", "Score": 0,
     "Body": "Money for projects: grants, loans &amp; vouchers.", "OwnerUserId": -1,
     "LastActivityDate": "2019-01-01T00:00:00.000"},
    {"Id": 31, "PostTypeId": 5, "CreationDate": "2019-01-01T00:00:00.000", "Score": 0,
     "Body": "<p>A long wiki about funding.</p>", "OwnerUserId": -1,
     "LastActivityDate": "2019-01-01T00:00:00.000"},
    {"Id": 33, "PostTypeId": 5, "CreationDate": "2019-01-01T00:00:00.000", "Score": 0,
     "Body": "<p>Selling <strong>abroad</strong>.</p>", "OwnerUserId": -1,
     "LastActivityDate": "2019-01-01T00:00:00.000"},
]  # fmt: skip
VOTES = [
    {"Id": 1, "PostId": 10, "VoteTypeId": 2, "CreationDate": "2019-03-01T00:00:00.000"},
    {"Id": 2, "PostId": 10, "VoteTypeId": 2, "CreationDate": "2019-03-02T00:00:00.000"},
    {"Id": 3, "PostId": 11, "VoteTypeId": 3, "CreationDate": "2019-03-02T00:00:00.000"},
    {"Id": 4, "PostId": 12, "VoteTypeId": 2, "CreationDate": "2019-03-03T00:00:00.000"},
    {"Id": 5, "PostId": 12, "VoteTypeId": 1, "CreationDate": "2019-03-03T00:00:00.000"},
    {"Id": 6, "PostId": 999, "VoteTypeId": 2, "CreationDate": "2019-03-03T00:00:00.000"},
]  # fmt: skip
USERS = [
    {"Id": -1, "Reputation": 1, "CreationDate": "2018-12-01T00:00:00.000",
     "DisplayName": "Community", "LastAccessDate": "2018-12-01T00:00:00.000", "Views": 0,
     "UpVotes": 0, "DownVotes": 0, "AccountId": -1},
    {"Id": 101, "Reputation": 120, "CreationDate": "2018-12-02T00:00:00.000",
     "DisplayName": "Ada Grantwriter", "LastAccessDate": "2019-05-01T00:00:00.000",
     "Location": "Carlisle", "Views": 3, "UpVotes": 4, "DownVotes": 0, "AccountId": 9001},
    {"Id": 102, "Reputation": 15, "CreationDate": "2018-12-03T00:00:00.000",
     "DisplayName": "Bram Exporter", "LastAccessDate": "2019-05-01T00:00:00.000", "Views": 1,
     "UpVotes": 0, "DownVotes": 0, "AccountId": 9002},
    {"Id": 103, "Reputation": 1, "CreationDate": "2018-12-04T00:00:00.000", "DisplayName": "",
     "LastAccessDate": "2019-05-01T00:00:00.000", "Views": 0, "UpVotes": 0, "DownVotes": 0,
     "AccountId": 9003},
    {"Id": 105, "Reputation": 30, "CreationDate": "2018-12-05T00:00:00.000",
     "DisplayName": "Carys Commenter", "LastAccessDate": "2019-05-01T00:00:00.000", "Views": 0,
     "UpVotes": 1, "DownVotes": 0, "AccountId": 9005},
    {"Id": 106, "Reputation": 1, "CreationDate": "2018-12-06T00:00:00.000",
     "DisplayName": "Unrelated Person", "LastAccessDate": "2019-05-01T00:00:00.000", "Views": 0,
     "UpVotes": 0, "DownVotes": 0, "AccountId": 9006},
    {"Id": 107, "Reputation": 900, "CreationDate": "2018-12-07T00:00:00.000",
     "DisplayName": "Editor Ed", "LastAccessDate": "2019-05-01T00:00:00.000", "Views": 9,
     "UpVotes": 50, "DownVotes": 2, "AccountId": 9007},
]  # fmt: skip
TAGS = [
    {"Id": 1, "TagName": "funding", "Count": 7, "ExcerptPostId": 30, "WikiPostId": 31},
    {"Id": 2, "TagName": "export", "Count": 3, "WikiPostId": 33},
    {"Id": 3, "TagName": "lonely", "Count": 1},
    {"Id": 4, "TagName": "hiring", "Count": 4},
    {"Id": 5, "TagName": "bad tag!", "Count": 1},
]
COMMENTS = [
    {"Id": 501, "PostId": 10, "Score": 1, "CreationDate": "2019-03-01T11:00:00.000",
     "UserId": 105, "Text": "Have you tried the county fund? <script>alert('x')</script>"},
    {"Id": 502, "PostId": 11, "Score": 0, "CreationDate": "2019-03-02T09:00:00.000",
     "UserId": 101, "Text": "Thanks, **that** worked."},
    {"Id": 503, "PostId": 999, "Score": 0, "CreationDate": "2019-03-02T09:00:00.000",
     "UserId": 101, "Text": "On a deleted post."},
    {"Id": 504, "PostId": 30, "Score": 0, "CreationDate": "2019-03-02T09:00:00.000",
     "UserId": 102, "Text": "On a tag excerpt."},
    {"Id": 505, "PostId": 20, "Score": 0, "CreationDate": "2019-04-01T11:00:00.000",
     "UserDisplayName": "Guest Gwen", "Text": "Start with the sector page."},
    {"Id": 506, "PostId": 20, "Score": 0, "CreationDate": "2019-04-01T12:00:00.000",
     "UserId": 105, "Text": "   "},
]  # fmt: skip
HISTORY = [
    {"Id": 1, "PostHistoryTypeId": 2, "PostId": 10, "RevisionGUID": "g1",
     "CreationDate": "2019-03-01T10:00:00.000", "UserId": 101,
     "Text": "Which fund pays for a *pilot line*?"},
    {"Id": 2, "PostHistoryTypeId": 1, "PostId": 10, "RevisionGUID": "g1",
     "CreationDate": "2019-03-01T10:00:00.000", "UserId": 101, "Text": "Fund for a pilot line?"},
    {"Id": 3, "PostHistoryTypeId": 3, "PostId": 10, "RevisionGUID": "g1",
     "CreationDate": "2019-03-01T10:00:00.000", "UserId": 101, "Text": "<funding>"},
    {"Id": 4, "PostHistoryTypeId": 2, "PostId": 11, "RevisionGUID": "g2",
     "CreationDate": "2019-03-02T08:00:00.000", "UserId": 102, "Text": "Ask the county."},
    {"Id": 5, "PostHistoryTypeId": 5, "PostId": 10, "RevisionGUID": "g3",
     "CreationDate": "2019-03-05T10:00:00.000", "UserId": 107, "Comment": "clearer wording",
     "Text": "Which fund pays for a *pilot line*? We make small batches."},
    {"Id": 6, "PostHistoryTypeId": 4, "PostId": 10, "RevisionGUID": "g4",
     "CreationDate": "2019-03-06T09:00:00.000", "UserId": 107,
     "Text": "Which fund pays for a pilot line?"},
    {"Id": 7, "PostHistoryTypeId": 6, "PostId": 10, "RevisionGUID": "g4",
     "CreationDate": "2019-03-06T09:00:00.000", "UserId": 107, "Text": "<funding><export>"},
    {"Id": 8, "PostHistoryTypeId": 10, "PostId": 20, "RevisionGUID": "g5",
     "CreationDate": "2019-04-02T09:00:00.000", "UserId": 107, "Text": "{\"Voters\":[]}"},
    {"Id": 9, "PostHistoryTypeId": 2, "PostId": 999, "RevisionGUID": "g6",
     "CreationDate": "2019-04-02T09:00:00.000", "UserId": 101, "Text": "Deleted since."},
    {"Id": 10, "PostHistoryTypeId": 16, "PostId": 12, "RevisionGUID": "g7",
     "CreationDate": "2019-04-03T09:00:00.000", "UserId": 107},
]  # fmt: skip

FILES = {
    "Posts.xml": ("posts", POSTS),
    "Votes.xml": ("votes", VOTES),
    "Users.xml": ("users", USERS),
    "Tags.xml": ("tags", TAGS),
    "Comments.xml": ("comments", COMMENTS),
    "PostHistory.xml": ("posthistory", HISTORY),
}


def _write(directory: Path, **replace: list[dict]) -> Path:
    directory.mkdir(exist_ok=True)
    for name, (root, rows) in FILES.items():
        rows = replace.get(name.removesuffix(".xml").lower(), rows)
        (directory / name).write_text(_xml(root, rows), encoding="utf-8")
    return directory


@pytest.fixture
def dump(tmp_path) -> Path:
    return _write(tmp_path / SITE)


def _run(directory: Path) -> str:
    out = StringIO()
    call_command("import_stackexchange", str(directory), stdout=out, stderr=StringIO())
    return out.getvalue()


def _snapshot() -> dict:
    return {
        "questions": list(Question.objects.order_by("pk").values()),
        "answers": list(Answer.objects.order_by("pk").values()),
        "comments": list(Comment.objects.order_by("pk").values()),
        "revisions": list(Revision.objects.order_by("pk").values()),
        "tags": list(Tag.objects.order_by("pk").values()),
    }


def test_counts_names_and_scores(dump):
    text = _run(dump)
    assert "questions: 2, answers: 2, accepted: 1" in text
    q10, q20 = Question.objects.get(source_id=10), Question.objects.get(source_id=20)
    a11, a12 = Answer.objects.get(source_id=11), Answer.objects.get(source_id=12)
    assert (q10.score, a11.score, a12.score) == (2, -1, 1)
    assert q10.accepted_answer_id == a12.pk
    assert q10.source_author_name == "Ada Grantwriter"
    assert q10.source_author_label == "Ada Grantwriter"
    assert a11.source_author_name == "Bram Exporter"
    assert (a12.source_author_name, a12.source_author_label) == ("", "user 103")
    assert q20.source_author_name == "Former Fran" and q20.source_author_id is None
    assert "users: 7 read, 4 credited by name, 3 skipped" in text
    assert "1 no DisplayName; 2 not the author of anything imported" in text
    assert "not in the folder" not in text


def test_tag_descriptions(dump):
    text = _run(dump)
    funding, export, lonely = (Tag.objects.get(slug=s) for s in ("funding", "export", "lonely"))
    assert funding.description == "Money for projects: grants, loans & vouchers."
    assert funding.description_source == f"https://{SITE}/tags/funding/info"
    assert export.description == "Selling abroad ."
    assert lonely.description == ""
    assert not Tag.objects.filter(slug="hiring").exists()  # Tags.xml creates no tags
    assert "tag descriptions 2 (2 created, 0 updated, 0 unchanged)" in text
    assert (
        "tag rows skipped: 3 (1 no excerpt or wiki text in the dump; "
        "1 no imported question uses it; 1 not a valid tag name)"
    ) in text


def test_a_local_tag_description_is_not_overwritten(dump):
    Tag.objects.create(slug="funding", name="funding", description="Our own words.")
    text = _run(dump)
    assert Tag.objects.get(slug="funding").description == "Our own words."
    assert "1 already has a description from elsewhere" in text


def test_comments_credited_sanitised_and_skips_reported(dump):
    text = _run(dump)
    assert "comments 3 (3 created, 0 updated, 0 unchanged)" in text
    assert (
        "comments skipped: 3 (1 empty text; 1 on a tag wiki, not a question or answer; "
        "1 post not in dump)"
    ) in text
    c501 = Comment.objects.get(source_site=SITE, source_id=501)
    assert c501.question.source_id == 10 and c501.source_author == "Carys Commenter"
    assert "<script>" in c501.body  # stored raw
    assert "<script" not in c501.html and "&lt;script&gt;" in c501.html
    c502 = Comment.objects.get(source_id=502)
    assert c502.answer.source_id == 11 and "<strong>that</strong>" in c502.html
    assert Comment.objects.get(source_id=505).source_author == "Guest Gwen"


def test_revisions_from_post_history(dump):
    text = _run(dump)
    assert "revisions 4 (4 created, 0 updated, 0 unchanged)" in text
    assert "post history rows read: 10" in text
    assert (
        "post history rows skipped: 3 (1 post not in dump; 1 type 10 (closed); "
        "1 type 16 (community owned))"
    ) in text
    q10 = Question.objects.get(source_id=10)
    revisions = list(q10.revisions.order_by("number"))
    assert [(r.number, r.title, r.tags, r.source_author) for r in revisions] == [
        (1, "Fund for a pilot line?", "funding", "Ada Grantwriter"),
        (2, "Fund for a pilot line?", "funding", "Editor Ed"),
        (3, "Which fund pays for a pilot line?", "funding export", "Editor Ed"),
    ]
    assert revisions[1].body.endswith("We make small batches.") and revisions[1].body == (
        revisions[2].body
    )
    assert revisions[1].summary == "clearer wording"
    assert revisions[0].author is None
    assert q10.updated == revisions[2].created  # edited: the page links to the revisions
    a11 = Answer.objects.get(source_id=11)
    assert list(a11.revisions.values_list("number", "body")) == [(1, "Ask the county.")]
    assert a11.updated is None
    assert "posts' edit dates changed: 1" in text


def test_second_run_changes_nothing(dump):
    _run(dump)
    before = _snapshot()
    report = stackexchange_import(directory=dump)
    assert report.changed == 0
    assert _snapshot() == before
    text = "\n".join(report.lines())
    assert "questions 2 (0 created, 0 updated, 2 unchanged)" in text
    assert "comments 3 (0 created, 0 updated, 3 unchanged)" in text
    assert "revisions 4 (0 created, 0 updated, 4 unchanged)" in text
    assert "tag descriptions 2 (0 created, 0 updated, 2 unchanged)" in text
    assert "posts' edit dates changed: 0" in text


def test_a_renamed_user_updates_posts_comments_and_revisions(dump):
    _run(dump)
    renamed = [dict(row, DisplayName="Ada G.") if row["Id"] == 101 else row for row in USERS]
    report = stackexchange_import(directory=_write(dump, users=renamed))
    assert Question.objects.get(source_id=10).source_author_name == "Ada G."
    assert Comment.objects.get(source_id=502).source_author == "Ada G."
    assert Revision.objects.get(question__source_id=10, number=1).source_author == "Ada G."
    assert (report.questions.updated, report.comments.updated, report.revisions.updated) == (
        1,
        1,
        1,
    )


def test_attribution_and_comments_on_the_pages(client, dump):
    _run(dump)
    q10 = Question.objects.get(source_id=10)
    page = client.get(q10.get_absolute_url()).content.decode()
    assert f'href="https://{SITE}/users/101" rel="nofollow noopener">Ada Grantwriter</a>' in page
    assert f'href="https://{SITE}/users/103" rel="nofollow noopener">user 103</a>' in page
    assert "Carys Commenter" in page and "Have you tried the county fund?" in page
    assert "<script>alert" not in page
    assert "CC BY-SA 4.0" in page  # 2019
    assert reverse("qa:question_revisions", args=[q10.pk]) in page  # "edited" link
    revisions = client.get(reverse("qa:question_revisions", args=[q10.pk])).content.decode()
    assert "Editor Ed" in revisions and "Ada Grantwriter" in revisions
    q20 = Question.objects.get(source_id=20)
    page = client.get(q20.get_absolute_url()).content.decode()
    assert "Former Fran" in page and "Guest Gwen" in page


def test_api_carries_the_author_name(client, dump):
    _run(dump)
    q10 = Question.objects.get(source_id=10)
    data = client.get(f"/api/v1/questions/{q10.pk}/").json()
    assert data["source"]["author_name"] == "Ada Grantwriter"


def test_optional_files_absent_are_reported(tmp_path):
    directory = tmp_path / SITE
    directory.mkdir()
    for name in ("Posts.xml", "Votes.xml"):
        root, rows = FILES[name]
        (directory / name).write_text(_xml(root, rows), encoding="utf-8")
    text = _run(directory)
    assert (
        "not in the folder (nothing imported from them): "
        "Users.xml, Tags.xml, Comments.xml, PostHistory.xml"
    ) in text
    assert Question.objects.get(source_id=10).source_author_label == "user 101"


def test_broken_optional_file_stores_nothing(dump):
    (dump / "Comments.xml").write_text('<comments><row Id="1" PostId="10"')
    with pytest.raises(CommandError, match=r"Comments\.xml is not valid XML"):
        _run(dump)
    assert not Question.objects.exists() and not Comment.objects.exists()
